/*
 * The session tests' fixture (see session_fixture.h).
 * SPDX-License-Identifier: MIT
 */
#include "session_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t fx_now(void *payload)
{
    fixture *fx = payload;
    int64_t now;

    pthread_mutex_lock(&fx->mu);
    fx->clock_calls++;
    now = fx->now;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->mu);
    return now;
}

void fx_sleep(int64_t seconds, void *payload)
{
    fixture *fx = payload;

    pthread_mutex_lock(&fx->mu);
    fx->now += seconds;
    pthread_mutex_unlock(&fx->mu);
}

void set_now(fixture *fx, int64_t now)
{
    pthread_mutex_lock(&fx->mu);
    fx->now = now;
    pthread_mutex_unlock(&fx->mu);
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * Runs in every send, before the scripted answer. The first send (a
 * refresh) waits until the clock was asked `block_until_calls` times (each
 * thread reads it under the session's lock before it waits for a refresh
 * in flight) and while `hold` is set; 20 s at most.
 */
int fx_hook(bbo_fake *fake, size_t index, const bbo_http_request *req,
                   bbo_http_response *resp, void *payload)
{
    fixture *fx = payload;
    struct timespec deadline;
    int timed_out = 0;

    (void)fake;
    (void)req;
    (void)resp;
    if (index != 0)
        return 0;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&fx->mu);
    fx->in_send = 1;
    pthread_cond_broadcast(&fx->cv);
    while (!timed_out && (fx->clock_calls < fx->block_until_calls || fx->hold))
        timed_out = pthread_cond_timedwait(&fx->cv, &fx->mu, &deadline) == ETIMEDOUT;
    fx->hook_timed_out |= timed_out;
    pthread_mutex_unlock(&fx->mu);
    if (fx->block_until_calls)
        sleep_ms(20);
    return 0;
}

/* A client for `consumer` (taken) on the fake transport and the fake clock. */
void fx_client(fixture *fx, bbo_consumer *consumer)
{
    bbo_transport t;

    bbo_client_free(fx->client);
    bbo_consumer_free(fx->consumer);
    fx->consumer = consumer;
    assert_rc(bbo_client_new(&fx->client, fx->consumer), BBO_OK);
    assert_rc(bbo_client_set_clock(fx->client, fx_now, fx_sleep, fx), BBO_OK);
    bbo_fake_transport(fx->fake, &t);
    assert_rc(bbo_client_set_transport(fx->client, &t), BBO_OK);
    fx->clients++;
}

int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    bbo_consumer *consumer = NULL;

    assert_non_null(fx);
    fx->baseline = bbo_test_alloc_live();
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    fx->now = T0;
    fx->fake = bbo_fake_new();
    bbo_fake_set_hook(fx->fake, fx_hook, fx);
    fx->ms.fake = fx->fake;
    assert_rc(bbo_consumer_new(&consumer, "key123", "secret456"), BBO_OK);
    fx_client(fx, consumer);
    *state = fx;
    return 0;
}

int teardown(void **state)
{
    fixture *fx = *state;

    bbo_session_free(fx->session);
    bbo_client_free(fx->client);
    bbo_consumer_free(fx->consumer);
    ms_destroy(&fx->ms); /* for a store never handed to a session */
    assert_int_equal(bbo_fake_destroy_count(fx->fake), fx->clients);
    bbo_fake_free(fx->fake);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->mu);
    if (!fx->threaded)
        assert_int_equal(bbo_test_alloc_live(), fx->baseline);
    free(fx);
    return 0;
}

/* A token as the session would have it: obtained at `obtained`. */
bbo_token *make_token(const char *access, const char *refresh, int64_t expires_at,
                             int64_t obtained)
{
    char json[512];
    bbo_token *tok = NULL;

    snprintf(json, sizeof(json),
             "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_at\":%lld,"
             "\"obtained_at\":%lld,\"scope\":\"account\"%s%s%s}",
             access, (long long)expires_at, (long long)obtained,
             refresh ? ",\"refresh_token\":\"" : "", refresh ? refresh : "", refresh ? "\"" : "");
    assert_rc(bbo_token_parse(&tok, json, strlen(json), obtained), BBO_OK);
    return tok;
}

/* A session on at-1 / rt-1, expiring at `expires_at`. */
void start(fixture *fx, int64_t expires_at)
{
    assert_rc(bbo_session_new(&fx->session, fx->client,
                              make_token("at-1", "rt-1", expires_at, T0 - 3600)),
              BBO_OK);
}

/* bbo_session_access_token, which must succeed with `expected`. */
void assert_access(fixture *fx, const char *expected)
{
    char *access = NULL;

    assert_rc(bbo_session_access_token(fx->session, &access), BBO_OK);
    assert_non_null(access);
    assert_string_equal(access, expected);
    bbo_free(access);
}

/* The session's current token's access and refresh token. */
void assert_session_token(fixture *fx, const char *access, const char *refresh)
{
    bbo_token *tok = NULL;

    assert_rc(bbo_session_token(fx->session, &tok), BBO_OK);
    assert_string_equal(bbo_token_access(tok), access);
    if (refresh)
        assert_string_equal(bbo_token_refresh(tok), refresh);
    else
        assert_null(bbo_token_refresh(tok));
    bbo_token_free(tok);
}

void assert_body(const bbo_fake_request *r, const char *expected)
{
    assert_non_null(r);
    assert_int_equal(r->body_len, strlen(expected));
    assert_memory_equal(r->body, expected, r->body_len);
}

void assert_refresh_request(const bbo_fake_request *r, const char *refresh)
{
    char body[128];

    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    snprintf(body, sizeof(body), "grant_type=refresh_token&refresh_token=%s", refresh);
    assert_body(r, body);
}

void assert_message_has(const char *needle)
{
    const char *msg = bbo_error_message(bbo_error_last());

    if (!strstr(msg, needle))
        fail_msg("error message \"%s\" does not name \"%s\"", msg, needle);
}

void on_token(const bbo_token *token, int save_error, void *payload)
{
    counter *c = payload;
    bbo_token *current = NULL;

    c->calls++;
    c->save_error = save_error;
    snprintf(c->access, sizeof(c->access), "%s", bbo_token_access(token));
    if (c->fx) {
        /* callbacks run outside the session's lock: calling back works */
        c->session_rc = bbo_session_token(c->fx->session, &current);
        if (current)
            snprintf(c->session_access, sizeof(c->session_access), "%s", bbo_token_access(current));
        bbo_token_free(current);
        c->requests = bbo_fake_request_count(c->fx->fake);
        c->stored_is_new = c->fx->ms.token &&
                           strcmp(bbo_token_access(c->fx->ms.token), bbo_token_access(token)) == 0;
    }
}

void assert_logged_out_error(void)
{
    const bbo_error *e = bbo_error_last();

    assert_int_equal(bbo_error_code(e), BBO_EEXPIRED);
    assert_non_null(bbo_error_oauth_code(e));
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_non_null(bbo_error_description(e));
    assert_string_equal(bbo_error_description(e), "Invalid refresh_token");
    assert_int_equal(bbo_error_http_status(e), 400);
    assert_null(strstr(bbo_error_message(e), "rt-1"));
}

/* A call made while logged out by invalid_grant: BBO_EEXPIRED, and
 * bbo_error_last says so. */
void assert_revoked(fixture *fx)
{
    char *access = NULL;

    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_logged_out_error();
}
