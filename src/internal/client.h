/*
 * Client internals used by the session.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_CLIENT_H
#define BBO_INTERNAL_CLIENT_H

#include "common.h"

/* The client's clock. */
int64_t bbo__client_now(bbo_client *client);

/*
 * Send with the client's timeouts, body limit and retry policy, into an
 * existing response. *sent_at gets the time the final attempt was sent.
 */
int bbo__client_send(bbo_client *client, bbo_http_request *req, bbo_http_response *resp,
                     int64_t *sent_at);

/*
 * What a refresh answer needs once the request has left, taken before
 * sending (answers up to 16 KiB; Bitbucket's are well under 2 KiB): room
 * in the response for its body and headers, so that reading it allocates
 * nothing, and (bbo_client_refresh) a reserve the parse draws on when the
 * allocator fails.
 */
#define BBO__ANSWER_BODY_RESERVE (16 * 1024)
#define BBO__ANSWER_HEADERS_RESERVE 64
#define BBO__ANSWER_HEADER_BYTES_RESERVE (16 * 1024)
#define BBO__ANSWER_PARSE_RESERVE (1024 * 1024)

/* A response with the room above: BBO_ENOMEM (error set) when it fails. */
int bbo__client_new_answer(bbo_http_response **out);

/*
 * Turn a token endpoint's answer into *out, as the client's grants do: the
 * server's invalid_scope explained (BBO_EOAUTH naming the permissions),
 * the consumer's required scopes checked (BBO_ESCOPE naming the missing
 * ones). With `keep_on_escope` (a refresh: its refresh token may be spent)
 * BBO_ESCOPE still writes *out, and out of memory while naming the
 * missing scopes is BBO_ESCOPE too. BBO_ENOMEM: no token was built.
 */
int bbo__client_token_answer(bbo_client *client, const bbo_http_response *resp, int64_t sent_at,
                             const bbo_token *previous, bool keep_on_escope, bbo_token **out);

#endif
