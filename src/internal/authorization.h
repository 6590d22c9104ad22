/*
 * Authorization internals read by the grant builder.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_AUTHORIZATION_H
#define BBO_INTERNAL_AUTHORIZATION_H

#include "common.h"

struct bbo_authorization {
    char *url;
    char *state;
    char *verifier;      /* PKCE code_verifier; NULL for the implicit grant */
    char *redirect_uri;  /* as sent to authorize, or NULL */
    bool implicit;
    bool completed;      /* a callback was accepted: a second one is refused */
    char *consumer_key;  /* the consumer it was begun for (bound into a seal) */
    bbo_scopes *asked;   /* the consumer's scopes, to explain invalid_scope */
    bool data_center;
    char *issuer;        /* the consumer's expected iss (RFC 9207), or NULL */
};

#endif
