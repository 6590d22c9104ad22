/*
 * The loopback receiver's request reader, a pure function on the bytes a
 * connection sent so far (exposed for the fuzz target and the tests), and
 * the environment a browser is started with.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_LOOPBACK_H
#define BBO_INTERNAL_LOOPBACK_H

#include "common.h"

/* What a request head asks for. */
typedef enum bbo__lb_route {
    BBO__LB_INCOMPLETE,  /* no blank line yet: read more */
    BBO__LB_BAD_REQUEST, /* not "GET <origin-form> HTTP/1.x" with sane headers: 400 */
    BBO__LB_BAD_HOST,    /* a Host other than the receiver's own (DNS rebinding): 400 */
    BBO__LB_NOT_FOUND,   /* another path: 404 */
    BBO__LB_LAUNCH,      /* the one-time launch path, exactly */
    BBO__LB_CALLBACK     /* the callback path, with or without a query */
} bbo__lb_route;

/* Where a receiver answers. */
typedef struct bbo__lb_routes {
    const char *host;          /* the only Host accepted: "127.0.0.1:PORT", "[::1]:PORT"
                                  (with port 80 the bare address too) */
    const char *callback_path; /* "/callback" */
    const char *launch_path;   /* "/<random>", or NULL when none was made */
} bbo__lb_routes;

/*
 * Classify the request head in data[0..len) (any bytes; a NUL anywhere in
 * the head is a bad request). For BBO__LB_CALLBACK, *target and
 * *target_len get the request target (path and query) inside `data`.
 * Only "\r\n\r\n" ends a head; exactly one Host header is required.
 */
bbo__lb_route bbo__loopback_classify(const bbo__lb_routes *routes, const char *data, size_t len,
                                     const char **target, size_t *target_len);

/*
 * The environment for a browser: `env` (NULL-terminated "NAME=value"
 * strings) without the variables that may hold secrets (every BBO_*, and
 * names containing SECRET, TOKEN, PASSWORD, PASSWD, PASSPHRASE,
 * CREDENTIAL, API_KEY, APIKEY, ACCESS_KEY or PRIVATE_KEY, in any case).
 * *out gets a NULL-terminated array of pointers into `env` (free the
 * array with bbo__free, not the strings).
 */
int bbo__browser_env(char *const *env, char ***out);

/* 1 when the variable `entry` ("NAME=value") is kept by bbo__browser_env. */
bool bbo__browser_env_keeps(const char *entry);

#endif
