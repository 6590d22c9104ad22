/*
 * The default transport: libcurl. The only file that includes curl.
 * SPDX-License-Identifier: MIT
 *
 * One easy handle per client keeps its connection cache (keep-alive, TLS
 * session reuse) across token requests and API calls. A mutex serializes
 * its use, since an easy handle belongs to one thread at a time.
 */
#include "internal/common.h"
#include "internal/encode.h"
#include "internal/transport_curl.h"
#include "internal/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include <curl/curl.h>

typedef struct curl_transport {
    pthread_mutex_t lock;
    CURL *easy;
    int connect_timeout_ms;
    char *ca_file;
    char *ca_dir;
    char *proxy;
    /* how the handle was last set up: method, "+" with a body, "L" for a
     * loopback host (no proxy); "" after a reset is due */
    char setup[24];
    /* the scheme and authority is_loopback_url last answered for */
    char loopback_for[128];
    size_t loopback_for_len;
    bool loopback;
} curl_transport;

/* What the callbacks of one transfer share. */
typedef struct transfer {
    bbo_http_response *resp;
    int error;         /* set by a callback that stopped the transfer */
    bool may_resend;   /* GET, HEAD: libcurl may send it again on its own */
    int sends;         /* requests libcurl started for this transfer */
    size_t header_bytes; /* of every answer head, 1xx included */
} transfer;

/* An answer's head is a few KB; more is a hostile or broken server, told
 * apart here (BBO_EPROTOCOL) before libcurl's own 300 KB limit reports a
 * receive error. */
#define HEADERS_MAX (256 * 1024)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status;

/* curl_global_init is not thread-safe in older libcurl: run it once. The
 * matching cleanup is never called: another user of libcurl in the same
 * process may still need it. */
static void global_init(void)
{
    global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_header(char *data, size_t size, size_t count, void *userdata)
{
    transfer *t = userdata;
    size_t len = size * count;
    int error;

    if (len > HEADERS_MAX - t->header_bytes) {
        t->error = bbo__error_set(BBO_EPROTOCOL, "the server's answer has more than %d KiB of "
                                                 "headers", HEADERS_MAX / 1024);
        return 0;
    }
    t->header_bytes += len;
    if ((error = bbo_http_response_add_header_line(t->resp, data, len)) < 0) {
        /* a line the server got wrong is its fault, not an invalid argument */
        t->error = error == BBO_EINVAL
                       ? bbo__error_set(BBO_EPROTOCOL, "the server sent a malformed header line")
                       : error;
        return 0;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
    transfer *t = userdata;
    size_t len = size * count;
    int error;

    if ((error = bbo_http_response_append_body(t->resp, data, len)) < 0) {
        t->error = error;
        return 0; /* makes curl stop reading: a 10 MiB answer is not downloaded */
    }
    return len;
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* libcurl silently sends a request again on a new connection when a reused
 * one dies before any answer byte. The server may have processed the first
 * (a rotated refresh token replayed gets the grant revoked): only GET and
 * HEAD may go twice. */
static int on_prereq(void *userdata, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    transfer *t = userdata;

    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    if (++t->sends > 1 && !t->may_resend) {
        t->error = bbo__error_set(BBO_ETRANSPORT, "the connection was lost after the request "
                                                  "was sent; not sending it again (the server "
                                                  "may have processed it)");
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

static void wipe_headers(struct curl_slist *list)
{
    for (; list; list = list->next)
        bbo__wipe(list->data, strlen(list->data));
}

static size_t body_len(const bbo_http_request *req)
{
    size_t len;

    bbo_http_request_body(req, &len);
    return len;
}

static int build_headers(const bbo_http_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *grown;
    bbo_buf line = BBO_BUF_INIT;
    size_t i;
    int error = BBO_OK;

    /* no "Expect: 100-continue" round trip: libcurl adds it only to bodies
     * over 1 KiB (over 1 MiB in newer versions), so only those need it
     * switched off (one custom header less to scan on every request) */
    if (body_len(req) > 1024 && (list = curl_slist_append(NULL, "Expect:")) == NULL)
        return bbo__error_oom();
    for (i = 0; i < bbo_http_request_header_count(req); i++) {
        bbo__buf_clear(&line);
        if ((error = bbo__buf_puts(&line, bbo_http_request_header_name(req, i))) < 0 ||
            (error = bbo__buf_puts(&line, ": ")) < 0 ||
            (error = bbo__buf_puts(&line, bbo_http_request_header_value(req, i))) < 0)
            break;
        if ((grown = curl_slist_append(list, line.ptr)) == NULL) {
            error = bbo__error_oom();
            break;
        }
        list = grown;
    }
    bbo__buf_dispose(&line);
    if (error < 0) {
        wipe_headers(list);
        curl_slist_free_all(list);
        return error;
    }
    *out = list;
    return BBO_OK;
}

/* Only https, and http to a loopback address (tests, local proxies). */
static int allowed_protocol(const char *url, const char **protocol)
{
    bbo_url parsed;
    int error;

    if ((error = bbo__url_parse(&parsed, url, "request URL")) < 0)
        return error;
    if (strcmp(parsed.scheme, "https") == 0) {
        *protocol = "https";
    } else if (bbo__url_is_loopback(&parsed)) {
        *protocol = "http";
    } else {
        error = bbo__error_set(BBO_EINVAL, "refusing plain http to a host that is not "
                                           "127.0.0.1 or [::1]");
    }
    bbo__url_dispose(&parsed);
    return error;
}

/* The host of `url` as libcurl itself reads it (so that no spelling of an
 * address parses one way here and another way there) is a loopback one:
 * 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z), localhost or a name under
 * .localhost (which libcurl resolves to loopback itself). */
static bool is_loopback_url(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool loopback = false;

    if (!u)
        return true; /* out of memory: no proxy is the safe side */
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        char name[256];
        size_t len = strlen(host);
        unsigned char addr[16];

        if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(name)) {
            memcpy(name, host + 1, len - 2);
            name[len - 2] = '\0';
            name[strcspn(name, "%")] = '\0'; /* a zone id */
            loopback = inet_pton(AF_INET6, name, addr) == 1 &&
                       (memcmp(addr, &in6addr_loopback, 16) == 0 ||
                        (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
                         addr[12] == 127));
        } else if (len < sizeof(name)) {
            memcpy(name, host, len + 1);
            if (len && name[len - 1] == '.')
                name[--len] = '\0';
            loopback = (inet_pton(AF_INET, name, addr) == 1 && addr[0] == 127) ||
                       bbo__strcasecmp(name, "localhost") == 0 ||
                       (len > 10 && bbo__strcasecmp(name + len - 10, ".localhost") == 0);
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return loopback;
}

static bool is_tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* Map a failed transfer. `sent` is how many request bytes curl wrote: a
 * failure with nothing written provably never reached the server. */
static int transfer_error(CURL *easy, CURLcode rc, const transfer *t, const char *detail)
{
    long request_size = 0;
    const char *why = detail[0] ? detail : curl_easy_strerror(rc);
    bool nothing_sent;

    if (t->error < 0 && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK))
        return t->error; /* body over the limit, malformed header: already set */
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
    nothing_sent = request_size == 0;
    if (is_tls_error(rc)) {
        /* a handshake may fail by chance; a certificate that does not verify
         * will not verify on a second try either */
        if (nothing_sent && rc == CURLE_SSL_CONNECT_ERROR)
            bbo_http_response_set_not_sent(t->resp);
        return bbo__error_set(BBO_ETLS, "TLS failure: %s", why);
    }
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        if (nothing_sent)
            bbo_http_response_set_not_sent(t->resp);
        return bbo__error_set(BBO_ETRANSPORT, "cannot connect: %s", why);
    case CURLE_OPERATION_TIMEDOUT:
        if (nothing_sent)
            bbo_http_response_set_not_sent(t->resp);
        return bbo__error_set(BBO_ETIMEOUT, "timed out %s: %s",
                              nothing_sent ? "before the request was sent"
                                           : "after the request was sent", why);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
        /* before anything was sent: a proxy scheme this libcurl lacks */
        if (nothing_sent && rc == CURLE_UNSUPPORTED_PROTOCOL)
            return bbo__error_set(BBO_EINVAL, "protocol not supported: %s", why);
        /* the URL's scheme was checked before the transfer and redirects
         * are not followed, so what libcurl refuses here is the answer
         * ("Received HTTP/0.9 when not allowed": bytes that are not HTTP) */
        return bbo__error_set(BBO_EPROTOCOL, "the server's answer is not HTTP: %s", why);
#if LIBCURL_VERSION_NUM >= 0x080600
    case CURLE_TOO_LARGE:
        return bbo__error_set(BBO_EPROTOCOL, "the server's answer is too large: %s", why);
#endif
    case CURLE_OUT_OF_MEMORY:
        /* libcurl before 8.6 reports a header line over its 100 KB limit
         * as out of memory. Once the request is out, that is what it is in
         * practice: libcurl's own allocations are small, and ours fail
         * through the callbacks (t->error above). */
        if (nothing_sent)
            return bbo__error_oom();
        return bbo__error_set(BBO_EPROTOCOL, "libcurl refused the server's answer (a header "
                                             "line over its limit of 100 KB, or no memory "
                                             "left): %s", why);
    default:
        return bbo__error_set(BBO_ETRANSPORT, "transfer failed%s: %s",
                              nothing_sent ? "" : " after the request was sent", why);
    }
}

static int set_method(CURL *easy, const bbo_http_request *req)
{
    const char *method = bbo_http_request_method(req);
    size_t len;
    const char *body = bbo_http_request_body(req, &len);
    CURLcode rc = CURLE_OK;

    if (strcmp(method, "GET") == 0 && len == 0) {
        rc = curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        rc = curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
        /* POSTFIELDS points at the request's own body (wiped when the request
         * is freed) rather than a curl copy that would not be */
        if ((rc = curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body)) == CURLE_OK &&
            (rc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len)) ==
                CURLE_OK &&
            strcmp(method, "POST") != 0)
            rc = curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    }
    return rc == CURLE_OK ? BBO_OK : bbo__error_set(BBO_ETRANSPORT, "libcurl refused an option");
}

/*
 * How long a cached connection may have idled to be reused for `req`.
 * A non-idempotent request on a connection the server silently dropped
 * would fail in on_prereq (never be resent); connections used seconds ago
 * are alive in practice, so those requests only reuse such connections and
 * otherwise open a fresh one (docs/security.md).
 */
static long max_idle_s(const bbo_http_request *req)
{
    const char *method = bbo_http_request_method(req);

    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return 118; /* libcurl's default */
    return 5;
}

/* is_loopback_url, remembered for the last scheme and authority asked
 * about (libcurl's URL parser costs about a twentieth of a request): the
 * host depends on nothing after the authority, and allowed_protocol has
 * already refused user info and odd host characters. */
static bool loopback_cached(curl_transport *ct, const char *url)
{
    const char *rest = strstr(url, "://");
    size_t len;

    if (!rest || (len = (size_t)(rest + 3 - url) + strcspn(rest + 3, "/?#")) >=
                     sizeof(ct->loopback_for))
        return is_loopback_url(url);
    if (len != ct->loopback_for_len || memcmp(ct->loopback_for, url, len) != 0) {
        ct->loopback = is_loopback_url(url);
        memcpy(ct->loopback_for, url, len);
        ct->loopback_for_len = len;
    }
    return ct->loopback;
}

static int configure_easy(curl_transport *ct, const bbo_http_request *req, transfer *t,
                          struct curl_slist *headers, char *errbuf)
{
    const char *protocol = NULL;
    int timeout_ms = bbo_http_request_timeout_ms(req);
    CURL *easy = ct->easy;
    int error;
    bool ok, loopback;

    if ((error = allowed_protocol(bbo_http_request_url(req), &protocol)) < 0)
        return error;
    loopback = loopback_cached(ct, bbo_http_request_url(req));
    /* reset keeps the connection and TLS session caches, drops old options.
     * Every option is set again below; which ones depends only on the
     * method, a body or not, and a loopback host (the proxy): a request
     * set up like the one before needs no reset. */
    {
        const char *method = bbo_http_request_method(req);
        const char *tail = body_len(req) ? (loopback ? "+L" : "+") : (loopback ? "L" : "");
        size_t len = strlen(method);

        if (len + 3 > sizeof(ct->setup) || strncmp(ct->setup, method, len) != 0 ||
            strcmp(ct->setup + len, tail) != 0) {
            curl_easy_reset(easy);
            ct->setup[0] = '\0';
            if (len + 3 <= sizeof(ct->setup)) {
                memcpy(ct->setup, method, len);
                strcpy(ct->setup + len, tail);
            }
        }
    }
    ok = curl_easy_setopt(easy, CURLOPT_URL, bbo_http_request_url(req)) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
         curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocol) == CURLE_OK &&
#else
         curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
                          strcmp(protocol, "https") == 0 ? CURLPROTO_HTTPS : CURLPROTO_HTTP) ==
             CURLE_OK &&
#endif
         curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, max_idle_s(req)) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)ct->connect_timeout_ms) ==
             CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_USERAGENT, "bboauth/" BBO_VERSION) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_HEADERDATA, t) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075000
         curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_PREREQDATA, t) == CURLE_OK &&
#else
         /* no pre-request hook to stop a silent resend: never reuse */
         curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, t->may_resend ? 0L : 1L) == CURLE_OK &&
#endif
         (!ct->ca_file || curl_easy_setopt(easy, CURLOPT_CAINFO, ct->ca_file) == CURLE_OK) &&
         (!ct->ca_dir || curl_easy_setopt(easy, CURLOPT_CAPATH, ct->ca_dir) == CURLE_OK) &&
         /* "" overrides both the configured proxy and http_proxy & co.:
          * a loopback server is reached directly, never through a proxy
          * that would see its Bearer token or Basic credentials */
         (loopback
              ? curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK
              : (!ct->proxy || curl_easy_setopt(easy, CURLOPT_PROXY, ct->proxy) == CURLE_OK));
    if (!ok)
        return bbo__error_set(BBO_ETRANSPORT, "libcurl refused an option (CA file, proxy or "
                                              "protocol not supported by this libcurl build)");
    return set_method(easy, req);
}

static int curl_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    curl_transport *ct = payload;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE];
    const char *method = bbo_http_request_method(req);
    transfer t = { resp, BBO_OK, false, 0, 0 };
    long status = 0;
    CURLcode rc;
    int error;

    errbuf[0] = '\0';
    t.may_resend = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if ((error = build_headers(req, &headers)) < 0)
        return error;
    pthread_mutex_lock(&ct->lock);
    if ((error = configure_easy(ct, req, &t, headers, errbuf)) == BBO_OK) {
        rc = curl_easy_perform(ct->easy);
        if (rc != CURLE_OK) {
            error = transfer_error(ct->easy, rc, &t, errbuf);
        } else if (curl_easy_getinfo(ct->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
                   bbo_http_response_set_status(resp, (int)status) < 0) {
            error = bbo__error_set(BBO_EPROTOCOL, "the server sent no valid HTTP status");
        }
        /* drop the pointers to this call's stack and body */
        curl_easy_setopt(ct->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(ct->easy, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(ct->easy, CURLOPT_ERRORBUFFER, NULL);
    }
    pthread_mutex_unlock(&ct->lock);
    wipe_headers(headers);
    curl_slist_free_all(headers);
    return error;
}

static void curl_destroy(void *payload)
{
    curl_transport *ct = payload;

    if (!ct)
        return;
    if (ct->easy)
        curl_easy_cleanup(ct->easy);
    pthread_mutex_destroy(&ct->lock);
    bbo__free(ct->ca_file);
    bbo__free(ct->ca_dir);
    bbo__free(ct->proxy);
    bbo__free(ct);
}

int bbo__curl_transport_configure(void *payload, const bbo_curl_config *config)
{
    curl_transport *ct = payload;
    char *ca_file = NULL, *ca_dir = NULL, *proxy = NULL;

    if ((config->ca_file && (ca_file = bbo__strdup(config->ca_file)) == NULL) ||
        (config->ca_dir && (ca_dir = bbo__strdup(config->ca_dir)) == NULL) ||
        (config->proxy && (proxy = bbo__strdup(config->proxy)) == NULL)) {
        bbo__free(ca_file);
        bbo__free(ca_dir);
        return bbo__error_oom();
    }
    pthread_mutex_lock(&ct->lock);
    bbo__free(ct->ca_file);
    bbo__free(ct->ca_dir);
    bbo__free(ct->proxy);
    ct->ca_file = ca_file;
    ct->ca_dir = ca_dir;
    ct->proxy = proxy;
    ct->connect_timeout_ms = config->connect_timeout_ms;
    ct->setup[0] = '\0'; /* options may go: the next request resets the handle */
    pthread_mutex_unlock(&ct->lock);
    return BBO_OK;
}

int bbo__curl_transport_new(bbo_transport *out, const bbo_curl_config *config)
{
    curl_transport *ct;
    int error;

    pthread_once(&global_once, global_init);
    if (global_status != CURLE_OK)
        return bbo__error_set(BBO_ETRANSPORT, "libcurl failed to initialize: %s",
                              curl_easy_strerror(global_status));
    if ((ct = bbo__calloc(1, sizeof(*ct))) == NULL)
        return bbo__error_oom();
    if (pthread_mutex_init(&ct->lock, NULL) != 0) {
        bbo__free(ct);
        return bbo__error_set(BBO_ETRANSPORT, "cannot create a mutex");
    }
    if ((ct->easy = curl_easy_init()) == NULL) {
        curl_destroy(ct);
        return bbo__error_set(BBO_ETRANSPORT, "libcurl could not create a handle");
    }
    if ((error = bbo__curl_transport_configure(ct, config)) < 0) {
        curl_destroy(ct);
        return error;
    }
    out->version = BBO_TRANSPORT_VERSION;
    out->send = curl_send;
    out->destroy = curl_destroy;
    out->payload = ct;
    return BBO_OK;
}
