/*
 * Helpers for tests under tests/pg/with_pg.py.
 * SPDX-License-Identifier: MIT
 */
#include "pgtest.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <cmocka.h>

const char *pg_test_conninfo(void)
{
    const char *c = getenv("BBO_PG_CONNINFO");

    if (!c || !*c)
        fail_msg("BBO_PG_CONNINFO is not set: run this test under tests/pg/with_pg.py");
    return c;
}

PGconn *pg_test_connect(void)
{
    PGconn *conn = PQconnectdb(pg_test_conninfo());

    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("cannot connect to the test cluster: %s", PQerrorMessage(conn));
    return conn;
}

void pg_test_ctl(const char *action)
{
    char cmd[512];
    int status;

    snprintf(cmd, sizeof(cmd), "\"%s\" %s", getenv("BBO_PG_CTL"), action);
    status = system(cmd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pg_ctl %s failed (status 0x%x)", action, (unsigned)status);
}
