/*
 * Percent, form and base64 encodings; query-string parsing.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_ENCODE_H
#define BBO_INTERNAL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* RFC 3986 unreserved: ALPHA DIGIT - . _ ~ */
bool bbo__is_unreserved(unsigned char c);

/* Append `s` percent-encoded (everything but unreserved, uppercase hex).
 * form: application/x-www-form-urlencoded, a space becomes '+'. */
int bbo__url_encode(bbo_buf *out, const char *s, size_t len, bool form);

/* Append "&name=value" (no '&' when `out` is empty), form-encoded. */
int bbo__form_append(bbo_buf *out, const char *name, const char *value);

/* Decode %XX (and '+' as space when form is true) into a new string.
 * BBO_EPROTOCOL for a bad escape or a decoded NUL byte. */
int bbo__url_decode(char **out, const char *s, size_t len, bool form);

/* Append base64 (url: base64url without padding, RFC 4648 section 5). */
int bbo__base64_encode(bbo_buf *out, const unsigned char *data, size_t len, bool url);

/* Decode base64url (padding optional) into new memory. BBO_EINVAL if bad. */
int bbo__base64url_decode(unsigned char **out, size_t *out_len, const char *s, size_t len);

/* One decoded name=value pair of a query string. */
typedef struct bbo_param {
    char *name;
    char *value;
} bbo_param;

typedef struct bbo_params {
    bbo_param *items;
    size_t count;
} bbo_params;

/* Split "a=1&b=2" (form-decoding both sides; empty pieces skipped).
 * BBO_EPROTOCOL for a malformed escape. */
int bbo__params_parse(bbo_params *out, const char *query, size_t len);

/* The value of `name`: NULL when absent; *count_out (may be NULL) gets the
 * number of occurrences so callers can refuse repeated parameters. */
const char *bbo__params_get(const bbo_params *params, const char *name, size_t *count_out);

void bbo__params_dispose(bbo_params *params);

/* ASCII case-insensitive comparison (locale-independent). */
int bbo__strcasecmp(const char *a, const char *b);
int bbo__strncasecmp(const char *a, const char *b, size_t n);

#endif
