/*
 * Token internals shared with the grant parser.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_TOKEN_H
#define BBO_INTERNAL_TOKEN_H

#include "common.h"

/* Parse a token JSON; `what` names the document in error messages. */
int bbo__token_from_json(bbo_token **out, const char *json, size_t len, int64_t now,
                         const char *what);

/* bbo_token_new with the time it was obtained given (the core reads no
 * clock: the public bbo_token_new, in src/io/clock.c, passes the system's). */
int bbo__token_new_at(bbo_token **out, const char *access, const char *refresh,
                      const char *type, int64_t expires_at, const bbo_scopes *scopes,
                      int64_t now);

/* Give a token without a refresh token a copy of `refresh`. */
int bbo__token_set_refresh(bbo_token *token, const char *refresh);

/* Tokens go into an Authorization header: RFC 6750 b64token characters
 * only, so a hostile server cannot smuggle CR/LF into our requests. */
bool bbo__token_text_is_valid(const char *text, size_t len);

/* Another holder of `token` instead of a copy (no allocation, cannot fail):
 * each holder calls bbo_token_free; the last one frees it. Only for tokens
 * nothing changes any more (bbo__token_set_refresh is for a new token), and
 * only by a holder, or under the lock that guards one (the session's token
 * is shared under s->lock): bbo_token_free frees a token with one holder
 * without an atomic decrement. */
bbo_token *bbo__token_share(bbo_token *token);

/* strlen of the access token, kept by the token. */
size_t bbo__token_access_len(const bbo_token *token);

#endif
