/*
 * Token stores: the callback table wrapped in an object.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/store.h"

struct bbo_store {
    bbo_store_callbacks cb;
};

int bbo_store_new(bbo_store **out, const bbo_store_callbacks *callbacks)
{
    bbo_store *store;

    if (!out || !callbacks)
        return bbo__error_set(BBO_EINVAL, "bbo_store_new: NULL argument");
    if ((callbacks->version != 1 && callbacks->version != BBO_STORE_VERSION) ||
        !callbacks->load || !callbacks->save || !callbacks->lock != !callbacks->unlock ||
        (callbacks->version >= 2 && callbacks->try_lock && !callbacks->lock))
        return bbo__error_set(BBO_EINVAL, "bbo_store_new: wrong version, NULL load/save, "
                                          "lock without unlock, or try_lock without lock");
    if ((store = bbo__calloc(1, sizeof(*store))) == NULL)
        return bbo__error_oom();
    /* a version 1 table ends before try_lock: copy only what it has */
    if (callbacks->version == 1)
        memcpy(&store->cb, callbacks, offsetof(bbo_store_callbacks, try_lock));
    else
        store->cb = *callbacks;
    *out = store;
    return BBO_OK;
}

/* A custom store may fail without setting a message, or with a code that
 * is not ours: make the error usable either way. `serial` is the thread's
 * error serial before the callback ran: whether the callback set an error
 * is told without clearing the caller's. */
static int store_result(int rc, uint64_t serial, const char *what)
{
    if (rc == 0)
        return BBO_OK;
    if (rc > 0 || rc < BBO_ECONFLICT) /* as the transport: a positive code is a failure */
        return bbo__error_set(BBO_EIO, "token store %s failed with code %d", what, rc);
    if (bbo__error_serial() == serial || bbo__error_current() != rc)
        return bbo__error_set(rc, "token store %s failed: %s", what, bbo_strerror(rc));
    return rc;
}

int bbo_store_load(bbo_store *store, bbo_token **out)
{
    bbo_token *token = NULL;
    uint64_t serial;
    int rc;

    if (!store || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_store_load: NULL argument");
    serial = bbo__error_serial();
    if ((rc = store_result(store->cb.load(&token, store->cb.payload), serial, "load")) < 0) {
        bbo_token_free(token);
        return rc;
    }
    *out = token;
    return BBO_OK;
}

int bbo_store_save(bbo_store *store, const bbo_token *token)
{
    uint64_t serial = bbo__error_serial();

    if (!store || !token)
        return bbo__error_set(BBO_EINVAL, "bbo_store_save: NULL argument");
    return store_result(store->cb.save(token, store->cb.payload), serial, "save");
}

int bbo__store_clear(bbo_store *store)
{
    uint64_t serial = bbo__error_serial();

    if (!store->cb.clear)
        return bbo__error_set(BBO_EINVAL, "this token store cannot clear");
    return store_result(store->cb.clear(store->cb.payload), serial, "clear");
}

/* Under the store's lock (when it locks): a refresh in flight elsewhere,
 * which saves under that lock, cannot save after the clear. */
int bbo_store_clear(bbo_store *store)
{
    int rc, unlocked;

    if (!store)
        return bbo__error_set(BBO_EINVAL, "bbo_store_clear: NULL argument");
    if (!store->cb.clear)
        return bbo__error_set(BBO_EINVAL, "this token store cannot clear");
    if ((rc = bbo__store_lock(store)) < 0)
        return rc;
    if ((rc = bbo__store_clear(store)) < 0) {
        bbo_error kept;

        bbo__error_keep(&kept);
        bbo__store_unlock(store);
        return bbo__error_restore(&kept);
    }
    /* cleared; a lock that could not be released is still reported */
    if ((unlocked = bbo__store_unlock(store)) < 0)
        return unlocked;
    return BBO_OK;
}

bool bbo__store_can_lock(const bbo_store *store)
{
    return store->cb.lock != NULL;
}

int bbo__store_lock(bbo_store *store)
{
    uint64_t serial = bbo__error_serial();

    if (!store->cb.lock)
        return BBO_OK;
    return store_result(store->cb.lock(store->cb.payload), serial, "lock");
}

bool bbo__store_can_try_lock(const bbo_store *store)
{
    return store->cb.try_lock != NULL;
}

/* 0 taken, BBO_EBUSY held elsewhere (no message: not a failure to report),
 * or the store's error. */
int bbo__store_try_lock(bbo_store *store)
{
    uint64_t serial = bbo__error_serial();
    int rc;

    if (!store->cb.try_lock)
        return bbo__store_lock(store);
    rc = store->cb.try_lock(store->cb.payload);
    if (rc == BBO_EBUSY)
        return BBO_EBUSY;
    return store_result(rc, serial, "lock");
}

int bbo__store_unlock(bbo_store *store)
{
    uint64_t serial = bbo__error_serial();

    if (!store->cb.unlock)
        return BBO_OK;
    return store_result(store->cb.unlock(store->cb.payload), serial, "unlock");
}

void bbo_store_free(bbo_store *store)
{
    if (!store)
        return;
    if (store->cb.destroy)
        store->cb.destroy(store->cb.payload);
    bbo__free(store);
}
