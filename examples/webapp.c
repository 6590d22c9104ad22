/*
 * A web application's login, as a pair of request handlers that any HTTP
 * server (libmicrohttpd, a FastCGI loop, nginx + a worker pool) can call:
 *
 *   GET /login     begin a login, seal it into an HttpOnly cookie, 302 to
 *                  Bitbucket
 *   GET /callback  unseal the cookie (on any worker, after a restart),
 *                  check the redirect, exchange the code, store the grant
 *
 * The handlers keep no state between requests: everything the callback
 * needs is in the sealed cookie, under the app's 32-byte key (the same on
 * every worker). docs/guide.md, "Web applications", explains the choices.
 *
 * main() plays one login against the mock Bitbucket (tests/mock), with the
 * library's own transport standing in for the user's browser:
 *   BBMOCK_BASE, BBMOCK_KEY, BBMOCK_SECRET, BBMOCK_CA   the mock (with_mock.py)
 *   WEBAPP_STATE_DIR   where its temporary folder for token files goes
 *                      (default /tmp); removed at the end
 * SPDX-License-Identifier: MIT
 */
#include <bboauth.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COOKIE_NAME "bbo_login"

/* Set up once per worker at start; read-only afterwards (shared by every
 * request thread). */
typedef struct webapp {
    bbo_consumer *consumer;  /* callback: https://<this host>:3001/callback */
    bbo_client *client;
    unsigned char key[32];   /* the app's secret key, the same on every worker */
    const char *state_dir;   /* token files, one per user */
} webapp;

/* What a handler answers: the HTTP server sends it. */
typedef struct web_response {
    int status;
    char location[4096];   /* Location header, or "" */
    char set_cookie[1536]; /* Set-Cookie header, or "" */
    char body[512];        /* text/plain; never a token or a secret */
} web_response;

static void answer(web_response *resp, int status, const char *body)
{
    resp->status = status;
    snprintf(resp->body, sizeof(resp->body), "%s", body);
}

/* GET /login */
static int handle_login(const webapp *app, web_response *resp)
{
    bbo_authorization *auth = NULL;
    char *sealed = NULL;
    int rc;

    memset(resp, 0, sizeof(*resp));
    if ((rc = bbo_authorization_begin(&auth, app->consumer)) < 0 ||
        (rc = bbo_authorization_seal(auth, app->key, (int64_t)time(NULL), &sealed)) < 0) {
        answer(resp, 500, "cannot begin a login");
        goto done;
    }
    /* HttpOnly: no script reads it. SameSite=Lax: sent on Bitbucket's
     * top-level redirect back, never on a cross-site POST or subrequest.
     * Path: only the callback gets it. Max-Age: the seal's 10 minutes. */
    snprintf(resp->set_cookie, sizeof(resp->set_cookie),
             COOKIE_NAME "=%s; Path=/callback; Max-Age=600; HttpOnly; Secure; SameSite=Lax",
             sealed);
    snprintf(resp->location, sizeof(resp->location), "%s", bbo_authorization_url(auth));
    answer(resp, 302, "");
done:
    bbo_free(sealed);
    bbo_authorization_free(auth);
    return rc;
}

/* The value of our cookie in a Cookie header ("a=1; bbo_login=...; b=2"),
 * copied into `out`; 0 when absent or too long. */
static int cookie_value(const char *header, char *out, size_t size)
{
    const char *p = header;
    size_t name_len = strlen(COOKIE_NAME), len;

    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        len = strcspn(p, ";");
        if (len > name_len && strncmp(p, COOKIE_NAME "=", name_len + 1) == 0) {
            len -= name_len + 1;
            if (len >= size)
                return 0;
            memcpy(out, p + name_len + 1, len);
            out[len] = '\0';
            return 1;
        }
        p += len;
    }
    return 0;
}

/* A user name fit for a file name: [A-Za-z0-9._-]+, not starting with '.'. */
static int safe_name(const char *name)
{
    size_t i;

    if (!*name || *name == '.' || strlen(name) > 200)
        return 0;
    for (i = 0; name[i]; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", name[i]))
            return 0;
    return 1;
}

/* Keep the grant: one token file per user (a database row in a fleet). */
static int store_grant(const webapp *app, bbo_token *token, char *user, size_t user_size)
{
    bbo_session *session = NULL;
    bbo_store *store = NULL;
    char *name = NULL, path[4096];
    int rc;

    /* the session takes the token; its first API call asks who this is */
    if ((rc = bbo_session_new(&session, app->client, token)) < 0 ||
        (rc = bbo_session_user(session, &name)) < 0)
        goto done;
    if (!safe_name(name)) {
        rc = BBO_EPROTOCOL;
        goto done;
    }
    snprintf(user, user_size, "%s", name);
    snprintf(path, sizeof(path), "%s/%s.token", app->state_dir, name);
    /* the session saves its token to the new store at once; a server keeps
     * the session (one per user) for the API calls that follow */
    if ((rc = bbo_file_store_new(&store, path, app->key)) < 0 ||
        (rc = bbo_session_set_store(session, store)) < 0)
        goto done;
done:
    bbo_free(name);
    bbo_session_free(session);
    return rc;
}

/* GET /callback?code=...&state=... with the browser's Cookie header. */
static int handle_callback(const webapp *app, const char *cookie_header, const char *query,
                    web_response *resp)
{
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL;
    char sealed[1100], *code = NULL, user[256], text[400];
    int rc;

    memset(resp, 0, sizeof(*resp));
    /* the login is over whatever happens: the cookie goes */
    snprintf(resp->set_cookie, sizeof(resp->set_cookie),
             COOKIE_NAME "=; Path=/callback; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    if (!cookie_header || !cookie_value(cookie_header, sealed, sizeof(sealed))) {
        /* no cookie: not begun in this browser (login CSRF), or expired */
        answer(resp, 400, "This login was not begun here, or took too long: start again.");
        return BBO_ESTATE;
    }
    rc = bbo_authorization_unseal(&auth, app->consumer, app->key, sealed, (int64_t)time(NULL));
    if (rc == BBO_EEXPIRED) {
        answer(resp, 400, "This login took more than ten minutes: start again.");
        goto done;
    }
    if (rc < 0) {
        answer(resp, 400, "This login cannot be completed here: start again.");
        goto done;
    }
    if ((rc = bbo_authorization_complete(auth, query, &code)) < 0) {
        answer(resp, rc == BBO_EDENIED ? 403 : 400,
               rc == BBO_EDENIED ? "You declined access on Bitbucket."
                                 : "Bitbucket's answer was not valid for this login.");
        goto done;
    }
    if ((rc = bbo_client_exchange_code(app->client, auth, code, &token)) < 0) {
        /* BBO_ESCOPE: the consumer lacks a required permission; the
         * message says which and where to tick it (for the operator) */
        answer(resp, rc == BBO_ESCOPE ? 403 : 502,
               rc == BBO_ESCOPE ? "The Bitbucket consumer lacks a permission this app needs; "
                                  "an administrator must add it, then log in again."
                                : "Bitbucket did not complete the login: try again.");
        fprintf(stderr, "login failed: %s\n", bbo_error_message(bbo_error_last()));
        goto done;
    }
    if ((rc = store_grant(app, token, user, sizeof(user))) < 0) {
        token = NULL; /* taken by the session */
        answer(resp, 500, "Logged in, but the login could not be kept: try again.");
        fprintf(stderr, "store failed: %s\n", bbo_error_message(bbo_error_last()));
        goto done;
    }
    token = NULL;
    snprintf(text, sizeof(text), "Logged in as %s.", user);
    answer(resp, 200, text);
done:
    bbo_token_free(token);
    bbo_free(code);
    bbo_authorization_free(auth);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The demo: one login against the mock, the library playing browser.  */

#include <dirent.h>
#include <unistd.h>

/* GET `url` without following redirects; copies the Location header. */
static int browser_get(bbo_client *browser, const char *url, char *location, size_t size)
{
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    const char *loc;
    int rc;

    if ((rc = bbo_http_request_new(&req, "GET", url)) < 0 ||
        (rc = bbo_client_send(browser, req, &resp)) < 0)
        goto done;
    if ((loc = bbo_http_response_header(resp, "Location")) == NULL || strlen(loc) >= size) {
        rc = BBO_EPROTOCOL;
        goto done;
    }
    snprintf(location, size, "%s", loc);
done:
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
    return rc;
}

/* The demo's temporary folder and the token files in it. */
static void remove_dir(const char *path)
{
    char file[4400];
    struct dirent *entry;
    DIR *dir = opendir(path);

    while (dir && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, entry->d_name);
        unlink(file);
    }
    if (dir)
        closedir(dir);
    rmdir(path);
}

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, bbo_error_message(bbo_error_last()));
    return 1;
}

int main(void)
{
    const char *base = getenv("BBMOCK_BASE"), *key = getenv("BBMOCK_KEY");
    const char *secret = getenv("BBMOCK_SECRET"), *ca = getenv("BBMOCK_CA");
    const char *parent = getenv("WEBAPP_STATE_DIR");
    char authorize[512], token_url[512], api[512], dir[4096];
    char location[4096], cookie[1600], *query;
    webapp app;
    web_response resp;
    bbo_client *browser = NULL;
    bbo_scopes *scopes = NULL;
    FILE *random;
    int status = 1;

    if (!base || !key || !secret || !ca) {
        fprintf(stderr, "run under tests/mock/with_mock.py (BBMOCK_* not set)\n");
        return 1;
    }
    memset(&app, 0, sizeof(app));
    /* one worker here; a fleet reads the same key from its secret store */
    if ((random = fopen("/dev/urandom", "rb")) == NULL ||
        fread(app.key, 1, sizeof(app.key), random) != sizeof(app.key)) {
        fprintf(stderr, "no random key\n");
        return 1;
    }
    fclose(random);
    snprintf(dir, sizeof(dir), "%s/webapp-XXXXXX", parent ? parent : "/tmp");
    if ((app.state_dir = mkdtemp(dir)) == NULL)
        return 1;
    snprintf(authorize, sizeof(authorize), "%s/site/oauth2/authorize", base);
    snprintf(token_url, sizeof(token_url), "%s/site/oauth2/access_token", base);
    snprintf(api, sizeof(api), "%s/2.0", base);

    /* The consumer: the code-review server's permissions, both mandatory.
     * The mock's consumer has the loopback callback; a server registers
     * https://<its host>:3001/callback. */
    if (bbo_consumer_new(&app.consumer, key, secret) < 0 ||
        bbo_consumer_set_callback_url(app.consumer, "http://127.0.0.1/callback") < 0 ||
        bbo_consumer_set_endpoints(app.consumer, authorize, token_url, api) < 0 ||
        bbo_scopes_parse(&scopes, "account pullrequest:write") < 0 ||
        bbo_consumer_set_scopes(app.consumer, scopes) < 0 ||
        bbo_consumer_require_scopes(app.consumer, scopes) < 0 ||
        bbo_client_new(&app.client, app.consumer) < 0 ||
        bbo_client_set_ca(app.client, ca, NULL) < 0 || bbo_client_set_proxy(app.client, "") < 0 ||
        bbo_client_new(&browser, app.consumer) < 0 ||
        bbo_client_set_ca(browser, ca, NULL) < 0 || bbo_client_set_proxy(browser, "") < 0) {
        fail("setup");
        goto done;
    }

    /* 1. the browser asks for /login */
    if (handle_login(&app, &resp) < 0 || resp.status != 302) {
        fail("login handler");
        goto done;
    }
    /* the browser keeps the cookie (name=value, before the attributes) */
    snprintf(cookie, sizeof(cookie), "theme=dark; %.*s", (int)strcspn(resp.set_cookie, ";"),
             resp.set_cookie);
    printf("cookie: %zu characters\n", strcspn(resp.set_cookie, ";") - strlen(COOKIE_NAME "="));
    /* 2. Bitbucket: the user approves, the browser is sent to the callback */
    if (browser_get(browser, resp.location, location, sizeof(location)) < 0) {
        fail("authorize");
        goto done;
    }
    if ((query = strchr(location, '?')) == NULL) {
        fprintf(stderr, "no query in the redirect\n");
        goto done;
    }
    /* 3. the browser asks for /callback, on any worker */
    handle_callback(&app, cookie, query + 1, &resp);
    printf("%d %s\n", resp.status, resp.body);
    if (resp.status != 200)
        goto done;
    /* 4. a replayed callback without the cookie is refused */
    handle_callback(&app, "theme=dark", query + 1, &resp);
    printf("%d %s\n", resp.status, resp.body);
    status = resp.status == 400 ? 0 : 1;
done:
    bbo_scopes_free(scopes);
    bbo_client_free(browser);
    bbo_client_free(app.client);
    bbo_consumer_free(app.consumer);
    memset(app.key, 0, sizeof(app.key));
    remove_dir(dir);
    return status;
}
