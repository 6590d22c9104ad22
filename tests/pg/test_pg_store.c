/*
 * The PostgreSQL store against a real server (tests/pg/with_pg.py starts a
 * throwaway cluster and gives its connection string in BBO_PG_CONNINFO):
 * round trip, sealing (nothing readable in the table or in pg_dump), the
 * grant id bound to its row, older saves refused, bounded lock waits,
 * try_lock, a terminated lock holder, a server restart, a table of the
 * older layout, and no password in any message.
 *
 * No test prints a token: tokens are compared with strcmp/memmem only.
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bboauth/pg.h"
#include "internal/store.h"

#include "pgtest.h"

static const unsigned char KEY[32] = {
    0x5e, 0xa1, 0xed, 0x70, 0x6b, 0x65, 0x6e, 0x73, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
};
static const unsigned char OTHER_KEY[32] = {
    0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00,
    0x1f, 0x1e, 0x1d, 0x1c, 0x1b, 0x1a, 0x19, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, 0x10,
};

#define ACCESS_A "access-token-AAAA-0123456789-not-in-any-dump"
#define REFRESH_A "refresh-token-AAAA-9876543210-not-in-any-dump"
#define ACCESS_B "access-token-BBBB-0123456789-not-in-any-dump"
#define REFRESH_B "refresh-token-BBBB-9876543210-not-in-any-dump"

static int table_counter;

typedef struct fixture {
    char table[64];
    PGconn *admin;
    bbo_pg *pg;
} fixture;

/* ---- SQL helpers (the test's own connection) ---------------------------- */

static PGresult *sql(fixture *f, const char *text)
{
    PGresult *res = PQexec(f->admin, text);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s", PQresultErrorMessage(res));
    return res;
}

/* `text` with every "@T" replaced by the fixture's table. */
static void with_table(fixture *f, const char *text, char *out, size_t cap)
{
    size_t o = 0;

    for (; *text && o + 70 < cap; text++) {
        if (text[0] == '@' && text[1] == 'T') {
            o += (size_t)snprintf(out + o, cap - o, "%s", f->table);
            text++;
        } else {
            out[o++] = *text;
        }
    }
    out[o] = '\0';
}

static void sqlt(fixture *f, const char *text)
{
    char full[1024];

    with_table(f, text, full, sizeof(full));
    PQclear(sql(f, full));
}

/* The first column of the first row as a number (-1 when NULL). */
static long long sql_long(fixture *f, const char *text)
{
    char full[1024];
    PGresult *res;
    long long v;

    with_table(f, text, full, sizeof(full));
    res = sql(f, full);
    assert_int_equal(PQntuples(res), 1);
    v = PQgetisnull(res, 0, 0) ? -1 : atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static long long row_version(fixture *f, const char *grant)
{
    char text[256];

    snprintf(text, sizeof(text), "SELECT version FROM @T WHERE grant_id = '%s'", grant);
    return sql_long(f, text);
}

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->table, sizeof(f->table), "grants_%d_%d", (int)getpid(), ++table_counter);
    f->admin = pg_test_connect();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    bbo__pg_test_hook = NULL;
    bbo_pg_free(f->pg);
    PQfinish(f->admin);
    free(f);
    return 0;
}

static bbo_pg *new_pg(fixture *f, const unsigned char *key, int64_t lock_wait_ms)
{
    bbo_pg *pg = NULL;

    assert_rc(bbo_pg_new(&pg, pg_test_conninfo(), key), BBO_OK);
    assert_rc(bbo_pg_set_table(pg, f->table), BBO_OK);
    if (lock_wait_ms)
        assert_rc(bbo_pg_set_lock_wait(pg, lock_wait_ms), BBO_OK);
    return pg;
}

static bbo_store *new_store(bbo_pg *pg, const char *grant)
{
    bbo_store *store = NULL;

    assert_rc(bbo_pg_store_new(&store, pg, grant), BBO_OK);
    return store;
}

/* A token obtained at `obtained_at`, valid an hour after it. */
static bbo_token *make_token(const char *access, const char *refresh, int64_t obtained_at)
{
    char json[512];
    bbo_token *token = NULL;

    snprintf(json, sizeof(json),
             "{\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"token_type\":\"bearer\","
             "\"expires_in\":3600,\"scope\":\"account pullrequest:write\"}",
             access, refresh);
    assert_rc(bbo_token_parse(&token, json, strlen(json), obtained_at), BBO_OK);
    return token;
}

static void assert_loads(bbo_store *store, const char *access, const char *refresh)
{
    bbo_token *token = NULL;

    assert_rc(bbo_store_load(store, &token), BBO_OK);
    if (!access) {
        assert_null(token);
        return;
    }
    assert_non_null(token);
    assert_true(strcmp(bbo_token_access(token), access) == 0);
    assert_true(strcmp(bbo_token_refresh(token), refresh) == 0);
    bbo_token_free(token);
}

static void save(bbo_store *store, const char *access, const char *refresh, int64_t obtained_at,
                 int expected)
{
    bbo_token *token = make_token(access, refresh, obtained_at);

    assert_rc(bbo_store_save(store, token), expected);
    bbo_token_free(token);
}

/* ---- round trip --------------------------------------------------------- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    bbo_token *token = NULL;
    bbo_store *store;

    f->pg = new_pg(f, KEY, 0);
    store = new_store(f->pg, "grant-1");
    assert_loads(store, NULL, NULL); /* creates the table; no row yet */
    save(store, ACCESS_A, REFRESH_A, now, BBO_OK);
    assert_int_equal(row_version(f, "grant-1"), 1);
    assert_rc(bbo_store_load(store, &token), BBO_OK);
    assert_non_null(token);
    assert_true(strcmp(bbo_token_access(token), ACCESS_A) == 0);
    assert_true(strcmp(bbo_token_refresh(token), REFRESH_A) == 0);
    assert_int_equal(bbo_token_expires_at(token), now + 3600);
    assert_int_equal(bbo_token_obtained_at(token), now);
    assert_true(bbo_scopes_has(bbo_token_scopes(token), "pullrequest:write"));
    bbo_token_free(token);
    /* every save bumps the version */
    save(store, ACCESS_B, REFRESH_B, now + 1, BBO_OK);
    assert_int_equal(row_version(f, "grant-1"), 2);
    assert_loads(store, ACCESS_B, REFRESH_B);
    /* the table says what it is; obtained_at is the token's */
    assert_int_equal(sql_long(f, "SELECT extract(epoch FROM obtained_at)::bigint FROM @T"),
                     now + 1);
    /* clear empties the row and bumps the version */
    assert_rc(bbo_store_clear(store), BBO_OK);
    assert_loads(store, NULL, NULL);
    assert_int_equal(row_version(f, "grant-1"), 3);
    /* a new login after the logout is saved */
    save(store, ACCESS_A, REFRESH_A, now + 2, BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    bbo_store_free(store);
}

/* ---- sealing ------------------------------------------------------------ */

static bool contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* pg_dump of the table into memory. */
static char *dump_table(fixture *f, size_t *len)
{
    char path[] = "/tmp/bbo-pg-dump-XXXXXX", cmd[1024], *text;
    int fd = mkstemp(path), status;

    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "\"%s/pg_dump\" -d \"%s\" -t '%s' -f '%s'",
             getenv("BBO_PG_BINDIR"), pg_test_conninfo(), f->table, path);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = bbo_test_read_file(path, len);
    unlink(path);
    assert_non_null(text);
    return text;
}

static void check_table_bytes(fixture *f, bool readable)
{
    char text[256];
    PGresult *res;
    size_t len;
    char *dump;

    snprintf(text, sizeof(text), "SELECT encode(token, 'escape') FROM %s", f->table);
    res = sql(f, text);
    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(contains(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), ACCESS_A),
                     readable);
    assert_int_equal(contains(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), REFRESH_A),
                     readable);
    PQclear(res);
    /* pg_dump writes bytea in hex: look for the hex of the secrets too */
    dump = dump_table(f, &len);
    assert_true(contains(dump, len, "grant-s")); /* the dump has the row */
    assert_int_equal(contains(dump, len, "72656672657368"), readable); /* "refresh" in hex */
    assert_false(contains(dump, len, ACCESS_A));
    free(dump);
}

static void test_sealed_in_table_and_dump(void **state)
{
    fixture *f = *state;
    bbo_store *store;

    f->pg = new_pg(f, KEY, 0);
    store = new_store(f->pg, "grant-s");
    save(store, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    check_table_bytes(f, false);
    bbo_store_free(store);
}

/* Without a key the JSON is stored as it is (the check above can fail). */
static void test_unsealed_without_key(void **state)
{
    fixture *f = *state;
    bbo_store *store;

    f->pg = new_pg(f, NULL, 0);
    store = new_store(f->pg, "grant-s");
    save(store, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    check_table_bytes(f, true);
    assert_loads(store, ACCESS_A, REFRESH_A);
    bbo_store_free(store);
}

static void test_wrong_key(void **state)
{
    fixture *f = *state;
    bbo_pg *other = new_pg(f, OTHER_KEY, 0), *none = new_pg(f, NULL, 0);
    bbo_store *store, *wrong, *plain;
    bbo_token *token = NULL;

    f->pg = new_pg(f, KEY, 0);
    store = new_store(f->pg, "grant-k");
    wrong = new_store(other, "grant-k");
    plain = new_store(none, "grant-k");
    save(store, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    assert_rc(bbo_store_load(wrong, &token), BBO_ECRYPTO);
    assert_null(token);
    assert_rc(bbo_store_load(plain, &token), BBO_ECRYPTO); /* sealed, read without a key */
    assert_null(token);
    /* a plain row read with a key is refused too */
    save(plain, ACCESS_B, REFRESH_B, (int64_t)time(NULL) + 5, BBO_OK);
    assert_rc(bbo_store_load(store, &token), BBO_ECRYPTO);
    assert_null(token);
    /* tampered bytes */
    save(store, ACCESS_A, REFRESH_A, (int64_t)time(NULL) + 10, BBO_OK);
    /* flip a bit (writing a fixed byte changes nothing 1 time in 256) */
    sqlt(f, "UPDATE @T SET token = set_byte(token, 19, get_byte(token, 19) # 1)");
    assert_rc(bbo_store_load(store, &token), BBO_ECRYPTO);
    assert_null(token);
    bbo_store_free(plain);
    bbo_store_free(wrong);
    bbo_store_free(store);
    bbo_pg_free(none);
    bbo_pg_free(other);
}

/* The grant id is associated data: a row copied to another grant id does
 * not open there, though it opens under its own. */
static void test_grant_id_bound(void **state)
{
    fixture *f = *state;
    bbo_store *one, *two;
    bbo_token *token = NULL;

    f->pg = new_pg(f, KEY, 0);
    one = new_store(f->pg, "grant-one");
    two = new_store(f->pg, "grant-two");
    save(one, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    save(two, ACCESS_B, REFRESH_B, (int64_t)time(NULL), BBO_OK);
    sqlt(f, "UPDATE @T SET token = (SELECT token FROM @T WHERE grant_id = 'grant-one') "
            "WHERE grant_id = 'grant-two'");
    assert_rc(bbo_store_load(two, &token), BBO_ECRYPTO);
    assert_null(token);
    assert_loads(one, ACCESS_A, REFRESH_A);
    bbo_store_free(two);
    bbo_store_free(one);
}

/* ---- conflicts ---------------------------------------------------------- */

static void test_older_save_refused(void **state)
{
    fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    bbo_store *store, *other;

    f->pg = new_pg(f, KEY, 0);
    store = new_store(f->pg, "grant-c");
    other = new_store(f->pg, "grant-c");
    save(store, ACCESS_B, REFRESH_B, now, BBO_OK);
    /* another worker's older token does not replace it */
    save(other, ACCESS_A, REFRESH_A, now - 100, BBO_ECONFLICT);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ECONFLICT);
    assert_loads(store, ACCESS_B, REFRESH_B);
    assert_int_equal(row_version(f, "grant-c"), 1);
    /* nor under the lock without having read the row */
    assert_rc(bbo__store_lock(other), BBO_OK);
    save(other, ACCESS_A, REFRESH_A, now - 100, BBO_ECONFLICT);
    assert_loads(other, ACCESS_B, REFRESH_B); /* still locked: read and adopt */
    assert_rc(bbo__store_unlock(other), BBO_OK);
    /* under the lock, after reading the row, the saver's token replaces
     * it whatever its obtained_at (another host's clock may lag) */
    assert_rc(bbo__store_lock(other), BBO_OK);
    assert_loads(other, ACCESS_B, REFRESH_B);
    save(other, ACCESS_A, REFRESH_A, now - 50, BBO_OK);
    assert_rc(bbo__store_unlock(other), BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    assert_int_equal(row_version(f, "grant-c"), 2);
    /* the same second is not older */
    save(store, ACCESS_B, REFRESH_B, now - 50, BBO_OK);
    assert_int_equal(row_version(f, "grant-c"), 3);
    bbo_store_free(other);
    bbo_store_free(store);
}

/* ---- locks -------------------------------------------------------------- */

static void test_lock_wait_bounded_and_try_lock(void **state)
{
    fixture *f = *state;
    bbo_pg *second = new_pg(f, KEY, 300);
    bbo_store *holder, *waiter, *elsewhere;

    f->pg = new_pg(f, KEY, 300);
    holder = new_store(f->pg, "grant-l");
    waiter = new_store(second, "grant-l");
    elsewhere = new_store(second, "grant-other");
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_rc(bbo__store_try_lock(waiter), BBO_EBUSY);
    assert_rc(bbo__store_lock(waiter), BBO_EBUSY);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EBUSY);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "lock wait"));
    /* another grant is not held up */
    assert_rc(bbo__store_try_lock(elsewhere), BBO_OK);
    assert_rc(bbo__store_unlock(elsewhere), BBO_OK);
    /* loads outside the lock are not held up; a save waits for the row,
     * boundedly */
    assert_loads(waiter, NULL, NULL);
    save(waiter, ACCESS_B, REFRESH_B, (int64_t)time(NULL) + 100, BBO_EBUSY);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "nothing was saved"));
    /* a save under the lock commits and ends the row lock */
    save(holder, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    assert_rc(bbo__store_try_lock(waiter), BBO_OK);
    assert_loads(waiter, ACCESS_A, REFRESH_A);
    assert_rc(bbo__store_unlock(waiter), BBO_OK);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    /* unlock without a save releases too */
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_rc(bbo__store_try_lock(waiter), BBO_EBUSY);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_rc(bbo__store_lock(waiter), BBO_OK);
    assert_rc(bbo__store_unlock(waiter), BBO_OK);
    /* locking again without unlocking starts over: the first transaction
     * does not linger on a pooled connection */
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_rc(bbo__store_try_lock(waiter), BBO_OK);
    assert_rc(bbo__store_unlock(waiter), BBO_OK);
    /* freeing a store that holds the lock releases it */
    assert_rc(bbo__store_lock(waiter), BBO_OK);
    bbo_store_free(waiter);
    assert_rc(bbo__store_try_lock(holder), BBO_OK);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    bbo_store_free(elsewhere);
    bbo_store_free(holder);
    bbo_pg_free(second);
}

/* A pool of one: a second store waits for the connection, boundedly. */
static void test_pool_wait_bounded(void **state)
{
    fixture *f = *state;
    bbo_store *holder, *other;
    bbo_token *token = NULL;

    f->pg = new_pg(f, NULL, 200);
    assert_rc(bbo_pg_set_pool_size(f->pg, 1), BBO_OK);
    holder = new_store(f->pg, "grant-p1");
    other = new_store(f->pg, "grant-p2");
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_rc(bbo_store_load(other, &token), BBO_EBUSY);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "pool"));
    assert_rc(bbo__store_lock(other), BBO_EBUSY);
    assert_rc(bbo__store_try_lock(other), BBO_EBUSY); /* without waiting */
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "pool"));
    /* the holder's own operations use its connection */
    assert_loads(holder, NULL, NULL);
    save(holder, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    assert_rc(bbo_store_clear(holder), BBO_OK);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_loads(other, NULL, NULL);
    bbo_store_free(other);
    bbo_store_free(holder);
}

/* ---- a terminated lock holder, a restart -------------------------------- */

static int hooked_pid;

static void remember_pid(const char *stage, const char *grant_id, int backend_pid)
{
    if (strcmp(stage, "locked") == 0)
        hooked_pid = backend_pid;
    (void)grant_id;
}

static void terminate(fixture *f, int pid)
{
    char text[128];

    snprintf(text, sizeof(text), "SELECT pg_terminate_backend(%d, 10000)", pid);
    PQclear(sql(f, text));
}

static void test_terminated_holder(void **state)
{
    fixture *f = *state;
    bbo_pg *second = new_pg(f, KEY, 5000);
    int64_t now = (int64_t)time(NULL);
    bbo_store *holder, *waiter;
    bbo_token *token = NULL;

    f->pg = new_pg(f, KEY, 5000);
    holder = new_store(f->pg, "grant-t");
    waiter = new_store(second, "grant-t");
    save(holder, ACCESS_A, REFRESH_A, now, BBO_OK);
    bbo__pg_test_hook = remember_pid;

    /* the holder's backend is terminated: the lock is released at once
     * (the waiter gets it well before its 5 s wait), the holder's next
     * load says so, and the saved token is still there */
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_true(hooked_pid > 0);
    terminate(f, hooked_pid);
    assert_rc(bbo__store_try_lock(waiter), BBO_OK);
    assert_loads(waiter, ACCESS_A, REFRESH_A);
    assert_rc(bbo__store_unlock(waiter), BBO_OK);
    assert_rc(bbo_store_load(holder, &token), BBO_EIO);
    assert_null(token);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "was lost"));
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    /* the pool reconnects by itself */
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_loads(holder, ACCESS_A, REFRESH_A);

    /* terminated after its load, nobody else saved: the save reconnects
     * and stores the token (even one whose clock lags) */
    terminate(f, hooked_pid);
    save(holder, ACCESS_B, REFRESH_B, now - 30, BBO_OK);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_loads(waiter, ACCESS_B, REFRESH_B);

    /* terminated after its load, and another worker saved meanwhile: the
     * later token stays */
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_loads(holder, ACCESS_B, REFRESH_B);
    terminate(f, hooked_pid);
    assert_rc(bbo__store_lock(waiter), BBO_OK);
    save(waiter, ACCESS_A, REFRESH_A, now + 60, BBO_OK);
    assert_rc(bbo__store_unlock(waiter), BBO_OK);
    save(holder, ACCESS_B, REFRESH_B, now + 30, BBO_ECONFLICT);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_loads(holder, ACCESS_A, REFRESH_A);
    bbo_store_free(waiter);
    bbo_store_free(holder);
    bbo_pg_free(second);
}

static void test_server_restart(void **state)
{
    fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    bbo_store *store;

    f->pg = new_pg(f, KEY, 0);
    store = new_store(f->pg, "grant-r");
    save(store, ACCESS_A, REFRESH_A, now, BBO_OK);
    /* an idle pooled connection dies with the server: the next load finds
     * it dead and goes on with a new one */
    PQfinish(f->admin);
    pg_test_ctl("restart -m fast");
    f->admin = pg_test_connect();
    assert_loads(store, ACCESS_A, REFRESH_A);
    assert_rc(bbo__store_lock(store), BBO_OK); /* held through the restart */
    PQfinish(f->admin);
    pg_test_ctl("restart -m fast");
    f->admin = pg_test_connect();
    assert_rc(bbo__store_unlock(store), BBO_OK);
    /* every pooled connection died: each is replaced on use */
    assert_loads(store, ACCESS_A, REFRESH_A);
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    save(store, ACCESS_B, REFRESH_B, now + 1, BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_loads(store, ACCESS_B, REFRESH_B);
    assert_int_equal(row_version(f, "grant-r"), 2);
    /* a restart between the load and the save (a refresh in flight): the
     * save reconnects and writes the token, nobody having saved since */
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_loads(store, ACCESS_B, REFRESH_B);
    PQfinish(f->admin);
    pg_test_ctl("restart -m fast");
    f->admin = pg_test_connect();
    save(store, ACCESS_A, REFRESH_A, now + 2, BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    assert_int_equal(row_version(f, "grant-r"), 3);
    /* the server is still away when the save comes: it keeps reconnecting
     * (up to the lock wait) until the server is back */
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    PQfinish(f->admin);
    pg_test_ctl("stop -m fast");
    pg_test_ctl("start >/dev/null 2>&1 & sleep 0"); /* back in a moment */
    save(store, ACCESS_B, REFRESH_B, now + 3, BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    f->admin = pg_test_connect();
    assert_loads(store, ACCESS_B, REFRESH_B);
    assert_int_equal(row_version(f, "grant-r"), 4);
    bbo_store_free(store);
}

/* A server that is away: BBO_EIO with PostgreSQL's message, no password. */
static void test_errors_without_password(void **state)
{
    fixture *f = *state;
    char info[512];
    bbo_store *store;
    bbo_token *token = NULL;
    const char *message;

    snprintf(info, sizeof(info), "%s dbname=no_such_db password=Pa55-w0rd-in-conninfo",
             pg_test_conninfo());
    assert_rc(bbo_pg_new(&f->pg, info, KEY), BBO_OK);
    store = new_store(f->pg, "grant-e");
    assert_rc(bbo_store_load(store, &token), BBO_EIO);
    message = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(message, "no_such_db"));
    assert_null(strstr(message, "Pa55-w0rd"));
    assert_rc(bbo__store_lock(store), BBO_EIO);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Pa55-w0rd"));
    save(store, ACCESS_A, REFRESH_A, 1, BBO_EIO);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Pa55-w0rd"));
    bbo_store_free(store);
    /* a string libpq cannot read */
    bbo_pg_free(f->pg);
    f->pg = NULL;
    assert_rc(bbo_pg_new(&f->pg, "host=/tmp password=Pa55-w0rd-in-conninfo nonsense", KEY),
              BBO_EINVAL);
    assert_null(f->pg);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Pa55-w0rd"));
}

/* ---- the older layout --------------------------------------------------- */

/* Layout 1 (grant_id, token, updated_at): opened, upgraded in place,
 * its token kept. */
static void test_older_layout(void **state)
{
    fixture *f = *state;
    bbo_token *token = make_token(ACCESS_A, REFRESH_A, (int64_t)time(NULL));
    const char *values[2];
    int lengths[2], formats[2] = {0, 1};
    char *json = NULL, text[256];
    unsigned char *row;
    bbo_store *store;
    PGresult *res;
    size_t len;

    sqlt(f, "CREATE TABLE @T (grant_id text PRIMARY KEY, token bytea, "
            "updated_at timestamptz NOT NULL DEFAULT now())");
    /* a row as layout 1 wrote it: the plain format byte, the JSON */
    assert_rc(bbo_token_to_json(token, &json), BBO_OK);
    len = strlen(json);
    row = malloc(len + 1);
    assert_non_null(row);
    row[0] = 0;
    memcpy(row + 1, json, len);
    values[0] = "grant-old";
    values[1] = (const char *)row;
    lengths[0] = 0;
    lengths[1] = (int)len + 1;
    snprintf(text, sizeof(text), "INSERT INTO %s (grant_id, token) VALUES ($1, $2)", f->table);
    res = PQexecParams(f->admin, text, 2, NULL, values, lengths, formats, 0);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    free(row);
    bbo_free(json);
    bbo_token_free(token);

    f->pg = new_pg(f, NULL, 0);
    store = new_store(f->pg, "grant-old");
    assert_loads(store, ACCESS_A, REFRESH_A);
    assert_int_equal(sql_long(f,
                              "SELECT count(*) FROM pg_attribute WHERE attrelid = '@T'::regclass "
                              "AND attname IN ('version', 'obtained_at')"),
                     2);
    assert_int_equal(row_version(f, "grant-old"), 0);
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_loads(store, ACCESS_A, REFRESH_A);
    save(store, ACCESS_B, REFRESH_B, (int64_t)time(NULL), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_int_equal(row_version(f, "grant-old"), 1);
    assert_loads(store, ACCESS_B, REFRESH_B);
    snprintf(text, sizeof(text), "SELECT obj_description('%s'::regclass) = "
                                 "'bboauth-pg grants, layout 2'", f->table);
    res = sql(f, text);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    bbo_store_free(store);
}

/* A URI works as well as key=value pairs, with or without connect_timeout. */
static void test_uri_and_connect_timeout(void **state)
{
    fixture *f = *state;
    PQconninfoOption *options = PQconninfoParse(pg_test_conninfo(), NULL), *o;
    const char *host = NULL, *port = NULL;
    char uri[512], pairs[512];
    bbo_pg *by_uri = NULL;
    bbo_store *one, *two;

    assert_non_null(options);
    for (o = options; o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        if (strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    assert_non_null(host);
    assert_non_null(port);
    snprintf(uri, sizeof(uri), "postgresql://bbo@/postgres?host=%s&port=%s", host, port);
    snprintf(pairs, sizeof(pairs), "%s connect_timeout=5", pg_test_conninfo());
    PQconninfoFree(options);
    assert_rc(bbo_pg_new(&by_uri, uri, KEY), BBO_OK);
    assert_rc(bbo_pg_set_table(by_uri, f->table), BBO_OK);
    assert_rc(bbo_pg_new(&f->pg, pairs, KEY), BBO_OK);
    assert_rc(bbo_pg_set_table(f->pg, f->table), BBO_OK);
    one = new_store(by_uri, "grant-u");
    two = new_store(f->pg, "grant-u");
    save(one, ACCESS_A, REFRESH_A, (int64_t)time(NULL), BBO_OK);
    assert_loads(two, ACCESS_A, REFRESH_A);
    bbo_store_free(two);
    bbo_store_free(one);
    bbo_pg_free(by_uri);
}

/* ---- arguments ---------------------------------------------------------- */

static void test_arguments(void **state)
{
    fixture *f = *state;
    bbo_store *store = NULL;

    assert_rc(bbo_pg_new(NULL, pg_test_conninfo(), NULL), BBO_EINVAL);
    assert_rc(bbo_pg_new(&f->pg, NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_pg_new(&f->pg, pg_test_conninfo(), NULL), BBO_OK);
    assert_rc(bbo_pg_set_pool_size(f->pg, 0), BBO_EINVAL);
    assert_rc(bbo_pg_set_pool_size(f->pg, 65), BBO_EINVAL);
    assert_rc(bbo_pg_set_lock_wait(f->pg, 0), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "1abc"), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "a;drop"), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "a.b.c"), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "public."), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "public.My_Grants2"), BBO_OK);
    assert_rc(bbo_pg_store_new(&store, f->pg, ""), BBO_EINVAL);
    assert_rc(bbo_pg_store_new(&store, NULL, "g"), BBO_EINVAL);
    assert_null(store);
    assert_rc(bbo_pg_store_new(&store, f->pg, "g"), BBO_OK);
    /* settings are fixed once stores exist */
    assert_rc(bbo_pg_set_pool_size(f->pg, 2), BBO_EINVAL);
    assert_rc(bbo_pg_set_table(f->pg, "other"), BBO_EINVAL);
    assert_loads(store, NULL, NULL);
    assert_int_equal(sql_long(f, "SELECT count(*) FROM public.\"My_Grants2\""), 0);
    bbo_store_free(store);
    bbo_pg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_in_table_and_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsealed_without_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_id_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_save_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait_bounded_and_try_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_wait_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminated_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_without_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_and_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
    };

    return cmocka_run_group_tests_name("pg-store", tests, NULL, NULL);
}
