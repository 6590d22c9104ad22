/*
 * bbo-webapp: text buffers, escaping, HMAC and randomness.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 */
#include "webapp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

void wipe_free(char *s)
{
    if (s) {
        wipe(s, strlen(s));
        free(s);
    }
}

static int wbuf_grow(wbuf *b, size_t more)
{
    size_t cap;
    char *data;

    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    /* copy and wipe rather than realloc: bodies can hold tokens */
    if ((data = malloc(cap)) == NULL) {
        b->failed = 1;
        return -1;
    }
    if (b->data) {
        memcpy(data, b->data, b->len);
        wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = data;
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

void wbuf_addn(wbuf *b, const char *s, size_t n)
{
    if (wbuf_grow(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void wbuf_add(wbuf *b, const char *s)
{
    wbuf_addn(b, s, strlen(s));
}

void wbuf_printf(wbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || wbuf_grow(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void wbuf_html(wbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': wbuf_add(b, "&amp;"); break;
        case '<': wbuf_add(b, "&lt;"); break;
        case '>': wbuf_add(b, "&gt;"); break;
        case '"': wbuf_add(b, "&quot;"); break;
        case '\'': wbuf_add(b, "&#39;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                wbuf_addn(b, s, 1);
        }
    }
}

void wbuf_url(wbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char esc[3] = {'%', 0, 0};

    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            wbuf_addn(b, s, 1);
        } else {
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            wbuf_addn(b, esc, 3);
        }
    }
}

void wbuf_json(wbuf *b, const char *s)
{
    wbuf_add(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            wbuf_addn(b, "\\", 1);
            wbuf_addn(b, s, 1);
        } else if (c == '\n') {
            wbuf_add(b, "\\n");
        } else if (c < 0x20) {
            wbuf_printf(b, "\\u%04x", c);
        } else {
            wbuf_addn(b, s, 1);
        }
    }
    wbuf_add(b, "\"");
}

char *wbuf_take(wbuf *b)
{
    char *s;

    if (wbuf_grow(b, 0) < 0) {
        wbuf_free(b);
        return NULL;
    }
    s = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void wbuf_free(wbuf *b)
{
    if (b->data) {
        wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

int random_bytes(unsigned char *out, size_t len)
{
    while (len) {
        ssize_t n = getrandom(out, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

void mac3(const unsigned char key[WEBAPP_KEY_LEN], const char *label, const char *a,
          const char *b, unsigned char out[32])
{
    mbedtls_md_context_t md;

    mbedtls_md_init(&md);
    /* with SHA-256 and a context set up once, these cannot fail */
    mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    mbedtls_md_hmac_starts(&md, key, WEBAPP_KEY_LEN);
    mbedtls_md_hmac_update(&md, (const unsigned char *)label, strlen(label) + 1);
    mbedtls_md_hmac_update(&md, (const unsigned char *)a, strlen(a) + 1);
    if (b)
        mbedtls_md_hmac_update(&md, (const unsigned char *)b, strlen(b));
    mbedtls_md_hmac_finish(&md, out);
    mbedtls_md_free(&md);
}

void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *out++ = alphabet[in[i] >> 2];
        *out++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *out++ = alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        *out++ = alphabet[in[i + 2] & 63];
    }
    if (len - i == 1) {
        *out++ = alphabet[in[i] >> 2];
        *out++ = alphabet[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        *out++ = alphabet[in[i] >> 2];
        *out++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *out++ = alphabet[(in[i + 1] & 15) << 2];
    }
    *out = '\0';
}

int equal_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char diff = la != lb;

    for (i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
