/*
 * HTTP internals used by the session.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_HTTP_H
#define BBO_INTERNAL_HTTP_H

#include "common.h"

/*
 * Make room in a response for an answer of up to `body` bytes and
 * `headers` headers of `header_bytes` in all (names and values), so that
 * a transport filling it needs no allocation: a token answer that arrived
 * is never lost to an allocation failure. The room survives
 * bbo_http_response_reset.
 */
int bbo__http_response_reserve(bbo_http_response *resp, size_t body, size_t headers,
                               size_t header_bytes);

/* bbo_http_response_new and bbo__http_response_reserve in one: the
 * response, its header slots and header room are a single allocation. */
int bbo__http_response_new_reserved(bbo_http_response **out, size_t body, size_t headers,
                                    size_t header_bytes);

/* bbo_http_request_new for an uppercase `method` and a `url` that passed
 * bbo__url_check_endpoint already (a consumer's endpoint): no second check. */
int bbo__http_request_new_checked(bbo_http_request **out, const char *method, const char *url);

/* bbo_http_request_add_header for a name and value the library made and
 * knows to be valid (a token name, no CR, LF or NUL, no blank at either
 * end): stored without checking them again. */
int bbo__http_request_add_header_checked(bbo_http_request *req, const char *name,
                                         size_t name_len, const char *value, size_t value_len);

/* Make `body` the request's body, taking the buffer over (no copy): `body`
 * is left empty. */
void bbo__http_request_take_body(bbo_http_request *req, bbo_buf *body);

#endif
