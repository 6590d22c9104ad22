/*
 * Error codes and the per-thread last error.
 * SPDX-License-Identifier: MIT
 *
 * The error lives in fixed thread-local storage: setting it never
 * allocates, so BBO_ENOMEM is reported as reliably as anything else, and
 * there is nothing to free when a thread ends.
 */
#include "internal/common.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local bbo_error last_error = { BBO_OK, 0, -1, false, false, "no error", "", "" };

const char *bbo_strerror(int code)
{
    switch (code) {
    case BBO_OK: return "success";
    case BBO_EINVAL: return "invalid argument";
    case BBO_ENOMEM: return "out of memory";
    case BBO_ETRANSPORT: return "network transport failure";
    case BBO_ETLS: return "TLS failure";
    case BBO_ETIMEOUT: return "timed out";
    case BBO_EHTTP: return "unexpected HTTP status";
    case BBO_EPROTOCOL: return "malformed server answer";
    case BBO_EOAUTH: return "OAuth error from the server";
    case BBO_ESTATE: return "authorization state mismatch";
    case BBO_EDENIED: return "authorization denied by the user";
    case BBO_EEXPIRED: return "token expired and cannot be refreshed";
    case BBO_ESCOPE: return "token lacks a required scope";
    case BBO_EIO: return "I/O error";
    case BBO_ECRYPTO: return "cryptographic failure";
    case BBO_ERATELIMIT: return "rate limited by the server";
    case BBO_EUSER: return "aborted by a callback";
    case BBO_EBUSY: return "busy: the lock is held elsewhere";
    case BBO_ECONFLICT: return "a newer token is already stored";
    default: return "unknown error code";
    }
}

/* Length of the valid UTF-8 sequence at `s` (2 to 4 bytes), or 0 when it is
 * not one: a stray byte, an overlong form, a surrogate, past U+10FFFF, cut
 * short by the end of the string, or a C1 control character. */
static size_t utf8_sequence(const unsigned char *s)
{
    size_t n, k;
    uint32_t cp, min;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 1, cp = s[0] & 0x1f, min = 0xa0; /* U+0080..U+009F are C1 controls */
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 2, cp = s[0] & 0x0f, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 3, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

/* Make a message safe to show: control characters become '?' so a hostile
 * body cannot forge terminal output or log lines, and so does every byte
 * that is not valid UTF-8 (FFI callers decode these strings as UTF-8, and
 * truncation may have cut a character in two). */
static void make_printable(char *text)
{
    unsigned char *s = (unsigned char *)text;
    size_t i = 0, n;

    while (s[i]) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            s[i++] = '?';
        } else if (s[i] < 0x80) {
            i++;
        } else if ((n = utf8_sequence(s + i)) != 0) {
            i += n;
        } else {
            s[i++] = '?';
        }
    }
}

/* Copy a server string for display, cut to size and made printable. */
static void copy_printable(char *dst, size_t cap, const char *src)
{
    size_t i;

    for (i = 0; src[i] && i + 1 < cap; i++)
        dst[i] = src[i];
    dst[i] = '\0';
    make_printable(dst);
}

/* Counts errors set on this thread: a caller of a callback (transport,
 * store) tells whether the callback set one without clearing the user's. */
static _Thread_local uint64_t error_serial;

BBO__HOT
uint64_t bbo__error_serial(void)
{
    return error_serial;
}

int bbo__error_set(int code, const char *fmt, ...)
{
    va_list ap;

    error_serial++;
    last_error.code = code;
    last_error.http_status = 0;
    last_error.retry_after = -1;
    last_error.has_oauth_code = false;
    last_error.has_description = false;
    va_start(ap, fmt);
    vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
    va_end(ap);
    make_printable(last_error.message); /* it may quote the server */
    return code;
}

int bbo__error_oom(void)
{
    return bbo__error_set(BBO_ENOMEM, "out of memory");
}

void bbo__error_set_http_status(int status)
{
    last_error.http_status = status;
}

void bbo__error_set_oauth(const char *oauth_code, const char *description)
{
    if ((last_error.has_oauth_code = oauth_code != NULL))
        copy_printable(last_error.oauth_code, sizeof(last_error.oauth_code), oauth_code);
    if ((last_error.has_description = description != NULL))
        copy_printable(last_error.description, sizeof(last_error.description), description);
}

void bbo__error_set_retry_after(int64_t seconds)
{
    last_error.retry_after = seconds;
}

void bbo__error_prefix(const char *what)
{
    char *msg = last_error.message;
    size_t shift = strlen(what) + 2;

    if (shift >= BBO__ERROR_MESSAGE_MAX)
        return;
    memmove(msg + shift, msg, BBO__ERROR_MESSAGE_MAX - shift - 1);
    msg[BBO__ERROR_MESSAGE_MAX - 1] = '\0';
    memcpy(msg, what, shift - 2);
    msg[shift - 2] = ':';
    msg[shift - 1] = ' ';
    make_printable(msg); /* the shift may have cut the last character */
}

int bbo__error_current(void)
{
    return last_error.code;
}

BBO__HOT
const bbo_error *bbo_error_last(void)
{
    return &last_error;
}

void bbo_error_clear(void)
{
    bbo__error_set(BBO_OK, "no error");
}

int bbo_error_code(const bbo_error *e)
{
    return e ? e->code : BBO_EINVAL;
}

int bbo_error_http_status(const bbo_error *e)
{
    return e ? e->http_status : 0;
}

const char *bbo_error_message(const bbo_error *e)
{
    return e ? e->message : "NULL error";
}

const char *bbo_error_oauth_code(const bbo_error *e)
{
    return e && e->has_oauth_code ? e->oauth_code : NULL;
}

const char *bbo_error_description(const bbo_error *e)
{
    return e && e->has_description ? e->description : NULL;
}

int64_t bbo_error_retry_after(const bbo_error *e)
{
    return e ? e->retry_after : -1;
}

/* The fields and the used part of each text (always NUL-terminated): the
 * whole structure is over 1 KB, and every session call that succeeds keeps
 * and restores the caller's error (a few cache lines this way). */
BBO__HOT
static void copy_used(bbo_error *to, const bbo_error *from)
{
    to->code = from->code;
    to->http_status = from->http_status;
    to->retry_after = from->retry_after;
    to->has_oauth_code = from->has_oauth_code;
    to->has_description = from->has_description;
    memcpy(to->message, from->message, strlen(from->message) + 1);
    if (from->has_oauth_code)
        memcpy(to->oauth_code, from->oauth_code, strlen(from->oauth_code) + 1);
    if (from->has_description)
        memcpy(to->description, from->description, strlen(from->description) + 1);
}

BBO__HOT
void bbo__error_keep(bbo_error *copy)
{
    copy_used(copy, &last_error);
}

BBO__HOT
int bbo__error_restore(const bbo_error *copy)
{
    copy_used(&last_error, copy);
    return last_error.code;
}

int bbo__error_set_code(int code)
{
    last_error.code = code;
    return code;
}

int bbo_error_set(int code, const char *message)
{
    return bbo__error_set(code, "%s", message ? message : bbo_strerror(code));
}
