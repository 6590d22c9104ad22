/*
 * bboauth: the OAuth consumer ("OAuth client") registered on Bitbucket.
 * SPDX-License-Identifier: MIT
 *
 * A consumer holds the key, the secret, the callback URL, the scopes to
 * ask for and the endpoints. It starts with Bitbucket Cloud's endpoints.
 *
 * Thread rules: configure a consumer from one thread; once configured it
 * may be shared (read-only) by any number of authorizations and clients
 * on any threads. Clients and authorizations copy what they need, so the
 * consumer may be freed after they are created.
 */
#ifndef BBOAUTH_CONSUMER_H
#define BBOAUTH_CONSUMER_H

#include "common.h"

BBO_BEGIN_DECLS

/** How the client authenticates to the token endpoint. */
typedef enum bbo_client_auth {
    BBO_CLIENT_AUTH_BASIC = 0, /* HTTP Basic key:secret (default, documented) */
    BBO_CLIENT_AUTH_FORM = 1   /* client_id and client_secret form fields */
} bbo_client_auth;

/**
 * Create a consumer for Bitbucket Cloud.
 *
 * @param out     receives the consumer; untouched on failure
 * @param key     the consumer key (client_id); any length
 * @param secret  the consumer secret, or NULL for a public client (only
 *                client_id is sent then); copied and wiped on free
 * @return 0, or BBO_EINVAL (NULL/empty key, control characters), BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_new(bbo_consumer **out, const char *key, const char *secret);

/**
 * Set the callback URL (sent as redirect_uri to authorize and token
 * endpoints). NULL removes it. https:// or http:// (a server's own host
 * and port, such as http://review.example.com:3001/callback, or an RFC 8252
 * loopback redirect), without a fragment. Only the browser goes there; the
 * library sends secrets to https endpoints (or loopback http) only.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_set_callback_url(bbo_consumer *consumer, const char *url);

/**
 * Set the scopes to request (copied). NULL or an empty set asks for none
 * (Bitbucket Cloud then grants the consumer's own scopes).
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_set_scopes(bbo_consumer *consumer, const bbo_scopes *scopes);

/**
 * Switch to a Bitbucket Data Center server: authorize and token endpoints
 * become {base}/rest/oauth2/latest/{authorize,token}, the API base
 * {base}/rest/api/latest.
 *
 * @param base_url  e.g. "https://bitbucket.example.com" (a trailing "/" or a
 *                  context path is fine); https, or http for a loopback host
 * @return 0, or BBO_EINVAL (not an acceptable URL), BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_use_data_center(bbo_consumer *consumer, const char *base_url);

/**
 * Set the endpoints explicitly (tests, proxies, future servers). Each URL
 * must be absolute https://, or http:// with host 127.0.0.1 or [::1],
 * without user info or fragment. NULL keeps the current value. Nothing
 * changes unless all given URLs are acceptable.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_set_endpoints(bbo_consumer *consumer, const char *authorize_url,
                                          const char *token_url, const char *api_base_url);

/**
 * Choose the client authentication for the token endpoint (default Basic).
 * `auth` is a bbo_client_auth (an int: the exact type for FFI).
 * The library never tries the other one on failure: a code is single-use.
 * @return 0, or BBO_EINVAL
 */
BBO_EXTERN int bbo_consumer_set_client_auth(bbo_consumer *consumer, int auth);

/**
 * Name the authorization server's issuer identifier (RFC 9207), for
 * example "https://bitbucket.example.com". Transactions begun afterwards
 * refuse a callback whose `iss` is absent or differs (BBO_ESTATE), which
 * defeats mix-up attacks when a program talks to several servers. Name it
 * only for a server that sends `iss` (Bitbucket Cloud and Data Center do
 * not, as of 2026). Without an issuer, `iss` is not checked, except that
 * a callback carrying it twice is always refused. NULL clears it.
 * @param issuer  an https URL (http only for 127.0.0.1 and [::1]) without
 *                query or fragment, compared as a string
 * @return 0, or BBO_EINVAL (NULL consumer, not such a URL), BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_set_issuer(bbo_consumer *consumer, const char *issuer);

/** The expected issuer (RFC 9207), or NULL. */
BBO_EXTERN const char *bbo_consumer_issuer(const bbo_consumer *consumer);

/**
 * Copy a consumer (secret included).
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_dup(bbo_consumer **out, const bbo_consumer *consumer);

/** The consumer key. */
BBO_EXTERN const char *bbo_consumer_key(const bbo_consumer *consumer);
/** The callback URL, or NULL. */
BBO_EXTERN const char *bbo_consumer_callback_url(const bbo_consumer *consumer);
/** The authorize endpoint. */
BBO_EXTERN const char *bbo_consumer_authorize_url(const bbo_consumer *consumer);
/** The token endpoint. */
BBO_EXTERN const char *bbo_consumer_token_url(const bbo_consumer *consumer);
/** The REST API base ("https://api.bitbucket.org/2.0" for Cloud). */
BBO_EXTERN const char *bbo_consumer_api_base_url(const bbo_consumer *consumer);
/** The scopes to request (never NULL; possibly empty). */
BBO_EXTERN const bbo_scopes *bbo_consumer_scopes(const bbo_consumer *consumer);
/** 1 when configured for Data Center, else 0. */
BBO_EXTERN int bbo_consumer_is_data_center(const bbo_consumer *consumer);

/**
 * Scopes every grant must carry (mandatory scopes). Bitbucket grants what
 * the consumer was registered with, whatever the app asked for, so a grant
 * can lack a scope the app needs. With required scopes set, the code
 * exchange, the refresh, the client-credentials and the JWT grant fail
 * with BBO_ESCOPE when the granted scopes (implications counted: see
 * bbo_scopes_has) do not cover them; the message names the missing ones
 * as Bitbucket's form does ("Pull requests: Write", see
 * bbo_scopes_to_permissions), says where to add them (Cloud: Workspace
 * settings > OAuth consumers > the consumer > Edit > Permissions; Data
 * Center: the incoming application link's scopes) and that the user must
 * then log in again. When the token answer names no scopes, those asked
 * for (or, on refresh, those of the previous token) count as granted
 * (RFC 6749 section 5.1). Also ask for them (bbo_consumer_set_scopes) when
 * the consumer asks for any: Data Center grants only what is asked.
 *
 * Clients copy the consumer: set this before bbo_client_new.
 *
 * @param required  copied; NULL or an empty set requires nothing
 * @return 0, or BBO_EINVAL (NULL consumer), BBO_ENOMEM
 */
BBO_EXTERN int bbo_consumer_require_scopes(bbo_consumer *consumer, const bbo_scopes *required);

/** The required scopes, or NULL when none are required. */
BBO_EXTERN const bbo_scopes *bbo_consumer_required_scopes(const bbo_consumer *consumer);

/** Free a consumer, wiping its secret. NULL is a no-op. */
BBO_EXTERN void bbo_consumer_free(bbo_consumer *consumer);

BBO_END_DECLS

#endif
