/*
 * Loopback redirect receiver (RFC 8252 section 7.3) and browser launch.
 * SPDX-License-Identifier: MIT
 *
 * The receiver serves every connection at once (one poll over all of
 * them), each with its own deadline, so that idle or flooding connections
 * from other local processes cannot hold up the browser's redirect. The
 * browser is handed a one-time local URL rather than the authorization
 * URL, whose state and PKCE challenge would otherwise be readable by every
 * local user in /proc/PID/cmdline (docs/security.md).
 */
#define _GNU_SOURCE /* accept4 */
#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/encode.h"
#include "internal/loopback.h"
#include "internal/url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A browser's GET with its headers fits easily; more is not a browser. */
#define REQUEST_MAX 16384

/* A browser sends its request as soon as it connects. A connection that
 * has not sent a complete request head this long after it was accepted (a
 * speculative preconnect, or a local process stalling) is dropped. */
#define REQUEST_WAIT_MS 2000

/* Connections served at once; when full, the oldest is dropped for a new
 * one (every connection in the table is still sending its head). */
#define MAX_CONNECTIONS 32

/* How long bbo_browser_open's one-time redirect waits for the browser. */
#define REDIRECTOR_WAIT_MS 300000

/* 128 random bits name the one-time launch path. */
#define LAUNCH_BYTES 16

struct bbo_loopback {
    int fd;
    int port;
    char *path;          /* the callback path ("/callback") */
    char *redirect_uri;  /* with the port actually bound */
    char *host;          /* the Host header a browser sends: "127.0.0.1:PORT" */
    char *launch_path;   /* "/<random>" once bbo_loopback_launch_url made one */
    char *launch_target; /* the authorization URL it redirects to (wiped on free) */
    bool launch_used;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bind_loopback(bbo_loopback *lb, bool ipv6, int port)
{
    struct sockaddr_storage addr;
    socklen_t len;
    int one = 1;

    memset(&addr, 0, sizeof(addr));
    if (ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;

        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;

        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons((uint16_t)port);
        len = sizeof(*a4);
    }
    lb->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lb->fd < 0)
        return bbo__error_set(BBO_EIO, "cannot create a socket: %s", strerror(errno));
    setsockopt(lb->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lb->fd, (struct sockaddr *)&addr, len) != 0 || listen(lb->fd, 64) != 0)
        return bbo__error_set(BBO_EIO, "cannot listen on %s port %d: %s",
                              ipv6 ? "[::1]" : "127.0.0.1", port, strerror(errno));
    len = sizeof(addr);
    if (getsockname(lb->fd, (struct sockaddr *)&addr, &len) != 0)
        return bbo__error_set(BBO_EIO, "getsockname failed: %s", strerror(errno));
    lb->port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                          : ((struct sockaddr_in *)&addr)->sin_port);
    return BBO_OK;
}

/* Bind and listen; lb->host gets the Host header a browser will send. */
static int listen_on(bbo_loopback *lb, bool ipv6, int port)
{
    char host[64];
    int error;

    if ((error = bind_loopback(lb, ipv6, port)) < 0)
        return error;
    snprintf(host, sizeof(host), "%s:%d", ipv6 ? "[::1]" : "127.0.0.1", lb->port);
    if ((lb->host = bbo__strdup(host)) == NULL)
        return bbo__error_oom();
    return BBO_OK;
}

/* "http://127.0.0.1:80/x" asks for port 80; "http://127.0.0.1/x" for any
 * free port. bbo_url reports 80 for both, so look at the text. */
static bool has_explicit_port(const char *url)
{
    const char *p = url + strlen("http://");

    if (*p == '[')
        p = strchr(p, ']');
    else
        p += strcspn(p, ":/?#");
    if (p && *p == ']')
        p++;
    return p && *p == ':';
}

int bbo_loopback_new(bbo_loopback **out, const char *callback_url)
{
    bbo_loopback *lb = NULL;
    bbo_url url = { NULL, NULL, 0, NULL, NULL };
    const char *given = callback_url ? callback_url : "http://127.0.0.1/callback";
    bbo_buf uri = BBO_BUF_INIT;
    bool explicit_port, ipv6;
    int error;

    if (!out)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_new: NULL argument");
    if ((error = bbo__url_parse(&url, given, "loopback callback URL")) < 0)
        return error;
    if (strcmp(url.scheme, "http") != 0 || !bbo__url_is_loopback(&url) || url.query) {
        error = bbo__error_set(BBO_EINVAL, "a loopback callback URL is http://127.0.0.1/path "
                                           "or http://[::1]/path, without a query");
        goto done;
    }
    ipv6 = strcmp(url.host, "::1") == 0;
    explicit_port = has_explicit_port(given);
    if ((lb = bbo__calloc(1, sizeof(*lb))) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    lb->fd = -1;
    if ((lb->path = bbo__strdup(*url.path ? url.path : "/")) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    if ((error = listen_on(lb, ipv6, explicit_port ? url.port : 0)) < 0)
        goto done;
    if ((error = bbo__buf_puts(&uri, "http://")) < 0 ||
        (error = bbo__buf_puts(&uri, lb->host)) < 0 ||
        (error = bbo__buf_puts(&uri, lb->path)) < 0)
        goto done;
    lb->redirect_uri = uri.ptr;
    uri.ptr = NULL;
    *out = lb;
    lb = NULL;
done:
    bbo__buf_dispose(&uri);
    bbo__url_dispose(&url);
    bbo_loopback_free(lb);
    return error;
}

const char *bbo_loopback_redirect_uri(const bbo_loopback *lb)
{
    return lb ? lb->redirect_uri : NULL;
}

int bbo_loopback_port(const bbo_loopback *lb)
{
    return lb ? lb->port : 0;
}

/* Give `lb` a fresh launch path that redirects to `target` (a previous one
 * stops working); *out gets the launch URL. */
static int set_launch(bbo_loopback *lb, const char *target, char **out)
{
    char *token = NULL, *path = NULL, *copy = NULL;
    bbo_buf url = BBO_BUF_INIT;
    int error;

    if ((error = bbo__random_token(&token, LAUNCH_BYTES)) < 0)
        goto done;
    if ((error = bbo__buf_putc(&url, '/')) < 0 || (error = bbo__buf_puts(&url, token)) < 0)
        goto done;
    path = url.ptr;
    url = (bbo_buf)BBO_BUF_INIT;
    if ((copy = bbo__strdup(target)) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    if ((error = bbo__buf_puts(&url, "http://")) < 0 ||
        (error = bbo__buf_puts(&url, lb->host)) < 0 || (error = bbo__buf_puts(&url, path)) < 0)
        goto done;
    bbo__free(lb->launch_path);
    bbo__free(lb->launch_target);
    lb->launch_path = path;
    lb->launch_target = copy;
    lb->launch_used = false;
    path = copy = NULL;
    *out = url.ptr;
    url.ptr = NULL;
done:
    bbo__free(token);
    bbo__free(path);
    bbo__free(copy);
    bbo__buf_dispose(&url);
    return error;
}

int bbo_loopback_launch_url(bbo_loopback *lb, const bbo_authorization *auth, char **out)
{
    const char *redirect;

    if (!lb || !auth || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_launch_url: NULL argument");
    if (lb->fd < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_launch_url: the receiver was "
                                          "already used");
    redirect = bbo_authorization_redirect_uri(auth);
    if (!redirect || strcmp(redirect, lb->redirect_uri) != 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_launch_url: the authorization does not "
                                          "redirect to this receiver; begin it with "
                                          "bbo_loopback_redirect_uri");
    return set_launch(lb, bbo_authorization_url(auth), out);
}

/* ------------------------------------------------------------------------
 * Reading a request head (no I/O: the fuzz target calls this).
 */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

static const char *find_blank_line(const char *data, size_t len)
{
    size_t i;

    for (i = 0; i + 4 <= len; i++)
        if (memcmp(data + i, "\r\n\r\n", 4) == 0)
            return data + i;
    return NULL;
}

/* "GET /target HTTP/1.x" in [p, end); the target goes to *target. */
static bool read_request_line(const char *p, const char *end, const char **target, size_t *len)
{
    const char *t;

    if (end - p < 4 || memcmp(p, "GET ", 4) != 0)
        return false;
    t = p += 4;
    while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == t || *t != '/' || end - p != 9 ||
        (memcmp(p, " HTTP/1.1", 9) != 0 && memcmp(p, " HTTP/1.0", 9) != 0))
        return false;
    *target = t;
    *len = (size_t)(p - t);
    return true;
}

/* One "Name: value" line in [p, end). Counts Host headers and keeps the
 * last one's value, without the optional white space around it. */
static bool read_header(const char *p, const char *end, const char **host, size_t *host_len,
                        int *host_count)
{
    const char *name = p, *value;
    bool is_host;

    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == name || p == end || *p != ':')
        return false;
    is_host = p - name == 4 && bbo__strncasecmp(name, "host", 4) == 0;
    for (value = ++p; p < end; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    if (is_host) {
        while (value < end && (*value == ' ' || *value == '\t'))
            value++;
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *host = value;
        *host_len = (size_t)(end - value);
        (*host_count)++;
    }
    return true;
}

/* The receiver's own Host, case aside; on port 80 a browser leaves the
 * port out. */
static bool host_matches(const char *want, const char *host, size_t len)
{
    size_t wlen = strlen(want);

    if (len == wlen && bbo__strncasecmp(host, want, len) == 0)
        return true;
    return wlen > 3 && strcmp(want + wlen - 3, ":80") == 0 && len == wlen - 3 &&
           bbo__strncasecmp(host, want, len) == 0;
}

bbo__lb_route bbo__loopback_classify(const bbo__lb_routes *routes, const char *data, size_t len,
                                     const char **target_out, size_t *target_len_out)
{
    const char *blank = find_blank_line(data, len), *end, *line, *eol, *target = NULL;
    const char *host = NULL;
    size_t target_len = 0, host_len = 0;
    size_t path_len = routes->callback_path ? strlen(routes->callback_path) : 0;
    int host_count = 0;

    if (!blank)
        return BBO__LB_INCOMPLETE;
    end = blank + 2; /* the head's lines, each ending in CRLF */
    if (memchr(data, '\0', (size_t)(end - data)))
        return BBO__LB_BAD_REQUEST;
    if ((eol = find_crlf(data, end)) == NULL ||
        !read_request_line(data, eol, &target, &target_len))
        return BBO__LB_BAD_REQUEST;
    for (line = eol + 2; line < end; line = eol + 2) {
        if ((eol = find_crlf(line, end)) == NULL ||
            !read_header(line, eol, &host, &host_len, &host_count))
            return BBO__LB_BAD_REQUEST;
    }
    /* a page of another site whose name an attacker pointed at 127.0.0.1
     * (DNS rebinding) sends that name */
    if (host_count != 1 || !host || !host_matches(routes->host, host, host_len))
        return BBO__LB_BAD_HOST;
    if (routes->launch_path && target_len == strlen(routes->launch_path) &&
        memcmp(target, routes->launch_path, target_len) == 0)
        return BBO__LB_LAUNCH;
    if (!routes->callback_path || target_len < path_len ||
        memcmp(target, routes->callback_path, path_len) != 0 ||
        (target_len > path_len && target[path_len] != '?'))
        return BBO__LB_NOT_FOUND;
    *target_out = target;
    *target_len_out = target_len;
    return BBO__LB_CALLBACK;
}

/* ------------------------------------------------------------------------
 * Answers. Best effort: the browser may already be gone, and that must
 * not raise SIGPIPE in the application; the socket does not block.
 */

static void send_parts(int fd, const char *a, size_t alen, const char *b, size_t blen,
                       const char *c, size_t clen)
{
    struct iovec iov[3];
    struct msghdr msg;

    iov[0].iov_base = (void *)a;
    iov[0].iov_len = alen;
    iov[1].iov_base = (void *)b;
    iov[1].iov_len = blen;
    iov[2].iov_base = (void *)c;
    iov[2].iov_len = clen;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    (void)!sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void answer(int fd, int status, const char *reason, const char *title, const char *text)
{
    char page[1024], head[256];
    int plen, hlen;

    plen = snprintf(page, sizeof(page),
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                    "<body><h1>%s</h1><p>%s</p></body></html>\n", title, title, text);
    if (plen < 0 || (size_t)plen >= sizeof(page))
        plen = (int)strlen(page);
    hlen = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                    "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n"
                    "Referrer-Policy: no-referrer\r\n\r\n", status, reason, plen);
    send_parts(fd, head, (size_t)hlen, page, (size_t)plen, "", 0);
}

/* The authorization URL goes out only here, to the one connection that
 * asked for the launch path. */
static void answer_redirect(int fd, const char *location)
{
    static const char head[] = "HTTP/1.1 302 Found\r\nLocation: ";
    static const char tail[] = "\r\nContent-Length: 0\r\nCache-Control: no-store\r\n"
                               "Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n";

    send_parts(fd, head, sizeof(head) - 1, location, strlen(location), tail, sizeof(tail) - 1);
}

/* The error text shown in the browser: a fixed sentence per code, never
 * the server's text (it would have to be HTML-escaped). */
static const char *page_text(int code)
{
    switch (code) {
    case BBO_EDENIED: return "Access was denied. You can close this window.";
    case BBO_ESTATE: return "This redirect does not belong to the login in progress.";
    case BBO_EOAUTH: return "Bitbucket reported an error; the application shows the details.";
    default: return "The redirect could not be read; the application shows the details.";
    }
}

/* ------------------------------------------------------------------------
 * Serving: every connection at once.
 */

typedef struct conn {
    int fd;           /* -1: a free slot */
    int64_t deadline; /* for a complete request head */
    uint64_t serial;  /* accept order: the lowest is the oldest */
    bbo_buf head;     /* may hold a code and state: wiped when disposed */
} conn;

typedef struct waiter {
    bbo_loopback *lb;
    bbo_authorization *auth;
    conn conns[MAX_CONNECTIONS];
    uint64_t accepted;
    int soft_error; /* why redirects were refused, for the timeout's message */
    char *code;     /* the result */
} waiter;

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    bbo__buf_dispose(&c->head);
}

/* A complete head: answer it. Returns 1 to keep waiting, 0 with w->code
 * set when the login completed, or a final error. */
static int serve(waiter *w, conn *c)
{
    bbo_loopback *lb = w->lb;
    bbo__lb_routes routes;
    const char *target = NULL;
    size_t target_len = 0;
    char *path_query = NULL;
    int rc = 1;

    routes.host = lb->host;
    routes.callback_path = lb->path;
    routes.launch_path = lb->launch_path;
    switch (bbo__loopback_classify(&routes, c->head.ptr, c->head.size, &target, &target_len)) {
    case BBO__LB_INCOMPLETE:
        return 1;
    case BBO__LB_BAD_REQUEST:
        answer(c->fd, 400, "Bad Request", "Bad request", "Only a GET redirect is expected here.");
        break;
    case BBO__LB_BAD_HOST:
        answer(c->fd, 400, "Bad Request", "Bad request",
               "This address serves a login on this computer only.");
        break;
    case BBO__LB_NOT_FOUND:
        answer(c->fd, 404, "Not Found", "Not found", "Nothing here.");
        break;
    case BBO__LB_LAUNCH:
        if (!lb->launch_used) {
            lb->launch_used = true;
            answer_redirect(c->fd, lb->launch_target);
            if (!w->auth)
                rc = BBO_OK; /* bbo_browser_open's redirector: its work is done */
            break;
        }
        /* Two requests for one launch link: another local program read it
         * (from the browser's command line) and fetched the authorization
         * URL too. Which one is the browser cannot be told: end the login
         * before a redirect of the other can complete it. */
        answer(c->fd, 404, "Not Found", "Login link already used",
               "This login link was already used. Start the login again.");
        rc = bbo__error_set(BBO_ESTATE, "the one-time login link was opened twice (another "
                                        "program on this computer may have intercepted it); "
                                        "start the login again");
        break;
    case BBO__LB_CALLBACK:
        if ((path_query = bbo__strndup(target, target_len)) == NULL) {
            rc = bbo__error_oom();
            break;
        }
        rc = bbo_authorization_complete(w->auth, path_query, &w->code);
        if (rc == BBO_OK) {
            answer(c->fd, 200, "OK", "Logged in",
                   "You can close this window and return to the application.");
            break;
        }
        answer(c->fd, 400, "Bad Request", "Login failed", page_text(rc));
        /* a wrong state, or a query too broken to find one, may come from
         * any local process: keep waiting for the real redirect */
        if (rc == BBO_ESTATE || rc == BBO_EPROTOCOL) {
            w->soft_error = rc;
            rc = 1;
        }
        break;
    }
    bbo__free(path_query);
    conn_close(c);
    return rc;
}

/* Read what `c` sent. Returns 1 to keep waiting, or what serve returns. */
static int conn_read(waiter *w, conn *c)
{
    char chunk[2048]; /* holds the code and state: wiped on the way out */
    int rc = 1;

    for (;;) {
        ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0 || c->head.size + (size_t)n > REQUEST_MAX) {
            conn_close(c); /* gone before a complete head, or not a browser */
            break;
        }
        if ((rc = bbo__buf_put(&c->head, chunk, (size_t)n)) < 0)
            break;
        if ((rc = serve(w, c)) != 1 || c->fd < 0)
            break;
    }
    bbo__wipe(chunk, sizeof(chunk));
    return rc;
}

static conn *free_slot(waiter *w)
{
    conn *oldest = &w->conns[0];
    size_t i;

    for (i = 0; i < MAX_CONNECTIONS; i++) {
        if (w->conns[i].fd < 0)
            return &w->conns[i];
        if (w->conns[i].serial < oldest->serial)
            oldest = &w->conns[i];
    }
    conn_close(oldest);
    return oldest;
}

#if defined(__linux__)
/* An address and port as /proc/net/tcp{,6} prints them: each 32-bit word
 * of the address as it lies in memory, printed as a number, then ":PORT". */
static void proc_address(char *out, size_t size, const struct sockaddr_storage *a)
{
    const unsigned char *bytes;
    size_t words, i, n = 0;
    int port;

    if (a->ss_family == AF_INET6) {
        bytes = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        words = 4;
        port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    } else {
        bytes = (const unsigned char *)&((const struct sockaddr_in *)a)->sin_addr;
        words = 1;
        port = ntohs(((const struct sockaddr_in *)a)->sin_port);
    }
    for (i = 0; i < words; i++) {
        uint32_t word;

        memcpy(&word, bytes + i * 4, 4);
        n += (size_t)snprintf(out + n, size - n, "%08X", (unsigned int)word);
    }
    snprintf(out + n, size - n, ":%04X", (unsigned int)port);
}

/* The line of /proc/net/tcp{,6} whose two ends are `ends` ("LOCAL REMOTE");
 * 1 with *uid set when there is one. */
static int table_entry(const char *line, const char *ends, unsigned long *uid)
{
    const char *at = strstr(line, ends);
    size_t len = strlen(ends);
    unsigned int state;

    /* "  sl  local remote st tx:rx tr:when retrnsmt uid ..."; a socket in
     * TIME_WAIT (6) is listed with uid 0 whoever had it */
    return at && at > line && at[-1] == ' ' && at[len] == ' ' &&
           sscanf(at + len, " %x %*x:%*x %*x:%*x %*x %lu", &state, uid) == 2 && state != 6;
}

/* The user owning the other end of loopback connection `fd`, from the
 * kernel's socket table (SO_PEERCRED is for Unix sockets only). 1 found,
 * 0 not there (closed already), -1 the table cannot be read or does not
 * list this process's own end either (an emulated /proc, as on WSL 1). */
static int peer_uid(int fd, unsigned long *uid)
{
    struct sockaddr_storage local, peer;
    socklen_t llen = sizeof(local), plen = sizeof(peer);
    char line[512], theirs[96], ours[96], local_text[48], peer_text[48];
    unsigned long our_uid;
    bool listed = false;
    FILE *fp;
    int found = 0;

    if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
        return 0;
    proc_address(local_text, sizeof(local_text), &local);
    proc_address(peer_text, sizeof(peer_text), &peer);
    /* the client's socket: its local end is our peer, its remote end us */
    snprintf(theirs, sizeof(theirs), "%s %s", peer_text, local_text);
    snprintf(ours, sizeof(ours), "%s %s", local_text, peer_text);
    if ((fp = fopen(local.ss_family == AF_INET6 ? "/proc/net/tcp6" : "/proc/net/tcp", "re")) ==
        NULL)
        return -1;
    while ((!found || !listed) && fgets(line, sizeof(line), fp)) {
        if (!found && table_entry(line, theirs, uid))
            found = 1;
        else if (!listed && table_entry(line, ours, &our_uid))
            listed = true;
    }
    fclose(fp);
    return listed ? found : -1;
}
#endif

/*
 * Whether the connection comes from a process of the user this program
 * runs as (or, under sudo, of the user who ran sudo): another local user
 * must not be able to bring a redirect, nor fetch the launch URL. Where
 * the kernel's socket table cannot be read (not Linux), every local
 * connection is served.
 */
static bool peer_is_ours(int fd)
{
#if defined(__linux__)
    unsigned long uid;
    const char *sudo_uid;
    int found = peer_uid(fd, &uid);

    if (found < 0)
        return true;
    if (!found)
        return false; /* gone already: nothing to answer */
    if (uid == (unsigned long)geteuid() || uid == (unsigned long)getuid())
        return true;
    sudo_uid = geteuid() == 0 ? getenv("SUDO_UID") : NULL;
    return sudo_uid && *sudo_uid && strtoul(sudo_uid, NULL, 10) == uid;
#else
    (void)fd;
    return true;
#endif
}

/* Take every pending connection. Returns 1, or a final error. */
static int accept_all(waiter *w)
{
    int i;

    for (i = 0; i < MAX_CONNECTIONS; i++) {
        int fd = accept4(w->lb->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        conn *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            /* out of descriptors: serve what is open, try again later */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                return 1;
            return bbo__error_set(BBO_EIO, "accept failed: %s", strerror(errno));
        }
        if (!peer_is_ours(fd)) {
            close(fd);
            continue;
        }
        c = free_slot(w);
        c->fd = fd;
        c->deadline = now_ms() + REQUEST_WAIT_MS;
        c->serial = ++w->accepted;
    }
    return 1;
}

static int timeout_error(const waiter *w, int timeout_ms)
{
    if (w->soft_error == BBO_ESTATE)
        return bbo__error_set(BBO_ESTATE, "only redirects with a wrong state arrived within "
                                          "%d ms", timeout_ms);
    if (w->soft_error == BBO_EPROTOCOL)
        return bbo__error_set(BBO_EPROTOCOL, "only malformed redirects arrived within %d ms",
                              timeout_ms);
    return bbo__error_set(BBO_ETIMEOUT, "no redirect arrived within %d ms", timeout_ms);
}

/* One round: drop the connections past their deadline, poll, read. */
static int wait_round(waiter *w, int64_t deadline, int timeout_ms)
{
    struct pollfd pfd[MAX_CONNECTIONS + 1];
    conn *polled[MAX_CONNECTIONS + 1];
    int64_t now = now_ms(), wake = deadline;
    nfds_t n = 1, i;
    int ready, rc = 1;

    if (now >= deadline)
        return timeout_error(w, timeout_ms);
    pfd[0].fd = w->lb->fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    polled[0] = NULL;
    for (i = 0; i < MAX_CONNECTIONS; i++) {
        conn *c = &w->conns[i];

        if (c->fd >= 0 && c->deadline <= now)
            conn_close(c); /* silent too long: a preconnect or a stall */
        if (c->fd < 0)
            continue;
        if (c->deadline < wake)
            wake = c->deadline;
        pfd[n].fd = c->fd;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        polled[n++] = c;
    }
    ready = poll(pfd, n, (int)(wake - now > 1000000 ? 1000000 : wake - now));
    if (ready < 0 && errno != EINTR)
        return bbo__error_set(BBO_EIO, "poll failed: %s", strerror(errno));
    if (ready <= 0)
        return 1;
    for (i = 1; i < n && rc == 1; i++)
        if (pfd[i].revents)
            rc = conn_read(w, polled[i]);
    if (rc == 1 && pfd[0].revents)
        rc = accept_all(w);
    return rc;
}

/* Serve until a redirect completes `auth` (or, without `auth`, until the
 * launch path was fetched), then close the listening socket. */
static int run_receiver(bbo_loopback *lb, bbo_authorization *auth, int timeout_ms,
                        char **code_out)
{
    waiter *w;
    int64_t deadline;
    size_t i;
    int rc = 1;

    if ((w = bbo__calloc(1, sizeof(*w))) == NULL) {
        rc = bbo__error_oom();
        goto done;
    }
    w->lb = lb;
    w->auth = auth;
    for (i = 0; i < MAX_CONNECTIONS; i++)
        w->conns[i].fd = -1;
    deadline = now_ms() + timeout_ms;
    while (rc == 1)
        rc = wait_round(w, deadline, timeout_ms);
    if (rc == BBO_OK && code_out)
        *code_out = w->code;
    for (i = 0; i < MAX_CONNECTIONS; i++)
        conn_close(&w->conns[i]);
done:
    bbo__free(w);
    close(lb->fd);
    lb->fd = -1;
    return rc;
}

int bbo_loopback_wait(bbo_loopback *lb, bbo_authorization *auth, int timeout_ms, char **code_out)
{
    if (!lb || !auth || !code_out || timeout_ms <= 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_wait: invalid argument");
    if (lb->fd < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_wait: the receiver was already used");
    if (!lb->path)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_wait: not a receiver");
    return run_receiver(lb, auth, timeout_ms, code_out);
}

void bbo_loopback_free(bbo_loopback *lb)
{
    if (!lb)
        return;
    if (lb->fd >= 0)
        close(lb->fd);
    bbo__free(lb->path);
    bbo__free(lb->redirect_uri);
    bbo__free(lb->host);
    bbo__free(lb->launch_path);
    bbo__free(lb->launch_target); /* bbo__free wipes: it holds the state */
    bbo__free(lb);
}

/* ------------------------------------------------------------------------
 * The browser.
 */

/* Parts of variable names that say the value is a secret. */
static const char *const secret_words[] = {
    "SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL",
    "API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY",
};

bool bbo__browser_env_keeps(const char *entry)
{
    size_t len = strcspn(entry, "="), i, at;

    if (len >= 4 && bbo__strncasecmp(entry, "BBO_", 4) == 0)
        return false;
    for (i = 0; i < BBO_ARRAY_SIZE(secret_words); i++) {
        size_t wlen = strlen(secret_words[i]);

        for (at = 0; at + wlen <= len; at++)
            if (bbo__strncasecmp(entry + at, secret_words[i], wlen) == 0)
                return false;
    }
    return true;
}

int bbo__browser_env(char *const *env, char ***out)
{
    char **kept;
    size_t n = 0, i, k = 0;

    while (env && env[n])
        n++;
    if ((kept = bbo__calloc(n + 1, sizeof(*kept))) == NULL)
        return bbo__error_oom();
    for (i = 0; i < n; i++)
        if (bbo__browser_env_keeps(env[i]))
            kept[k++] = env[i];
    kept[k] = NULL;
    *out = kept;
    return BBO_OK;
}

/* `url` has the query parameter that starts with `prefix` ("state="). */
static bool has_param(const char *url, const char *prefix)
{
    const char *end = strchr(url, '#'), *p = strchr(url, '?');
    size_t len = strlen(prefix);

    while (p && (!end || p < end)) {
        if (strncmp(p + 1, prefix, len) == 0)
            return true;
        p = strchr(p + 1, '&');
    }
    return false;
}

/* A one-time local URL that redirects to `target`, served by a receiver
 * without a callback path (bbo_browser_open's redirector). */
static int redirector_new(bbo_loopback **out, const char *target, char **local_url)
{
    bbo_loopback *lb;
    int error;

    if ((lb = bbo__calloc(1, sizeof(*lb))) == NULL)
        return bbo__error_oom();
    lb->fd = -1;
    if ((error = listen_on(lb, false, 0)) < 0 || (error = set_launch(lb, target, local_url)) < 0) {
        bbo_loopback_free(lb);
        return error;
    }
    *out = lb;
    return BBO_OK;
}

static void *redirector_main(void *arg)
{
    bbo_loopback *lb = arg;

    (void)run_receiver(lb, NULL, REDIRECTOR_WAIT_MS, NULL);
    bbo_loopback_free(lb);
    return NULL;
}

static void *reap_child(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;

    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

int bbo_browser_open(const char *url)
{
#if defined(__APPLE__)
    const char *fallback = "open";
#else
    const char *fallback = "xdg-open";
#endif
    const char *program = getenv("BROWSER");
    char *argv[3], **envp = NULL, *local = NULL;
    bbo_loopback *redirector = NULL;
    pthread_t thread;
    pid_t pid;
    int error;

    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return bbo__error_set(BBO_EINVAL, "bbo_browser_open: not an http(s) URL");
    if (!program || !*program || strchr(program, ' '))
        program = fallback;
    /* every local user can read a browser's command line: an authorization
     * URL (its state and PKCE challenge) is handed over through a one-time
     * local redirect instead */
    if ((has_param(url, "state=") || has_param(url, "code_challenge=")) &&
        (error = redirector_new(&redirector, url, &local)) < 0)
        return error;
    argv[0] = (char *)program;
    argv[1] = local ? local : (char *)url;
    argv[2] = NULL;
    /* the browser gets this process's environment without its secrets
     * (BBO_CONSUMER_SECRET, *_TOKEN, ...): it runs for hours and may start
     * helpers and extensions */
    if ((error = bbo__browser_env(environ, &envp)) < 0)
        goto done;
    if (posix_spawnp(&pid, program, NULL, NULL, argv, envp) != 0) {
        error = bbo__error_set(BBO_EIO, "cannot start %s to open the browser", program);
        goto done;
    }
    /* reap the launcher whenever it exits, without making the caller wait
     * for a browser that may run for hours */
    if (pthread_create(&thread, NULL, reap_child, (void *)(intptr_t)pid) == 0)
        pthread_detach(thread);
    /* the browser's request waits in the listening socket's queue */
    if (redirector) {
        if (pthread_create(&thread, NULL, redirector_main, redirector) != 0) {
            error = bbo__error_set(BBO_EIO, "cannot start a thread to hand the URL to the "
                                            "browser");
            goto done;
        }
        pthread_detach(thread);
        redirector = NULL;
    }
done:
    bbo_loopback_free(redirector);
    bbo__free(local);
    bbo__free(envp);
    return error;
}
