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
 * AES-256-GCM encryption of it: magic "BBOENC2", an 8-byte generation, a
 * fresh 12-byte nonce per save, the ciphertext and a 16-byte tag. Magic,
 * generation, nonce and the store id (bbo_file_store_new_ex; here the
 * canonical absolute path of the file) are authenticated: a file copied
 * from another store with the same key, or moved to another path, does
 * not load (BBO_ECRYPTO). Files of bboauth 0.1 ("BBOENC1", bound to
 * nothing) are refused: log in again.
 *
 * Rollback: every keyed save writes a generation greater than any this
 * store object loaded or saved, than the lock file records and than the
 * file on disk claims (else wall-clock microseconds); a save under the
 * lock records it in `path`.lock (HMAC-authenticated). A load refuses a
 * generation older than one the object saw or the lock file records
 * (BBO_ECRYPTO): an older copy put back is refused by running and new
 * processes alike, unless the lock file was put back or removed too. A
 * deleted file cannot be told from a logout. Without a key nothing is
 * authenticated.
 *
 * Saves are atomic (temporary file in the same directory, fsync, rename,
 * fsync of the directory) and create the file with mode 0600. Refused
 * with BBO_EIO: a token or lock file that is not a regular file (a FIFO or
 * device fails at once, never blocks), is a symbolic link, is readable or
 * writable by group or others, or belongs to another user; a directory
 * that belongs to another user (but root), or is writable by group or
 * others without the sticky bit. `path`.lock carries an advisory fcntl
 * lock (open-file-description locks where available, so threads and
 * processes exclude each other alike); the store has try_lock.
 *
 * @param path  the token file; its directory must exist
 * @param key   32 bytes to encrypt with (copied, wiped on free), or NULL
 * @return 0, or BBO_EINVAL, BBO_ENOMEM; nothing is created on disk yet
 */
BBO_EXTERN int bbo_file_store_new(bbo_store **out, const char *path, const unsigned char *key);

/**
 * The built-in file store, with the identity its encrypted files are bound
 * to: files written under one `store_id` load only under that id (and
 * key), wherever the file is. Give the same id to stores that must share
 * one file under different paths, or to keep a file readable after moving
 * it. With `store_id` NULL, as bbo_file_store_new: the canonical absolute
 * path of `path` (its directory resolved when the store is made, or at
 * first use if it does not exist yet). Ignored without a key.
 *
 * @param store_id  a non-empty string (copied), or NULL
 * @return 0, or BBO_EINVAL (also for an empty `store_id`), BBO_ENOMEM
 */
BBO_EXTERN int bbo_file_store_new_ex(bbo_store **out, const char *path, const unsigned char *key,
                                     const char *store_id);

/**
 * Load the stored token.
 * @param out  receives the token, or NULL when nothing is stored
 * @return 0, or BBO_EIO (unreadable, unsafe permissions, not a regular
 *         file), BBO_ECRYPTO (wrong key, tampered file, a file of another
 *         store, rolled back, encrypted file without a key or plain file
 *         with one), BBO_EPROTOCOL (not a token), BBO_ENOMEM, or what a
 *         custom store returns
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
