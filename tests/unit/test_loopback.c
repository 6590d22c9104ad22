/*
 * The loopback redirect receiver (RFC 8252) and the browser launcher: which
 * callback URLs are accepted, where the socket listens, and the wait against
 * a "browser" thread that speaks raw HTTP/1.1 over a plain socket: stray,
 * forged, hostile, idle and oversized requests, denial, timeouts, SIGPIPE,
 * leaks of memory and descriptors, allocation failures.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal/loopback.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CODE "c0de-Zq7xW9-unique"
#define WAIT_MS 10000
#define RESPONSE_MAX 8192
#define MAX_STEPS 12

/* ------------------------------------------------------------------------
 * Process state: live blocks and open descriptors must come back.
 */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int count_fds(void)
{
    return count_dir("/proc/self/fd");
}

typedef struct {
    long live;
    int fds;
} baseline;

static baseline baseline_take(void)
{
    baseline b;

    b.live = bbo_test_alloc_live();
    b.fds = count_fds();
    return b;
}

static void baseline_check(const baseline *b)
{
    assert_int_equal(bbo_test_alloc_live(), b->live);
    assert_int_equal(count_fds(), b->fds);
}

/* ------------------------------------------------------------------------
 * Sockets seen from the outside.
 */

static int port_of(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return -1;
}

/* The listening sockets of this process on `port`; *addr gets the address
 * of the last one. */
static int listeners_on(int port, struct sockaddr_storage *addr)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int count = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct sockaddr_storage a;
        socklen_t len = sizeof(a), olen;
        int fd = atoi(e->d_name), on = 0;

        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
            continue;
        olen = sizeof(on);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) != 0 || !on)
            continue;
        if (getsockname(fd, (struct sockaddr *)&a, &len) != 0 || port_of(&a) != port)
            continue;
        count++;
        if (addr)
            *addr = a;
    }
    closedir(d);
    return count;
}

static int make_addr(struct sockaddr_storage *a, int family, int port)
{
    memset(a, 0, sizeof(*a));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)a;

        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        a6->sin6_port = htons((uint16_t)port);
        return (int)sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)a;

        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons((uint16_t)port);
        return (int)sizeof(*a4);
    }
}

/* A socket bound to the loopback address of `family`, port 0 for any;
 * listening if asked. -1 when that is impossible. */
static int bound_socket(int family, int port, int do_listen)
{
    struct sockaddr_storage a;
    int len = make_addr(&a, family, port);
    int fd = socket(family, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, (socklen_t)len) != 0 ||
        (do_listen && listen(fd, 1) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int free_port(void)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    int fd = bound_socket(AF_INET, 0, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = port_of(&a);
    close(fd);
    assert_true(port > 0);
    return port;
}

/*
 * Skip the rest of a test. cmocka 1.1.5 writes a skipped test in TAP as
 * "not ok N # SKIP", which meson counts as a failure; under TAP the reason
 * goes into a TAP comment and the test passes instead. The caller returns
 * right after.
 */
static void skip_because(const char *why)
{
    const char *output = getenv("CMOCKA_MESSAGE_OUTPUT");

    if (output && strcmp(output, "TAP") == 0) {
        printf("# skipped: %s\n", why);
        fflush(stdout);
        return;
    }
    skip();
}

static int have_ipv6_loopback(void)
{
    int fd = bound_socket(AF_INET6, 0, 0);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* ------------------------------------------------------------------------
 * The browser: a thread that runs a list of connections one after the
 * other, each read to the end before the next starts, so the receiver
 * sees them in this order. It never touches the library or cmocka.
 */

enum {
    SEND_AND_READ,  /* send the request, read the answer until EOF */
    SEND_AND_CLOSE, /* send the request and close at once, reading nothing */
    SEND_NOTHING,   /* connect and close */
    HOLD_IDLE,      /* connect, send nothing, keep it open until the end */
    SEND_SPLIT      /* send all but the last bytes, and the rest (then read the
                       answer) only before the next SEND_AND_READ: the receiver
                       is kept busy while the steps in between queue up */
};

typedef struct {
    int kind;
    char *request;
    size_t len;
    int connect_error;
    int send_error;
    int read_error;
    size_t response_len;
    char response[RESPONSE_MAX + 1];
} step;

typedef struct {
    int family;
    int port;
    int nsteps;
    step steps[MAX_STEPS];
    pthread_t thread;
} browser;

static void browser_init(browser *b, int family, int port)
{
    memset(b, 0, sizeof(*b));
    b->family = family;
    b->port = port;
}

static step *browser_add(browser *b, int kind, const char *request, size_t len)
{
    step *s;

    assert_true(b->nsteps < MAX_STEPS);
    s = &b->steps[b->nsteps++];
    s->kind = kind;
    s->len = len;
    if (request) {
        s->request = malloc(len + 1);
        assert_non_null(s->request);
        memcpy(s->request, request, len);
        s->request[len] = '\0';
    }
    return s;
}

/* A browser's GET for `target`. Asks for keep-alive: the receiver must
 * close anyway. */
static step *browser_get(browser *b, int kind, const char *target)
{
    char request[2048];
    int n = snprintf(request, sizeof(request),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: bbo-test/1.0\r\n"
                     "Accept: text/html\r\nConnection: keep-alive\r\n\r\n",
                     target, b->family == AF_INET6 ? "[::1]" : "127.0.0.1", b->port);

    assert_true(n > 0 && (size_t)n < sizeof(request));
    return browser_add(b, kind, request, (size_t)n);
}

static int browser_connect(const browser *b)
{
    struct sockaddr_storage a;
    int len = make_addr(&a, b->family, b->port);
    struct timeval tv = { 15, 0 }; /* a broken receiver must not hang the test */
    int fd = socket(b->family, SOCK_STREAM, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, (socklen_t)len) != 0) {
        int error = errno;

        close(fd);
        return -error;
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void read_all(int fd, step *s)
{
    for (;;) {
        ssize_t n = recv(fd, s->response + s->response_len, RESPONSE_MAX - s->response_len, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->read_error = errno;
            break;
        }
        if (n == 0 || (s->response_len += (size_t)n) == RESPONSE_MAX)
            break;
    }
    s->response[s->response_len] = '\0';
}

static void finish_split(step *s, int *fd)
{
    if (*fd < 0)
        return;
    if (!s->send_error)
        s->send_error = send_all(*fd, s->request + s->len - 2, 2);
    read_all(*fd, s);
    close(*fd);
    *fd = -1;
}

static void *browser_main(void *arg)
{
    browser *b = arg;
    int held = -1, split = -1, i;
    step *split_step = NULL;

    for (i = 0; i < b->nsteps; i++) {
        step *s = &b->steps[i];
        int fd;

        if (s->kind == SEND_AND_READ)
            finish_split(split_step, &split);
        if ((fd = browser_connect(b)) < 0) {
            s->connect_error = -fd;
            continue;
        }
        if (s->kind == HOLD_IDLE) {
            held = fd;
            continue;
        }
        if (s->kind == SEND_SPLIT) {
            s->send_error = send_all(fd, s->request, s->len - 2);
            split = fd;
            split_step = s;
            continue;
        }
        if (s->kind != SEND_NOTHING)
            s->send_error = send_all(fd, s->request, s->len);
        if (s->kind == SEND_AND_READ)
            read_all(fd, s);
        close(fd);
    }
    finish_split(split_step, &split);
    if (held >= 0)
        close(held);
    return NULL;
}

static void browser_start(browser *b)
{
    assert_int_equal(pthread_create(&b->thread, NULL, browser_main, b), 0);
}

static void browser_finish(browser *b)
{
    int i;

    assert_int_equal(pthread_join(b->thread, NULL), 0);
    for (i = 0; i < b->nsteps; i++) {
        free(b->steps[i].request);
        b->steps[i].request = NULL;
    }
}

/* ------------------------------------------------------------------------
 * One login: a consumer, a receiver and a transaction for its redirect_uri.
 */

typedef struct {
    baseline base;
    bbo_consumer *consumer;
    bbo_loopback *lb;
    bbo_authorization *auth;
    const char *state;
    char wrong_state[64];
    const char *code; /* the code the browser brings */
} fixture;

static void fixture_open(fixture *f, const char *callback_url)
{
    memset(f, 0, sizeof(*f));
    f->base = baseline_take();
    f->code = CODE;
    assert_int_equal(bbo_consumer_new(&f->consumer, "the-key", "the-secret"), BBO_OK);
    assert_int_equal(bbo_loopback_new(&f->lb, callback_url), BBO_OK);
    assert_int_equal(
        bbo_authorization_begin_ex(&f->auth, f->consumer, bbo_loopback_redirect_uri(f->lb), 0),
        BBO_OK);
    assert_string_equal(bbo_authorization_redirect_uri(f->auth), bbo_loopback_redirect_uri(f->lb));
    f->state = bbo_authorization_state(f->auth);
    assert_int_equal(strlen(f->state), 43);
    memcpy(f->wrong_state, f->state, 44);
    f->wrong_state[10] = f->wrong_state[10] == 'A' ? 'B' : 'A';
}

static void fixture_close(fixture *f)
{
    bbo_authorization_free(f->auth);
    bbo_loopback_free(f->lb);
    bbo_consumer_free(f->consumer);
    baseline_check(&f->base);
}

/* "/callback?code=<code>&state=<state>" */
static const char *callback_target(char *buf, size_t size, const char *code, const char *state)
{
    int n = snprintf(buf, size, "/callback?code=%s&state=%s", code, state);

    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

static int response_status(const step *s)
{
    int status = 0;

    if (s->response_len < 13 || strncmp(s->response, "HTTP/1.1 ", 9) != 0 ||
        sscanf(s->response + 9, "%3d", &status) != 1)
        return 0;
    return status;
}

/* `line` ("\r\nName: value") appears in the response head. */
static int head_has(const step *s, const char *line)
{
    const char *end = strstr(s->response, "\r\n\r\n"), *at = strstr(s->response, line);

    return end && at && at < end + 2;
}

/* The browser got a complete page with `status` containing `phrase`, and
 * neither the code nor the state appear anywhere in the answer. */
static void assert_page(const fixture *f, const step *s, int status, const char *phrase)
{
    const char *body;
    char length[64];

    assert_int_equal(s->connect_error, 0);
    assert_int_equal(s->send_error, 0);
    assert_int_equal(s->read_error, 0);
    assert_int_equal(response_status(s), status);
    assert_true(head_has(s, "\r\nContent-Type: text/html"));
    assert_true(head_has(s, "\r\nConnection: close\r\n"));
    assert_true(head_has(s, "\r\nCache-Control: no-store\r\n"));
    body = strstr(s->response, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n", strlen(body));
    assert_true(head_has(s, length));
    assert_non_null(strstr(body, "<html"));
    assert_non_null(strstr(body, phrase));
    assert_null(strstr(s->response, f->state));
    assert_null(strstr(s->response, f->wrong_state));
    assert_null(strstr(s->response, f->code));
    assert_null(strstr(s->response, "code="));
    assert_null(strstr(s->response, "state="));
}

/* The receiver stopped listening. */
static void assert_closed(int port)
{
    assert_int_equal(listeners_on(port, NULL), 0);
}

/* ------------------------------------------------------------------------
 * bbo_loopback_new
 */

/* `url` gives the redirect_uri origin + ":<port>" + path. */
static void assert_new_ok(const char *url, const char *origin, const char *path, int expect_family)
{
    baseline base = baseline_take();
    struct sockaddr_storage a;
    bbo_loopback *lb = NULL;
    char expect[128];
    int port;

    assert_int_equal(bbo_loopback_new(&lb, url), BBO_OK);
    assert_non_null(lb);
    port = bbo_loopback_port(lb);
    assert_true(port > 0 && port < 65536);
    snprintf(expect, sizeof(expect), "%s:%d%s", origin, port, path);
    assert_string_equal(bbo_loopback_redirect_uri(lb), expect);
    /* exactly one socket listens on that port, and only on loopback */
    assert_int_equal(listeners_on(port, &a), 1);
    assert_int_equal(a.ss_family, expect_family);
    if (expect_family == AF_INET)
        assert_int_equal(ntohl(((struct sockaddr_in *)&a)->sin_addr.s_addr), INADDR_LOOPBACK);
    else
        assert_memory_equal(&((struct sockaddr_in6 *)&a)->sin6_addr, &in6addr_loopback,
                            sizeof(in6addr_loopback));
    assert_int_equal(count_fds(), base.fds + 1);
    bbo_loopback_free(lb);
    assert_int_equal(listeners_on(port, NULL), 0);
    baseline_check(&base);
}

static void test_new_default(void **unused)
{
    (void)unused;
    assert_new_ok(NULL, "http://127.0.0.1", "/callback", AF_INET);
    assert_new_ok("http://127.0.0.1/callback", "http://127.0.0.1", "/callback", AF_INET);
    assert_new_ok("http://127.0.0.1/a/b", "http://127.0.0.1", "/a/b", AF_INET);
    assert_new_ok("http://127.0.0.1", "http://127.0.0.1", "/", AF_INET);
}

static void test_new_ephemeral_ports_differ(void **unused)
{
    baseline base = baseline_take();
    bbo_loopback *a = NULL, *b = NULL;

    (void)unused;
    assert_int_equal(bbo_loopback_new(&a, NULL), BBO_OK);
    assert_int_equal(bbo_loopback_new(&b, NULL), BBO_OK);
    assert_int_not_equal(bbo_loopback_port(a), bbo_loopback_port(b));
    bbo_loopback_free(a);
    bbo_loopback_free(b);
    bbo_loopback_free(NULL);
    assert_null(bbo_loopback_redirect_uri(NULL));
    assert_int_equal(bbo_loopback_port(NULL), 0);
    baseline_check(&base);
}

static void test_new_explicit_port(void **unused)
{
    baseline base = baseline_take();
    bbo_loopback *lb = NULL;
    char url[64];
    int port = free_port();

    (void)unused;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cb", port);
    assert_int_equal(bbo_loopback_new(&lb, url), BBO_OK);
    assert_int_equal(bbo_loopback_port(lb), port);
    assert_string_equal(bbo_loopback_redirect_uri(lb), url);
    assert_int_equal(listeners_on(port, NULL), 1);
    bbo_loopback_free(lb);
    baseline_check(&base);
}

static void test_new_ipv6(void **unused)
{
    (void)unused;
    if (!have_ipv6_loopback()) {
        skip_because("no IPv6 loopback on this machine");
        return;
    }
    assert_new_ok("http://[::1]/cb", "http://[::1]", "/cb", AF_INET6);
}

static void test_new_refused(void **unused)
{
    static const char *const bad[] = {
        "https://127.0.0.1/callback",     /* not plain http */
        "ftp://127.0.0.1/callback",
        "http://localhost/callback",      /* a name, not the address */
        "http://LOCALHOST/callback",
        "http://192.168.1.1/callback",    /* not loopback */
        "http://0.0.0.0/callback",        /* all interfaces */
        "http://[::]/callback",
        "http://127.0.0.2/callback",      /* only 127.0.0.1 itself */
        "http://127.0.0.1.example.com/callback",
        "http://user@127.0.0.1/callback",
        "http://127.0.0.1/callback?x=1",  /* a query */
        "http://127.0.0.1/callback?",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1/call back",
        "127.0.0.1/callback",
        "",
    };
    baseline base = baseline_take();
    bbo_loopback *sentinel = (bbo_loopback *)&base, *lb;
    size_t i;

    (void)unused;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lb = sentinel;
        if (bbo_loopback_new(&lb, bad[i]) != BBO_EINVAL)
            fail_msg("\"%s\" was not refused with BBO_EINVAL", bad[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
        assert_ptr_equal(lb, sentinel);
        baseline_check(&base);
    }
    assert_int_equal(bbo_loopback_new(NULL, NULL), BBO_EINVAL);
    assert_int_equal(bbo_loopback_new(NULL, "http://127.0.0.1/callback"), BBO_EINVAL);
    baseline_check(&base);
}

static void test_new_port_taken(void **unused)
{
    baseline base = baseline_take();
    bbo_loopback *lb = NULL, *other = NULL;
    char url[64];
    int port = free_port(), taker;

    (void)unused;
    /* by a socket of someone else */
    taker = bound_socket(AF_INET, port, 1);
    assert_true(taker >= 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/callback", port);
    lb = (bbo_loopback *)&base;
    assert_int_equal(bbo_loopback_new(&lb, url), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_ptr_equal(lb, (bbo_loopback *)&base);
    close(taker);
    baseline_check(&base);

    /* by another receiver */
    assert_int_equal(bbo_loopback_new(&other, NULL), BBO_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/callback", bbo_loopback_port(other));
    lb = NULL;
    assert_int_equal(bbo_loopback_new(&lb, url), BBO_EIO);
    assert_null(lb);
    bbo_loopback_free(other);
    baseline_check(&base);
}

static int new_op(void *ctx)
{
    return bbo_loopback_new((bbo_loopback **)ctx, "http://127.0.0.1/callback");
}

static void new_cleanup(void *ctx)
{
    bbo_loopback_free(*(bbo_loopback **)ctx);
}

static void test_new_oom(void **unused)
{
    baseline base = baseline_take();
    bbo_loopback *lb = NULL;

    (void)unused;
    bbo_test_oom_torture(new_op, new_cleanup, &lb);
    baseline_check(&base);
}

/* ------------------------------------------------------------------------
 * bbo_loopback_wait
 */

/* Run `b` against the fixture's receiver; returns the wait's code. */
static int run_wait(fixture *f, browser *b, int timeout_ms, char **code)
{
    int rc;

    browser_start(b);
    rc = bbo_loopback_wait(f->lb, f->auth, timeout_ms, code);
    browser_finish(b);
    return rc;
}

static void test_wait_success(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL, *again = (char *)"untouched";
    int port;

    (void)unused;
    fixture_open(&f, "http://127.0.0.1/callback");
    f.code = "abc";
    port = bbo_loopback_port(f.lb);
    browser_init(&b, AF_INET, port);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), "abc", f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, "abc");
    bbo_free(code);
    assert_page(&f, &b.steps[0], 200, "close this window");
    assert_true(head_has(&b.steps[0], "\r\nContent-Type: text/html; charset=utf-8\r\n"));
    assert_closed(port);

    /* a receiver serves one login */
    assert_int_equal(bbo_loopback_wait(f.lb, f.auth, WAIT_MS, &again), BBO_EINVAL);
    assert_string_equal(again, "untouched");
    fixture_close(&f);
}

static void test_wait_invalid_arguments(void **unused)
{
    fixture f;
    char *code = NULL;
    int port;

    (void)unused;
    fixture_open(&f, NULL);
    port = bbo_loopback_port(f.lb);
    assert_int_equal(bbo_loopback_wait(NULL, f.auth, WAIT_MS, &code), BBO_EINVAL);
    assert_int_equal(bbo_loopback_wait(f.lb, NULL, WAIT_MS, &code), BBO_EINVAL);
    assert_int_equal(bbo_loopback_wait(f.lb, f.auth, WAIT_MS, NULL), BBO_EINVAL);
    assert_int_equal(bbo_loopback_wait(f.lb, f.auth, 0, &code), BBO_EINVAL);
    assert_int_equal(bbo_loopback_wait(f.lb, f.auth, -5, &code), BBO_EINVAL);
    assert_null(code);
    /* none of them used the receiver up */
    assert_int_equal(listeners_on(port, NULL), 1);
    fixture_close(&f);
}

static void test_wait_stray_request_then_success(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, "/favicon.ico");
    browser_get(&b, SEND_AND_READ, "/");
    /* the right query on a path that only starts like the callback */
    snprintf(target, sizeof(target), "/callbackx?code=%s&state=%s", CODE, f.state);
    browser_get(&b, SEND_AND_READ, target);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 404, "Not found");
    assert_page(&f, &b.steps[1], 404, "Not found");
    assert_page(&f, &b.steps[2], 404, "Not found");
    assert_page(&f, &b.steps[3], 200, "close this window");
    fixture_close(&f);
}

static void test_wait_wrong_state_then_success(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.wrong_state));
    snprintf(target, sizeof(target), "/callback?code=%s", CODE); /* no state */
    browser_get(&b, SEND_AND_READ, target);
    snprintf(target, sizeof(target), "/callback?error=access_denied&state=%s", f.wrong_state);
    browser_get(&b, SEND_AND_READ, target); /* a forged denial must not end the login */
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 400, "does not belong to the login in progress");
    assert_page(&f, &b.steps[1], 400, "does not belong to the login in progress");
    assert_page(&f, &b.steps[2], 400, "does not belong to the login in progress");
    assert_page(&f, &b.steps[3], 200, "close this window");
    fixture_close(&f);
}

/* A query too broken to parse may come from any local process: it gets an
 * error page and the real redirect still completes the login */
static void test_wait_malformed_then_success(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, "/callback?%zz");
    browser_get(&b, SEND_AND_READ, "/callback?code=%00&state=x");
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 400, "could not be read");
    assert_page(&f, &b.steps[2], 200, "close this window");
    fixture_close(&f);
}

static void test_wait_only_wrong_states(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.wrong_state));
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.wrong_state));
    assert_int_equal(run_wait(&f, &b, 1500, &code), BBO_ESTATE);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ESTATE);
    assert_null(code);
    assert_page(&f, &b.steps[0], 400, "Login failed");
    assert_page(&f, &b.steps[1], 400, "Login failed");
    assert_closed(b.port);
    /* the forgeries did not use the transaction up */
    assert_int_equal(bbo_authorization_complete(
                         f.auth, callback_target(target, sizeof(target), CODE, f.state), &code),
                     BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    fixture_close(&f);
}

static void test_wait_timeout(void **unused)
{
    fixture f;
    char *code = NULL;
    int64_t start, elapsed;

    (void)unused;
    fixture_open(&f, NULL);
    start = now_ms();
    assert_int_equal(bbo_loopback_wait(f.lb, f.auth, 300, &code), BBO_ETIMEOUT);
    elapsed = now_ms() - start;
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ETIMEOUT);
    assert_null(code);
    assert_true(elapsed >= 250);
    assert_true(elapsed < 5000);
    assert_closed(bbo_loopback_port(f.lb));
    fixture_close(&f);
}

static void test_wait_denied(void **unused)
{
    fixture f;
    browser b;
    char target[512], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    snprintf(target, sizeof(target),
             "/callback?error=access_denied&error_description=%%3Cscript%%3EEVIL%%3C%%2Fscript"
             "%%3E+No+way&state=%s",
             f.state);
    browser_get(&b, SEND_AND_READ, target);
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_EDENIED);
    assert_null(code);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EDENIED);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "access_denied");
    assert_page(&f, &b.steps[0], 400, "Access was denied");
    assert_null(strstr(b.steps[0].response, "EVIL"));
    assert_null(strstr(b.steps[0].response, "script"));
    assert_null(strstr(b.steps[0].response, "No way"));
    assert_null(strstr(b.steps[0].response, "access_denied"));
    assert_closed(b.port);
    fixture_close(&f);
}

static void test_wait_oauth_error(void **unused)
{
    fixture f;
    browser b;
    char target[512], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    snprintf(target, sizeof(target),
             "/callback?error=invalid_scope&error_description=SERVERTEXT&state=%s", f.state);
    browser_get(&b, SEND_AND_READ, target);
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_EOAUTH);
    assert_null(code);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_scope");
    assert_page(&f, &b.steps[0], 400, "Bitbucket reported an error");
    assert_null(strstr(b.steps[0].response, "SERVERTEXT"));
    assert_null(strstr(b.steps[0].response, "invalid_scope"));
    fixture_close(&f);
}

static void test_wait_hostile_connections(void **unused)
{
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage";
    static const char brew[] = "BREW /pot HTCPCP/1.0\r\n\r\n";
    fixture f;
    browser b;
    char target[256], request[512], *code = NULL;
    int n;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_add(&b, SEND_NOTHING, NULL, 0);
    browser_add(&b, SEND_AND_CLOSE, tls_hello, sizeof(tls_hello) - 1);
    browser_add(&b, SEND_AND_READ, brew, strlen(brew));
    n = snprintf(request, sizeof(request), "POST /callback?code=%s&state=%s HTTP/1.1\r\n\r\n",
                 CODE, f.state);
    browser_add(&b, SEND_AND_READ, request, (size_t)n);
    browser_add(&b, SEND_AND_READ, "GET\r\n\r\n", 7);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_int_equal(b.steps[0].connect_error, 0);
    assert_int_equal(b.steps[1].connect_error, 0);
    assert_page(&f, &b.steps[2], 400, "Only a GET");
    assert_page(&f, &b.steps[3], 400, "Only a GET");
    assert_page(&f, &b.steps[4], 400, "Only a GET");
    assert_page(&f, &b.steps[5], 200, "close this window");
    fixture_close(&f);
}

/* A valid redirect padded with a header to exactly `total` bytes. */
static step *add_padded(browser *b, const fixture *f, size_t total)
{
    char head[256];
    char *request;
    int n = snprintf(head, sizeof(head),
                     "GET /callback?code=%s&state=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "X-Pad: ", CODE, f->state, b->port);
    step *s;

    assert_true(n > 0 && (size_t)n + 4 < total);
    request = malloc(total);
    assert_non_null(request);
    memcpy(request, head, (size_t)n);
    memset(request + n, 'p', total - (size_t)n - 4);
    memcpy(request + total - 4, "\r\n\r\n", 4);
    s = browser_add(b, SEND_AND_READ, request, total);
    free(request);
    return s;
}

static void test_wait_oversized_request(void **unused)
{
    fixture f;
    browser b;
    char *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    add_padded(&b, &f, 16384 + 1);
    add_padded(&b, &f, 64 * 1024);
    add_padded(&b, &f, 16384);
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    /* refused: no answer at all (the connection may be reset) */
    assert_int_equal(b.steps[0].response_len, 0);
    assert_int_equal(b.steps[1].response_len, 0);
    assert_page(&f, &b.steps[2], 200, "close this window");
    fixture_close(&f);
}

/* A browser that closes before reading the answer must not kill the
 * application with SIGPIPE. */
static void test_wait_browser_gone(void **unused)
{
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    /* while the receiver waits for the end of the first request, two more
     * are sent and closed: when their turn comes, the browser is gone */
    browser_get(&b, SEND_SPLIT, "/favicon.ico");
    browser_get(&b, SEND_AND_CLOSE, callback_target(target, sizeof(target), CODE, f.wrong_state));
    browser_get(&b, SEND_AND_CLOSE, "/favicon.ico");
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 404, "Not found");
    assert_page(&f, &b.steps[3], 200, "close this window");
    fixture_close(&f);
    signal(SIGPIPE, old);
}

/* A browser may open a connection it never uses (a preconnect): it must
 * not hold up the redirect that comes on the next one. */
static void test_wait_idle_connection(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_add(&b, HOLD_IDLE, NULL, 0);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[1], 200, "close this window");
    fixture_close(&f);
}

static void test_wait_ipv6(void **unused)
{
    fixture f;
    browser b;
    char target[256], expect[64], *code = NULL;

    (void)unused;
    if (!have_ipv6_loopback()) {
        skip_because("no IPv6 loopback on this machine");
        return;
    }
    fixture_open(&f, "http://[::1]/cb");
    snprintf(expect, sizeof(expect), "http://[::1]:%d/cb", bbo_loopback_port(f.lb));
    assert_string_equal(bbo_loopback_redirect_uri(f.lb), expect);
    browser_init(&b, AF_INET6, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, "/callback"); /* the path is /cb here */
    snprintf(target, sizeof(target), "/cb?state=%s&code=%s", f.state, CODE);
    browser_get(&b, SEND_AND_READ, target);
    assert_int_equal(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 404, "Not found");
    assert_page(&f, &b.steps[1], 200, "close this window");
    fixture_close(&f);
}

/* Every allocation of the wait failing in turn: BBO_ENOMEM, nothing leaks. */
static void test_wait_oom(void **unused)
{
    long n;

    (void)unused;
    for (n = 0; n < 1000; n++) {
        fixture f;
        browser b;
        char target[256], *code = NULL;
        int rc;

        fixture_open(&f, NULL);
        browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
        browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
        browser_start(&b);
        bbo_test_alloc_fail_after(n);
        rc = bbo_loopback_wait(f.lb, f.auth, WAIT_MS, &code);
        bbo_test_alloc_fail_after(-1);
        browser_finish(&b);
        if (rc == BBO_OK) {
            assert_string_equal(code, CODE);
            bbo_free(code);
            assert_page(&f, &b.steps[0], 200, "close this window");
            fixture_close(&f);
            assert_true(n > 0);
            return;
        }
        if (rc != BBO_ENOMEM)
            fail_msg("allocation %ld failing gave %d, not BBO_ENOMEM", n, rc);
        assert_null(code);
        assert_closed(b.port);
        fixture_close(&f);
    }
    fail_msg("the wait never succeeded");
}

/* ------------------------------------------------------------------------
 * Connections that must not hold up the redirect: idle ones, a flood, and
 * a page of another site (DNS rebinding).
 */

/* Other local processes' connections, from a thread of their own. */
typedef struct {
    int family;
    int port;
    int total;         /* connections to open in all (-1: until stopped) */
    int pause_ms;      /* between two */
    int held[64];      /* the newest ones are kept open; older ones closed */
    int opened;        /* read by the browser thread */
    int stop;
    pthread_mutex_t lock;
    pthread_t thread;
} flood;

static int flood_opened(flood *fl)
{
    int n;

    pthread_mutex_lock(&fl->lock);
    n = fl->opened;
    pthread_mutex_unlock(&fl->lock);
    return n;
}

static void *flood_main(void *arg)
{
    flood *fl = arg;
    browser conn_maker;
    int i;

    browser_init(&conn_maker, fl->family, fl->port);
    for (i = 0; fl->total < 0 || i < fl->total; i++) {
        int fd, *slot = &fl->held[i % 64];

        pthread_mutex_lock(&fl->lock);
        if (fl->stop) {
            pthread_mutex_unlock(&fl->lock);
            break;
        }
        pthread_mutex_unlock(&fl->lock);
        if (*slot > 0)
            close(*slot);
        fd = browser_connect(&conn_maker); /* and then say nothing */
        *slot = fd > 0 ? fd : 0;
        pthread_mutex_lock(&fl->lock);
        fl->opened++;
        pthread_mutex_unlock(&fl->lock);
        if (fl->pause_ms)
            sleep_ms(fl->pause_ms);
    }
    return NULL;
}

static void flood_start(flood *fl, int port, int total, int pause_ms)
{
    memset(fl, 0, sizeof(*fl));
    fl->family = AF_INET;
    fl->port = port;
    fl->total = total;
    fl->pause_ms = pause_ms;
    assert_int_equal(pthread_mutex_init(&fl->lock, NULL), 0);
    assert_int_equal(pthread_create(&fl->thread, NULL, flood_main, fl), 0);
}

static void flood_finish(flood *fl)
{
    int i;

    pthread_mutex_lock(&fl->lock);
    fl->stop = 1;
    pthread_mutex_unlock(&fl->lock);
    assert_int_equal(pthread_join(fl->thread, NULL), 0);
    for (i = 0; i < 64; i++)
        if (fl->held[i] > 0)
            close(fl->held[i]);
    pthread_mutex_destroy(&fl->lock);
}

/* The browser thread's work once the flood has opened `after` connections. */
typedef struct {
    browser *b;
    flood *fl;
    int after;
} late_browser;

static void *late_browser_main(void *arg)
{
    late_browser *lbr = arg;

    while (flood_opened(lbr->fl) < lbr->after)
        sleep_ms(5);
    return browser_main(lbr->b);
}

/* A flood of connections that say nothing, `pause_ms` apart, with the
 * redirect sent after `after` of them: the login completes. Served one at
 * a time with 2 s each, the redirect would wait past the timeout. */
static void run_flood(int total, int pause_ms, int after)
{
    fixture f;
    browser b;
    flood fl;
    late_browser lbr;
    char target[256], *code = NULL;
    int rc;

    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    flood_start(&fl, b.port, total, pause_ms);
    lbr.b = &b;
    lbr.fl = &fl;
    lbr.after = after;
    assert_int_equal(pthread_create(&b.thread, NULL, late_browser_main, &lbr), 0);
    /* served one at a time the redirect would wait for ever (or 200 x 2 s):
     * a long wait still tells, and leaves room for slow machines */
    rc = bbo_loopback_wait(f.lb, f.auth, 6 * WAIT_MS, &code);
    browser_finish(&b);
    flood_finish(&fl);
    assert_rc(rc, BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 200, "close this window");
    fixture_close(&f);
}

/* A new silent connection every 20 ms, without end. */
static void test_wait_flood(void **unused)
{
    (void)unused;
    run_flood(-1, 20, 25);
}

/* 200 silent connections at once: more than the receiver keeps open. */
static void test_wait_flood_burst(void **unused)
{
    (void)unused;
    run_flood(200, 0, 200);
}

/* Eight connections that stay silent (or stop mid-request) while the
 * redirect comes: served one at a time, 2 s each, they would outlast the
 * 10 s wait. */
static void test_wait_many_idle(void **unused)
{
    fixture f;
    browser b;
    char target[256], *code = NULL;
    int idle[8], i;

    (void)unused;
    fixture_open(&f, NULL);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    for (i = 0; i < 8; i++) {
        idle[i] = browser_connect(&b);
        assert_true(idle[i] >= 0);
        if (i % 2)
            assert_int_equal(send_all(idle[i], "GET /callback?code=", 19), 0);
    }
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 200, "close this window");
    for (i = 0; i < 8; i++)
        close(idle[i]);
    fixture_close(&f);
}

/* A valid redirect (right state) with the head lines `host_lines`. */
static step *add_with_host(browser *b, const fixture *f, const char *host_lines)
{
    char request[1024];
    int n = snprintf(request, sizeof(request), "GET /callback?code=%s&state=%s HTTP/1.1\r\n%s\r\n",
                     CODE, f->state, host_lines);

    assert_true(n > 0 && (size_t)n < sizeof(request));
    return browser_add(b, SEND_AND_READ, request, (size_t)n);
}

static void test_wait_wrong_host(void **unused)
{
    fixture f;
    browser b;
    char line[128], *code = NULL;
    int port, i;

    (void)unused;
    fixture_open(&f, NULL);
    port = bbo_loopback_port(f.lb);
    browser_init(&b, AF_INET, port);
    snprintf(line, sizeof(line), "Host: attacker.example:%d\r\n", port); /* DNS rebinding */
    add_with_host(&b, &f, line);
    snprintf(line, sizeof(line), "Host: 127.0.0.1:%d\r\n", port == 65535 ? 1 : port + 1);
    add_with_host(&b, &f, line);
    add_with_host(&b, &f, "Host: 127.0.0.1\r\n");
    snprintf(line, sizeof(line), "Host: localhost:%d\r\n", port); /* not the redirect_uri's */
    add_with_host(&b, &f, line);
    snprintf(line, sizeof(line), "Host: [::1]:%d\r\n", port);
    add_with_host(&b, &f, line);
    add_with_host(&b, &f, "User-Agent: no-host\r\n");
    snprintf(line, sizeof(line), "Host: 127.0.0.1:%d\r\nHost: attacker.example\r\n", port);
    add_with_host(&b, &f, line);
    snprintf(line, sizeof(line), "Host: 127.0.0.1:%d.attacker.example\r\n", port);
    add_with_host(&b, &f, line);
    /* case and white space do not matter */
    snprintf(line, sizeof(line), "hOsT: \t127.0.0.1:%d \r\n", port);
    add_with_host(&b, &f, line);
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    for (i = 0; i < 8; i++)
        assert_page(&f, &b.steps[i], 400, "on this computer only");
    assert_page(&f, &b.steps[8], 200, "close this window");
    fixture_close(&f);
}

/* RFC 9207 through the receiver: a redirect naming another issuer, or
 * naming one twice, is refused like a foreign state and the wait goes on. */
static void test_wait_wrong_issuer(void **unused)
{
    fixture f;
    browser b;
    char target[512], *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    bbo_authorization_free(f.auth);
    assert_rc(bbo_consumer_set_issuer(f.consumer, "https://bitbucket.example.com"), BBO_OK);
    assert_rc(bbo_authorization_begin_ex(&f.auth, f.consumer, bbo_loopback_redirect_uri(f.lb), 0),
              BBO_OK);
    f.state = bbo_authorization_state(f.auth);
    memcpy(f.wrong_state, f.state, 44);
    f.wrong_state[10] = f.wrong_state[10] == 'A' ? 'B' : 'A';
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    snprintf(target, sizeof(target), "/callback?code=EVIL&state=%s&iss=https%%3A%%2F%%2Fevil",
             f.state);
    browser_get(&b, SEND_AND_READ, target);
    snprintf(target, sizeof(target), "/callback?code=EVIL&state=%s&iss=https%%3A%%2F%%2F"
             "bitbucket.example.com&iss=https%%3A%%2F%%2Fevil", f.state);
    browser_get(&b, SEND_AND_READ, target);
    snprintf(target, sizeof(target), "/callback?code=%s&state=%s&iss=https%%3A%%2F%%2F"
             "bitbucket.example.com", CODE, f.state);
    browser_get(&b, SEND_AND_READ, target);
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 400, "does not belong to the login in progress");
    assert_page(&f, &b.steps[1], 400, "does not belong to the login in progress");
    assert_page(&f, &b.steps[2], 200, "close this window");
    fixture_close(&f);
}

/* The request head reader on its own: every route, and what it refuses. */
static void test_classify(void **unused)
{
    static const struct {
        const char *head;
        bbo__lb_route route;
    } cases[] = {
        { "GET /cb?code=a&state=b HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_CALLBACK },
        { "GET /cb HTTP/1.0\r\nHost: 127.0.0.1:5000\r\nA: b\r\n\r\n", BBO__LB_CALLBACK },
        { "GET /cb?x HTTP/1.1\r\nX: \xc3\xa9\r\nHOST:127.0.0.1:5000\r\n\r\n", BBO__LB_CALLBACK },
        { "GET /L4unch HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_LAUNCH },
        { "GET /L4unch? HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_NOT_FOUND },
        { "GET /l4unch HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_NOT_FOUND },
        { "GET /cbx HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_NOT_FOUND },
        { "GET /c HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_NOT_FOUND },
        { "GET / HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_NOT_FOUND },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n", BBO__LB_INCOMPLETE },
        { "", BBO__LB_INCOMPLETE },
        { "\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1\r\n\r\n", BBO__LB_BAD_HOST },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5001\r\n\r\n", BBO__LB_BAD_HOST },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:50000\r\n\r\n", BBO__LB_BAD_HOST },
        { "GET /cb HTTP/1.1\r\nHost:\r\n\r\n", BBO__LB_BAD_HOST },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nhost: 127.0.0.1:5000\r\n\r\n",
          BBO__LB_BAD_HOST },
        { "POST /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "get /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET  /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/2.0\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1 \r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET http://127.0.0.1:5000/cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n",
          BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1\r\nHost 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1\r\n Host: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nX: a\rb\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\nX: y\r\n\r\n", BBO__LB_BAD_REQUEST },
        { "GET /c\x7f HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n", BBO__LB_BAD_REQUEST },
    };
    bbo__lb_routes routes = { "127.0.0.1:5000", "/cb", "/L4unch" };
    const char *target;
    size_t i, len;
    char nul[] = "GET /cb HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nX: a\0b\r\n\r\n";

    (void)unused;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bbo__lb_route got;

        target = NULL;
        got = bbo__loopback_classify(&routes, cases[i].head, strlen(cases[i].head), &target, &len);
        if (got != cases[i].route)
            fail_msg("case %zu: route %d, expected %d", i, (int)got, (int)cases[i].route);
        if (got == BBO__LB_CALLBACK)
            assert_memory_equal(target, cases[i].head + 4, len);
    }
    assert_int_equal(bbo__loopback_classify(&routes, nul, sizeof(nul) - 1, &target, &len),
                     BBO__LB_BAD_REQUEST);
    /* no launch path: it is just another path */
    routes.launch_path = NULL;
    assert_int_equal(bbo__loopback_classify(&routes, cases[3].head, strlen(cases[3].head),
                                            &target, &len),
                     BBO__LB_NOT_FOUND);
    /* on port 80 a browser leaves the port out */
    routes.host = "127.0.0.1:80";
    assert_int_equal(bbo__loopback_classify(&routes, "GET /cb HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                                            38, &target, &len),
                     BBO__LB_CALLBACK);
    routes.host = "[::1]:8080";
    assert_int_equal(bbo__loopback_classify(&routes, "GET /cb HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
                                            39, &target, &len),
                     BBO__LB_CALLBACK);
}

/* ------------------------------------------------------------------------
 * The one-time launch URL
 */

/* The receiver's launch URL for the fixture; *path gets its path. */
static char *launch_url(fixture *f, const char **path)
{
    char prefix[64], *url = NULL;
    size_t i, plen;

    assert_rc(bbo_loopback_launch_url(f->lb, f->auth, &url), BBO_OK);
    plen = (size_t)snprintf(prefix, sizeof(prefix), "http://127.0.0.1:%d/",
                            bbo_loopback_port(f->lb));
    assert_int_equal(strncmp(url, prefix, plen), 0);
    /* 128 random bits in base64url, nothing of the transaction */
    assert_int_equal(strlen(url + plen), 22);
    for (i = plen; url[i]; i++)
        assert_true(isalnum((unsigned char)url[i]) || url[i] == '-' || url[i] == '_');
    assert_null(strstr(url, f->state));
    *path = url + plen - 1;
    return url;
}

static void test_launch_redirects_once(void **unused)
{
    fixture f;
    browser b;
    char target[256], location[4096], *code = NULL, *url;
    const char *path;

    (void)unused;
    fixture_open(&f, NULL);
    url = launch_url(&f, &path);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    snprintf(target, sizeof(target), "%s?x", path);
    browser_get(&b, SEND_AND_READ, target);   /* not the launch path */
    browser_get(&b, SEND_AND_READ, path);     /* the browser */
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 404, "Not found");
    assert_int_equal(response_status(&b.steps[1]), 302);
    snprintf(location, sizeof(location), "\r\nLocation: %s\r\n", bbo_authorization_url(f.auth));
    assert_true(head_has(&b.steps[1], location));
    assert_true(head_has(&b.steps[1], "\r\nCache-Control: no-store\r\n"));
    assert_true(head_has(&b.steps[1], "\r\nContent-Length: 0\r\n"));
    assert_page(&f, &b.steps[2], 200, "close this window");
    bbo_free(url);
    fixture_close(&f);
}

/* A second request for the launch path: two programs hold the
 * authorization URL, and the login ends before either can complete it. */
static void test_launch_reused(void **unused)
{
    fixture f;
    browser b;
    char *code = NULL, *url;
    const char *path;
    int port;

    (void)unused;
    fixture_open(&f, NULL);
    url = launch_url(&f, &path);
    port = bbo_loopback_port(f.lb);
    browser_init(&b, AF_INET, port);
    browser_get(&b, SEND_AND_READ, path);
    browser_get(&b, SEND_AND_READ, path);
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_ESTATE);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ESTATE);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "twice"));
    assert_null(code);
    assert_int_equal(response_status(&b.steps[0]), 302);
    assert_page(&f, &b.steps[1], 404, "already used");
    assert_null(strstr(b.steps[1].response, "Location"));
    assert_closed(port);
    bbo_free(url);
    fixture_close(&f);
}

/* A new launch URL replaces the old one; a request for the launch path
 * with a foreign Host does not use it up. */
static void test_launch_replaced(void **unused)
{
    fixture f;
    browser b;
    char first[64], target[256], request[256], *code = NULL, *url1, *url2;
    const char *path;
    int n;

    (void)unused;
    fixture_open(&f, NULL);
    url1 = launch_url(&f, &path);
    snprintf(first, sizeof(first), "%s", path);
    url2 = launch_url(&f, &path);
    assert_string_not_equal(url1, url2);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, first);
    n = snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
                 path);
    browser_add(&b, SEND_AND_READ, request, (size_t)n);
    browser_get(&b, SEND_AND_READ, path);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    assert_rc(run_wait(&f, &b, WAIT_MS, &code), BBO_OK);
    bbo_free(code);
    assert_page(&f, &b.steps[0], 404, "Not found");
    assert_page(&f, &b.steps[1], 400, "on this computer only");
    assert_int_equal(response_status(&b.steps[2]), 302);
    assert_page(&f, &b.steps[3], 200, "close this window");
    bbo_free(url1);
    bbo_free(url2);
    fixture_close(&f);
}

/* The process that reads the launch URL, or just knows the state, from
 * another user's account: its connections are not served. */
typedef struct {
    browser *b;
    int ready_fd; /* the other user's process writes here when done */
    char result;  /* what it wrote: 1 if it got any answer */
} after_other;

static void *after_other_main(void *arg)
{
    after_other *a = arg;

    a->result = 2;
    while (read(a->ready_fd, &a->result, 1) < 0 && errno == EINTR)
        ;
    return browser_main(a->b);
}

static void test_wait_other_user(void **unused)
{
    fixture f;
    browser b, evil;
    after_other a;
    char target[256], *code = NULL, *url;
    const char *path;
    int fds[2], status, rc;
    pid_t pid;

    (void)unused;
    if (geteuid() != 0) {
        skip_because("acting as another user needs root");
        return;
    }
    fixture_open(&f, NULL);
    url = launch_url(&f, &path);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* nobody: fetch the launch URL, then bring a redirect with the
         * right state and a code of its own; report what came back */
        char got = 0;
        int i;

        close(fds[0]);
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        browser_init(&evil, AF_INET, bbo_loopback_port(f.lb));
        browser_get(&evil, SEND_AND_READ, path);
        browser_get(&evil, SEND_AND_READ,
                    callback_target(target, sizeof(target), "EVIL-CODE", f.state));
        browser_main(&evil);
        for (i = 0; i < evil.nsteps; i++) {
            if (evil.steps[i].response_len > 0)
                got = 1;
            free(evil.steps[i].request);
        }
        (void)!write(fds[1], &got, 1);
        _exit(0);
    }
    close(fds[1]);
    browser_init(&b, AF_INET, bbo_loopback_port(f.lb));
    browser_get(&b, SEND_AND_READ, path);
    browser_get(&b, SEND_AND_READ, callback_target(target, sizeof(target), CODE, f.state));
    a.b = &b;
    a.ready_fd = fds[0];
    assert_int_equal(pthread_create(&b.thread, NULL, after_other_main, &a), 0);
    rc = bbo_loopback_wait(f.lb, f.auth, WAIT_MS, &code);
    browser_finish(&b);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    assert_rc(rc, BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    /* the other user got no answer at all, not even the redirect (its
     * exit status may be valgrind's, for memory of this process) */
    assert_true(WIFEXITED(status));
    assert_int_equal(a.result, 0);
    assert_int_equal(response_status(&b.steps[0]), 302);
    assert_page(&f, &b.steps[1], 200, "close this window");
    bbo_free(url);
    fixture_close(&f);
}

static void test_launch_invalid(void **unused)
{
    fixture f;
    bbo_authorization *other = NULL;
    char *url = (char *)"untouched", *code = NULL;

    (void)unused;
    fixture_open(&f, NULL);
    assert_rc(bbo_loopback_launch_url(NULL, f.auth, &url), BBO_EINVAL);
    assert_rc(bbo_loopback_launch_url(f.lb, NULL, &url), BBO_EINVAL);
    assert_rc(bbo_loopback_launch_url(f.lb, f.auth, NULL), BBO_EINVAL);
    /* a transaction that redirects elsewhere */
    assert_rc(bbo_authorization_begin_ex(&other, f.consumer, "http://127.0.0.1:1/callback", 0),
              BBO_OK);
    assert_rc(bbo_loopback_launch_url(f.lb, other, &url), BBO_EINVAL);
    bbo_authorization_free(other);
    assert_string_equal(url, "untouched");
    /* a used receiver */
    assert_rc(bbo_loopback_wait(f.lb, f.auth, 50, &code), BBO_ETIMEOUT);
    assert_rc(bbo_loopback_launch_url(f.lb, f.auth, &url), BBO_EINVAL);
    assert_string_equal(url, "untouched");
    fixture_close(&f);
}

typedef struct {
    bbo_consumer *consumer;
    bbo_loopback *lb;
    bbo_authorization *auth;
    char *url;
} launch_ctx;

static void launch_cleanup(void *ctx)
{
    launch_ctx *l = ctx;

    bbo_free(l->url);
    bbo_authorization_free(l->auth);
    bbo_loopback_free(l->lb);
    l->url = NULL;
    l->auth = NULL;
    l->lb = NULL;
}

/* A receiver, its transaction and its launch URL. */
static int launch_op(void *ctx)
{
    launch_ctx *l = ctx;
    int rc;

    if ((rc = bbo_loopback_new(&l->lb, NULL)) < 0 ||
        (rc = bbo_authorization_begin_ex(&l->auth, l->consumer, bbo_loopback_redirect_uri(l->lb),
                                         0)) < 0 ||
        (rc = bbo_loopback_launch_url(l->lb, l->auth, &l->url)) < 0)
        launch_cleanup(l);
    return rc;
}

static void test_launch_oom(void **unused)
{
    baseline base = baseline_take();
    launch_ctx l;

    (void)unused;
    memset(&l, 0, sizeof(l));
    assert_rc(bbo_consumer_new(&l.consumer, "the-key", NULL), BBO_OK);
    bbo_test_oom_torture(launch_op, launch_cleanup, &l);
    bbo_consumer_free(l.consumer);
    baseline_check(&base);
}

/* ------------------------------------------------------------------------
 * bbo_browser_open
 */

typedef struct {
    char dir[64];
    char *old_path;
    char *old_browser;
} sandbox;

static char *dup_env(const char *name)
{
    const char *v = getenv(name);

    return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, const char *value)
{
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
}

static void sandbox_open(sandbox *s)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->dir, "/tmp/bbo-loopback-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    s->old_path = dup_env("PATH");
    s->old_browser = dup_env("BROWSER");
}

static void sandbox_path(const sandbox *s, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", s->dir, name);

    assert_true(n > 0 && (size_t)n < size);
}

/* A launcher script `name` in the sandbox: it records its argument count
 * and first argument in out-<name>, then creates out-<name>.done. Shell
 * builtins only, so it works whatever PATH is. */
static void sandbox_script(const sandbox *s, const char *name)
{
    char path[256];
    FILE *fp;

    sandbox_path(s, name, path, sizeof(path));
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "#!/bin/sh\nprintf '%%s\\n%%s' \"$#\" \"$1\" > '%s/out-%s'\n: > '%s/out-%s.done'\n",
            s->dir, name, s->dir, name);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0700), 0);
}

/* Wait for the script `name` to have run; returns what it recorded
 * (free with free()). */
static char *sandbox_wait(const sandbox *s, const char *name)
{
    char path[256], done[256];
    int i;

    snprintf(path, sizeof(path), "%s/out-%s", s->dir, name);
    snprintf(done, sizeof(done), "%s/out-%s.done", s->dir, name);
    for (i = 0; i < 1000 && access(done, F_OK) != 0; i++)
        sleep_ms(10);
    assert_int_equal(access(done, F_OK), 0);
    unlink(done);
    {
        char *text = bbo_test_read_file(path, NULL);

        assert_non_null(text);
        unlink(path);
        return text;
    }
}

/* The launcher is reaped by a detached thread: let it finish so no thread
 * outlives the test. */
static void wait_single_thread(void)
{
    int i;

    for (i = 0; i < 500 && count_dir("/proc/self/task") > 1; i++)
        sleep_ms(10);
    assert_int_equal(count_dir("/proc/self/task"), 1);
}

static void sandbox_close(sandbox *s)
{
    DIR *d;
    struct dirent *e;
    char path[256];

    restore_env("PATH", s->old_path);
    restore_env("BROWSER", s->old_browser);
    free(s->old_path);
    free(s->old_browser);
    d = opendir(s->dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        sandbox_path(s, e->d_name, path, sizeof(path));
        unlink(path);
    }
    closedir(d);
    assert_int_equal(rmdir(s->dir), 0);
}

#if defined(__APPLE__)
#define FALLBACK "open"
#else
#define FALLBACK "xdg-open"
#endif

/* Characters a shell would act on; they must arrive as they are. */
#define AWKWARD_URL                                                                                \
    "https://bitbucket.org/site/oauth2/authorize?client_id=k&response_type=code"                   \
    "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&x=$(touch%20pwned);`id`|'\"*"

static void test_browser_open_invalid(void **unused)
{
    static const char *const bad[] = {
        "ftp://x", "", "javascript:alert(1)", "file:///etc/passwd", "-http://x", "http:/x",
        "mailto:a@b", "www.example.com",
    };
    baseline base = baseline_take();
    size_t i;

    (void)unused;
    assert_int_equal(bbo_browser_open(NULL), BBO_EINVAL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bbo_browser_open(bad[i]) != BBO_EINVAL)
            fail_msg("\"%s\" was not refused with BBO_EINVAL", bad[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    }
    baseline_check(&base);
}

static void test_browser_open_from_env(void **unused)
{
    baseline base = baseline_take();
    sandbox s;
    char path[256], *got;

    (void)unused;
    sandbox_open(&s);
    sandbox_script(&s, "browser");
    sandbox_path(&s, "browser", path, sizeof(path));
    assert_int_equal(setenv("BROWSER", path, 1), 0);

    assert_int_equal(bbo_browser_open(AWKWARD_URL), BBO_OK);
    got = sandbox_wait(&s, "browser");
    assert_string_equal(got, "1\n" AWKWARD_URL);
    free(got);
    assert_int_equal(bbo_browser_open("http://127.0.0.1:5000/x"), BBO_OK);
    got = sandbox_wait(&s, "browser");
    assert_string_equal(got, "1\nhttp://127.0.0.1:5000/x");
    free(got);

    /* a bare program name is looked up in PATH */
    assert_int_equal(setenv("PATH", s.dir, 1), 0);
    assert_int_equal(setenv("BROWSER", "browser", 1), 0);
    assert_int_equal(bbo_browser_open("https://example.com/a?b=c"), BBO_OK);
    got = sandbox_wait(&s, "browser");
    assert_string_equal(got, "1\nhttps://example.com/a?b=c");
    free(got);

    wait_single_thread();
    sandbox_close(&s);
    baseline_check(&base);
}

/* posix_spawnp reports a program that cannot be started only where the
 * platform can (glibc >= 2.24, musl, macOS); under valgrind, which turns
 * the vfork into a fork, the failure stays in the child. Find out which. */
static int spawn_reports_failure(void)
{
    char *argv[] = { (char *)"/nonexistent/bbo-test-no-such-program", NULL };
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return 1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* bbo_browser_open(url) fails with BBO_EIO, where the platform can tell. */
static void assert_open_fails(int reports, const char *url)
{
    int rc = bbo_browser_open(url);

    if (reports) {
        assert_int_equal(rc, BBO_EIO);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    } else {
        assert_int_equal(rc, BBO_OK);
    }
}

static void test_browser_open_missing(void **unused)
{
    baseline base = baseline_take();
    int reports = spawn_reports_failure();
    sandbox s;
    char path[256], done[256];
    FILE *fp;

    (void)unused;
    sandbox_open(&s);
    /* a path that does not exist, a file that is not executable */
    sandbox_path(&s, "no-such-browser", path, sizeof(path));
    assert_int_equal(setenv("BROWSER", path, 1), 0);
    assert_open_fails(reports, "https://example.com/");
    sandbox_path(&s, "not-executable", path, sizeof(path));
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\nexit 0\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(setenv("BROWSER", path, 1), 0);
    assert_open_fails(reports, "https://example.com/");
    /* a name not found in PATH */
    assert_int_equal(setenv("PATH", s.dir, 1), 0);
    assert_int_equal(setenv("BROWSER", "no-such-browser", 1), 0);
    assert_open_fails(reports, "https://example.com/");
    /* a $BROWSER that does not start is not replaced by the fallback */
    sandbox_script(&s, FALLBACK);
    assert_open_fails(reports, "https://example.com/");
    snprintf(done, sizeof(done), "%s/out-%s.done", s.dir, FALLBACK);
    sleep_ms(200);
    assert_int_not_equal(access(done, F_OK), 0);
    /* no $BROWSER and no fallback in PATH */
    assert_int_equal(unsetenv("BROWSER"), 0);
    sandbox_path(&s, FALLBACK, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_open_fails(reports, "https://example.com/");
    wait_single_thread();
    sandbox_close(&s);
    baseline_check(&base);
    if (!reports)
        skip_because("posix_spawnp cannot report a missing program here (valgrind?)");
}

/* No $BROWSER, an empty one, or one with arguments (a space): the
 * platform's opener from PATH gets the URL. */
static void test_browser_open_fallback(void **unused)
{
    static const char *const browsers[] = { NULL, "", "firefox --new-window", "my browser" };
    baseline base = baseline_take();
    sandbox s;
    size_t i;

    (void)unused;
    sandbox_open(&s);
    sandbox_script(&s, FALLBACK);
    sandbox_script(&s, "firefox");
    assert_int_equal(setenv("PATH", s.dir, 1), 0);
    for (i = 0; i < sizeof(browsers) / sizeof(browsers[0]); i++) {
        char *got;

        restore_env("BROWSER", browsers[i]);
        assert_int_equal(bbo_browser_open(AWKWARD_URL), BBO_OK);
        got = sandbox_wait(&s, FALLBACK);
        assert_string_equal(got, "1\n" AWKWARD_URL);
        free(got);
    }
    {
        char out[256];

        snprintf(out, sizeof(out), "%s/out-firefox.done", s.dir);
        assert_int_not_equal(access(out, F_OK), 0);
    }
    wait_single_thread();
    sandbox_close(&s);
    baseline_check(&base);
}

/* Which variables a browser inherits. */
static void test_browser_env_filter(void **unused)
{
    static const char *const dropped[] = {
        "BBO_CONSUMER_SECRET=s", "BBO_PROFILE=work", "bbo_anything=x", "GITHUB_TOKEN=t",
        "BITBUCKET_ACCESS_TOKEN=t", "my_password=p", "PGPASSWORD=p", "MYSQL_PWD_PASSWD=p",
        "GPG_PASSPHRASE=p", "AWS_SECRET_ACCESS_KEY=k", "AWS_ACCESS_KEY_ID=k", "OPENAI_API_KEY=k",
        "STRIPE_APIKEY=k", "SSH_PRIVATE_KEY=k", "GOOGLE_APPLICATION_CREDENTIALS=/x",
        "TOKEN=", "Secret",
    };
    static const char *const kept[] = {
        "PATH=/usr/bin", "HOME=/home/u", "DISPLAY=:0", "WAYLAND_DISPLAY=wayland-0",
        "XAUTHORITY=/run/user/1000/.Xauthority", "DBUS_SESSION_BUS_ADDRESS=unix:path=/x",
        "XDG_RUNTIME_DIR=/run/user/1000", "LANG=C.UTF-8", "BBMOCK_CA=/tmp/ca.pem",
        "BROWSER=firefox", "http_proxy=http://proxy:3128", "SSH_AUTH_SOCK=/tmp/agent",
        "LD_PRELOAD=", "BB=BBO_SECRET_IN_VALUE_ONLY",
    };
    char *env[sizeof(dropped) / sizeof(dropped[0]) + sizeof(kept) / sizeof(kept[0]) + 1];
    char **out = NULL;
    size_t i, n = 0;
    long live = bbo_test_alloc_live();

    (void)unused;
    for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        if (bbo__browser_env_keeps(dropped[i]))
            fail_msg("\"%s\" would reach the browser", dropped[i]);
        env[n++] = (char *)dropped[i];
    }
    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        if (!bbo__browser_env_keeps(kept[i]))
            fail_msg("\"%s\" would not reach the browser", kept[i]);
        env[n++] = (char *)kept[i];
    }
    env[n] = NULL;
    assert_rc(bbo__browser_env(env, &out), BBO_OK);
    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        assert_ptr_equal(out[i], kept[i]);
    assert_null(out[i]);
    bbo__free(out);
    assert_int_equal(bbo_test_alloc_live(), live);
}

/* The launched browser sees no secret of this process's environment. */
static void test_browser_open_scrubs_env(void **unused)
{
    baseline base = baseline_take();
    sandbox s;
    char path[256], out[256], done[256], *got;
    FILE *fp;
    int i;

    (void)unused;
    sandbox_open(&s);
    sandbox_path(&s, "envbrowser", path, sizeof(path));
    snprintf(out, sizeof(out), "%s/out-env", s.dir);
    snprintf(done, sizeof(done), "%s/out-env.done", s.dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "#!/bin/sh\nexport -p > '%s'\n: > '%s'\n", out, done);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0700), 0);
    assert_int_equal(setenv("BROWSER", path, 1), 0);
    assert_int_equal(setenv("BBO_CONSUMER_SECRET", "sEcReT-consumer-value", 1), 0);
    assert_int_equal(setenv("BITBUCKET_TOKEN", "sEcReT-token-value", 1), 0);
    assert_int_equal(setenv("BBO_TEST_KEPT_NAME", "x", 1), 0);
    assert_int_equal(setenv("BBO_TEST_VISIBLE", "kept-value", 1), 0);
    assert_int_equal(unsetenv("BBO_TEST_VISIBLE"), 0);
    assert_int_equal(setenv("BBOTEST_VISIBLE", "kept-value", 1), 0);
    assert_rc(bbo_browser_open("http://127.0.0.1:5000/x"), BBO_OK);
    for (i = 0; i < 1000 && access(done, F_OK) != 0; i++)
        sleep_ms(10);
    got = bbo_test_read_file(out, NULL);
    assert_non_null(got);
    assert_null(strstr(got, "sEcReT"));
    assert_null(strstr(got, "BBO_"));
    assert_non_null(strstr(got, "BBOTEST_VISIBLE"));
    assert_non_null(strstr(got, "kept-value"));
    assert_non_null(strstr(got, "PATH"));
    free(got);
    unsetenv("BBO_CONSUMER_SECRET");
    unsetenv("BITBUCKET_TOKEN");
    unsetenv("BBO_TEST_KEPT_NAME");
    unsetenv("BBOTEST_VISIBLE");
    wait_single_thread();
    sandbox_close(&s);
    baseline_check(&base);
}

/* Fetch `path` from 127.0.0.1:`port` in this thread; the answer is in
 * b->steps[0]. */
static void fetch_now(browser *b, int port, const char *path)
{
    browser_init(b, AF_INET, port);
    browser_get(b, SEND_AND_READ, path);
    browser_main(b);
    free(b->steps[0].request);
    b->steps[0].request = NULL;
}

/* An authorization URL given to bbo_browser_open never reaches the
 * browser's command line: the browser gets a one-time local URL that
 * redirects to it. */
static void test_browser_open_hides_authorization_url(void **unused)
{
    static const char *const urls[] = {
        "https://bitbucket.org/site/oauth2/authorize?client_id=k&response_type=code"
        "&state=S3cr3tState&code_challenge=Ch4llenge&code_challenge_method=S256",
        "https://bb.example/authorize?client_id=k&code_challenge=Ch4llenge",
        "https://bb.example/authorize?state=S3cr3tState",
    };
    baseline base = baseline_take();
    sandbox s;
    char path[256], prefix[64], location[512], *got;
    size_t i;

    (void)unused;
    sandbox_open(&s);
    sandbox_script(&s, "browser");
    sandbox_path(&s, "browser", path, sizeof(path));
    assert_int_equal(setenv("BROWSER", path, 1), 0);
    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        browser b;
        int port = 0, n = 0;
        const char *local;

        assert_rc(bbo_browser_open(urls[i]), BBO_OK);
        got = sandbox_wait(&s, "browser");
        assert_null(strstr(got, "S3cr3t"));
        assert_null(strstr(got, "Ch4llenge"));
        assert_int_equal(strncmp(got, "1\nhttp://127.0.0.1:", 19), 0);
        assert_int_equal(sscanf(got + 19, "%d%n", &port, &n), 1);
        local = got + 19 + n;
        assert_int_equal(strlen(local), 23);
        snprintf(prefix, sizeof(prefix), "http://127.0.0.1:%d/", port);
        /* another path, or a foreign Host, does not use it up */
        fetch_now(&b, port, "/favicon.ico");
        assert_int_equal(response_status(&b.steps[0]), 404);
        fetch_now(&b, port, local);
        assert_int_equal(response_status(&b.steps[0]), 302);
        snprintf(location, sizeof(location), "\r\nLocation: %s\r\n", urls[i]);
        assert_true(head_has(&b.steps[0], location));
        free(got);
        /* once: then nobody listens any more */
        wait_single_thread();
        assert_int_equal(listeners_on(port, NULL), 0);
    }
    /* other URLs reach the browser as they are */
    assert_rc(bbo_browser_open("https://bb.example/x?xstate=1&a=b#state=c"), BBO_OK);
    got = sandbox_wait(&s, "browser");
    assert_string_equal(got, "1\nhttps://bb.example/x?xstate=1&a=b#state=c");
    free(got);
    wait_single_thread();
    sandbox_close(&s);
    baseline_check(&base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_default),
        cmocka_unit_test(test_new_ephemeral_ports_differ),
        cmocka_unit_test(test_new_explicit_port),
        cmocka_unit_test(test_new_ipv6),
        cmocka_unit_test(test_new_refused),
        cmocka_unit_test(test_new_port_taken),
        cmocka_unit_test(test_new_oom),
        cmocka_unit_test(test_wait_success),
        cmocka_unit_test(test_wait_invalid_arguments),
        cmocka_unit_test(test_wait_stray_request_then_success),
        cmocka_unit_test(test_wait_wrong_state_then_success),
        cmocka_unit_test(test_wait_malformed_then_success),
        cmocka_unit_test(test_wait_only_wrong_states),
        cmocka_unit_test(test_wait_timeout),
        cmocka_unit_test(test_wait_denied),
        cmocka_unit_test(test_wait_oauth_error),
        cmocka_unit_test(test_wait_hostile_connections),
        cmocka_unit_test(test_wait_oversized_request),
        cmocka_unit_test(test_wait_browser_gone),
        cmocka_unit_test(test_wait_idle_connection),
        cmocka_unit_test(test_wait_ipv6),
        cmocka_unit_test(test_wait_oom),
        cmocka_unit_test(test_wait_flood),
        cmocka_unit_test(test_wait_flood_burst),
        cmocka_unit_test(test_wait_many_idle),
        cmocka_unit_test(test_wait_wrong_host),
        cmocka_unit_test(test_wait_wrong_issuer),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_launch_redirects_once),
        cmocka_unit_test(test_launch_reused),
        cmocka_unit_test(test_launch_replaced),
        cmocka_unit_test(test_wait_other_user),
        cmocka_unit_test(test_launch_invalid),
        cmocka_unit_test(test_launch_oom),
        cmocka_unit_test(test_browser_open_invalid),
        cmocka_unit_test(test_browser_open_from_env),
        cmocka_unit_test(test_browser_open_missing),
        cmocka_unit_test(test_browser_open_fallback),
        cmocka_unit_test(test_browser_env_filter),
        cmocka_unit_test(test_browser_open_scrubs_env),
        cmocka_unit_test(test_browser_open_hides_authorization_url),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("loopback", tests, NULL, NULL);
}
