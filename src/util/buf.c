/*
 * Growable byte buffers.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"

BBO__HOT
int bbo__buf_grow(bbo_buf *buf, size_t extra)
{
    size_t need, asize;
    char *fresh;

    if (extra > SIZE_MAX - buf->size - 1)
        return bbo__error_oom();
    need = buf->size + extra + 1;
    if (need <= buf->asize)
        return BBO_OK;
    asize = buf->asize ? buf->asize : 64;
    while (asize < need)
        asize = asize > SIZE_MAX / 2 ? need : asize * 2;
    /* bbo__realloc copies and wipes the old block */
    if ((fresh = bbo__realloc(buf->ptr, asize)) == NULL)
        return bbo__error_oom();
    if (!buf->ptr)
        fresh[0] = '\0';
    buf->ptr = fresh;
    buf->asize = asize;
    return BBO_OK;
}

BBO__HOT
int bbo__buf_put(bbo_buf *buf, const char *data, size_t len)
{
    int error;

    if ((error = bbo__buf_grow(buf, len)) < 0)
        return error;
    if (len)
        memcpy(buf->ptr + buf->size, data, len);
    buf->size += len;
    buf->ptr[buf->size] = '\0';
    return BBO_OK;
}

BBO__HOT
int bbo__buf_puts(bbo_buf *buf, const char *s)
{
    return bbo__buf_put(buf, s, strlen(s));
}

int bbo__buf_putc(bbo_buf *buf, char c)
{
    return bbo__buf_put(buf, &c, 1);
}

char *bbo__buf_detach(bbo_buf *buf)
{
    char *out = buf->ptr;

    if (!out && (out = bbo__strdup("")) == NULL) {
        bbo__error_oom();
        return NULL;
    }
    buf->ptr = NULL;
    buf->size = buf->asize = 0;
    return out;
}

void bbo__buf_clear(bbo_buf *buf)
{
    if (buf->ptr) {
        bbo__wipe(buf->ptr, buf->asize);
        buf->ptr[0] = '\0';
    }
    buf->size = 0;
}

BBO__HOT
void bbo__buf_dispose(bbo_buf *buf)
{
    bbo__free(buf->ptr);
    buf->ptr = NULL;
    buf->size = buf->asize = 0;
}
