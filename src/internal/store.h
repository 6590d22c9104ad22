/*
 * Store internals used by the session.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_STORE_H
#define BBO_INTERNAL_STORE_H

#include "common.h"

bool bbo__store_can_lock(const bbo_store *store);
/* No-ops (BBO_OK) for a store without lock/unlock. */
int bbo__store_lock(bbo_store *store);
int bbo__store_unlock(bbo_store *store);
/* A store with try_lock (version 2 tables); bbo__store_try_lock falls back
 * to the blocking lock without one. 0 taken, BBO_EBUSY held elsewhere. */
bool bbo__store_can_try_lock(const bbo_store *store);
int bbo__store_try_lock(bbo_store *store);
/* Clear with the store's lock already held (or a store that does not
 * lock): what bbo_store_clear does inside the lock it takes. */
int bbo__store_clear(bbo_store *store);

/* Test hook of the file store, NULL in production: called with the stage
 * a save has reached ("written", "synced", "renamed": a kill -9 there must
 * leave the old file whole) and when a load has opened the token file
 * ("opened": another store may save before it reads). */
extern void (*bbo__file_store_fault_hook)(const char *stage);

#endif
