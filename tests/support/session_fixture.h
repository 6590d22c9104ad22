/*
 * The session tests' fixture: a client on the fake transport and a fake
 * clock, an in-memory store, tokens and assertions shared by
 * tests/unit/test_session*.c.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_SESSION_FIXTURE_H
#define BBO_SESSION_FIXTURE_H

#include "fake_transport.h"
#include "mem_store.h"
#include "testutil.h"

#include <pthread.h>

#define T0 1700000000
#define TOKEN_URL "https://bitbucket.org/site/oauth2/access_token"
#define API "https://api.bitbucket.org/2.0"
#define THREADS 32

/* The token endpoint's answer to a refresh: at-2 / rt-2, two hours. */
#define TOKEN_JSON(access, refresh)                                                                \
    "{\"access_token\":\"" access "\",\"token_type\":\"bearer\",\"expires_in\":7200,"              \
    "\"refresh_token\":\"" refresh "\",\"scope\":\"account repository:write\"}"
#define NEW_TOKEN TOKEN_JSON("at-2", "rt-2")
#define INVALID_GRANT                                                                              \
    "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh_token\"}"
#define EXPIRED_401                                                                                \
    "{\"type\":\"error\",\"error\":{\"message\":\"Access token expired. Use your refresh "         \
    "token to obtain a new access token.\"}}"

typedef struct fixture {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
    bbo_session *session;
    memstore ms;
    long baseline;    /* live blocks before the test */
    int threaded;     /* the counting allocator is not thread-safe: skip the count */
    unsigned clients; /* clients made on the fake: each destroys it once */
    /* clock and hook state, shared with the session's threads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t now;
    long clock_calls;
    long block_until_calls; /* hook: hold the first send until this many clock calls */
    int hold;               /* hook: hold the first send while set */
    int in_send;            /* the first send has started */
    int hook_timed_out;
} fixture;

typedef struct counter {
    int calls;
    int save_error;
    char access[32];
    int session_rc; /* bbo_session_token from inside the callback */
    char session_access[32];
    size_t requests;   /* requests sent when the callback ran */
    int stored_is_new; /* the store already held the token */
    fixture *fx;
} counter;

int64_t fx_now(void *payload);
void fx_sleep(int64_t seconds, void *payload);
void set_now(fixture *fx, int64_t now);
void sleep_ms(long ms);
int fx_hook(bbo_fake *fake, size_t index, const bbo_http_request *req,
                   bbo_http_response *resp, void *payload);
void fx_client(fixture *fx, bbo_consumer *consumer);
int setup(void **state);
int teardown(void **state);
bbo_token *make_token(const char *access, const char *refresh, int64_t expires_at,
                             int64_t obtained);
void start(fixture *fx, int64_t expires_at);
void assert_access(fixture *fx, const char *expected);
void assert_session_token(fixture *fx, const char *access, const char *refresh);
void assert_body(const bbo_fake_request *r, const char *expected);
void assert_refresh_request(const bbo_fake_request *r, const char *refresh);
void assert_message_has(const char *needle);
void on_token(const bbo_token *token, int save_error, void *payload);
void assert_logged_out_error(void);
void assert_revoked(fixture *fx);

/* Context of the out-of-memory tests. */
typedef struct oom_ctx {
    fixture *fx;
    counter c;
    memstore ms;
    int scenario;
} oom_ctx;

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

#endif
