/*
 * Refresh and API-call benchmarks against a local server (tests/bench/run.sh
 * starts nginx, plain and TLS, answering a 2.8 KB Bitbucket-like token JSON).
 * Each bboauth operation runs next to a bare libcurl request with the same
 * handle options, headers and body, on one reused connection, in the same
 * process, and is reported as a ratio. No limits are asserted.
 *
 *   bench_refresh time  BASE_URL CA_FILE ROUNDS   wall time
 *   bench_refresh allocs BASE_URL CA_FILE         allocations per call
 *   bench_refresh count OP BASE_URL CA_FILE N      run OP N times with callgrind
 *                                                  collection on (valgrind
 *                                                  --collect-atstart=no)
 * OP: refresh (bbo_client_refresh), session-refresh (bbo_session_refresh), post
 * (bare POST), api (bbo_session_request GET), get (bare GET), send (the refresh
 * request, built once, sent with bbo_client_send: the transport alone),
 * send-parse (the same, then bbo_grant_parse_response: the answer's cost).
 * BASE_URL is e.g. https://127.0.0.1:8443; CA_FILE "-" for none.
 */
#include <bboauth.h>

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

#define KEY "bench-key"
#define SECRET "bench-secret"
#define REFRESH "r3fr35h-t0k3n-0f-th1s-gr4nt"

typedef struct bench {
    const char *base, *ca;
    char token_url[256], api_url[256], user_url[256];
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_token *token;
    bbo_session *session;
    bbo_http_request *refresh_req; /* for send and send-parse */
    CURL *post, *get;
    struct curl_slist *post_headers, *get_headers;
    char post_body[128];
    char *body;
    size_t body_len, body_cap;
} bench;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_refresh: %s: %s\n", what, bbo_error_message(bbo_error_last()));
    exit(1);
}

/* ---- bboauth ----------------------------------------------------------- */

static void op_refresh(bench *b)
{
    bbo_token *fresh = NULL;

    if (bbo_client_refresh(b->client, b->token, &fresh) != BBO_OK)
        die("refresh");
    bbo_token_free(fresh);
}

/* The same through a session (single flight, callbacks, no store). */
static void op_session_refresh(bench *b)
{
    if (bbo_session_refresh(b->session) != BBO_OK)
        die("session refresh");
}

static void op_api(bench *b)
{
    bbo_response *resp = NULL;

    if (bbo_session_request(b->session, "GET", "/user", NULL, 0, &resp) != BBO_OK ||
        bbo_response_status(resp) != 200)
        die("API call");
    bbo_response_free(resp);
}

/* The parts of a refresh, to see where its time goes: the same request
 * (built once) through the client's transport, without and with turning
 * the answer into a token. */
static void send_refresh(bench *b, bool parse)
{
    bbo_http_response *resp = NULL;
    bbo_token *fresh = NULL;

    if (bbo_client_send(b->client, b->refresh_req, &resp) != BBO_OK ||
        bbo_http_response_status(resp) != 200)
        die("send");
    if (parse && bbo_grant_parse_response(&fresh, resp, (int64_t)time(NULL), b->token) != BBO_OK)
        die("parse");
    bbo_token_free(fresh);
    bbo_http_response_free(resp);
}

static void op_send(bench *b)
{
    send_refresh(b, false);
}

static void op_send_parse(bench *b)
{
    send_refresh(b, true);
}

/* ---- bare libcurl: what an application writing it by hand would do ---- */

static size_t keep_body(char *data, size_t size, size_t n, void *payload)
{
    bench *b = payload;
    size_t len = size * n;

    if (b->body_len + len + 1 > b->body_cap) {
        size_t cap = (b->body_len + len + 1) * 2;
        char *bigger = realloc(b->body, cap);

        if (!bigger)
            return 0;
        b->body = bigger;
        b->body_cap = cap;
    }
    memcpy(b->body + b->body_len, data, len);
    b->body_len += len;
    b->body[b->body_len] = '\0';
    return len;
}

/* The options src/io/transport_curl.c sets, once, the way an application
 * would set them: the User-Agent with CURLOPT_USERAGENT and the form's
 * Content-Type in the header list (the transport sends the same lines,
 * the first in its header list, the second left to libcurl). */
static CURL *bare_handle(bench *b, const char *url, struct curl_slist *headers, long max_idle)
{
    CURL *easy = curl_easy_init();
    const char *protocol = strncmp(url, "https:", 6) == 0 ? "https" : "http";

    if (!easy ||
        curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocol) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, max_idle) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "bboauth/bench") != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, b) != CURLE_OK ||
        (b->ca && curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca) != CURLE_OK)) {
        fprintf(stderr, "bench_refresh: libcurl setup failed\n");
        exit(1);
    }
    return easy;
}

static void bare_perform(bench *b, CURL *easy)
{
    long status = 0;
    CURLcode rc;

    b->body_len = 0;
    if ((rc = curl_easy_perform(easy)) != CURLE_OK ||
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        fprintf(stderr, "bench_refresh: bare request: %s (%ld)\n", curl_easy_strerror(rc), status);
        exit(1);
    }
}

static void op_post(bench *b)
{
    bare_perform(b, b->post);
}

static void op_get(bench *b)
{
    bare_perform(b, b->get);
}

/* ---- setup --------------------------------------------------------------- */

static void base64(const char *in, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), i;

    for (i = 0; i < len; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;

        if (i + 1 < len)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        *out++ = abc[v >> 18 & 63];
        *out++ = abc[v >> 12 & 63];
        *out++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *out++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *out = '\0';
}

static void setup(bench *b, const char *base, const char *ca)
{
    char header[4096], access[2601];
    size_t i;

    memset(b, 0, sizeof(*b));
    b->base = base;
    b->ca = strcmp(ca, "-") == 0 ? NULL : ca;
    snprintf(b->token_url, sizeof(b->token_url), "%s/site/oauth2/access_token", base);
    snprintf(b->api_url, sizeof(b->api_url), "%s/2.0", base);
    snprintf(b->user_url, sizeof(b->user_url), "%s/2.0/user", base);
    /* a Bitbucket-sized access token (what the API call carries) */
    for (i = 0; i < sizeof(access) - 1; i++)
        access[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(i * 7) % 64];
    access[sizeof(access) - 1] = '\0';
    if (bbo_consumer_new(&b->consumer, KEY, SECRET) != BBO_OK ||
        bbo_consumer_set_endpoints(b->consumer, NULL, b->token_url, b->api_url) != BBO_OK ||
        bbo_client_new(&b->client, b->consumer) != BBO_OK ||
        (b->ca && bbo_client_set_ca(b->client, b->ca, NULL) != BBO_OK) ||
        bbo_token_new(&b->token, access, REFRESH, "bearer", (int64_t)time(NULL) + 7200, NULL) !=
            BBO_OK ||
        bbo_grant_refresh_request(&b->refresh_req, b->consumer, b->token) != BBO_OK)
        die("setup");
    {
        bbo_token *copy = NULL;

        if (bbo_token_dup(&copy, b->token) != BBO_OK ||
            bbo_session_new(&b->session, b->client, copy) != BBO_OK)
            die("session");
    }
    /* the refresh request, byte for byte */
    snprintf(b->post_body, sizeof(b->post_body), "grant_type=refresh_token&refresh_token=%s",
             REFRESH);
    strcpy(header, "Authorization: Basic ");
    base64(KEY ":" SECRET, header + strlen(header));
    b->post_headers = curl_slist_append(NULL, header);
    b->post_headers = curl_slist_append(b->post_headers,
                                        "Content-Type: application/x-www-form-urlencoded");
    b->post_headers = curl_slist_append(b->post_headers, "Accept: application/json");
    b->post = bare_handle(b, b->token_url, b->post_headers, 5);
    curl_easy_setopt(b->post, CURLOPT_POSTFIELDS, b->post_body);
    curl_easy_setopt(b->post, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(b->post_body));
    snprintf(header, sizeof(header), "Authorization: Bearer %s", access);
    b->get_headers = curl_slist_append(NULL, header);
    b->get_headers = curl_slist_append(b->get_headers, "Accept: application/json");
    b->get = bare_handle(b, b->user_url, b->get_headers, 118);
    if (!b->post_headers || !b->get_headers)
        die("headers");
}

static void teardown(bench *b)
{
    bbo_session_free(b->session);
    bbo_http_request_free(b->refresh_req);
    bbo_token_free(b->token);
    bbo_client_free(b->client);
    bbo_consumer_free(b->consumer);
    curl_easy_cleanup(b->post);
    curl_easy_cleanup(b->get);
    curl_slist_free_all(b->post_headers);
    curl_slist_free_all(b->get_headers);
    free(b->body);
}

typedef void (*op_fn)(bench *b);

static op_fn op_named(const char *name)
{
    if (strcmp(name, "refresh") == 0)
        return op_refresh;
    if (strcmp(name, "session-refresh") == 0)
        return op_session_refresh;
    if (strcmp(name, "post") == 0)
        return op_post;
    if (strcmp(name, "api") == 0)
        return op_api;
    if (strcmp(name, "get") == 0)
        return op_get;
    if (strcmp(name, "send") == 0)
        return op_send;
    if (strcmp(name, "send-parse") == 0)
        return op_send_parse;
    fprintf(stderr, "bench_refresh: unknown operation %s\n", name);
    exit(2);
}

/* ---- allocation counting ---------------------------------------------- */

static size_t allocations;

static void *count_alloc(size_t size, void *payload)
{
    (void)payload;
    allocations++;
    return malloc(size);
}

static void count_release(void *ptr, void *payload)
{
    (void)payload;
    free(ptr);
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Seconds per call of `op` and `base` (medians over `rounds`) and the
 * median of the ratios of adjacent blocks of `n` calls, which alternate
 * (which goes first alternates too), so load on the machine that comes and
 * goes hits both alike. */
static double time_pair(bench *b, op_fn op, op_fn base, int rounds, int n, double *op_s,
                        double *base_s)
{
    double *t_op = calloc((size_t)rounds, sizeof(double)), *t_base = calloc((size_t)rounds,
                                                                            sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double)), result;
    int r, i;

    if (!t_op || !t_base || !ratio)
        exit(1);
    for (i = 0; i < 20; i++) { /* connections up, caches warm */
        op(b);
        base(b);
    }
    for (r = 0; r < rounds; r++) {
        double start, *first = r % 2 ? &t_op[r] : &t_base[r], *second = r % 2 ? &t_base[r] : &t_op[r];
        op_fn one = r % 2 ? op : base, two = r % 2 ? base : op;

        start = now_s();
        for (i = 0; i < n; i++)
            one(b);
        *first = (now_s() - start) / n;
        start = now_s();
        for (i = 0; i < n; i++)
            two(b);
        *second = (now_s() - start) / n;
        ratio[r] = t_op[r] / t_base[r];
    }
    qsort(t_op, (size_t)rounds, sizeof(double), compare);
    qsort(t_base, (size_t)rounds, sizeof(double), compare);
    qsort(ratio, (size_t)rounds, sizeof(double), compare);
    *op_s = t_op[rounds / 2];
    *base_s = t_base[rounds / 2];
    result = ratio[rounds / 2];
    free(t_op);
    free(t_base);
    free(ratio);
    return result;
}

/* One table row: `op` against `base`, timed by time_pair; `what`, then the
 * label (TLS or plain) in parentheses. */
static void time_row(bench *b, op_fn op, op_fn base, int rounds, const char *id,
                     const char *label, const char *what, const char *base_name,
                     const char *goal)
{
    double t_op, t_base, ratio = time_pair(b, op, base, rounds, 10, &t_op, &t_base);

    printf("ROW %s-%s | %s (%s) | %.1f us | %s: %.1f us | %.3f | %s\n", id, label, what, label,
           t_op * 1e6, base_name, t_base * 1e6, ratio, goal);
}

/* Allocations per refresh and per API call, through a counting allocator
 * (its own process: the timed runs use the default allocator, as an
 * application does). */
static int run_allocs(const char *base, const char *ca)
{
    bbo_allocator counting = { BBO_ALLOCATOR_VERSION, count_alloc, count_release, NULL };
    const char *label = strncmp(base, "https:", 6) == 0 ? "TLS" : "plain";
    size_t before;
    bench b;
    int i;

    if (bbo_global_set_allocator(&counting) != BBO_OK)
        return 1;
    setup(&b, base, ca);
    op_refresh(&b); /* connection up */
    before = allocations;
    for (i = 0; i < 100; i++)
        op_refresh(&b);
    printf("ROW refresh-allocs-%s | allocations per refresh (%s) | %.1f | | | < 30\n", label,
           label, (double)(allocations - before) / 100);
    op_api(&b);
    before = allocations;
    for (i = 0; i < 100; i++)
        op_api(&b);
    printf("ROW api-allocs-%s | allocations per API call (%s) | %.1f | | | -\n", label, label,
           (double)(allocations - before) / 100);
    teardown(&b);
    bbo_global_set_allocator(NULL);
    return 0;
}

static int run_time(const char *base, const char *ca, int rounds)
{
    const char *label = strncmp(base, "https:", 6) == 0 ? "TLS" : "plain";
    bench b;

    setup(&b, base, ca);
    time_row(&b, op_refresh, op_post, rounds, "refresh-time", label,
             "refresh, wall time, reused connection", "bare libcurl POST", "<= 1.05");
    time_row(&b, op_session_refresh, op_post, rounds, "session-refresh-time", label,
             "bbo_session_refresh, wall time", "bare libcurl POST", "<= 1.05");
    time_row(&b, op_send, op_post, rounds, "send-time", label,
             "where a refresh's time goes: the request sent through the transport only",
             "bare libcurl POST", "-");
    time_row(&b, op_send_parse, op_post, rounds, "send-parse-time", label,
             "where a refresh's time goes: sent, then the answer parsed",
             "bare libcurl POST", "-");
    time_row(&b, op_api, op_get, rounds, "api-time", label, "API call GET /user, wall time",
             "bare libcurl GET", "<= 1.1");
    teardown(&b);
    return 0;
}

static int run_count(const char *name, const char *base, const char *ca, int n)
{
    op_fn op = op_named(name);
    bench b;
    int i;

    setup(&b, base, ca);
    for (i = 0; i < 10; i++) /* connection up, caches warm: not counted */
        op(&b);
    CALLGRIND_TOGGLE_COLLECT;
    for (i = 0; i < n; i++)
        op(&b);
    CALLGRIND_TOGGLE_COLLECT;
    teardown(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if (argc == 5 && strcmp(argv[1], "time") == 0)
        rc = run_time(argv[2], argv[3], atoi(argv[4]));
    else if (argc == 4 && strcmp(argv[1], "allocs") == 0)
        rc = run_allocs(argv[2], argv[3]);
    else if (argc == 6 && strcmp(argv[1], "count") == 0)
        rc = run_count(argv[2], argv[3], argv[4], atoi(argv[5]));
    else {
        fprintf(stderr, "usage: bench_refresh time BASE_URL CA_FILE ROUNDS\n"
                        "       bench_refresh allocs BASE_URL CA_FILE\n"
                        "       bench_refresh count OP BASE_URL CA_FILE N\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
