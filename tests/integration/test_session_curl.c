/*
 * The session with the real libcurl transport against the loopback mock
 * (tests/mock/bbmock.py): a full login, single flight across 32 threads
 * (and across two sessions sharing a file store), the user check, a
 * transparent refresh after the server expired the token, pagination and
 * a missing scope. Run it with tests/mock/with_mock.py (meson does).
 *
 * No test prints a token: tokens are compared with strcmp/strlen only.
 * SPDX-License-Identifier: MIT
 */
#include "mockctl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 32

typedef struct fixture {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_session *session;
    bbo_session *second; /* another "process" on the same file store */
    char dir[64];        /* temporary directory of the file store, or "" */
    char path[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    mock_reset();
    f->consumer = mock_consumer();
    f->client = mock_client(f->consumer);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char lock[128];

    bbo_session_free(f->second);
    bbo_session_free(f->session);
    bbo_client_free(f->client);
    bbo_consumer_free(f->consumer);
    if (f->dir[0]) {
        snprintf(lock, sizeof(lock), "%s.lock", f->path);
        unlink(f->path);
        unlink(lock);
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* The authorization-code flow through the mock's "browser". */
static bbo_token *login(fixture *f)
{
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL;
    char *location, *code = NULL;

    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_rc(bbo_authorization_complete(auth, location, &code), BBO_OK);
    free(location);
    assert_rc(bbo_client_exchange_code(f->client, auth, code, &token), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(auth);
    assert_int_equal(mock_stat_long("grants.authorization_code"), 1);
    return token;
}

/* Log in and start f->session with that token. */
static void start(fixture *f)
{
    assert_rc(bbo_session_new(&f->session, f->client, login(f)), BBO_OK);
}

/* Log in with a token that lives 30 s and start f->session with it as
 * if obtained an hour ago: due at once under the 60 s margin (a token
 * just obtained is never due at once: its margin is at most half its
 * lifetime). The mock then hands out two-hour tokens again. */
static void start_due(fixture *f)
{
    mock_config("{\"access_ttl\": 30}");
    assert_rc(bbo_session_new(&f->session, f->client, mock_token_aged(login(f), 3600)), BBO_OK);
    mock_config("{\"access_ttl\": 7200}");
}

/* The session's current access token (malloc'ed copy; never printed). */
static char *current_access(bbo_session *s)
{
    bbo_token *tok = NULL;
    char *copy;

    assert_rc(bbo_session_token(s, &tok), BBO_OK);
    copy = strdup(bbo_token_access(tok));
    assert_non_null(copy);
    bbo_token_free(tok);
    return copy;
}

/* ---- login and the user check ------------------------------------------ */

static void test_login_user(void **state)
{
    fixture *f = *state;
    char *name = NULL, *access = NULL;

    start(f);
    assert_rc(bbo_session_user(f->session, &name), BBO_OK);
    assert_string_equal(name, "bbo-tester");
    bbo_free(name);
    assert_int_equal(mock_stat_long("api_requests"), 1);

    assert_rc(bbo_session_access_token(f->session, &access), BBO_OK);
    assert_int_equal(strlen(access), 2600);
    bbo_free(access);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 0);
}

/* ---- single flight ------------------------------------------------------ */

typedef struct worker {
    pthread_t thread;
    bbo_session *session;
    pthread_barrier_t *go;
    int rc;
    char *access; /* malloc'ed copy */
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char *access = NULL;

    pthread_barrier_wait(w->go);
    w->rc = bbo_session_access_token(w->session, &access);
    if (access)
        w->access = strdup(access);
    bbo_free(access);
    return NULL;
}

/* THREADS threads at once, spread over `count` sessions. */
static void run_threads(bbo_session **sessions, int count, worker *workers)
{
    pthread_barrier_t go;
    int i;

    pthread_barrier_init(&go, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof(workers[i]));
        workers[i].session = sessions[i % count];
        workers[i].go = &go;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, work, &workers[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
    pthread_barrier_destroy(&go);
}

/* Every thread got a token, all the same, and not `old`. */
static void check_workers(worker *workers, const char *old)
{
    int i;

    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_OK);
        assert_non_null(workers[i].access);
        assert_int_equal(strlen(workers[i].access), 2600);
        assert_true(strcmp(workers[i].access, workers[0].access) == 0);
    }
    assert_true(strcmp(workers[0].access, old) != 0);
    for (i = 0; i < THREADS; i++)
        free(workers[i].access);
}

/* The same when the store can try_lock (the file store): a thread whose
 * session finds the lock taken keeps its due but still valid token rather
 * than wait, so each thread got the old token or the new one. */
static void check_workers_may_skip(worker *workers, const char *old)
{
    const char *fresh = NULL;
    int i;

    for (i = 0; i < THREADS; i++) {
        assert_rc(workers[i].rc, BBO_OK);
        assert_non_null(workers[i].access);
        assert_int_equal(strlen(workers[i].access), 2600);
        if (strcmp(workers[i].access, old) == 0)
            continue;
        if (!fresh)
            fresh = workers[i].access;
        assert_true(strcmp(workers[i].access, fresh) == 0);
    }
    assert_non_null(fresh); /* the one that took the lock refreshed */
    for (i = 0; i < THREADS; i++)
        free(workers[i].access);
}

/*
 * The login token is due at once (start_due). The refreshed one lives two
 * hours, so a thread that comes after the refresh (rather than waiting
 * for it) finds it good and must not refresh again.
 */
static void test_threads_one_refresh(void **state)
{
    fixture *f = *state;
    worker workers[THREADS];
    char *old;

    start_due(f);
    old = current_access(f->session);
    run_threads(&f->session, 1, workers);
    check_workers(workers, old);
    free(old);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
}

/* Two sessions ("processes") on one file store: its lock makes the refresh
 * single flight across them too; a session finding the lock taken keeps its
 * due, valid token (try_lock) or adopts the first's. */
static void test_threads_two_sessions_file_store(void **state)
{
    fixture *f = *state;
    worker workers[THREADS];
    bbo_session *sessions[2];
    bbo_store *store = NULL;
    bbo_token *tok = NULL;
    char *old;
    const char *tmp = getenv("TMPDIR");

    snprintf(f->dir, sizeof(f->dir), "%s/bbo-session-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/token.json", f->dir);

    start_due(f);
    assert_rc(bbo_session_token(f->session, &tok), BBO_OK);
    assert_rc(bbo_session_new(&f->second, f->client, tok), BBO_OK);
    assert_rc(bbo_file_store_new(&store, f->path, NULL), BBO_OK);
    assert_rc(bbo_session_set_store(f->session, store), BBO_OK);
    assert_rc(bbo_file_store_new(&store, f->path, NULL), BBO_OK);
    assert_rc(bbo_session_set_store(f->second, store), BBO_OK);

    old = current_access(f->session);
    sessions[0] = f->session;
    sessions[1] = f->second;
    run_threads(sessions, 2, workers);
    check_workers_may_skip(workers, old);
    free(old);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
}

/* ---- API calls ---------------------------------------------------------- */

static void test_expired_on_server(void **state)
{
    fixture *f = *state;
    bbo_response *resp = NULL;
    char *before, *after;

    start(f);
    assert_rc(bbo_session_request(f->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 200);
    bbo_response_free(resp);
    resp = NULL;
    assert_int_equal(mock_stat_long("grants.refresh_token"), 0);

    /* our clock says two hours; the server says no: 401, refresh, retry */
    before = current_access(f->session);
    assert_int_equal(mock_expire(), 1);
    assert_rc(bbo_session_request(f->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 200);
    assert_non_null(strstr(bbo_response_body(resp, NULL), "\"bbo-tester\""));
    bbo_response_free(resp);
    after = current_access(f->session);
    assert_true(strcmp(before, after) != 0);
    free(before);
    free(after);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("api_requests"), 3);
}

typedef struct listing {
    int pages;
    int repositories;
} listing;

static int count_page(const bbo_response *page, void *payload)
{
    listing *l = payload;
    const char *p = bbo_response_body(page, NULL);

    l->pages++;
    while ((p = strstr(p, "\"full_name\"")) != NULL) {
        l->repositories++;
        p++;
    }
    return 0;
}

static void test_pagination(void **state)
{
    fixture *f = *state;
    listing l = {0, 0};

    start(f);
    assert_rc(bbo_session_foreach_page(f->session, "/repositories/bbo-tester?pagelen=10", 10,
                                       count_page, &l),
              BBO_OK);
    assert_int_equal(l.pages, 3);
    assert_int_equal(l.repositories, 25);
    assert_int_equal(mock_stat_long("api_requests"), 3);

    /* the same from an absolute URL on the API's origin, two pages at most */
    {
        char url[256];

        memset(&l, 0, sizeof(l));
        snprintf(url, sizeof(url), "%s/2.0/repositories/bbo-tester?pagelen=10", mock_base());
        assert_rc(bbo_session_foreach_page(f->session, url, 2, count_page, &l), BBO_OK);
        assert_int_equal(l.pages, 2);
        assert_int_equal(l.repositories, 20);
    }
}

static void test_missing_scope(void **state)
{
    fixture *f = *state;
    bbo_scopes *scopes = NULL;
    bbo_response *resp = NULL;
    char *name = NULL;

    mock_config("{\"consumer\": {\"scopes\": \"repository\"}}");
    assert_rc(bbo_scopes_parse(&scopes, "repository"), BBO_OK);
    assert_rc(bbo_consumer_set_scopes(f->consumer, scopes), BBO_OK);
    bbo_scopes_free(scopes);
    bbo_client_free(f->client);
    f->client = mock_client(f->consumer);
    start(f);

    assert_rc(bbo_session_user(f->session, &name), BBO_ESCOPE);
    assert_null(name);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 403);
    if (!strstr(bbo_error_message(bbo_error_last()), "account"))
        fail_msg("the message does not name the scope: %s", bbo_error_message(bbo_error_last()));

    /* what the token has still works */
    assert_rc(bbo_session_request(f->session, "GET", "/repositories/bbo-tester", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 200);
    bbo_response_free(resp);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 0);
}

/* The token never goes to another origin, not even the mock's other ports. */
static void test_foreign_origin(void **state)
{
    fixture *f = *state;
    bbo_response *resp = NULL;
    char url[256];

    start(f);
    snprintf(url, sizeof(url), "%s/2.0/user", mock_wrong_base());
    assert_rc(bbo_session_request(f->session, "GET", url, NULL, 0, &resp), BBO_EINVAL);
    snprintf(url, sizeof(url), "%s/2.0/user", mock_plain_base());
    assert_rc(bbo_session_request(f->session, "GET", url, NULL, 0, &resp), BBO_EINVAL);
    assert_null(resp);
    assert_int_equal(mock_stat_long("api_requests"), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_login_user),
        T(test_threads_one_refresh),
        T(test_threads_two_sessions_file_store),
        T(test_expired_on_server),
        T(test_pagination),
        T(test_missing_scope),
        T(test_foreign_origin),
    };

    /* fail early and clearly when not run under with_mock.py */
    if (!getenv("BBMOCK_CONTROL")) {
        fprintf(stderr, "run under tests/mock/with_mock.py: BBMOCK_* is not set\n");
        return 1;
    }
    return cmocka_run_group_tests_name("session-curl", tests, NULL, NULL);
}
