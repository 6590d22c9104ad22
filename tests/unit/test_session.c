/*
 * The session: refresh when due, single flight across threads, invalid_grant
 * as a lasting logout, token callbacks, the store (save before handing out,
 * failed saves retried, cross-process adoption under the store's lock), API
 * calls (same-origin rule, 401 retry, 403 scopes, 429), pagination, the user
 * check and OOM, all through the fake transport and a fake clock.
 * SPDX-License-Identifier: MIT
 */
#include "fake_transport.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- an in-memory token store ------------------------------------------ */

#define MAX_SAVES 16

typedef struct memstore {
    bbo_token *token; /* what is "on disk" */
    bbo_token *other; /* written by "another process" at the next lock */
    int fail_saves;   /* the next N saves fail with BBO_EIO */
    int loads, saves, clears, locks, unlocks, destroyed;
    int locked;
    int lock_violations; /* load/save while a locking store was not locked */
    int locking;
    bbo_fake *fake; /* to see how many requests went out before a save */
    size_t requests_at_save[MAX_SAVES];
    char saved[MAX_SAVES][32]; /* access token of every save attempt */
} memstore;

static int ms_load(bbo_token **out, void *payload)
{
    memstore *ms = payload;

    ms->loads++;
    *out = NULL;
    return ms->token ? bbo_token_dup(out, ms->token) : BBO_OK;
}

static int ms_save(const bbo_token *token, void *payload)
{
    memstore *ms = payload;
    bbo_token *copy = NULL;
    int rc;

    if (ms->locking && !ms->locked)
        ms->lock_violations++;
    if (ms->saves < MAX_SAVES) {
        snprintf(ms->saved[ms->saves], sizeof(ms->saved[0]), "%s", bbo_token_access(token));
        ms->requests_at_save[ms->saves] = ms->fake ? bbo_fake_request_count(ms->fake) : 0;
    }
    ms->saves++;
    if (ms->fail_saves > 0) {
        ms->fail_saves--;
        return BBO_EIO;
    }
    if ((rc = bbo_token_dup(&copy, token)) < 0)
        return rc;
    bbo_token_free(ms->token);
    ms->token = copy;
    return BBO_OK;
}

static int ms_clear(void *payload)
{
    memstore *ms = payload;

    ms->clears++;
    bbo_token_free(ms->token);
    ms->token = NULL;
    return BBO_OK;
}

static int ms_lock(void *payload)
{
    memstore *ms = payload;

    if (ms->locked)
        ms->lock_violations++;
    ms->locked = 1;
    ms->locks++;
    if (ms->other) {
        bbo_token_free(ms->token);
        ms->token = ms->other;
        ms->other = NULL;
    }
    return BBO_OK;
}

static int ms_unlock(void *payload)
{
    memstore *ms = payload;

    if (!ms->locked)
        ms->lock_violations++;
    ms->locked = 0;
    ms->unlocks++;
    return BBO_OK;
}

static void ms_destroy(void *payload)
{
    memstore *ms = payload;

    ms->destroyed++;
    bbo_token_free(ms->token);
    bbo_token_free(ms->other);
    ms->token = ms->other = NULL;
}

static int ms_store_new(bbo_store **out, memstore *ms, int locking)
{
    bbo_store_callbacks cb;

    memset(&cb, 0, sizeof(cb));
    cb.version = BBO_STORE_VERSION;
    cb.load = ms_load;
    cb.save = ms_save;
    cb.clear = ms_clear;
    if (locking) {
        cb.lock = ms_lock;
        cb.unlock = ms_unlock;
    }
    cb.destroy = ms_destroy;
    cb.payload = ms;
    ms->locking = locking;
    return bbo_store_new(out, &cb);
}

static bbo_store *ms_store(memstore *ms, int locking)
{
    bbo_store *store = NULL;

    assert_rc(ms_store_new(&store, ms, locking), BBO_OK);
    return store;
}

/* ---- fixture ------------------------------------------------------------ */

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

static int64_t fx_now(void *payload)
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

static void fx_sleep(int64_t seconds, void *payload)
{
    fixture *fx = payload;

    pthread_mutex_lock(&fx->mu);
    fx->now += seconds;
    pthread_mutex_unlock(&fx->mu);
}

static void set_now(fixture *fx, int64_t now)
{
    pthread_mutex_lock(&fx->mu);
    fx->now = now;
    pthread_mutex_unlock(&fx->mu);
}

static void sleep_ms(long ms)
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
static int fx_hook(bbo_fake *fake, size_t index, const bbo_http_request *req,
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
static void fx_client(fixture *fx, bbo_consumer *consumer)
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

static int setup(void **state)
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

static int teardown(void **state)
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
static bbo_token *make_token(const char *access, const char *refresh, int64_t expires_at,
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
static void start(fixture *fx, int64_t expires_at)
{
    assert_rc(bbo_session_new(&fx->session, fx->client,
                              make_token("at-1", "rt-1", expires_at, T0 - 3600)),
              BBO_OK);
}

/* bbo_session_access_token, which must succeed with `expected`. */
static void assert_access(fixture *fx, const char *expected)
{
    char *access = NULL;

    assert_rc(bbo_session_access_token(fx->session, &access), BBO_OK);
    assert_non_null(access);
    assert_string_equal(access, expected);
    bbo_free(access);
}

/* The session's current token's access and refresh token. */
static void assert_session_token(fixture *fx, const char *access, const char *refresh)
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

static void assert_body(const bbo_fake_request *r, const char *expected)
{
    assert_non_null(r);
    assert_int_equal(r->body_len, strlen(expected));
    assert_memory_equal(r->body, expected, r->body_len);
}

static void assert_refresh_request(const bbo_fake_request *r, const char *refresh)
{
    char body[128];

    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, TOKEN_URL);
    snprintf(body, sizeof(body), "grant_type=refresh_token&refresh_token=%s", refresh);
    assert_body(r, body);
}

static void assert_message_has(const char *needle)
{
    const char *msg = bbo_error_message(bbo_error_last());

    if (!strstr(msg, needle))
        fail_msg("error message \"%s\" does not name \"%s\"", msg, needle);
}

/* ---- access tokens ------------------------------------------------------ */

static void test_not_due(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600);
    assert_access(fx, "at-1");
    assert_access(fx, "at-1");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_due_refreshes(void **state)
{
    fixture *fx = *state;
    bbo_token *tok = NULL;

    start(fx, T0 + 30); /* within the default 60 s margin */
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");

    assert_rc(bbo_session_token(fx->session, &tok), BBO_OK);
    assert_string_equal(bbo_token_refresh(tok), "rt-2");
    assert_int_equal(bbo_token_expires_at(tok), T0 + 7200);
    assert_int_equal(bbo_token_obtained_at(tok), T0);
    bbo_token_free(tok);

    /* the new one is good for two hours: no more requests */
    assert_access(fx, "at-2");
    set_now(fx, T0 + 7200 - 61);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* ... until it is within the margin */
    set_now(fx, T0 + 7200 - 60);
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-2");
}

static void test_refresh_keeps_refresh_token(void **state)
{
    fixture *fx = *state;

    start(fx, T0 - 5); /* already expired */
    bbo_fake_push_json(fx->fake, 200,
                       "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":3600}");
    assert_access(fx, "at-2");
    assert_session_token(fx, "at-2", "rt-1");
}

static void test_margin(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 100);
    assert_access(fx, "at-1");

    assert_rc(bbo_session_set_refresh_margin(NULL, 10), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, -1), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 86401), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 86400), BBO_OK);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 99), BBO_OK);
    assert_access(fx, "at-1");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);

    assert_rc(bbo_session_set_refresh_margin(fx->session, 100), BBO_OK);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* margin 0: good until the very second it expires */
    assert_rc(bbo_session_set_refresh_margin(fx->session, 0), BBO_OK);
    set_now(fx, T0 + 7199);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    set_now(fx, T0 + 7200);
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
}

static void test_expired_without_refresh_token(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", NULL, T0 + 10, T0)),
              BBO_OK);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EEXPIRED);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    /* the token is still there (a caller may want its scopes) */
    assert_session_token(fx, "at-1", NULL);
}

static void test_no_token(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    char *access = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, NULL), BBO_OK);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_rc(bbo_session_token(fx->session, &tok), BBO_EEXPIRED);
    assert_null(tok);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_arguments(void **state)
{
    fixture *fx = *state;
    bbo_session *s = NULL;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    char *text = NULL;

    /* the initial token is taken even on error: the leak check sees it */
    assert_rc(bbo_session_new(NULL, fx->client, make_token("a", "r", T0, T0)), BBO_EINVAL);
    assert_rc(bbo_session_new(&s, NULL, make_token("a", "r", T0, T0)), BBO_EINVAL);
    assert_null(s);
    assert_rc(bbo_session_set_store(NULL, ms_store(&fx->ms, 0)), BBO_EINVAL);
    assert_int_equal(fx->ms.destroyed, 1);
    assert_rc(bbo_session_set_token(NULL, make_token("a", "r", T0, T0)), BBO_EINVAL);

    start(fx, T0 + 3600);
    assert_rc(bbo_session_access_token(NULL, &text), BBO_EINVAL);
    assert_rc(bbo_session_access_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_set_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_set_store(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_refresh(NULL), BBO_EINVAL);
    assert_rc(bbo_session_logout(NULL), BBO_EINVAL);
    assert_rc(bbo_session_on_token(fx->session, NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_session_user(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_user(NULL, &text), BBO_EINVAL);
    assert_rc(bbo_session_request(NULL, "GET", "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, NULL, "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", NULL, NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, NULL), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "POST", "/user", NULL, 3, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "/us er", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "get me", "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_null(tok);
    assert_null(text);

    bbo_session_free(NULL);
    bbo_response_free(NULL);
    assert_int_equal(bbo_response_status(NULL), 0);
    assert_null(bbo_response_header(NULL, "X"));
}

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

static void on_token(const bbo_token *token, int save_error, void *payload)
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

static void assert_logged_out_error(void)
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
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_logged_out_error();
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
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_non_null(fx->ms.token);
    bbo_fake_push_json(fx->fake, 400, INVALID_GRANT);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_logged_out_error();
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

/* ---- callbacks ---------------------------------------------------------- */

static void test_callbacks(void **state)
{
    fixture *fx = *state;
    counter a, b;
    int i;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.fx = fx;
    start(fx, T0 + 3600);
    assert_rc(bbo_session_on_token(fx->session, on_token, &a), BBO_OK);
    assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_OK);

    /* no refresh, no callback */
    assert_access(fx, "at-1");
    assert_int_equal(a.calls, 0);

    set_now(fx, T0 + 3600 - 59);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_string_equal(a.access, "at-2");
    assert_int_equal(a.save_error, 0);
    assert_int_equal(a.requests, 1); /* after the refresh */
    assert_rc(a.session_rc, BBO_OK); /* no deadlock, and the session has it */
    assert_string_equal(a.session_access, "at-2");

    assert_access(fx, "at-2");
    assert_int_equal(a.calls, 1);

    /* a forced refresh: once more */
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_rc(bbo_session_refresh(fx->session), BBO_OK);
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);
    assert_string_equal(a.access, "at-3");
    assert_string_equal(a.session_access, "at-3");

    /* a failed refresh: none */
    bbo_fake_push(fx->fake, 503, "");
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    assert_rc(bbo_session_refresh(fx->session), BBO_EHTTP);
    assert_int_equal(a.calls, 2);

    /* at most 8 */
    for (i = 2; i < 8; i++)
        assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_OK);
    assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_EINVAL);
}

/* Whatever allocation fails in a refreshing call, the callbacks hear of
 * the new token exactly once by the end of the next call. */
static void test_callbacks_after_oom(void **state)
{
    fixture *fx = *state;
    char *access = NULL;
    counter c;
    long n;
    int rc;

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_set_repeat_last(fx->fake, 1);
    for (n = 0;; n++) {
        memset(&c, 0, sizeof(c));
        start(fx, T0 + 30);
        assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
        bbo_test_alloc_fail_after(n);
        rc = bbo_session_access_token(fx->session, &access);
        bbo_test_alloc_fail_after(-1);
        if (rc == BBO_OK) {
            assert_string_equal(access, "at-2");
            bbo_free(access);
            assert_int_equal(c.calls, 1);
            break;
        }
        assert_rc(rc, BBO_ENOMEM);
        assert_null(access);
        assert_in_range(c.calls, 0, 1); /* 1: only the copy for the caller failed */
        assert_access(fx, "at-2");
        assert_int_equal(c.calls, 1);
        assert_string_equal(c.access, "at-2");
        assert_access(fx, "at-2");
        assert_int_equal(c.calls, 1);
        bbo_session_free(fx->session);
        fx->session = NULL;
    }
    assert_true(n > 10);
}

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
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_int_equal(fx->ms.saves, 2);
    assert_string_equal(fx->ms.saved[1], "at-2");
    assert_string_equal(bbo_token_access(fx->ms.token), "at-1");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.save_error, BBO_EIO);

    /* the next call tries again (and fails again) */
    bbo_error_clear();
    assert_access(fx, "at-2");
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_int_equal(fx->ms.saves, 3);
    assert_string_equal(fx->ms.saved[2], "at-2");

    /* and again, now it works */
    bbo_error_clear();
    assert_access(fx, "at-2");
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
    fx->ms.other = make_token("at-p", "rt-p", T0, T0 - 7200);
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

/* ---- API calls ---------------------------------------------------------- */

static void test_request_paths(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_fake_request *r;
    const char *body;
    size_t len;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200, "{\"username\":\"bbo-tester\"}");
    bbo_fake_push_header(fx->fake, "X-Request-Id", "abc");
    bbo_fake_set_repeat_last(fx->fake, 1);

    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    r = bbo_fake_last_request(fx->fake);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->url, API "/user");
    assert_string_equal(bbo_fake_request_header(r, "Authorization"), "Bearer at-1");
    assert_int_equal(bbo_fake_request_header_occurrences(r, "Authorization"), 1);
    assert_string_equal(bbo_fake_request_header(r, "Accept"), "application/json");
    assert_null(bbo_fake_request_header(r, "Content-Type"));
    assert_int_equal(r->body_len, 0);
    assert_int_equal(bbo_response_status(resp), 200);
    body = bbo_response_body(resp, &len);
    assert_int_equal(len, strlen("{\"username\":\"bbo-tester\"}"));
    assert_string_equal(body, "{\"username\":\"bbo-tester\"}");
    assert_string_equal(bbo_response_header(resp, "x-request-id"), "abc");
    assert_string_equal(bbo_response_header(resp, "X-REQUEST-ID"), "abc");
    assert_string_equal(bbo_response_header(resp, "content-type"), "application/json");
    assert_null(bbo_response_header(resp, "X-Absent"));
    bbo_response_free(resp);

    assert_rc(bbo_session_request(fx->session, "GET", "user", NULL, 0, &resp), BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/user");
    bbo_response_free(resp);

    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws?page=2&pagelen=10", NULL, 0,
                                  &resp),
              BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url,
                        API "/repositories/ws?page=2&pagelen=10");
    bbo_response_free(resp);

    /* absolute URLs on the API's origin */
    assert_rc(
        bbo_session_request(fx->session, "GET", API "/repositories/ws?page=3", NULL, 0, &resp),
        BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/repositories/ws?page=3");
    bbo_response_free(resp);
    assert_rc(bbo_session_request(fx->session, "GET", "https://api.bitbucket.org:443/2.0/user",
                                  NULL, 0, &resp),
              BBO_OK);
    bbo_response_free(resp);
    assert_rc(bbo_session_request(fx->session, "GET", "HTTPS://API.Bitbucket.org/2.0/user", NULL, 0,
                                  &resp),
              BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 6);
}

static void test_request_foreign_origin(void **state)
{
    static const char *const foreign[] = {
        "https://evil.example/2.0/user",
        "https://api.bitbucket.org:8443/2.0/user",
        "http://api.bitbucket.org/2.0/user",
        "https://api.bitbucket.org.evil.example/2.0/user",
        "https://api.bitbucket.org@evil.example/2.0/user",
        "https://bitbucket.org/2.0/user",
    };
    fixture *fx = *state;
    bbo_response *resp = NULL;
    size_t i;

    start(fx, T0 + 30); /* due: not even a refresh may happen */
    for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        assert_rc(bbo_session_request(fx->session, "GET", foreign[i], NULL, 0, &resp), BBO_EINVAL);
        assert_null(resp);
        assert_null(strstr(bbo_error_message(bbo_error_last()), "at-1"));
    }
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_request_body(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_fake_request *r;
    static const char body[] = "{\"title\":\"x\"}";

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 201, "{\"id\":1}");
    assert_rc(bbo_session_request(fx->session, "POST", "/repositories/ws/r/pullrequests", body,
                                  strlen(body), &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 201);
    r = bbo_fake_last_request(fx->fake);
    assert_string_equal(r->method, "POST");
    assert_string_equal(bbo_fake_request_header(r, "Content-Type"), "application/json");
    assert_string_equal(bbo_fake_request_header(r, "Authorization"), "Bearer at-1");
    assert_body(r, body);
    bbo_response_free(resp);
}

static void test_request_401_refresh_retry(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 3600); /* not due by the clock, but revoked on the server */
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 200, "{\"username\":\"bbo-tester\"}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 200);
    assert_string_equal(bbo_response_body(resp, NULL), "{\"username\":\"bbo-tester\"}");
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 0), "Authorization"),
                        "Bearer at-1");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-1");
    assert_string_equal(bbo_fake_request_at(fx->fake, 2)->url, API "/user");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 2), "Authorization"),
                        "Bearer at-2");
    assert_int_equal(c.calls, 1);
    assert_int_equal(bbo_fake_remaining(fx->fake), 0);
}

static void test_request_401_twice(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 401);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_int_equal(bbo_fake_unexpected(fx->fake), 0);
    /* the refreshed token is kept */
    assert_session_token(fx, "at-2", "rt-2");
}

static void test_request_401_without_refresh_token(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", NULL, T0 + 3600, T0)),
              BBO_OK);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_request_403_scope(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 403,
                       "{\"type\":\"error\",\"error\":{\"message\":\"Your credentials lack one "
                       "or more required privilege scopes.\"}}");
    bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", "account");
    bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", "repository:write");
    assert_rc(bbo_session_request(fx->session, "POST", "/repositories/ws/r", "{}", 2, &resp),
              BBO_ESCOPE);
    assert_null(resp);
    assert_message_has("repository:write");
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 403);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_request_403_scope_granted(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    /* implied: repository:write gives repository; a 403 for another reason */
    bbo_fake_push_json(fx->fake, 403, "{\"type\":\"error\",\"error\":{\"message\":\"no\"}}");
    bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", "account, repository:write");
    bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", "repository");
    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws/r", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 403);
    bbo_response_free(resp);

    /* a 403 without the scope headers is an answer too */
    bbo_fake_push_json(fx->fake, 403, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/x", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 403);
    bbo_response_free(resp);
}

static void test_request_429(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_error *e;

    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push(fx->fake, 429, "Rate limit for this resource has been exceeded");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    bbo_fake_push_header(fx->fake, "Retry-After", "7");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ERATELIMIT);
    assert_null(resp);
    e = bbo_error_last();
    assert_int_equal(bbo_error_retry_after(e), 7);
    assert_int_equal(bbo_error_http_status(e), 429);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* without Retry-After: unknown */
    bbo_fake_push(fx->fake, 429, "Rate limit for this resource has been exceeded");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ERATELIMIT);
    assert_int_equal(bbo_error_retry_after(bbo_error_last()), -1);
}

static void test_request_other_statuses(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push_json(fx->fake, 404,
                       "{\"type\":\"error\",\"error\":{\"message\":\"Repository not found\"}}");
    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws/none", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 404);
    bbo_response_free(resp);
    bbo_fake_push(fx->fake, 500, "oops");
    assert_rc(bbo_session_request(fx->session, "DELETE", "/repositories/ws/r", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 500);
    assert_string_equal(bbo_fake_last_request(fx->fake)->method, "DELETE");
    bbo_response_free(resp);
    resp = NULL;
    /* the transport's failure */
    bbo_fake_push_error(fx->fake, BBO_ETIMEOUT, 0);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ETIMEOUT);
    assert_null(resp);
}

/* The request refreshes first when the token is due. */
static void test_request_refreshes_when_due(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 1), "Authorization"),
                        "Bearer at-2");
}

/* ---- pagination --------------------------------------------------------- */

typedef struct pages {
    int calls;
    int stop_at; /* return 1 on this call (1-based), 0: never */
    char first_body[64];
} pages;

static int on_page(const bbo_response *page, void *payload)
{
    pages *p = payload;

    p->calls++;
    if (p->calls == 1)
        snprintf(p->first_body, sizeof(p->first_body), "%s", bbo_response_body(page, NULL));
    return p->stop_at && p->calls == p->stop_at;
}

static void push_pages(fixture *fx)
{
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[1,2],\"next\":\"" API "/repositories/ws?page=2\"}");
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[3,4],\"next\":\"" API "/repositories/ws?page=3\","
                       "\"previous\":\"" API "/repositories/ws?page=1\"}");
    bbo_fake_push_json(fx->fake, 200, "{\"values\":[5]}");
}

static void test_pages(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 100, on_page, &p), BBO_OK);
    assert_int_equal(p.calls, 3);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_string_equal(bbo_fake_request_at(fx->fake, 0)->url, API "/repositories/ws");
    assert_string_equal(bbo_fake_request_at(fx->fake, 1)->url, API "/repositories/ws?page=2");
    assert_string_equal(bbo_fake_request_at(fx->fake, 2)->url, API "/repositories/ws?page=3");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 2), "Authorization"),
                        "Bearer at-1");
    assert_non_null(strstr(p.first_body, "[1,2]"));
}

static void test_pages_max(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 2, on_page, &p), BBO_OK);
    assert_int_equal(p.calls, 2);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 0, on_page, &p),
              BBO_EINVAL);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 1, NULL, &p), BBO_EINVAL);
    assert_rc(bbo_session_foreach_page(fx->session, NULL, 1, on_page, &p), BBO_EINVAL);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
}

static void test_pages_foreign_next(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    bbo_fake_push_json(
        fx->fake, 200,
        "{\"values\":[1],\"next\":\"https://evil.example/2.0/repositories/ws?page=2\"}");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EINVAL);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_pages_callback_stops(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    p.stop_at = 1;
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EUSER);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_pages_http_error(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[1],\"next\":\"" API "/repositories/ws?page=2\"}");
    bbo_fake_push(fx->fake, 500, "Internal Server Error");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 500);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);

    /* the first page already fails; a page that is not JSON */
    bbo_fake_reset(fx->fake);
    memset(&p, 0, sizeof(p));
    bbo_fake_push_json(fx->fake, 404, "{\"type\":\"error\",\"error\":{\"message\":\"nope\"}}");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/none", 10, on_page, &p),
              BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 404);
    assert_int_equal(p.calls, 0);
    bbo_fake_push(fx->fake, 200, "<html>");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EPROTOCOL);
    assert_int_equal(p.calls, 0);
}

/* ---- the user check ----------------------------------------------------- */

static void test_user_cloud(void **state)
{
    fixture *fx = *state;
    char *name = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200,
                       "{\"type\":\"user\",\"username\":\"bbo-tester\",\"nickname\":\"nick\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "bbo-tester");
    bbo_free(name);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/user");
    assert_string_equal(bbo_fake_last_request(fx->fake)->method, "GET");

    /* no username (Atlassian accounts): the nickname */
    bbo_fake_push_json(fx->fake, 200, "{\"type\":\"user\",\"nickname\":\"nick\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "nick");
    bbo_free(name);
    name = NULL;

    bbo_fake_push_json(fx->fake, 200, "{\"type\":\"user\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EPROTOCOL);
    assert_null(name);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push(fx->fake, 502, "Bad Gateway");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EHTTP);
    assert_null(name);
}

static void test_user_data_center(void **state)
{
    fixture *fx = *state;
    bbo_consumer *consumer = NULL;
    bbo_response *resp = NULL;
    char *name = NULL;

    assert_rc(bbo_consumer_new(&consumer, "key123", "secret456"), BBO_OK);
    assert_rc(bbo_consumer_use_data_center(consumer, "https://git.example.com/bitbucket"), BBO_OK);
    fx_client(fx, consumer);
    assert_int_equal(bbo_fake_destroy_count(fx->fake), 1); /* the first client's */
    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200, "{\"version\":\"8.19.0\"}");
    bbo_fake_push_header(fx->fake, "X-AUSERNAME", "bbo-tester");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "bbo-tester");
    bbo_free(name);
    name = NULL;
    assert_string_equal(bbo_fake_last_request(fx->fake)->url,
                        "https://git.example.com/bitbucket/rest/api/latest/"
                        "application-properties");
    assert_string_equal(bbo_fake_request_header(bbo_fake_last_request(fx->fake), "Authorization"),
                        "Bearer at-1");

    /* anonymous: no header */
    bbo_fake_push_json(fx->fake, 200, "{\"version\":\"8.19.0\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EPROTOCOL);
    assert_null(name);

    /* the same-origin rule uses the Data Center host */
    assert_rc(bbo_session_request(fx->session, "GET", API "/user", NULL, 0, &resp), BBO_EINVAL);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(
        bbo_session_request(fx->session, "GET", "https://git.example.com/other", NULL, 0, &resp),
        BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
}

/* ---- out of memory ------------------------------------------------------ */

typedef struct oom_ctx {
    fixture *fx;
    counter c;
    memstore ms;
    int scenario;
} oom_ctx;

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

enum { OOM_200, OOM_401_RETRY, OOM_403_SCOPE, OOM_PAGES };

static int oom_page(const bbo_response *page, void *payload)
{
    (void)page;
    (void)payload;
    return 0;
}

/* A request (or a listing) in each scenario; the fake's script is
 * replayed from the start on every run. */
static int oom_request(void *ctx)
{
    oom_ctx *o = ctx;
    bbo_fake *fake = o->fx->fake;
    bbo_session *s = NULL;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    int rc;

    bbo_fake_reset(fake);
    if (o->scenario == OOM_401_RETRY) {
        bbo_fake_push_json(fake, 401, EXPIRED_401);
        bbo_fake_push_json(fake, 200, NEW_TOKEN);
    }
    if (o->scenario == OOM_403_SCOPE) {
        bbo_fake_push_json(fake, 403, "{}");
        bbo_fake_push_header(fake, "X-OAuth-Scopes", "account");
        bbo_fake_push_header(fake, "X-Accepted-OAuth-Scopes", "repository:write");
    } else if (o->scenario == OOM_PAGES) {
        bbo_fake_push_json(fake, 200, "{\"values\":[1],\"next\":\"" API "/r?page=2\"}");
        bbo_fake_push_json(fake, 200, "{\"values\":[2]}");
    } else {
        bbo_fake_push_json(fake, 200, "{\"username\":\"bbo-tester\"}");
    }
    if ((rc = bbo_token_new(&tok, "at-1", "rt-1", NULL, T0 + 3600, NULL)) < 0)
        return rc;
    if ((rc = bbo_session_new(&s, o->fx->client, tok)) < 0)
        return rc;
    if (o->scenario == OOM_PAGES)
        rc = bbo_session_foreach_page(s, "/r", 10, oom_page, NULL);
    else
        rc = bbo_session_request(s, "GET", "/user", NULL, 0, &resp);
    if (o->scenario == OOM_403_SCOPE)
        rc = rc == BBO_ESCOPE ? BBO_OK : rc == BBO_OK ? BBO_EINVAL : rc;
    else if (rc == BBO_OK && o->scenario != OOM_PAGES && bbo_response_status(resp) != 200)
        rc = BBO_EINVAL;
    bbo_response_free(resp);
    bbo_session_free(s);
    return rc;
}

static void test_oom_request(void **state)
{
    fixture *fx = *state;
    oom_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.fx = fx;
    for (ctx.scenario = OOM_200; ctx.scenario <= OOM_PAGES; ctx.scenario++)
        bbo_test_oom_torture(oom_request, NULL, &ctx);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_not_due),
        T(test_due_refreshes),
        T(test_refresh_keeps_refresh_token),
        T(test_margin),
        T(test_expired_without_refresh_token),
        T(test_no_token),
        T(test_arguments),
        T(test_single_flight),
        T(test_single_flight_short_lived),
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
        T(test_callbacks),
        T(test_callbacks_after_oom),
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
        T(test_request_paths),
        T(test_request_foreign_origin),
        T(test_request_body),
        T(test_request_401_refresh_retry),
        T(test_request_401_twice),
        T(test_request_401_without_refresh_token),
        T(test_request_403_scope),
        T(test_request_403_scope_granted),
        T(test_request_429),
        T(test_request_other_statuses),
        T(test_request_refreshes_when_due),
        T(test_pages),
        T(test_pages_max),
        T(test_pages_foreign_next),
        T(test_pages_callback_stops),
        T(test_pages_http_error),
        T(test_user_cloud),
        T(test_user_data_center),
        T(test_oom),
        T(test_oom_adopt),
        T(test_oom_request),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
