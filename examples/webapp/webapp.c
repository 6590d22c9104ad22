/*
 * bbo-webapp: the pages. Each request opens the browser's grant (a session
 * over a store shared by every worker), does its one job and closes it, so
 * any worker can serve any request: the store is where grants live, its
 * lock is what keeps two workers from refreshing one grant at once.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 */
#include "webapp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#define SID_LEN 43        /* base64url of 32 random bytes */
#define MAX_PAGES 20      /* pull request pages followed (10 each) */
#define MAX_COMMENT 16384 /* bytes of comment text accepted */

typedef struct ctx {
    webapp *app;
    const tenant *t;
    const request *req;
    reply *r;
    const char *sid; /* never NULL: a new one is made (and set) when missing */
    int known;       /* the browser sent a valid app session cookie */
} ctx;

/* The browser's grant: a client and a session over its store. */
typedef struct grant {
    bbo_client *client;
    bbo_session *session;
} grant;

int64_t webapp_now(const webapp *app)
{
    return (int64_t)time(NULL) + app->clock_offset;
}

void reply_add_cookie(reply *r, const char *value)
{
    size_t i;

    for (i = 0; i < REPLY_MAX_COOKIES; i++) {
        if (!r->cookies[i]) {
            r->cookies[i] = strdup(value);
            return;
        }
    }
}

void reply_redirect(reply *r, int status, const char *location)
{
    r->status = status;
    free(r->location);
    r->location = strdup(location);
}

static const char *field(const ctx *c, const char *name)
{
    return c->req->field(c->req->payload, name);
}

/* ---- cookies, tokens, ids: all derived from the app session id ---- */

static int sid_valid(const char *sid)
{
    size_t i;

    if (!sid || strlen(sid) != SID_LEN)
        return 0;
    for (i = 0; i < SID_LEN; i++)
        if (!isalnum((unsigned char)sid[i]) && sid[i] != '-' && sid[i] != '_')
            return 0;
    return 1;
}

static void cookie(const ctx *c, const char *name, const char *value, const char *path,
                   int max_age)
{
    wbuf b = {0};

    wbuf_printf(&b, "%s=%s; Path=%s; HttpOnly; SameSite=Lax", name, value, path);
    if (max_age >= 0)
        wbuf_printf(&b, "; Max-Age=%d", max_age);
    if (c->app->secure_cookies)
        wbuf_add(&b, "; Secure");
    if (b.data)
        reply_add_cookie(c->r, b.data);
    wbuf_free(&b);
}

/* A keyed hash of (label, tenant, session[, more]) as base64url text. */
static void derive(const ctx *c, const char *label, const char *more, char out[44])
{
    unsigned char mac[32];
    wbuf in = {0};

    wbuf_add(&in, c->t->name);
    wbuf_add(&in, "|");
    wbuf_add(&in, c->sid);
    mac3(c->app->mac_key, label, in.data ? in.data : "", more, mac);
    b64url(mac, 32, out);
    wbuf_free(&in);
}

static void csrf_token(const ctx *c, char out[44])
{
    derive(c, "csrf", NULL, out);
}

static int csrf_ok(const ctx *c)
{
    const char *sent = field(c, "csrf");
    char want[44];

    csrf_token(c, want);
    return c->known && sent && equal_secret(sent, want);
}

static void csrf_field(const ctx *c, wbuf *b)
{
    char token[44];

    csrf_token(c, token);
    wbuf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", token);
}

static void callback_path(const ctx *c, wbuf *b)
{
    wbuf_add(b, c->t->prefix);
    wbuf_add(b, "/callback");
}

/* ---- grants ---- */

static void grant_close(grant *g)
{
    bbo_session_free(g->session);
    bbo_client_free(g->client);
    g->session = NULL;
    g->client = NULL;
}

static int client_open(const ctx *c, bbo_client **out)
{
    bbo_client *client = NULL;
    int error;

    if ((error = bbo_client_new(&client, c->t->consumer)) < 0 ||
        (c->app->ca_file && (error = bbo_client_set_ca(client, c->app->ca_file, NULL)) < 0)) {
        bbo_client_free(client);
        return error;
    }
    *out = client;
    return 0;
}

static int store_open(const ctx *c, bbo_store **out)
{
    char id[44];
    wbuf path = {0};
    int error;

    /* the grant id: not the session id itself, which is a bearer secret */
    derive(c, "grant", NULL, id);
    id[32] = '\0';
#ifdef WEBAPP_HAVE_PG
    if (c->app->pg) {
        wbuf_printf(&path, "bbo-webapp/%s/%s", c->t->name[0] ? c->t->name : "-", id);
        error = path.data ? bbo_pg_store_new(out, c->app->pg, path.data)
                          : bbo_error_set(BBO_ENOMEM, "out of memory");
        wbuf_free(&path);
        return error;
    }
#endif
    wbuf_printf(&path, "%s/%s-%s.grant", c->app->store_dir, c->t->name[0] ? c->t->name : "app",
                id);
    error = path.data ? bbo_file_store_new(out, path.data, c->app->store_key)
                      : bbo_error_set(BBO_ENOMEM, "out of memory");
    wbuf_free(&path);
    return error;
}

/* replacing: a new login overwrites what is stored, even when that cannot
 * be read (a grant sealed with a previous key) */
static int grant_open_ex(const ctx *c, grant *g, int replacing)
{
    bbo_store *store = NULL;
    int error;

    memset(g, 0, sizeof(*g));
    if ((error = client_open(c, &g->client)) < 0 ||
        (error = bbo_session_new(&g->session, g->client, NULL)) < 0 ||
        (error = store_open(c, &store)) < 0)
        goto done;
    error = bbo_session_set_store(g->session, store); /* taken, kept even on error */
    if (error < 0 && replacing && error != BBO_ENOMEM && error != BBO_EINVAL)
        error = 0;
done:
    if (error < 0)
        grant_close(g);
    return error;
}

static int grant_open(const ctx *c, grant *g)
{
    return grant_open_ex(c, g, 0);
}

/* ---- errors: what happened and what to do, never a secret ---- */

/* A grant without every --require-scopes scope (the library's message
 * names the missing ones). */
static void missing_required(const ctx *c, const char *detail)
{
    char *required = NULL;

    bbo_scopes_to_string(c->app->required, &required);
    page_missing_scopes(c->r, c->t, required ? required : "", 0, detail);
    bbo_free(required);
}

static void error_from_library(const ctx *c, const char *doing, const char *scopes_needed)
{
    const bbo_error *e = bbo_error_last();
    const char *message = bbo_error_message(e);
    int code = bbo_error_code(e), status = bbo_error_http_status(e);
    wbuf what = {0}, todo = {0};

    switch (code) {
    case BBO_ETRANSPORT:
    case BBO_ETIMEOUT:
    case BBO_ETLS:
        wbuf_printf(&what, "bbo-webapp could not reach Bitbucket (%s) while %s.",
                    c->app->bitbucket, doing);
        wbuf_add(&todo, "Try again in a minute. If it lasts, the server's network, proxy or "
                        "trusted certificates (--ca-file) need a look; "
                        "bitbucket.status.atlassian.com shows Bitbucket's own outages.");
        page_error(c->r, c->t, 502, "unreachable", "Bitbucket is unreachable", what.data,
                   todo.data, message);
        break;
    case BBO_ESCOPE:
        if (scopes_needed && *scopes_needed) {
            page_missing_scopes(c->r, c->t, scopes_needed, 1, message);
        } else { /* a refresh that came back without a required scope */
            missing_required(c, message);
        }
        break;
    case BBO_EEXPIRED:
        page_error(c->r, c->t, 401, "connection_ended", "Bitbucket connection ended",
                   "This browser's Bitbucket connection is no longer valid: access was "
                   "revoked on Bitbucket, the consumer changed, or it went unused for "
                   "months.",
                   "Connect Bitbucket again.", message);
        break;
    case BBO_ERATELIMIT:
        page_error(c->r, c->t, 429, "rate_limited", "Bitbucket's rate limit was reached",
                   "Bitbucket refuses more requests from this application for now "
                   "(its limits are counted per hour).",
                   "Try again later.", message);
        break;
    case BBO_EOAUTH:
        wbuf_printf(&what, "Bitbucket refused the request while %s (%s).", doing,
                    bbo_error_oauth_code(e) ? bbo_error_oauth_code(e) : "OAuth error");
        page_error(c->r, c->t, 502, "oauth", "Bitbucket refused the request", what.data,
                   "Connect Bitbucket again; if it keeps failing, the OAuth consumer's key, "
                   "secret or callback URL on Bitbucket may not match this server's "
                   "settings.",
                   bbo_error_description(e) ? bbo_error_description(e) : message);
        break;
    case BBO_EHTTP:
    case BBO_EPROTOCOL:
        wbuf_printf(&what, "Bitbucket answered unexpectedly (HTTP %d) while %s.", status,
                    doing);
        page_error(c->r, c->t, 502, "bitbucket", "Bitbucket answered with an error", what.data,
                   "Try again; if it lasts, Bitbucket may be having trouble.", message);
        break;
    case BBO_EIO:
    case BBO_ECRYPTO:
    case BBO_EBUSY:
    case BBO_ECONFLICT:
        wbuf_printf(&what, "The grant store failed while %s.", doing);
        page_error(c->r, c->t, 500, "store", "The grant store failed", what.data,
                   "Try again. The operator should check the --store directory or database, "
                   "and that every worker uses the same --seal-key-file.",
                   message);
        break;
    default:
        wbuf_printf(&what, "Something went wrong while %s (%s).", doing,
                    bbo_strerror(code));
        page_error(c->r, c->t, 500, "internal", "Something went wrong", what.data,
                   "Try again.", message);
    }
    wbuf_free(&what);
    wbuf_free(&todo);
}

static void not_connected(const ctx *c)
{
    page_error(c->r, c->t, 401, "not_connected", "Not connected to Bitbucket",
               "This browser has not connected a Bitbucket account yet (or it logged out).",
               "Click Connect Bitbucket first.", NULL);
}

/* The grant of a connected browser, or -1 with the page that says why not. */
static int grant_open_connected(const ctx *c, grant *g)
{
    bbo_token *token = NULL;
    int rc;

    memset(g, 0, sizeof(*g));
    if (!c->known) {
        not_connected(c);
        return -1;
    }
    if (grant_open(c, g) < 0) {
        error_from_library(c, "reading this browser's grant", NULL);
        return -1;
    }
    rc = bbo_session_token(g->session, &token); /* BBO_EEXPIRED: none stored */
    bbo_token_free(token);
    if (rc < 0) {
        grant_close(g);
        not_connected(c);
        return -1;
    }
    return 0;
}

static void csrf_failed(const ctx *c)
{
    page_error(c->r, c->t, 403, "csrf", "This form has expired",
               "The form did not come from this browser's current session (its security "
               "token does not match), so nothing was done.",
               "Go back, reload the page and submit the form again.", NULL);
}

/* ---- GET / ---- */

static void page_connect(const ctx *c)
{
    wbuf *b = &c->r->body;
    char *required = NULL, *names = NULL;

    if (bbo_scopes_count(c->app->required) &&
        bbo_scopes_to_string(c->app->required, &required) == 0)
        names = permission_names(required);
    page_begin(b, c->t, "Connect Bitbucket");
    wbuf_add(b, "<h1>Connect your Bitbucket account</h1>\n"
                "<p>bbo-webapp lists the open pull requests of a repository and comments "
                "on them for you, with the Bitbucket permissions Account: Read and Pull "
                "requests: Write.");
    if (names) {
        wbuf_add(b, " Every connection must have <span id=\"required\">");
        wbuf_html(b, names);
        wbuf_add(b, "</span>.");
    }
    wbuf_add(b, "</p>\n<p><a class=\"button\" id=\"connect\" href=\"");
    wbuf_html(b, c->t->prefix);
    wbuf_add(b, "/connect\">Connect Bitbucket</a></p>\n");
    page_end(b);
    bbo_free(required);
    free(names);
}

static void handle_home(const ctx *c)
{
    grant g;
    bbo_token *token = NULL;
    char *user = NULL, *scopes = NULL, *names = NULL;
    wbuf *b = &c->r->body;

    if (!c->known) {
        page_connect(c);
        return;
    }
    if (grant_open(c, &g) < 0) {
        error_from_library(c, "reading this browser's grant", NULL);
        return;
    }
    if (bbo_session_token(g.session, &token) < 0) {
        page_connect(c);
        goto done;
    }
    if (bbo_session_user(g.session, &user) < 0) {
        error_from_library(c, "asking Bitbucket who you are", "account");
        goto done;
    }
    bbo_token_free(token); /* the user call may have refreshed it */
    token = NULL;
    if (bbo_session_token(g.session, &token) < 0 ||
        bbo_scopes_to_string(bbo_token_scopes(token), &scopes) < 0) {
        error_from_library(c, "reading this browser's grant", NULL);
        goto done;
    }
    names = permission_names(scopes);
    page_begin(b, c->t, "Bitbucket");
    wbuf_add(b, "<h1>Bitbucket</h1>\n<p id=\"connected\">Connected as <strong id=\"user\">");
    wbuf_html(b, user);
    wbuf_add(b, "</strong></p>\n<p>Granted scopes: <code id=\"scopes\">");
    wbuf_html(b, scopes);
    wbuf_add(b, "</code><br><span class=\"detail\" id=\"permissions\">");
    wbuf_html(b, names ? names : "");
    wbuf_add(b, "</span></p>\n<form method=\"get\" action=\"");
    wbuf_html(b, c->t->prefix);
    wbuf_add(b, "/pullrequests\" id=\"repo-form\"><label for=\"repo\">Repository</label> "
                "<input type=\"text\" id=\"repo\" name=\"repo\" required "
                "placeholder=\"workspace/repository\"> "
                "<button type=\"submit\" id=\"list\">Open pull requests</button></form>\n"
                "<form method=\"post\" action=\"");
    wbuf_html(b, c->t->prefix);
    wbuf_add(b, "/logout\" id=\"logout-form\">");
    csrf_field(c, b);
    wbuf_add(b, "<p><button type=\"submit\" id=\"logout\" class=\"secondary\">Log out"
                "</button></p></form>\n");
    page_end(b);
done:
    bbo_token_free(token);
    bbo_free(user);
    bbo_free(scopes);
    free(names);
    grant_close(&g);
}

/* ---- GET /connect: seal the login into a cookie, off to Bitbucket ---- */

static void handle_connect(const ctx *c)
{
    bbo_authorization *auth = NULL;
    char *sealed = NULL, mac[44];
    wbuf value = {0}, path = {0};

    if (bbo_authorization_begin(&auth, c->t->consumer) < 0 ||
        bbo_authorization_seal(auth, c->app->seal_key, webapp_now(c->app), &sealed) < 0) {
        error_from_library(c, "starting the login", NULL);
        goto done;
    }
    /* bound to this browser's app session: a login cookie planted from
     * another session does not verify */
    derive(c, "login", sealed, mac);
    wbuf_printf(&value, "%s.%s", sealed, mac);
    callback_path(c, &path);
    if (!value.data || !path.data) {
        page_error(c->r, c->t, 500, "internal", "Out of memory", "The server ran out of memory.",
                   "Try again.", NULL);
        goto done;
    }
    cookie(c, c->t->login_cookie, value.data, path.data, 600);
    reply_redirect(c->r, 302, bbo_authorization_url(auth));
done:
    wbuf_free(&value);
    wbuf_free(&path);
    bbo_free(sealed);
    bbo_authorization_free(auth);
}

/* ---- GET /callback: complete on whichever worker receives it ---- */

static void callback_failed(const ctx *c, int code)
{
    const bbo_error *e = bbo_error_last();
    const char *detail = bbo_error_description(e) ? bbo_error_description(e)
                                                  : bbo_error_message(e);

    if (code == BBO_EDENIED) {
        page_error(c->r, c->t, 403, "denied", "Access was not granted",
                   "Bitbucket says access was denied: Cancel was chosen on Bitbucket's "
                   "consent page, so this application got no access to your account.",
                   "To connect, click Connect Bitbucket and choose Grant access.", detail);
    } else if (code == BBO_ESTATE) {
        page_error(c->r, c->t, 400, "state", "This login does not match",
                   "The answer from Bitbucket belongs to another login than the one this "
                   "browser started (its state does not match): two logins ran at once in "
                   "this browser, or someone tried to slip their login into yours.",
                   "Start again with Connect Bitbucket.", NULL);
    } else if (code == BBO_EOAUTH && bbo_error_oauth_code(e) &&
               strcmp(bbo_error_oauth_code(e), "invalid_scope") == 0) {
        missing_required(c, bbo_error_message(e));
    } else if (code == BBO_EOAUTH && bbo_error_oauth_code(e) &&
               strcmp(bbo_error_oauth_code(e), "invalid_grant") == 0) {
        page_error(c->r, c->t, 400, "code_refused", "Bitbucket refused the login",
                   "Bitbucket did not accept the login code: it was used already (each works "
                   "once) or is too old.",
                   "Start again with Connect Bitbucket.", detail);
    } else {
        error_from_library(c, "completing the login", "");
    }
}

static void handle_callback(const ctx *c)
{
    const char *login = c->req->login;
    bbo_authorization *auth = NULL;
    bbo_client *client = NULL;
    bbo_token *token = NULL;
    char *sealed = NULL, *code = NULL, *dot, mac[44];
    wbuf path = {0};
    grant g = {0};
    int rc;

    /* one use: the login cookie goes away whatever happens next */
    callback_path(c, &path);
    cookie(c, c->t->login_cookie, "", path.data ? path.data : "/", 0);
    if (!login || !c->known) {
        page_error(c->r, c->t, 400, "no_login", "No login in progress",
                   "This browser has no Bitbucket login in progress: it was started in "
                   "another browser, already completed (each login works once), or cookies "
                   "are blocked for this site.",
                   "Click Connect Bitbucket to start again, with cookies allowed.", NULL);
        goto done;
    }
    if ((sealed = strdup(login)) == NULL || (dot = strrchr(sealed, '.')) == NULL) {
        rc = BBO_ECRYPTO;
        goto tampered;
    }
    *dot = '\0';
    derive(c, "login", sealed, mac);
    if (!equal_secret(dot + 1, mac)) {
        rc = BBO_ECRYPTO;
        goto tampered;
    }
    if ((rc = bbo_authorization_unseal(&auth, c->t->consumer, c->app->seal_key, sealed,
                                       webapp_now(c->app))) < 0)
        goto tampered;
    if ((rc = bbo_authorization_complete(auth, c->req->query, &code)) < 0) {
        callback_failed(c, rc);
        goto done;
    }
    if ((rc = client_open(c, &client)) < 0 ||
        (rc = bbo_client_exchange_code(client, auth, code, &token)) < 0) {
        if (rc == BBO_ESCOPE)
            missing_required(c, bbo_error_message(bbo_error_last()));
        else
            callback_failed(c, rc);
        goto done;
    }
    if (grant_open_ex(c, &g, 1) < 0) {
        error_from_library(c, "saving the grant", NULL);
        goto done;
    }
    bbo_error_clear();
    rc = bbo_session_set_token(g.session, token); /* taken */
    token = NULL;
    if (rc < 0 || bbo_error_code(bbo_error_last()) != BBO_OK) {
        error_from_library(c, "saving the grant", NULL);
        goto done;
    }
    wbuf_free(&path);
    wbuf_add(&path, c->t->prefix);
    wbuf_add(&path, "/");
    reply_redirect(c->r, 302, path.data ? path.data : "/");
    goto done;

tampered:
    if (rc == BBO_EEXPIRED)
        page_error(c->r, c->t, 400, "expired", "This login took too long",
                   "More than 10 minutes passed between starting the login and coming back "
                   "from Bitbucket (or the servers' clocks disagree), so it is no longer "
                   "accepted.",
                   "Start again with Connect Bitbucket and finish within 10 minutes. The "
                   "operator should check that every worker's clock is synchronized.",
                   NULL);
    else
        page_error(c->r, c->t, 400, "tampered", "This login could not be verified",
                   "The login cookie this browser sent back was altered, belongs to another "
                   "session, or was made with another key, so it cannot be trusted.",
                   "Start again with Connect Bitbucket. If this keeps happening, the operator "
                   "should check that every worker uses the same --seal-key-file.",
                   NULL);
done:
    grant_close(&g);
    bbo_token_free(token);
    bbo_client_free(client);
    bbo_authorization_free(auth);
    bbo_free(code); /* wipes */
    wipe_free(sealed);
    wbuf_free(&path);
}

/* ---- pull requests ---- */

/* WORKSPACE/SLUG, each [A-Za-z0-9._-]{1,100} */
static int repo_valid(const char *repo)
{
    const char *slash = repo ? strchr(repo, '/') : NULL;
    size_t i, n;

    if (!slash || slash == repo || slash[1] == '\0' || (n = strlen(repo)) > 201)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)repo[i];

        if (repo + i != slash && !isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
            return 0;
    }
    return strcmp(slash + 1, ".") && strcmp(slash + 1, "..") && repo[0] != '.';
}

static const char *json_string(yajl_val v, const char **path)
{
    v = yajl_tree_get(v, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

typedef struct pr_list {
    const ctx *c;
    const char *repo;
    wbuf items;
    int count;
} pr_list;

static void pr_item(pr_list *l, yajl_val pr)
{
    static const char *id_path[] = {"id", NULL}, *title_path[] = {"title", NULL},
                      *author_path[] = {"author", "display_name", NULL},
                      *href_path[] = {"links", "html", "href", NULL};
    yajl_val id = yajl_tree_get(pr, id_path, yajl_t_number);
    const char *title = json_string(pr, title_path), *author = json_string(pr, author_path),
               *href = json_string(pr, href_path);
    long long n;
    wbuf *b = &l->items;

    if (!id || !YAJL_IS_INTEGER(id) || (n = YAJL_GET_INTEGER(id)) < 1)
        return;
    l->count++;
    wbuf_printf(b, "<li class=\"pr\" id=\"pr-%lld\" data-id=\"%lld\">", n, n);
    /* only web links: a javascript: URL in a title's link would run on click */
    if (href && (strncmp(href, "https://", 8) == 0 || strncmp(href, "http://", 7) == 0)) {
        wbuf_add(b, "<a class=\"pr-link\" href=\"");
        wbuf_html(b, href);
        wbuf_add(b, "\">");
    } else {
        wbuf_add(b, "<a class=\"pr-link\">");
    }
    wbuf_printf(b, "#%lld <span class=\"title\">", n);
    wbuf_html(b, title ? title : "(untitled)");
    wbuf_add(b, "</span></a> <span class=\"author\">by ");
    wbuf_html(b, author ? author : "someone");
    wbuf_add(b, "</span>\n<form method=\"post\" action=\"");
    wbuf_html(b, l->c->t->prefix);
    wbuf_printf(b, "/pullrequests/comment\" id=\"comment-form-%lld\">", n);
    csrf_field(l->c, b);
    wbuf_add(b, "<input type=\"hidden\" name=\"repo\" value=\"");
    wbuf_html(b, l->repo);
    wbuf_printf(b, "\"><input type=\"hidden\" name=\"id\" value=\"%lld\">"
                   "<textarea name=\"text\" id=\"comment-text-%lld\" required "
                   "aria-label=\"Comment on #%lld\" placeholder=\"Comment\"></textarea>"
                   "<button type=\"submit\" id=\"comment-%lld\">Comment</button></form></li>\n",
                n, n, n, n);
}

static int pr_page(const bbo_response *page, void *payload)
{
    static const char *values_path[] = {"values", NULL};
    pr_list *l = payload;
    char errbuf[128];
    yajl_val root = yajl_tree_parse(bbo_response_body(page, NULL), errbuf, sizeof(errbuf));
    yajl_val values = root ? yajl_tree_get(root, values_path, yajl_t_array) : NULL;
    size_t i;

    if (!values) {
        yajl_tree_free(root);
        return 1; /* not a page of pull requests: stop */
    }
    for (i = 0; i < YAJL_GET_ARRAY(values)->len; i++)
        pr_item(l, YAJL_GET_ARRAY(values)->values[i]);
    yajl_tree_free(root);
    return 0;
}

static void bad_repo(const ctx *c)
{
    page_error(c->r, c->t, 400, "bad_request", "Which repository?",
               "The repository must be given as WORKSPACE/REPOSITORY, as in its address on "
               "Bitbucket (bitbucket.org/WORKSPACE/REPOSITORY).",
               "Go back and enter it as workspace/repository.", NULL);
}

static void handle_pullrequests(const ctx *c)
{
    const char *repo = field(c, "repo"), *posted = field(c, "posted");
    pr_list l = {c, repo, {0}, 0};
    wbuf path = {0}, *b = &c->r->body;
    grant g = {0};
    int rc;

    if (!repo_valid(repo)) {
        bad_repo(c);
        return;
    }
    if (grant_open_connected(c, &g) < 0)
        goto done;
    wbuf_printf(&path, "/repositories/%s/pullrequests?state=OPEN", repo);
    rc = path.data ? bbo_session_foreach_page(g.session, path.data, MAX_PAGES, pr_page, &l)
                   : BBO_ENOMEM;
    if (rc == BBO_EHTTP && bbo_error_http_status(bbo_error_last()) == 404) {
        page_error(c->r, c->t, 404, "not_found", "Repository not found",
                   "Bitbucket has no repository by that name that your account can see.",
                   "Check the spelling (workspace/repository, as in the repository's address) "
                   "and that your Bitbucket account has access to it.",
                   repo);
        goto done;
    }
    if (rc < 0) {
        error_from_library(c, "listing pull requests", "pullrequest");
        goto done;
    }
    page_begin(b, c->t, "Pull requests");
    wbuf_add(b, "<h1>Open pull requests in <span id=\"repo-name\">");
    wbuf_html(b, repo);
    wbuf_add(b, "</span></h1>\n");
    if (posted && strspn(posted, "0123456789") == strlen(posted) && *posted &&
        strlen(posted) < 10) {
        wbuf_add(b, "<p id=\"notice\">Your comment was posted on #");
        wbuf_html(b, posted);
        wbuf_add(b, ".</p>\n");
    }
    wbuf_printf(b, "<p id=\"count\">%d open pull request%s.</p>\n<ul class=\"prs\" "
                   "id=\"pullrequests\">\n", l.count, l.count == 1 ? "" : "s");
    if (l.items.data)
        wbuf_add(b, l.items.data);
    wbuf_add(b, "</ul>\n");
    page_end(b);
done:
    wbuf_free(&l.items);
    wbuf_free(&path);
    grant_close(&g);
}

/* Bitbucket's error message from an API answer ({"error": {"message"}}). */
static char *api_message(const bbo_response *resp)
{
    static const char *path[] = {"error", "message", NULL};
    char errbuf[64];
    yajl_val root = yajl_tree_parse(bbo_response_body(resp, NULL), errbuf, sizeof(errbuf));
    const char *message = root ? json_string(root, path) : NULL;
    char *copy = message ? strdup(message) : NULL;

    yajl_tree_free(root);
    return copy;
}

static void handle_comment(const ctx *c)
{
    const char *repo = field(c, "repo"), *id = field(c, "id"), *text = field(c, "text");
    wbuf path = {0}, body = {0}, back = {0};
    bbo_response *resp = NULL;
    char *message = NULL, *plain = NULL;
    grant g = {0};
    int rc;

    if (!csrf_ok(c)) {
        csrf_failed(c);
        goto done;
    }
    if (!repo_valid(repo)) {
        bad_repo(c);
        goto done;
    }
    if (!id || !*id || strlen(id) > 9 || strspn(id, "0123456789") != strlen(id) || !text ||
        !*text || strlen(text) > MAX_COMMENT) {
        page_error(c->r, c->t, 400, "bad_request", "The comment could not be sent",
                   "A comment needs a pull request number and a text of at most 16 KiB.",
                   "Go back and write the comment again.", NULL);
        goto done;
    }
    if (grant_open_connected(c, &g) < 0)
        goto done;
    wbuf_printf(&path, "/repositories/%s/pullrequests/%s/comments", repo, id);
    /* browsers send a textarea's line breaks as CRLF */
    if ((plain = strdup(text)) != NULL) {
        char *from = plain, *to = plain;

        for (; *from; from++)
            if (!(from[0] == '\r' && from[1] == '\n'))
                *to++ = *from;
        *to = '\0';
    }
    wbuf_add(&body, "{\"content\":{\"raw\":");
    wbuf_json(&body, plain ? plain : "");
    wbuf_add(&body, "}}");
    if (!path.data || !body.data || !plain) {
        page_error(c->r, c->t, 500, "internal", "Out of memory", "The server ran out of memory.",
                   "Try again.", NULL);
        goto done;
    }
    if ((rc = bbo_session_request(g.session, "POST", path.data, body.data, body.len, &resp)) <
        0) {
        error_from_library(c, "posting the comment", "pullrequest:write");
        goto done;
    }
    if (bbo_response_status(resp) != 201 && bbo_response_status(resp) != 200) {
        wbuf what = {0};

        message = api_message(resp);
        wbuf_printf(&what, "Bitbucket did not accept the comment on #%s (HTTP %d).", id,
                    bbo_response_status(resp));
        page_error(c->r, c->t, bbo_response_status(resp) == 404 ? 404 : 502,
                   bbo_response_status(resp) == 404 ? "not_found" : "bitbucket",
                   "The comment was not posted", what.data ? what.data : "",
                   "Check that the pull request still exists and try again.", message);
        wbuf_free(&what);
        goto done;
    }
    wbuf_add(&back, c->t->prefix);
    wbuf_add(&back, "/pullrequests?repo=");
    wbuf_url(&back, repo);
    wbuf_add(&back, "&posted=");
    wbuf_add(&back, id);
    reply_redirect(c->r, 303, back.data ? back.data : "/");
done:
    free(message);
    free(plain);
    bbo_response_free(resp);
    wbuf_free(&path);
    wbuf_free(&body);
    wbuf_free(&back);
    grant_close(&g);
}

/* ---- POST /logout ---- */

static void handle_logout(const ctx *c)
{
    grant g = {0};
    wbuf back = {0};

    if (!csrf_ok(c)) {
        csrf_failed(c);
        return;
    }
    if (grant_open(c, &g) < 0 || bbo_session_logout(g.session) < 0) {
        error_from_library(c, "forgetting this browser's grant", NULL);
        grant_close(&g);
        return;
    }
    grant_close(&g);
    wbuf_add(&back, c->t->prefix);
    wbuf_add(&back, "/");
    reply_redirect(c->r, 303, back.data ? back.data : "/");
    wbuf_free(&back);
}

/* ---- routing ---- */

typedef struct route {
    const char *method, *path;
    void (*handle)(const ctx *c);
} route;

static const route routes[] = {
    {"GET", "/", handle_home},
    {"GET", "/connect", handle_connect},
    {"GET", "/callback", handle_callback},
    {"GET", "/pullrequests", handle_pullrequests},
    {"POST", "/pullrequests/comment", handle_comment},
    {"POST", "/logout", handle_logout},
};

void webapp_handle(webapp *app, const tenant *t, const request *req, reply *out)
{
    ctx c = {app, t, req, out, req->sid, sid_valid(req->sid)};
    unsigned char raw[32];
    char sid[SID_LEN + 1];
    int path_known = 0;
    size_t i;

    out->status = 200;
    if (!sid_valid(req->sid)) {
        /* a new app session for this browser (its user id in this example) */
        if (random_bytes(raw, sizeof(raw)) < 0) {
            page_error(out, t, 500, "internal", "No randomness",
                       "The server could not get random numbers.", "Try again.", NULL);
            return;
        }
        b64url(raw, sizeof(raw), sid);
        c.sid = sid;
        cookie(&c, "bbo_sid", sid, "/", -1);
    }
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, req->method) == 0 ||
            (strcmp(req->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            routes[i].handle(&c);
            return;
        }
    }
    if (path_known)
        page_error(out, t, 405, "method", "Not allowed here",
                   "This address does not take that kind of request.",
                   "Use the links and buttons of the pages.", NULL);
    else
        page_error(out, t, 404, "not_found", "Page not found", "There is no page at this address.",
                   "Go back to the start page.", NULL);
}
