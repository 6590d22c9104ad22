/*
 * Several processes sharing one file store, through the real libcurl
 * transport against the loopback mock (tests/mock/bbmock.py): when a token
 * is due and all of them ask for it at the same moment, exactly one refresh
 * reaches the server (refresh tokens rotate: a second one would replay a
 * spent refresh token and get the grant revoked), and every process ends
 * up with the same new access token, which is also the stored one, or
 * keeps the due but valid old one while another refreshes (try_lock).
 * Run it with tests/mock/with_mock.py (meson does).
 *
 * Tokens never leave a process in clear: children report a SHA-256 of
 * theirs, and nothing prints a token.
 * SPDX-License-Identifier: MIT
 */
#include "mockctl.h"

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/crypto.h"

#define MAX_CHILDREN 8
#define DUE_TTL 30 /* below the default 60 s refresh margin ... */
#define DUE_AGE 3600 /* ... and obtained an hour ago: due at once (a token's
                      * margin is at most half its lifetime) */
#define RESULT_WAIT_MS 120000

static const unsigned char KEY[32] = {
    0xb0, 0x0a, 0x07, 0x4e, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
    0xdd, 0xee, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76,
};

typedef struct fixture {
    char dir[64];
    char path[128]; /* dir/token.json */
    bbo_consumer *consumer;
    bbo_client *client;
} fixture;

/* What a child sends back: fixed size, well below PIPE_BUF (one write). */
typedef struct result {
    int index;
    int step; /* where it stopped: 0 done, else the failing step */
    int rc;
    char hash[2 * BBO_SHA256_LEN + 1];
    char message[256];
} result;

/* ---- helpers ------------------------------------------------------------ */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->dir, "/tmp/bbo-test-store-procs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/token.json", f->dir);
    mock_reset();
    f->consumer = mock_consumer();
    f->client = mock_client(f->consumer);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    bbo_client_free(f->client);
    bbo_consumer_free(f->consumer);
    bbo_test_remove_tree(f->dir);
    free(f);
    return 0;
}

/* Lowercase hex SHA-256 of a token's text; "" if hashing fails. */
static void hash_hex(const char *text, char out[2 * BBO_SHA256_LEN + 1])
{
    unsigned char digest[BBO_SHA256_LEN];
    size_t i;

    out[0] = '\0';
    if (bbo__sha256(text, strlen(text), digest) != BBO_OK)
        return;
    for (i = 0; i < BBO_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* The authorization-code flow through the mock's "browser", with access
 * tokens that live `ttl` seconds; the mock then goes back to 7200 s, so the
 * refreshed token is not due. */
static bbo_token *login(fixture *f, int ttl)
{
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL;
    char *location, *code = NULL, config[64];

    snprintf(config, sizeof(config), "{\"access_ttl\": %d}", ttl);
    mock_config(config);
    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_rc(bbo_authorization_complete(auth, location, &code), BBO_OK);
    free(location);
    assert_rc(bbo_client_exchange_code(f->client, auth, code, &token), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(auth);
    mock_config("{\"access_ttl\": 7200}");
    assert_int_equal(mock_stat_long("grants.authorization_code"), 1);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 0);
    return token;
}

static bbo_store *file_store(const fixture *f, const unsigned char *key)
{
    bbo_store *store = NULL;

    assert_rc(bbo_file_store_new(&store, f->path, key), BBO_OK);
    return store;
}

/* Log in with a due token and store it; returns its hash. */
static void store_due_token(fixture *f, const unsigned char *key, char hash[2 * BBO_SHA256_LEN + 1])
{
    bbo_token *token = mock_token_aged(login(f, DUE_TTL), DUE_AGE);
    bbo_store *store = file_store(f, key);

    assert_non_null(bbo_token_refresh(token));
    assert_int_equal(bbo_token_is_expired(token, (int64_t)time(NULL), 60), 1);
    assert_rc(bbo_store_save(store, token), BBO_OK);
    hash_hex(bbo_token_access(token), hash);
    assert_int_equal(strlen(hash), 2 * BBO_SHA256_LEN);
    bbo_store_free(store);
    bbo_token_free(token);
}

/* ---- the child ---------------------------------------------------------- */

typedef struct child_args {
    int index;
    const char *path;
    const unsigned char *key;
    const char *ca;
    bbo_consumer *consumer; /* the child's copy of the parent's: it frees it */
    int ready_fd, go_fd, result_fd;
} child_args;

static void child_fail(result *res, int step, int rc)
{
    res->step = step;
    res->rc = rc;
    snprintf(res->message, sizeof(res->message), "%s", bbo_error_message(bbo_error_last()));
}

/* Never returns, never uses cmocka (a failed assertion here would run the
 * rest of the suite in the child): every outcome goes through the pipe. */
static void child_main(const child_args *a)
{
    bbo_client *client = NULL;
    bbo_session *session = NULL;
    bbo_store *store = NULL;
    char *access = NULL, go;
    bool ready = false;
    result res;
    int rc;

    memset(&res, 0, sizeof(res));
    res.index = a->index;
    if ((rc = bbo_client_new(&client, a->consumer)) < 0 ||
        (rc = bbo_client_set_ca(client, a->ca, NULL)) < 0 ||
        (rc = bbo_client_set_proxy(client, "")) < 0) {
        child_fail(&res, 1, rc);
        goto done;
    }
    if ((rc = bbo_session_new(&session, client, NULL)) < 0) {
        child_fail(&res, 2, rc);
        goto done;
    }
    if ((rc = bbo_file_store_new(&store, a->path, a->key)) < 0) {
        child_fail(&res, 3, rc);
        goto done;
    }
    rc = bbo_session_set_store(session, store); /* taken; loads the due token */
    store = NULL;
    if (rc < 0) {
        child_fail(&res, 4, rc);
        goto done;
    }
    ready = true;
    if (write(a->ready_fd, "r", 1) != 1) {
        child_fail(&res, 5, 0);
        goto done;
    }
    /* wait for the start: the parent closes the pipe for everyone at once */
    if (read(a->go_fd, &go, 1) != 0) {
        child_fail(&res, 6, 0);
        goto done;
    }
    if ((rc = bbo_session_access_token(session, &access)) < 0) {
        child_fail(&res, 7, rc);
        goto done;
    }
    hash_hex(access, res.hash);
done:
    if (!ready && write(a->ready_fd, "f", 1) != 1) /* failed early: do not keep the parent */
        _exit(1);
    bbo_free(access);
    bbo_session_free(session);
    bbo_store_free(store);
    bbo_client_free(client);
    bbo_consumer_free(a->consumer); /* else valgrind counts it lost in the child */
    _exit(write(a->result_fd, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
}

/* ---- the race ----------------------------------------------------------- */

/*
 * Fork `n` children on the file store, release them together, collect
 * their results. Every child must succeed, with the old access token
 * (`old_hash`: due but valid, kept while another child refreshes) or one
 * new one, which at least one child got; it is copied to `new_hash`.
 */
static void race(fixture *f, int n, const unsigned char *key, const char *old_hash,
                 char new_hash[2 * BBO_SHA256_LEN + 1])
{
    int ready[2], go[2], results[2], status[MAX_CHILDREN], i, k;
    pid_t pids[MAX_CHILDREN];
    result res[MAX_CHILDREN];
    char ca[PATH_MAX], byte;
    struct pollfd pfd;
    child_args a;

    assert_true(n > 0 && n <= MAX_CHILDREN);
    snprintf(ca, sizeof(ca), "%s", mock_ca());
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(results), 0);
    /* children must not inherit the login's live TLS connection */
    bbo_client_free(f->client);
    f->client = NULL;
    fflush(stdout);
    fflush(stderr);
    for (i = 0; i < n; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(ready[0]);
            close(go[1]); /* else the start signal (EOF) never comes */
            close(results[0]);
            memset(&a, 0, sizeof(a));
            a.index = i;
            a.path = f->path;
            a.key = key;
            a.ca = ca;
            a.consumer = f->consumer;
            a.ready_fd = ready[1];
            a.go_fd = go[0];
            a.result_fd = results[1];
            child_main(&a);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(results[1]);

    /* everyone has loaded the due token and waits at the line */
    pfd.fd = ready[0];
    pfd.events = POLLIN;
    for (i = 0; i < n; i++) {
        if (poll(&pfd, 1, RESULT_WAIT_MS) != 1 || read(ready[0], &byte, 1) != 1)
            break;
    }
    close(go[1]); /* go */
    pfd.fd = results[0];
    memset(res, 0, sizeof(res));
    for (i = 0; i < n; i++) {
        if (poll(&pfd, 1, RESULT_WAIT_MS) != 1 ||
            read(results[0], &res[i], sizeof(res[i])) != (ssize_t)sizeof(res[i]))
            break;
    }
    for (k = 0; k < n; k++) {
        if (i < n)
            kill(pids[k], SIGKILL); /* stuck: do not wait for them */
        status[k] = -1;
        waitpid(pids[k], &status[k], 0);
    }
    close(ready[0]);
    close(results[0]);
    f->client = mock_client(f->consumer);
    if (i < n)
        fail_msg("only %d of %d children answered", i, n);
    for (k = 0; k < n; k++) {
        if (!WIFEXITED(status[k]) || WEXITSTATUS(status[k]) != 0)
            fail_msg("child %d ended with status 0x%x", k, (unsigned)status[k]);
    }

    /* the file store can try_lock: a child that finds the lock taken keeps
     * serving the due but still valid old token rather than wait */
    new_hash[0] = '\0';
    for (i = 0; i < n; i++) {
        if (res[i].step != 0)
            fail_msg("child %d failed at step %d: %d (%s)", res[i].index, res[i].step, res[i].rc,
                     res[i].message);
        assert_int_equal(strlen(res[i].hash), 2 * BBO_SHA256_LEN);
        if (strcmp(res[i].hash, old_hash) == 0)
            continue;
        if (!new_hash[0])
            strcpy(new_hash, res[i].hash);
        if (strcmp(res[i].hash, new_hash) != 0)
            fail_msg("child %d got a third access token", res[i].index);
    }
    if (!new_hash[0])
        fail_msg("every child got the old, due access token: nothing was refreshed");
}

/* The stored token is the one the children got (and is not due). */
static void assert_stored(fixture *f, const unsigned char *key, const char *hash)
{
    bbo_store *store = file_store(f, key);
    bbo_token *token = NULL;
    char stored[2 * BBO_SHA256_LEN + 1];
    struct stat st;

    assert_rc(bbo_store_load(store, &token), BBO_OK);
    assert_non_null(token);
    hash_hex(bbo_token_access(token), stored);
    if (strcmp(stored, hash) != 0)
        fail_msg("the stored access token is not the one the children got");
    assert_non_null(bbo_token_refresh(token));
    assert_int_equal(bbo_token_is_expired(token, (int64_t)time(NULL), 60), 0);
    bbo_token_free(token);
    bbo_store_free(store);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* A session of the parent's on the store uses the stored token as it is. */
static void assert_stored_token_works(fixture *f, const unsigned char *key, const char *hash)
{
    bbo_session *session = NULL;
    char *access = NULL, *user = NULL, got[2 * BBO_SHA256_LEN + 1];

    assert_rc(bbo_session_new(&session, f->client, NULL), BBO_OK);
    assert_rc(bbo_session_set_store(session, file_store(f, key)), BBO_OK);
    assert_rc(bbo_session_access_token(session, &access), BBO_OK);
    hash_hex(access, got);
    if (strcmp(got, hash) != 0)
        fail_msg("a new session did not use the stored token");
    assert_rc(bbo_session_user(session, &user), BBO_OK);
    assert_string_equal(user, "bbo-tester");
    bbo_free(user);
    bbo_free(access);
    bbo_session_free(session);
}

static void race_once(fixture *f, int n, const unsigned char *key)
{
    char old_hash[2 * BBO_SHA256_LEN + 1], new_hash[2 * BBO_SHA256_LEN + 1];

    store_due_token(f, key, old_hash);
    race(f, n, key, old_hash, new_hash);
    /* one refresh for all of them, and no spent refresh token replayed */
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
    assert_int_equal(mock_stat_long("token_requests"), 2); /* the login and the refresh */
    assert_stored(f, key, new_hash);
    assert_stored_token_works(f, key, new_hash);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
}

static void test_two_processes(void **state)
{
    race_once(*state, 2, NULL);
}

static void test_four_processes(void **state)
{
    race_once(*state, 4, NULL);
}

static void test_eight_processes(void **state)
{
    race_once(*state, 8, NULL);
}

static void test_four_processes_encrypted(void **state)
{
    race_once(*state, 4, KEY);
}

/* Twice in a row on one grant: each round refreshes once, from the token
 * the previous round stored (its rotated refresh token). */
static void test_two_rounds(void **state)
{
    fixture *f = *state;
    char old_hash[2 * BBO_SHA256_LEN + 1], first[2 * BBO_SHA256_LEN + 1],
        second[2 * BBO_SHA256_LEN + 1];

    store_due_token(f, NULL, old_hash);
    race(f, 4, NULL, old_hash, first);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    /* make the stored token due again: same secrets, an expiry within the
     * refresh margin */
    {
        bbo_store *store = file_store(f, NULL);
        bbo_token *stored = NULL, *due = NULL, *fresh = NULL;

        assert_rc(bbo_store_load(store, &stored), BBO_OK);
        assert_non_null(stored);
        assert_rc(bbo_token_new(&fresh, bbo_token_access(stored), bbo_token_refresh(stored),
                                NULL, (int64_t)time(NULL) + DUE_TTL, bbo_token_scopes(stored)),
                  BBO_OK);
        due = mock_token_aged(fresh, DUE_AGE);
        assert_rc(bbo_store_save(store, due), BBO_OK);
        bbo_token_free(due);
        bbo_token_free(stored);
        bbo_store_free(store);
    }
    race(f, 4, NULL, first, second);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 2);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
    assert_stored(f, NULL, second);
    assert_stored_token_works(f, NULL, second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_four_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eight_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_four_processes_encrypted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_rounds, setup, teardown),
    };

    return cmocka_run_group_tests_name("store-procs", tests, NULL, NULL);
}
