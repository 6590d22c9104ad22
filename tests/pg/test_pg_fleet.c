/*
 * A fleet of workers sharing grants through the PostgreSQL store, against
 * the mock Bitbucket (refresh tokens rotate; a replayed one revokes the
 * whole grant): processes with many threads, each process holding one
 * bbo_session per grant on a bbo_pg_store_new store.
 *
 *   fleet        3 processes x 8 threads x 50 grants, tokens due every 3 s:
 *                exactly one refresh per grant per expiry, no grant revoked,
 *                with a PostgreSQL restart (pg_ctl restart) in the middle
 *   kill -9      of a worker holding a grant's lock, before it sent its
 *                refresh, and of one that has just saved its refresh
 *   terminate    pg_terminate_backend of the lock holder's connection
 *
 * Faults are placed where no design can lose a token (docs/pg.md): before
 * the server processes the holder's refresh, or after the save. Run under
 * tests/pg/with_pg.py and tests/mock/with_mock.py (meson does). Nothing
 * prints a token.
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* pipe2 */
#include "mockctl.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bboauth/pg.h"

#include "pgtest.h"

#define MAX_PROCS 3
#define MAX_GRANTS 50
#define MAX_THREADS 8
#define CLIENTS_PER_PROC 4
#define MARGIN_S 3     /* refresh when 3 s or less are left */
#define WAVE_TTL 6     /* so a token is due 3 s after it was obtained */
#define LONG_TTL 3600
#define WAIT_MS 120000 /* a child that says nothing for this long is stuck */

static const unsigned char KEY[32] = {
    0xf1, 0xee, 0x70, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
    0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
};

typedef enum fault {
    FAULT_NONE,
    FAULT_KILL_LOCKED,    /* kill -9 the worker once it holds g-0's lock */
    FAULT_KILL_SAVED,     /* kill -9 the worker right after it saved g-0 */
    FAULT_TERMINATE_LOCKED /* pg_terminate_backend of g-0's lock holder */
} fault;

typedef struct fixture {
    char table[64];
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_pg *pg;
    PGconn *admin;
    int grants;
} fixture;

/* What a child sends back at the end: well below PIPE_BUF (one write). */
typedef struct result {
    int index;
    int step;       /* 0 done, else where it stopped */
    int rc;
    long calls;     /* bbo_session_access_token calls */
    long errors;    /* ... that failed */
    long io_errors; /* ... of them with BBO_EIO (the database away) */
    int users_ok;   /* grants whose token the API accepted at the end */
    char message[256];
} result;

/* ---- the parent's helpers ----------------------------------------------- */

static void admin_connect(fixture *f)
{
    if (f->admin)
        PQfinish(f->admin);
    f->admin = pg_test_connect();
}

static long long admin_long(fixture *f, const char *text)
{
    PGresult *res = PQexec(f->admin, text);
    long long v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("SQL failed: %s", PQresultErrorMessage(res));
    v = PQgetisnull(res, 0, 0) ? 0 : atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Sum of the grants' versions: one per save. */
static long long versions(fixture *f)
{
    char text[160];

    snprintf(text, sizeof(text), "SELECT sum(version) FROM %s", f->table);
    return admin_long(f, text);
}

static long long version_of(fixture *f, int grant)
{
    char text[160];

    snprintf(text, sizeof(text), "SELECT version FROM %s WHERE grant_id = 'g-%d'", f->table, grant);
    return admin_long(f, text);
}

/* Backends inside a transaction (a lock holder between lock and save). */
static long long open_transactions(fixture *f)
{
    return admin_long(f, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                         "(state LIKE 'idle in transaction%' OR "
                         "(state = 'active' AND query LIKE '%FOR UPDATE%'))");
}

static long long time_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* Wait until the mock has seen `count` refreshes and every lock holder
 * has committed (so no refresh is between the server and the store). */
static void wait_for_refreshes(fixture *f, long count)
{
    long seen = -1;
    int i;

    for (i = 0; i < WAIT_MS / 20; i++) {
        long now_seen = mock_stat_long("grants.refresh_token");

        if (getenv("BBO_TEST_VERBOSE") && now_seen != seen)
            fprintf(stderr, "%lld ms: %ld refreshes (waiting for %ld)\n",
                    (long long)(time_ms() % 100000), now_seen, count);
        seen = now_seen;
        if (seen >= count && open_transactions(f) == 0)
            return;
        sleep_ms(20);
    }
    fail_msg("waited in vain for %ld refreshes (the mock saw %ld)", count, seen);
}

static void set_ttl(int ttl)
{
    char config[64];

    snprintf(config, sizeof(config), "{\"access_ttl\": %d}", ttl);
    mock_config(config);
}

/* Log in grant g-`i` through the mock's "browser" with tokens that live
 * `ttl` seconds and store its token, as if obtained `age` seconds earlier
 * (0: as it is). */
static void login_aged(fixture *f, int i, int ttl, int64_t age)
{
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL;
    bbo_store *store = NULL;
    char *location, *code = NULL, grant[16];

    set_ttl(ttl);
    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_rc(bbo_authorization_complete(auth, location, &code), BBO_OK);
    free(location);
    assert_rc(bbo_client_exchange_code(f->client, auth, code, &token), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(auth);
    if (age)
        token = mock_token_aged(token, age);
    snprintf(grant, sizeof(grant), "g-%d", i);
    assert_rc(bbo_pg_store_new(&store, f->pg, grant), BBO_OK);
    assert_rc(bbo_store_save(store, token), BBO_OK);
    bbo_store_free(store);
    bbo_token_free(token);
}

static void login(fixture *f, int i, int ttl)
{
    login_aged(f, i, ttl, 0);
}

/* Store grant g-`i`'s token again, expiring at `expires_at`. */
static void set_expiry(fixture *f, int i, int64_t expires_at)
{
    bbo_store *store = NULL;
    bbo_token *stored = NULL, *aligned = NULL;
    char grant[16];

    snprintf(grant, sizeof(grant), "g-%d", i);
    assert_rc(bbo_pg_store_new(&store, f->pg, grant), BBO_OK);
    assert_rc(bbo_store_load(store, &stored), BBO_OK);
    assert_non_null(stored);
    assert_rc(bbo_token_new(&aligned, bbo_token_access(stored), bbo_token_refresh(stored), NULL,
                            expires_at, bbo_token_scopes(stored)),
              BBO_OK);
    assert_rc(bbo_store_save(store, aligned), BBO_OK);
    bbo_token_free(aligned);
    bbo_token_free(stored);
    bbo_store_free(store);
}

/* Store every grant's token again with one expiry for all, so that they
 * come due together (waves of refreshes with quiet gaps between). */
static void align_expiries(fixture *f, int64_t expires_at)
{
    int i;

    for (i = 0; i < f->grants; i++)
        set_expiry(f, i, expires_at);
}

static int table_counter;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->table, sizeof(f->table), "fleet_%d_%d", (int)getpid(), ++table_counter);
    mock_reset();
    f->consumer = mock_consumer();
    f->client = mock_client(f->consumer);
    assert_rc(bbo_pg_new(&f->pg, pg_test_conninfo(), KEY), BBO_OK);
    assert_rc(bbo_pg_set_table(f->pg, f->table), BBO_OK);
    admin_connect(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    bbo_pg_free(f->pg);
    bbo_client_free(f->client);
    bbo_consumer_free(f->consumer);
    PQfinish(f->admin);
    free(f);
    return 0;
}

/* ---- the child ---------------------------------------------------------- */

typedef struct child_args {
    int index;
    const char *table;
    const char *ca;
    bbo_consumer *consumer; /* the child's copy of the parent's: it frees it */
    int grants, threads;
    fault fault;      /* for child 0 */
    int report_fd;    /* fault: the backend pid goes there */
    int ready_fd;     /* a byte once every grant gave every thread a token */
    int go_fd;        /* FAULT_TERMINATE_LOCKED: wait for a byte */
    int stop_fd;      /* EOF: stop */
    int result_fd;
} child_args;

static const child_args *hook_args;
static atomic_int hook_fired;

/* The fault, on grant g-0's first lock (or save) in this process. */
static void child_hook(const char *stage, const char *grant_id, int backend_pid)
{
    bool at_lock = hook_args->fault != FAULT_KILL_SAVED;
    char go;

    if (strcmp(grant_id, "g-0") != 0 || strcmp(stage, at_lock ? "locked" : "saved") != 0 ||
        atomic_exchange(&hook_fired, 1))
        return;
    if (write(hook_args->report_fd, &backend_pid, sizeof(backend_pid)) != sizeof(backend_pid))
        _exit(3);
    if (hook_args->fault == FAULT_TERMINATE_LOCKED) {
        if (read(hook_args->go_fd, &go, 1) != 1)
            _exit(3);
        return;
    }
    for (;;)
        pause(); /* kill -9 comes */
}

typedef struct worker {
    pthread_t thread;
    int id;
    bbo_session **sessions;
    int grants;
    atomic_bool *stop;
    atomic_long *served; /* successful calls in this process, per grant */
    long calls, errors, io_errors;
    char message[256];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    unsigned k = 0;

    while (!atomic_load(w->stop)) {
        int i = (int)((k++ * 7u + (unsigned)w->id * 13u) % (unsigned)w->grants);
        char *access = NULL;
        int rc = bbo_session_access_token(w->sessions[i], &access);

        w->calls++;
        if (rc == BBO_OK)
            atomic_fetch_add(&w->served[i], 1);
        if (rc < 0) {
            w->io_errors += rc == BBO_EIO;
            if (w->errors++ == 0)
                snprintf(w->message, sizeof(w->message), "g-%d: %d %s", i, rc,
                         bbo_error_message(bbo_error_last()));
        }
        bbo_free(access);
        sleep_ms(5);
    }
    return NULL;
}

typedef struct stopper {
    int fd;
    atomic_bool *stop;
} stopper;

static void *watch_stop(void *arg)
{
    stopper *s = arg;
    char byte;

    while (read(s->fd, &byte, 1) > 0)
        ;
    atomic_store(s->stop, true);
    return NULL;
}

/* Never returns, never uses cmocka: every outcome goes through the pipe. */
static void child_main(const child_args *a)
{
    bbo_client *clients[CLIENTS_PER_PROC] = {0};
    bbo_session *sessions[MAX_GRANTS] = {0};
    worker workers[MAX_THREADS];
    atomic_bool stop = false;
    atomic_long served[MAX_GRANTS];
    pthread_t watcher;
    stopper st = {a->stop_fd, &stop};
    bbo_pg *pg = NULL;
    result res;
    int i, rc, started = 0;

    memset(&res, 0, sizeof(res));
    memset(workers, 0, sizeof(workers));
    for (i = 0; i < MAX_GRANTS; i++)
        atomic_init(&served[i], 0);
    res.index = a->index;
    if (a->fault != FAULT_NONE) {
        hook_args = a;
        bbo__pg_test_hook = child_hook;
    }
    if ((rc = bbo_pg_new(&pg, pg_test_conninfo(), KEY)) < 0 ||
        (rc = bbo_pg_set_table(pg, a->table)) < 0) {
        res.step = 1;
        goto failed;
    }
    for (i = 0; i < CLIENTS_PER_PROC; i++) {
        if ((rc = bbo_client_new(&clients[i], a->consumer)) < 0 ||
            (rc = bbo_client_set_ca(clients[i], a->ca, NULL)) < 0 ||
            (rc = bbo_client_set_proxy(clients[i], "")) < 0) {
            res.step = 2;
            goto failed;
        }
    }
    for (i = 0; i < a->grants; i++) {
        bbo_store *store = NULL;
        char grant[16];

        snprintf(grant, sizeof(grant), "g-%d", i);
        if ((rc = bbo_session_new(&sessions[i], clients[i % CLIENTS_PER_PROC], NULL)) < 0 ||
            (rc = bbo_session_set_refresh_margin(sessions[i], MARGIN_S)) < 0 ||
            (rc = bbo_pg_store_new(&store, pg, grant)) < 0 ||
            (rc = bbo_session_set_store(sessions[i], store)) < 0) {
            res.step = 3;
            goto failed;
        }
    }
    if (pthread_create(&watcher, NULL, watch_stop, &st) != 0) {
        res.step = 4;
        goto failed;
    }
    for (started = 0; started < a->threads; started++) {
        workers[started].id = a->index * MAX_THREADS + started;
        workers[started].sessions = sessions;
        workers[started].grants = a->grants;
        workers[started].stop = &stop;
        workers[started].served = served;
        if (pthread_create(&workers[started].thread, NULL, work, &workers[started]) != 0)
            break;
    }
    /* ready once every session has handed out a token */
    for (i = 0; i < a->grants && !atomic_load(&stop);) {
        if (atomic_load(&served[i]) > 0)
            i++;
        else
            sleep_ms(10);
    }
    if (i == a->grants && write(a->ready_fd, "r", 1) != 1)
        res.step = 7;
    for (i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        res.calls += workers[i].calls;
        if (workers[i].errors && res.errors == 0)
            memcpy(res.message, workers[i].message, sizeof(res.message));
        res.errors += workers[i].errors;
        res.io_errors += workers[i].io_errors;
    }
    pthread_join(watcher, NULL);
    if (started < a->threads) {
        res.step = 5;
        goto done;
    }
    /* every grant is alive: the API takes each session's token */
    for (i = 0; i < a->grants; i++) {
        char *user = NULL;

        if ((rc = bbo_session_user(sessions[i], &user)) == BBO_OK &&
            strcmp(user, "bbo-tester") == 0)
            res.users_ok++;
        else if (res.step == 0) {
            res.step = 6;
            res.rc = rc;
            snprintf(res.message, sizeof(res.message), "g-%d: %s", i,
                     bbo_error_message(bbo_error_last()));
        }
        bbo_free(user);
    }
    goto done;
failed:
    res.rc = rc;
    snprintf(res.message, sizeof(res.message), "%s", bbo_error_message(bbo_error_last()));
done:
    for (i = 0; i < MAX_GRANTS; i++)
        bbo_session_free(sessions[i]);
    for (i = 0; i < CLIENTS_PER_PROC; i++)
        bbo_client_free(clients[i]);
    bbo_pg_free(pg);
    bbo_consumer_free(a->consumer);
    _exit(write(a->result_fd, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
}

/* ---- the fleet ---------------------------------------------------------- */

typedef struct fleet {
    int procs, threads;
    pid_t pids[MAX_PROCS];
    int report[2], go[2], stop[2], results[2], ready[2];
    char ca[512];
} fleet;

static void fleet_init(fixture *f, fleet *fl, int procs, int threads)
{
    /* close-on-exec: a server started by `pg_ctl restart` (system()) must
     * not keep the stop pipe open */
    memset(fl, 0, sizeof(*fl));
    fl->procs = procs;
    fl->threads = threads;
    snprintf(fl->ca, sizeof(fl->ca), "%s", mock_ca());
    assert_int_equal(pipe2(fl->report, O_CLOEXEC), 0);
    assert_int_equal(pipe2(fl->go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(fl->stop, O_CLOEXEC), 0);
    assert_int_equal(pipe2(fl->results, O_CLOEXEC), 0);
    assert_int_equal(pipe2(fl->ready, O_CLOEXEC), 0);
    /* children must not inherit live connections */
    bbo_client_free(f->client);
    f->client = NULL;
    bbo_pg_free(f->pg);
    f->pg = NULL;
    PQfinish(f->admin);
    f->admin = NULL;
}

static void fleet_start(fixture *f, fleet *fl, int index, fault fa)
{
    child_args a;

    fflush(stdout);
    fflush(stderr);
    fl->pids[index] = fork();
    assert_true(fl->pids[index] >= 0);
    if (fl->pids[index] > 0)
        return;
    close(fl->report[0]);
    close(fl->go[1]);
    close(fl->stop[1]);
    close(fl->results[0]);
    close(fl->ready[0]);
    memset(&a, 0, sizeof(a));
    a.index = index;
    a.table = f->table;
    a.ca = fl->ca;
    a.consumer = f->consumer;
    a.grants = f->grants;
    a.threads = fl->threads;
    a.fault = fa;
    a.report_fd = fl->report[1];
    a.ready_fd = fl->ready[1];
    a.go_fd = fl->go[0];
    a.stop_fd = fl->stop[0];
    a.result_fd = fl->results[1];
    child_main(&a);
}

/* Wait until `n` children have served every grant to every thread. */
static void fleet_wait_ready(fleet *fl, int n)
{
    struct pollfd pfd = {fl->ready[0], POLLIN, 0};
    char byte;
    int i;

    for (i = 0; i < n; i++) {
        if (poll(&pfd, 1, WAIT_MS) != 1 || read(fl->ready[0], &byte, 1) != 1)
            fail_msg("only %d of %d workers got going", i, n);
    }
}

/* The backend pid a faulted child reports from its hook. */
static int fleet_report(fleet *fl)
{
    struct pollfd pfd = {fl->report[0], POLLIN, 0};
    int pid = 0;

    if (poll(&pfd, 1, WAIT_MS) != 1 || read(fl->report[0], &pid, sizeof(pid)) != sizeof(pid))
        fail_msg("the faulted worker never reached its fault");
    return pid;
}

/* Stop the children, collect their results; `killed` (or -1) was killed. */
static void fleet_finish(fixture *f, fleet *fl, int killed, result *res, long *errors_out,
                         long *io_errors_out)
{
    struct pollfd pfd = {fl->results[0], POLLIN, 0};
    int i, k, got = 0, status;
    long errors = 0, io_errors = 0;

    close(fl->stop[1]);
    close(fl->go[1]);
    close(fl->report[1]);
    close(fl->go[0]);
    close(fl->stop[0]);
    close(fl->results[1]);
    for (i = 0; i < fl->procs - (killed >= 0); i++) {
        if (poll(&pfd, 1, WAIT_MS) != 1 ||
            read(fl->results[0], &res[got], sizeof(res[got])) != (ssize_t)sizeof(res[got]))
            break;
        got++;
    }
    for (k = 0; k < fl->procs; k++) {
        if (got < fl->procs - (killed >= 0))
            kill(fl->pids[k], SIGKILL);
        status = -1;
        waitpid(fl->pids[k], &status, 0);
        if (k == killed) {
            if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("worker %d was not killed (status 0x%x)", k, (unsigned)status);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fail_msg("worker %d ended with status 0x%x", k, (unsigned)status);
        }
    }
    close(fl->report[0]);
    close(fl->results[0]);
    close(fl->ready[0]);
    close(fl->ready[1]);
    if (got < fl->procs - (killed >= 0))
        fail_msg("only %d workers answered", got);
    for (i = 0; i < got; i++) {
        if (res[i].step != 0)
            fail_msg("worker %d failed at step %d: %d (%s)", res[i].index, res[i].step, res[i].rc,
                     res[i].message);
        if (res[i].users_ok != f->grants)
            fail_msg("worker %d: only %d of %d grants alive", res[i].index, res[i].users_ok,
                     f->grants);
        assert_true(res[i].calls > 0);
        errors += res[i].errors;
        io_errors += res[i].io_errors;
    }
    *errors_out = errors;
    *io_errors_out = io_errors;
    f->client = mock_client(f->consumer);
    assert_rc(bbo_pg_new(&f->pg, pg_test_conninfo(), KEY), BBO_OK);
    assert_rc(bbo_pg_set_table(f->pg, f->table), BBO_OK);
    admin_connect(f);
}

static void print_errors(const result *res, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (res[i].errors)
            printf("# worker %d: %ld of %ld calls failed, first: %s\n", res[i].index, res[i].errors,
                   res[i].calls, res[i].message);
    }
}

/*
 * 3 x 8 x 50. Five waves of refreshes: logins aligned to come due together,
 * then tokens of 6 s (due 3 s after each refresh). Wave 3 gives tokens of
 * 12 s, and while they are good PostgreSQL restarts; wave 5 gives long
 * tokens, and the workers stop. Each grant is refreshed exactly once per
 * wave: five refreshes, five saves.
 */
static void test_fleet_with_restart(void **state)
{
    fixture *f = *state;
    result res[MAX_PROCS];
    long long start_versions;
    long errors, io_errors;
    fleet fl;
    int i;

    f->grants = MAX_GRANTS;
    for (i = 0; i < f->grants; i++)
        login(f, i, LONG_TTL);
    align_expiries(f, (int64_t)time(NULL) + MARGIN_S + 3);
    start_versions = versions(f);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 0);
    set_ttl(WAVE_TTL);
    fleet_init(f, &fl, MAX_PROCS, MAX_THREADS);
    for (i = 0; i < MAX_PROCS; i++)
        fleet_start(f, &fl, i, FAULT_NONE);
    admin_connect(f);
    wait_for_refreshes(f, 1L * MAX_GRANTS);
    wait_for_refreshes(f, 2L * MAX_GRANTS);
    set_ttl(2 * WAVE_TTL);
    wait_for_refreshes(f, 3L * MAX_GRANTS);
    /* every token is good for 9 s more: restart the server under them,
     * once the other workers have adopted the new tokens (each thread
     * asks for every grant every few tens of milliseconds) */
    sleep_ms(500);
    PQfinish(f->admin);
    f->admin = NULL;
    pg_test_ctl("restart -m fast");
    admin_connect(f);
    set_ttl(WAVE_TTL);
    wait_for_refreshes(f, 4L * MAX_GRANTS);
    set_ttl(LONG_TTL);
    wait_for_refreshes(f, 5L * MAX_GRANTS);
    fleet_wait_ready(&fl, MAX_PROCS);
    fleet_finish(f, &fl, -1, res, &errors, &io_errors);
    print_errors(res, MAX_PROCS);

    assert_int_equal(mock_stat_long("grants.refresh_token"), 5 * MAX_GRANTS);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
    /* every refresh was saved once, five per grant */
    assert_int_equal(versions(f) - start_versions, 5 * MAX_GRANTS);
    for (i = 0; i < f->grants; i++)
        assert_int_equal(version_of(f, i), 2 + 5); /* login, alignment, five refreshes */
    /* a session that needed the database while it restarted got BBO_EIO
     * if its token had expired (one due but still valid is served through
     * the outage); nothing else failed */
    if (io_errors)
        printf("# %ld calls failed with BBO_EIO during the restart\n", io_errors);
    assert_int_equal(errors - io_errors, 0);
}

/*
 * Grant g-0 due, g-1..g-3 good for an hour. Worker 0 starts alone and
 * meets the fault on g-0; then workers 1 and 2 start. g-0 is refreshed
 * exactly once in all, nothing is revoked, every grant is alive.
 */
static void run_fault(void **state, fault fa)
{
    fixture *f = *state;
    result res[MAX_PROCS];
    long errors, io_errors;
    fleet fl;
    int i, pid, killed = fa == FAULT_TERMINATE_LOCKED ? -1 : 0;
    long long before;

    f->grants = 4;
    /* due at once: MARGIN_S - 1 s left of a token obtained an hour ago (a
     * token just obtained is due at half its life at the earliest) */
    login_aged(f, 0, MARGIN_S - 1, 3600);
    for (i = 1; i < f->grants; i++)
        login(f, i, LONG_TTL);
    /* the holder's load will fail: an error only when the token has
     * expired (a token due but still valid is served through a store
     * outage), so g-0 starts expired */
    if (fa == FAULT_TERMINATE_LOCKED)
        set_expiry(f, 0, (int64_t)time(NULL) - 1);
    before = version_of(f, 0);
    fleet_init(f, &fl, MAX_PROCS, 2);
    fleet_start(f, &fl, 0, fa);
    pid = fleet_report(&fl);
    assert_true(pid > 0);
    admin_connect(f);
    if (fa == FAULT_TERMINATE_LOCKED) {
        char text[96];

        snprintf(text, sizeof(text), "SELECT pg_terminate_backend(%d, 10000)::int", pid);
        assert_int_equal(admin_long(f, text), 1);
    } else {
        /* killed holding the lock (before any request), or just after its save */
        assert_int_equal(kill(fl.pids[0], SIGKILL), 0);
    }
    for (i = 1; i < MAX_PROCS; i++)
        fleet_start(f, &fl, i, FAULT_NONE);
    if (fa == FAULT_TERMINATE_LOCKED)
        assert_int_equal(write(fl.go[1], "g", 1), 1);
    wait_for_refreshes(f, 1);
    fleet_wait_ready(&fl, MAX_PROCS - (killed >= 0)); /* everyone has a good token */
    fleet_finish(f, &fl, killed, res, &errors, &io_errors);
    print_errors(res, MAX_PROCS - (killed >= 0));

    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
    assert_int_equal(version_of(f, 0), before + 1);
    if (fa == FAULT_TERMINATE_LOCKED) /* the holder's load failed, once */
        assert_true(res[0].errors + res[1].errors + res[2].errors >= 1);
    else
        assert_int_equal(errors, 0);
}

static void test_kill_holding_lock(void **state)
{
    run_fault(state, FAULT_KILL_LOCKED);
}

static void test_kill_after_save(void **state)
{
    run_fault(state, FAULT_KILL_SAVED);
}

static void test_terminate_lock_holder(void **state)
{
    run_fault(state, FAULT_TERMINATE_LOCKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_holding_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_after_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminate_lock_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_with_restart, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    if (getenv("BBO_TEST_FILTER")) /* one test by hand: BBO_TEST_FILTER=test_fleet* */
        cmocka_set_test_filter(getenv("BBO_TEST_FILTER"));
    return cmocka_run_group_tests_name("pg-fleet", tests, NULL, NULL);
}
