/*
 * bboauth-pg: grants kept in PostgreSQL, shared by every worker and host.
 * SPDX-License-Identifier: MIT
 *
 * A separate library (libbboauth-pg, pkg-config bboauth-pg) so programs
 * that do not use it never link libpq; this header is not included by
 * <bboauth.h>. It builds on the public store table (<bboauth/store.h>).
 *
 * One bbo_pg per database: a small pool of connections (reconnected by
 * themselves after a server restart or a terminated backend), a table
 * created on first use (docs/pg.md describes it), and tokens sealed with
 * AES-256-GCM when a key is given, the grant id bound as associated data,
 * so nothing in a dump of the table can be used.
 *
 * A store's lock is the row lock of its grant (SELECT ... FOR UPDATE in a
 * transaction on a pooled connection) held around "load, refresh if still
 * due, save": exactly one worker on any host refreshes a grant and the
 * others adopt its token. A save commits at once (the saved token is
 * durable when save returns) and ends the row lock; unlock gives the
 * connection back. A worker that dies, a backend terminated by the server
 * or a server restart releases the lock with the connection.
 *
 * Thread rules: a bbo_pg may be used by any number of threads and stores
 * at once; set it up (the bbo_pg_set_ functions) before making stores.
 * Each store follows <bboauth/store.h>: it belongs to one session.
 */
#ifndef BBOAUTH_PG_H
#define BBOAUTH_PG_H

#include "common.h"

BBO_BEGIN_DECLS

typedef struct bbo_pg bbo_pg;

/** Connections in the pool unless bbo_pg_set_pool_size says otherwise. */
#define BBO_PG_DEFAULT_POOL_SIZE 4
/** Bounded waits (a connection, a grant's lock) in milliseconds. */
#define BBO_PG_DEFAULT_LOCK_WAIT_MS 30000
/** The table unless bbo_pg_set_table says otherwise. */
#define BBO_PG_DEFAULT_TABLE "bboauth_grants"

/**
 * Make a handle on one database. Nothing is connected yet: the first
 * store operation connects and creates (or upgrades) the table.
 *
 * @param out       receives the handle
 * @param conninfo  a libpq connection string or URI ("host=/run/postgresql
 *                  dbname=app", "postgresql://app@db/app"); copied and wiped
 *                  on free. Its password never appears in an error message.
 * @param key       32 bytes to seal tokens with (copied, wiped on free), or
 *                  NULL to store the token JSON as it is
 * @return 0, or BBO_EINVAL (NULL argument, a connection string libpq cannot
 *         parse), BBO_ENOMEM
 */
BBO_EXTERN int bbo_pg_new(bbo_pg **out, const char *conninfo, const unsigned char *key);

/**
 * Connections to keep (default BBO_PG_DEFAULT_POOL_SIZE). A store holds one
 * from lock to unlock, or for a single load or save; more stores than
 * connections wait for one (bounded by the lock wait).
 * @return 0, or BBO_EINVAL (NULL, 0 or more than 64, or the pool is in use)
 */
BBO_EXTERN int bbo_pg_set_pool_size(bbo_pg *pg, size_t size);

/**
 * How long a lock (or a store operation waiting for a pooled connection,
 * or a save waiting for a row another worker holds) may wait, in
 * milliseconds (default BBO_PG_DEFAULT_LOCK_WAIT_MS); then BBO_EBUSY. Also
 * how long a save keeps reconnecting when the server is away.
 * @return 0, or BBO_EINVAL (NULL, below 1 or above one hour, pool in use)
 */
BBO_EXTERN int bbo_pg_set_lock_wait(bbo_pg *pg, int64_t milliseconds);

/**
 * The table to use (default BBO_PG_DEFAULT_TABLE): "name" or
 * "schema.name", each part letters, digits and underscores, not starting
 * with a digit, at most 63 bytes (case is kept: it is quoted).
 * @return 0, or BBO_EINVAL (NULL, another name, pool in use), BBO_ENOMEM
 */
BBO_EXTERN int bbo_pg_set_table(bbo_pg *pg, const char *table);

/**
 * A store for one grant (one Bitbucket login), for bbo_session_set_store.
 * Every worker and host that serves this grant uses the same grant id.
 *
 * load   the grant's token, or none (no row, or a row emptied by clear);
 *        BBO_ECRYPTO when the stored bytes do not open with this key (a
 *        wrong key, a row copied from another grant id, a sealed row read
 *        without a key or a plain one with a key), BBO_EPROTOCOL when they
 *        are not a token.
 * save   bumps the row's version and commits. BBO_ECONFLICT when the
 *        stored token was obtained later than this one, unless this
 *        store holds the lock and has read the row under it (then the
 *        token it saves came from the stored one; clocks of different
 *        hosts need not agree).
 * clear  empties the row (token and obtained_at NULL; version bumped).
 * lock   waits up to the lock wait for the row lock: BBO_EBUSY after it.
 * try_lock  BBO_EBUSY at once when another worker holds the row lock (or
 *        every pooled connection is busy: it does not wait for one).
 * Each operation fails with BBO_EIO (and PostgreSQL's message) when the
 * database cannot be reached or a statement fails. A lock whose
 * connection was lost (terminated backend, server restart) is gone: a load
 * under it fails with BBO_EIO; a save under it reconnects (for up to the
 * lock wait) and is written when no other worker saved since this store's
 * load, or when the stored token is older (else BBO_ECONFLICT).
 * BBO_ENOMEM when out of memory.
 *
 * @param out       receives the store (give it to a session)
 * @param pg        borrowed: it must outlive the store
 * @param grant_id  the grant's key in the table (copied), 1 to 200 bytes
 * @return 0, or BBO_EINVAL, BBO_ENOMEM; nothing is connected yet
 */
BBO_EXTERN int bbo_pg_store_new(bbo_store **out, bbo_pg *pg, const char *grant_id);

/**
 * Close the connections and free the handle, wiping the key and the
 * connection string. Free the stores made from it first. NULL is a no-op.
 */
BBO_EXTERN void bbo_pg_free(bbo_pg *pg);

BBO_END_DECLS

#endif
