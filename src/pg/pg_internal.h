/*
 * libbboauth-pg internals: the handle, its pool, sealing, errors.
 * Only libbboauth's public API is used from here.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_PG_INTERNAL_H
#define BBO_PG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "bboauth.h"
#include "bboauth/pg.h"

#define BBO_PG_KEY_LEN 32
#define BBO_PG_MAX_POOL 64

/* A pooled connection handed to one store at a time. */
typedef struct pg_slot {
    PGconn *conn; /* NULL until first used, or after it broke */
    bool busy;
} pg_slot;

struct bbo_pg {
    char *conninfo;
    char *password; /* from conninfo, to redact; NULL when none */
    bool has_connect_timeout; /* else connecting is bounded by the lock wait */
    unsigned char key[BBO_PG_KEY_LEN];
    bool has_key;
    char *table;     /* quoted identifier(s), ready for SQL */
    char *table_raw; /* as given, for to_regclass and messages */
    size_t pool_size;
    int64_t lock_wait_ms;
    pthread_mutex_t mu;
    pthread_cond_t freed; /* a slot was given back */
    pg_slot *slots;       /* pool_size of them, allocated on first use */
    bool in_use;          /* a store was made: settings are fixed */
    bool schema_ready;
};

/* Set this thread's error: `what` then PostgreSQL's message (may be NULL),
 * the conninfo password redacted. Returns `code`. */
int bbo__pg_error(const bbo_pg *pg, int code, const char *what, const char *pg_message);

/* Fix the settings and make the pool (bbo_pg_store_new). 0, BBO_ENOMEM. */
int bbo__pg_start(bbo_pg *pg);

/* Milliseconds on a monotonic clock. */
int64_t bbo__pg_now_ms(void);

/* Take a connection (connected, schema ready) waiting until `deadline_ms`
 * for a free slot: 0, BBO_EBUSY, BBO_EIO, BBO_ENOMEM. */
int bbo__pg_acquire(bbo_pg *pg, int64_t deadline_ms, size_t *slot_out, PGconn **conn_out);
/* Give it back; `broken` closes it (the next user reconnects). */
void bbo__pg_release(bbo_pg *pg, size_t slot, bool broken);
/* True when the connection can no longer be used (lost, terminated). */
bool bbo__pg_conn_lost(PGconn *conn);

/* Run one statement; 0 with *res (PQclear it) when its status is
 * `expect`, else BBO_EIO (error set, *res NULL). `sqlstate_out` (may be
 * NULL) receives the SQLSTATE of a failure ("" when none). */
int bbo__pg_exec(bbo_pg *pg, PGconn *conn, const char *sql, int nparams, const char *const *values,
                 const int *lengths, const int *formats, int result_binary, ExecStatusType expect,
                 PGresult **res, char sqlstate_out[6]);

/* Seal `plain` for `grant_id` (or copy it with a plain marker without a
 * key) into a malloc'ed buffer. 0, BBO_ENOMEM, BBO_ECRYPTO. */
int bbo__pg_seal(const bbo_pg *pg, const char *grant_id, const unsigned char *plain, size_t len,
                 unsigned char **out, size_t *out_len);
/* Open what bbo__pg_seal made: a malloc'ed NUL-terminated text, wiped and
 * freed by the caller. 0, BBO_ECRYPTO, BBO_ENOMEM. */
int bbo__pg_unseal(const bbo_pg *pg, const char *grant_id, const unsigned char *sealed,
                   size_t len, char **out, size_t *out_len);

/* Wipe and free (NULL is fine). */
void bbo__pg_free_secret(void *ptr, size_t len);

/* Test hook (NULL in production): called with the stage ("locked" after
 * the row lock is taken, "saved" after a save committed), the grant and
 * the backend's process id. Not exported from the shared library. */
extern void (*bbo__pg_test_hook)(const char *stage, const char *grant_id, int backend_pid);

#endif
