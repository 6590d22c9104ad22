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
    char *basic_auth;    /* "Basic ..." of key and secret, or NULL; wiped on free */
    char *callback_url;  /* NULL when unset */
    bbo_scopes *scopes;  /* never NULL */
    char *authorize_url;
    char *token_url;
    char *api_base_url;  /* no trailing '/' */
    bool data_center;
    bbo_client_auth client_auth;
    bbo_scopes *required; /* every grant must cover these; NULL: none */
    char *issuer;        /* RFC 9207 issuer a callback's iss must equal, or NULL */
};

/*
 * Set an error `code` that names `scopes` in the words of Bitbucket's form
 * (Cloud's consumer permissions, or Data Center's application link), says
 * where to tick them and that the user must then log in again:
 * "<lead>: Pull requests: Write [pullrequest:write]. Tick them in ...".
 * Returns `code`, or BBO_ENOMEM.
 */
int bbo__scope_error(int code, const char *lead, const bbo_scopes *scopes, bool data_center);

/* BBO_EOAUTH for an invalid_scope answer (OAuth code and description set):
 * the consumer must have the permissions of `asked`. Or BBO_ENOMEM. */
int bbo__invalid_scope_error(const bbo_scopes *asked, bool data_center, const char *description);

#endif
