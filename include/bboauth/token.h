/*
 * bboauth: tokens.
 * SPDX-License-Identifier: MIT
 *
 * A token is immutable once made. Its secrets (access and refresh token)
 * are wiped when it is freed.
 *
 * Thread rules: a token may be read from any number of threads at once.
 */
#ifndef BBOAUTH_TOKEN_H
#define BBOAUTH_TOKEN_H

#include "common.h"

BBO_BEGIN_DECLS

/** Largest JSON text bbo_token_parse (and every parser here) accepts. */
#define BBO_JSON_MAX_BYTES (1024 * 1024)

/**
 * Parse a token endpoint answer (or a token saved by bbo_token_to_json).
 *
 * Accepts today's Bitbucket answer ("scope") and the legacy one
 * ("scopes"); expires_in as a number or numeric string between 1 second
 * and 1 year; unknown fields are ignored, duplicate fields rejected.
 *
 * @param out   receives the new token; untouched on failure
 * @param json  the body, need not be NUL-terminated
 * @param len   its length; more than BBO_JSON_MAX_BYTES is BBO_EPROTOCOL
 * @param now   seconds since the epoch, to turn expires_in into expires_at
 *              (pass the time the request was *sent*)
 * @return 0, or BBO_EINVAL (NULL argument), BBO_ENOMEM, BBO_EPROTOCOL
 *         (not a token: malformed, truncated, too deep, missing
 *         access_token, ...), BBO_EOAUTH (the body is an OAuth error even
 *         with status 200: see bbo_error_oauth_code)
 */
BBO_EXTERN int bbo_token_parse(bbo_token **out, const char *json, size_t len, int64_t now);

/**
 * Make a token from its parts (an application's own storage).
 *
 * @param access      the access token (required)
 * @param refresh     the refresh token, or NULL
 * @param type        NULL or "bearer" (any case): only bearer tokens exist
 *                    on Bitbucket
 * @param expires_at  seconds since the epoch, 0 when unknown
 * @param scopes      granted scopes (copied), or NULL
 * The token's obtained_at is the current time.
 * @return 0, or BBO_EINVAL (NULL access, another type, characters not
 *         allowed in a bearer token, negative expiry), BBO_ENOMEM
 */
BBO_EXTERN int bbo_token_new(bbo_token **out, const char *access, const char *refresh,
                             const char *type, int64_t expires_at, const bbo_scopes *scopes);

/** Copy a token. @return 0, or BBO_EINVAL, BBO_ENOMEM */
BBO_EXTERN int bbo_token_dup(bbo_token **out, const bbo_token *token);

/**
 * Serialize for storage: {"access_token","token_type","refresh_token",
 * "expires_at","scope","obtained_at"}; bbo_token_parse reads it back.
 * The text holds secrets: wipe and bbo_free it.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_token_to_json(const bbo_token *token, char **out);

/** The access token. */
BBO_EXTERN const char *bbo_token_access(const bbo_token *token);
/** The refresh token, or NULL when there is none. */
BBO_EXTERN const char *bbo_token_refresh(const bbo_token *token);
/** The token type, lowercase ("bearer"). */
BBO_EXTERN const char *bbo_token_type(const bbo_token *token);
/** Expiry in seconds since the epoch, or 0 when the server gave none. */
BBO_EXTERN int64_t bbo_token_expires_at(const bbo_token *token);
/** When the token was obtained (the `now` it was parsed with), or 0. */
BBO_EXTERN int64_t bbo_token_obtained_at(const bbo_token *token);
/** Granted scopes (never NULL; empty when the server named none). */
BBO_EXTERN const bbo_scopes *bbo_token_scopes(const bbo_token *token);

/**
 * @return 1 when the token expires within `margin_s` seconds of `now`
 *         (or already has), 0 when it is still good or has no known
 *         expiry, 1 for NULL.
 */
BBO_EXTERN int bbo_token_is_expired(const bbo_token *token, int64_t now, int64_t margin_s);

/** Free a token, wiping its secrets. NULL is a no-op. */
BBO_EXTERN void bbo_token_free(bbo_token *token);

BBO_END_DECLS

#endif
