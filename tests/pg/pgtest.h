/*
 * Helpers for tests that run under tests/pg/with_pg.py (a throwaway
 * PostgreSQL cluster): its connection string, pg_ctl, a connection of the
 * test's own. Failures end the test through cmocka.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_PGTEST_H
#define BBO_PGTEST_H

#include <libpq-fe.h>

/* BBO_PG_CONNINFO; fails the test when it is not set. */
const char *pg_test_conninfo(void);

/* A new connection to the cluster (PQfinish it). */
PGconn *pg_test_connect(void);

/* Run "$BBO_PG_CTL <action>" ("restart -m fast") and require success. */
void pg_test_ctl(const char *action);

/* The test hook of libbboauth-pg (src/pg/pg_internal.h). */
extern void (*bbo__pg_test_hook)(const char *stage, const char *grant_id, int backend_pid);

#endif
