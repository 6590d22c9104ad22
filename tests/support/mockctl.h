/*
 * Helpers for integration tests that run under tests/mock/with_mock.py:
 * the BBMOCK_* environment, the mock's control API (libcurl + yajl_tree,
 * independent of the library under test) and ready-made consumers and
 * clients pointed at the mock.
 *
 * Every helper fails the running cmocka test (fail_msg) when the mock
 * cannot be reached or answers something unexpected, so callers need not
 * check results. Not thread-safe: call from the test's main thread.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_MOCKCTL_H
#define BBO_MOCKCTL_H

#include "testutil.h"

/* An environment variable set by with_mock.py; fails the test if unset. */
const char *mock_env(const char *name);

/* "https://127.0.0.1:PORT" (BBMOCK_BASE). */
const char *mock_base(void);
/* The same endpoints behind the wronghost.invalid certificate. */
const char *mock_wrong_base(void);
/* The same endpoints over plain http. */
const char *mock_plain_base(void);
/* BBMOCK_CA: the throwaway CA to trust. */
const char *mock_ca(void);

/* POST /reset: tokens, counters, faults and config back to the start. */
void mock_reset(void);
/* POST /config with a JSON object ("{\"legacy_scopes\": true}"). */
void mock_config(const char *json);
/* POST /fault with a JSON object ("{\"name\": \"html502\"}"). */
void mock_fault(const char *json);
/* POST /fault/clear. */
void mock_fault_clear(void);
/* POST /expire: every live access token expires; returns how many. */
long mock_expire(void);

/*
 * GET /stats and return the integer at a dotted path
 * ("token_requests", "grants.refresh_token"); fails the test if absent.
 */
long mock_stat_long(const char *path);

/*
 * GET /stats and return the string at a dotted path
 * ("last_token_request.client_auth"), or NULL when it is null or absent. An
 * array of strings comes back joined with ','
 * ("last_token_request.form_keys": "code,code_verifier,grant_type").
 * Free with free().
 */
char *mock_stat_string(const char *path);

/*
 * POST /authorize: the mock visits an authorization URL as the browser
 * would. Returns the redirect Location (free with free()), or NULL when
 * the mock would not redirect.
 */
char *mock_authorize(const char *url);

/*
 * The default consumer (BBMOCK_KEY / BBMOCK_SECRET, callback
 * http://127.0.0.1/callback) with its endpoints at `base`
 * (base/site/oauth2/authorize, base/site/oauth2/access_token, base/2.0).
 */
bbo_consumer *mock_consumer_at(const char *base);
/* mock_consumer_at(mock_base()). */
bbo_consumer *mock_consumer(void);

/* A libcurl client for `consumer` trusting BBMOCK_CA, with no proxy. */
bbo_client *mock_client(const bbo_consumer *consumer);

/*
 * `token` (taken) as if obtained `age` seconds earlier, with the same
 * secrets and expiry: a long-lived token late in its life, which the
 * session's margin makes due (a token's margin is at most half its
 * lifetime, so a token just obtained is never due at once).
 */
bbo_token *mock_token_aged(bbo_token *token, int64_t age);

#endif
