/*
 * bboauth: the pluggable HTTP transport.
 * SPDX-License-Identifier: MIT
 *
 * The transport is the library's only door to the network. The default is
 * libcurl (one connection cache per client: keep-alive and TLS session
 * reuse, HTTPS only, no redirects, .netrc ignored). An application, a test
 * or a language binding may plug its own: fill a bbo_transport and pass it
 * to bbo_client_set_transport.
 *
 * `send` reads the request through the bbo_http_request_* getters and
 * fills the response through the bbo_http_response_* setters (status,
 * headers, body: bbo_http_response_append_body enforces the body limit;
 * stop reading when it fails). It returns 0 when an HTTP answer (any
 * status) was received, or a negative code:
 *   BBO_ETRANSPORT  DNS, connect, reset, ...
 *   BBO_ETLS        handshake or certificate failure
 *   BBO_ETIMEOUT    timeout
 *   BBO_EPROTOCOL   malformed answer or body over the limit
 *   BBO_EUSER       the transport chose to abort
 *   BBO_ENOMEM, BBO_EINVAL  (as for any function)
 * bbo_error_set gives the failure a message of the transport's own.
 * Before failing, call bbo_http_response_set_not_sent when the request
 * provably never reached the server (DNS, connect, TLS handshake): only
 * then may the library send it again. A transport must not follow
 * redirects, and must not retry a request on its own.
 *
 * Thread rules: `send` may be called from several threads at once for the
 * same payload (a session shared by threads); guard the payload.
 */
#ifndef BBOAUTH_TRANSPORT_H
#define BBOAUTH_TRANSPORT_H

#include "common.h"

BBO_BEGIN_DECLS

/** Version of the bbo_transport table this header describes. */
#define BBO_TRANSPORT_VERSION 1

typedef struct bbo_transport {
    unsigned int version; /* BBO_TRANSPORT_VERSION */
    int (*send)(const bbo_http_request *req, bbo_http_response *resp, void *payload);
    void (*destroy)(void *payload); /* may be NULL; called once when replaced or freed */
    void *payload;
} bbo_transport;

BBO_END_DECLS

#endif
