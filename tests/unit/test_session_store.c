/*
 * The session and its store: save before handing out, failed saves
 * retried, cross-process adoption under the store's lock, races.
 * SPDX-License-Identifier: MIT
 */
#include "session_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the store ---------------------------------------------------------- */

static void test_store_saves_before_returning(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    c.fx = fx;
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    /* the store was empty: it got the session's token */
    assert_int_equal(fx->ms.loads, 1);
    assert_int_equal(fx->ms.saves, 1);
    assert_string_equal(fx->ms.saved[0], "at-1");

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(fx->ms.saves, 2);
    assert_string_equal(fx->ms.saved[1], "at-2");
    assert_int_equal(fx->ms.requests_at_save[1], 1); /* right after the refresh */
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-2");
    /* saved before the token went anywhere: the callback found it stored */
    assert_int_equal(c.calls, 1);
    assert_true(c.stored_is_new);
    assert_int_equal(c.save_error, 0);

    assert_access(fx, "at-2");
    assert_int_equal(fx->ms.saves, 2);
}

static void test_store_save_failure(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    assert_int_equal(fx->ms.saves, 1);

    fx->ms.fail_saves = 2;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_error_clear();
    assert_access(fx, "at-2"); /* BBO_OK all the same */
    /* told by its own channel: bbo_error_last is for failed calls */
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_OK);
    assert_int_equal(fx->ms.saves, 2);
    assert_string_equal(fx->ms.saved[1], "at-2");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-1");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.save_error, BBO_EIO);

    /* the next call tries again (and fails again) */
    bbo_error_set(BBO_EHTTP, "an earlier failure of the caller's");
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EHTTP); /* left alone */
    assert_int_equal(fx->ms.saves, 3);
    assert_string_equal(fx->ms.saved[2], "at-2");

    /* and again, now it works */
    bbo_error_clear();
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_OK);
    assert_int_equal(fx->ms.saves, 4);
    assert_string_equal(fx->ms.saved[3], "at-2");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-2");

    /* saved: no more saves */
    assert_access(fx, "at-2");
    assert_int_equal(fx->ms.saves, 4);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_int_equal(c.calls, 1);
}

/* A save retry that fails, then a refresh whose save works: the call does
 * not report the stale failure. */
static void test_store_save_failure_then_refresh(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    fx->ms.fail_saves = 1;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(c.save_error, BBO_EIO);

    /* due again: the retry of at-2's save fails, the refresh's save works */
    set_now(fx, T0 + 7200);
    fx->ms.fail_saves = 1;
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    bbo_error_clear();
    assert_access(fx, "at-3");
    assert_int_equal(fx->ms.saves, 4);
    assert_string_equal(fx->ms.saved[2], "at-2");
    assert_string_equal(fx->ms.saved[3], "at-3");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-3");
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.save_error, 0);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_OK);
    assert_access(fx, "at-3");
    assert_int_equal(fx->ms.saves, 4);
}

static void test_set_store_newer_stored(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30); /* obtained at T0 - 3600 */
    fx->ms.token = make_token("at-s", "rt-s", T0 + 3600, T0);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    assert_session_token(fx, "at-s", "rt-s");
    assert_int_equal(fx->ms.saves, 0);
    assert_access(fx, "at-s");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_set_store_older_stored(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600); /* obtained at T0 - 3600 */
    fx->ms.token = make_token("at-s", "rt-s", T0 + 30, T0 - 7200);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    assert_session_token(fx, "at-1", "rt-1");
    assert_int_equal(fx->ms.saves, 1);
    assert_string_equal(bbo_token_access(fx->ms.token), "at-1");
    assert_string_equal(bbo_token_refresh(fx->ms.token), "rt-1");
}

static void test_set_store_loads_when_empty(void **state)
{
    fixture *fx = *state;

    assert_rc(bbo_session_new(&fx->session, fx->client, NULL), BBO_OK);
    fx->ms.token = make_token("at-s", "rt-s", T0 + 30, T0 - 7000);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_int_equal(fx->ms.saves, 0);
    /* due: refreshed with the stored refresh token, saved under the lock */
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-s");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locked, 0);
}

static void test_set_store_load_error(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600);
    fx->ms.fail_saves = 1;
    /* the save of the session's (newer) token fails: reported, kept */
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_EIO);
    assert_access(fx, "at-1");
    assert_int_equal(fx->ms.saves, 2); /* retried by the next call */
    assert_string_equal(bbo_token_access(fx->ms.token), "at-1");
}

/* Another process refreshed while we waited for the store's lock: its
 * token is adopted, no request goes out. */
static void test_locking_store_adopts(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_int_equal(fx->ms.saves, 1);
    fx->ms.other = make_token("at-p", "rt-p", T0 + 3600, T0 - 1);
    assert_access(fx, "at-p");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_session_token(fx, "at-p", "rt-p");
    assert_int_equal(fx->ms.saves, 1);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(fx->ms.locked, 0);
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.access, "at-p");
    assert_int_equal(c.save_error, 0);
}

/* The other process's token is inside our margin but not expired (its
 * tokens may live shorter than the margin): used as it is. */
static void test_locking_store_adopts_inside_margin(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.other = make_token("at-p", "rt-p", T0 + 20, T0 - 10);
    assert_access(fx, "at-p");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
}

/* The other process's token is due as well: refresh with its refresh
 * token (ours was spent by that process), under the lock. */
static void test_locking_store_refreshes_stored(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    /* obtained after ours (T0 - 3600), expired by now */
    fx->ms.other = make_token("at-p", "rt-p", T0, T0 - 100);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-p");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
}

static void test_logout(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 3600);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_non_null(fx->ms.token);
    assert_rc(bbo_session_logout(fx->session), BBO_OK);
    assert_int_equal(fx->ms.clears, 1);
    assert_null(fx->ms.token);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_refresh_forced(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_rc(bbo_session_refresh(fx->session), BBO_OK);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* Calls made from a second thread while the first send is held. */
enum { BG_ACCESS, BG_LOGOUT, BG_SET_STORE };

typedef struct bg_call {
    pthread_t thread;
    fixture *fx;
    int op;
    bbo_store *store;
    int rc;
} bg_call;

static void *bg_run(void *arg)
{
    bg_call *call = arg;
    char *access = NULL;

    if (call->op == BG_LOGOUT) {
        call->rc = bbo_session_logout(call->fx->session);
    } else if (call->op == BG_SET_STORE) {
        call->rc = bbo_session_set_store(call->fx->session, call->store);
    } else {
        call->rc = bbo_session_access_token(call->fx->session, &access);
        bbo_free(access);
    }
    return NULL;
}

static void bg_start(bg_call *call, fixture *fx, int op, bbo_store *store)
{
    memset(call, 0, sizeof(*call));
    call->fx = fx;
    call->op = op;
    call->store = store;
    assert_int_equal(pthread_create(&call->thread, NULL, bg_run, call), 0);
}

/* Start a refresh on another thread and hold its send; `op` then runs on
 * a third thread for 100 ms before the send may go on. */
static void race_with_refresh(fixture *fx, int op, bbo_store *store, bg_call *refresher,
                              bg_call *other)
{
    fx->threaded = 1;
    fx->hold = 1;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bg_start(refresher, fx, BG_ACCESS, NULL);
    pthread_mutex_lock(&fx->mu);
    while (!fx->in_send)
        pthread_cond_wait(&fx->cv, &fx->mu);
    pthread_mutex_unlock(&fx->mu);
    bg_start(other, fx, op, store);
    sleep_ms(100);
    pthread_mutex_lock(&fx->mu);
    fx->hold = 0;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->mu);
    assert_int_equal(pthread_join(refresher->thread, NULL), 0);
    assert_int_equal(pthread_join(other->thread, NULL), 0);
    assert_false(fx->hook_timed_out);
    assert_rc(refresher->rc, BBO_OK);
    assert_rc(other->rc, BBO_OK);
}

/* A logout while a refresh is in flight wins: the refreshed token does
 * not come back to life, in the session or in the store. */
static void test_logout_during_refresh(void **state)
{
    fixture *fx = *state;
    bg_call refresher, logout;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    race_with_refresh(fx, BG_LOGOUT, NULL, &refresher, &logout);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_null(fx->ms.token);
    assert_int_equal(fx->ms.clears, 1);
}

/* A store replaced while a refresh is in flight is neither freed nor
 * swapped under the refresh: the first store gets the new token under its
 * own lock, then the second one gets it from set_store. */
static void test_set_store_during_refresh(void **state)
{
    fixture *fx = *state;
    bg_call refresher, replace;
    memstore second;

    memset(&second, 0, sizeof(second));
    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    race_with_refresh(fx, BG_SET_STORE, ms_store(&second, 1), &refresher, &replace);
    assert_int_equal(fx->ms.destroyed, 1);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.saves, 2);
    assert_string_equal(fx->ms.saved[1], "at-2");
    assert_int_equal(second.lock_violations, 0);
    assert_int_equal(second.locks, second.unlocks);
    assert_non_null(second.token);
    assert_string_equal(bbo_token_access(second.token), "at-2");
    assert_session_token(fx, "at-2", "rt-2");
    bbo_session_free(fx->session);
    fx->session = NULL;
    assert_int_equal(second.destroyed, 1);
}

/* ---- store interface v2: try_lock, a bounded lock, conflicts ------------ */

/* Due but still valid while another worker holds the lock: the current
 * token is served at once, nothing is sent; later the refresh happens. */
static void test_try_lock_busy_serves_current(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    fx->ms.busy = 1;
    assert_access(fx, "at-1");
    assert_access(fx, "at-1");
    assert_int_equal(fx->ms.try_locks, 2);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_int_equal(fx->ms.locked, 0);

    fx->ms.busy = 0;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(fx->ms.try_locks, 3);
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
}

/* Expired: the session waits on the blocking lock, never try_lock; a lock
 * that gives up is reported as BBO_EBUSY, and the error agrees. */
static void test_lock_busy_when_expired(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 - 5);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    fx->ms.busy = 1;
    fx->ms.lock_busy = 1;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EBUSY);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EBUSY);
    assert_message_has("held elsewhere");
    assert_int_equal(fx->ms.try_locks, 0);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);

    fx->ms.busy = fx->ms.lock_busy = 0;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
}

/* ---- a store that cannot be locked or read (a database restarting) ------ */

/* A sentinel in the thread's error: a call that succeeds leaves it. */
static void set_sentinel(void)
{
    bbo_error_set(BBO_EUSER, "sentinel");
}

static void assert_sentinel(void)
{
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EUSER);
    assert_message_has("sentinel");
}

/* Due but still valid, and the store's lock fails (BBO_EIO): the current
 * token is served, the error is told by bbo_session_save_error (not left
 * in bbo_error_last behind a 0), and the next call refreshes. */
static void test_outage_lock_serves_valid_token(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    fx->ms.fail_locks = 2;
    set_sentinel();
    assert_access(fx, "at-1");
    assert_sentinel();
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    assert_access(fx, "at-1"); /* tried again, failed again */
    assert_int_equal(fx->ms.try_locks, 2);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_int_equal(c.calls, 0);

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_sentinel();
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.save_error, 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(fx->ms.lock_violations, 0);
}

/* Locked, but the load fails: the lock is released, the current token
 * served; API requests go out with it too. */
static void test_outage_load_serves_valid_token(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.fail_loads = 2;
    set_sentinel();
    assert_access(fx, "at-1");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    bbo_response_free(resp);
    assert_sentinel();
    assert_int_equal(bbo_fake_request_count(fx->fake), 1); /* the API call only */
    assert_string_equal(bbo_fake_request_at(fx->fake, 0)->url, API "/user");
    assert_int_equal(fx->ms.locks, 1 + 2); /* set_store's save, then a try per call */
    assert_int_equal(fx->ms.loads, 1 + 2);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    assert_int_equal(fx->ms.lock_violations, 0);
}

/* A store without try_lock whose lock gives up waiting (BBO_EBUSY) while
 * the token is due but valid: served, BBO_EBUSY told. */
static void test_outage_lock_busy_serves_valid_token(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.lock_busy = 1;
    set_sentinel();
    assert_access(fx, "at-1");
    assert_sentinel();
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EBUSY);
    fx->ms.lock_busy = 0;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
}

/* Expired: the store's error fails the call, as before, and
 * bbo_error_last agrees; nothing is sent. */
static void test_outage_expired_fails(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 - 5);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    fx->ms.fail_locks = 1;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EIO);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_message_has("restarting");
    fx->ms.fail_loads = 1;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EIO);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
}

/* A token that expires while the lock is waited for (a bounded wait that
 * gives up) is not served. */
static void test_outage_expires_while_waiting(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.lock_busy = 1;
    fx->ms.clock = &fx->now; /* single-threaded: no need for fx->mu */
    fx->ms.lock_wait = 30;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EBUSY);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EBUSY);
    assert_message_has("held elsewhere");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

/* bbo_session_refresh asks for a refresh: a store that cannot be locked
 * fails it even while the token is valid. */
static void test_outage_forced_refresh_fails(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 2)), BBO_OK);
    fx->ms.fail_locks = 1;
    assert_rc(bbo_session_refresh(fx->session), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_access(fx, "at-1"); /* not due: the store is not needed */
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

/* A save that failed and a lock that fails after it: the token is served,
 * and once the store is back the save is retried and the refresh made. */
static void test_outage_after_failed_save(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.fail_saves = 1;
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-2", "rt-2"));
    set_now(fx, T0 + 1);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    /* due again, and the store cannot be locked: served from memory */
    set_now(fx, T0 + 1 + 7200 - 30);
    fx->ms.fail_locks = 2; /* the retried save's lock, then the refresh's */
    assert_access(fx, "at-2");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-2");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-3");
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(fx->ms.lock_violations, 0);
}

/* A save refused with BBO_ECONFLICT (the store holds a token obtained
 * later): that token is adopted and handed out. */
static void test_save_conflict_adopts_later(void **state)
{
    fixture *fx = *state;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 30);
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.later = make_token("at-c", "rt-c", T0 + 7200, T0 + 1);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-c");
    assert_int_equal(fx->ms.conflicts, 1);
    assert_session_token(fx, "at-c", "rt-c");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-c");
    assert_int_equal(bbo_session_save_error(fx->session), 0);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.access, "at-c");
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_access(fx, "at-c");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* A rolled-back store (an older copy of the file) holds a token older than
 * the one the session has: it is never adopted, its refresh token (rotated
 * away) never sent; the session's own refresh overwrites it. */
static void test_rolled_back_store_not_adopted(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30); /* obtained at T0 - 3600 */
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.other = make_token("at-0", "rt-0", T0 + 3600, T0 - 7200); /* valid, but older */
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");

    /* set_store with a rolled-back copy: kept out, overwritten */
    fx->ms.token = (bbo_token_free(fx->ms.token), make_token("at-0", "rt-0", T0 + 3600, T0 - 7200));
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_session_token(fx, "at-2", "rt-2");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-2");
}

/* Logged out by invalid_grant, then the store is rolled back to a copy
 * holding an older token: not adopted; a real new login is. */
static void test_rolled_back_after_revoke(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(fx->ms.token);
    fx->ms.token = make_token("at-0", "rt-0", T0 + 3600, T0 - 7200);
    assert_revoked(fx);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    bbo_token_free(fx->ms.token);
    fx->ms.token = make_token("at-n", "rt-n", T0 + 7200, T0 + 5);
    assert_access(fx, "at-n");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* invalid_grant with a store that cannot load at that moment: the dead
 * token is taken out by the next call, never sent again, and every failing
 * call's code matches bbo_error_last. */
static void test_invalid_grant_forget_load_fails(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 0)), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    fx->ms.fail_loads = 1;
    assert_revoked(fx);
    assert_non_null(fx->ms.token); /* could not be read: still there */
    assert_revoked(fx);
    assert_null(fx->ms.token); /* gone now */
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* The same with a locking store whose clear fails: retried until it works. */
static void test_invalid_grant_forget_clear_fails(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    fx->ms.clears_refused = 1;
    assert_revoked(fx);
    assert_non_null(fx->ms.token);
    assert_revoked(fx);
    assert_non_null(fx->ms.token);
    fx->ms.clears_refused = 0;
    assert_revoked(fx);
    assert_null(fx->ms.token);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(fx->ms.lock_violations, 0);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

/* A store handed over later that still holds the token invalid_grant
 * killed: never adopted, and taken out by the next call. */
static void test_dead_token_in_new_store(void **state)
{
    fixture *fx = *state;
    memstore second;

    memset(&second, 0, sizeof(second));
    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    assert_revoked(fx);
    second.token = make_token("at-1", "rt-1", T0 + 30, T0 - 3600);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&second, 1)), BBO_OK);
    assert_non_null(second.token);
    assert_revoked(fx);
    assert_null(second.token);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    bbo_session_free(fx->session);
    fx->session = NULL;
}

/* A logout whose clear fails: the error is returned, the token is gone
 * here, and the store is cleared by a later call. */
static void test_logout_clear_fails(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    start(fx, T0 + 3600);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    fx->ms.clears_refused = 1;
    assert_rc(bbo_session_logout(fx->session), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_non_null(fx->ms.token);
    fx->ms.clears_refused = 0;
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_null(fx->ms.token);
    assert_int_equal(fx->ms.locks, fx->ms.unlocks);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

/* ---- out of memory ------------------------------------------------------ */

/* With a locking store where another process put a fresh token: the
 * session adopts it (load, compare, hand out) without a request. */
static int oom_adopt(void *ctx)
{
    oom_ctx *o = ctx;
    bbo_session *s = NULL;
    bbo_store *store = NULL;
    bbo_token *tok = NULL;
    char *access = NULL;
    int rc;

    memset(&o->c, 0, sizeof(o->c));
    memset(&o->ms, 0, sizeof(o->ms));
    if ((rc = bbo_token_new(&tok, "at-1", "rt-1", NULL, T0 + 30, NULL)) < 0)
        return rc;
    if ((rc = bbo_session_new(&s, o->fx->client, tok)) < 0)
        return rc;
    if ((rc = bbo_session_on_token(s, on_token, &o->c)) < 0 ||
        (rc = ms_store_new(&store, &o->ms, 1)) < 0 || (rc = bbo_session_set_store(s, store)) < 0 ||
        (rc = bbo_token_new(&o->ms.other, "at-p", "rt-p", NULL, T0 + 3600, NULL)) < 0)
        goto done;
    if ((rc = bbo_session_access_token(s, &access)) == BBO_OK) {
        if (strcmp(access, "at-p") != 0 || o->c.calls != 1 || o->ms.locked)
            rc = BBO_EINVAL;
        bbo_free(access);
    }
done:
    bbo_session_free(s); /* frees the store, whose destroy frees its tokens */
    ms_destroy(&o->ms);  /* when the store was never made */
    return rc;
}

static void test_oom_adopt(void **state)
{
    fixture *fx = *state;
    oom_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.fx = fx;
    bbo_test_oom_torture(oom_adopt, NULL, &ctx);
    assert_int_equal(ctx.c.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_store_saves_before_returning),
        T(test_store_save_failure),
        T(test_store_save_failure_then_refresh),
        T(test_set_store_newer_stored),
        T(test_set_store_older_stored),
        T(test_set_store_loads_when_empty),
        T(test_set_store_load_error),
        T(test_locking_store_adopts),
        T(test_locking_store_adopts_inside_margin),
        T(test_locking_store_refreshes_stored),
        T(test_logout),
        T(test_refresh_forced),
        T(test_logout_during_refresh),
        T(test_set_store_during_refresh),
        T(test_try_lock_busy_serves_current),
        T(test_lock_busy_when_expired),
        T(test_outage_lock_serves_valid_token),
        T(test_outage_load_serves_valid_token),
        T(test_outage_lock_busy_serves_valid_token),
        T(test_outage_expired_fails),
        T(test_outage_expires_while_waiting),
        T(test_outage_forced_refresh_fails),
        T(test_outage_after_failed_save),
        T(test_save_conflict_adopts_later),
        T(test_rolled_back_store_not_adopted),
        T(test_rolled_back_after_revoke),
        T(test_invalid_grant_forget_load_fails),
        T(test_invalid_grant_forget_clear_fails),
        T(test_dead_token_in_new_store),
        T(test_logout_clear_fails),
        T(test_oom_adopt),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("session_store", tests, NULL, NULL);
}
