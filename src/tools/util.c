/*
 * bbo tools: messages, exit codes, small parsers (numbers, URLs, JSON).
 * SPDX-License-Identifier: MIT
 */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

const char *tool_prog = "bbo";
char *tool_env_secret = NULL;

void tool_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void tool_free_secret(char *s)
{
    if (s) {
        tool_wipe(s, strlen(s));
        free(s);
    }
}

static void out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", tool_prog);
    exit(TOOL_EXIT_FAIL);
}

char *tool_strdup(const char *s)
{
    char *d = strdup(s ? s : "");

    if (!d)
        out_of_memory();
    return d;
}

char *tool_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory();
    return s;
}

void tool_set(char **field, const char *value)
{
    free(*field);
    *field = value ? tool_strdup(value) : NULL;
}

int tool_exit_code(int code)
{
    const bbo_error *e = bbo_error_last();
    const char *oauth = bbo_error_oauth_code(e);
    int status = bbo_error_http_status(e);

    switch (code) {
    case BBO_OK:
        return TOOL_EXIT_OK;
    case BBO_ETRANSPORT:
    case BBO_ETLS:
    case BBO_ETIMEOUT:
    case BBO_ERATELIMIT:
        return TOOL_EXIT_NETWORK;
    case BBO_EDENIED:
        return TOOL_EXIT_DENIED;
    case BBO_EEXPIRED:
        return TOOL_EXIT_LOGIN;
    case BBO_ESCOPE:
        return TOOL_EXIT_SCOPE;
    case BBO_EOAUTH:
        if (oauth && strcmp(oauth, "invalid_grant") == 0)
            return TOOL_EXIT_LOGIN;
        if (oauth && strcmp(oauth, "invalid_scope") == 0)
            return TOOL_EXIT_SCOPE;
        if (oauth && (strcmp(oauth, "unauthorized_client") == 0 ||
                      strcmp(oauth, "invalid_client") == 0 ||
                      strcmp(oauth, "access_denied") == 0))
            return TOOL_EXIT_DENIED;
        return TOOL_EXIT_FAIL;
    case BBO_EHTTP:
        if (status == 401)
            return TOOL_EXIT_LOGIN;
        if (status == 403)
            return TOOL_EXIT_DENIED;
        return TOOL_EXIT_FAIL;
    default:
        return TOOL_EXIT_FAIL;
    }
}

void tool_hint(int exit_code, const char *profile)
{
    char opt[TOOL_NAME_MAX + 16] = "";

    if (profile && strcmp(profile, "default") != 0)
        snprintf(opt, sizeof(opt), " --profile %s", profile);
    switch (exit_code) {
    case TOOL_EXIT_LOGIN:
        fprintf(stderr, "%s: not logged in: run `bbo login%s`\n", tool_prog, opt);
        break;
    case TOOL_EXIT_NETWORK:
        fprintf(stderr, "%s: check the network (for a server with a private CA: bbo login "
                        "--ca-file FILE, or BBO_CA_FILE), then try again\n", tool_prog);
        break;
    case TOOL_EXIT_DENIED:
        fprintf(stderr, "%s: access was denied: check the consumer key and secret (Bitbucket: "
                        "Workspace settings > OAuth consumers), then run `bbo login%s`\n",
                tool_prog, opt);
        break;
    case TOOL_EXIT_SCOPE:
        fprintf(stderr, "%s: add the missing permissions to the consumer on Bitbucket "
                        "(Workspace settings > OAuth consumers > Edit > Permissions), "
                        "then run `bbo login%s` again\n", tool_prog, opt);
        break;
    default:
        break;
    }
}

int tool_fail(const char *profile, const char *what, int code)
{
    const bbo_error *e = bbo_error_last();
    const char *desc = bbo_error_description(e);
    int exit_code = tool_exit_code(code);

    fprintf(stderr, "%s: %s: %s", tool_prog, what, bbo_error_message(e));
    if (desc && !strstr(bbo_error_message(e), desc))
        fprintf(stderr, " (Bitbucket says: %s)", desc);
    fputc('\n', stderr);
    tool_hint(exit_code, profile);
    return exit_code;
}

int tool_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    if (!text || !*text || isspace((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

char *tool_read_file(const char *path, size_t max, size_t *len_out)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    tool_buf b = { 0 };
    char chunk[4096];
    ssize_t n;

    if (fd < 0)
        return NULL;
    tool_buf_add(&b, "", 0);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || b.len + (size_t)n > max) {
            int saved = n < 0 ? errno : EFBIG;

            tool_buf_dispose(&b);
            if (fd)
                close(fd);
            tool_wipe(chunk, sizeof(chunk));
            errno = saved;
            return NULL;
        }
        tool_buf_add(&b, chunk, (size_t)n);
    }
    tool_wipe(chunk, sizeof(chunk));
    if (fd)
        close(fd);
    if (len_out)
        *len_out = b.len;
    return b.ptr;
}

char *tool_read_line_fd(int fd, size_t max, int *eof)
{
    tool_buf b = { 0 };
    char c;
    ssize_t n;

    *eof = 0;
    tool_buf_add(&b, "", 0);
    for (;;) {
        n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *eof = 1;
            break;
        }
        if (c == '\n')
            break;
        if (b.len >= max) {
            tool_buf_dispose(&b);
            return NULL;
        }
        tool_buf_add(&b, &c, 1);
    }
    c = 0;
    if (b.len && b.ptr[b.len - 1] == '\r')
        b.ptr[--b.len] = 0;
    if (*eof && b.len == 0) {
        tool_buf_dispose(&b);
        return NULL;
    }
    return b.ptr;
}

char *tool_read_secret_tty(const char *prompt)
{
    struct termios old, quiet;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), eof;
    char *line;

    if (fd < 0)
        return NULL;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return NULL;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    (void)!write(fd, prompt, strlen(prompt));
    tcsetattr(fd, TCSAFLUSH, &quiet);
    line = tool_read_line_fd(fd, 4096, &eof);
    tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    return line;
}

void tool_format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "?");
}

int tool_url_host(const char *url, char *scheme, size_t scheme_size, char *host,
                  size_t host_size)
{
    const char *p = strstr(url ? url : "", "://"), *start, *end;
    size_t slen, hlen, i;

    if (!p)
        return -1;
    slen = (size_t)(p - url);
    if (slen + 1 > scheme_size)
        return -1;
    for (i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)url[i]);
    scheme[slen] = 0;
    if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
        return -1;
    start = p + 3;
    end = start + strcspn(start, "/?#");
    if (memchr(start, '@', (size_t)(end - start)))
        return -1; /* no user info in a server URL */
    hlen = (size_t)(end - start);
    if (hlen == 0 || hlen + 1 > host_size)
        return -1;
    for (i = 0; i < hlen; i++)
        host[i] = (char)tolower((unsigned char)start[i]);
    host[hlen] = 0;
    /* the default port is not part of git's host */
    if (hlen > 4 && strcmp(scheme, "https") == 0 && strcmp(host + hlen - 4, ":443") == 0)
        host[hlen - 4] = 0;
    else if (hlen > 3 && strcmp(scheme, "http") == 0 && strcmp(host + hlen - 3, ":80") == 0)
        host[hlen - 3] = 0;
    return 0;
}

int tool_is_loopback_host(const char *hostport)
{
    static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
    size_t i, n;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = strlen(names[i]);
        if (strncmp(hostport, names[i], n) == 0 && (hostport[n] == 0 || hostport[n] == ':'))
            return 1;
    }
    return 0;
}

/* ---- buffers ---- */

void tool_buf_add(tool_buf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + len + 1)
            cap *= 2;
        if ((p = malloc(cap)) == NULL)
            out_of_memory();
        if (b->ptr) {
            memcpy(p, b->ptr, b->len);
            tool_wipe(b->ptr, b->cap); /* it may hold a secret */
            free(b->ptr);
        }
        b->ptr = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = 0;
}

void tool_buf_puts(tool_buf *b, const char *s)
{
    tool_buf_add(b, s, strlen(s));
}

void tool_buf_json_string(tool_buf *b, const char *s)
{
    char esc[8];

    if (!s) {
        tool_buf_puts(b, "null");
        return;
    }
    tool_buf_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            tool_buf_add(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            tool_buf_puts(b, esc);
        } else {
            tool_buf_add(b, (const char *)&c, 1);
        }
    }
    tool_buf_add(b, "\"", 1);
}

void tool_buf_dispose(tool_buf *b)
{
    if (b->ptr) {
        tool_wipe(b->ptr, b->cap);
        free(b->ptr);
    }
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* ---- JSON reading: just enough to find members and array elements ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the string starting at p (on its opening quote), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* The end of the value starting at p, or NULL when malformed. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    for (; p < end; p++) {
        if (*p == '"') {
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

int tool_json_member(const char *json, size_t len, const char *name, const char **value,
                     size_t *value_len)
{
    const char *end = json + len, *p = skip_ws(json, end), *k, *v;
    size_t nlen = strlen(name);

    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *key = p + 1;

        if ((k = skip_string(p, end)) == NULL)
            return -1;
        p = skip_ws(k, end);
        if (p >= end || *p != ':')
            return -1;
        v = skip_ws(p + 1, end);
        if ((p = skip_value(v, end)) == NULL)
            return -1;
        if ((size_t)(k - 1 - key) == nlen && memcmp(key, name, nlen) == 0) {
            *value = v;
            *value_len = (size_t)(p - v);
            return 0;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return 1;
}

int tool_json_array_each(const char *array, size_t len,
                         void (*cb)(const char *elem, size_t elem_len, void *payload),
                         void *payload)
{
    const char *end = array + len, *p = skip_ws(array, end), *e;

    if (p >= end || *p != '[')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return 0;
    while (p < end) {
        if ((e = skip_value(p, end)) == NULL)
            return -1;
        cb(p, (size_t)(e - p), payload);
        p = skip_ws(e, end);
        if (p < end && *p == ']')
            return 0;
        if (p >= end || *p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
    return -1;
}

char *tool_json_string_member(const char *json, size_t len, const char *name)
{
    const char *v, *p, *end;
    size_t vlen;
    tool_buf b = { 0 };

    if (tool_json_member(json, len, name, &v, &vlen) != 0 || vlen < 2 || *v != '"')
        return NULL;
    end = v + vlen - 1;
    tool_buf_add(&b, "", 0);
    for (p = v + 1; p < end; p++) {
        char c = *p;

        if (c == '\\' && p + 1 < end) {
            c = *++p;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'u') {
                c = '?'; /* enough for messages */
                p += p + 4 < end ? 4 : 0;
            }
        }
        tool_buf_add(&b, &c, 1);
    }
    return b.ptr;
}

int tool_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: option %s needs a value (see %s --help)\n", tool_prog, name,
                tool_prog);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int tool_int_option(int argc, char **argv, int *i, const char *name, long min, long max,
                    long *out)
{
    const char *v;
    int r = tool_option(argc, argv, i, name, &v);

    if (r > 0 && tool_parse_int(v, min, max, out) != 0) {
        fprintf(stderr, "%s: %s wants a whole number from %ld to %ld, not \"%s\"\n", tool_prog,
                name, min, max, v);
        return -1;
    }
    return r;
}

int tool_unknown_option(const char *command, const char *arg)
{
    fprintf(stderr, "%s: %s: unknown option %s (see `%s%s%s --help`)\n", tool_prog,
            command, arg, tool_prog, *command ? " " : "", command);
    return TOOL_EXIT_USAGE;
}

char *tool_take_env_secret(const char *name)
{
    char *value = getenv(name), *copy;

    if (!value)
        return NULL;
    copy = tool_strdup(value);
    /* gone from this process's environment (and from anything it starts,
     * a browser included) and from /proc/self/environ */
    tool_wipe(value, strlen(value));
    unsetenv(name);
    if (!*copy) {
        free(copy);
        return NULL;
    }
    return copy;
}
