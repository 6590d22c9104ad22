/*
 * The in-memory token store of the session tests.
 * SPDX-License-Identifier: MIT
 */
#include "mem_store.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

int ms_load(bbo_token **out, void *payload)
{
    memstore *ms = payload;

    ms->loads++;
    *out = NULL;
    if (ms->fail_loads > 0) {
        ms->fail_loads--;
        return BBO_EIO;
    }
    return ms->token ? bbo_token_dup(out, ms->token) : BBO_OK;
}

int ms_save(const bbo_token *token, void *payload)
{
    memstore *ms = payload;
    bbo_token *copy = NULL;
    int rc;

    if (ms->locking && !ms->locked)
        ms->lock_violations++;
    if (ms->saves < MAX_SAVES) {
        snprintf(ms->saved[ms->saves], sizeof(ms->saved[0]), "%s", bbo_token_access(token));
        ms->requests_at_save[ms->saves] = ms->fake ? bbo_fake_request_count(ms->fake) : 0;
    }
    ms->saves++;
    if (ms->fail_saves > 0) {
        ms->fail_saves--;
        return BBO_EIO;
    }
    if (ms->later) {
        ms->conflicts++;
        bbo_token_free(ms->token);
        ms->token = ms->later;
        ms->later = NULL;
        return bbo_error_set(BBO_ECONFLICT, "mem store: a later token is stored");
    }
    if ((rc = bbo_token_dup(&copy, token)) < 0)
        return rc;
    bbo_token_free(ms->token);
    ms->token = copy;
    return BBO_OK;
}

int ms_clear(void *payload)
{
    memstore *ms = payload;

    if (ms->locking && !ms->locked)
        ms->lock_violations++;
    ms->clears++;
    if (ms->clears_refused)
        return BBO_EIO;
    bbo_token_free(ms->token);
    ms->token = NULL;
    return BBO_OK;
}

/* A lock that fails: its wait (when a clock is given) and its error. */
static int lock_fails(memstore *ms, int rc, const char *message)
{
    if (ms->clock)
        *ms->clock += ms->lock_wait;
    return bbo_error_set(rc, message);
}

int ms_lock(void *payload)
{
    memstore *ms = payload;

    if (ms->fail_locks > 0) {
        ms->fail_locks--;
        return lock_fails(ms, BBO_EIO, "mem store: the database is restarting");
    }
    if (ms->lock_busy)
        return lock_fails(ms, BBO_EBUSY, "mem store: the lock stayed held elsewhere");
    if (ms->locked)
        ms->lock_violations++;
    ms->locked = 1;
    ms->locks++;
    if (ms->other) {
        bbo_token_free(ms->token);
        ms->token = ms->other;
        ms->other = NULL;
    }
    return BBO_OK;
}

int ms_try_lock(void *payload)
{
    memstore *ms = payload;

    ms->try_locks++;
    if (ms->busy)
        return BBO_EBUSY;
    return ms_lock(payload);
}

int ms_unlock(void *payload)
{
    memstore *ms = payload;

    if (!ms->locked)
        ms->lock_violations++;
    ms->locked = 0;
    ms->unlocks++;
    return BBO_OK;
}

void ms_destroy(void *payload)
{
    memstore *ms = payload;

    ms->destroyed++;
    bbo_token_free(ms->token);
    bbo_token_free(ms->other);
    bbo_token_free(ms->later);
    ms->token = ms->other = ms->later = NULL;
}

int ms_store_new(bbo_store **out, memstore *ms, int locking)
{
    bbo_store_callbacks cb;

    memset(&cb, 0, sizeof(cb));
    cb.version = BBO_STORE_VERSION;
    cb.load = ms_load;
    cb.save = ms_save;
    cb.clear = ms_clear;
    if (locking) {
        cb.lock = ms_lock;
        cb.unlock = ms_unlock;
        if (locking == 2)
            cb.try_lock = ms_try_lock;
    }
    cb.destroy = ms_destroy;
    cb.payload = ms;
    ms->locking = locking;
    return bbo_store_new(out, &cb);
}

bbo_store *ms_store(memstore *ms, int locking)
{
    bbo_store *store = NULL;

    assert_rc(ms_store_new(&store, ms, locking), BBO_OK);
    return store;
}
