/*
 * bbo-webapp: an example web application that connects its users'
 * Bitbucket accounts with bboauth, lists pull requests and comments on
 * them. HTTP is GNU libmicrohttpd's; see docs/webapp.md.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 *
 *   BBO_CONSUMER_KEY=... BBO_CONSUMER_SECRET=... bbo-webapp [options]
 *
 *   --listen HOST:PORT        where to listen (default 127.0.0.1:3001)
 *   --public-url URL          how browsers reach this app (default
 *                             http://127.0.0.1:PORT); the callback is URL/callback
 *   --bitbucket URL           a Cloud-shaped server: URL/site/oauth2/..., API at
 *                             URL/2.0 (default https://bitbucket.org)
 *   --store DIR|postgresql://...  where grants live, shared by all workers (default
 *                             $XDG_STATE_HOME/bbo-webapp; libpq's "host=... dbname=..."
 *                             works too)
 *   --require-scopes "A B"    scopes every grant must carry (default "account")
 *   --seal-key-file FILE      the 32-byte key shared by every worker (raw bytes or
 *                             64 hex digits); without it, a random key per process
 *   --tenant NAME:KEY:SECRET_FILE  a customer's own consumer, under /t/NAME/
 *   --ca-file FILE            trust this CA bundle (or BBO_CA_FILE, CURL_CA_BUNDLE,
 *                             SSL_CERT_FILE)
 *
 * Secrets never come from the command line: the platform's consumer secret is
 * read from BBO_CONSUMER_SECRET (and removed from the environment), tenants'
 * from files. BBO_WEBAPP_CLOCK_OFFSET (seconds) shifts the clock used for
 * sealed logins: a test hook to make a login expire without waiting.
 */
#include "webapp.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#define MAX_FORM 65536   /* bytes of a POST body */
#define MAX_TENANTS 64

/* ---- per-request state kept by libmicrohttpd ---- */

enum { F_CSRF, F_REPO, F_ID, F_TEXT, F_COUNT };
static const char *const form_names[F_COUNT] = {"csrf", "repo", "id", "text"};

typedef struct conn {
    char *uri; /* raw, with the query */
    struct MHD_Connection *connection;
    struct MHD_PostProcessor *post;
    wbuf form[F_COUNT];
    size_t form_bytes;
    int started, bad_form;
} conn;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    conn *c = calloc(1, sizeof(*c));

    (void)cls;
    if (c) {
        c->uri = strdup(uri);
        c->connection = connection;
    }
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn *c = *req_cls;
    size_t i;

    (void)cls;
    (void)connection;
    (void)toe;
    if (!c)
        return;
    if (c->post)
        MHD_destroy_post_processor(c->post);
    for (i = 0; i < F_COUNT; i++)
        wbuf_free(&c->form[i]);
    wipe_free(c->uri); /* the callback's query holds a code */
    free(c);
    *req_cls = NULL;
}

static enum MHD_Result on_form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size)
{
    conn *c = cls;
    size_t i;

    (void)kind;
    (void)filename;
    (void)content_type;
    (void)transfer_encoding;
    (void)off;
    c->form_bytes += size;
    if (c->form_bytes > MAX_FORM) {
        c->bad_form = 1;
        return MHD_NO;
    }
    for (i = 0; i < F_COUNT; i++)
        if (strcmp(key, form_names[i]) == 0)
            wbuf_addn(&c->form[i], data, size);
    return MHD_YES;
}

static const char *lookup_field(void *payload, const char *name)
{
    conn *c = payload;
    size_t i;

    for (i = 0; i < F_COUNT; i++)
        if (strcmp(name, form_names[i]) == 0 && c->form[i].data)
            return c->form[i].data;
    return MHD_lookup_connection_value(c->connection, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- answering ---- */

static webapp app;

static enum MHD_Result send_reply(struct MHD_Connection *connection, reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len, i;
    char *body;

    if (r->location && !r->body.len) {
        wbuf_add(&r->body, "<!DOCTYPE html><title>Redirect</title><a href=\"");
        wbuf_html(&r->body, r->location);
        wbuf_add(&r->body, "\">Continue</a>\n");
    }
    len = r->body.len;
    if ((body = wbuf_take(&r->body)) == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    /* the callback's address carries a code: never let it leak in a Referer */
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; "
                            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (r->location)
        MHD_add_response_header(resp, "Location", r->location);
    for (i = 0; i < REPLY_MAX_COOKIES; i++)
        if (r->cookies[i])
            MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
    ret = MHD_queue_response(connection, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void reply_free(reply *r)
{
    size_t i;

    wbuf_free(&r->body);
    free(r->location);
    for (i = 0; i < REPLY_MAX_COOKIES; i++)
        free(r->cookies[i]);
}

/* "/t/NAME/rest" -> the tenant and "/rest"; anything else -> the platform's */
static const tenant *route_tenant(const char *url, const char **rest)
{
    size_t i, n;

    *rest = url;
    if (strncmp(url, "/t/", 3) != 0)
        return &app.tenants[0];
    n = strcspn(url + 3, "/");
    for (i = 1; i < app.tenant_count; i++) {
        if (strlen(app.tenants[i].name) == n && strncmp(url + 3, app.tenants[i].name, n) == 0) {
            *rest = url[3 + n] ? url + 3 + n : "";
            return &app.tenants[i];
        }
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    conn *c = *req_cls;
    reply r = {0};
    request req;
    const tenant *t;
    const char *query;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (!c || !c->uri)
        return MHD_NO;
    if (!c->started) {
        c->started = 1;
        if (strcmp(method, "POST") == 0 &&
            (c->post = MHD_create_post_processor(connection, 8192, on_form_field, c)) == NULL)
            c->bad_form = 1; /* not a form: answered once the body is read */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (c->post && !c->bad_form &&
            MHD_post_process(c->post, upload_data, *upload_data_size) != MHD_YES)
            c->bad_form = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }

    query = strchr(c->uri, '?');
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.query = query ? query + 1 : "";
    req.sid = MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, "bbo_sid");
    req.field = lookup_field;
    req.payload = c;
    t = route_tenant(url, &req.path);
    if (!t) {
        page_error(&r, &app.tenants[0], 404, "not_found", "No such customer",
                   "There is no tenant by that name on this server.",
                   "Check the address you were given.", NULL);
    } else if (!*req.path) {
        wbuf to = {0};

        wbuf_add(&to, t->prefix);
        wbuf_add(&to, "/");
        reply_redirect(&r, 301, to.data ? to.data : "/");
        wbuf_free(&to);
    } else if (c->bad_form) {
        page_error(&r, t, 400, "bad_request", "This form could not be read",
                   "The form sent was not an ordinary web form or was larger than 64 KiB.",
                   "Go back and try again.", NULL);
    } else {
        req.login = MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, t->login_cookie);
        webapp_handle(&app, t, &req, &r);
    }
    /* method and path only: the query can hold a code or a state */
    fprintf(stderr, "bbo-webapp: %s %s %d\n", method, url, r.status);
    ret = send_reply(connection, &r);
    reply_free(&r);
    return ret;
}

/* ---- configuration ---- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: BBO_CONSUMER_KEY=KEY BBO_CONSUMER_SECRET=SECRET bbo-webapp\n"
            "         [--listen HOST:PORT] [--public-url URL] [--bitbucket URL]\n"
            "         [--store DIR|postgresql://...] [--require-scopes \"account ...\"]\n"
            "         [--seal-key-file FILE] [--tenant NAME:KEY:SECRET_FILE]... [--ca-file FILE]\n"
            "See docs/webapp.md.\n");
}

static int die(const char *what)
{
    fprintf(stderr, "bbo-webapp: %s\n", what);
    return 2;
}

static int die_library(const char *what)
{
    fprintf(stderr, "bbo-webapp: %s: %s\n", what, bbo_error_message(bbo_error_last()));
    return 1;
}

/* A small file's contents (secret files, key files), NUL-terminated. */
static char *read_small_file(const char *path, size_t *len_out)
{
    char *data = malloc(4097);
    size_t len = 0, n;
    FILE *f = fopen(path, "rb");

    if (!f || !data) {
        if (f)
            fclose(f);
        free(data);
        return NULL;
    }
    while (len < 4096 && (n = fread(data + len, 1, 4096 - len, f)) > 0)
        len += n;
    fclose(f);
    data[len] = '\0';
    *len_out = len;
    return data;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* 32 bytes as base64 or base64url text (43 characters, or 44 with "="). */
static int base64_key(const char *text, size_t len, unsigned char key[WEBAPP_KEY_LEN])
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char out[33];
    unsigned int acc = 0;
    size_t i, n = 0;
    int bits = 0;

    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (len == 44 && text[43] == '=')
        len = 43;
    if (len != 43)
        return -1;
    for (i = 0; i < len; i++) {
        const char *p = strchr(std, text[i]);
        int v = text[i] == '-' ? 62 : text[i] == '_' ? 63 : (p && text[i]) ? (int)(p - std) : -1;

        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    memcpy(key, out, WEBAPP_KEY_LEN);
    memset(out, 0, sizeof(out));
    return n == WEBAPP_KEY_LEN ? 0 : -1;
}

static int load_key(const char *path, unsigned char key[WEBAPP_KEY_LEN])
{
    size_t len = 0, i;
    char *data = read_small_file(path, &len);
    int rc = -1;

    if (!data) {
        fprintf(stderr, "bbo-webapp: cannot read the seal key file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    if (len == WEBAPP_KEY_LEN) { /* raw bytes */
        memcpy(key, data, WEBAPP_KEY_LEN);
        rc = 0;
    } else if ((rc = base64_key(data, len, key)) == 0) {
        /* openssl rand -base64 32 */
    } else {
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
            len--;
        for (i = 0, rc = len == 2 * WEBAPP_KEY_LEN ? 0 : -1; i < WEBAPP_KEY_LEN && rc == 0; i++) {
            int hi = hex_value(data[2 * i]), lo = hex_value(data[2 * i + 1]);

            if (hi < 0 || lo < 0)
                rc = -1;
            else
                key[i] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (rc < 0)
        fprintf(stderr, "bbo-webapp: %s must hold 32 bytes: raw, as 64 hex digits or as "
                        "base64 (head -c 32 /dev/urandom, openssl rand -hex 32)\n", path);
    wipe_free(data);
    return rc;
}

/* URL/site/oauth2/... and URL/2.0, or bitbucket.org's real addresses */
static int consumer_new(bbo_consumer **out, const char *key, const char *secret,
                        const char *bitbucket, const char *callback)
{
    bbo_consumer *consumer = NULL;
    wbuf authorize = {0}, token = {0}, api = {0};
    int error;

    wbuf_printf(&authorize, "%s/site/oauth2/authorize", bitbucket);
    wbuf_printf(&token, "%s/site/oauth2/access_token", bitbucket);
    if (strcmp(bitbucket, "https://bitbucket.org") == 0)
        wbuf_add(&api, "https://api.bitbucket.org/2.0");
    else
        wbuf_printf(&api, "%s/2.0", bitbucket);
    if (!authorize.data || !token.data || !api.data)
        error = bbo_error_set(BBO_ENOMEM, "out of memory");
    else if ((error = bbo_consumer_new(&consumer, key, secret)) == 0 &&
             (error = bbo_consumer_set_callback_url(consumer, callback)) == 0 &&
             (error = bbo_consumer_set_endpoints(consumer, authorize.data, token.data,
                                                 api.data)) == 0 &&
             /* no scope parameter: Bitbucket grants the consumer's own
              * permissions whatever is asked; exchange and refresh fail with
              * BBO_ESCOPE when those lack a required scope */
             (error = bbo_consumer_require_scopes(consumer, app.required)) == 0)
        *out = consumer;
    if (error < 0)
        bbo_consumer_free(consumer);
    wbuf_free(&authorize);
    wbuf_free(&token);
    wbuf_free(&api);
    return error;
}

static int tenant_init(tenant *t, const char *name, const char *key, const char *secret,
                       const char *bitbucket, const char *public_url)
{
    wbuf callback = {0};
    int error;

    snprintf(t->name, sizeof(t->name), "%s", name);
    if (*name) {
        snprintf(t->prefix, sizeof(t->prefix), "/t/%s", name);
        snprintf(t->login_cookie, sizeof(t->login_cookie), "bbo_login_%s", name);
    } else {
        snprintf(t->login_cookie, sizeof(t->login_cookie), "bbo_login");
    }
    wbuf_printf(&callback, "%s%s/callback", public_url, t->prefix);
    error = callback.data ? consumer_new(&t->consumer, key, secret, bitbucket, callback.data)
                          : BBO_ENOMEM;
    wbuf_free(&callback);
    return error;
}

static int tenant_name_valid(const char *name, size_t n)
{
    size_t i;

    if (n == 0 || n > WEBAPP_TENANT_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= '0' && name[i] <= '9') &&
            name[i] != '-' && name[i] != '_')
            return 0;
    return 1;
}

/* NAME:KEY:SECRET_FILE */
static int add_tenant(const char *spec, const char *bitbucket, const char *public_url)
{
    const char *colon1 = strchr(spec, ':'), *colon2 = colon1 ? strchr(colon1 + 1, ':') : NULL;
    char name[WEBAPP_TENANT_MAX + 1], *key = NULL, *secret = NULL;
    size_t len = 0, i;
    int rc = 2;

    if (!colon2 || colon2 == colon1 + 1 || !colon2[1])
        return die("--tenant takes NAME:KEY:SECRET_FILE (the secret stays in the file)");
    if (!tenant_name_valid(spec, (size_t)(colon1 - spec)))
        return die("a tenant NAME is 1 to 32 of a-z, 0-9, - and _");
    memcpy(name, spec, (size_t)(colon1 - spec));
    name[colon1 - spec] = '\0';
    for (i = 1; i < app.tenant_count; i++)
        if (strcmp(app.tenants[i].name, name) == 0)
            return die("a tenant is named twice");
    if (app.tenant_count == MAX_TENANTS)
        return die("too many tenants");
    if ((key = strndup(colon1 + 1, (size_t)(colon2 - colon1 - 1))) == NULL)
        return die("out of memory");
    if ((secret = read_small_file(colon2 + 1, &len)) == NULL) {
        fprintf(stderr, "bbo-webapp: tenant %s: cannot read its secret file %s: %s\n", name,
                colon2 + 1, strerror(errno));
        goto done;
    }
    while (len && (secret[len - 1] == '\n' || secret[len - 1] == '\r'))
        secret[--len] = '\0';
    if (tenant_init(&app.tenants[app.tenant_count], name, key, secret, bitbucket,
                    public_url) < 0) {
        rc = die_library("tenant consumer");
        goto done;
    }
    app.tenant_count++;
    rc = 0;
done:
    free(key);
    wipe_free(secret);
    return rc;
}

static int parse_listen(const char *spec, struct sockaddr_storage *addr, socklen_t *addr_len,
                        char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints, *res = NULL;
    size_t n;
    char *end;
    long p;

    if (!colon || colon == spec)
        return -1;
    n = (size_t)(colon - spec);
    if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']') { /* [::1]:3001 */
        spec++;
        n -= 2;
    }
    if (n >= host_size)
        return -1;
    memcpy(host, spec, n);
    host[n] = '\0';
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return -1;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    *port = (int)p;
    freeaddrinfo(res);
    return 0;
}

static int make_store_dir(const char *dir)
{
    struct stat st;
    char *parent = strdup(dir), *slash;

    /* mkdir -p: the parents too */
    for (slash = parent ? strchr(parent + 1, '/') : NULL; slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(parent, 0700);
        *slash = '/';
    }
    free(parent);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "bbo-webapp: cannot create the store directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bbo-webapp: --store %s is not a directory\n", dir);
        return -1;
    }
    return 0;
}

static char *default_store(void)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    wbuf b = {0};

    if (state && *state) {
        wbuf_printf(&b, "%s/bbo-webapp", state);
    } else if (home && *home) {
        wbuf_printf(&b, "%s/.local", home);
        if (b.data)
            mkdir(b.data, 0700);
        wbuf_add(&b, "/state");
        if (b.data)
            mkdir(b.data, 0700);
        wbuf_add(&b, "/bbo-webapp");
    } else {
        return NULL;
    }
    return wbuf_take(&b);
}

/* postgresql://... or postgres://..., or libpq's "host=... dbname=..." form */
static int is_conninfo(const char *store)
{
    static const char *const starts[] = {"postgresql://", "postgres://", "host=", "hostaddr=",
                                         "dbname=", "user=", "port=", "service="};
    size_t i;

    for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (strncmp(store, starts[i], strlen(starts[i])) == 0)
            return 1;
    return 0;
}

static const char *first_env(const char *a, const char *b, const char *c)
{
    const char *names[3] = {a, b, c}, *value;
    size_t i;

    for (i = 0; i < 3; i++)
        if ((value = getenv(names[i])) != NULL && *value)
            return value;
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"public-url", required_argument, NULL, 'u'},
        {"bitbucket", required_argument, NULL, 'b'},
        {"store", required_argument, NULL, 's'},
        {"require-scopes", required_argument, NULL, 'r'},
        {"seal-key-file", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"ca-file", required_argument, NULL, 'c'},
        {"ca", required_argument, NULL, 'c'}, /* as bbo-login spells it */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:3001", *public_arg = NULL, *store = NULL;
    const char *required = "account", *key_file = NULL, *offset;
    const char *tenant_specs[MAX_TENANTS];
    char *bitbucket = NULL, *public_url = NULL, *secret = NULL, *key = NULL, *store_alloc = NULL;
    char host[256];
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    struct MHD_Daemon *daemon = NULL;
    const union MHD_DaemonInfo *info;
    unsigned char master[WEBAPP_KEY_LEN];
    size_t tenant_spec_count = 0, i;
    int opt, port = 0, rc = 1, sig;
    sigset_t signals;
    wbuf b = {0};

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case 'u': public_arg = optarg; break;
        case 'b': bitbucket = strdup(optarg); break;
        case 's': store = optarg; break;
        case 'r': required = optarg; break;
        case 'k': key_file = optarg; break;
        case 'c': app.ca_file = optarg; break;
        case 't':
            if (tenant_spec_count == MAX_TENANTS)
                return die("too many --tenant options");
            tenant_specs[tenant_spec_count++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (getenv("BBO_CONSUMER_KEY") == NULL || getenv("BBO_CONSUMER_SECRET") == NULL)
        return die("set BBO_CONSUMER_KEY and BBO_CONSUMER_SECRET to the OAuth consumer's key "
                   "and secret (Bitbucket: Workspace settings > OAuth consumers)");
    key = strdup(getenv("BBO_CONSUMER_KEY"));
    secret = strdup(getenv("BBO_CONSUMER_SECRET"));
    unsetenv("BBO_CONSUMER_SECRET"); /* nothing started later inherits it */
    /* libcurl itself reads neither of the last two (the curl program does) */
    if (!app.ca_file)
        app.ca_file = first_env("BBO_CA_FILE", "CURL_CA_BUNDLE", "SSL_CERT_FILE");
    if ((offset = getenv("BBO_WEBAPP_CLOCK_OFFSET")) != NULL)
        app.clock_offset = strtoll(offset, NULL, 10);

    if (parse_listen(listen, &addr, &addr_len, host, sizeof(host), &port) < 0) {
        rc = die("--listen takes HOST:PORT, e.g. 127.0.0.1:3001 or [::1]:3001");
        goto done;
    }
    if (!bitbucket)
        bitbucket = strdup("https://bitbucket.org");
    if (!bitbucket)
        goto done;
    while (*bitbucket && bitbucket[strlen(bitbucket) - 1] == '/')
        bitbucket[strlen(bitbucket) - 1] = '\0';
    app.bitbucket = bitbucket;
    if (public_arg) {
        wbuf_add(&b, public_arg);
    } else {
        int wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || !*host;
        int v6 = strchr(host, ':') != NULL;

        wbuf_printf(&b, "http://%s%s%s:%d", v6 && !wildcard ? "[" : "",
                    wildcard ? "127.0.0.1" : host, v6 && !wildcard ? "]" : "", port);
    }
    if ((public_url = wbuf_take(&b)) == NULL)
        goto done;
    while (*public_url && public_url[strlen(public_url) - 1] == '/')
        public_url[strlen(public_url) - 1] = '\0';
    app.secure_cookies = strncmp(public_url, "https://", 8) == 0;

    if (bbo_scopes_parse(&app.required, required) < 0) {
        rc = die_library("--require-scopes");
        goto done;
    }
    if (key_file) {
        if (load_key(key_file, master) < 0)
            goto done;
    } else {
        fprintf(stderr, "bbo-webapp: no --seal-key-file: using a random key, so logins "
                        "cannot move between workers and grants stored now cannot be read "
                        "after a restart\n");
        if (random_bytes(master, sizeof(master)) < 0)
            goto done;
    }
    /* one key per purpose, all from the shared one */
    mac3(master, "bbo-webapp seal", "", NULL, app.seal_key);
    mac3(master, "bbo-webapp mac", "", NULL, app.mac_key);
    mac3(master, "bbo-webapp store", "", NULL, app.store_key);

    if (!store)
        store = store_alloc = default_store();
    if (!store) {
        rc = die("give --store DIR (no HOME to put a default in)");
        goto done;
    }
    if (is_conninfo(store)) {
#ifdef WEBAPP_HAVE_PG
        if (bbo_pg_new(&app.pg, store, app.store_key) < 0) {
            rc = die_library("PostgreSQL store");
            goto done;
        }
#else
        rc = die("this bbo-webapp was built without PostgreSQL support (libbboauth-pg); "
                 "use --store DIR");
        goto done;
#endif
    } else {
        if (make_store_dir(store) < 0)
            goto done;
        app.store_dir = store;
    }

    if ((app.tenants = calloc(MAX_TENANTS + 1, sizeof(tenant))) == NULL)
        goto done;
    if (tenant_init(&app.tenants[0], "", key, secret, bitbucket, public_url) < 0) {
        rc = die_library("consumer");
        goto done;
    }
    app.tenant_count = 1;
    for (i = 0; i < tenant_spec_count; i++)
        if ((rc = add_tenant(tenant_specs[i], bitbucket, public_url)) != 0)
            goto done;
    rc = 1;

    /* signals are taken by sigwait below; threads started from now on block them */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
            (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        (uint16_t)port, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "bbo-webapp: cannot listen on %s (in use, or not an address of this "
                        "host?)\n", listen);
        goto done;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "bbo-webapp: listening on %s:%u; open %s/ (callback %s/callback)\n", host,
            info ? (unsigned)info->port : (unsigned)port, public_url, public_url);
    for (i = 1; i < app.tenant_count; i++)
        fprintf(stderr, "bbo-webapp: tenant %s: %s/t/%s/ (callback %s/t/%s/callback)\n",
                app.tenants[i].name, public_url, app.tenants[i].name, public_url,
                app.tenants[i].name);
    sigwait(&signals, &sig);
    fprintf(stderr, "bbo-webapp: stopping\n");
    rc = 0;
done:
    if (daemon)
        MHD_stop_daemon(daemon);
    for (i = 0; app.tenants && i < app.tenant_count; i++)
        bbo_consumer_free(app.tenants[i].consumer);
    free(app.tenants);
#ifdef WEBAPP_HAVE_PG
    bbo_pg_free(app.pg);
#endif
    bbo_scopes_free(app.required);
    wipe_free(secret);
    free(key);
    free(bitbucket);
    free(public_url);
    free(store_alloc);
    return rc;
}
