/*
 * Loopback redirect receiver (RFC 8252 section 7.3) and browser launch.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A browser's GET with its headers fits easily; more is not a browser. */
#define REQUEST_MAX 16384

/* A browser sends its request as soon as it connects. A connection that
 * stays silent (a speculative preconnect) is dropped after this long so
 * that it cannot hold up the one carrying the redirect. */
#define REQUEST_WAIT_MS 2000

struct bbo_loopback {
    int fd;
    int port;
    char *path;          /* the callback path ("/callback") */
    char *redirect_uri;  /* with the port actually bound */
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
    if ((lb->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return bbo__error_set(BBO_EIO, "cannot create a socket: %s", strerror(errno));
    setsockopt(lb->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lb->fd, (struct sockaddr *)&addr, len) != 0 || listen(lb->fd, 8) != 0)
        return bbo__error_set(BBO_EIO, "cannot listen on %s port %d: %s",
                              ipv6 ? "[::1]" : "127.0.0.1", port, strerror(errno));
    len = sizeof(addr);
    if (getsockname(lb->fd, (struct sockaddr *)&addr, &len) != 0)
        return bbo__error_set(BBO_EIO, "getsockname failed: %s", strerror(errno));
    lb->port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                          : ((struct sockaddr_in *)&addr)->sin_port);
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
    char port_text[16];
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
    if ((error = bind_loopback(lb, ipv6, explicit_port ? url.port : 0)) < 0)
        goto done;
    snprintf(port_text, sizeof(port_text), ":%d", lb->port);
    if ((error = bbo__buf_puts(&uri, ipv6 ? "http://[::1]" : "http://127.0.0.1")) < 0 ||
        (error = bbo__buf_puts(&uri, port_text)) < 0 ||
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

/* Read one request head (up to the blank line) before `deadline`. */
static int read_request(int fd, int64_t deadline, bbo_buf *head)
{
    char chunk[2048]; /* holds the code and state: wiped on the way out */
    int error = BBO_OK;

    while (error == BBO_OK && (!head->ptr || !strstr(head->ptr, "\r\n\r\n"))) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (left <= 0)
            error = BBO_ETIMEOUT;
        else if (poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left)) <= 0)
            continue;
        else if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
            error = BBO_EIO;
        else if (head->size + (size_t)n > REQUEST_MAX)
            error = BBO_EPROTOCOL;
        else
            error = bbo__buf_put(head, chunk, (size_t)n);
    }
    bbo__wipe(chunk, sizeof(chunk));
    return error;
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
    /* best effort: the browser may already be gone, and that must not
     * raise SIGPIPE in the application */
    if (send(fd, head, (size_t)hlen, MSG_NOSIGNAL) == hlen)
        (void)!send(fd, page, (size_t)plen, MSG_NOSIGNAL);
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

/* Handle one connection. Returns BBO_OK with *code_out set when the login
 * completed, a final error, or 1 to keep waiting (with *soft_error set). */
static int serve_one(bbo_loopback *lb, int fd, bbo_authorization *auth, int64_t deadline,
                     char **code_out, int *soft_error)
{
    bbo_buf head = BBO_BUF_INIT;
    const char *target, *end;
    char *path_query = NULL;
    size_t path_len = strlen(lb->path);
    int64_t request_deadline = now_ms() + REQUEST_WAIT_MS;
    int rc;

    if ((rc = read_request(fd, request_deadline < deadline ? request_deadline : deadline,
                           &head)) < 0) {
        bbo__buf_dispose(&head);
        return rc == BBO_ENOMEM ? rc : 1; /* a stray or slow connection */
    }
    target = strchr(head.ptr, ' ');
    end = target ? strchr(target + 1, ' ') : NULL;
    if (strncmp(head.ptr, "GET ", 4) != 0 || !end) {
        answer(fd, 400, "Bad Request", "Bad request", "Only a GET redirect is expected here.");
        rc = 1;
        goto done;
    }
    target++;
    if ((size_t)(end - target) < path_len || strncmp(target, lb->path, path_len) != 0 ||
        (target[path_len] != '?' && target + path_len != end)) {
        answer(fd, 404, "Not Found", "Not found", "Nothing here.");
        rc = 1;
        goto done;
    }
    if ((path_query = bbo__strndup(target, (size_t)(end - target))) == NULL) {
        rc = bbo__error_oom();
        goto done;
    }
    rc = bbo_authorization_complete(auth, path_query, code_out);
    if (rc == BBO_OK) {
        answer(fd, 200, "OK", "Logged in", "You can close this window and return to the "
                                            "application.");
    } else {
        answer(fd, 400, "Bad Request", "Login failed", page_text(rc));
        /* a wrong state, or a query too broken to find one, may come from
         * any local process: keep waiting for the real redirect */
        if (rc == BBO_ESTATE || rc == BBO_EPROTOCOL) {
            *soft_error = rc;
            rc = 1;
        }
    }
done:
    bbo__free(path_query);
    bbo__buf_dispose(&head);
    return rc;
}

int bbo_loopback_wait(bbo_loopback *lb, bbo_authorization *auth, int timeout_ms, char **code_out)
{
    int64_t deadline;
    int soft_error = BBO_OK, rc = 1;

    if (!lb || !auth || !code_out || timeout_ms <= 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_wait: invalid argument");
    if (lb->fd < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_loopback_wait: the receiver was already used");
    deadline = now_ms() + timeout_ms;
    while (rc == 1) {
        struct pollfd pfd = { lb->fd, POLLIN, 0 };
        int64_t left = deadline - now_ms();
        int conn;

        if (left <= 0) {
            if (soft_error == BBO_ESTATE)
                rc = bbo__error_set(BBO_ESTATE, "only redirects with a wrong state arrived "
                                                "within %d ms", timeout_ms);
            else if (soft_error == BBO_EPROTOCOL)
                rc = bbo__error_set(BBO_EPROTOCOL, "only malformed redirects arrived within "
                                                   "%d ms", timeout_ms);
            else
                rc = bbo__error_set(BBO_ETIMEOUT, "no redirect arrived within %d ms",
                                    timeout_ms);
            break;
        }
        if (poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left)) <= 0)
            continue;
        if ((conn = accept(lb->fd, NULL, NULL)) < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            rc = bbo__error_set(BBO_EIO, "accept failed: %s", strerror(errno));
            break;
        }
        /* a browser launched while we serve must not inherit the socket */
        fcntl(conn, F_SETFD, FD_CLOEXEC);
        rc = serve_one(lb, conn, auth, deadline, code_out, &soft_error);
        close(conn);
    }
    close(lb->fd);
    lb->fd = -1;
    return rc;
}

void bbo_loopback_free(bbo_loopback *lb)
{
    if (!lb)
        return;
    if (lb->fd >= 0)
        close(lb->fd);
    bbo__free(lb->path);
    bbo__free(lb->redirect_uri);
    bbo__free(lb);
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
    char *argv[3];
    pthread_t reaper;
    pid_t pid;

    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return bbo__error_set(BBO_EINVAL, "bbo_browser_open: not an http(s) URL");
    if (!program || !*program || strchr(program, ' '))
        program = fallback;
    argv[0] = (char *)program;
    argv[1] = (char *)url;
    argv[2] = NULL;
    if (posix_spawnp(&pid, program, NULL, NULL, argv, environ) != 0)
        return bbo__error_set(BBO_EIO, "cannot start %s to open the browser", program);
    /* reap the launcher whenever it exits, without making the caller wait
     * for a browser that may run for hours */
    if (pthread_create(&reaper, NULL, reap_child, (void *)(intptr_t)pid) == 0)
        pthread_detach(reaper);
    return BBO_OK;
}
