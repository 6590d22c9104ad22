/*
 * Setting the per-thread last error. Every failing public function sets it
 * through one of these, which return the code so a caller can write
 * `return bbo__error_set(BBO_EINVAL, "...")`.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_ERROR_H
#define BBO_INTERNAL_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__)
#  define BBO__FMT(f, a) __attribute__((format(printf, f, a)))
/* Failing is the rare path: the compiler keeps the code that leads to an
 * error apart from the code that succeeds, so a refresh's common path
 * takes fewer instruction cache lines (it runs between libcurl's and
 * OpenSSL's own work, which need them too). */
#  define BBO__COLD __attribute__((cold))
/* A step most calls skip (a setup done once, a cache miss): kept out of
 * the function that calls it for the same reason. */
#  define BBO__RARE __attribute__((noinline))
/* A function of the common path of a refresh or an API call: the compiler
 * puts them side by side (.text.hot), so that path spans fewer pages and
 * cache lines, which libcurl, OpenSSL and the kernel evict between two
 * calls. */
#  define BBO__HOT __attribute__((hot))
#else
#  define BBO__HOT
#  define BBO__RARE
#  define BBO__FMT(f, a)
#  define BBO__COLD
#endif

#define BBO__ERROR_MESSAGE_MAX 512
#define BBO__ERROR_OAUTH_CODE_MAX 64
#define BBO__ERROR_DESCRIPTION_MAX 512

/* Visible here so a caller can keep a copy without allocating (a session
 * hands one refresh's error to every thread that waited for it). */
struct bbo_error {
    int code;
    int http_status;
    int64_t retry_after;
    bool has_oauth_code;
    bool has_description;
    char message[BBO__ERROR_MESSAGE_MAX];
    char oauth_code[BBO__ERROR_OAUTH_CODE_MAX];
    char description[BBO__ERROR_DESCRIPTION_MAX];
};

/* Sets code and message; clears status, OAuth fields and retry-after. */
BBO__COLD int bbo__error_set(int code, const char *fmt, ...) BBO__FMT(2, 3);

/* The out-of-memory error, which needs no memory to report. */
BBO__COLD int bbo__error_oom(void);

/* Adds details to the error just set (call after bbo__error_set). */
void bbo__error_set_http_status(int status);
void bbo__error_set_oauth(const char *oauth_code, const char *description);
void bbo__error_set_retry_after(int64_t seconds);

/* Prefix the current message with "what: " (context for a lower failure). */
void bbo__error_prefix(const char *what);

/* Change the code of the error just set, keeping the rest; returns it. */
int bbo__error_set_code(int code);

/* Increases with every error set on this thread (see errors.c). */
uint64_t bbo__error_serial(void);

/* The current code of this thread's error (BBO_OK if none). */
int bbo__error_current(void);

/* Copy this thread's error into `copy` (only what is in use: the texts up
 * to their ends), and set this thread's error from a copy: a call that
 * succeeds leaves the caller's error as it was, and a session hands one
 * refresh's error to every thread that waited for it. bbo__error_restore
 * returns the code. */
void bbo__error_keep(struct bbo_error *copy);
int bbo__error_restore(const struct bbo_error *copy);

#endif
