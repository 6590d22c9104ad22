/*
 * bbo-login: log into Bitbucket from the command line with bboauth.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 *
 * The whole flow in one file, to read. The installed programs are `bbo`
 * and `git-credential-bboauth` (src/tools, bbo(1)): profiles, an
 * encrypted store with its own key, the desktop keyring, paste-back login
 * over SSH, `bbo api`, and git.
 *
 *   bbo-login [options] login    browser (or printed URL) + loopback redirect,
 *                                code exchange, user check, one refresh;
 *                                the token goes to --store
 *   bbo-login [options] token    print a fresh access token for scripts,
 *                                refreshing through the store when due
 *   bbo-login [options] whoami   the logged-in user and the granted scopes
 *   bbo-login [options] logout   forget the stored token
 *
 * Options (secrets may come from the environment instead of the command
 * line, where other users could read them in the process list):
 *   --key KEY            consumer key      (or BBO_CONSUMER_KEY)
 *   (the consumer secret only from BBO_CONSUMER_SECRET: never on argv)
 *   --callback URL       loopback callback (default http://127.0.0.1/callback)
 *   --scopes "A B"       scopes to ask for (default: the consumer's own)
 *   --data-center URL    a Bitbucket Data Center server instead of Cloud
 *   --base URL           a Cloud-compatible server (tests, the mock)
 *   --ca FILE            trust this CA bundle
 *   --store FILE         the token file (default ~/.config/bbo-login/token)
 *   --key-file FILE      encrypt the token file: 32 raw bytes or 64 hex digits
 *   --margin SECONDS     refresh when the token expires within this (default 60)
 *   --force-refresh      token: refresh even if not due
 *   --no-browser         login: only print the URL
 *   --timeout SECONDS    login: how long to wait for the redirect (default 300)
 */
#include <bboauth.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct options {
    const char *key, *secret, *callback, *scopes, *data_center, *base, *ca;
    const char *store, *key_file, *command;
    char default_store[4096];
    int no_browser, force_refresh, timeout_s;
    int64_t margin_s;
} options;

static int fail(const char *what)
{
    const bbo_error *e = bbo_error_last();

    fprintf(stderr, "bbo-login: %s: %s (%s)\n", what, bbo_error_message(e),
            bbo_strerror(bbo_error_code(e)));
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bbo-login [--key KEY] [--callback URL] [--scopes LIST]\n"
            "                 [--data-center URL | --base URL] [--ca FILE] [--store FILE]\n"
            "                 [--key-file FILE] [--margin SECONDS] [--force-refresh]\n"
            "                 [--no-browser] [--timeout SECONDS] login|token|whoami|logout\n");
}

/* ~/.config/bbo-login/token, creating the directory (0700) if needed. */
static const char *default_store_path(options *o)
{
    const char *home = getenv("HOME");

    if (!home || !*home)
        return NULL;
    snprintf(o->default_store, sizeof(o->default_store), "%s/.config", home);
    mkdir(o->default_store, 0700);
    snprintf(o->default_store, sizeof(o->default_store), "%s/.config/bbo-login", home);
    if (mkdir(o->default_store, 0700) != 0 && errno != EEXIST)
        return NULL;
    snprintf(o->default_store, sizeof(o->default_store), "%s/.config/bbo-login/token", home);
    return o->default_store;
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->key = getenv("BBO_CONSUMER_KEY");
    o->secret = getenv("BBO_CONSUMER_SECRET");
    o->callback = "http://127.0.0.1/callback";
    o->timeout_s = 300;
    o->margin_s = 60;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = 1;
            continue;
        }
        if (strcmp(a, "--force-refresh") == 0) {
            o->force_refresh = 1;
            continue;
        }
        if (a[0] != '-') {
            o->command = a;
            continue;
        }
        if (!v) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--key") == 0) o->key = v;
        else if (strcmp(a, "--secret") == 0) {
            fprintf(stderr, "bbo-login: --secret is refused (the process list shows it to "
                            "everyone): set BBO_CONSUMER_SECRET\n");
            return -1;
        }
        else if (strcmp(a, "--callback") == 0) o->callback = v;
        else if (strcmp(a, "--scopes") == 0) o->scopes = v;
        else if (strcmp(a, "--data-center") == 0) o->data_center = v;
        else if (strcmp(a, "--base") == 0) o->base = v;
        else if (strcmp(a, "--ca") == 0) o->ca = v;
        else if (strcmp(a, "--store") == 0) o->store = v;
        else if (strcmp(a, "--key-file") == 0) o->key_file = v;
        else if (strcmp(a, "--margin") == 0) o->margin_s = strtoll(v, NULL, 10);
        else if (strcmp(a, "--timeout") == 0) o->timeout_s = atoi(v);
        else {
            usage();
            return -1;
        }
    }
    if (!o->store)
        o->store = default_store_path(o);
    if (!o->command || !o->key || !o->store || o->timeout_s <= 0) {
        usage();
        if (!o->key)
            fprintf(stderr, "bbo-login: no consumer key (--key or BBO_CONSUMER_KEY)\n");
        if (!o->store)
            fprintf(stderr, "bbo-login: no token file (--store, or a HOME)\n");
        return -1;
    }
    return 0;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 32 raw bytes, or 64 hex digits (and an optional newline). */
static int read_key_file(const char *path, unsigned char key[32])
{
    unsigned char raw[66];
    size_t n, i;
    FILE *f = fopen(path, "rb");
    int ok = 0;

    if (!f) {
        fprintf(stderr, "bbo-login: cannot open key file %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(raw, 1, sizeof(raw), f);
    fclose(f);
    if (n == 32) {
        memcpy(key, raw, 32);
        ok = 1;
    } else if (n == 64 || (n == 65 && raw[64] == '\n')) {
        ok = 1;
        for (i = 0; i < 32 && ok; i++) {
            int hi = hex_value(raw[2 * i]), lo = hex_value(raw[2 * i + 1]);

            ok = hi >= 0 && lo >= 0;
            key[i] = (unsigned char)(hi * 16 + lo);
        }
    }
    memset(raw, 0, sizeof(raw));
    if (!ok)
        fprintf(stderr, "bbo-login: %s must hold 32 bytes or 64 hex digits\n", path);
    return ok ? 0 : -1;
}

static int make_consumer(const options *o, bbo_consumer **out)
{
    bbo_consumer *c = NULL;
    bbo_scopes *scopes = NULL;
    char authorize[1024], token[1024], api[1024];
    int rc;

    if ((rc = bbo_consumer_new(&c, o->key, o->secret)) < 0 ||
        (rc = bbo_consumer_set_callback_url(c, o->callback)) < 0)
        goto done;
    if (o->data_center && (rc = bbo_consumer_use_data_center(c, o->data_center)) < 0)
        goto done;
    if (o->base) {
        snprintf(authorize, sizeof(authorize), "%s/site/oauth2/authorize", o->base);
        snprintf(token, sizeof(token), "%s/site/oauth2/access_token", o->base);
        snprintf(api, sizeof(api), "%s/2.0", o->base);
        if ((rc = bbo_consumer_set_endpoints(c, authorize, token, api)) < 0)
            goto done;
    }
    if (o->scopes && ((rc = bbo_scopes_parse(&scopes, o->scopes)) < 0 ||
                      (rc = bbo_consumer_set_scopes(c, scopes)) < 0))
        goto done;
    *out = c;
    c = NULL;
done:
    bbo_scopes_free(scopes);
    bbo_consumer_free(c);
    return rc;
}

static void show_token(FILE *out, const char *label, const bbo_token *token)
{
    char *scopes = NULL;

    bbo_scopes_to_string(bbo_token_scopes(token), &scopes);
    fprintf(out, "%s scopes \"%s\", expires in %" PRId64 " s, refresh token %s\n", label,
           scopes ? scopes : "", bbo_token_expires_at(token) - (int64_t)time(NULL),
           bbo_token_refresh(token) ? "present" : "absent");
    bbo_free(scopes);
}

static void on_token(const bbo_token *token, int save_error, void *payload)
{
    (void)payload;
    if (save_error)
        fprintf(stderr, "bbo-login: the new token could not be saved (%s); it is kept in "
                        "memory and the save will be retried\n", bbo_strerror(save_error));
    /* stderr: `token` prints only the token on stdout, for scripts */
    show_token(stderr, "      refreshed:", token);
}

/* A session over the token file (encrypted when a key file is given). */
static int open_session(const options *o, bbo_client *client, bbo_session **out)
{
    unsigned char key[32];
    bbo_store *store = NULL;
    bbo_session *session = NULL;
    int have_key = 0;

    if (o->key_file) {
        if (read_key_file(o->key_file, key) != 0)
            return -1;
        have_key = 1;
    }
    if (bbo_file_store_new(&store, o->store, have_key ? key : NULL) < 0) {
        memset(key, 0, sizeof(key));
        return fail("token store");
    }
    memset(key, 0, sizeof(key));
    if (bbo_session_new(&session, client, NULL) < 0 ||
        bbo_session_set_refresh_margin(session, o->margin_s) < 0 ||
        bbo_session_on_token(session, on_token, NULL) < 0) {
        bbo_store_free(store);
        bbo_session_free(session);
        return fail("session");
    }
    if (bbo_session_set_store(session, store) < 0) { /* taken, even on error */
        bbo_session_free(session);
        return fail("token store");
    }
    *out = session;
    return 0;
}

static int show_user(bbo_session *session)
{
    char *user = NULL;
    bbo_token *token = NULL;

    if (bbo_session_user(session, &user) < 0)
        return fail("user check");
    printf("      user: %s\n", user);
    bbo_free(user);
    if (bbo_session_token(session, &token) == 0)
        show_token(stdout, "      token:", token);
    bbo_token_free(token);
    return 0;
}

static int login(const options *o, bbo_client *client)
{
    bbo_loopback *lb = NULL;
    bbo_authorization *auth = NULL;
    bbo_session *session = NULL;
    bbo_token *token = NULL, *before = NULL, *after = NULL;
    char *code = NULL, *launch = NULL;
    int rc = 1;

    if (bbo_loopback_new(&lb, o->callback) < 0) {
        fail("loopback receiver");
        goto done;
    }
    if (bbo_authorization_begin_ex(&auth, bbo_client_consumer(client),
                                   bbo_loopback_redirect_uri(lb), 0) < 0) {
        fail("authorization");
        goto done;
    }
    /* the browser's command line is readable by every local user: it gets
     * a one-time local URL that redirects to the authorization URL */
    if (bbo_loopback_launch_url(lb, auth, &launch) < 0) {
        fail("launch URL");
        goto done;
    }
    printf("[1/5] open this URL to log in:\n      %s\n", launch);
    if (!o->no_browser && bbo_browser_open(launch) < 0)
        printf("      (no browser could be started: open it by hand)\n");
    printf("[2/5] waiting for the redirect on %s\n", bbo_loopback_redirect_uri(lb));
    if (bbo_loopback_wait(lb, auth, o->timeout_s * 1000, &code) < 0) {
        fail("redirect");
        goto done;
    }
    printf("[3/5] got the authorization code; exchanging it\n");
    if (bbo_client_exchange_code(client, auth, code, &token) < 0) {
        fail("code exchange");
        goto done;
    }
    if (open_session(o, client, &session) != 0)
        goto done;
    bbo_session_set_token(session, token); /* taken; saved to the store */
    token = NULL;
    if (bbo_session_save_error(session) < 0)
        fprintf(stderr, "warning: the token could not be saved (%s); it is kept in memory "
                        "and the save will be retried\n",
                bbo_strerror(bbo_session_save_error(session)));
    printf("[4/5] checking the token\n");
    if (show_user(session) != 0)
        goto done;
    printf("[5/5] refreshing once (Bitbucket rotates the refresh token)\n");
    if (bbo_session_token(session, &before) < 0 || bbo_session_refresh(session) < 0 ||
        bbo_session_token(session, &after) < 0) {
        fail("refresh");
        goto done;
    }
    printf("      refresh token rotated: %s\n",
           bbo_token_refresh(after) && bbo_token_refresh(before) &&
                   strcmp(bbo_token_refresh(after), bbo_token_refresh(before)) != 0
               ? "yes" : "no");
    printf("      token saved to %s\n", o->store);
    rc = 0;
done:
    bbo_free(code);
    bbo_free(launch);
    bbo_token_free(token);
    bbo_token_free(before);
    bbo_token_free(after);
    bbo_session_free(session);
    bbo_authorization_free(auth);
    bbo_loopback_free(lb);
    return rc;
}

static int with_session(const options *o, bbo_client *client)
{
    bbo_session *session = NULL;
    char *access = NULL;
    int rc = 1;

    if (open_session(o, client, &session) != 0)
        return 1;
    if (strcmp(o->command, "whoami") == 0) {
        rc = show_user(session);
    } else if (strcmp(o->command, "logout") == 0) {
        rc = bbo_session_logout(session) < 0 ? fail("logout") : 0;
        if (rc == 0)
            printf("logged out; %s removed\n", o->store);
    } else if (strcmp(o->command, "token") == 0) {
        if (o->force_refresh && bbo_session_refresh(session) < 0)
            rc = fail("refresh");
        else if (bbo_session_access_token(session, &access) < 0)
            rc = fail("token");
        else {
            printf("%s\n", access); /* for scripts: $(bbo-login token) */
            rc = 0;
        }
        if (access)
            memset(access, 0, strlen(access));
        bbo_free(access);
    } else {
        usage();
        rc = 2;
    }
    bbo_session_free(session);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    int rc = 1;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (make_consumer(&o, &consumer) < 0 || bbo_client_new(&client, consumer) < 0 ||
        (o.ca && bbo_client_set_ca(client, o.ca, NULL) < 0)) {
        rc = fail("setup");
        goto done;
    }
    rc = strcmp(o.command, "login") == 0 ? login(&o, client) : with_session(&o, client);
done:
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    return rc;
}
