/*
 * bboauth: token stores, where a session keeps its token between runs.
 * SPDX-License-Identifier: MIT
 *
 * A store is a versioned table of callbacks (like the transport), so tokens
 * can live in an application's database or keyring; bboauth has a file
 * store built in. With rotating refresh tokens the store is the source of
 * truth: a session saves every new token before handing it out, and, when
 * the store can lock, re-reads it under the lock before refreshing so that
 * processes sharing it never spend the same refresh token twice.
 *
 * Thread rules: a store belongs to the session it was given to, which
 * calls it from one thread at a time, while holding its lock or its
 * refresh in flight: a store callback must not call that session. A
 * callback returns 0 on success or a negative bbo_code (BBO_EIO for I/O;
 * any other value counts as BBO_EIO), with a sentence through
 * bbo_error_set when it has one to give.
 */
#ifndef BBOAUTH_STORE_H
#define BBOAUTH_STORE_H

#include "common.h"

BBO_BEGIN_DECLS

/** Version of the bbo_store_callbacks table this header describes.
 * Version 1 tables (without try_lock) are still accepted. */
#define BBO_STORE_VERSION 2

typedef struct bbo_store_callbacks {
    unsigned int version; /* BBO_STORE_VERSION */
    /* Load the stored token: 0 with *out NULL when none is stored. */
    int (*load)(bbo_token **out, void *payload);
    /* Save atomically: after a crash, the old token or the new one, whole. */
    int (*save)(const bbo_token *token, void *payload);
    /* Forget the stored token (logout). May be NULL: then clearing fails. */
    int (*clear)(void *payload);
    /* Optional (both or neither): exclusion across processes, held around
     * "load, refresh if still due, save". */
    int (*lock)(void *payload);
    int (*unlock)(void *payload);
    /* Optional: release the payload; called once by bbo_store_free. */
    void (*destroy)(void *payload);
    void *payload;
    /* Version 2, optional (only with lock): take the lock without waiting:
     * 0 taken, BBO_EBUSY held elsewhere. A session whose token is due but
     * still valid uses it and keeps serving that token while another
     * worker refreshes. `lock` itself may wait a bounded time and then
     * fail with BBO_EBUSY. A `save` may fail with BBO_ECONFLICT when the
     * store already holds a token obtained later: the session then loads
     * and adopts that one. */
    int (*try_lock)(void *payload);
} bbo_store_callbacks;

/**
 * Wrap a callback table (copied) in a store object.
 * @return 0, or BBO_EINVAL (wrong version, NULL load/save, lock without
 *         unlock), BBO_ENOMEM; on failure `destroy` is not called
 */
BBO_EXTERN int bbo_store_new(bbo_store **out, const bbo_store_callbacks *callbacks);

/**
 * The built-in file store.
 *
 * The file holds the token JSON (bbo_token_to_json), or with a key, an
 * AES-256-GCM encryption of it: magic "BBOENC1", a fresh 12-byte nonce per
 * save, the ciphertext and a 16-byte tag; magic and nonce are
 * authenticated. Saves are atomic (temporary file in the same directory,
 * fsync, rename, fsync of the directory) and create the file with mode
 * 0600. A file readable or writable by group or others, or owned by
 * another user, is refused. `path`.lock carries an advisory fcntl lock
 * (open-file-description locks where available, so threads and processes
 * exclude each other alike).
 *
 * @param path  the token file; its directory must exist
 * @param key   32 bytes to encrypt with (copied, wiped on free), or NULL
 * @return 0, or BBO_EINVAL, BBO_ENOMEM; nothing is touched on disk yet
 */
BBO_EXTERN int bbo_file_store_new(bbo_store **out, const char *path, const unsigned char *key);

/**
 * Load the stored token.
 * @param out  receives the token, or NULL when nothing is stored
 * @return 0, or BBO_EIO (unreadable, unsafe permissions), BBO_ECRYPTO
 *         (wrong key, tampered file, encrypted file without a key or plain
 *         file with one), BBO_EPROTOCOL (not a token), BBO_ENOMEM, or what
 *         a custom store returns
 */
BBO_EXTERN int bbo_store_load(bbo_store *store, bbo_token **out);

/**
 * Save a token (atomically for the file store).
 * @return 0, or BBO_EIO, BBO_ECRYPTO, BBO_ENOMEM, BBO_EINVAL
 */
BBO_EXTERN int bbo_store_save(bbo_store *store, const bbo_token *token);

/**
 * Forget the stored token (the file store deletes the file). A store that
 * locks is cleared under its lock (waiting for it as a refresh does), so a
 * refresh in flight in another process or on another host, which saves
 * under that lock, cannot put its token back after the clear; the next
 * session to lock finds the store empty and takes it as a logout.
 *
 * To log out a session, call bbo_session_logout instead: it also forgets
 * the token in memory, waits for this session's refresh in flight, and
 * never sends that refresh token again. Do not call bbo_store_clear on a
 * store handed to a session, nor from a store callback (the lock is not
 * reentrant).
 *
 * @return 0, or BBO_EIO, BBO_EINVAL (the store cannot clear), the lock's
 *         errors (BBO_EBUSY: the lock stayed held elsewhere; nothing was
 *         cleared), the unlock's errors (the token was cleared)
 */
BBO_EXTERN int bbo_store_clear(bbo_store *store);

/** Free a store (calls the table's destroy). NULL is a no-op. */
BBO_EXTERN void bbo_store_free(bbo_store *store);

BBO_END_DECLS

#endif
