/*
 * bboauth: error codes and the per-thread last error.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBOAUTH_ERRORS_H
#define BBOAUTH_ERRORS_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * Return codes. Codes are only ever appended, never renumbered.
 */
typedef enum bbo_code {
    BBO_OK = 0,
    BBO_EINVAL = -1,      /* invalid argument (NULL, malformed URL, ...) */
    BBO_ENOMEM = -2,      /* out of memory */
    BBO_ETRANSPORT = -3,  /* network failure: DNS, connect, reset, ... */
    BBO_ETLS = -4,        /* TLS handshake or certificate verification */
    BBO_ETIMEOUT = -5,    /* connect or request timed out */
    BBO_EHTTP = -6,       /* unexpected HTTP status (see http status) */
    BBO_EPROTOCOL = -7,   /* the server's answer makes no sense */
    BBO_EOAUTH = -8,      /* the server answered an OAuth error */
    BBO_ESTATE = -9,      /* callback state missing, repeated or different */
    BBO_EDENIED = -10,    /* the user denied the authorization */
    BBO_EEXPIRED = -11,   /* token expired and cannot be refreshed */
    BBO_ESCOPE = -12,     /* the token lacks a required scope */
    BBO_EIO = -13,        /* file or socket I/O (token store, loopback) */
    BBO_ECRYPTO = -14,    /* crypto failure: wrong key, tampered data */
    BBO_ERATELIMIT = -15, /* HTTP 429: see bbo_error_retry_after */
    BBO_EUSER = -16,      /* a callback (transport, store) aborted */
    BBO_EBUSY = -17,      /* a lock is held elsewhere (or its bounded wait ran out) */
    BBO_ECONFLICT = -18   /* a newer token is already stored: load it instead */
} bbo_code;

/**
 * A static sentence for a code ("out of memory", ...); never NULL.
 */
BBO_EXTERN const char *bbo_strerror(int code);

/**
 * The last error set by a failing bbo_ call on this thread. Never NULL:
 * before any failure, or after bbo_error_clear, its code is BBO_OK.
 * Successful calls leave it alone, so read it right after the call that
 * failed. The storage is per thread and fixed: it works when memory is
 * exhausted, and the pointer stays valid for the thread's lifetime (its
 * contents change with the next failure).
 */
BBO_EXTERN const bbo_error *bbo_error_last(void);

/**
 * Set this thread's error: for transports, stores and other callbacks that
 * fail, so the caller sees their sentence. Returns `code`, so a callback can
 * `return bbo_error_set(BBO_EIO, "keyring locked");`. A NULL message uses
 * bbo_strerror(code). The message is copied (cut to 511 bytes, control
 * characters replaced).
 */
BBO_EXTERN int bbo_error_set(int code, const char *message);

/** Forget the last error of this thread (its code becomes BBO_OK). */
BBO_EXTERN void bbo_error_clear(void);

/** The bbo_code of the error. */
BBO_EXTERN int bbo_error_code(const bbo_error *error);

/** HTTP status involved, or 0 when none. */
BBO_EXTERN int bbo_error_http_status(const bbo_error *error);

/** A sentence for a human; never contains a secret. Never NULL. */
BBO_EXTERN const char *bbo_error_message(const bbo_error *error);

/** OAuth error code from the server ("invalid_grant", ...), or NULL. */
BBO_EXTERN const char *bbo_error_oauth_code(const bbo_error *error);

/** The server's own description (error_description, message), or NULL. */
BBO_EXTERN const char *bbo_error_description(const bbo_error *error);

/** Seconds the server asked us to wait (Retry-After), or -1 if unknown. */
BBO_EXTERN int64_t bbo_error_retry_after(const bbo_error *error);

BBO_END_DECLS

#endif
