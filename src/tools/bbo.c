/*
 * bbo: log in to Bitbucket once, then use the login from scripts and git.
 * SPDX-License-Identifier: MIT
 *
 *   bbo login | status | token | api | logout    (bbo(1))
 */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char main_help[] =
    "usage: bbo [--version] [--help] COMMAND [options]\n"
    "\n"
    "Log in to Bitbucket (Cloud or Data Center) with OAuth 2.0 once; then scripts\n"
    "and git (through git-credential-bboauth) get fresh access tokens.\n"
    "\n"
    "  login    log in in the browser and keep the tokens\n"
    "  status   every profile: user, host, scopes, token expiry, store\n"
    "  token    print a fresh access token (for scripts)\n"
    "  api      call the REST API, like `gh api`\n"
    "  logout   forget a profile's tokens on this machine\n"
    "\n"
    "`bbo COMMAND --help` describes each. Profiles live in $XDG_CONFIG_HOME/bboauth,\n"
    "tokens in $XDG_STATE_HOME/bboauth (encrypted) or the desktop keyring.\n"
    "Exit codes: 0 success, 1 failure, 2 usage, 3 not logged in, 4 network,\n"
    "5 denied, 6 scope missing.\n";

static const char status_help[] =
    "usage: bbo status [--profile NAME] [--json] [--check]\n"
    "\n"
    "Show every profile (or one): user, server, git host, scopes, access-token expiry,\n"
    "whether a refresh token is kept, and where. No network, unless --check: then one\n"
    "API call per profile checks the login (refreshing the token when due).\n"
    "\n"
    "  --profile NAME   only this profile\n"
    "  --json           one JSON object on standard output\n"
    "  --check          ask Bitbucket who is logged in\n"
    "\n"
    "Exit codes: 0 (every shown profile logged in, and checked if asked), 3 a profile is\n"
    "not logged in, 4 network, 5 denied, 6 scope, 1 anything else.\n";

static const char token_help[] =
    "usage: bbo token [--profile NAME] [--refresh]\n"
    "\n"
    "Print a fresh access token on standard output and nothing else, refreshing it\n"
    "first when it expires within a minute (one refresh at a time across every\n"
    "process of this profile). For scripts:\n"
    "\n"
    "    curl -H \"Authorization: Bearer $(bbo token)\" https://api.bitbucket.org/2.0/user\n"
    "\n"
    "  --profile NAME   the login to use (default: $BBO_PROFILE or \"default\")\n"
    "  --refresh        refresh now, even if the token is still fresh\n"
    "\n"
    "Exit codes: 0, 3 not logged in (run `bbo login`), 4 network, 1 anything else.\n";

static const char api_help[] =
    "usage: bbo api [options] PATH\n"
    "\n"
    "Call the Bitbucket REST API with the profile's token, like `gh api`. PATH is\n"
    "relative to the API (\"/user\", \"repositories/WORKSPACE\") or a full URL on it.\n"
    "The answer's JSON goes to standard output; on an HTTP error the status and\n"
    "Bitbucket's message go to standard error.\n"
    "\n"
    "  -X, --method METHOD   GET (default), POST (default with -f or --input), PUT, ...\n"
    "  -f, --field KEY=VALUE add a string field: to the JSON body, or to the query\n"
    "                        string of a GET\n"
    "  --input FILE          the request body from FILE (- for standard input)\n"
    "  --paginate            follow \"next\" and print every page's \"values\" as one array\n"
    "  --profile NAME        the login to use\n"
    "\n"
    "Exit codes: 0 (2xx), 1 HTTP or other error, 2 usage, 3 not logged in, 4 network,\n"
    "5 denied, 6 scope missing.\n";

static const char logout_help[] =
    "usage: bbo logout [--profile NAME] [--forget]\n"
    "\n"
    "Forget the profile's tokens and consumer secret on this machine. Bitbucket Cloud\n"
    "has no revocation endpoint: the grant stays valid on Bitbucket until you revoke\n"
    "the app's access there (Personal settings > App authorizations).\n"
    "\n"
    "  --profile NAME   the login to forget (default: $BBO_PROFILE or \"default\")\n"
    "  --forget         also remove the profile's settings\n";

/* ---- shared ---- */

static int help_asked(const char *arg, const char *text)
{
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(text, stdout);
        return 1;
    }
    return 0;
}

/* Options of a command that takes --profile NAME and one flag: -1 help
 * shown, 0 parsed, else the exit code. */
static int profile_and_flag(int argc, char **argv, const char *command, const char *help,
                            const char *flag, int *flag_set, const char **profile)
{
    const char *v;
    int i, r;

    for (i = 0; i < argc; i++) {
        if (help_asked(argv[i], help))
            return -1;
        if (strcmp(argv[i], flag) == 0)
            *flag_set = 1;
        else if ((r = tool_option(argc, argv, &i, "--profile", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            *profile = v;
        } else
            return tool_unknown_option(command, argv[i]);
    }
    return 0;
}

/* Load a profile that must exist; prints what to do when it does not. */
static int load_existing(tool_profile *p, const char *name)
{
    int rc = tool_profile_load(p, name ? name : tool_default_profile());

    if (rc < 0)
        return TOOL_EXIT_USAGE;
    if (rc > 0) {
        fprintf(stderr, "bbo: there is no profile \"%s\"\n", p->name);
        tool_hint(TOOL_EXIT_LOGIN, p->name);
        tool_profile_dispose(p);
        return TOOL_EXIT_LOGIN;
    }
    return TOOL_EXIT_OK;
}

/* ---- status ---- */

typedef struct status_row {
    int logged_in, refresh, checked, check_rc;
    int64_t expires_at;
    char *scopes, *check_user, *check_error;
    char store[4200];
    const char *store_kind;
} status_row;

static int status_read(const tool_profile *p, status_row *r, int check)
{
    bbo_store *store = NULL;
    bbo_token *token = NULL;
    char *path = tool_token_path(p);
    int keyring = p->store && strcmp(p->store, "keyring") == 0, rc = TOOL_EXIT_OK;

    memset(r, 0, sizeof(*r));
    r->store_kind = keyring ? "keyring" : "file";
    if (keyring)
        snprintf(r->store, sizeof(r->store), "desktop keyring (Secret Service)");
    else
        snprintf(r->store, sizeof(r->store), "%s", path ? path : "");
    /* no file: logged out, and nothing is created by looking */
    if (keyring || (path && access(path, F_OK) == 0)) {
        if (tool_store_open(p, 0, &store) == 0 && bbo_store_load(store, &token) < 0)
            rc = tool_fail(p->name, "reading the token", bbo_error_code(bbo_error_last()));
    }
    free(path);
    bbo_store_free(store);
    if (token) {
        r->logged_in = 1;
        r->refresh = bbo_token_refresh(token) != NULL;
        r->expires_at = bbo_token_expires_at(token);
        bbo_scopes_to_string(bbo_token_scopes(token), &r->scopes);
        bbo_token_free(token);
    }
    if (check && r->logged_in) {
        tool_login l;
        char *user = NULL;
        int crc;

        r->checked = 1;
        if ((crc = tool_login_open(p, &l)) != TOOL_EXIT_OK) {
            r->check_rc = crc;
            r->check_error = tool_strdup("the login could not be opened");
        } else if ((crc = bbo_session_user(l.session, &user)) < 0) {
            r->check_error = tool_strdup(bbo_error_message(bbo_error_last()));
            r->check_rc = tool_fail(p->name, "check", crc);
        } else {
            r->check_user = tool_strdup(user);
        }
        bbo_free(user);
        tool_login_close(&l);
    }
    return rc;
}

static void status_free(status_row *r)
{
    bbo_free(r->scopes);
    free(r->check_user);
    free(r->check_error);
}

static void status_json(tool_buf *b, const tool_profile *p, const status_row *r, int64_t now)
{
    char when[32], *api = tool_profile_api(p);
    const char *s;
    size_t n;

    tool_buf_puts(b, "{\"name\":");
    tool_buf_json_string(b, p->name);
    tool_buf_puts(b, ",\"kind\":");
    tool_buf_json_string(b, p->kind);
    tool_buf_puts(b, ",\"bitbucket\":");
    tool_buf_json_string(b, p->bitbucket);
    tool_buf_puts(b, ",\"api\":");
    tool_buf_json_string(b, api);
    tool_buf_puts(b, ",\"host\":");
    {
        char scheme[16], host[512];

        tool_buf_json_string(b, tool_url_host(p->bitbucket, scheme, sizeof(scheme), host,
                                              sizeof(host)) == 0 ? host : NULL);
    }
    tool_buf_puts(b, ",\"git_host\":");
    tool_buf_json_string(b, p->git_host);
    tool_buf_puts(b, ",\"consumer_key\":");
    tool_buf_json_string(b, p->key);
    tool_buf_puts(b, ",\"user\":");
    tool_buf_json_string(b, r->logged_in ? p->user : NULL);
    tool_buf_puts(b, ",\"logged_in\":");
    tool_buf_puts(b, r->logged_in ? "true" : "false");
    tool_buf_puts(b, ",\"logged_in_at\":");
    tool_buf_json_string(b, r->logged_in ? p->logged_in : NULL);
    tool_buf_puts(b, ",\"scopes\":[");
    for (s = r->scopes; s && *s; s += n) {
        char scope[128];

        s += strspn(s, " ");
        n = strcspn(s, " ");
        if (!n)
            break;
        snprintf(scope, sizeof(scope), "%.*s", (int)n, s);
        if (b->ptr[b->len - 1] != '[')
            tool_buf_puts(b, ",");
        tool_buf_json_string(b, scope);
    }
    tool_buf_puts(b, "],\"access_token\":");
    if (r->logged_in) {
        char num[64];

        tool_format_time(r->expires_at, when, sizeof(when));
        tool_buf_puts(b, "{\"expires_at\":");
        tool_buf_json_string(b, r->expires_at ? when : NULL);
        snprintf(num, sizeof(num), ",\"expires_in\":%lld,\"expired\":%s}",
                 (long long)(r->expires_at ? r->expires_at - now : 0),
                 r->expires_at && r->expires_at <= now ? "true" : "false");
        tool_buf_puts(b, num);
    } else {
        tool_buf_puts(b, "null");
    }
    tool_buf_puts(b, ",\"refresh_token\":");
    tool_buf_puts(b, r->refresh ? "true" : "false");
    tool_buf_puts(b, ",\"store\":{\"kind\":");
    tool_buf_json_string(b, r->store_kind);
    tool_buf_puts(b, ",\"path\":");
    tool_buf_json_string(b, strcmp(r->store_kind, "file") == 0 ? r->store : NULL);
    tool_buf_puts(b, ",\"encrypted\":true,\"encryption\":");
    tool_buf_json_string(b, strcmp(r->store_kind, "file") == 0 ? "AES-256-GCM"
                                                              : "desktop keyring");
    tool_buf_puts(b, "}");
    if (r->checked) {
        tool_buf_puts(b, ",\"check\":{\"ok\":");
        tool_buf_puts(b, r->check_user ? "true" : "false");
        tool_buf_puts(b, ",\"user\":");
        tool_buf_json_string(b, r->check_user);
        tool_buf_puts(b, ",\"error\":");
        tool_buf_json_string(b, r->check_error);
        tool_buf_puts(b, "}");
    }
    tool_buf_puts(b, "}");
    free(api);
}

static void status_text(const tool_profile *p, const status_row *r, int64_t now)
{
    char when[32];

    printf("%s: %s at %s (git host %s)\n", p->name, tool_profile_kind_label(p),
           p->bitbucket ? p->bitbucket : "?", p->git_host ? p->git_host : "?");
    if (!r->logged_in) {
        printf("  not logged in: run `bbo login%s%s`\n", strcmp(p->name, "default") ? " --profile "
                                                                                     : "",
               strcmp(p->name, "default") ? p->name : "");
        return;
    }
    printf("  user:           %s\n", p->user ? p->user : "(unknown: run bbo status --check)");
    printf("  scopes:         %s\n", r->scopes && *r->scopes ? r->scopes : "(none reported)");
    tool_format_time(r->expires_at, when, sizeof(when));
    if (!r->expires_at)
        printf("  access token:   expiry unknown\n");
    else if (r->expires_at > now)
        printf("  access token:   valid until %s (%lld min)\n", when,
               (long long)((r->expires_at - now) / 60));
    else
        printf("  access token:   expired at %s (renewed on next use)\n", when);
    printf("  refresh token:  %s\n", r->refresh ? "kept" : "none (log in again when the access "
                                                           "token expires)");
    if (strcmp(r->store_kind, "file") == 0)
        printf("  store:          encrypted file %s (AES-256-GCM)\n", r->store);
    else
        printf("  store:          %s\n", r->store);
    if (r->checked && r->check_user)
        printf("  check:          Bitbucket says the token belongs to %s\n", r->check_user);
    else if (r->checked)
        printf("  check:          failed: %s\n", r->check_error);
}

static int cmd_status(int argc, char **argv)
{
    const char *only = NULL, *v;
    char **names = NULL;
    size_t count = 0, i;
    int json = 0, check = 0, rc = TOOL_EXIT_OK, r, a;
    int64_t now = (int64_t)time(NULL);
    tool_buf b = { 0 };

    for (a = 0; a < argc; a++) {
        if (help_asked(argv[a], status_help))
            return TOOL_EXIT_OK;
        if (strcmp(argv[a], "--json") == 0)
            json = 1;
        else if (strcmp(argv[a], "--check") == 0)
            check = 1;
        else if ((r = tool_option(argc, argv, &a, "--profile", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            only = v;
        } else
            return tool_unknown_option("status", argv[a]);
    }
    if (only) {
        if (!tool_profile_name_ok(only)) {
            fprintf(stderr, "bbo status: \"%s\" is not a profile name\n", only);
            return TOOL_EXIT_USAGE;
        }
        names = calloc(1, sizeof(*names));
        names[0] = tool_strdup(only);
        count = 1;
    } else {
        names = tool_profile_names(&count);
    }
    if (json)
        tool_buf_puts(&b, "{\"profiles\":[");
    else if (count == 0)
        printf("no profiles: run `bbo login`\n");
    for (i = 0; i < count; i++) {
        tool_profile p;
        status_row row;
        int lr = tool_profile_load(&p, names[i]);

        if (lr != 0) {
            if (lr > 0)
                fprintf(stderr, "bbo status: there is no profile \"%s\": run `bbo login "
                                "--profile %s`\n", names[i], names[i]);
            rc = lr > 0 ? TOOL_EXIT_LOGIN : TOOL_EXIT_FAIL;
            tool_profile_dispose(&p);
            continue;
        }
        if ((r = status_read(&p, &row, check)) != TOOL_EXIT_OK && rc == TOOL_EXIT_OK)
            rc = r;
        if (!row.logged_in && rc == TOOL_EXIT_OK)
            rc = TOOL_EXIT_LOGIN;
        if (row.check_rc && rc == TOOL_EXIT_OK)
            rc = row.check_rc;
        if (json) {
            if (i)
                tool_buf_puts(&b, ",");
            status_json(&b, &p, &row, now);
        } else {
            status_text(&p, &row, now);
        }
        status_free(&row);
        tool_profile_dispose(&p);
    }
    if (count == 0)
        rc = TOOL_EXIT_LOGIN;
    if (json) {
        tool_buf_puts(&b, "]}\n");
        fputs(b.ptr, stdout);
    }
    tool_buf_dispose(&b);
    tool_names_free(names, count);
    return rc;
}

/* ---- token ---- */

static int cmd_token(int argc, char **argv)
{
    const char *profile = NULL;
    tool_profile p;
    tool_login l;
    bbo_token *token = NULL;
    char *access = NULL;
    int r, refresh = 0, rc;

    if ((rc = profile_and_flag(argc, argv, "token", token_help, "--refresh", &refresh,
                               &profile)) != 0)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = load_existing(&p, profile)) != TOOL_EXIT_OK)
        return rc;
    if ((rc = tool_login_open(&p, &l)) != TOOL_EXIT_OK)
        goto done;
    if (refresh) {
        /* the refreshed token as it is, even if short-lived */
        if ((r = bbo_session_refresh(l.session)) < 0 ||
            (r = bbo_session_token(l.session, &token)) < 0)
            rc = tool_fail(p.name, "refresh", r);
        else
            access = tool_strdup(bbo_token_access(token));
    } else {
        char *a = NULL;

        if ((r = bbo_session_access_token(l.session, &a)) < 0) {
            rc = tool_fail(p.name, "token", r);
        } else {
            access = tool_strdup(a);
            tool_wipe(a, strlen(a));
            bbo_free(a);
        }
    }
    if (access) {
        tool_rejected_clear(&p);
        printf("%s\n", access);
    }
done:
    tool_free_secret(access);
    bbo_token_free(token);
    tool_login_close(&l);
    tool_profile_dispose(&p);
    return rc;
}

/* ---- api ---- */

typedef struct api_opts {
    const char *method, *input, *path, *profile;
    const char *fields[64];
    int field_count, paginate;
} api_opts;

static int parse_api(int argc, char **argv, api_opts *o)
{
    const char *v;
    int i, r;

    memset(o, 0, sizeof(*o));
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (help_asked(a, api_help))
            return -1;
        if (strcmp(a, "--paginate") == 0) {
            o->paginate = 1;
        } else if ((r = tool_option(argc, argv, &i, "-X", &v)) != 0 ||
                   (r = tool_option(argc, argv, &i, "--method", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            o->method = v;
        } else if ((r = tool_option(argc, argv, &i, "-f", &v)) != 0 ||
                   (r = tool_option(argc, argv, &i, "--field", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "bbo api: -f wants KEY=VALUE, not \"%s\"\n", v);
                return TOOL_EXIT_USAGE;
            }
            if (o->field_count == 64) {
                fprintf(stderr, "bbo api: at most 64 fields\n");
                return TOOL_EXIT_USAGE;
            }
            o->fields[o->field_count++] = v;
        } else if ((r = tool_option(argc, argv, &i, "--input", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            o->input = v;
        } else if ((r = tool_option(argc, argv, &i, "--profile", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            o->profile = v;
        } else if (a[0] == '-' && a[1] != 0) {
            return tool_unknown_option("api", a);
        } else if (o->path) {
            fprintf(stderr, "bbo api: one PATH only (\"%s\" and \"%s\")\n", o->path, a);
            return TOOL_EXIT_USAGE;
        } else {
            o->path = a;
        }
    }
    if (!o->path) {
        fprintf(stderr, "bbo api: which PATH? e.g. `bbo api /user` (see bbo api --help)\n");
        return TOOL_EXIT_USAGE;
    }
    if (o->input && o->field_count) {
        fprintf(stderr, "bbo api: --input and -f exclude each other\n");
        return TOOL_EXIT_USAGE;
    }
    if (!o->method)
        o->method = o->input || o->field_count ? "POST" : "GET";
    for (i = 0; o->method[i]; i++) {
        if (o->method[i] < 'A' || o->method[i] > 'Z' || i > 10) {
            fprintf(stderr, "bbo api: -X wants a method such as GET or POST, not \"%s\"\n",
                    o->method);
            return TOOL_EXIT_USAGE;
        }
    }
    if (o->paginate && strcmp(o->method, "GET") != 0) {
        fprintf(stderr, "bbo api: --paginate works with GET only\n");
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

static void add_query_escaped(tool_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[3] = { '%', hex[c >> 4], hex[c & 15] };

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            tool_buf_add(b, (const char *)&c, 1);
        else
            tool_buf_add(b, e, 3);
    }
}

/* The request target and body from the options. */
static void api_request(const api_opts *o, tool_buf *target, tool_buf *body)
{
    int i, get = strcmp(o->method, "GET") == 0;

    if (strstr(o->path, "://") == NULL && o->path[0] != '/')
        tool_buf_puts(target, "/");
    tool_buf_puts(target, o->path);
    for (i = 0; i < o->field_count; i++) {
        const char *eq = strchr(o->fields[i], '=');

        if (get) {
            tool_buf_puts(target, i == 0 && !strchr(o->path, '?') ? "?" : "&");
            add_query_escaped(target, o->fields[i], (size_t)(eq - o->fields[i]));
            tool_buf_puts(target, "=");
            add_query_escaped(target, eq + 1, strlen(eq + 1));
        } else {
            char *key = tool_printf("%.*s", (int)(eq - o->fields[i]), o->fields[i]);

            tool_buf_puts(body, i == 0 ? "{" : ",");
            tool_buf_json_string(body, key);
            tool_buf_puts(body, ":");
            tool_buf_json_string(body, eq + 1);
            free(key);
        }
    }
    if (!get && o->field_count)
        tool_buf_puts(body, "}");
}

/* Bitbucket's message from an error body, or NULL. */
static char *error_message(const char *body, size_t len)
{
    const char *err;
    size_t elen;

    if (tool_json_member(body, len, "error", &err, &elen) == 0 && elen && *err == '{') {
        char *m = tool_json_string_member(err, elen, "message");

        if (m)
            return m;
    }
    if (tool_json_member(body, len, "errors", &err, &elen) == 0 && elen && *err == '[') {
        const char *first = err + 1;

        while (first < err + elen && strchr(" \n\t\r", *first))
            first++;
        return tool_json_string_member(first, (size_t)(err + elen - first), "message");
    }
    return tool_json_string_member(body, len, "error_description");
}

typedef struct pages {
    tool_buf out;
    size_t count;
    int bad;
} pages;

static void add_value(const char *elem, size_t len, void *payload)
{
    pages *pg = payload;

    tool_buf_puts(&pg->out, pg->count++ ? ",\n" : "\n");
    tool_buf_add(&pg->out, elem, len);
}

static int on_page(const bbo_response *page, void *payload)
{
    pages *pg = payload;
    size_t len, vlen;
    const char *body = bbo_response_body(page, &len), *values;

    if (tool_json_member(body, len, "values", &values, &vlen) != 0 ||
        tool_json_array_each(values, vlen, add_value, pg) != 0) {
        pg->bad = 1;
        return 1;
    }
    return 0;
}

static int cmd_api(int argc, char **argv)
{
    api_opts o;
    tool_profile p;
    tool_login l;
    bbo_response *resp = NULL;
    tool_buf target = { 0 }, body = { 0 };
    char *input = NULL;
    size_t input_len = 0;
    int rc, r;

    if ((rc = parse_api(argc, argv, &o)) != 0)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if (o.input && (input = tool_read_file(o.input, 64u << 20, &input_len)) == NULL) {
        fprintf(stderr, "bbo api: cannot read --input %s: %s\n", o.input, strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    if ((rc = load_existing(&p, o.profile)) != TOOL_EXIT_OK) {
        free(input);
        return rc;
    }
    memset(&l, 0, sizeof(l));
    if ((rc = tool_login_open(&p, &l)) != TOOL_EXIT_OK)
        goto done;
    tool_buf_add(&target, "", 0);
    api_request(&o, &target, &body);
    if (o.paginate) {
        pages pg;

        memset(&pg, 0, sizeof(pg));
        tool_buf_puts(&pg.out, "[");
        r = bbo_session_foreach_page(l.session, target.ptr, 10000, on_page, &pg);
        if (pg.bad) {
            fprintf(stderr, "bbo api: --paginate: a page has no \"values\" array\n");
            rc = TOOL_EXIT_FAIL;
        } else if (r < 0) {
            rc = tool_fail(p.name, "api", r);
        } else {
            tool_buf_puts(&pg.out, pg.count ? "\n]\n" : "]\n");
            fwrite(pg.out.ptr, 1, pg.out.len, stdout);
        }
        tool_buf_dispose(&pg.out);
        goto done;
    }
    r = bbo_session_request(l.session, o.method, target.ptr, input ? input : body.ptr,
                            input ? input_len : body.len, &resp);
    if (r < 0) {
        rc = tool_fail(p.name, "api", r);
        goto done;
    }
    {
        size_t len;
        const char *text = bbo_response_body(resp, &len);
        int status = bbo_response_status(resp);

        fwrite(text, 1, len, stdout);
        if (len && text[len - 1] != '\n')
            fputc('\n', stdout);
        if (status < 200 || status > 299) {
            char *msg = error_message(text, len);

            fprintf(stderr, "bbo api: HTTP %d%s%s\n", status, msg ? ": " : "",
                    msg ? msg : "");
            free(msg);
            rc = status == 401 ? TOOL_EXIT_LOGIN : status == 403 ? TOOL_EXIT_DENIED
                                                                 : TOOL_EXIT_FAIL;
            tool_hint(rc, p.name);
        }
    }
done:
    bbo_response_free(resp);
    tool_buf_dispose(&target);
    tool_buf_dispose(&body);
    if (input) {
        tool_wipe(input, input_len);
        free(input);
    }
    tool_login_close(&l);
    tool_profile_dispose(&p);
    return rc;
}

/* ---- logout ---- */

/* Clear the token store under its lock, after any refresh in flight in
 * another process (which would otherwise save its new token after us). */
static int forget_tokens(const tool_profile *p)
{
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_session *session = NULL;
    bbo_store *store = NULL;
    int rc;

    if (tool_store_open(p, 0, &store) != 0)
        return TOOL_EXIT_FAIL;
    if ((rc = tool_consumer_new(p, NULL, &consumer)) < 0 ||
        (rc = bbo_client_new(&client, consumer)) < 0 ||
        (rc = bbo_session_new(&session, client, NULL)) < 0) {
        bbo_store_free(store);
        rc = tool_fail(p->name, "logout", rc);
        goto done;
    }
    (void)bbo_session_set_store(session, store); /* an unreadable token is forgotten too */
    rc = bbo_session_logout(session) < 0
             ? tool_fail(p->name, "removing the token", bbo_error_code(bbo_error_last()))
             : TOOL_EXIT_OK;
done:
    bbo_session_free(session);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    return rc;
}

static int cmd_logout(int argc, char **argv)
{
    const char *profile = NULL;
    tool_profile p;
    char *token = NULL, *lock = NULL;
    int forget = 0, rc;

    if ((rc = profile_and_flag(argc, argv, "logout", logout_help, "--forget", &forget,
                               &profile)) != 0)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = load_existing(&p, profile)) != TOOL_EXIT_OK)
        return rc;
    token = tool_token_path(&p);
    if (p.store && strcmp(p.store, "keyring") == 0) {
        if ((rc = forget_tokens(&p)) == TOOL_EXIT_OK && tool_keyring_clear(&p) != 0)
            rc = tool_fail(p.name, "keyring", bbo_error_code(bbo_error_last()));
    } else {
        if (token && access(token, F_OK) == 0 && forget_tokens(&p) != TOOL_EXIT_OK &&
            unlink(token) != 0) {
            fprintf(stderr, "bbo logout: cannot remove %s: %s\n", token, strerror(errno));
            rc = TOOL_EXIT_FAIL;
        }
        if (tool_secret_clear(&p) != 0)
            rc = TOOL_EXIT_FAIL;
    }
    tool_rejected_clear(&p);
    if (token) {
        lock = tool_printf("%s.lock", token);
        unlink(lock);
    }
    if (rc == TOOL_EXIT_OK) {
        if (forget) {
            tool_profile_remove(p.name);
            printf("Logged out: profile %s and its tokens are gone from this machine.\n",
                   p.name);
        } else {
            tool_set(&p.user, NULL);
            tool_set(&p.logged_in, NULL);
            tool_profile_save(&p);
            printf("Logged out: the tokens and the consumer secret of profile %s are gone from "
                   "this machine (its settings stay, for the next `bbo login%s%s`).\n",
                   p.name, strcmp(p.name, "default") ? " --profile " : "",
                   strcmp(p.name, "default") ? p.name : "");
        }
        if (p.kind && strcmp(p.kind, "data-center") == 0)
            printf("The grant stays valid on Bitbucket Data Center until it expires: to revoke "
                   "it now, use your account settings on %s or ask its administrator.\n",
                   p.bitbucket);
        else
            printf("Bitbucket Cloud has no revocation endpoint: the grant stays valid on "
                   "Bitbucket until it expires. To revoke it now: bitbucket.org > Personal "
                   "settings > App authorizations > Revoke (or, as the consumer's owner, "
                   "Workspace settings > OAuth consumers).\n");
    }
    free(token);
    free(lock);
    tool_profile_dispose(&p);
    return rc;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    tool_prog = "bbo";
    tool_env_secret = tool_take_env_secret("BBO_CONSUMER_SECRET");
    rc = run(argc, argv);
    tool_free_secret(tool_env_secret);
    return rc;
}

static int run(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        fputs(main_help, stderr);
        return TOOL_EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("bbo %s (bboauth %s)\n", BBO_TOOLS_VERSION, bbo_version());
        return TOOL_EXIT_OK;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_help, stdout);
        return TOOL_EXIT_OK;
    }
    if (strcmp(cmd, "login") == 0)
        return bbo_cmd_login(argc - 2, argv + 2);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(argc - 2, argv + 2);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 2, argv + 2);
    if (strcmp(cmd, "api") == 0)
        return cmd_api(argc - 2, argv + 2);
    if (strcmp(cmd, "logout") == 0)
        return cmd_logout(argc - 2, argv + 2);
    if (cmd[0] == '-')
        fprintf(stderr, "bbo: unknown option %s (see bbo --help)\n", cmd);
    else
        fprintf(stderr, "bbo: unknown command \"%s\": the commands are login, status, token, "
                        "api, logout (see bbo --help)\n", cmd);
    return TOOL_EXIT_USAGE;
}
