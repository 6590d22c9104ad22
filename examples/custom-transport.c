/*
 * custom-transport: plug a transport of your own into bboauth.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 *
 * The transport is the library's only door to the network (transport.h).
 * This program stacks two of its own:
 *
 *   socket   plain HTTP/1.1 over POSIX sockets, to http://127.0.0.1 only:
 *            one connection per request ("Connection: close"), answers
 *            framed by Content-Length (or by the end of the connection).
 *            Enough for a loopback server or proxy; a real program wraps
 *            its own HTTP stack, with TLS, the same way.
 *   logging  wraps any transport and prints the method and URL path of
 *            each request, and the outcome. Never headers or bodies: they
 *            carry the consumer secret, authorization codes and tokens.
 *
 * Then it runs the client credentials grant and two API calls through them.
 * It talks to the mock Bitbucket of tests/mock on its plain-HTTP port:
 *
 *   python3 tests/mock/with_mock.py -- build/examples/custom-transport
 *
 * Environment: BBMOCK_PLAIN_PORT, BBMOCK_KEY, BBMOCK_SECRET (with_mock.py
 * sets them).
 */
#include <bboauth.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000 /* when the request names none */
#define HEAD_MAX (64 * 1024)     /* a longer answer head is refused */

/* ---- small helpers ------------------------------------------------------ */

/* Requests and answers hold secrets: wipe them before the memory is reused.
 * The volatile pointer keeps the compiler from dropping the stores. */
static void wipe(void *ptr, size_t len)
{
    volatile unsigned char *p = ptr;

    while (len--)
        *p++ = 0;
}

/* A growable byte buffer that wipes what it leaves behind. */
typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

static int buffer_add(buffer *b, const char *data, size_t len)
{
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        char *fresh;

        while (cap - b->len < len)
            cap *= 2;
        /* grow by copy-and-wipe: realloc could leave a copy in freed memory */
        if ((fresh = malloc(cap)) == NULL)
            return -1;
        if (b->len)
            memcpy(fresh, b->data, b->len);
        if (b->data) {
            wipe(b->data, b->cap);
            free(b->data);
        }
        b->data = fresh;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int buffer_adds(buffer *b, const char *s)
{
    return buffer_add(b, s, strlen(s));
}

static void buffer_dispose(buffer *b)
{
    if (b->data) {
        wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before `deadline` for poll(), 0 when none are. */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();

    return left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* The path of a URL, without scheme, host or query (for the log). */
static void url_path(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    size_t len;

    p = p ? strchr(p + 3, '/') : NULL;
    if (!p)
        p = "/";
    len = strcspn(p, "?#");
    snprintf(out, cap, "%.*s", (int)len, p);
}

/* ---- the socket transport ----------------------------------------------- */

/* "http://127.0.0.1[:port][/path][?query]": the port and the request
 * target ("/path?query"), or -1 for anything else. */
static int parse_url(const char *url, int *port, const char **target)
{
    static const char prefix[] = "http://127.0.0.1";
    const char *p = url + sizeof(prefix) - 1;
    long value = 80;

    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    if (*p == ':') {
        char *end;

        value = strtol(p + 1, &end, 10);
        if (end == p + 1 || value < 1 || value > 65535)
            return -1;
        p = end;
    }
    if (*p != '/' && *p != '?' && *p != '\0') /* "http://127.0.0.10" */
        return -1;
    *port = (int)value;
    *target = p;
    return 0;
}

/* The request as bytes: request line, headers, body. */
static int format_request(const bbo_http_request *req, int port, const char *target,
                          buffer *out)
{
    const char *method = bbo_http_request_method(req);
    size_t body_len, i;
    const char *body = bbo_http_request_body(req, &body_len);
    char line[128];

    if (buffer_adds(out, method) || buffer_adds(out, " ") ||
        (*target != '/' && buffer_adds(out, "/")) || buffer_adds(out, target) ||
        buffer_adds(out, " HTTP/1.1\r\n"))
        return -1;
    snprintf(line, sizeof(line), "Host: 127.0.0.1:%d\r\nConnection: close\r\n", port);
    if (buffer_adds(out, line))
        return -1;
    for (i = 0; i < bbo_http_request_header_count(req); i++) {
        const char *name = bbo_http_request_header_name(req, i);

        /* framing is this transport's business */
        if (strcasecmp(name, "Host") == 0 || strcasecmp(name, "Connection") == 0 ||
            strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0)
            continue;
        /* the library refuses CR and LF in names and values: no injection */
        if (buffer_adds(out, name) || buffer_adds(out, ": ") ||
            buffer_adds(out, bbo_http_request_header_value(req, i)) || buffer_adds(out, "\r\n"))
            return -1;
    }
    if (body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
        if (buffer_adds(out, line))
            return -1;
    }
    if (buffer_adds(out, "\r\n") || buffer_add(out, body, body_len))
        return -1;
    return 0;
}

/* Connect without blocking past the deadline. BBO_OK, or a code (the
 * request has not left: the caller marks it not sent). */
static int connect_loopback(int port, int64_t deadline, int *fd_out)
{
    struct sockaddr_in addr;
    struct pollfd pfd;
    int fd, err = 0;
    socklen_t len = sizeof(err);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return BBO_ETRANSPORT;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return BBO_ETRANSPORT; /* ECONNREFUSED: nobody listens there */
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, left_ms(deadline)) <= 0) {
            close(fd);
            return BBO_ETIMEOUT;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            return BBO_ETRANSPORT;
        }
    }
    *fd_out = fd;
    return BBO_OK;
}

/* Write it all. *sent_any tells whether a byte may have reached the server. */
static int write_all(int fd, const buffer *data, int64_t deadline, int *sent_any)
{
    size_t done = 0;

    while (done < data->len) {
        struct pollfd pfd = { fd, POLLOUT, 0 };
        ssize_t n;

        if (poll(&pfd, 1, left_ms(deadline)) <= 0)
            return BBO_ETIMEOUT;
        /* MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE */
        n = send(fd, data->data + done, data->len - done, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n <= 0)
            return BBO_ETRANSPORT;
        *sent_any = 1;
        done += (size_t)n;
    }
    return BBO_OK;
}

/* Read what arrives before the deadline: > 0 bytes, 0 at the end of the
 * connection, or a negative code. */
static int read_some(int fd, char *chunk, size_t cap, int64_t deadline, size_t *got)
{
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&pfd, 1, left_ms(deadline)) <= 0)
            return BBO_ETIMEOUT;
        n = recv(fd, chunk, cap, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0)
            return BBO_ETRANSPORT; /* a reset */
        *got = (size_t)n;
        return BBO_OK;
    }
}

/* Where the head ends ("\r\n\r\n"), or 0 when it is not complete yet. */
static size_t head_end(const buffer *b)
{
    size_t i;

    for (i = 0; i + 4 <= b->len; i++)
        if (memcmp(b->data + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* Hand each head line to the response: the status line sets the status. */
static int parse_head(bbo_http_response *resp, const char *head, size_t len)
{
    size_t start = 0, i;

    for (i = 0; i + 1 < len; i++) {
        if (head[i] != '\r' || head[i + 1] != '\n')
            continue;
        if (i > start &&
            bbo_http_response_add_header_line(resp, head + start, i + 2 - start) < 0)
            return BBO_EPROTOCOL; /* the server's fault, not an invalid argument */
        if (start == 0 && bbo_http_response_status(resp) == 0)
            return BBO_EPROTOCOL; /* the first line was no status line */
        start = i + 2;
    }
    return BBO_OK;
}

/* Content-Length as a number, -1 when absent, -2 when malformed. */
static long long content_length(const bbo_http_response *resp)
{
    const char *value = bbo_http_response_header(resp, "Content-Length");
    long long n = 0;

    if (!value)
        return -1;
    if (!*value)
        return -2;
    for (; *value; value++) {
        if (*value < '0' || *value > '9' || n > 1000000000000LL)
            return -2;
        n = n * 10 + (*value - '0');
    }
    return n;
}

/* Read the answer into `resp`: head(s), then the body. */
static int read_answer(int fd, const bbo_http_request *req, bbo_http_response *resp,
                       int64_t deadline)
{
    buffer in = { NULL, 0, 0 };
    char chunk[16384];
    size_t end = 0, got;
    long long length, left;
    int status = 0, rc = BBO_OK;

    /* the head; an interim 1xx answer is followed by the real one */
    for (;;) {
        while ((end = head_end(&in)) == 0) {
            if (in.len > HEAD_MAX) {
                rc = BBO_EPROTOCOL;
                goto done;
            }
            if ((rc = read_some(fd, chunk, sizeof(chunk), deadline, &got)) < 0)
                goto done;
            if (got == 0) {
                rc = BBO_ETRANSPORT; /* closed before a whole answer: lost */
                goto done;
            }
            if (buffer_add(&in, chunk, got) != 0) {
                rc = BBO_ENOMEM;
                goto done;
            }
        }
        if ((rc = parse_head(resp, in.data, end)) < 0)
            goto done;
        status = bbo_http_response_status(resp);
        if (status >= 200)
            break;
        memmove(in.data, in.data + end, in.len - end); /* a status line resets the headers */
        in.len -= end;
    }
    if (strcmp(bbo_http_request_method(req), "HEAD") == 0 || status == 204 || status == 304)
        goto done;
    if (bbo_http_response_header(resp, "Transfer-Encoding")) {
        rc = BBO_EPROTOCOL; /* chunked answers are beyond this example */
        goto done;
    }
    if ((length = content_length(resp)) == -2) {
        rc = BBO_EPROTOCOL;
        goto done;
    }
    /* append_body enforces the response's body limit: when it fails, stop
     * reading and return its code (BBO_EPROTOCOL, the message is set) */
    left = length;
    got = in.len - end;
    if (length >= 0 && (long long)got > length)
        got = (size_t)length; /* more than announced: ignored */
    if (got && (rc = bbo_http_response_append_body(resp, in.data + end, got)) < 0)
        goto done;
    left -= (long long)got;
    while (length < 0 || left > 0) {
        if ((rc = read_some(fd, chunk, sizeof(chunk), deadline, &got)) < 0)
            goto done;
        if (got == 0) {
            /* without a Content-Length the end of the connection ends the
             * body; with one, a short body is a lost answer */
            rc = length < 0 ? BBO_OK : BBO_ETRANSPORT;
            goto done;
        }
        if (length >= 0 && (long long)got > left)
            got = (size_t)left;
        if ((rc = bbo_http_response_append_body(resp, chunk, got)) < 0)
            goto done;
        left -= (long long)got;
    }
done:
    wipe(chunk, sizeof(chunk));
    buffer_dispose(&in);
    return rc;
}

/* bbo_transport.send: one request, one connection. Returns 0 when an HTTP
 * answer (any status) arrived, else a bbo code; marks the response "not
 * sent" when the request provably never reached the server, so that the
 * client may send it again (and only then). No redirect is followed and
 * nothing is retried here: that is the library's decision. */
static int socket_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    buffer out = { NULL, 0, 0 };
    const char *target;
    int port, fd = -1, sent_any = 0, rc;
    int timeout_ms = bbo_http_request_timeout_ms(req);
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);

    (void)payload; /* no state: safe on any number of threads at once */
    if (parse_url(bbo_http_request_url(req), &port, &target) != 0) {
        bbo_http_response_set_not_sent(resp);
        return BBO_EUSER; /* this transport chose not to handle that URL */
    }
    if (format_request(req, port, target, &out) != 0) {
        rc = BBO_ENOMEM;
        goto done;
    }
    if ((rc = connect_loopback(port, deadline, &fd)) < 0)
        goto done;
    if ((rc = write_all(fd, &out, deadline, &sent_any)) < 0)
        goto done;
    rc = read_answer(fd, req, resp, deadline);
done:
    if (rc < 0 && !sent_any)
        bbo_http_response_set_not_sent(resp); /* connect failed, or nothing left */
    if (fd >= 0)
        close(fd);
    buffer_dispose(&out);
    return rc;
}

static void socket_transport(bbo_transport *out)
{
    out->version = BBO_TRANSPORT_VERSION;
    out->send = socket_send;
    out->destroy = NULL; /* no payload to release */
    out->payload = NULL;
}

/* ---- the logging transport ---------------------------------------------- */

typedef struct logging {
    bbo_transport inner;  /* owned: destroyed with this one */
    pthread_mutex_t lock; /* send may run on several threads at once */
    unsigned long count;
} logging;

static int logging_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    logging *lg = payload;
    char path[256];
    unsigned long n;
    int rc;

    pthread_mutex_lock(&lg->lock);
    n = ++lg->count;
    pthread_mutex_unlock(&lg->lock);
    /* method and path only: the query may hold a state or a code, headers
     * and bodies hold the secret and the tokens */
    url_path(bbo_http_request_url(req), path, sizeof(path));
    printf("      transport #%lu: %s %s\n", n, bbo_http_request_method(req), path);
    rc = lg->inner.send(req, resp, lg->inner.payload);
    if (rc == 0) {
        size_t len;

        bbo_http_response_body(resp, &len);
        printf("      transport #%lu: HTTP %d, %zu body bytes\n", n,
               bbo_http_response_status(resp), len);
    } else {
        printf("      transport #%lu: failed: %s%s\n", n, bbo_strerror(rc),
               bbo_http_response_not_sent(resp) ? " (never sent: may be sent again)" : "");
    }
    return rc;
}

static void logging_destroy(void *payload)
{
    logging *lg = payload;

    if (lg->inner.destroy)
        lg->inner.destroy(lg->inner.payload);
    pthread_mutex_destroy(&lg->lock);
    free(lg);
}

/* Wrap `inner` (taken on success). */
static int logging_transport(bbo_transport *out, const bbo_transport *inner)
{
    logging *lg = calloc(1, sizeof(*lg));

    if (!lg)
        return -1;
    if (pthread_mutex_init(&lg->lock, NULL) != 0) {
        free(lg);
        return -1;
    }
    lg->inner = *inner;
    out->version = BBO_TRANSPORT_VERSION;
    out->send = logging_send;
    out->destroy = logging_destroy;
    out->payload = lg;
    return 0;
}

/* ---- the program -------------------------------------------------------- */

static int fail(const char *what)
{
    const bbo_error *e = bbo_error_last();

    fprintf(stderr, "custom-transport: %s: %s (%s)\n", what, bbo_error_message(e),
            bbo_strerror(bbo_error_code(e)));
    return 1;
}

/* GET {api}/user with the token, through bbo_client_send: the raw answer,
 * no OAuth meaning given to it. */
static int call_user(bbo_client *client, const bbo_token *token)
{
    const bbo_consumer *consumer = bbo_client_consumer(client);
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    buffer url = { NULL, 0, 0 }, auth = { NULL, 0, 0 };
    int rc = 1;

    if (buffer_adds(&url, bbo_consumer_api_base_url(consumer)) ||
        buffer_add(&url, "/user", 6) || /* with the NUL */
        buffer_adds(&auth, "Bearer ") || buffer_add(&auth, bbo_token_access(token),
                                                     strlen(bbo_token_access(token)) + 1)) {
        fprintf(stderr, "custom-transport: out of memory\n");
        goto done;
    }
    if (bbo_http_request_new(&req, "GET", url.data) < 0 ||
        bbo_http_request_add_header(req, "Authorization", auth.data) < 0 ||
        bbo_http_request_add_header(req, "Accept", "application/json") < 0) {
        fail("request");
        goto done;
    }
    if (bbo_client_send(client, req, &resp) < 0) {
        fail("GET /user");
        goto done;
    }
    printf("      GET /user answered HTTP %d; granted scopes (X-OAuth-Scopes): %s\n",
           bbo_http_response_status(resp),
           bbo_http_response_header(resp, "X-OAuth-Scopes")
               ? bbo_http_response_header(resp, "X-OAuth-Scopes") : "(not sent)");
    rc = bbo_http_response_status(resp) == 200 ? 0 : 1;
done:
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
    buffer_dispose(&url);
    buffer_dispose(&auth);
    return rc;
}

/* A loopback port nobody listens on: bound (so nobody else takes it) but
 * not listening, so a connection is refused. */
static int closed_port(int *fd_out)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *fd_out = fd;
    return ntohs(addr.sin_port);
}

/* A request that cannot connect: the transport marks it "not sent", so the
 * client may send it again (here: 2 attempts, 1 s apart), then reports
 * BBO_ETRANSPORT. */
static int call_nobody(bbo_client *client)
{
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    char url[64];
    int fd = -1, port, rc = 1, code;

    if ((port = closed_port(&fd)) < 0) {
        fprintf(stderr, "custom-transport: cannot reserve a port\n");
        return 1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/2.0/user", port);
    if (bbo_client_set_retry(client, 2, 1) < 0 || bbo_http_request_new(&req, "GET", url) < 0) {
        fail("setup");
        goto done;
    }
    code = bbo_client_send(client, req, &resp);
    printf("      bbo_client_send: %d (%s): %s\n", code, bbo_strerror(code),
           bbo_error_message(bbo_error_last()));
    rc = code == BBO_ETRANSPORT ? 0 : 1;
done:
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
    close(fd);
    return rc;
}

int main(void)
{
    const char *port = getenv("BBMOCK_PLAIN_PORT");
    const char *key = getenv("BBMOCK_KEY"), *secret = getenv("BBMOCK_SECRET");
    char authorize[128], token_url[128], api[128];
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_session *session = NULL;
    bbo_token *token = NULL;
    bbo_transport sockets, logged;
    char *scopes = NULL, *user = NULL;
    int rc = 1;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!port || !key || !secret) {
        fprintf(stderr, "custom-transport: set BBMOCK_PLAIN_PORT, BBMOCK_KEY and BBMOCK_SECRET "
                        "(python3 tests/mock/with_mock.py -- %s)\n", "build/examples/custom-transport");
        return 2;
    }
    snprintf(authorize, sizeof(authorize), "http://127.0.0.1:%s/site/oauth2/authorize", port);
    snprintf(token_url, sizeof(token_url), "http://127.0.0.1:%s/site/oauth2/access_token", port);
    snprintf(api, sizeof(api), "http://127.0.0.1:%s/2.0", port);

    printf("[1/5] consumer and client (plain http is accepted for 127.0.0.1 only)\n");
    if (bbo_consumer_new(&consumer, key, secret) < 0 ||
        bbo_consumer_set_endpoints(consumer, authorize, token_url, api) < 0 ||
        bbo_client_new(&client, consumer) < 0) {
        fail("setup");
        goto done;
    }

    printf("[2/5] plugging in the socket transport, wrapped in the logging one\n");
    socket_transport(&sockets);
    if (logging_transport(&logged, &sockets) != 0) {
        fprintf(stderr, "custom-transport: out of memory\n");
        goto done;
    }
    if (bbo_client_set_transport(client, &logged) < 0) {
        logged.destroy(logged.payload); /* refused: the payload is still ours */
        fail("bbo_client_set_transport");
        goto done;
    }
    /* from here on the client owns the payload and destroys it */

    printf("[3/5] client credentials grant\n");
    if (bbo_client_client_credentials(client, &token) < 0) {
        fail("client credentials");
        goto done;
    }
    if (bbo_scopes_to_string(bbo_token_scopes(token), &scopes) < 0) {
        fail("scopes");
        goto done;
    }
    /* the token itself is a secret: show what it is, never its text */
    printf("      token: %zu characters, scopes \"%s\", expires in %lld s, refresh token %s\n",
           strlen(bbo_token_access(token)), scopes,
           (long long)(bbo_token_expires_at(token) - (int64_t)time(NULL)),
           bbo_token_refresh(token) ? "present" : "absent (client credentials)");

    printf("[4/5] API calls through the same transport\n");
    if (call_user(client, token) != 0)
        goto done;
    /* a session over the same client uses the same transport */
    if (bbo_session_new(&session, client, token) < 0) { /* token taken, even on error */
        token = NULL;
        fail("session");
        goto done;
    }
    token = NULL;
    if (bbo_session_user(session, &user) < 0) {
        fail("user check");
        goto done;
    }
    printf("      bbo_session_user: %s\n", user);

    printf("[5/5] a server that refuses the connection\n");
    if (call_nobody(client) != 0)
        goto done;
    printf("done: every request went through the custom transport\n");
    rc = 0;
done:
    bbo_free(user);
    bbo_free(scopes);
    bbo_session_free(session); /* before the client it borrows */
    bbo_token_free(token);
    bbo_client_free(client);   /* destroys the logging transport, which destroys the socket one */
    bbo_consumer_free(consumer);
    return rc;
}
