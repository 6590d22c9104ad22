/*
 * libbboauth-pg: the store of one grant. Its lock is the grant row's lock
 * (SELECT ... FOR UPDATE) in a transaction on a pooled connection, held
 * from lock to the save's commit (or unlock). See docs/pg.md.
 * SPDX-License-Identifier: MIT
 */
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#define GRANT_ID_MAX 200
#define SQL_MAX 1024
#define RECONNECT_PAUSE_MS 100
#define LOCK_ATTEMPTS 3
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"

typedef struct pg_store {
    bbo_pg *pg; /* borrowed */
    char *grant_id;
    /* between lock and unlock */
    bool holding;  /* a pooled connection is ours */
    size_t slot;
    PGconn *conn;  /* NULL once lost */
    bool in_txn;   /* the row lock's transaction is open */
    bool loaded;   /* the row was read under this lock */
    int64_t loaded_version;
} pg_store;

static void pause_ms(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    nanosleep(&ts, NULL);
}

/* Give the held connection back (broken ones are closed), never with a
 * transaction open: the next user would find the lock still held. */
static void drop_held(pg_store *st)
{
    if (st->holding && st->in_txn && !bbo__pg_conn_lost(st->conn))
        PQclear(PQexec(st->conn, "ROLLBACK")); /* every write committed itself */
    if (st->holding)
        bbo__pg_release(st->pg, st->slot, bbo__pg_conn_lost(st->conn));
    st->holding = false;
    st->conn = NULL;
    st->in_txn = false;
}

/* After a failed statement under the lock: a lost connection took the
 * lock with it; any other failure aborted the transaction, so end it. */
static void lock_failed(pg_store *st)
{
    if (bbo__pg_conn_lost(st->conn)) {
        bbo__pg_release(st->pg, st->slot, true);
        st->conn = NULL;
        st->holding = false;
    } else if (st->in_txn) {
        PQclear(PQexec(st->conn, "ROLLBACK"));
    }
    st->in_txn = false;
}

static int lost_lock_error(pg_store *st)
{
    char what[GRANT_ID_MAX + 160];

    snprintf(what, sizeof(what),
             "the PostgreSQL connection holding the lock of grant %s was lost (a terminated "
             "backend or a server restart): %s",
             st->grant_id, bbo_error_message(bbo_error_last()));
    return bbo__pg_error(st->pg, BBO_EIO, what, NULL);
}

/* ---- the lock ----------------------------------------------------------- */

static int ensure_row(pg_store *st, PGconn *conn)
{
    char sql[SQL_MAX];
    const char *values[1] = {st->grant_id};

    snprintf(sql, sizeof(sql), "INSERT INTO %s (grant_id) VALUES ($1) ON CONFLICT (grant_id) "
                               "DO NOTHING",
             st->pg->table);
    return bbo__pg_exec(st->pg, conn, sql, 1, values, NULL, NULL, 0, PGRES_COMMAND_OK, NULL, NULL);
}

/* BEGIN and lock the row on st->conn: 0, BBO_EBUSY, BBO_EIO. */
static int lock_row(pg_store *st, bool wait)
{
    const char *values[1] = {st->grant_id};
    char sql[SQL_MAX], state[6];
    PGresult *res = NULL;
    int rc, tries;

    snprintf(sql, sizeof(sql), "SELECT version FROM %s WHERE grant_id = $1 FOR UPDATE%s",
             st->pg->table, wait ? "" : " NOWAIT");
    for (tries = 0; tries < LOCK_ATTEMPTS; tries++) {
        if ((rc = bbo__pg_exec(st->pg, st->conn, "BEGIN", 0, NULL, NULL, NULL, 0,
                               PGRES_COMMAND_OK, NULL, NULL)) < 0)
            return rc;
        st->in_txn = true;
        rc = bbo__pg_exec(st->pg, st->conn, sql, 1, values, NULL, NULL, 0, PGRES_TUPLES_OK, &res,
                          state);
        if (rc < 0) {
            if (strcmp(state, SQLSTATE_LOCK_NOT_AVAILABLE) == 0) {
                char what[GRANT_ID_MAX + 160];

                PQclear(PQexec(st->conn, "ROLLBACK"));
                st->in_txn = false;
                snprintf(what, sizeof(what),
                         wait ? "another worker held the lock of grant %s for the whole lock "
                                "wait (%lld ms)"
                              : "another worker holds the lock of grant %s",
                         st->grant_id, (long long)st->pg->lock_wait_ms);
                return bbo__pg_error(st->pg, BBO_EBUSY, what, NULL);
            }
            return rc;
        }
        if (PQntuples(res) == 1) {
            PQclear(res);
            return BBO_OK;
        }
        /* first use of this grant id (or the row was deleted by hand) */
        PQclear(res);
        if ((rc = bbo__pg_exec(st->pg, st->conn, "ROLLBACK", 0, NULL, NULL, NULL, 0,
                               PGRES_COMMAND_OK, NULL, NULL)) < 0)
            return rc;
        st->in_txn = false;
        if ((rc = ensure_row(st, st->conn)) < 0)
            return rc;
    }
    return bbo__pg_error(st->pg, BBO_EIO, "the grant's row disappeared again and again while "
                                          "taking its lock",
                         NULL);
}

static int take_lock(pg_store *st, bool wait)
{
    /* try_lock does not wait for a connection either: a session that
     * tries serves its still-valid token meanwhile */
    int64_t deadline = bbo__pg_now_ms() + (wait ? st->pg->lock_wait_ms : 0);
    int rc = BBO_OK, attempt;

    if (st->holding) /* a previous holder never unlocked: start over */
        drop_held(st);
    st->loaded = false;
    /* a pooled connection may have died since its last use (a restart):
     * nothing is held yet, so a second connection may try again */
    for (attempt = 0; attempt < 2; attempt++) {
        bool lost;

        if ((rc = bbo__pg_acquire(st->pg, deadline, &st->slot, &st->conn)) < 0)
            return rc;
        st->holding = true;
        if ((rc = lock_row(st, wait)) == BBO_OK) {
            if (bbo__pg_test_hook)
                bbo__pg_test_hook("locked", st->grant_id, PQbackendPID(st->conn));
            return BBO_OK;
        }
        lost = bbo__pg_conn_lost(st->conn);
        lock_failed(st);
        drop_held(st);
        if (rc == BBO_EBUSY || !lost)
            return rc;
    }
    return rc;
}

static int store_lock(void *payload)
{
    return take_lock(payload, true);
}

static int store_try_lock(void *payload)
{
    return take_lock(payload, false);
}

static int store_unlock(void *payload)
{
    pg_store *st = payload;

    drop_held(st);
    st->loaded = false;
    return BBO_OK; /* the lock ends with the transaction or the connection */
}

/* ---- statements outside the lock ---------------------------------------- */

typedef int (*conn_op)(pg_store *st, PGconn *conn, void *arg);

/*
 * Run `op` in autocommit: on the held connection when the lock's
 * transaction is over (after a save), else on a pooled one. A connection
 * found dead is replaced; with `persist`, until the lock wait runs out (a
 * server restarting), else once.
 */
static int run_autocommit(pg_store *st, conn_op op, void *arg, bool persist)
{
    int64_t deadline = bbo__pg_now_ms() + st->pg->lock_wait_ms;
    size_t slot;
    PGconn *conn;
    int rc, attempt = 0;

    if (st->holding && st->conn && !st->in_txn) {
        if ((rc = op(st, st->conn, arg)) == BBO_OK || !bbo__pg_conn_lost(st->conn))
            return rc;
        drop_held(st);
    }
    for (;;) {
        if ((rc = bbo__pg_acquire(st->pg, deadline, &slot, &conn)) == BBO_OK) {
            bool lost;

            rc = op(st, conn, arg);
            lost = bbo__pg_conn_lost(conn);
            bbo__pg_release(st->pg, slot, lost); /* closes a lost one */
            if (rc == BBO_OK || !lost)
                return rc;
        } else if (rc != BBO_EIO) {
            return rc;
        }
        /* the connection died under the statement, or none could be made */
        if (++attempt >= 2 && (!persist || bbo__pg_now_ms() + RECONNECT_PAUSE_MS > deadline))
            return rc;
        if (attempt >= 2)
            pause_ms(RECONNECT_PAUSE_MS);
    }
}

/* ---- load --------------------------------------------------------------- */

static int64_t read_int8(const char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return (int64_t)v;
}

static int read_row(pg_store *st, PGconn *conn, void *arg)
{
    bbo_token **out = arg;
    const char *values[1] = {st->grant_id};
    char sql[SQL_MAX], *json = NULL;
    PGresult *res = NULL;
    size_t json_len = 0;
    int rc;

    *out = NULL;
    snprintf(sql, sizeof(sql), "SELECT version, token FROM %s WHERE grant_id = $1", st->pg->table);
    if ((rc = bbo__pg_exec(st->pg, conn, sql, 1, values, NULL, NULL, 1, PGRES_TUPLES_OK, &res,
                           NULL)) < 0)
        return rc;
    if (PQntuples(res) == 1) {
        if (st->in_txn) {
            st->loaded = true;
            st->loaded_version = read_int8(PQgetvalue(res, 0, 0));
        }
        if (!PQgetisnull(res, 0, 1) &&
            (rc = bbo__pg_unseal(st->pg, st->grant_id, (const unsigned char *)PQgetvalue(res, 0, 1),
                                 (size_t)PQgetlength(res, 0, 1), &json, &json_len)) == BBO_OK)
            rc = bbo_token_parse(out, json, json_len, (int64_t)time(NULL));
    }
    /* the sealed bytes (plain JSON without a key) hold the token */
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1))
        mbedtls_platform_zeroize(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
    PQclear(res);
    bbo__pg_free_secret(json, json_len);
    return rc;
}

static int store_load(bbo_token **out, void *payload)
{
    pg_store *st = payload;
    int rc;

    if (st->holding && st->in_txn) {
        if ((rc = read_row(st, st->conn, out)) < 0 && bbo__pg_conn_lost(st->conn)) {
            lock_failed(st);
            return lost_lock_error(st);
        }
        return rc;
    }
    return run_autocommit(st, read_row, out, false);
}

/* ---- save and clear ------------------------------------------------------ */

typedef struct write_args {
    const char *values[4]; /* grant id, sealed token or NULL, obtained_at or NULL, version */
    int lengths[4];
    char obtained[24];
    char version[24];
    bool by_version; /* the lock was lost after a load: that version may be replaced */
    bool conflict;   /* out: refused, a later token is stored */
} write_args;

static const int write_formats[4] = {0, 1, 0, 0};

/* Under the lock: update, then commit (the token is durable at once). */
static int write_locked(pg_store *st, write_args *a)
{
    char sql[SQL_MAX];
    PGresult *res = NULL;
    int rc;

    /* a row read under this lock is what the token being saved replaces
     * (whatever the clocks of the hosts that obtained them say) */
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET token = $2, obtained_at = to_timestamp($3::bigint), "
             "version = version + 1, updated_at = now() WHERE grant_id = $1%s RETURNING version",
             st->pg->table,
             st->loaded ? "" : " AND (obtained_at IS NULL OR $3::bigint IS NULL OR "
                               "obtained_at <= to_timestamp($3::bigint))");
    if ((rc = bbo__pg_exec(st->pg, st->conn, sql, 3, a->values, a->lengths, write_formats, 0,
                           PGRES_TUPLES_OK, &res, NULL)) < 0)
        return rc;
    a->conflict = PQntuples(res) == 0;
    PQclear(res);
    if (a->conflict)
        return BBO_OK; /* still locked: the caller may load the stored token */
    if ((rc = bbo__pg_exec(st->pg, st->conn, "COMMIT", 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK,
                           NULL, NULL)) < 0)
        return rc;
    st->in_txn = false;
    st->loaded = false;
    return BBO_OK;
}

static int write_autocommit(pg_store *st, PGconn *conn, void *arg)
{
    write_args *a = arg;
    char sql[SQL_MAX], state[6];
    PGresult *res = NULL;
    int rc;

    snprintf(sql, sizeof(sql),
             "INSERT INTO %s AS t (grant_id, token, obtained_at, version) "
             "VALUES ($1, $2, to_timestamp($3::bigint), 1) ON CONFLICT (grant_id) DO UPDATE "
             "SET token = EXCLUDED.token, obtained_at = EXCLUDED.obtained_at, "
             "version = t.version + 1, updated_at = now() WHERE t.obtained_at IS NULL OR "
             "EXCLUDED.obtained_at IS NULL OR t.obtained_at <= EXCLUDED.obtained_at%s "
             "RETURNING version",
             st->pg->table, a->by_version ? " OR t.version = $4::bigint" : "");
    if ((rc = bbo__pg_exec(st->pg, conn, sql, a->by_version ? 4 : 3, a->values, a->lengths,
                           write_formats, 0, PGRES_TUPLES_OK, &res, state)) < 0) {
        /* the row stayed locked by another worker for the whole lock wait */
        if (strcmp(state, SQLSTATE_LOCK_NOT_AVAILABLE) == 0)
            rc = bbo__pg_error(st->pg, BBO_EBUSY, "another worker held the grant's lock for the "
                                                  "whole lock wait; nothing was saved",
                               NULL);
        return rc;
    }
    a->conflict = PQntuples(res) == 0;
    PQclear(res);
    return BBO_OK;
}

static int write_token(pg_store *st, const unsigned char *sealed, size_t sealed_len,
                       int64_t obtained_at)
{
    write_args a;
    bool lost = false;
    int rc = BBO_EIO;

    memset(&a, 0, sizeof(a));
    a.values[0] = st->grant_id;
    a.values[1] = (const char *)sealed;
    a.lengths[1] = (int)sealed_len;
    if (obtained_at > 0) {
        snprintf(a.obtained, sizeof(a.obtained), "%lld", (long long)obtained_at);
        a.values[2] = a.obtained;
    }
    if (st->holding && st->in_txn) {
        if ((rc = write_locked(st, &a)) == BBO_OK)
            goto done;
        if (!bbo__pg_conn_lost(st->conn)) {
            lock_failed(st); /* the failed statement ended the transaction */
            return rc;
        }
        /* the lock went with the connection: save anyway, unless another
         * worker saved since our load (then its token is the later one) */
        a.by_version = st->loaded;
        snprintf(a.version, sizeof(a.version), "%lld", (long long)st->loaded_version);
        a.values[3] = a.version;
        lock_failed(st);
        st->loaded = false;
        lost = true;
    }
    /* a lock lost with its connection was likely a server restart: keep
     * reconnecting a while, this token may be the only live one */
    if ((rc = run_autocommit(st, write_autocommit, &a, lost)) < 0)
        return rc;
done:
    if (a.conflict) {
        char what[GRANT_ID_MAX + 160];

        snprintf(what, sizeof(what),
                 "grant %s: the store holds a token obtained later than this one (another "
                 "worker's refresh); load that one instead",
                 st->grant_id);
        return bbo__pg_error(st->pg, BBO_ECONFLICT, what, NULL);
    }
    if (bbo__pg_test_hook)
        bbo__pg_test_hook("saved", st->grant_id, st->conn ? PQbackendPID(st->conn) : 0);
    return BBO_OK;
}

static int store_save(const bbo_token *token, void *payload)
{
    pg_store *st = payload;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    char *json = NULL;
    int rc;

    if ((rc = bbo_token_to_json(token, &json)) < 0)
        return rc;
    rc = bbo__pg_seal(st->pg, st->grant_id, (const unsigned char *)json, strlen(json), &sealed,
                      &sealed_len);
    bbo_free(json); /* wipes */
    if (rc < 0)
        return rc;
    rc = write_token(st, sealed, sealed_len, bbo_token_obtained_at(token));
    bbo__pg_free_secret(sealed, sealed_len);
    return rc;
}

static int store_clear(void *payload)
{
    return write_token(payload, NULL, 0, 0);
}

/* ---- the store ---------------------------------------------------------- */

static void store_destroy(void *payload)
{
    pg_store *st = payload;

    store_unlock(st);
    free(st->grant_id);
    free(st);
}

int bbo_pg_store_new(bbo_store **out, bbo_pg *pg, const char *grant_id)
{
    bbo_store_callbacks cb;
    pg_store *st = NULL;
    size_t len;
    int rc;

    if (!out || !pg || !grant_id)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_store_new: NULL argument", NULL);
    if ((len = strlen(grant_id)) == 0 || len > GRANT_ID_MAX)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_store_new: a grant id is 1 to 200 bytes",
                             NULL);
    if ((rc = bbo__pg_start(pg)) < 0)
        return rc;
    if ((st = calloc(1, sizeof(*st))) == NULL || (st->grant_id = strdup(grant_id)) == NULL) {
        free(st);
        return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    }
    st->pg = pg;
    memset(&cb, 0, sizeof(cb));
    cb.version = BBO_STORE_VERSION;
    cb.load = store_load;
    cb.save = store_save;
    cb.clear = store_clear;
    cb.lock = store_lock;
    cb.unlock = store_unlock;
    cb.try_lock = store_try_lock;
    cb.destroy = store_destroy;
    cb.payload = st;
    if ((rc = bbo_store_new(out, &cb)) < 0) {
        free(st->grant_id);
        free(st);
    }
    return rc;
}
