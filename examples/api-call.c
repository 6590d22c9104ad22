/*
 * api-call: call the Bitbucket REST API with a login kept in a token file.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 *
 *   bbo-login --store FILE login                     once: the browser login
 *   api-call [--base URL] [--ca FILE] [--workspace NAME] FILE
 *
 * The consumer key and secret come from BBO_CONSUMER_KEY and
 * BBO_CONSUMER_SECRET (a refresh needs them); --base and --ca point at a
 * Cloud-compatible server such as the mock of tests/mock (as for
 * bbo-login); the workspace defaults to "bbo-tester", the mock's user.
 *
 * It shows a session over the file store (tokens refreshed when due,
 * rotated refresh tokens saved before use), bbo_session_user,
 * bbo_session_request, bbo_session_foreach_page, and what a program does
 * with each error: every failure is read from bbo_error_last() right after
 * the call that failed.
 */
#include <bboauth.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *key, *secret, *base, *ca, *workspace, *store;
} options;

/* ---- error handling ------------------------------------------------------ */

/* What a program can do about each code. */
static const char *advice(int code)
{
    switch (code) {
    case BBO_EEXPIRED:
        return "the login is over (never made, expired without a refresh token, or "
               "revoked): run `bbo-login login` again";
    case BBO_ESCOPE:
        return "the token lacks a scope this call needs: add it to the consumer's "
               "permissions (or to --scopes) and log in again";
    case BBO_ERATELIMIT:
        return "rate limited: wait (Retry-After, when the server sent one) and try again";
    case BBO_ETRANSPORT:
    case BBO_ETIMEOUT:
        return "network trouble: try again later; the stored token is unchanged";
    case BBO_ETLS:
        return "TLS failure: check the system clock and the trusted CA (--ca)";
    case BBO_EOAUTH:
        return "the server refused the request: see the OAuth code and description";
    case BBO_EHTTP:
    case BBO_EPROTOCOL:
        return "the server answered something unexpected: try again later, or report it";
    case BBO_EIO:
    case BBO_ECRYPTO:
        return "the token file cannot be used: check its path and permissions (0600)";
    case BBO_EINVAL:
        return "a bug in the calling program (argument, URL or path)";
    case BBO_ENOMEM:
        return "out of memory";
    default:
        return "see the message";
    }
}

/* Everything the per-thread error tells; call it right after the failure. */
static int report(FILE *out, const char *what)
{
    const bbo_error *e = bbo_error_last();
    int code = bbo_error_code(e);

    fprintf(out, "      %s failed: %s\n", what, bbo_error_message(e));
    fprintf(out, "        code %d (%s)", code, bbo_strerror(code));
    if (bbo_error_http_status(e))
        fprintf(out, ", HTTP %d", bbo_error_http_status(e));
    if (bbo_error_oauth_code(e))
        fprintf(out, ", OAuth error \"%s\"", bbo_error_oauth_code(e));
    if (bbo_error_retry_after(e) >= 0)
        fprintf(out, ", retry after %" PRId64 " s", bbo_error_retry_after(e));
    fprintf(out, "\n");
    if (bbo_error_description(e))
        fprintf(out, "        server says: %s\n", bbo_error_description(e));
    fprintf(out, "        what to do: %s\n", advice(code));
    return code;
}

/* ---- answers --------------------------------------------------------------- */

/*
 * Print the string value of every "name": "value" pair in a JSON text. A real
 * program uses a JSON parser (yajl, json-c, cJSON, ...); this scan is enough
 * for the repository names of a demo. Control characters are not printed:
 * the text comes from a server.
 */
static int print_strings(const char *json, const char *name, const char *indent)
{
    char key[64];
    const char *p = json, *end;
    int count = 0;

    snprintf(key, sizeof(key), "\"%s\"", name);
    while ((p = strstr(p, key)) != NULL) {
        p += strlen(key);
        while (*p == ' ')
            p++;
        if (*p++ != ':')
            continue;
        while (*p == ' ')
            p++;
        if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
            continue;
        if (indent) {
            fputs(indent, stdout);
            for (p++; p < end; p++)
                putchar((unsigned char)*p < 0x20 ? '?' : *p);
            putchar('\n');
        }
        p = end + 1;
        count++;
    }
    return count;
}

typedef struct listing {
    int pages, repositories;
} listing;

/* bbo_page_cb: one page of a paginated listing (any 200 answer). */
static int on_page(const bbo_response *page, void *payload)
{
    listing *l = payload;
    int n = print_strings(bbo_response_body(page, NULL), "full_name", NULL);

    l->pages++;
    l->repositories += n;
    printf("      page %d: %d repositories\n", l->pages, n);
    return 0; /* non-zero would stop the listing (BBO_EUSER) */
}

/* bbo_token_cb: after each refresh (or a token another process refreshed). */
static void on_token(const bbo_token *token, int save_error, void *payload)
{
    (void)payload;
    if (save_error)
        printf("      (token refreshed; saving it failed: %s; it is kept in memory and the "
               "save is retried on the next call)\n", bbo_strerror(save_error));
    else
        printf("      (token refreshed and saved; it expires at %" PRId64 ")\n",
               bbo_token_expires_at(token));
}

/* ---- setup --------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: api-call [--base URL] [--ca FILE] [--workspace NAME] TOKEN_FILE\n"
                    "       (BBO_CONSUMER_KEY and BBO_CONSUMER_SECRET in the environment;\n"
                    "        make TOKEN_FILE with: bbo-login --store TOKEN_FILE login)\n");
    return -1;
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->key = getenv("BBO_CONSUMER_KEY");
    o->secret = getenv("BBO_CONSUMER_SECRET");
    o->workspace = "bbo-tester";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (a[0] != '-') {
            if (o->store)
                return usage();
            o->store = a;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--base") == 0)
            o->base = v;
        else if (strcmp(a, "--ca") == 0)
            o->ca = v;
        else if (strcmp(a, "--workspace") == 0)
            o->workspace = v;
        else
            return usage();
    }
    if (!o->key)
        fprintf(stderr, "api-call: no consumer key in BBO_CONSUMER_KEY\n");
    return o->store && o->key ? 0 : usage();
}

/* Consumer and client: Bitbucket Cloud, or the server at --base. */
static int make_client(const options *o, bbo_consumer **consumer, bbo_client **client)
{
    char authorize[1024], token[1024], api[1024];

    if (bbo_consumer_new(consumer, o->key, o->secret) < 0)
        return -1;
    if (o->base) {
        snprintf(authorize, sizeof(authorize), "%s/site/oauth2/authorize", o->base);
        snprintf(token, sizeof(token), "%s/site/oauth2/access_token", o->base);
        snprintf(api, sizeof(api), "%s/2.0", o->base);
        if (bbo_consumer_set_endpoints(*consumer, authorize, token, api) < 0)
            return -1;
    }
    if (bbo_client_new(client, *consumer) < 0)
        return -1;
    if (o->ca && bbo_client_set_ca(*client, o->ca, NULL) < 0)
        return -1;
    return 0;
}

/* A session whose token lives in the file (refreshed tokens are saved there
 * before they are used: Bitbucket rotates refresh tokens). */
static int open_session(const options *o, bbo_client *client, bbo_session **out)
{
    bbo_store *store = NULL;
    bbo_session *session = NULL;

    if (bbo_file_store_new(&store, o->store, NULL) < 0) /* NULL: not encrypted */
        return report(stderr, "token file");
    if (bbo_session_new(&session, client, NULL) < 0 ||
        bbo_session_on_token(session, on_token, NULL) < 0) {
        report(stderr, "session");
        bbo_store_free(store);
        bbo_session_free(session);
        return -1;
    }
    /* taken, even on error; loads the stored token at once */
    if (bbo_session_set_store(session, store) < 0) {
        report(stderr, "loading the token file");
        bbo_session_free(session);
        return -1;
    }
    *out = session;
    return 0;
}

/* ---- the calls ----------------------------------------------------------- */

int main(int argc, char **argv)
{
    options o;
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_session *session = NULL;
    bbo_response *resp = NULL;
    listing all = { 0, 0 };
    char *user = NULL, path[512];
    int rc = 1;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (make_client(&o, &consumer, &client) < 0) {
        report(stderr, "setup");
        goto done;
    }
    printf("[1/4] session over the token file %s\n", o.store);
    if (open_session(&o, client, &session) != 0)
        goto done;

    printf("[2/4] who is logged in (bbo_session_user)\n");
    if (bbo_session_user(session, &user) < 0) {
        report(stderr, "user check");
        goto done;
    }
    printf("      %s\n", user);

    printf("[3/4] GET /repositories/%s?pagelen=5 (bbo_session_request)\n", o.workspace);
    snprintf(path, sizeof(path), "/repositories/%s?pagelen=5", o.workspace);
    if (bbo_session_request(session, "GET", path, NULL, 0, &resp) < 0) {
        report(stderr, "GET repositories");
        goto done;
    }
    /* 404, 500...: answers, not errors; only 401 (after a refresh and a
     * retry), 403 for a missing scope and 429 come back as errors */
    printf("      HTTP %d\n", bbo_response_status(resp));
    if (bbo_response_status(resp) != 200)
        goto done;
    print_strings(bbo_response_body(resp, NULL), "full_name", "      - ");
    bbo_response_free(resp);
    resp = NULL;

    printf("[4/4] every repository, following \"next\" (bbo_session_foreach_page)\n");
    snprintf(path, sizeof(path), "/repositories/%s?pagelen=10", o.workspace);
    if (bbo_session_foreach_page(session, path, 20, on_page, &all) < 0) {
        report(stderr, "listing");
        goto done;
    }
    printf("      %d repositories on %d pages\n", all.repositories, all.pages);

    printf("and what failures look like:\n");
    snprintf(path, sizeof(path), "/repositories/%s/no-such-repository", o.workspace);
    if (bbo_session_request(session, "GET", path, NULL, 0, &resp) < 0) {
        report(stderr, "GET a missing repository");
        goto done;
    }
    printf("      a missing repository: HTTP %d, an answer (rc 0), not an error\n",
           bbo_response_status(resp));
    bbo_response_free(resp);
    resp = NULL;
    /* the token only ever goes to the API's own scheme, host and port */
    if (bbo_session_request(session, "GET", "https://elsewhere.example/2.0/user", NULL, 0,
                            &resp) != BBO_EINVAL) {
        fprintf(stderr, "api-call: a foreign URL was not refused\n");
        goto done;
    }
    report(stdout, "a URL on another host");
    rc = 0;
done:
    bbo_response_free(resp);
    bbo_free(user);
    bbo_session_free(session); /* before the client it borrows */
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    return rc;
}
