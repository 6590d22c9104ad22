/*
 * bbo-login: log into Bitbucket from the command line with bboauth.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 *
 *   bbo-login [options] login      browser + loopback redirect, code exchange,
 *                                  GET /user, one refresh, token saved
 *
 * Options (secrets may come from the environment instead of the command
 * line, where other users could read them in the process list):
 *   --key KEY            consumer key      (or BBO_CONSUMER_KEY)
 *   --secret SECRET      consumer secret   (or BBO_CONSUMER_SECRET)
 *   --callback URL       loopback callback (default http://127.0.0.1/callback)
 *   --scopes "A B"       scopes to ask for (default: the consumer's own)
 *   --data-center URL    a Bitbucket Data Center server instead of Cloud
 *   --base URL           a Cloud-compatible server (tests, the mock)
 *   --ca FILE            trust this CA bundle
 *   --out FILE           write the token JSON there (mode 0600)
 *   --no-browser         only print the URL
 *   --timeout SECONDS    how long to wait for the redirect (default 300)
 */
#include <bboauth.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct options {
    const char *key, *secret, *callback, *scopes, *data_center, *base, *ca, *out;
    const char *command;
    int no_browser;
    int timeout_s;
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
            "usage: bbo-login [--key KEY] [--secret SECRET] [--callback URL] [--scopes LIST]\n"
            "                 [--data-center URL | --base URL] [--ca FILE] [--out FILE]\n"
            "                 [--no-browser] [--timeout SECONDS] login\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->key = getenv("BBO_CONSUMER_KEY");
    o->secret = getenv("BBO_CONSUMER_SECRET");
    o->callback = "http://127.0.0.1/callback";
    o->timeout_s = 300;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = 1;
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
        else if (strcmp(a, "--secret") == 0) o->secret = v;
        else if (strcmp(a, "--callback") == 0) o->callback = v;
        else if (strcmp(a, "--scopes") == 0) o->scopes = v;
        else if (strcmp(a, "--data-center") == 0) o->data_center = v;
        else if (strcmp(a, "--base") == 0) o->base = v;
        else if (strcmp(a, "--ca") == 0) o->ca = v;
        else if (strcmp(a, "--out") == 0) o->out = v;
        else if (strcmp(a, "--timeout") == 0) o->timeout_s = atoi(v);
        else {
            usage();
            return -1;
        }
    }
    if (!o->command || !o->key || o->timeout_s <= 0) {
        usage();
        if (!o->key)
            fprintf(stderr, "bbo-login: no consumer key (--key or BBO_CONSUMER_KEY)\n");
        return -1;
    }
    return 0;
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

/* GET the user check endpoint with the access token; print who we are. */
static int whoami(bbo_client *client, const bbo_token *token)
{
    const bbo_consumer *c = bbo_client_consumer(client);
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    char url[1024], auth[8192];
    const char *body;
    int rc;

    snprintf(url, sizeof(url), "%s%s", bbo_consumer_api_base_url(c),
             bbo_consumer_is_data_center(c) ? "/application-properties" : "/user");
    if ((size_t)snprintf(auth, sizeof(auth), "Bearer %s", bbo_token_access(token)) >=
        sizeof(auth)) {
        fprintf(stderr, "bbo-login: access token too long for this example\n");
        return 1;
    }
    if ((rc = bbo_http_request_new(&req, "GET", url)) < 0 ||
        (rc = bbo_http_request_add_header(req, "Authorization", auth)) < 0 ||
        (rc = bbo_http_request_add_header(req, "Accept", "application/json")) < 0 ||
        (rc = bbo_client_send(client, req, &resp)) < 0) {
        bbo_http_request_free(req);
        return fail("user check");
    }
    body = bbo_http_response_body(resp, NULL);
    if (bbo_http_response_status(resp) != 200) {
        fprintf(stderr, "bbo-login: user check answered HTTP %d\n",
                bbo_http_response_status(resp));
        rc = 1;
    } else if (bbo_consumer_is_data_center(c)) {
        const char *user = bbo_http_response_header(resp, "X-AUSERNAME");
        printf("      user: %s\n", user ? user : "(anonymous)");
    } else {
        /* a real program would parse the JSON; the example keeps to bboauth */
        const char *name = strstr(body, "\"username\"");

        if (name && (name = strchr(name + 10, '"')) != NULL)
            printf("      user: %.*s\n", (int)strcspn(name + 1, "\""), name + 1);
        else
            printf("      user: (unknown)\n");
    }
    memset(auth, 0, sizeof(auth));
    bbo_http_request_free(req);
    bbo_http_response_free(resp);
    return rc ? 1 : 0;
}

static int write_token(const char *path, const bbo_token *token)
{
    char *json = NULL;
    int fd, rc = 0;
    size_t len;

    if (bbo_token_to_json(token, &json) < 0)
        return fail("serialize token");
    len = strlen(json);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, json, len) != (ssize_t)len) {
        fprintf(stderr, "bbo-login: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    if (fd >= 0)
        close(fd);
    bbo_free(json);
    return rc;
}

static void show_token(const char *label, const bbo_token *token)
{
    char *scopes = NULL;

    bbo_scopes_to_string(bbo_token_scopes(token), &scopes);
    printf("%s scopes \"%s\", expires in %" PRId64 " s, refresh token %s\n", label,
           scopes ? scopes : "", bbo_token_expires_at(token) - (int64_t)time(NULL),
           bbo_token_refresh(token) ? "present" : "absent");
    bbo_free(scopes);
}

static int login(const options *o, bbo_client *client)
{
    bbo_loopback *lb = NULL;
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL, *fresh = NULL;
    char *code = NULL;
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
    printf("[1/5] open this URL to log in:\n      %s\n", bbo_authorization_url(auth));
    if (!o->no_browser && bbo_browser_open(bbo_authorization_url(auth)) < 0)
        printf("      (no browser could be started: open it by hand)\n");
    printf("[2/5] waiting for the redirect on %s\n", bbo_loopback_redirect_uri(lb));
    fflush(stdout);
    if (bbo_loopback_wait(lb, auth, o->timeout_s * 1000, &code) < 0) {
        fail("redirect");
        goto done;
    }
    printf("[3/5] got the authorization code; exchanging it\n");
    if (bbo_client_exchange_code(client, auth, code, &token) < 0) {
        fail("code exchange");
        goto done;
    }
    show_token("      token:", token);
    printf("[4/5] checking the token\n");
    if (whoami(client, token) != 0)
        goto done;
    printf("[5/5] refreshing once\n");
    if (bbo_client_refresh(client, token, &fresh) < 0) {
        fail("refresh");
        goto done;
    }
    show_token("      new token:", fresh);
    printf("      refresh token rotated: %s\n",
           bbo_token_refresh(fresh) && strcmp(bbo_token_refresh(fresh), bbo_token_refresh(token))
               ? "yes" : "no");
    if (o->out && write_token(o->out, fresh) != 0)
        goto done;
    if (o->out)
        printf("      token saved to %s\n", o->out);
    rc = 0;
done:
    bbo_free(code);
    bbo_token_free(token);
    bbo_token_free(fresh);
    bbo_authorization_free(auth);
    bbo_loopback_free(lb);
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
    if (strcmp(o.command, "login") == 0) {
        rc = login(&o, client);
    } else {
        usage();
        rc = 2;
    }
done:
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    return rc;
}
