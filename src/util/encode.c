/*
 * Percent, form and base64 encodings; query-string parsing.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/encode.h"

static const char hex_digits[] = "0123456789ABCDEF";

/* RFC 3986 unreserved: ALPHA DIGIT - . _ ~ */
#define U4(x) x, x, x, x
#define U16(x) U4(x), U4(x), U4(x), U4(x)
static const unsigned char unreserved[256] = {
    U16(0), U16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, /* 0x20: - . */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30: 0-9 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40: A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, /* 0x50: P-Z _ */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60: a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, /* 0x70: p-z ~ */
    U16(0), U16(0), U16(0), U16(0), U16(0), U16(0), U16(0), U16(0),
};

bool bbo__is_unreserved(unsigned char c)
{
    return unreserved[c];
}

BBO__HOT
int bbo__url_encode(bbo_buf *out, const char *s, size_t len, bool form)
{
    size_t i = 0, run;
    int error;
    char *p;

    /* worst case triples the length: grow once instead of per byte */
    if (len > SIZE_MAX / 3)
        return bbo__error_oom();
    if ((error = bbo__buf_grow(out, len * 3)) < 0)
        return error;
    p = out->ptr + out->size;
    while (i < len) {
        /* runs of unreserved characters go as they are, in one copy */
        for (run = i; run < len && unreserved[(unsigned char)s[run]]; run++)
            ;
        memcpy(p, s + i, run - i);
        p += run - i;
        if ((i = run) >= len)
            break;
        if (form && s[i] == ' ') {
            *p++ = '+';
        } else {
            *p++ = '%';
            *p++ = hex_digits[(unsigned char)s[i] >> 4];
            *p++ = hex_digits[(unsigned char)s[i] & 15];
        }
        i++;
    }
    out->size = (size_t)(p - out->ptr);
    out->ptr[out->size] = '\0';
    return BBO_OK;
}

int bbo__form_append(bbo_buf *out, const char *name, const char *value)
{
    int error;

    if ((out->size && (error = bbo__buf_putc(out, '&')) < 0) ||
        (error = bbo__url_encode(out, name, strlen(name), true)) < 0 ||
        (error = bbo__buf_putc(out, '=')) < 0 ||
        (error = bbo__url_encode(out, value, strlen(value), true)) < 0)
        return error;
    return BBO_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int bbo__url_decode(char **out, const char *s, size_t len, bool form)
{
    char *dst;
    size_t i, n = 0;

    if ((dst = bbo__malloc(len + 1)) == NULL)
        return bbo__error_oom();
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= len || (hi = hex_value(s[i + 1])) < 0 ||
                (lo = hex_value(s[i + 2])) < 0)
                goto bad;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                goto bad;
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        }
        dst[n++] = c;
    }
    dst[n] = '\0';
    *out = dst;
    return BBO_OK;
bad:
    bbo__free(dst);
    return bbo__error_set(BBO_EPROTOCOL, "malformed percent-encoding in URL");
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int bbo__base64_encode(bbo_buf *out, const unsigned char *data, size_t len, bool url)
{
    const char *alphabet = url ? b64_url : b64_std;
    size_t i;
    int error;
    char *p;

    if (len > (SIZE_MAX / 4) * 3 - 3)
        return bbo__error_oom();
    if ((error = bbo__buf_grow(out, (len + 2) / 3 * 4)) < 0)
        return error;
    p = out->ptr + out->size;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];

        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);

        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        if (i + 1 < len)
            *p++ = alphabet[v >> 6 & 63];
        else if (!url)
            *p++ = '=';
        if (!url)
            *p++ = '=';
    }
    out->size = (size_t)(p - out->ptr);
    *p = '\0';
    return BBO_OK;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int bbo__base64url_decode(unsigned char **out, size_t *out_len, const char *s, size_t len)
{
    unsigned char *dst;
    uint32_t acc = 0;
    size_t i, n = 0;
    int bits = 0;

    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return bbo__error_set(BBO_EINVAL, "malformed base64url text");
    if ((dst = bbo__malloc(len / 4 * 3 + 3)) == NULL)
        return bbo__error_oom();
    for (i = 0; i < len; i++) {
        int v = b64url_value(s[i]);

        if (v < 0) {
            bbo__free(dst);
            return bbo__error_set(BBO_EINVAL, "malformed base64url text");
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out = dst;
    *out_len = n;
    return BBO_OK;
}

void bbo__params_dispose(bbo_params *params)
{
    size_t i;

    for (i = 0; i < params->count; i++) {
        bbo__free(params->items[i].name);
        bbo__free(params->items[i].value);
    }
    bbo__free(params->items);
    params->items = NULL;
    params->count = 0;
}

int bbo__params_parse(bbo_params *out, const char *query, size_t len)
{
    bbo_params params = { NULL, 0 };
    size_t start = 0, pieces = 1, i;
    int error = BBO_OK;

    for (i = 0; i < len; i++)
        pieces += query[i] == '&';
    if ((params.items = bbo__calloc(pieces, sizeof(*params.items))) == NULL)
        return bbo__error_oom();
    while (start < len) {
        const char *piece = query + start, *eq;
        size_t plen = 0;

        while (start + plen < len && piece[plen] != '&')
            plen++;
        start += plen + 1;
        if (plen == 0)
            continue;
        eq = memchr(piece, '=', plen);
        if ((error = bbo__url_decode(&params.items[params.count].name, piece,
                                     eq ? (size_t)(eq - piece) : plen, true)) < 0)
            goto done;
        if ((error = bbo__url_decode(&params.items[params.count].value, eq ? eq + 1 : "",
                                     eq ? plen - (size_t)(eq - piece) - 1 : 0, true)) < 0) {
            bbo__free(params.items[params.count].name);
            goto done;
        }
        params.count++;
    }
    *out = params;
    params.items = NULL;
    params.count = 0;
done:
    bbo__params_dispose(&params);
    return error;
}

const char *bbo__params_get(const bbo_params *params, const char *name, size_t *count_out)
{
    const char *value = NULL;
    size_t i, count = 0;

    for (i = 0; i < params->count; i++) {
        if (strcmp(params->items[i].name, name) == 0) {
            if (!count)
                value = params->items[i].value;
            count++;
        }
    }
    if (count_out)
        *count_out = count;
    return value;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

BBO__HOT
int bbo__strncasecmp(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int ca, cb;

        if (a[i] == b[i]) { /* the common case: no lowering */
            if (!a[i])
                return 0;
            continue;
        }
        ca = ascii_lower((unsigned char)a[i]);
        cb = ascii_lower((unsigned char)b[i]);
        if (ca != cb)
            return ca - cb;
    }
    return 0;
}

int bbo__strcasecmp(const char *a, const char *b)
{
    return bbo__strncasecmp(a, b, SIZE_MAX);
}
