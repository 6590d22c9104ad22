/*
 * The session: refresh when due, single flight across threads,
 * invalid_grant as a lasting logout.
 * SPDX-License-Identifier: MIT
 */
#include "session_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- single flight ------------------------------------------------------ */

typedef struct worker {
    pthread_t thread;
    fixture *fx;
    pthread_barrier_t *go;
    int rc;
    int error_code;
    char access[32];
    char oauth[32];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char *access = NULL;

    pthread_barrier_wait(w->go);
    w->rc = bbo_session_access_token(w->fx->session, &access);
    w->error_code = bbo_error_code(bbo_error_last());
    if (access)
        snprintf(w->access, sizeof(w->access), "%s", access);
    if (w->rc < 0 && bbo_error_oauth_code(bbo_error_last()))
        snprintf(w->oauth, sizeof(w->oauth), "%s", bbo_error_oauth_code(bbo_error_last()));
    bbo_free(access);
    return NULL;
}

/* THREADS threads ask at once while a refresh is due; the refresh's send
 * waits until every thread has looked at the token. */
static void run_threads(fixture *fx, worker *workers)
{
    pthread_barrier_t go;
    int i;

    fx->threaded = 1;
    /* each thread reads the clock once under the session's lock (then
     * waits); the leader once more to stamp its request */
    fx->block_until_calls = fx->clock_calls + THREADS + 1;
    pthread_barrier_init(&go, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof(workers[i]));
        workers[i].fx = fx;
        workers[i].go = &go;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, work, &workers[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
    pthread_barrier_destroy(&go);
    assert_false(fx->hook_timed_out);
}


static void test_single_flight(void **state)
{
    fixture *fx = *state;
    worker workers[THREADS];
    counter c;
    int i;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    run_threads(fx, workers);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_int_equal(bbo_fake_unexpected(fx->fake), 0);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_OK);
        assert_string_equal(workers[i].access, "at-2");
    }
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.access, "at-2");
}

/* A server whose tokens live less than the margin: the waiters take the
 * refresh they waited for instead of each starting another one. */
static void test_single_flight_short_lived(void **state)
{
    fixture *fx = *state;
    worker workers[THREADS];
    int i;

    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 200,
                       "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":30,"
                       "\"refresh_token\":\"rt-2\"}");
    run_threads(fx, workers);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_OK);
        assert_string_equal(workers[i].access, "at-2");
    }
}

/* ---- tokens that live shorter than the margin --------------------------- */

/* The token endpoint's answer: `access` / `refresh`, living `ttl` seconds. */
static void push_short(fixture *fx, const char *access, const char *refresh, int ttl)
{
    char json[256];

    snprintf(json, sizeof(json),
             "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%d,"
             "\"refresh_token\":\"%s\"}",
             access, ttl, refresh);
    bbo_fake_push_json(fx->fake, 200, json);
}

/* At `now`: the session serves `access` and has sent `requests` in all. */
static void served_at(fixture *fx, int64_t now, const char *access, size_t requests)
{
    set_now(fx, now);
    assert_access(fx, access);
    assert_access(fx, access);
    assert_int_equal(bbo_fake_request_count(fx->fake), requests);
}

/* At `now`: a refresh with `sent` gives `access` / `refresh` living `ttl`
 * seconds, served at once and again without another request. */
static void refreshed_at(fixture *fx, int64_t now, const char *sent, const char *access,
                         const char *refresh, int ttl)
{
    size_t before = bbo_fake_request_count(fx->fake);

    push_short(fx, access, refresh, ttl);
    served_at(fx, now, access, before + 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, before), sent);
}

/* A 10 s token with the default 60 s margin: due half-way through its life
 * (the margin for a token is at most half its lifetime), refreshed once;
 * the new token is served without another request until its own half. */
static void test_short_lived_refreshed_at_half_life(void **state)
{
    fixture *fx = *state;

    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", "rt-1", T0 + 10, T0)),
              BBO_OK);
    served_at(fx, T0, "at-1", 0);
    served_at(fx, T0 + 1, "at-1", 0);
    served_at(fx, T0 + 4, "at-1", 0);
    refreshed_at(fx, T0 + 5, "rt-1", "at-2", "rt-2", 10);
    /* obtained at T0 + 5, expires at T0 + 15: due at T0 + 10 */
    served_at(fx, T0 + 9, "at-2", 1);
    refreshed_at(fx, T0 + 10, "rt-2", "at-3", "rt-3", 10);
    assert_int_equal(bbo_fake_unexpected(fx->fake), 0);
}

/* The margin itself still rules tokens that live at least twice as long,
 * and tokens whose lifetime is unknown (no obtained_at). */
static void test_short_lived_margin_bounds(void **state)
{
    fixture *fx = *state;

    /* 130 s: min(60, 65) = 60, due at T0 + 70 */
    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", "rt-1", T0 + 130, T0)),
              BBO_OK);
    served_at(fx, T0 + 69, "at-1", 0);
    refreshed_at(fx, T0 + 70, "rt-1", "at-2", "rt-2", 5);
    /* 5 s (T0 + 70 to T0 + 75): min(60, 5 / 2) = 2, due at T0 + 73 */
    served_at(fx, T0 + 72, "at-2", 1);
    refreshed_at(fx, T0 + 73, "rt-2", "at-3", "rt-3", 5);

    /* margin 0: only when expired (T0 + 78), whatever the lifetime */
    assert_rc(bbo_session_set_refresh_margin(fx->session, 0), BBO_OK);
    served_at(fx, T0 + 77, "at-3", 2);
    refreshed_at(fx, T0 + 78, "rt-3", "at-4", "rt-4", 5);

    /* no obtained_at: the lifetime is unknown, the 60 s margin applies */
    assert_rc(bbo_session_set_refresh_margin(fx->session, 60), BBO_OK);
    assert_rc(bbo_session_set_token(fx->session, make_token("at-5", "rt-5", T0 + 130, 0)), BBO_OK);
    refreshed_at(fx, T0 + 78, "rt-5", "at-6", "rt-6", 3600);
}

#define HAMMER_TTL 4      /* tokens live 4 s: each is due 2 s after it came */
#define HAMMER_SECONDS 20 /* simulated seconds */
#define HAMMER_CALLS 25   /* calls per thread per simulated second */

typedef struct hammer {
    pthread_t thread;
    fixture *fx;
    pthread_barrier_t *tick;
    const int *stop;
    long calls, errors, wrong;
} hammer;

static void *hammer_work(void *arg)
{
    hammer *h = arg;
    char expected[32];
    int second, k;

    for (second = 0;; second++) {
        pthread_barrier_wait(h->tick); /* the clock was set */
        if (*h->stop)
            break;
        /* the token of this second: at-0 until T0 + 2, then a new one
         * every 2 s (each refreshed at half its life) */
        snprintf(expected, sizeof(expected), "at-%d", second / (HAMMER_TTL / 2));
        for (k = 0; k < HAMMER_CALLS; k++) {
            char *access = NULL;

            h->calls++;
            if (bbo_session_access_token(h->fx->session, &access) < 0)
                h->errors++;
            else if (strcmp(access, expected) != 0)
                h->wrong++;
            bbo_free(access);
        }
        pthread_barrier_wait(h->tick); /* this second's calls are done */
    }
    return NULL;
}

/* 32 threads hammer a session (with a locking store) whose tokens live 4 s,
 * through 20 simulated seconds: exactly one refresh per token, each with
 * the newest refresh token, each saved once; with the margin (60 s) above
 * the lifetime every call would have refreshed. */
static void test_short_lived_hammer(void **state)
{
    fixture *fx = *state;
    hammer workers[THREADS];
    pthread_barrier_t tick;
    int i, second, stop = 0, refreshes = (HAMMER_SECONDS - 1) / (HAMMER_TTL / 2);
    long calls = 0, errors = 0, wrong = 0;
    char access[16], refresh[16];

    fx->threaded = 1;
    assert_rc(bbo_session_new(&fx->session, fx->client,
                              make_token("at-0", "rt-0", T0 + HAMMER_TTL, T0)),
              BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    for (i = 1; i <= refreshes + 2; i++) { /* two to spare: a chain would use them */
        snprintf(access, sizeof(access), "at-%d", i);
        snprintf(refresh, sizeof(refresh), "rt-%d", i);
        push_short(fx, access, refresh, HAMMER_TTL);
    }
    pthread_barrier_init(&tick, NULL, THREADS + 1);
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof(workers[i]));
        workers[i].fx = fx;
        workers[i].tick = &tick;
        workers[i].stop = &stop;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, hammer_work, &workers[i]), 0);
    }
    for (second = 0; second < HAMMER_SECONDS; second++) {
        set_now(fx, T0 + second);
        pthread_barrier_wait(&tick); /* go */
        pthread_barrier_wait(&tick); /* done */
    }
    stop = 1;
    pthread_barrier_wait(&tick);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
        calls += workers[i].calls;
        errors += workers[i].errors;
        wrong += workers[i].wrong;
    }
    pthread_barrier_destroy(&tick);
    assert_int_equal(errors, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(calls, (long)THREADS * HAMMER_SECONDS * HAMMER_CALLS);
    /* at T0 + 2, 4, ..., 18: one refresh per token */
    assert_int_equal(bbo_fake_request_count(fx->fake), refreshes);
    for (i = 0; i < refreshes; i++) {
        snprintf(refresh, sizeof(refresh), "rt-%d", i);
        assert_refresh_request(bbo_fake_request_at(fx->fake, (size_t)i), refresh);
    }
    assert_int_equal(fx->ms.saves, 1 + refreshes); /* the first token, then each new one */
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    snprintf(access, sizeof(access), "at-%d", refreshes);
    snprintf(refresh, sizeof(refresh), "rt-%d", refreshes);
    assert_session_token(fx, access, refresh);
    assert_string_equal(bbo_token_access(fx->ms.token), access);
}

static void check_failed_flight(fixture *fx, int expected)
{
    worker workers[THREADS];
    int i;

    start(fx, T0 + 30);
    run_threads(fx, workers);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_int_equal(bbo_fake_unexpected(fx->fake), 0);
    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, expected);
        assert_int_equal(workers[i].error_code, expected);
        assert_string_equal(workers[i].access, "");
    }
    /* the old token stays, and a later call tries again */
    assert_session_token(fx, "at-1", "rt-1");
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
}

static void test_single_flight_http_error(void **state)
{
    fixture *fx = *state;

    bbo_fake_push(fx->fake, 500, "Internal Server Error");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    check_failed_flight(fx, BBO_EHTTP);
}

static void test_single_flight_transport_error(void **state)
{
    fixture *fx = *state;

    /* sent, no answer (a reset): never retried */
    bbo_fake_push_error(fx->fake, BBO_ETRANSPORT, 0);
    check_failed_flight(fx, BBO_ETRANSPORT);
}

static void test_single_flight_invalid_grant(void **state)
{
    fixture *fx = *state;
    worker workers[THREADS];
    int i;

    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    run_threads(fx, workers);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_EEXPIRED);
        assert_string_equal(workers[i].oauth, "invalid_grant");
    }
}

/* ---- invalid_grant ------------------------------------------------------ */


static void test_invalid_grant(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    char *access = NULL;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    bbo_fake_set_repeat_last(fx->fake, 1);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_logged_out_error();
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");

    /* logged out for good: the dead refresh token is never sent again */
    set_now(fx, T0 + 100000);
    assert_revoked(fx);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_logged_out_error();
    assert_rc(bbo_session_token(fx->session, &tok), BBO_EEXPIRED);
    assert_logged_out_error();
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_logged_out_error();
    assert_null(resp);
    assert_null(tok);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_int_equal(c.calls, 0);

    /* a new login clears it */
    bbo_fake_set_repeat_last(fx->fake, 0);
    bbo_fake_reset(fx->fake);
    assert_rc(
        bbo_session_set_token(fx->session, make_token("at-9", "rt-9", T0 + 200000, T0 + 100000)),
        BBO_OK);
    assert_access(fx, "at-9");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_int_equal(c.calls, 0); /* set_token is not a refresh */
}

/* Other OAuth errors are not a logout: the token stays and is tried again. */
/* invalid_grant also removes the rejected token from the store, so no other
 * process loads it and sends the dead refresh token again */
static void test_invalid_grant_clears_store(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_non_null(fx->ms.token);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    assert_revoked(fx);
    assert_int_equal(fx->ms.clears, 1);
    assert_null(fx->ms.token);
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locked, 0);
}

/* ... but a token another process stored in the meantime is not removed */
static void test_invalid_grant_keeps_other_login(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    /* a store without lock: the other login lands while our refresh runs */
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    bbo_token_free(fx->ms.token);
    fx->ms.token = make_token("at-other", "rt-other", T0 + 3600, T0 + 1);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_int_equal(fx->ms.clears, 0);
    assert_non_null(fx->ms.token);
    /* and the logged-out session picks that login up on its next call */
    assert_access(fx, "at-other");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* logged out here; another process logs in and stores a token: the next
 * call uses it without any request */
static void test_logged_out_picks_up_new_login(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    fx->ms.token = make_token("at-new", "rt-new", T0 + 7200, T0 + 5);
    assert_access(fx, "at-new");
    assert_session_token(fx, "at-new", "rt-new");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* Another session logged out (the store is empty): a due token must not be
 * refreshed, which would undo that logout */
static void test_store_cleared_elsewhere(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    bbo_token_free(fx->ms.token); /* "bbo-login logout" in another process */
    fx->ms.token = NULL;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_null(fx->ms.token);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

/* A store that cannot clear keeps the rejected token: it is never adopted
 * again, so its refresh token is never sent again */
static void test_invalid_grant_store_cannot_clear(void **state)
{
    fixture *fx = *state;
    bbo_store_callbacks cb;
    bbo_store *store = NULL;
    char *access = NULL;

    start(fx, T0 + 30);
    memset(&cb, 0, sizeof(cb));
    cb.version = BBO_STORE_VERSION;
    cb.load = ms_load;
    cb.save = ms_save;
    cb.destroy = ms_destroy;
    cb.payload = &fx->ms;
    assert_rc(bbo_store_new(&store, &cb), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, store), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    bbo_fake_set_repeat_last(fx->fake, 1);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_non_null(fx->ms.token); /* could not be cleared */
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    bbo_fake_set_repeat_last(fx->fake, 0);
}

static void test_other_oauth_error(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 401,
                       "{\"error\":\"unauthorized_client\",\"error_description\":\"Invalid "
                       "OAuth client credentials\"}");
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "unauthorized_client");
    assert_session_token(fx, "at-1", "rt-1");
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-1");
}

/* ---- a refresh that lacks a required scope ------------------------------ */

#define LACKING TOKEN_SCOPED("at-2", "rt-2", "account")
#define TOKEN_SCOPED(access, refresh, scope)                                                      \
    "{\"access_token\":\"" access "\",\"token_type\":\"bearer\",\"expires_in\":7200,"              \
    "\"refresh_token\":\"" refresh "\",\"scope\":\"" scope "\"}"

/* The fixture's client on a consumer that requires Pull requests: Write. */
static void require_pullrequest_write(fixture *fx)
{
    bbo_consumer *consumer = NULL;
    bbo_scopes *required = NULL;

    assert_rc(bbo_consumer_new(&consumer, "key123", "secret456"), BBO_OK);
    assert_rc(bbo_scopes_parse(&required, "account pullrequest:write"), BBO_OK);
    assert_rc(bbo_consumer_require_scopes(consumer, required), BBO_OK);
    bbo_scopes_free(required);
    fx_client(fx, consumer);
}

static void assert_lacks_scope_error(void)
{
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ESCOPE);
    assert_message_has("Pull requests: Write");
    assert_message_has("log in again");
}

/* BBO_ESCOPE for the caller, but the rotated token is the grant: saved,
 * handed to the callbacks, served while valid, refreshed when due. */
static void test_refresh_lacks_required_scope(void **state)
{
    fixture *fx = *state;
    char *access = NULL;
    counter c;

    memset(&c, 0, sizeof(c));
    c.fx = fx;
    require_pullrequest_write(fx);
    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    bbo_fake_push_json(fx->fake, 200, LACKING);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_ESCOPE);
    assert_null(access);
    assert_lacks_scope_error();
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    /* saved before anyone saw it, the old refresh token is gone */
    assert_non_null(fx->ms.token);
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-2");
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locked, 0);
    /* the callbacks heard of the new token (after the save) */
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.access, "at-2");
    assert_int_equal(c.save_error, 0);
    assert_true(c.stored_is_new);
    /* served without a request while valid; not logged out */
    assert_access(fx, "at-2");
    assert_session_token(fx, "at-2", "rt-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_int_equal(c.calls, 1);
    /* due again: refreshed with the new refresh token, as any other */
    set_now(fx, T0 + 7200);
    bbo_fake_push_json(fx->fake, 200, TOKEN_SCOPED("at-3", "rt-3", "account pullrequest:write"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-2");
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-3");
    assert_int_equal(c.calls, 2);
}

/* A save that fails: still BBO_ESCOPE (not the store's error), the token
 * kept in memory, the save retried by the next call. */
static void test_refresh_lacks_required_scope_save_fails(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    require_pullrequest_write(fx);
    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.fail_saves = 1;
    bbo_fake_push_json(fx->fake, 200, LACKING);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_ESCOPE);
    assert_lacks_scope_error();
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    assert_session_token(fx, "at-2", "rt-2");
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* Every thread waiting on the single flight hears BBO_ESCOPE too. */
static void test_single_flight_lacks_required_scope(void **state)
{
    fixture *fx = *state;
    worker workers[THREADS];
    int i;

    require_pullrequest_write(fx);
    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 200, LACKING);
    run_threads(fx, workers);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_ESCOPE);
        assert_int_equal(workers[i].error_code, BBO_ESCOPE);
        assert_string_equal(workers[i].access, "");
    }
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* ---- out of memory ------------------------------------------------------ */

static int oom_access_token(void *ctx)
{
    oom_ctx *o = ctx;
    fixture *fx = o->fx;
    bbo_session *s = NULL;
    bbo_token *tok = NULL;
    char *access = NULL;
    int rc;

    memset(&o->c, 0, sizeof(o->c));
    if ((rc = bbo_token_new(&tok, "at-1", "rt-1", NULL, T0 + 30, NULL)) < 0)
        return rc;
    if ((rc = bbo_session_new(&s, fx->client, tok)) < 0)
        return rc;
    if ((rc = bbo_session_on_token(s, on_token, &o->c)) == BBO_OK &&
        (rc = bbo_session_access_token(s, &access)) == BBO_OK) {
        if (strcmp(access, "at-2") != 0 || o->c.calls != 1)
            rc = BBO_EINVAL;
        bbo_free(access);
    }
    bbo_session_free(s);
    return rc;
}

static void test_oom(void **state)
{
    fixture *fx = *state;
    oom_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.fx = fx;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_set_repeat_last(fx->fake, 1);
    bbo_test_oom_torture(oom_access_token, NULL, &ctx);
    assert_int_equal(ctx.c.calls, 1); /* the run that succeeded */
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_single_flight),
        T(test_single_flight_short_lived),
        T(test_short_lived_refreshed_at_half_life),
        T(test_short_lived_margin_bounds),
        T(test_short_lived_hammer),
        T(test_single_flight_http_error),
        T(test_single_flight_transport_error),
        T(test_single_flight_invalid_grant),
        T(test_invalid_grant),
        T(test_invalid_grant_clears_store),
        T(test_store_cleared_elsewhere),
        T(test_invalid_grant_store_cannot_clear),
        T(test_invalid_grant_keeps_other_login),
        T(test_logged_out_picks_up_new_login),
        T(test_other_oauth_error),
        T(test_oom),
        T(test_refresh_lacks_required_scope),
        T(test_refresh_lacks_required_scope_save_fails),
        T(test_single_flight_lacks_required_scope),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("session_refresh", tests, NULL, NULL);
}
