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
    bbo__free_str(&url->scheme);
    bbo__free_str(&url->host);
    bbo__free_str(&url->path);
    bbo__free_str(&url->query);
}

/* Stands for a part when the URL is only checked (no copy is made). */
static char checked_only[1];

static char *lower_copy(bool keep, const char *s, size_t len)
{
    char *copy = keep ? bbo__strndup(s, len) : checked_only;
    size_t i;

    for (i = 0; keep && copy && i < len; i++)
        if (copy[i] >= 'A' && copy[i] <= 'Z')
            copy[i] = (char)(copy[i] + 32);
    return copy;
}

static bool valid_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

int bbo__url_parse(bbo_url *out, const char *url, const char *what)
{
    bbo_url parsed = { NULL, NULL, 0, NULL, NULL };
    const char *p, *host, *host_end, *path;
    size_t scheme_len, i;
    int error = BBO_EINVAL;
    bool keep = out != NULL;

    for (i = 0; url[i]; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return bbo__error_set(BBO_EINVAL, "%s has a blank or control character", what);
    if (bbo__strncasecmp(url, "https://", 8) == 0)
        scheme_len = 5;
    else if (bbo__strncasecmp(url, "http://", 7) == 0)
        scheme_len = 4;
    else
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
        parsed.host = lower_copy(keep, host + 1, (size_t)(host_end - host - 1));
        p = host_end + 1;
    } else {
        for (p = host; p < path && *p != ':'; p++)
            if (!valid_host_char(*p))
                return bbo__error_set(BBO_EINVAL, "%s has an invalid host name", what);
        if (p == host)
            return bbo__error_set(BBO_EINVAL, "%s has no host", what);
        parsed.host = lower_copy(keep, host, (size_t)(p - host));
    }
    if (!parsed.host)
        goto oom;
    parsed.port = scheme_len == 5 ? 443 : 80;
    if (p < path) {
        long port = 0;

        if (*p != ':' || p + 1 == path)
            goto bad_port;
        for (p++; p < path; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                goto bad_port;
        }
        if (port == 0)
            goto bad_port;
        parsed.port = (int)port;
    }
    if ((parsed.scheme = lower_copy(keep, url, scheme_len)) == NULL)
        goto oom;
    for (p = path; *p && *p != '?' && *p != '#'; p++)
        ;
    if (!keep)
        return BBO_OK;
    if ((parsed.path = bbo__strndup(path, (size_t)(p - path))) == NULL)
        goto oom;
    if (*p == '?') {
        const char *q = ++p;

        while (*p && *p != '#')
            p++;
        if ((parsed.query = bbo__strndup(q, (size_t)(p - q))) == NULL)
            goto oom;
    }
    *out = parsed;
    return BBO_OK;
bad_port:
    error = bbo__error_set(BBO_EINVAL, "%s has an invalid port", what);
    if (keep)
        bbo__url_dispose(&parsed);
    return error;
oom:
    bbo__url_dispose(&parsed);
    return bbo__error_oom();
}

bool bbo__url_is_loopback(const bbo_url *url)
{
    return strcmp(url->host, "127.0.0.1") == 0 || strcmp(url->host, "::1") == 0;
}

int bbo__url_check_endpoint(const char *url, const char *what)
{
    bbo_url parsed;
    int error;

    if ((error = bbo__url_parse(&parsed, url, what)) < 0)
        return error;
    if (strchr(url, '#'))
        error = bbo__error_set(BBO_EINVAL, "%s may not have a fragment", what);
    else if (strcmp(parsed.scheme, "https") != 0 && !bbo__url_is_loopback(&parsed))
        error = bbo__error_set(BBO_EINVAL,
                               "%s must use https (plain http is allowed only for 127.0.0.1 "
                               "and [::1])", what);
    bbo__url_dispose(&parsed);
    return error;
}

bool bbo__url_same_origin(const bbo_url *a, const bbo_url *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 &&
           a->port == b->port;
}
