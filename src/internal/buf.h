/*
 * Growable byte buffers, always NUL-terminated, wiped when they grow or
 * are disposed of (they hold form bodies and tokens).
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_BUF_H
#define BBO_INTERNAL_BUF_H

#include <stddef.h>

typedef struct bbo_buf {
    char *ptr;
    size_t size;   /* bytes used, not counting the NUL */
    size_t asize;  /* bytes allocated */
} bbo_buf;

#define BBO_BUF_INIT { NULL, 0, 0 }

/* Each returns 0 or BBO_ENOMEM (with the error set). */
int bbo__buf_grow(bbo_buf *buf, size_t extra);
int bbo__buf_put(bbo_buf *buf, const char *data, size_t len);
int bbo__buf_puts(bbo_buf *buf, const char *s);
int bbo__buf_putc(bbo_buf *buf, char c);

/* Hand the contents over (an empty buffer gives ""); the buffer is reset.
 * Returns NULL (error set) only when an empty buffer cannot get its "". */
char *bbo__buf_detach(bbo_buf *buf);

/* Forget the contents but keep the memory (wiped). */
void bbo__buf_clear(bbo_buf *buf);

/* Wipe and free. */
void bbo__buf_dispose(bbo_buf *buf);

#endif
