/*
 * bboauth: token requests and answers without I/O (the sans-I/O core).
 * SPDX-License-Identifier: MIT
 *
 * Each builder makes the exact POST to the consumer's token endpoint:
 * application/x-www-form-urlencoded body, Accept: application/json, client
 * authentication as the consumer says (HTTP Basic by default). No secret is
 * ever put in the URL. bbo_client_* runs these through a transport; a
 * program with its own HTTP stack may call them directly.
 *
 * Thread rules: the builders only read their arguments.
 */
#ifndef BBOAUTH_GRANT_H
#define BBOAUTH_GRANT_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * grant_type=authorization_code with the code, plus redirect_uri and
 * code_verifier exactly as the transaction sent them to authorize.
 * @return 0, or BBO_EINVAL (NULL argument, empty code, implicit
 *         transaction), BBO_ENOMEM
 */
BBO_EXTERN int bbo_grant_authorization_code_request(bbo_http_request **out,
                                                    const bbo_consumer *consumer,
                                                    const bbo_authorization *auth,
                                                    const char *code);

/**
 * grant_type=refresh_token with the token's refresh token.
 * @return 0, or BBO_EINVAL, BBO_EEXPIRED (the token has no refresh token),
 *         BBO_ENOMEM
 */
BBO_EXTERN int bbo_grant_refresh_request(bbo_http_request **out, const bbo_consumer *consumer,
                                         const bbo_token *token);

/**
 * grant_type=client_credentials (private consumers only), with scope when
 * the consumer has scopes.
 * @return 0, or BBO_EINVAL (no secret), BBO_ENOMEM
 */
BBO_EXTERN int bbo_grant_client_credentials_request(bbo_http_request **out,
                                                    const bbo_consumer *consumer);

/**
 * grant_type=urn:bitbucket:oauth2:jwt with header "Authorization: JWT
 * <jwt>" (legacy Connect apps; see bbo_jwt_connect_token).
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_grant_jwt_request(bbo_http_request **out, const bbo_consumer *consumer,
                                     const char *jwt);

/**
 * Turn a token endpoint answer into a token.
 *
 * @param sent_at   when the request was sent (seconds since the epoch):
 *                  expires_at = sent_at + expires_in, so the token is
 *                  refreshed early rather than late
 * @param previous  the token being refreshed, or NULL: when the answer has
 *                  no refresh token, the previous one is kept
 * @return 0, or
 *         BBO_EOAUTH     OAuth error body (any status; see
 *                        bbo_error_oauth_code / bbo_error_description);
 *         BBO_ERATELIMIT 429 (bbo_error_retry_after may tell when);
 *         BBO_EHTTP      other non-2xx, redirects, HTML error pages;
 *         BBO_EPROTOCOL  2xx whose body is not a token;
 *         BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_grant_parse_response(bbo_token **out, const bbo_http_response *resp,
                                        int64_t sent_at, const bbo_token *previous);

BBO_END_DECLS

#endif
