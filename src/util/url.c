/*
 * Absolute http(s) URLs.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/encode.h"
#include "internal/url.h"

#include <stdlib.h>

void bbo__url_dispose(bbo_url *url)
{
    /* every part lives in the block that starts with the scheme */
    bbo__free(url->scheme);
    url->scheme = url->host = url->path = url->query = NULL;
}

/* `len` bytes of `s` lowercased at `out`, NUL-terminated; past the NUL. */
static char *put_lower(char *out, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[len] = '\0';
    return out + len + 1;
}

/* URL bytes: blanks and controls are refused, NUL ends the text. */
enum { U_FINE = 0, U_END, U_BAD };

#define C4(x) x, x, x, x
#define C16(x) C4(x), C4(x), C4(x), C4(x)
static const unsigned char url_class[256] = {
    U_END, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD,
    U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD,
    C16(U_BAD), U_BAD, /* 0x20: the blank */
    U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, /* 0x21-0x27 */
    U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, /* 0x28-0x2f */
    C16(U_FINE), C16(U_FINE), C16(U_FINE), /* 0x30-0x5f */
    C16(U_FINE), /* 0x60-0x6f */
    U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, /* 0x70-0x77 */
    U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_FINE, U_BAD, /* 0x78-0x7f: DEL */
    C16(U_FINE), C16(U_FINE), C16(U_FINE), C16(U_FINE), /* 0x80-0xff as before */
    C16(U_FINE), C16(U_FINE), C16(U_FINE), C16(U_FINE),
};

/* 5 for "https://", 4 for "http://" (any case), else 0. */
static size_t scheme_length(const char *url)
{
    /* | 0x20 lowercases the letters and maps nothing else onto them; the
     * first mismatch (a NUL at the latest) stops the reading */
    if ((url[0] | 0x20) != 'h' || (url[1] | 0x20) != 't' || (url[2] | 0x20) != 't' ||
        (url[3] | 0x20) != 'p')
        return 0;
    if ((url[4] | 0x20) == 's' && url[5] == ':' && url[6] == '/' && url[7] == '/')
        return 5;
    if (url[4] == ':' && url[5] == '/' && url[6] == '/')
        return 4;
    return 0;
}

static bool valid_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

BBO__HOT
int bbo__url_parse(bbo_url *out, const char *url, const char *what)
{
    bbo_url parsed = { NULL, NULL, 0, NULL, NULL };
    const char *p, *host, *host_end, *path, *query = NULL;
    size_t scheme_len, host_len, path_len, query_len = 0, i;
    char *block;

    for (i = 0; url_class[(unsigned char)url[i]] == U_FINE; i++)
        ;
    if (url_class[(unsigned char)url[i]] == U_BAD)
        return bbo__error_set(BBO_EINVAL, "%s has a blank or control character", what);
    if ((scheme_len = scheme_length(url)) == 0)
        return bbo__error_set(BBO_EINVAL, "%s is not an absolute http(s) URL", what);
    host = url + scheme_len + 3;
    for (p = host; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == '@')
            return bbo__error_set(BBO_EINVAL, "%s may not contain user info", what);
    path = p;
    if (*host == '[') {
        if ((host_end = memchr(host, ']', (size_t)(path - host))) == NULL || host_end == host + 1)
            return bbo__error_set(BBO_EINVAL, "%s has a malformed IPv6 host", what);
        for (p = host + 1; p < host_end; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return bbo__error_set(BBO_EINVAL, "%s has a malformed IPv6 host", what);
        host++;
        host_len = (size_t)(host_end - host);
        p = host_end + 1;
    } else {
        for (p = host; p < path && *p != ':'; p++)
            if (!valid_host_char(*p))
                return bbo__error_set(BBO_EINVAL, "%s has an invalid host name", what);
        if (p == host)
            return bbo__error_set(BBO_EINVAL, "%s has no host", what);
        host_len = (size_t)(p - host);
    }
    parsed.port = scheme_len == 5 ? 443 : 80;
    if (p < path) {
        long port = 0;

        if (*p != ':' || p + 1 == path)
            return bbo__error_set(BBO_EINVAL, "%s has an invalid port", what);
        for (p++; p < path; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                return bbo__error_set(BBO_EINVAL, "%s has an invalid port", what);
        }
        if (port == 0)
            return bbo__error_set(BBO_EINVAL, "%s has an invalid port", what);
        parsed.port = (int)port;
    }
    if (!out)
        return BBO_OK; /* only checked: nothing to copy */
    for (p = path; *p && *p != '?' && *p != '#'; p++)
        ;
    path_len = (size_t)(p - path);
    if (*p == '?') {
        query = ++p;
        while (*p && *p != '#')
            p++;
        query_len = (size_t)(p - query);
    }
    /* one block for all parts */
    if ((block = bbo__malloc(scheme_len + host_len + path_len + query_len + 4)) == NULL)
        return bbo__error_oom();
    parsed.scheme = block;
    parsed.host = put_lower(block, url, scheme_len);
    parsed.path = put_lower(parsed.host, host, host_len);
    memcpy(parsed.path, path, path_len);
    parsed.path[path_len] = '\0';
    if (query) {
        parsed.query = parsed.path + path_len + 1;
        memcpy(parsed.query, query, query_len);
        parsed.query[query_len] = '\0';
    }
    *out = parsed;
    return BBO_OK;
}

bool bbo__url_is_loopback(const bbo_url *url)
{
    return strcmp(url->host, "127.0.0.1") == 0 || strcmp(url->host, "::1") == 0;
}

/* An absolute http(s) URL without a fragment; with `secure`, https or
 * loopback http only. */
static int check_url(const char *url, const char *what, bool secure)
{
    bbo_url parsed;
    int error;

    if ((error = bbo__url_parse(&parsed, url, what)) < 0)
        return error;
    if (strchr(url, '#'))
        error = bbo__error_set(BBO_EINVAL, "%s may not have a fragment", what);
    else if (secure && strcmp(parsed.scheme, "https") != 0 && !bbo__url_is_loopback(&parsed))
        error = bbo__error_set(BBO_EINVAL,
                               "%s must use https (plain http is allowed only for 127.0.0.1 "
                               "and [::1])", what);
    bbo__url_dispose(&parsed);
    return error;
}

int bbo__url_check_endpoint(const char *url, const char *what)
{
    return check_url(url, what, true);
}

/* The browser, not bboauth, sends the code to a callback, and PKCE makes a
 * code seen in transit useless without the verifier; Bitbucket accepts
 * plain http callbacks, which servers on their own host and port use. */
int bbo__url_check_callback(const char *url, const char *what)
{
    return check_url(url, what, false);
}

bool bbo__url_same_origin(const bbo_url *a, const bbo_url *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 &&
           a->port == b->port;
}
