/*
 * The client: exact request bytes of every grant, the retry policy, the
 * transport contract, body limit and OOM behaviour, all through the fake
 * transport (tests/support/fake_transport.h) and a fake clock.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "fake_transport.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/common.h"
#include "internal/authorization.h"
#include "internal/client.h"

#define TOKEN_URL "https://bitbucket.org/site/oauth2/access_token"
#define CALLBACK "http://127.0.0.1/callback"
#define CALLBACK_FORM "http%3A%2F%2F127.0.0.1%2Fcallback"
#define KEY "key123"
#define SECRET "secret456"
/* base64("key123:secret456") */
#define BASIC "Basic a2V5MTIzOnNlY3JldDQ1Ng=="
#define FORM_TYPE "application/x-www-form-urlencoded"
#define T0 1700000000

#define TOKEN_JSON                                                                                 \
    "{\"access_token\":\"at-new\",\"token_type\":\"bearer\",\"expires_in\":7200,"                \
    "\"refresh_token\":\"rt-new\",\"scopes\":\"account\"}"
#define TOKEN_JSON_NO_REFRESH                                                                      \
    "{\"access_token\":\"at-new\",\"token_type\":\"bearer\",\"expires_in\":3600,"                \
    "\"scope\":\"account\"}"

typedef struct fixture {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
    bbo_fake_clock clock;
} fixture;

/* A client on the fake transport and the fake clock (T0, sleeping
 * advances it). */
static void fx_init(fixture *fx)
{
    bbo_transport t;

    memset(fx, 0, sizeof(*fx));
    fx->clock.now = T0;
    fx->clock.advance_on_sleep = 1;
    assert_int_equal(bbo_consumer_new(&fx->consumer, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_consumer_set_callback_url(fx->consumer, CALLBACK), BBO_OK);
    assert_int_equal(bbo_client_new(&fx->client, fx->consumer), BBO_OK);
    assert_int_equal(
        bbo_client_set_clock(fx->client, bbo_fake_clock_now, bbo_fake_clock_sleep, &fx->clock),
        BBO_OK);
    fx->fake = bbo_fake_new();
    bbo_fake_set_clock(fx->fake, &fx->clock, 0);
    bbo_fake_transport(fx->fake, &t);
    assert_int_equal(bbo_client_set_transport(fx->client, &t), BBO_OK);
}

/* Free everything; the fake's destroy ran exactly once; nothing leaked. */
static void fx_done(fixture *fx)
{
    bbo_client_free(fx->client);
    assert_int_equal(bbo_fake_destroy_count(fx->fake), 1);
    bbo_fake_free(fx->fake);
    bbo_consumer_free(fx->consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_sleeps(const bbo_fake_clock *clock, const int64_t *expected, size_t n)
{
    size_t i;

    assert_int_equal(clock->sleep_count, n);
    for (i = 0; i < n; i++)
        assert_int_equal(clock->sleeps[i], expected[i]);
}

/* The three headers of a token request, in order, with these values. */
static void assert_token_headers(const bbo_fake_request *r, const char *authorization)
{
    assert_int_equal(r->header_count, 3);
    assert_string_equal(r->header_names[0], "Authorization");
    assert_string_equal(r->header_values[0], authorization);
    assert_string_equal(r->header_names[1], "Content-Type");
    assert_string_equal(r->header_values[1], FORM_TYPE);
    assert_string_equal(r->header_names[2], "Accept");
    assert_string_equal(r->header_values[2], "application/json");
}

static void assert_body(const bbo_fake_request *r, const char *expected)
{
    assert_int_equal(r->body_len, strlen(expected));
    assert_memory_equal(r->body, expected, r->body_len);
}

static bbo_token *old_token(const char *refresh)
{
    bbo_token *tok = NULL;

    assert_int_equal(bbo_token_new(&tok, "at-old", refresh, NULL, T0 - 10, NULL), BBO_OK);
    return tok;
}

/* The error message never carries the secret or the codes we sent. */
static void assert_message_clean(void)
{
    const char *msg = bbo_error_message(bbo_error_last());

    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    assert_null(strstr(msg, SECRET));
    assert_null(strstr(msg, "rt-old"));
}

/* ------------------------------------------------------------------ */
/* exchange_code                                                       */

static void test_exchange_code_request(void **state)
{
    fixture fx;
    bbo_authorization *auth = NULL;
    bbo_token *tok = NULL;
    const bbo_fake_request *r;
    char callback[256], *code = NULL, expected[512];

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_authorization_begin(&auth, fx.consumer), BBO_OK);
    snprintf(callback, sizeof(callback), CALLBACK "?code=c%%2Fd%%2Be+f&state=%s",
             bbo_authorization_state(auth));
    assert_int_equal(bbo_authorization_complete(auth, callback, &code), BBO_OK);
    assert_string_equal(code, "c/d+e f");
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);

    assert_int_equal(bbo_client_exchange_code(fx.client, auth, code, &tok), BBO_OK);

    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_int_equal(bbo_fake_remaining(fx.fake), 0);
    assert_int_equal(bbo_fake_unexpected(fx.fake), 0);
    r = bbo_fake_request_at(fx.fake, 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    assert_null(strstr(r->url, SECRET));
    assert_null(strstr(r->url, "code"));
    assert_null(strstr(r->url, "?"));
    assert_token_headers(r, BASIC);
    assert_non_null(auth->verifier);
    assert_int_equal(strlen(auth->verifier), 43);
    snprintf(expected, sizeof(expected),
             "grant_type=authorization_code&code=c%%2Fd%%2Be+f&redirect_uri=%s&code_verifier=%s",
             CALLBACK_FORM, auth->verifier);
    assert_body(r, expected);
    assert_int_equal(r->timeout_ms, 30000);
    assert_int_equal(r->sent_at, T0);

    assert_string_equal(bbo_token_access(tok), "at-new");
    assert_string_equal(bbo_token_refresh(tok), "rt-new");
    assert_int_equal(bbo_token_expires_at(tok), T0 + 7200);
    assert_int_equal(bbo_scopes_has(bbo_token_scopes(tok), "account"), 1);
    assert_int_equal(fx.clock.sleep_count, 0);

    bbo_token_free(tok);
    bbo_free(code);
    bbo_authorization_free(auth);
    fx_done(&fx);
}

static void test_exchange_code_without_redirect_uri(void **state)
{
    fixture fx;
    bbo_consumer *bare = NULL;
    bbo_authorization *auth = NULL;
    bbo_token *tok = NULL;
    char expected[256];

    (void)state;
    fx_init(&fx);
    /* a transaction that sent no redirect_uri sends none to the token endpoint */
    assert_int_equal(bbo_consumer_new(&bare, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_authorization_begin(&auth, bare), BBO_OK);
    assert_null(auth->redirect_uri);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_exchange_code(fx.client, auth, "abc", &tok), BBO_OK);
    snprintf(expected, sizeof(expected), "grant_type=authorization_code&code=abc&code_verifier=%s",
             auth->verifier);
    assert_body(bbo_fake_last_request(fx.fake), expected);
    bbo_token_free(tok);
    bbo_authorization_free(auth);
    bbo_consumer_free(bare);
    fx_done(&fx);
}

static void test_exchange_code_invalid(void **state)
{
    fixture fx;
    bbo_authorization *auth = NULL, *implicit = NULL;
    bbo_token *sentinel = (bbo_token *)&sentinel, *tok = sentinel;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_authorization_begin(&auth, fx.consumer), BBO_OK);
    assert_int_equal(bbo_authorization_begin_ex(&implicit, fx.consumer, NULL,
                                                BBO_AUTHORIZATION_IMPLICIT),
                     BBO_OK);
    assert_int_equal(bbo_client_exchange_code(NULL, auth, "abc", &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_exchange_code(fx.client, auth, "abc", NULL), BBO_EINVAL);
    assert_int_equal(bbo_client_exchange_code(fx.client, NULL, "abc", &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_exchange_code(fx.client, auth, NULL, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_exchange_code(fx.client, auth, "", &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_exchange_code(fx.client, implicit, "abc", &tok), BBO_EINVAL);
    assert_ptr_equal(tok, sentinel);
    assert_int_equal(bbo_fake_request_count(fx.fake), 0);
    bbo_authorization_free(auth);
    bbo_authorization_free(implicit);
    fx_done(&fx);
}

static void test_exchange_code_oauth_error_not_retried(void **state)
{
    fixture fx;
    bbo_authorization *auth = NULL;
    bbo_token *sentinel = (bbo_token *)&sentinel, *tok = sentinel;
    const bbo_error *e;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_authorization_begin(&auth, fx.consumer), BBO_OK);
    bbo_fake_push_json(fx.fake, 400,
                       "{\"error\":\"invalid_grant\",\"error_description\":\"code used\"}");
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_exchange_code(fx.client, auth, "abc", &tok), BBO_EOAUTH);
    assert_ptr_equal(tok, sentinel);
    e = bbo_error_last();
    assert_int_equal(bbo_error_code(e), BBO_EOAUTH);
    assert_int_equal(bbo_error_http_status(e), 400);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_string_equal(bbo_error_description(e), "code used");
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_int_equal(bbo_fake_remaining(fx.fake), 1);
    assert_message_clean();
    bbo_authorization_free(auth);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* timeouts                                                            */

static void test_timeouts(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_client_set_timeouts(fx.client, 0, 5000), BBO_OK);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_last_request(fx.fake)->timeout_ms, 5000);
    bbo_token_free(tok);

    /* 0 keeps the value; negative is refused and changes nothing */
    assert_int_equal(bbo_client_set_timeouts(fx.client, 2000, 0), BBO_OK);
    assert_int_equal(bbo_client_set_timeouts(fx.client, -1, 7000), BBO_EINVAL);
    assert_int_equal(bbo_client_set_timeouts(fx.client, 7000, -1), BBO_EINVAL);
    assert_int_equal(bbo_client_set_timeouts(NULL, 1, 1), BBO_EINVAL);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_last_request(fx.fake)->timeout_ms, 5000);
    bbo_token_free(tok);

    /* a request with a timeout of its own keeps it */
    assert_int_equal(bbo_http_request_new(&req, "GET", "https://api.bitbucket.org/2.0/user"),
                     BBO_OK);
    assert_int_equal(bbo_http_request_set_timeout_ms(req, 1234), BBO_OK);
    bbo_fake_push(fx.fake, 200, "{}");
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_OK);
    assert_int_equal(bbo_fake_last_request(fx.fake)->timeout_ms, 1234);
    bbo_http_response_free(resp);
    bbo_http_request_free(req);

    bbo_token_free(old);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* refresh                                                             */

static void test_refresh_keeps_old_refresh_token(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    const bbo_fake_request *r;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON_NO_REFRESH);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    r = bbo_fake_last_request(fx.fake);
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    assert_token_headers(r, BASIC);
    assert_body(r, "grant_type=refresh_token&refresh_token=rt-old");
    assert_int_equal(r->timeout_ms, 30000);
    assert_string_equal(bbo_token_access(tok), "at-new");
    assert_string_equal(bbo_token_refresh(tok), "rt-old");
    assert_int_equal(bbo_token_expires_at(tok), T0 + 3600);
    /* the old token is untouched */
    assert_string_equal(bbo_token_access(old), "at-old");
    bbo_token_free(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_refresh_takes_rotated_token(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_string_equal(bbo_token_refresh(tok), "rt-new");
    assert_string_equal(bbo_token_refresh(old), "rt-old");
    bbo_token_free(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_refresh_expiry_from_send_time(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    /* the answer arrives 50 s after the request left */
    bbo_fake_set_clock(fx.fake, &fx.clock, 50);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(fx.clock.now, T0 + 50);
    assert_int_equal(bbo_fake_last_request(fx.fake)->sent_at, T0);
    assert_int_equal(bbo_token_expires_at(tok), T0 + 7200);
    assert_int_equal(bbo_token_obtained_at(tok), T0);
    bbo_token_free(tok);

    /* after a retry, the attempt that got the answer counts:
     * sent at T0+50, fails, sleeps 1 s, sent again at T0+101 */
    bbo_fake_push_error(fx.fake, BBO_ETRANSPORT, 1);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_at(fx.fake, 2)->sent_at, T0 + 101);
    assert_int_equal(bbo_token_expires_at(tok), T0 + 101 + 7200);
    bbo_token_free(tok);

    bbo_token_free(old);
    fx_done(&fx);
}

static void test_refresh_without_refresh_token(void **state)
{
    fixture fx;
    bbo_token *old = old_token(NULL), *tok = NULL;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EEXPIRED);
    assert_null(tok);
    assert_int_equal(bbo_client_refresh(fx.client, NULL, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_refresh(NULL, old, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_refresh(fx.client, old, NULL), BBO_EINVAL);
    assert_int_equal(bbo_fake_request_count(fx.fake), 0);
    bbo_token_free(old);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* retry policy                                                        */

static void test_retry_not_sent_transport(void **state)
{
    static const int64_t waits[] = { 1, 2 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    size_t i;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < 3; i++)
        bbo_fake_push_error(fx.fake, BBO_ETRANSPORT, 1);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ETRANSPORT);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx.fake), 3);
    assert_sleeps(&fx.clock, waits, 2);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ETRANSPORT);
    assert_message_clean();
    /* every attempt sent the same bytes */
    for (i = 1; i < 3; i++)
        assert_string_equal(bbo_fake_request_at(fx.fake, i)->body,
                            bbo_fake_request_at(fx.fake, 0)->body);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_not_sent_then_success(void **state)
{
    static const int64_t waits[] = { 1, 2 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_error(fx.fake, BBO_ETRANSPORT, 1);
    bbo_fake_push_error(fx.fake, BBO_ETLS, 1); /* handshake failure: never reached the server */
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_count(fx.fake), 3);
    assert_sleeps(&fx.clock, waits, 2);
    assert_string_equal(bbo_token_access(tok), "at-new");
    bbo_token_free(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_no_retry_after_timeout(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_error(fx.fake, BBO_ETIMEOUT, 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ETIMEOUT);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_int_equal(fx.clock.sleep_count, 0);
    assert_message_clean();
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_no_retry_after_reset(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    /* the connection broke after the request may have left */
    bbo_fake_push_error(fx.fake, BBO_ETRANSPORT, 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ETRANSPORT);
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_int_equal(fx.clock.sleep_count, 0);

    /* neither after a malformed answer nor when the transport gave up */
    bbo_fake_reset(fx.fake);
    bbo_fake_push_error(fx.fake, BBO_EPROTOCOL, 1);
    bbo_fake_push_error(fx.fake, BBO_EUSER, 1);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EPROTOCOL);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EUSER);
    assert_int_equal(bbo_fake_request_count(fx.fake), 2);
    assert_int_equal(fx.clock.sleep_count, 0);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_429_retry_after(void **state)
{
    static const int64_t waits[] = { 3 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    bbo_fake_push(fx.fake, 429, "Rate limit for this resource has been exceeded");
    bbo_fake_push_header(fx.fake, "Content-Type", "text/plain");
    bbo_fake_push_header(fx.fake, "Retry-After", "3");
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_count(fx.fake), 2);
    assert_sleeps(&fx.clock, waits, 1);
    assert_int_equal(bbo_fake_request_at(fx.fake, 1)->sent_at, T0 + 3);
    assert_int_equal(bbo_token_expires_at(tok), T0 + 3 + 7200);
    bbo_token_free(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_503_exhausted(void **state)
{
    static const int64_t waits[] = { 1, 2 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    size_t i;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < 3; i++)
        bbo_fake_push(fx.fake, 503, NULL);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EHTTP);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx.fake), 3);
    assert_int_equal(bbo_fake_remaining(fx.fake), 1);
    assert_sleeps(&fx.clock, waits, 2);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 503);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "503"));
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_429_exhausted(void **state)
{
    static const int64_t waits[] = { 1, 2 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    size_t i;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < 3; i++)
        bbo_fake_push(fx.fake, 429, NULL);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ERATELIMIT);
    assert_int_equal(bbo_fake_request_count(fx.fake), 3);
    assert_sleeps(&fx.clock, waits, 2);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 429);
    assert_int_equal(bbo_error_retry_after(bbo_error_last()), -1);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_after_above_ceiling(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    const bbo_error *e;

    (void)state;
    fx_init(&fx);
    bbo_fake_push(fx.fake, 429, NULL);
    bbo_fake_push_header(fx.fake, "Retry-After", "31");
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ERATELIMIT);
    assert_null(tok);
    e = bbo_error_last();
    assert_int_equal(bbo_error_retry_after(e), 31);
    assert_int_equal(bbo_error_http_status(e), 429);
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    assert_int_equal(fx.clock.sleep_count, 0);

    /* exactly the ceiling is waited for */
    bbo_fake_reset(fx.fake);
    bbo_fake_push(fx.fake, 503, NULL);
    bbo_fake_push_header(fx.fake, "Retry-After", "30");
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_count(fx.fake), 2);
    assert_int_equal(fx.clock.sleep_count, 1);
    assert_int_equal(fx.clock.sleeps[0], 30);
    bbo_token_free(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_disabled(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_client_set_retry(fx.client, 1, 0), BBO_OK);
    bbo_fake_push_error(fx.fake, BBO_ETRANSPORT, 1);
    bbo_fake_push(fx.fake, 503, NULL);
    bbo_fake_push_header(fx.fake, "Retry-After", "0");
    bbo_fake_push(fx.fake, 429, NULL);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ETRANSPORT);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EHTTP);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_ERATELIMIT);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx.fake), 3);
    assert_int_equal(bbo_fake_remaining(fx.fake), 1);
    assert_int_equal(fx.clock.sleep_count, 0);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_retry_more_attempts(void **state)
{
    static const int64_t waits[] = { 1, 2, 4 };
    fixture fx;
    bbo_token *old = old_token("rt-old"), *tok = NULL;
    size_t i;

    (void)state;
    fx_init(&fx);
    /* the exponential back-off goes on, and stops at the ceiling */
    assert_int_equal(bbo_client_set_retry(fx.client, 5, 4), BBO_OK);
    for (i = 0; i < 5; i++)
        bbo_fake_push(fx.fake, 503, NULL);
    assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_EHTTP);
    assert_int_equal(bbo_fake_request_count(fx.fake), 4); /* the 8 s wait is over 4 */
    assert_sleeps(&fx.clock, waits, 3);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_set_retry_validation(void **state)
{
    fixture fx;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_client_set_retry(NULL, 3, 30), BBO_EINVAL);
    assert_int_equal(bbo_client_set_retry(fx.client, 0, 30), BBO_EINVAL);
    assert_int_equal(bbo_client_set_retry(fx.client, -1, 30), BBO_EINVAL);
    assert_int_equal(bbo_client_set_retry(fx.client, 11, 30), BBO_EINVAL);
    assert_int_equal(bbo_client_set_retry(fx.client, 3, -1), BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "bbo_client_set_retry"));
    assert_int_equal(bbo_client_set_retry(fx.client, 1, 0), BBO_OK);
    assert_int_equal(bbo_client_set_retry(fx.client, 10, 3600), BBO_OK);
    assert_int_equal(bbo_client_set_body_limit(NULL, 10), BBO_EINVAL);
    assert_int_equal(bbo_client_set_body_limit(fx.client, 0), BBO_EINVAL);
    assert_int_equal(bbo_client_set_clock(NULL, NULL, NULL, NULL), BBO_EINVAL);
    assert_null(bbo_client_consumer(NULL));
    assert_string_equal(bbo_consumer_key(bbo_client_consumer(fx.client)), KEY);
    assert_ptr_not_equal(bbo_client_consumer(fx.client), fx.consumer); /* a copy */
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* the transport contract                                              */

static int refresh_with(fixture *fx, bbo_token *old)
{
    bbo_token *tok = NULL;
    int rc = bbo_client_refresh(fx->client, old, &tok);

    assert_null(tok);
    return rc;
}

static void test_transport_odd_codes(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old");
    const char *msg;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_error(fx.fake, 5, 0);
    assert_int_equal(refresh_with(&fx, old), BBO_ETRANSPORT);
    msg = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(msg, "5"));
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ETRANSPORT);

    bbo_fake_push_error(fx.fake, -999, 0);
    assert_int_equal(refresh_with(&fx, old), BBO_ETRANSPORT);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "-999"));

    /* a positive code with a status set is no success either */
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    bbo_fake_push_return(fx.fake, 1);
    assert_int_equal(refresh_with(&fx, old), BBO_ETRANSPORT);

    /* 0 without a status */
    bbo_fake_push(fx.fake, 0, TOKEN_JSON);
    assert_int_equal(refresh_with(&fx, old), BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "status"));

    assert_int_equal(bbo_fake_request_count(fx.fake), 4);
    assert_int_equal(fx.clock.sleep_count, 0);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_transport_user_abort(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old");
    const char *msg;

    (void)state;
    fx_init(&fx);
    bbo_fake_push_error(fx.fake, BBO_EUSER, 0);
    assert_int_equal(refresh_with(&fx, old), BBO_EUSER);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EUSER);
    msg = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(msg, "transport"));
    assert_non_null(strstr(msg, bbo_strerror(BBO_EUSER)));
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_transport_without_message(void **state)
{
    static const int codes[] = { BBO_ETRANSPORT, BBO_ETLS, BBO_ETIMEOUT, BBO_EPROTOCOL };
    fixture fx;
    bbo_token *old = old_token("rt-old");
    const char *msg;
    size_t i;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < BBO_ARRAY_SIZE(codes); i++) {
        /* a stale error from before must not show through */
        bbo__error_set(codes[i], "stale message");
        bbo_fake_push_error(fx.fake, codes[i], 0);
        assert_int_equal(refresh_with(&fx, old), codes[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), codes[i]);
        msg = bbo_error_message(bbo_error_last());
        assert_null(strstr(msg, "stale"));
        assert_non_null(strstr(msg, "transport"));
        assert_non_null(strstr(msg, bbo_strerror(codes[i])));
    }
    bbo_token_free(old);
    fx_done(&fx);
}

/* A transport whose error message the library set (a setter refused): the
 * message is kept. */
static void test_transport_message_kept(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old");
    char big[200];

    (void)state;
    fx_init(&fx);
    memset(big, 'x', sizeof(big));
    assert_int_equal(bbo_client_set_body_limit(fx.client, 100), BBO_OK);
    bbo_fake_push(fx.fake, 200, NULL);
    bbo_fake_push_body(fx.fake, big, sizeof(big));
    assert_int_equal(refresh_with(&fx, old), BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "limit"));
    bbo_token_free(old);
    fx_done(&fx);
}

static int destroyed_payloads;

static void count_destroy(void *payload)
{
    (void)payload;
    destroyed_payloads++;
}

static int never_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    (void)req;
    (void)resp;
    (void)payload;
    fail_msg("this transport must not be used");
    return BBO_EUSER;
}

static void test_set_transport(void **state)
{
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_fake *a = bbo_fake_new(), *b = bbo_fake_new();
    bbo_transport t, bad;
    bbo_token *old = old_token("rt-old"), *tok = NULL;

    (void)state;
    assert_int_equal(bbo_consumer_new(&consumer, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_client_new(&client, consumer), BBO_OK);

    /* the default (libcurl) transport takes CA and proxy settings */
    assert_int_equal(bbo_client_set_ca(client, "/nonexistent/ca.pem", NULL), BBO_OK);
    assert_int_equal(bbo_client_set_ca(client, NULL, "/nonexistent/certs"), BBO_OK);
    assert_int_equal(bbo_client_set_ca(client, NULL, NULL), BBO_OK);
    assert_int_equal(bbo_client_set_proxy(client, "http://127.0.0.1:3128"), BBO_OK);
    assert_int_equal(bbo_client_set_proxy(client, ""), BBO_OK);
    assert_int_equal(bbo_client_set_proxy(client, NULL), BBO_OK);
    assert_int_equal(bbo_client_set_ca(NULL, NULL, NULL), BBO_EINVAL);
    assert_int_equal(bbo_client_set_proxy(NULL, NULL), BBO_EINVAL);

    /* refused tables: the caller keeps the payload, destroy is not called */
    destroyed_payloads = 0;
    memset(&bad, 0, sizeof(bad));
    bad.version = BBO_TRANSPORT_VERSION + 1;
    bad.send = never_send;
    bad.destroy = count_destroy;
    assert_int_equal(bbo_client_set_transport(client, &bad), BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "version"));
    bad.version = 0;
    assert_int_equal(bbo_client_set_transport(client, &bad), BBO_EINVAL);
    bad.version = BBO_TRANSPORT_VERSION;
    bad.send = NULL;
    assert_int_equal(bbo_client_set_transport(client, &bad), BBO_EINVAL);
    assert_int_equal(bbo_client_set_transport(NULL, &bad), BBO_EINVAL);
    bad.send = never_send;
    assert_int_equal(bbo_client_set_transport(NULL, &bad), BBO_EINVAL);
    assert_int_equal(destroyed_payloads, 0);
    /* still the default transport */
    assert_int_equal(bbo_client_set_proxy(client, ""), BBO_OK);

    /* a custom transport: the table is copied */
    bbo_fake_transport(a, &t);
    assert_int_equal(bbo_client_set_transport(client, &t), BBO_OK);
    memset(&t, 0, sizeof(t));
    assert_int_equal(bbo_client_set_ca(client, "/nonexistent/ca.pem", NULL), BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "custom transport"));
    assert_int_equal(bbo_client_set_proxy(client, ""), BBO_EINVAL);
    /* the timeouts still work: the request timeout is any transport's */
    assert_int_equal(bbo_client_set_timeouts(client, 1000, 2000), BBO_OK);
    bbo_fake_push_json(a, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_count(a), 1);
    assert_int_equal(bbo_fake_last_request(a)->timeout_ms, 2000);
    bbo_token_free(tok);

    /* replaced: the old one is destroyed once, the new one not yet */
    bbo_fake_transport(b, &t);
    assert_int_equal(bbo_client_set_transport(client, &t), BBO_OK);
    assert_int_equal(bbo_fake_destroy_count(a), 1);
    assert_int_equal(bbo_fake_destroy_count(b), 0);
    bbo_fake_push_json(b, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_refresh(client, old, &tok), BBO_OK);
    assert_int_equal(bbo_fake_request_count(a), 1);
    assert_int_equal(bbo_fake_request_count(b), 1);
    bbo_token_free(tok);

    /* a refused table leaves the current one in place */
    bad.send = NULL;
    assert_int_equal(bbo_client_set_transport(client, &bad), BBO_EINVAL);
    assert_int_equal(bbo_fake_destroy_count(b), 0);
    assert_int_equal(destroyed_payloads, 0);

    /* NULL: back to libcurl, with the CA and proxy settings usable again */
    assert_int_equal(bbo_client_set_transport(client, NULL), BBO_OK);
    assert_int_equal(bbo_fake_destroy_count(b), 1);
    assert_int_equal(bbo_client_set_ca(client, "/nonexistent/ca.pem", NULL), BBO_OK);
    assert_int_equal(bbo_client_set_proxy(client, ""), BBO_OK);
    assert_int_equal(bbo_client_set_transport(client, NULL), BBO_OK); /* again: a new one */

    /* a transport without destroy is fine */
    bad.send = never_send;
    bad.destroy = NULL;
    assert_int_equal(bbo_client_set_transport(client, &bad), BBO_OK);

    /* free destroys the current one exactly once */
    bbo_fake_transport(a, &t);
    assert_int_equal(bbo_client_set_transport(client, &t), BBO_OK);
    assert_int_equal(bbo_fake_destroy_count(a), 1);
    bbo_client_free(client);
    assert_int_equal(bbo_fake_destroy_count(a), 2);
    assert_int_equal(bbo_fake_destroy_count(b), 1);
    assert_int_equal(destroyed_payloads, 0);
    bbo_client_free(NULL);

    bbo_token_free(old);
    bbo_fake_free(a);
    bbo_fake_free(b);
    bbo_consumer_free(consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_transport_free_on_destroy(void **state)
{
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_fake *fake = bbo_fake_new();
    bbo_transport t;

    (void)state;
    /* the client owns the payload: freeing the client frees it (valgrind
     * would see the leak otherwise) */
    assert_int_equal(bbo_consumer_new(&consumer, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_client_new(&client, consumer), BBO_OK);
    bbo_fake_set_free_on_destroy(fake, 1);
    bbo_fake_transport(fake, &t);
    assert_int_equal(bbo_client_set_transport(client, &t), BBO_OK);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* ------------------------------------------------------------------ */
/* body limit                                                          */

static void test_body_limit(void **state)
{
    fixture fx;
    bbo_token *old = old_token("rt-old");
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    char body[150];
    size_t len;

    (void)state;
    fx_init(&fx);
    memset(body, 'b', sizeof(body));
    assert_int_equal(bbo_client_set_body_limit(fx.client, 100), BBO_OK);

    /* one big piece */
    bbo_fake_push(fx.fake, 200, NULL);
    bbo_fake_push_header(fx.fake, "Content-Type", "application/json");
    bbo_fake_push_body(fx.fake, body, sizeof(body));
    assert_int_equal(refresh_with(&fx, old), BBO_EPROTOCOL);
    assert_int_equal(bbo_fake_result_at(fx.fake, 0), BBO_EPROTOCOL);

    /* in pieces: the 11th piece of 10 bytes is refused */
    bbo_fake_push(fx.fake, 200, NULL);
    bbo_fake_push_body(fx.fake, body, sizeof(body));
    bbo_fake_push_chunk(fx.fake, 10);
    assert_int_equal(refresh_with(&fx, old), BBO_EPROTOCOL);
    assert_int_equal(bbo_fake_result_at(fx.fake, 1), BBO_EPROTOCOL);
    assert_int_equal(bbo_fake_request_count(fx.fake), 2);

    /* exactly the limit is accepted (a plain GET through bbo_client_send) */
    assert_int_equal(bbo_http_request_new(&req, "GET", "https://api.bitbucket.org/2.0/user"),
                     BBO_OK);
    bbo_fake_push(fx.fake, 200, NULL);
    bbo_fake_push_body(fx.fake, body, 100);
    bbo_fake_push_chunk(fx.fake, 7);
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_OK);
    assert_int_equal(bbo_http_response_body_limit(resp), 100);
    assert_memory_equal(bbo_http_response_body(resp, &len), body, 100);
    assert_int_equal(len, 100);
    bbo_http_response_free(resp);
    resp = NULL;
    bbo_fake_push(fx.fake, 200, NULL);
    bbo_fake_push_body(fx.fake, body, 101);
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_EPROTOCOL);
    assert_null(resp);
    bbo_http_request_free(req);

    bbo_token_free(old);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* client credentials and JWT                                          */

static void test_client_credentials_request(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;
    bbo_scopes *scopes = NULL;
    const bbo_fake_request *r;
    char *text = NULL, expected[256];

    (void)state;
    fx_init(&fx);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON_NO_REFRESH);
    assert_int_equal(bbo_client_client_credentials(fx.client, &tok), BBO_OK);
    r = bbo_fake_last_request(fx.fake);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    assert_token_headers(r, BASIC);
    assert_body(r, "grant_type=client_credentials");
    assert_int_equal(r->timeout_ms, 30000);
    assert_string_equal(bbo_token_access(tok), "at-new");
    assert_null(bbo_token_refresh(tok));
    bbo_token_free(tok);
    tok = NULL;
    assert_int_equal(bbo_client_client_credentials(NULL, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_client_credentials(fx.client, NULL), BBO_EINVAL);
    fx_done(&fx);

    /* scopes are sent, and a public consumer is refused before any send */
    fx_init(&fx);
    bbo_client_free(fx.client);
    assert_int_equal(bbo_scopes_parse(&scopes, "pullrequest:write account"), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(fx.consumer, scopes), BBO_OK);
    assert_int_equal(bbo_scopes_to_string(scopes, &text), BBO_OK);
    assert_int_equal(bbo_client_new(&fx.client, fx.consumer), BBO_OK);
    {
        bbo_transport t;

        bbo_fake_transport(fx.fake, &t);
        assert_int_equal(bbo_client_set_transport(fx.client, &t), BBO_OK);
    }
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON_NO_REFRESH);
    assert_int_equal(bbo_client_client_credentials(fx.client, &tok), BBO_OK);
    assert_non_null(strstr(text, "account"));
    assert_non_null(strstr(text, "pullrequest:write"));
    assert_non_null(strchr(text, ' '));
    snprintf(expected, sizeof(expected), "grant_type=client_credentials&scope=%s", text);
    /* form encoding: ' ' -> '+', ':' -> %3A */
    {
        char *p, encoded[256];
        size_t n = 0;

        for (p = expected; *p && n + 4 < sizeof(encoded); p++) {
            if (*p == ' ')
                encoded[n++] = '+';
            else if (*p == ':')
                n += (size_t)snprintf(encoded + n, 4, "%%3A");
            else
                encoded[n++] = *p;
        }
        encoded[n] = '\0';
        assert_body(bbo_fake_last_request(fx.fake), encoded);
    }
    bbo_token_free(tok);
    tok = NULL;
    bbo_free(text);
    bbo_scopes_free(scopes);
    /* bbo_client_free destroyed the first fake table once; count both */
    bbo_client_free(fx.client);
    fx.client = NULL;
    assert_int_equal(bbo_fake_destroy_count(fx.fake), 2);
    bbo_fake_free(fx.fake);
    bbo_consumer_free(fx.consumer);

    {
        bbo_consumer *pub = NULL;
        bbo_client *client = NULL;
        bbo_fake *fake = bbo_fake_new();
        bbo_transport t;

        assert_int_equal(bbo_consumer_new(&pub, KEY, NULL), BBO_OK);
        assert_int_equal(bbo_client_new(&client, pub), BBO_OK);
        bbo_fake_transport(fake, &t);
        assert_int_equal(bbo_client_set_transport(client, &t), BBO_OK);
        assert_int_equal(bbo_client_client_credentials(client, &tok), BBO_EINVAL);
        assert_null(tok);
        assert_int_equal(bbo_fake_request_count(fake), 0);
        bbo_client_free(client);
        bbo_fake_free(fake);
        bbo_consumer_free(pub);
    }
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_jwt_grant_request(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;
    const bbo_fake_request *r;
    char *jwt = NULL, header[1024];

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_jwt_connect_token(&jwt, "connect-key", "shared", "POST", TOKEN_URL, T0,
                                           180),
                     BBO_OK);
    bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
    assert_int_equal(bbo_client_jwt_grant(fx.client, jwt, &tok), BBO_OK);
    r = bbo_fake_last_request(fx.fake);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    snprintf(header, sizeof(header), "JWT %s", jwt);
    assert_token_headers(r, header);
    assert_int_equal(bbo_fake_request_header_occurrences(r, "authorization"), 1);
    assert_null(strstr(bbo_fake_request_header(r, "Authorization"), "Basic"));
    assert_body(r, "grant_type=urn%3Abitbucket%3Aoauth2%3Ajwt");
    assert_null(strstr(r->body, SECRET));
    assert_null(strstr(r->url, jwt));
    assert_int_equal(r->timeout_ms, 30000);
    assert_string_equal(bbo_token_access(tok), "at-new");
    bbo_token_free(tok);
    tok = NULL;

    /* not a compact JWT: refused before any send */
    assert_int_equal(bbo_client_jwt_grant(fx.client, "a.b", &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_jwt_grant(fx.client, "a.b.c\r\nX: y", &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_jwt_grant(fx.client, NULL, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_jwt_grant(NULL, jwt, &tok), BBO_EINVAL);
    assert_int_equal(bbo_client_jwt_grant(fx.client, jwt, NULL), BBO_EINVAL);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);
    bbo_free(jwt);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* bbo_client_send                                                     */

static void test_send_get(void **state)
{
    fixture fx;
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    const bbo_fake_request *r;
    const char *body;
    size_t len;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo_http_request_new(&req, "GET", "https://api.bitbucket.org/2.0/user?x=1"),
                     BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "Authorization", "Bearer at-1"), BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "X-Trace", "a"), BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "X-Trace", "b"), BBO_OK);
    bbo_fake_push(fx.fake, 503, NULL);
    bbo_fake_push_json(fx.fake, 200, "{\"username\":\"me\"}");
    bbo_fake_push_header(fx.fake, "X-OAuth-Scopes", "account");
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_OK);

    assert_int_equal(bbo_fake_request_count(fx.fake), 2);
    assert_int_equal(fx.clock.sleep_count, 1);
    r = bbo_fake_last_request(fx.fake);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->url, "https://api.bitbucket.org/2.0/user?x=1");
    assert_int_equal(r->header_count, 3);
    assert_string_equal(r->header_names[0], "Authorization");
    assert_string_equal(r->header_values[0], "Bearer at-1");
    assert_string_equal(r->header_values[1], "a");
    assert_string_equal(r->header_values[2], "b");
    assert_int_equal(bbo_fake_request_header_occurrences(r, "x-trace"), 2);
    assert_int_equal(r->body_len, 0);
    assert_int_equal(r->timeout_ms, 30000);

    assert_int_equal(bbo_http_response_status(resp), 200);
    assert_string_equal(bbo_http_response_header(resp, "x-oauth-scopes"), "account");
    assert_string_equal(bbo_http_response_header(resp, "content-type"), "application/json");
    body = bbo_http_response_body(resp, &len);
    assert_int_equal(len, strlen("{\"username\":\"me\"}"));
    assert_string_equal(body, "{\"username\":\"me\"}");
    bbo_http_response_free(resp);
    resp = NULL;

    /* any status is an answer: no OAuth meaning */
    bbo_fake_push(fx.fake, 404, "not found");
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 404);
    bbo_http_response_free(resp);
    resp = NULL;

    /* a POST body goes through byte for byte, NULs included */
    {
        bbo_http_request *post = NULL;
        static const char data[] = { 'a', '\0', 'b' };

        assert_int_equal(bbo_http_request_new(&post, "POST",
                                              "https://api.bitbucket.org/2.0/repositories/x"),
                         BBO_OK);
        assert_int_equal(bbo_http_request_set_body(post, data, sizeof(data)), BBO_OK);
        bbo_fake_push(fx.fake, 201, "");
        assert_int_equal(bbo_client_send(fx.client, post, &resp), BBO_OK);
        r = bbo_fake_last_request(fx.fake);
        assert_int_equal(r->body_len, 3);
        assert_memory_equal(r->body, data, 3);
        assert_int_equal(bbo_http_response_status(resp), 201);
        bbo_http_response_free(resp);
        resp = NULL;
        bbo_http_request_free(post);
    }

    /* a failure leaves *out alone */
    resp = (bbo_http_response *)&resp;
    bbo_fake_push_error(fx.fake, BBO_ETIMEOUT, 0);
    assert_int_equal(bbo_client_send(fx.client, req, &resp), BBO_ETIMEOUT);
    assert_ptr_equal(resp, (bbo_http_response *)&resp);
    resp = NULL;
    assert_int_equal(bbo_client_send(NULL, req, &resp), BBO_EINVAL);
    assert_int_equal(bbo_client_send(fx.client, NULL, &resp), BBO_EINVAL);
    assert_int_equal(bbo_client_send(fx.client, req, NULL), BBO_EINVAL);
    assert_null(resp);

    bbo_http_request_free(req);
    fx_done(&fx);
}

/* The internal entry the session uses reports when the answer's request
 * was sent. */
static void test_internal_send_sent_at(void **state)
{
    fixture fx;
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    int64_t sent_at = 0;

    (void)state;
    fx_init(&fx);
    bbo_fake_set_clock(fx.fake, &fx.clock, 7);
    assert_int_equal(bbo__client_now(fx.client), T0);
    assert_int_equal(bbo_http_request_new(&req, "GET", "https://api.bitbucket.org/2.0/user"),
                     BBO_OK);
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    bbo_fake_push(fx.fake, 429, NULL);
    bbo_fake_push_header(fx.fake, "Retry-After", "2");
    bbo_fake_push(fx.fake, 200, "ok");
    assert_int_equal(bbo__client_send(fx.client, req, resp, &sent_at), BBO_OK);
    /* T0 sent, +7 answered, +2 waited: second send at T0+9 */
    assert_int_equal(sent_at, T0 + 9);
    assert_int_equal(bbo_http_response_status(resp), 200);
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* the system clock                                                    */

static void test_system_clock_restored(void **state)
{
    fixture fx;
    int64_t now;

    (void)state;
    fx_init(&fx);
    assert_int_equal(bbo__client_now(fx.client), T0);
    assert_int_equal(bbo_client_set_clock(fx.client, NULL, NULL, NULL), BBO_OK);
    now = bbo__client_now(fx.client);
    assert_true(now > T0 - 1 && now != T0);
    /* a 0-second Retry-After is retried without sleeping */
    {
        bbo_token *old = old_token("rt-old"), *tok = NULL;

        bbo_fake_push(fx.fake, 503, NULL);
        bbo_fake_push_header(fx.fake, "Retry-After", "0");
        bbo_fake_push_json(fx.fake, 200, TOKEN_JSON);
        assert_int_equal(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
        assert_int_equal(bbo_fake_request_count(fx.fake), 2);
        assert_true(bbo_token_expires_at(tok) >= now + 7200);
        bbo_token_free(tok);
        bbo_token_free(old);
    }
    fx_done(&fx);
}

/* ------------------------------------------------------------------ */
/* out of memory                                                       */

typedef struct oom_ctx {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
    bbo_token *old;
    bbo_token *tok;
    bbo_authorization *auth;
    bbo_fake_clock clock;
} oom_ctx;

static int op_client_new(void *p)
{
    oom_ctx *ctx = p;

    ctx->client = NULL;
    return bbo_client_new(&ctx->client, ctx->consumer);
}

static void cleanup_client(void *p)
{
    oom_ctx *ctx = p;

    bbo_client_free(ctx->client);
    ctx->client = NULL;
}

/* Set up a client on the fake (allocations here must not fail). */
static void oom_setup(oom_ctx *ctx)
{
    bbo_transport t;

    memset(ctx, 0, sizeof(*ctx));
    ctx->clock.now = T0;
    ctx->clock.advance_on_sleep = 1;
    assert_int_equal(bbo_consumer_new(&ctx->consumer, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_consumer_set_callback_url(ctx->consumer, CALLBACK), BBO_OK);
    assert_int_equal(bbo_client_new(&ctx->client, ctx->consumer), BBO_OK);
    assert_int_equal(bbo_client_set_clock(ctx->client, bbo_fake_clock_now, bbo_fake_clock_sleep,
                                          &ctx->clock),
                     BBO_OK);
    ctx->fake = bbo_fake_new();
    bbo_fake_transport(ctx->fake, &t);
    assert_int_equal(bbo_client_set_transport(ctx->client, &t), BBO_OK);
}

static void oom_teardown(oom_ctx *ctx)
{
    bbo_client_free(ctx->client);
    assert_int_equal(bbo_fake_destroy_count(ctx->fake), 1);
    bbo_fake_free(ctx->fake);
    bbo_token_free(ctx->old);
    bbo_authorization_free(ctx->auth);
    bbo_consumer_free(ctx->consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static int op_refresh(void *p)
{
    oom_ctx *ctx = p;

    /* a fresh script each run: the answer has headers and a body to copy */
    bbo_fake_reset(ctx->fake);
    bbo_fake_push_json(ctx->fake, 200, TOKEN_JSON);
    bbo_fake_push_header(ctx->fake, "X-Request-Id", "1234");
    bbo_fake_push_chunk(ctx->fake, 16);
    ctx->tok = NULL;
    return bbo_client_refresh(ctx->client, ctx->old, &ctx->tok);
}

static void cleanup_token(void *p)
{
    oom_ctx *ctx = p;

    assert_non_null(ctx->tok);
    assert_string_equal(bbo_token_refresh(ctx->tok), "rt-new");
    assert_int_equal(bbo_fake_request_count(ctx->fake), 1);
    bbo_token_free(ctx->tok);
    ctx->tok = NULL;
}

static int op_refresh_retried(void *p)
{
    oom_ctx *ctx = p;

    /* a retry path too: not sent, then 429, then the answer */
    bbo_fake_reset(ctx->fake);
    bbo_fake_push_error(ctx->fake, BBO_ETRANSPORT, 1);
    bbo_fake_push(ctx->fake, 429, "slow down");
    bbo_fake_push_header(ctx->fake, "Retry-After", "1");
    bbo_fake_push_json(ctx->fake, 200, TOKEN_JSON_NO_REFRESH);
    ctx->tok = NULL;
    return bbo_client_refresh(ctx->client, ctx->old, &ctx->tok);
}

static void cleanup_token_kept(void *p)
{
    oom_ctx *ctx = p;

    assert_string_equal(bbo_token_refresh(ctx->tok), "rt-old");
    assert_int_equal(bbo_fake_request_count(ctx->fake), 3);
    bbo_token_free(ctx->tok);
    ctx->tok = NULL;
}

static int op_exchange(void *p)
{
    oom_ctx *ctx = p;

    bbo_fake_reset(ctx->fake);
    bbo_fake_push_json(ctx->fake, 200, TOKEN_JSON);
    ctx->tok = NULL;
    return bbo_client_exchange_code(ctx->client, ctx->auth, "the-code", &ctx->tok);
}

static void cleanup_token_any(void *p)
{
    oom_ctx *ctx = p;

    assert_non_null(ctx->tok);
    bbo_token_free(ctx->tok);
    ctx->tok = NULL;
}

static int op_client_credentials(void *p)
{
    oom_ctx *ctx = p;

    bbo_fake_reset(ctx->fake);
    bbo_fake_push_json(ctx->fake, 200, TOKEN_JSON_NO_REFRESH);
    ctx->tok = NULL;
    return bbo_client_client_credentials(ctx->client, &ctx->tok);
}

static int op_set_ca(void *p)
{
    oom_ctx *ctx = p;

    return bbo_client_set_ca(ctx->client, "/etc/ssl/certs/ca.pem", "/etc/ssl/certs");
}

static void cleanup_ca(void *p)
{
    oom_ctx *ctx = p;

    assert_int_equal(bbo_client_set_ca(ctx->client, NULL, NULL), BBO_OK);
}

static int op_set_proxy(void *p)
{
    oom_ctx *ctx = p;

    return bbo_client_set_proxy(ctx->client, "http://127.0.0.1:3128");
}

static void cleanup_proxy(void *p)
{
    oom_ctx *ctx = p;

    assert_int_equal(bbo_client_set_proxy(ctx->client, NULL), BBO_OK);
}

static int op_set_timeouts(void *p)
{
    oom_ctx *ctx = p;

    return bbo_client_set_timeouts(ctx->client, 1000, 2000);
}

static int op_restore_default(void *p)
{
    oom_ctx *ctx = p;

    return bbo_client_set_transport(ctx->client, NULL);
}

static void test_oom(void **state)
{
    oom_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(bbo_consumer_new(&ctx.consumer, KEY, SECRET), BBO_OK);
    bbo_test_oom_torture(op_client_new, cleanup_client, &ctx);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);

    oom_setup(&ctx);
    ctx.old = old_token("rt-old");
    bbo_test_oom_torture(op_refresh, cleanup_token, &ctx);
    bbo_test_oom_torture(op_refresh_retried, cleanup_token_kept, &ctx);
    bbo_test_oom_torture(op_client_credentials, cleanup_token_any, &ctx);
    assert_int_equal(bbo_authorization_begin(&ctx.auth, ctx.consumer), BBO_OK);
    bbo_test_oom_torture(op_exchange, cleanup_token_any, &ctx);
    oom_teardown(&ctx);

    /* configuration of the default transport: a failure changes nothing */
    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(bbo_consumer_new(&ctx.consumer, KEY, SECRET), BBO_OK);
    assert_int_equal(bbo_client_new(&ctx.client, ctx.consumer), BBO_OK);
    bbo_test_oom_torture(op_set_ca, cleanup_ca, &ctx);
    bbo_test_oom_torture(op_set_proxy, cleanup_proxy, &ctx);
    /* with a proxy set, reconfiguring copies it: timeouts and a new
     * default transport allocate */
    assert_int_equal(bbo_client_set_proxy(ctx.client, "socks5h://127.0.0.1:1080"), BBO_OK);
    bbo_test_oom_torture(op_set_timeouts, NULL, &ctx);
    bbo_test_oom_torture(op_restore_default, NULL, &ctx);
    bbo_client_free(ctx.client);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange_code_request),
        cmocka_unit_test(test_exchange_code_without_redirect_uri),
        cmocka_unit_test(test_exchange_code_invalid),
        cmocka_unit_test(test_exchange_code_oauth_error_not_retried),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_refresh_keeps_old_refresh_token),
        cmocka_unit_test(test_refresh_takes_rotated_token),
        cmocka_unit_test(test_refresh_expiry_from_send_time),
        cmocka_unit_test(test_refresh_without_refresh_token),
        cmocka_unit_test(test_retry_not_sent_transport),
        cmocka_unit_test(test_retry_not_sent_then_success),
        cmocka_unit_test(test_no_retry_after_timeout),
        cmocka_unit_test(test_no_retry_after_reset),
        cmocka_unit_test(test_retry_429_retry_after),
        cmocka_unit_test(test_retry_503_exhausted),
        cmocka_unit_test(test_retry_429_exhausted),
        cmocka_unit_test(test_retry_after_above_ceiling),
        cmocka_unit_test(test_retry_disabled),
        cmocka_unit_test(test_retry_more_attempts),
        cmocka_unit_test(test_set_retry_validation),
        cmocka_unit_test(test_transport_odd_codes),
        cmocka_unit_test(test_transport_user_abort),
        cmocka_unit_test(test_transport_without_message),
        cmocka_unit_test(test_transport_message_kept),
        cmocka_unit_test(test_set_transport),
        cmocka_unit_test(test_transport_free_on_destroy),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_client_credentials_request),
        cmocka_unit_test(test_jwt_grant_request),
        cmocka_unit_test(test_send_get),
        cmocka_unit_test(test_internal_send_sent_at),
        cmocka_unit_test(test_system_clock_restored),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
