/*
 * libbboauth-pg: the handle on a database, its connection pool, the table
 * (created or upgraded on first use) and errors.
 * SPDX-License-Identifier: MIT
 */
#include "pg_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#define TABLE_PART_MAX 63
#define MESSAGE_MAX 512
/* the schema is changed by one worker at a time, whatever the table */
#define SCHEMA_LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('bboauth-pg schema'))"

void (*bbo__pg_test_hook)(const char *stage, const char *grant_id, int backend_pid) = NULL;

void bbo__pg_free_secret(void *ptr, size_t len)
{
    if (!ptr)
        return;
    mbedtls_platform_zeroize(ptr, len);
    free(ptr);
}

static void free_string(char *s)
{
    if (s)
        bbo__pg_free_secret(s, strlen(s));
}

int64_t bbo__pg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- errors ------------------------------------------------------------- */

/* Replace every occurrence of `secret` in `text` (in place) with '*'s. */
static void redact(char *text, const char *secret)
{
    size_t n;
    char *hit;

    if (!secret || (n = strlen(secret)) == 0)
        return;
    while ((hit = strstr(text, secret)) != NULL)
        memset(hit, '*', n);
}

int bbo__pg_error(const bbo_pg *pg, int code, const char *what, const char *pg_message)
{
    char message[MESSAGE_MAX];
    size_t len;

    if (pg_message && *pg_message)
        snprintf(message, sizeof(message), "%s: %s", what, pg_message);
    else
        snprintf(message, sizeof(message), "%s", what);
    /* libpq's messages end with a newline, some run over several lines */
    len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
        message[--len] = '\0';
    for (char *p = message; *p; p++) {
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    }
    if (pg)
        redact(message, pg->password);
    bbo_error_set(code, message);
    mbedtls_platform_zeroize(message, sizeof(message));
    return code;
}

/* ---- the handle --------------------------------------------------------- */

/* "name" or "schema.name" to the quoted form; NULL when not allowed. */
static char *quote_table(const char *name)
{
    size_t len = strlen(name), part = 0, i, o = 0;
    int dots = 0;
    char *quoted;

    if (len == 0 || len > 2 * TABLE_PART_MAX + 1)
        return NULL;
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (c == '.') {
            if (part == 0 || ++dots > 1)
                return NULL;
            part = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (part > 0 && c >= '0' && c <= '9')))
            return NULL;
        if (++part > TABLE_PART_MAX)
            return NULL;
    }
    if (part == 0)
        return NULL;
    if ((quoted = malloc(len + 5)) == NULL)
        return NULL;
    quoted[o++] = '"';
    for (i = 0; i < len; i++) {
        if (name[i] == '.') {
            quoted[o++] = '"';
            quoted[o++] = '.';
            quoted[o++] = '"';
        } else {
            quoted[o++] = name[i];
        }
    }
    quoted[o++] = '"';
    quoted[o] = '\0';
    return quoted;
}

static int set_table(bbo_pg *pg, const char *name)
{
    char *quoted, *raw;

    if ((quoted = quote_table(name)) == NULL)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_set_table: a table name is letters, digits "
                                             "and underscores, optionally schema-qualified",
                             NULL);
    if ((raw = strdup(name)) == NULL) {
        free(quoted);
        return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    }
    free(pg->table);
    free(pg->table_raw);
    pg->table = quoted;
    pg->table_raw = raw;
    return BBO_OK;
}

/* The password libpq would use from `conninfo`, to keep out of messages,
 * and whether it bounds the time to connect. */
static int read_conninfo(bbo_pg *pg, const char *conninfo)
{
    PQconninfoOption *options, *o;
    char *errmsg = NULL;
    int rc = BBO_OK;

    if ((options = PQconninfoParse(conninfo, &errmsg)) == NULL) {
        /* libpq's message quotes no value of the string */
        rc = bbo__pg_error(pg, errmsg ? BBO_EINVAL : BBO_ENOMEM,
                           "bbo_pg_new: not a PostgreSQL connection string", errmsg);
        PQfreemem(errmsg);
        return rc;
    }
    for (o = options; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
            if ((pg->password = strdup(o->val)) == NULL)
                rc = bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
        }
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val)
            pg->has_connect_timeout = true;
        if (o->val)
            mbedtls_platform_zeroize(o->val, strlen(o->val));
    }
    PQconninfoFree(options);
    return rc;
}

int bbo_pg_new(bbo_pg **out, const char *conninfo, const unsigned char *key)
{
    pthread_condattr_t attr;
    bbo_pg *pg;
    int rc;

    if (!out || !conninfo)
        return bbo__pg_error(NULL, BBO_EINVAL, "bbo_pg_new: NULL argument", NULL);
    if ((pg = calloc(1, sizeof(*pg))) == NULL)
        return bbo__pg_error(NULL, BBO_ENOMEM, "out of memory", NULL);
    pg->pool_size = BBO_PG_DEFAULT_POOL_SIZE;
    pg->lock_wait_ms = BBO_PG_DEFAULT_LOCK_WAIT_MS;
    if (pthread_mutex_init(&pg->mu, NULL) != 0) {
        free(pg);
        return bbo__pg_error(NULL, BBO_ENOMEM, "bbo_pg_new: cannot make a mutex", NULL);
    }
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&pg->freed, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&pg->mu);
        free(pg);
        return bbo__pg_error(NULL, BBO_ENOMEM, "bbo_pg_new: cannot make a condition variable",
                             NULL);
    }
    if ((rc = read_conninfo(pg, conninfo)) < 0 || (rc = set_table(pg, BBO_PG_DEFAULT_TABLE)) < 0)
        goto done;
    if ((pg->conninfo = strdup(conninfo)) == NULL) {
        rc = bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
        goto done;
    }
    if (key) {
        memcpy(pg->key, key, BBO_PG_KEY_LEN);
        pg->has_key = true;
    }
    *out = pg;
    pg = NULL;
    rc = BBO_OK;
done:
    bbo_pg_free(pg);
    return rc;
}

/* Settings are fixed once a store exists (connections use them). */
static int settable(bbo_pg *pg, const char *what)
{
    bool in_use;

    pthread_mutex_lock(&pg->mu);
    in_use = pg->in_use;
    pthread_mutex_unlock(&pg->mu);
    if (in_use)
        return bbo__pg_error(pg, BBO_EINVAL, what, NULL);
    return BBO_OK;
}

int bbo_pg_set_pool_size(bbo_pg *pg, size_t size)
{
    int rc;

    if (!pg || size == 0 || size > BBO_PG_MAX_POOL)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_set_pool_size: NULL, or not 1 to 64", NULL);
    if ((rc = settable(pg, "bbo_pg_set_pool_size: too late, stores were made")) < 0)
        return rc;
    pg->pool_size = size;
    return BBO_OK;
}

int bbo_pg_set_lock_wait(bbo_pg *pg, int64_t milliseconds)
{
    int rc;

    if (!pg || milliseconds < 1 || milliseconds > 3600 * 1000)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_set_lock_wait: NULL, or not 1 ms to 1 hour",
                             NULL);
    if ((rc = settable(pg, "bbo_pg_set_lock_wait: too late, stores were made")) < 0)
        return rc;
    pg->lock_wait_ms = milliseconds;
    return BBO_OK;
}

int bbo_pg_set_table(bbo_pg *pg, const char *table)
{
    int rc;

    if (!pg || !table)
        return bbo__pg_error(pg, BBO_EINVAL, "bbo_pg_set_table: NULL argument", NULL);
    if ((rc = settable(pg, "bbo_pg_set_table: too late, stores were made")) < 0)
        return rc;
    return set_table(pg, table);
}

void bbo_pg_free(bbo_pg *pg)
{
    size_t i;

    if (!pg)
        return;
    if (pg->slots) {
        for (i = 0; i < pg->pool_size; i++) {
            if (pg->slots[i].conn)
                PQfinish(pg->slots[i].conn);
        }
        free(pg->slots);
    }
    free_string(pg->conninfo);
    free_string(pg->password);
    free(pg->table);
    free(pg->table_raw);
    pthread_cond_destroy(&pg->freed);
    pthread_mutex_destroy(&pg->mu);
    bbo__pg_free_secret(pg, sizeof(*pg)); /* the key */
}

int bbo__pg_start(bbo_pg *pg)
{
    int rc = BBO_OK;

    pthread_mutex_lock(&pg->mu);
    if (!pg->slots && (pg->slots = calloc(pg->pool_size, sizeof(pg_slot))) == NULL)
        rc = bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    else
        pg->in_use = true;
    pthread_mutex_unlock(&pg->mu);
    return rc;
}

/* ---- statements --------------------------------------------------------- */

bool bbo__pg_conn_lost(PGconn *conn)
{
    return !conn || PQstatus(conn) != CONNECTION_OK;
}

int bbo__pg_exec(bbo_pg *pg, PGconn *conn, const char *sql, int nparams, const char *const *values,
                 const int *lengths, const int *formats, int result_binary, ExecStatusType expect,
                 PGresult **res, char sqlstate_out[6])
{
    PGresult *r;
    const char *state;

    if (sqlstate_out)
        sqlstate_out[0] = '\0';
    r = nparams || formats ? PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
                                                        result_binary)
                           : PQexec(conn, sql);
    if (r && PQresultStatus(r) == expect) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return BBO_OK;
    }
    if (r && sqlstate_out && (state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) != NULL)
        snprintf(sqlstate_out, 6, "%s", state);
    bbo__pg_error(pg, BBO_EIO, "PostgreSQL", r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
    PQclear(r);
    if (res)
        *res = NULL;
    return BBO_EIO;
}

/* ---- the table ---------------------------------------------------------- */

/* Layout 2 (this version). Layout 1 had grant_id, token and updated_at:
 * the columns it lacks are added. */
static int ensure_schema(bbo_pg *pg, PGconn *conn)
{
    const char *values[1] = {pg->table};
    PGresult *res = NULL;
    char sql[1024];
    bool exists, complete;
    int rc;

    if ((rc = bbo__pg_exec(pg, conn,
                           "SELECT to_regclass($1) IS NOT NULL, (SELECT count(*) FROM pg_attribute "
                           "WHERE attrelid = to_regclass($1) AND NOT attisdropped AND attname IN "
                           "('version', 'obtained_at')) = 2",
                           1, values, NULL, NULL, 0, PGRES_TUPLES_OK, &res, NULL)) < 0)
        return rc;
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    complete = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    if (exists && complete)
        return BBO_OK;
    snprintf(sql, sizeof(sql),
             "BEGIN; " SCHEMA_LOCK_SQL "; "
             "CREATE TABLE IF NOT EXISTS %s (grant_id text PRIMARY KEY, "
             "version bigint NOT NULL DEFAULT 0, token bytea, obtained_at timestamptz, "
             "updated_at timestamptz NOT NULL DEFAULT now()); "
             "ALTER TABLE %s ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0, "
             "ADD COLUMN IF NOT EXISTS obtained_at timestamptz; "
             "COMMENT ON TABLE %s IS 'bboauth-pg grants, layout 2'; COMMIT",
             pg->table, pg->table, pg->table);
    if ((rc = bbo__pg_exec(pg, conn, sql, 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK, NULL, NULL)) <
        0) {
        char message[MESSAGE_MAX];

        snprintf(message, sizeof(message), "cannot create or upgrade the table %s: %s",
                 pg->table_raw, bbo_error_message(bbo_error_last()));
        PQclear(PQexec(conn, "ROLLBACK"));
        return bbo__pg_error(pg, BBO_EIO, message, NULL);
    }
    return BBO_OK;
}

/* ---- the pool ----------------------------------------------------------- */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int connect_slot(bbo_pg *pg, pg_slot *slot)
{
    char sql[96], timeout[24];
    int rc;

    if (slot->conn && PQstatus(slot->conn) == CONNECTION_OK)
        return BBO_OK;
    if (slot->conn)
        PQfinish(slot->conn);
    if (pg->has_connect_timeout) {
        slot->conn = PQconnectdb(pg->conninfo);
    } else {
        /* a host that does not answer must not hold a worker longer than
         * the lock wait (libpq waits for TCP's own timeout by default) */
        const char *keys[] = {"dbname", "connect_timeout", NULL};
        const char *values[] = {pg->conninfo, timeout, NULL};

        snprintf(timeout, sizeof(timeout), "%lld",
                 (long long)(pg->lock_wait_ms < 2000 ? 2 : pg->lock_wait_ms / 1000));
        slot->conn = PQconnectdbParams(keys, values, 1);
    }
    if (slot->conn == NULL)
        return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    if (PQstatus(slot->conn) != CONNECTION_OK) {
        rc = bbo__pg_error(pg, BBO_EIO, "cannot connect to PostgreSQL",
                           PQerrorMessage(slot->conn));
        PQfinish(slot->conn);
        slot->conn = NULL;
        return rc;
    }
    PQsetNoticeProcessor(slot->conn, ignore_notice, NULL); /* "already exists, skipping" */
    /* every wait for a row lock is bounded, in and out of transactions */
    snprintf(sql, sizeof(sql), "SET lock_timeout = %lld", (long long)pg->lock_wait_ms);
    if ((rc = bbo__pg_exec(pg, slot->conn, sql, 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK, NULL,
                           NULL)) < 0) {
        PQfinish(slot->conn);
        slot->conn = NULL;
    }
    return rc;
}

int bbo__pg_acquire(bbo_pg *pg, int64_t deadline_ms, size_t *slot_out, PGconn **conn_out)
{
    struct timespec until;
    size_t i;
    bool ready;
    int rc;

    until.tv_sec = deadline_ms / 1000;
    until.tv_nsec = (deadline_ms % 1000) * 1000000;
    pthread_mutex_lock(&pg->mu);
    for (;;) {
        for (i = 0; i < pg->pool_size && pg->slots[i].busy; i++)
            ;
        if (i < pg->pool_size)
            break;
        if (pthread_cond_timedwait(&pg->freed, &pg->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&pg->mu);
            return bbo__pg_error(pg, BBO_EBUSY, "every PostgreSQL connection of the pool stayed "
                                                "busy for the whole lock wait (a bigger pool?)",
                                 NULL);
        }
    }
    pg->slots[i].busy = true;
    ready = pg->schema_ready;
    pthread_mutex_unlock(&pg->mu);

    /* the slot is ours: connect outside the mutex */
    if ((rc = connect_slot(pg, &pg->slots[i])) == BBO_OK && !ready &&
        (rc = ensure_schema(pg, pg->slots[i].conn)) == BBO_OK) {
        pthread_mutex_lock(&pg->mu);
        pg->schema_ready = true;
        pthread_mutex_unlock(&pg->mu);
    }
    if (rc < 0) {
        bbo__pg_release(pg, i, bbo__pg_conn_lost(pg->slots[i].conn));
        return rc;
    }
    *slot_out = i;
    *conn_out = pg->slots[i].conn;
    return BBO_OK;
}

void bbo__pg_release(bbo_pg *pg, size_t slot, bool broken)
{
    PGconn *dead = NULL;

    pthread_mutex_lock(&pg->mu);
    if (broken) {
        dead = pg->slots[slot].conn;
        pg->slots[slot].conn = NULL;
    }
    pg->slots[slot].busy = false;
    pthread_cond_signal(&pg->freed);
    pthread_mutex_unlock(&pg->mu);
    if (dead)
        PQfinish(dead);
}
