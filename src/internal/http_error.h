/*
 * Turning an unsuccessful HTTP answer into an error code and a sentence.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_HTTP_ERROR_H
#define BBO_INTERNAL_HTTP_ERROR_H

#include "common.h"

/*
 * Set the error for an answer that is not the success the caller wanted,
 * `what` naming the server side ("token endpoint"). Maps: 429 to
 * BBO_ERATELIMIT, an OAuth error body to BBO_EOAUTH, anything else to
 * BBO_EHTTP; records status, server description and Retry-After.
 */
int bbo__http_error(const bbo_http_response *resp, const char *what, int64_t now);

/* Retry-After as seconds from `now` (delta-seconds or an HTTP-date), or -1. */
int64_t bbo__retry_after(const bbo_http_response *resp, int64_t now);

#endif
