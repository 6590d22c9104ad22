/*
 * Helpers shared by the unit tests: a counting allocator that can fail the
 * Nth allocation (curl-style torture tests) and sees every leak.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_TESTUTIL_H
#define BBO_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bboauth.h"

/* Assert a bbo code; on a mismatch, name the library's message (never a
 * secret) and the expected code. */
#define assert_rc(call, expected)                                                          \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ != (expected))                                                             \
            fail_msg("%s: got %d (%s), expected %d (%s)", #call, rc_,                      \
                     bbo_error_message(bbo_error_last()), (int)(expected),                 \
                     bbo_strerror(expected));                                              \
    } while (0)

/* Install the counting allocator (call first in main). */
void bbo_test_alloc_install(void);

/* Fail every allocation after `n` more have succeeded; -1: never fail. */
void bbo_test_alloc_fail_after(long n);

/* Fail only the allocation after `n` more have succeeded; the ones after
 * it succeed again. -1: never fail. */
void bbo_test_alloc_fail_only(long n);

/* Blocks currently allocated through the library. */
long bbo_test_alloc_live(void);

/* 1 when an allocation was refused since the last bbo_test_alloc_fail_after. */
int bbo_test_alloc_failed(void);

/*
 * Run `op` (returns a bbo code, cleans up after itself on success via
 * `cleanup`) with the 0th, 1st, 2nd, ... allocation failing until it
 * succeeds. Each failing run must return BBO_ENOMEM and leak nothing.
 */
typedef int (*bbo_test_op)(void *ctx);
void bbo_test_oom_torture(bbo_test_op op, void (*cleanup)(void *ctx), void *ctx);

/* Remove a file or a directory tree (test temp dirs); errors are ignored. */
void bbo_test_remove_tree(const char *path);

/* Read a whole file into memory (free with free()); NULL if it fails. */
char *bbo_test_read_file(const char *path, size_t *len_out);

#endif
