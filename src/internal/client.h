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

#endif
