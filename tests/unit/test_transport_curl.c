/*
 * The libcurl transport against hostile local servers: answers that are
 * not HTTP, a header line of 10 MB, and a proxy in the environment or the
 * configuration that must never see a request to a loopback address; and
 * the header lines a request goes out with.
 * The servers are threads of this process on 127.0.0.1.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A server that answers every connection with the same bytes, then closes. */
typedef struct {
    int fd;
    int port;
    const char *answer;
    size_t answer_len;
    int connections; /* accepted so far */
    /* keep the first connection for a second request, then close it
     * without an answer (a kept-alive connection the server dropped) */
    int drop_second;
    char first_line[1024]; /* of the last request */
    char head[8192];      /* the last request's head, as far as it came */
    int stop;
    pthread_mutex_t lock;
    pthread_t thread;
} server;

/* A field of `s` the other thread writes. */
static int locked_read(server *s, const int *field)
{
    int value;

    pthread_mutex_lock(&s->lock);
    value = *field;
    pthread_mutex_unlock(&s->lock);
    return value;
}

static int server_connections(server *s)
{
    return locked_read(s, &s->connections);
}

static int server_stopped(server *s)
{
    return locked_read(s, &s->stop);
}

/* Read a request head (or what comes within a second) from `fd`. */
static void read_head(server *s, int fd)
{
    char buf[8192];
    size_t len = 0;

    while (len < sizeof(buf) - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&p, 1, 1000) <= 0)
            break;
        if ((n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[len] = '\0';
    pthread_mutex_lock(&s->lock);
    snprintf(s->first_line, sizeof(s->first_line), "%.*s", (int)strcspn(buf, "\r\n"), buf);
    memcpy(s->head, buf, len + 1);
    pthread_mutex_unlock(&s->lock);
}

static void *server_main(void *arg)
{
    server *s = arg;

    while (!server_stopped(s)) {
        struct pollfd p = { s->fd, POLLIN, 0 };
        int fd;

        if (poll(&p, 1, 50) <= 0)
            continue;
        if ((fd = accept(s->fd, NULL, NULL)) < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        read_head(s, fd);
        {
            size_t sent = 0;

            while (sent < s->answer_len) {
                ssize_t n = send(fd, s->answer + sent, s->answer_len - sent, MSG_NOSIGNAL);

                if (n <= 0)
                    break; /* the client gave up: fine */
                sent += (size_t)n;
            }
        }
        if (s->drop_second && locked_read(s, &s->connections) == 1)
            read_head(s, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static void server_start(server *s, const char *answer, size_t len)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    memset(s, 0, sizeof(*s));
    s->answer = answer;
    s->answer_len = len;
    assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_finish(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

/* A client with the default (libcurl) transport and no retries. */
static bbo_client *new_client(void)
{
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;

    assert_rc(bbo_consumer_new(&consumer, "key", "secret"), BBO_OK);
    assert_rc(bbo_client_new(&client, consumer), BBO_OK);
    assert_rc(bbo_client_set_retry(client, 1, 0), BBO_OK);
    assert_rc(bbo_client_set_timeouts(client, 5000, 10000), BBO_OK);
    bbo_consumer_free(consumer);
    return client;
}

/* GET `url` through a fresh client; the response (if any) goes to *out. */
static int get(const char *proxy, const char *url, bbo_http_response **out)
{
    bbo_client *client = new_client();
    bbo_http_request *req = NULL;
    int rc;

    if (proxy)
        assert_rc(bbo_client_set_proxy(client, proxy), BBO_OK);
    assert_rc(bbo_http_request_new(&req, "GET", url), BBO_OK);
    rc = bbo_client_send(client, req, out);
    bbo_http_request_free(req);
    bbo_client_free(client);
    return rc;
}

static int get_from(const server *s, bbo_http_response **out)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
    return get(NULL, url, out);
}

/* ------------------------------------------------------------------------
 * Answers that are not HTTP
 */

/* A server answering `answer` gets BBO_EPROTOCOL, and no response. */
static void assert_refused(const char *answer, size_t len)
{
    server s;
    bbo_http_response *resp = NULL;
    int rc;

    server_start(&s, answer, len);
    rc = get_from(&s, &resp);
    server_finish(&s);
    if (rc != BBO_EPROTOCOL)
        fail_msg("answer \"%.20s\": got %d (%s), expected BBO_EPROTOCOL", answer, rc,
                 bbo_error_message(bbo_error_last()));
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EPROTOCOL);
    assert_null(resp);
    printf("# %s\n", bbo_error_message(bbo_error_last()));
}

static void test_not_http(void **unused)
{
    static const char tls[] = "\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03garbage-bytes-here";

    (void)unused;
    assert_refused("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 32);
    assert_refused(tls, sizeof(tls) - 1);
    assert_refused("<html><body>hello</body></html>\r\n\r\n", 35);
    assert_refused("220 smtp.example ESMTP ready\r\n", 30);
}

/* A header line of 10 MB: the server's fault, not a lack of memory. */
static void test_huge_header(void **unused)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: ";
    size_t big = 10 * 1024 * 1024, len = sizeof(head) - 1 + big + 8;
    char *answer = malloc(len);

    (void)unused;
    assert_non_null(answer);
    memcpy(answer, head, sizeof(head) - 1);
    memset(answer + sizeof(head) - 1, 'a', big);
    memcpy(answer + len - 8, "\r\n\r\nok", 6);
    assert_refused(answer, len - 2);
    free(answer);
    /* libcurl's own words say what was wrong */
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "header"));
}

/* How many lines of the request head `head` name the header `name`. */
static int header_lines(const char *head, const char *name)
{
    size_t len = strlen(name);
    const char *line;
    int n = 0;

    for (line = strstr(head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, name, len) == 0 && line[2 + len] == ':')
            n++;
    return n;
}

/* ------------------------------------------------------------------------
 * The header lines a request goes out with
 */

static const char ok_answer[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* Send `req` to `s` on `client`; the head the server got is in s->head. */
static void send_to(bbo_client *client, bbo_http_request *req, server *s)
{
    bbo_http_response *resp = NULL;

    assert_rc(bbo_client_send(client, req, &resp), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 200);
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
}

static bbo_http_request *new_request(const server *s, const char *method, const char *body,
                                     const char *user_agent)
{
    bbo_http_request *req = NULL;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
    assert_rc(bbo_http_request_new(&req, method, url), BBO_OK);
    assert_rc(bbo_http_request_add_header(req, "Accept", "application/json"), BBO_OK);
    if (user_agent)
        assert_rc(bbo_http_request_add_header(req, "User-Agent", user_agent), BBO_OK);
    if (body) {
        assert_rc(bbo_http_request_add_header(req, "Content-Type",
                                              "application/x-www-form-urlencoded"),
                  BBO_OK);
        assert_rc(bbo_http_request_set_body(req, body, strlen(body)), BBO_OK);
    }
    return req;
}

/* Each request names bboauth as its User-Agent once, or the request's own
 * User-Agent instead, whichever came before on the same handle: GET and
 * POST, small bodies and those over 1 KiB (an "Expect:" line first). */
static void test_user_agent(void **unused)
{
    static const char ours[] = "\r\nUser-Agent: bboauth/" BBO_VERSION "\r\n";
    static const char theirs[] = "\r\nUser-Agent: tester/1.0\r\n";
    static const struct {
        const char *method;
        bool big_body, own;
    } cases[] = {
        { "GET", false, false }, { "GET", false, false }, { "POST", false, false },
        { "POST", false, true }, { "POST", false, true }, { "POST", true, false },
        { "POST", true, true }, { "GET", false, true }, { "GET", false, false },
    };
    char big[2048];
    server s;
    bbo_client *client = new_client();
    size_t i;

    (void)unused;
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "a=", 2);
    big[sizeof(big) - 1] = '\0';
    server_start(&s, ok_answer, sizeof(ok_answer) - 1);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *body = strcmp(cases[i].method, "POST") ? NULL : cases[i].big_body ? big : "a=b";

        send_to(client, new_request(&s, cases[i].method, body, cases[i].own ? "tester/1.0" : NULL),
                &s);
        pthread_mutex_lock(&s.lock);
        if (header_lines(s.head, "User-Agent") != 1 ||
            !strstr(s.head, cases[i].own ? theirs : ours))
            fail_msg("case %zu: %s", i, s.head);
        assert_int_equal(header_lines(s.head, "Accept"), 1);
        assert_int_equal(header_lines(s.head, "Content-Type"), body ? 1 : 0);
        assert_int_equal(header_lines(s.head, "Expect"), 0);
        pthread_mutex_unlock(&s.lock);
    }
    bbo_client_free(client);
    server_finish(&s);
}

/* The request line `s` got. */
static void assert_first_line(server *s, const char *method, const char *target)
{
    char expected[1024];

    snprintf(expected, sizeof(expected), "%s %s HTTP/1.1", method, target);
    pthread_mutex_lock(&s->lock);
    if (strcmp(s->first_line, expected) != 0)
        fail_msg("got \"%s\", expected \"%s\"", s->first_line, expected);
    pthread_mutex_unlock(&s->lock);
}

/* One handle, the URL changing between requests and staying the same
 * (the transport sets it, text and parsed, only when it changes), one
 * longer than the transport remembers: each request goes where it says. */
static void test_urls_on_one_handle(void **unused)
{
    static const char *const targets[] = {
        "/a", "/a", "/b?q=1&r=%C3%A9", "/a", "/b?q=1&r=%C3%A9", NULL, NULL, "/c#frag",
    };
    char long_target[700], url[800];
    server s;
    bbo_client *client = new_client();
    size_t i;

    (void)unused;
    memset(long_target, 'p', sizeof(long_target) - 1);
    long_target[0] = '/';
    long_target[sizeof(long_target) - 1] = '\0';
    server_start(&s, ok_answer, sizeof(ok_answer) - 1);
    for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        const char *target = targets[i] ? targets[i] : long_target;
        bbo_http_request *req = NULL;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s.port, target);
        assert_rc(bbo_http_request_new(&req, i % 2 ? "POST" : "GET", url), BBO_OK);
        if (i % 2)
            assert_rc(bbo_http_request_set_body(req, "a=b", 3), BBO_OK);
        send_to(client, req, &s);
        /* the fragment stays here */
        assert_first_line(&s, i % 2 ? "POST" : "GET",
                          strcmp(target, "/c#frag") == 0 ? "/c" : target);
    }
    assert_int_equal(server_connections(&s), (int)i);
    bbo_client_free(client);
    server_finish(&s);
}

/* A GET on a kept-alive connection the server closed unanswered: libcurl
 * sends it again on a new connection, to the same URL. */
static void test_get_resent_to_same_url(void **unused)
{
    static const char keep_alive[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char url[64];
    server s;
    bbo_client *client = new_client();
    bbo_http_request *req = NULL;

    (void)unused;
    server_start(&s, keep_alive, sizeof(keep_alive) - 1);
    pthread_mutex_lock(&s.lock);
    s.drop_second = 1;
    pthread_mutex_unlock(&s.lock);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/first", s.port);
    assert_rc(bbo_http_request_new(&req, "GET", url), BBO_OK);
    send_to(client, req, &s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/second?x=1", s.port);
    assert_rc(bbo_http_request_new(&req, "GET", url), BBO_OK);
    send_to(client, req, &s);
    assert_int_equal(server_connections(&s), 2);
    assert_first_line(&s, "GET", "/second?x=1");
    bbo_client_free(client);
    server_finish(&s);
}

/* ------------------------------------------------------------------------
 * Proxies: never for a loopback address
 */

static const char direct_answer[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndirect";
static const char proxy_answer[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nproxy";

static const char *const proxy_vars[] = {
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY",
};

typedef struct {
    char *saved[sizeof(proxy_vars) / sizeof(proxy_vars[0])];
} env_backup;

/* Point every proxy variable at `proxy_url` (NULL: unset them all). */
static void set_proxy_env(env_backup *b, const char *proxy_url)
{
    size_t i;

    for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
        const char *v = getenv(proxy_vars[i]);

        if (b) {
            b->saved[i] = v ? strdup(v) : NULL;
        }
        if (proxy_url && strstr(proxy_vars[i], "no_") == NULL &&
            strstr(proxy_vars[i], "NO_") == NULL)
            assert_int_equal(setenv(proxy_vars[i], proxy_url, 1), 0);
        else
            assert_int_equal(unsetenv(proxy_vars[i]), 0);
    }
}

static void restore_proxy_env(env_backup *b)
{
    size_t i;

    for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
        if (b->saved[i])
            assert_int_equal(setenv(proxy_vars[i], b->saved[i], 1), 0);
        else
            assert_int_equal(unsetenv(proxy_vars[i]), 0);
        free(b->saved[i]);
    }
}

/* GET a loopback URL on `s` with a proxy in the environment and/or the
 * configuration: the server answers, the proxy is never contacted. */
static void assert_direct(server *s, server *proxy, const char *configured)
{
    bbo_http_response *resp = NULL;
    const char *body;
    char url[64];
    size_t len;
    int before = server_connections(s);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
    assert_rc(get(configured, url, &resp), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 200);
    body = bbo_http_response_body(resp, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(body, "direct", 6);
    bbo_http_response_free(resp);
    assert_int_equal(server_connections(s), before + 1);
    assert_int_equal(server_connections(proxy), 0);
}

static void test_proxy_never_for_loopback(void **unused)
{
    static const char *const hosts[] = {
        "localhost", "LocalHost.", "app.localhost", "127.0.0.2", "127.1", "[::1]",
        "[::ffff:127.0.0.1]",
    };
    server s, proxy;
    size_t i;
    env_backup backup;
    char proxy_url[64], url[64];
    bbo_http_response *resp = NULL;
    int rc;

    (void)unused;
    server_start(&s, direct_answer, sizeof(direct_answer) - 1);
    server_start(&proxy, proxy_answer, sizeof(proxy_answer) - 1);
    snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", proxy.port);

    /* from the environment */
    set_proxy_env(&backup, proxy_url);
    assert_direct(&s, &proxy, NULL);
    /* configured on the client */
    set_proxy_env(NULL, NULL);
    assert_direct(&s, &proxy, proxy_url);
    /* both */
    set_proxy_env(NULL, proxy_url);
    assert_direct(&s, &proxy, proxy_url);
    /* https to other spellings of a loopback host (the handshake or the
     * connection fails: what matters is where the connection went) */
    for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(url, sizeof(url), "https://%s:%d/x", hosts[i], s.port);
        rc = get(proxy_url, url, &resp);
        assert_true(rc < 0);
        assert_null(resp);
        if (server_connections(&proxy) != 0)
            fail_msg("%s went through the proxy", url);
    }

    /* the same proxy does get a request for any other host: the check
     * above can fail */
    rc = get(proxy_url, "https://bitbucket.example/2.0/user", &resp);
    assert_true(rc < 0);
    assert_null(resp);
    assert_int_equal(server_connections(&proxy), 1);
    assert_int_equal(strncmp(proxy.first_line, "CONNECT bitbucket.example:443 ", 30), 0);
    /* the CONNECT says who asks, as libcurl's own User-Agent did */
    pthread_mutex_lock(&proxy.lock);
    assert_int_equal(header_lines(proxy.head, "User-Agent"), 1);
    assert_non_null(strstr(proxy.head, "\r\nUser-Agent: bboauth/" BBO_VERSION "\r\n"));
    pthread_mutex_unlock(&proxy.lock);

    restore_proxy_env(&backup);
    server_finish(&proxy);
    server_finish(&s);
}

/* One client, one handle: a loopback request (no proxy) and then one to
 * another host with a proxy only in the environment. The handle is set up
 * anew for the second (the transport skips that only for requests set up
 * alike), so the environment's proxy is used; and a third loopback request
 * is direct again. */
static void test_proxy_after_loopback_on_one_handle(void **unused)
{
    server s, proxy;
    env_backup backup;
    bbo_client *client = new_client();
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    char proxy_url[64], url[64];
    int i, rc;

    (void)unused;
    server_start(&s, direct_answer, sizeof(direct_answer) - 1);
    server_start(&proxy, proxy_answer, sizeof(proxy_answer) - 1);
    snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", proxy.port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
    set_proxy_env(&backup, proxy_url);
    for (i = 0; i < 3; i++) {
        assert_rc(bbo_http_request_new(&req, "GET", i == 1 ? "https://bitbucket.example/2.0/user"
                                                            : url),
                  BBO_OK);
        rc = bbo_client_send(client, req, &resp);
        bbo_http_request_free(req);
        if (i == 1) {
            assert_true(rc < 0);
            assert_null(resp);
            assert_int_equal(server_connections(&proxy), 1);
        } else {
            assert_rc(rc, BBO_OK);
            assert_int_equal(bbo_http_response_status(resp), 200);
            bbo_http_response_free(resp);
            resp = NULL;
        }
    }
    assert_int_equal(server_connections(&proxy), 1);
    bbo_client_free(client);
    restore_proxy_env(&backup);
    server_finish(&proxy);
    server_finish(&s);
}

/* Headers of 10 MB in all, each line short: refused once they pass the
 * transport's 256 KiB, not kept in memory. */
static void test_many_headers(void **unused)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
    size_t line = 500, count = 20000, len = sizeof(head) - 1 + line * count + 4, i;
    char *answer = malloc(len + 1), *p;

    (void)unused;
    assert_non_null(answer);
    memcpy(answer, head, sizeof(head) - 1);
    p = answer + sizeof(head) - 1;
    for (i = 0; i < count; i++, p += line) {
        memset(p, 'v', line);
        memcpy(p, "X-Many: ", 8);
        memcpy(p + line - 2, "\r\n", 2);
    }
    memcpy(p, "\r\nok", 4);
    assert_refused(answer, len);
    free(answer);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "KiB of headers"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_http),
        cmocka_unit_test(test_huge_header),
        cmocka_unit_test(test_many_headers),
        cmocka_unit_test(test_user_agent),
        cmocka_unit_test(test_urls_on_one_handle),
        cmocka_unit_test(test_get_resent_to_same_url),
        cmocka_unit_test(test_proxy_never_for_loopback),
        cmocka_unit_test(test_proxy_after_loopback_on_one_handle),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("transport_curl", tests, NULL, NULL);
}
