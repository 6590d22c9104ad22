/*
 * An in-memory bbo_store for tests: counts loads, saves, clears and lock
 * calls, can fail saves, loads and locks (a database restarting), can play
 * "another process" (a token that appears
 * in the store at the next lock), and checks that a locking store is only
 * read, written and cleared while locked.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_MEM_STORE_H
#define BBO_MEM_STORE_H

#include <stddef.h>

#include "bboauth.h"
#include "fake_transport.h"

#define MAX_SAVES 16

typedef struct memstore {
    bbo_token *token; /* what is "on disk" */
    bbo_token *other; /* written by "another process" at the next lock */
    int fail_saves;   /* the next N saves fail with BBO_EIO */
    int fail_loads;   /* the next N loads fail with BBO_EIO */
    int busy;         /* try_lock answers BBO_EBUSY (another worker holds it) */
    int lock_busy;    /* lock gives up waiting: BBO_EBUSY */
    int fail_locks;   /* the next N locks (and try_locks) fail with BBO_EIO */
    int64_t *clock;   /* when set, a lock that fails moves it on by */
    int64_t lock_wait; /* this many seconds (a bounded wait) */
    bbo_token *later; /* the next save finds this token there: BBO_ECONFLICT */
    int try_locks, conflicts;
    int clears_refused; /* clear fails with BBO_EIO while set */
    int loads, saves, clears, locks, unlocks, destroyed;
    int locked;
    int lock_violations; /* load/save while a locking store was not locked */
    int locking;
    bbo_fake *fake; /* to see how many requests went out before a save */
    size_t requests_at_save[MAX_SAVES];
    char saved[MAX_SAVES][32]; /* access token of every save attempt */
} memstore;

int ms_load(bbo_token **out, void *payload);
int ms_save(const bbo_token *token, void *payload);
int ms_clear(void *payload);
int ms_lock(void *payload);
int ms_unlock(void *payload);
int ms_try_lock(void *payload);
/* Frees what the store holds (also safe on a store never handed out). */
void ms_destroy(void *payload);
/* A store on `ms`; `locking`: with lock/unlock, 2: also with try_lock. */
int ms_store_new(bbo_store **out, memstore *ms, int locking);
/* The same, asserting success. */
bbo_store *ms_store(memstore *ms, int locking);

#endif
