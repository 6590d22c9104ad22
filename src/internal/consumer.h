/*
 * The consumer's fields, read by the grant builders and the client.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_CONSUMER_H
#define BBO_INTERNAL_CONSUMER_H

#include "common.h"

struct bbo_consumer {
    char *key;
    char *secret;        /* NULL for a public client; wiped on free */
    char *callback_url;  /* NULL when unset */
    bbo_scopes *scopes;  /* never NULL */
    char *authorize_url;
    char *token_url;
    char *api_base_url;  /* no trailing '/' */
    bool data_center;
    bbo_client_auth client_auth;
    char *issuer;        /* RFC 9207 issuer a callback's iss must equal, or NULL */
};

#endif
