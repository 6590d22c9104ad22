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

/* What the callbacks of one transfer share. */
typedef struct transfer {
    bbo_http_response *resp;
    int error;         /* set by a callback that stopped the transfer */
    bool may_resend;   /* GET, HEAD: libcurl may send it again on its own */
    int sends;         /* requests libcurl started for this transfer */
    size_t header_bytes; /* of every answer head, 1xx included */
} transfer;

typedef struct curl_transport {
    pthread_mutex_t lock;
    CURL *easy;
    CURLM *multi; /* runs each transfer of `easy`; holds its connections */
    int connect_timeout_ms;
    char *ca_file;
    char *ca_dir;
    char *proxy;
    /* the transfer under way and libcurl's message for it: the handle
     * points at both, set once after each reset (the lock is held from
     * setting up a transfer to reading its outcome) */
    transfer transfer;
    char errbuf[CURL_ERROR_SIZE];
    /* how the handle was last set up: method, "+" with a body, "L" for a
     * loopback host (no proxy), "s" for https; "" after a reset is due.
     * Options that depend on nothing else are set only after a reset. */
    char setup[24];
    /* the options that change between requests set up alike, as last set
     * (libcurl copies the URL on each set: skipped when it is the same) */
    char url[512];
    size_t url_len;       /* 0: not remembered (a longer URL is set each time) */
    CURLU *parsed_url;    /* the URL last set, parsed (CURLOPT_CURLU) */
    long timeout_ms;
    const struct curl_slist *headers_set;
    /* the scheme and authority the protocol check last passed */
    char checked_for[128];
    size_t checked_for_len;
    const char *protocol;
    bool loopback;
    /* the last request's header lines: the next request that sends the
     * same ones (a refresh, API calls with one token) reuses them; wiped
     * when replaced and when the transport goes */
    struct curl_slist *headers;
    /* what a proxy's CONNECT carries: the User-Agent line */
    struct curl_slist *proxy_headers;
} curl_transport;

/*
 * Who we are, as a header line of the request's own list rather than
 * CURLOPT_USERAGENT: with that option libcurl formats "User-Agent: %s"
 * into a new string on every transfer and copies it into the request a
 * byte at a time again (libcurl 7.88: about 2,000 instructions per
 * request). A proxy's CONNECT, which never sees the request's list, gets
 * the same line through CURLOPT_PROXYHEADER.
 */
#define USER_AGENT_LINE "User-Agent: bboauth/" BBO_VERSION

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

BBO__HOT
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

BBO__HOT
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
BBO__HOT
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

/* `req` names its own User-Agent (which then replaces ours). */
static bool has_user_agent(const bbo_http_request *req)
{
    size_t i, count = bbo_http_request_header_count(req);

    for (i = 0; i < count; i++) {
        const char *name = bbo_http_request_header_name(req, i);

        if ((name[0] | 0x20) == 'u' && bbo__strcasecmp(name, "User-Agent") == 0)
            return true;
    }
    return false;
}

/* Header i of `req` is the one libcurl sends itself for a POST body set
 * with CURLOPT_POSTFIELDS, word for word: left to libcurl, the list it
 * scans for each header of its own on every request is one shorter. */
static bool libcurl_sends_it(const bbo_http_request *req, size_t i)
{
    const char *name = bbo_http_request_header_name(req, i);

    return (name[0] | 0x20) == 'c' && bbo__strcasecmp(name, "Content-Type") == 0 &&
           strcmp(bbo_http_request_header_value(req, i), "application/x-www-form-urlencoded") ==
               0 &&
           strcmp(bbo_http_request_method(req), "POST") == 0;
}

BBO__RARE static int build_headers(const bbo_http_request *req, struct curl_slist **out)
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
    /* first, where libcurl's own line would be (before the request's) */
    if (!has_user_agent(req)) {
        if ((grown = curl_slist_append(list, USER_AGENT_LINE)) == NULL) {
            curl_slist_free_all(list);
            return bbo__error_oom();
        }
        list = grown;
    }
    for (i = 0; i < bbo_http_request_header_count(req); i++) {
        if (libcurl_sends_it(req, i))
            continue;
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

/* `list` holds exactly the header lines build_headers makes for `req`. */
static bool headers_match(const struct curl_slist *list, const bbo_http_request *req)
{
    size_t i, count = bbo_http_request_header_count(req);

    if (body_len(req) > 1024) {
        if (!list || strcmp(list->data, "Expect:") != 0)
            return false;
        list = list->next;
    }
    if (!has_user_agent(req)) {
        if (!list || strcmp(list->data, USER_AGENT_LINE) != 0)
            return false;
        list = list->next;
    }
    for (i = 0; i < count; i++) {
        const char *name = bbo_http_request_header_name(req, i);
        const char *value = bbo_http_request_header_value(req, i);
        size_t name_len = strlen(name);
        const char *line;

        if (libcurl_sends_it(req, i))
            continue;
        if (!list)
            return false;
        line = list->data;
        if (strncmp(line, name, name_len) != 0 || line[name_len] != ':' ||
            line[name_len + 1] != ' ' || strcmp(line + name_len + 2, value) != 0)
            return false;
        list = list->next;
    }
    return list == NULL;
}

BBO__RARE static void drop_headers(curl_transport *ct)
{
    if (ct->easy && ct->headers)
        curl_easy_setopt(ct->easy, CURLOPT_HTTPHEADER, NULL);
    ct->headers_set = NULL;
    wipe_headers(ct->headers);
    curl_slist_free_all(ct->headers);
    ct->headers = NULL;
}

/* Only https, and http to a loopback address (tests, local proxies). */
BBO__RARE static int allowed_protocol(const char *url, const char **protocol)
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
BBO__RARE static bool is_loopback_url(const char *url, bool *sure)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool loopback = false;
    CURLUcode rc;

    *sure = false; /* out of memory: an answer not to remember */
    if (!u)
        return true; /* no proxy is the safe side */
    if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    *sure = rc != CURLUE_OUT_OF_MEMORY;
    if (rc == CURLUE_OK && host) {
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
BBO__COLD static int transfer_error(CURL *easy, CURLcode rc, const transfer *t, const char *detail)
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

/* The method's options: set after each reset (the method is part of the
 * setup); the body itself is set for each request. */
static CURLcode set_method(CURL *easy, const char *method, size_t body_len)
{
    if (strcmp(method, "GET") == 0 && body_len == 0)
        return curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    if (strcmp(method, "HEAD") == 0)
        return curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    if (strcmp(method, "POST") != 0)
        return curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    return CURLE_OK;
}

/* POSTFIELDS points at the request's own body (wiped when the request is
 * freed) rather than a curl copy that would not be. */
static bool sends_body(const bbo_http_request *req)
{
    const char *method = bbo_http_request_method(req);

    return !((strcmp(method, "GET") == 0 && body_len(req) == 0) || strcmp(method, "HEAD") == 0);
}

static bool set_body(CURL *easy, const bbo_http_request *req)
{
    size_t len;
    const char *body = bbo_http_request_body(req, &len);

    if (!sends_body(req))
        return true;
    return curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
           curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK;
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

/* Length of the URL's scheme and authority ("https://host:port"), or 0.
 * A plain loop: strstr and strcspn would be two more libc functions for
 * each request to bring back into the instruction cache. */
static size_t scheme_authority_len(const char *url)
{
    const char *p = url;

    while (*p && *p != ':')
        p++;
    if (p[0] != ':' || p[1] != '/' || p[2] != '/')
        return 0;
    for (p += 3; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        ;
    return (size_t)(p - url);
}

/*
 * The protocol libcurl may use for the request's URL (allowed_protocol)
 * and whether its host is a loopback one (is_loopback_url), remembered for
 * the last scheme and authority that passed: both depend on nothing after
 * the authority, and bbo_http_request_new has checked the whole URL
 * (libcurl's URL parser alone costs about a twentieth of a request).
 */
static int check_url_cached(curl_transport *ct, const char *url, const char **protocol,
                            bool *loopback)
{
    size_t len = scheme_authority_len(url);
    bool sure;
    int error;

    if (len && len < sizeof(ct->checked_for) && len == ct->checked_for_len &&
        memcmp(ct->checked_for, url, len) == 0) {
        *protocol = ct->protocol;
        *loopback = ct->loopback;
        return BBO_OK;
    }
    ct->checked_for_len = 0;
    if ((error = allowed_protocol(url, protocol)) < 0)
        return error;
    *loopback = is_loopback_url(url, &sure);
    if (sure && len && len < sizeof(ct->checked_for)) {
        memcpy(ct->checked_for, url, len);
        ct->checked_for_len = len;
        ct->protocol = *protocol;
        ct->loopback = *loopback;
    }
    return BBO_OK;
}

/* The options that depend only on the setup (see curl_transport.setup):
 * set after a reset. */
BBO__RARE static bool set_static_options(curl_transport *ct, const bbo_http_request *req,
                               const char *protocol, bool loopback)
{
    CURL *easy = ct->easy;
    transfer *t = &ct->transfer;

    return
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
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, t) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, ct->errbuf) == CURLE_OK &&
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
         * that would see its Bearer token or Basic credentials. With no
         * proxy, no_proxy means nothing: NOPROXY "" spares libcurl reading
         * it from the environment on every transfer. */
        (loopback
             ? curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK &&
                   curl_easy_setopt(easy, CURLOPT_NOPROXY, "") == CURLE_OK
             : (!ct->proxy || curl_easy_setopt(easy, CURLOPT_PROXY, ct->proxy) == CURLE_OK) &&
                   curl_easy_setopt(easy, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE) == CURLE_OK &&
                   curl_easy_setopt(easy, CURLOPT_PROXYHEADER, ct->proxy_headers) == CURLE_OK) &&
        set_method(easy, bbo_http_request_method(req), body_len(req)) == CURLE_OK;
}

/* Reset the handle unless the request is set up like the one before
 * (method, a body or not, a loopback host, the protocol); after a reset,
 * set the options that depend only on that. A reset keeps the connection
 * and TLS session caches and drops every option. */
static bool set_up(curl_transport *ct, const bbo_http_request *req, const char *protocol,
                   bool loopback)
{
    const char *method = bbo_http_request_method(req);
    char tail[4], *p = tail;
    size_t len = strlen(method);

    if (body_len(req))
        *p++ = '+';
    if (loopback)
        *p++ = 'L';
    if (strcmp(protocol, "https") == 0)
        *p++ = 's';
    *p = '\0';
    if (len + sizeof(tail) <= sizeof(ct->setup) && strncmp(ct->setup, method, len) == 0 &&
        strcmp(ct->setup + len, tail) == 0)
        return true;
    curl_easy_reset(ct->easy);
    ct->setup[0] = '\0';
    ct->url_len = 0;
    ct->timeout_ms = 0;
    ct->headers_set = NULL;
    if (!set_static_options(ct, req, protocol, loopback))
        return false;
    if (len + sizeof(tail) <= sizeof(ct->setup)) {
        memcpy(ct->setup, method, len);
        strcpy(ct->setup + len, tail);
    }
    return true;
}

/*
 * The URL, when it is not the one set last: as text (libcurl's record of
 * the URL) and parsed once here (CURLOPT_CURLU), which libcurl
 * then copies part by part at the start of each transfer. Given only the
 * text, libcurl 7.88 parses it again on every transfer and prints the
 * whole URL back (a printf a byte at a time): about 13,000 instructions
 * per request. A URL this parser refuses is left to libcurl's own, which
 * says why.
 */
static bool set_url(curl_transport *ct, const char *url)
{
    size_t len = strlen(url);
    bool parsed;

    if (len == ct->url_len && memcmp(ct->url, url, len) == 0)
        return true;
    ct->url_len = 0;
    /* cleared first, so that nothing is resolved against the URL before;
     * then parsed with the flags libcurl parses a URL text with */
    parsed = curl_url_set(ct->parsed_url, CURLUPART_URL, NULL, 0) == CURLUE_OK &&
             curl_url_set(ct->parsed_url, CURLUPART_URL, url,
                          CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
    if (curl_easy_setopt(ct->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(ct->easy, CURLOPT_CURLU, parsed ? ct->parsed_url : NULL) != CURLE_OK)
        return false;
    if (len < sizeof(ct->url)) {
        memcpy(ct->url, url, len);
        ct->url_len = len;
    }
    return true;
}

static int configure_easy(curl_transport *ct, const bbo_http_request *req)
{
    const char *protocol = NULL;
    long timeout_ms = bbo_http_request_timeout_ms(req);
    CURL *easy = ct->easy;
    int error;
    bool ok, loopback = false;

    if ((error = check_url_cached(ct, bbo_http_request_url(req), &protocol, &loopback)) < 0)
        return error;
    if (!headers_match(ct->headers, req)) {
        drop_headers(ct);
        if ((error = build_headers(req, &ct->headers)) < 0)
            return error;
    }
    ok = set_up(ct, req, protocol, loopback) && set_url(ct, bbo_http_request_url(req)) &&
         (timeout_ms == ct->timeout_ms ||
          curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK) &&
         (ct->headers == ct->headers_set ||
          curl_easy_setopt(easy, CURLOPT_HTTPHEADER, ct->headers) == CURLE_OK) &&
         set_body(easy, req);
    if (!ok) {
        ct->setup[0] = '\0'; /* half set: start over next time */
        return bbo__error_set(BBO_ETRANSPORT, "libcurl refused an option (CA file, proxy or "
                                              "protocol not supported by this libcurl build)");
    }
    ct->timeout_ms = timeout_ms;
    ct->headers_set = ct->headers;
    return BBO_OK;
}

/* One transfer, driven as curl_easy_perform drives it but through the
 * transport's own multi handle. curl_easy_perform polls before its first
 * step; here the request goes out at once and the wait for the answer is
 * the only poll of ours (libcurl checks the socket with zero-timeout polls
 * of its own either way): a syscall less per request. The wait is capped by
 * the transfer's own timeouts (libcurl shortens it to the next one). */
BBO__HOT
static CURLcode perform(curl_transport *ct)
{
    CURLcode rc = CURLE_OK;
    CURLMcode mc;
    CURLMsg *msg;
    int running = 0, left;
    bool done = false;

    if ((mc = curl_multi_add_handle(ct->multi, ct->easy)) != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
    while ((mc = curl_multi_perform(ct->multi, &running)) == CURLM_OK && running &&
           (mc = curl_multi_poll(ct->multi, NULL, 0, 1000, NULL)) == CURLM_OK)
        ;
    while ((msg = curl_multi_info_read(ct->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == ct->easy) {
            rc = msg->data.result;
            done = true;
        }
    }
    curl_multi_remove_handle(ct->multi, ct->easy);
    if (mc != CURLM_OK) {
        /* what curl_easy_perform reports for these, with libcurl's words */
        if (!ct->errbuf[0])
            snprintf(ct->errbuf, sizeof(ct->errbuf), "%s", curl_multi_strerror(mc));
        return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_BAD_FUNCTION_ARGUMENT;
    }
    return done ? rc : CURLE_FAILED_INIT;
}

BBO__HOT
static int curl_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    curl_transport *ct = payload;
    const char *method = bbo_http_request_method(req);
    transfer *t = &ct->transfer;
    long status = 0;
    CURLcode rc;
    int error;

    pthread_mutex_lock(&ct->lock);
    t->resp = resp;
    t->error = BBO_OK;
    t->may_resend = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    t->sends = 0;
    t->header_bytes = 0;
    ct->errbuf[0] = '\0';
    if ((error = configure_easy(ct, req)) == BBO_OK) {
        rc = perform(ct);
        if (rc != CURLE_OK) {
            error = transfer_error(ct->easy, rc, t, ct->errbuf);
        } else if (curl_easy_getinfo(ct->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
                   bbo_http_response_set_status(resp, (int)status) < 0) {
            error = bbo__error_set(BBO_EPROTOCOL, "the server sent no valid HTTP status");
        }
        /* the request's body is freed after this call (setting
         * POSTFIELDS makes a POST of the handle: only where it was set) */
        if (sends_body(req))
            curl_easy_setopt(ct->easy, CURLOPT_POSTFIELDS, NULL);
    }
    t->resp = NULL;
    pthread_mutex_unlock(&ct->lock);
    return error;
}

static void curl_destroy(void *payload)
{
    curl_transport *ct = payload;

    if (!ct)
        return;
    drop_headers(ct);
    /* the handle is in the multi handle only during a transfer; the
     * connections go with the multi handle */
    if (ct->multi)
        curl_multi_cleanup(ct->multi);
    if (ct->easy)
        curl_easy_cleanup(ct->easy);
    curl_url_cleanup(ct->parsed_url); /* after the handle that points at it */
    curl_slist_free_all(ct->proxy_headers);
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
    /* up to 5 idle connections kept, as curl_easy_perform's own multi
     * handle keeps (curl_multi_init's default is 4 per easy handle) */
    if ((ct->easy = curl_easy_init()) == NULL || (ct->multi = curl_multi_init()) == NULL ||
        curl_multi_setopt(ct->multi, CURLMOPT_MAXCONNECTS, 5L) != CURLM_OK ||
        (ct->parsed_url = curl_url()) == NULL ||
        (ct->proxy_headers = curl_slist_append(NULL, USER_AGENT_LINE)) == NULL) {
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
