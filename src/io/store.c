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
    if (callbacks->version != BBO_STORE_VERSION || !callbacks->load || !callbacks->save ||
        !callbacks->lock != !callbacks->unlock)
        return bbo__error_set(BBO_EINVAL, "bbo_store_new: wrong version, NULL load/save, or "
                                          "lock without unlock");
    if ((store = bbo__calloc(1, sizeof(*store))) == NULL)
        return bbo__error_oom();
    store->cb = *callbacks;
    *out = store;
    return BBO_OK;
}

/* A custom store may fail without setting a message, or with a code that
 * is not ours: make the error usable either way. */
static int store_result(int rc, const char *what)
{
    if (rc == 0)
        return BBO_OK;
    if (rc > 0 || rc < BBO_EUSER) /* as the transport: a positive code is a failure */
        return bbo__error_set(BBO_EIO, "token store %s failed with code %d", what, rc);
    if (bbo__error_current() != rc)
        return bbo__error_set(rc, "token store %s failed: %s", what, bbo_strerror(rc));
    return rc;
}

int bbo_store_load(bbo_store *store, bbo_token **out)
{
    bbo_token *token = NULL;
    int rc;

    if (!store || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_store_load: NULL argument");
    bbo_error_clear();
    if ((rc = store_result(store->cb.load(&token, store->cb.payload), "load")) < 0) {
        bbo_token_free(token);
        return rc;
    }
    *out = token;
    return BBO_OK;
}

int bbo_store_save(bbo_store *store, const bbo_token *token)
{
    if (!store || !token)
        return bbo__error_set(BBO_EINVAL, "bbo_store_save: NULL argument");
    bbo_error_clear();
    return store_result(store->cb.save(token, store->cb.payload), "save");
}

int bbo_store_clear(bbo_store *store)
{
    if (!store)
        return bbo__error_set(BBO_EINVAL, "bbo_store_clear: NULL argument");
    if (!store->cb.clear)
        return bbo__error_set(BBO_EINVAL, "this token store cannot clear");
    bbo_error_clear();
    return store_result(store->cb.clear(store->cb.payload), "clear");
}

bool bbo__store_can_lock(const bbo_store *store)
{
    return store->cb.lock != NULL;
}

int bbo__store_lock(bbo_store *store)
{
    if (!store->cb.lock)
        return BBO_OK;
    bbo_error_clear();
    return store_result(store->cb.lock(store->cb.payload), "lock");
}

int bbo__store_unlock(bbo_store *store)
{
    if (!store->cb.unlock)
        return BBO_OK;
    return store_result(store->cb.unlock(store->cb.payload), "unlock");
}

void bbo_store_free(bbo_store *store)
{
    if (!store)
        return;
    if (store->cb.destroy)
        store->cb.destroy(store->cb.payload);
    bbo__free(store);
}
