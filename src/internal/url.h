/*
 * Absolute http(s) URLs: parsing, endpoint rules, origin comparison.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_URL_H
#define BBO_INTERNAL_URL_H

#include <stdbool.h>

typedef struct bbo_url {
    char *scheme;  /* "https" or "http", lowercase */
    char *host;    /* lowercase; an IPv6 literal without its brackets */
    int port;      /* explicit, or 443/80 */
    char *path;    /* starts with '/', or "" */
    char *query;   /* after '?', or NULL */
} bbo_url;

/* Parse an absolute http(s) URL without user info (out NULL: only check it,
 * allocating nothing). BBO_EINVAL (error set,
 * `what` names the URL in the message) when it is not one. */
int bbo__url_parse(bbo_url *out, const char *url, const char *what);
void bbo__url_dispose(bbo_url *url);

/* 127.0.0.1 or ::1 (RFC 8252 section 7.3; "localhost" may resolve elsewhere). */
bool bbo__url_is_loopback(const bbo_url *url);

/* An endpoint the library will send secrets to: https, or http to a
 * loopback address; no fragment. BBO_EINVAL with a message otherwise. */
int bbo__url_check_endpoint(const char *url, const char *what);
/* A callback (redirect_uri): http or https to any host, no fragment. */
int bbo__url_check_callback(const char *url, const char *what);

/* Same scheme, host and port. */
bool bbo__url_same_origin(const bbo_url *a, const bbo_url *b);

#endif
