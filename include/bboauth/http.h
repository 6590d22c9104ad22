/*
 * bboauth: HTTP request and response objects.
 * SPDX-License-Identifier: MIT
 *
 * The core never does I/O: a grant is "build a bbo_http_request" plus
 * "parse a bbo_http_response". A transport (see transport.h) reads the
 * request through the getters below and fills the response through the
 * setters; a program with an HTTP stack of its own can do the same and
 * call the bbo_grant_* functions directly.
 *
 * Requests and responses carry secrets (Authorization header, form body,
 * tokens in answers): everything they hold is wiped when they are freed.
 *
 * Thread rules: one object belongs to one thread at a time.
 */
#ifndef BBOAUTH_HTTP_H
#define BBOAUTH_HTTP_H

#include "common.h"

BBO_BEGIN_DECLS

/** Default cap on a response body (bytes); bigger answers are refused. */
#define BBO_HTTP_DEFAULT_BODY_LIMIT (4 * 1024 * 1024)

/**
 * Create a request.
 * @param method  "GET", "POST", ... (uppercase letters only)
 * @param url     absolute http(s) URL
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_http_request_new(bbo_http_request **out, const char *method, const char *url);

/**
 * Add a header (kept in order; a name may repeat). Names are tokens, values
 * may not hold CR, LF or NUL.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_http_request_add_header(bbo_http_request *req, const char *name,
                                           const char *value);

/** Set (replace) the body; `data` may hold any bytes. @return 0, BBO_EINVAL, BBO_ENOMEM */
BBO_EXTERN int bbo_http_request_set_body(bbo_http_request *req, const char *data, size_t len);

/**
 * Set the whole-request timeout in milliseconds (0: the client's default).
 * @return 0, or BBO_EINVAL (NULL request, negative timeout)
 */
BBO_EXTERN int bbo_http_request_set_timeout_ms(bbo_http_request *req, int timeout_ms);

/** The method ("POST"). */
BBO_EXTERN const char *bbo_http_request_method(const bbo_http_request *req);
/** The absolute URL. Never holds a secret for requests the library builds. */
BBO_EXTERN const char *bbo_http_request_url(const bbo_http_request *req);
/** Number of headers. */
BBO_EXTERN size_t bbo_http_request_header_count(const bbo_http_request *req);
/** Name of the i-th header, or NULL when out of range. */
BBO_EXTERN const char *bbo_http_request_header_name(const bbo_http_request *req, size_t index);
/** Value of the i-th header, or NULL when out of range. */
BBO_EXTERN const char *bbo_http_request_header_value(const bbo_http_request *req, size_t index);
/** Value of the first header with this name (case-insensitive), or NULL. */
BBO_EXTERN const char *bbo_http_request_header(const bbo_http_request *req, const char *name);
/**
 * The body (NUL-terminated for convenience, may hold NULs), length in
 * *len_out (may be NULL). Never NULL: an empty body is "".
 */
BBO_EXTERN const char *bbo_http_request_body(const bbo_http_request *req, size_t *len_out);
/** Whole-request timeout in milliseconds; 0 means the transport's default. */
BBO_EXTERN int bbo_http_request_timeout_ms(const bbo_http_request *req);
/** Free a request, wiping it. NULL is a no-op. */
BBO_EXTERN void bbo_http_request_free(bbo_http_request *req);

/**
 * Create an empty response (status 0) with the default body limit.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_http_response_new(bbo_http_response **out);

/** Set the HTTP status (100..599). @return 0, or BBO_EINVAL */
BBO_EXTERN int bbo_http_response_set_status(bbo_http_response *resp, int status);

/**
 * Add a received header. Leading and trailing blanks of the value are
 * trimmed. @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_http_response_add_header(bbo_http_response *resp, const char *name,
                                            const char *value);

/**
 * Add a raw header line as received ("Name: value\r\n"). A status line
 * ("HTTP/1.1 200 OK") sets the status and forgets the headers of an
 * earlier response (1xx, proxy CONNECT); the blank end line is ignored.
 * @return 0, or BBO_EINVAL (malformed line), BBO_ENOMEM
 */
BBO_EXTERN int bbo_http_response_add_header_line(bbo_http_response *resp, const char *line,
                                                 size_t len);

/**
 * Append received body bytes. Past the body limit nothing more is kept and
 * BBO_EPROTOCOL is returned: a transport must then stop reading.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM, BBO_EPROTOCOL (limit exceeded)
 */
BBO_EXTERN int bbo_http_response_append_body(bbo_http_response *resp, const char *data,
                                             size_t len);

/** Change the body limit (bytes, at least 1). @return 0, or BBO_EINVAL */
BBO_EXTERN int bbo_http_response_set_body_limit(bbo_http_response *resp, size_t limit);

/** The body limit in bytes. */
BBO_EXTERN size_t bbo_http_response_body_limit(const bbo_http_response *resp);

/**
 * A transport calls this before failing when the request provably never
 * reached the server (DNS, connect or TLS handshake failure): only then,
 * and on 429/503, may the library send it again. A rotating refresh token
 * sent twice can get the whole grant revoked.
 */
BBO_EXTERN void bbo_http_response_set_not_sent(bbo_http_response *resp);

/** 1 when the transport said the request never reached the server. */
BBO_EXTERN int bbo_http_response_not_sent(const bbo_http_response *resp);

/** The status, 0 before one was set. */
BBO_EXTERN int bbo_http_response_status(const bbo_http_response *resp);
/** The first header with this name (case-insensitive), or NULL. */
BBO_EXTERN const char *bbo_http_response_header(const bbo_http_response *resp, const char *name);
/** Number of headers. */
BBO_EXTERN size_t bbo_http_response_header_count(const bbo_http_response *resp);
/** Name of the i-th header, or NULL when out of range. */
BBO_EXTERN const char *bbo_http_response_header_name(const bbo_http_response *resp, size_t index);
/** Value of the i-th header, or NULL when out of range. */
BBO_EXTERN const char *bbo_http_response_header_value(const bbo_http_response *resp, size_t index);
/** The body (NUL-terminated, never NULL) and its length in *len_out. */
BBO_EXTERN const char *bbo_http_response_body(const bbo_http_response *resp, size_t *len_out);
/** Forget status, headers and body (the limit stays): ready for a retry. */
BBO_EXTERN void bbo_http_response_reset(bbo_http_response *resp);
/** Free a response, wiping it. NULL is a no-op. */
BBO_EXTERN void bbo_http_response_free(bbo_http_response *resp);

BBO_END_DECLS

#endif
