/*
 * Tokens: parsing answers and saved tokens, serializing, expiry.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/encode.h"
#include "internal/json.h"
#include "internal/token.h"

#include <inttypes.h>
#include <stdio.h>

/* Bitbucket gives 7200 s; anything beyond a year is a broken server. */
#define EXPIRES_IN_MAX (366 * 24 * 3600)

struct bbo_token {
    char *access;
    size_t access_len;
    char *refresh;     /* NULL when none */
    char *type;        /* lowercase */
    int64_t expires_at;
    int64_t obtained_at;
    bbo_scopes *scopes;
    /* holders of this token (bbo__token_share): what it holds never
     * changes once shared, and the last bbo_token_free frees it */
    unsigned refs;
};

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>

/* 0xff in each byte of x that lies in [lo, hi] */
static inline __attribute__((always_inline)) __m128i in_range(__m128i x, char lo, char hi)
{
    return _mm_cmpeq_epi8(_mm_subs_epu8(_mm_sub_epi8(x, _mm_set1_epi8(lo)),
                                        _mm_set1_epi8((char)(hi - lo))),
                          _mm_setzero_si128());
}

static inline __attribute__((always_inline)) __m128i is_byte(__m128i x, char c)
{
    return _mm_cmpeq_epi8(x, _mm_set1_epi8(c));
}

/* 16 bytes that are all bearer characters: 0xffff */
static inline __attribute__((always_inline)) int bearer_mask(__m128i x)
{
    /* x | 0x20 folds A-Z onto a-z and nothing else onto a-z */
    __m128i ok = _mm_or_si128(in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'),
                              in_range(x, '-', ':'));

    ok = _mm_or_si128(ok, _mm_or_si128(_mm_or_si128(is_byte(x, '+'), is_byte(x, '=')),
                                       _mm_or_si128(is_byte(x, '_'), is_byte(x, '~'))));
    return _mm_movemask_epi8(ok);
}

/* Bytes of `text` checked 32 at a time; how many from the start are known good. */
static size_t bearer_prefix(const char *text, size_t len)
{
    size_t i = 0;

    for (; len - i >= 32; i += 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(text + i + 16));

        if ((bearer_mask(a) & bearer_mask(b)) != 0xffff)
            break;
    }
    return i;
}
#else
static size_t bearer_prefix(const char *text, size_t len)
{
    (void)text;
    (void)len;
    return 0;
}
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define BEARER_AVX2 1

/*
 * The same as bearer_prefix, 64 bytes a step, on CPUs with AVX2: each byte
 * is classified by two table lookups, one by its low and one by its high
 * nibble. A high nibble stands for a row of the ASCII table (2: + - . /,
 * 3: digits : =, 4 and 6: letters from A or a, 5: letters to Z and _,
 * 7: letters to z and ~; any other row has no bearer character); each row
 * has a bit, and the low nibble's entry has the bits of the rows where that
 * column is a bearer character. A byte is one when the two entries share a
 * bit.
 */
/* 32 bytes at `p` that are all bearer characters (see below). */
__attribute__((target("avx2"))) static inline bool bearer_all32_avx2(const char *p, __m256i by_low,
                                                                     __m256i by_high)
{
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i c = _mm256_and_si256(
        _mm256_shuffle_epi8(by_low, _mm256_and_si256(x, nibble)),
        _mm256_shuffle_epi8(by_high, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble)));
    __m256i bad = _mm256_cmpeq_epi8(c, _mm256_setzero_si256());

    return _mm256_testz_si256(bad, bad);
}

BBO__HOT
__attribute__((target("avx2"))) static size_t bearer_prefix_avx2(const char *text, size_t len)
{
    const __m256i by_low = _mm256_setr_epi8(
        0x1a, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x05, 0x04, 0x07,
        0x15, 0x0d, 0x1a, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x1e, 0x05,
        0x04, 0x07, 0x15, 0x0d);
    const __m256i by_high = _mm256_setr_epi8(
        0, 0, 0x01, 0x02, 0x04, 0x08, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0x01, 0x02, 0x04, 0x08, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    size_t i = 0;

    for (; len - i >= 64; i += 64) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(text + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(text + i + 32));
        __m256i cx = _mm256_and_si256(
            _mm256_shuffle_epi8(by_low, _mm256_and_si256(x, nibble)),
            _mm256_shuffle_epi8(by_high, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble)));
        __m256i cy = _mm256_and_si256(
            _mm256_shuffle_epi8(by_low, _mm256_and_si256(y, nibble)),
            _mm256_shuffle_epi8(by_high, _mm256_and_si256(_mm256_srli_epi16(y, 4), nibble)));
        __m256i bad = _mm256_or_si256(_mm256_cmpeq_epi8(cx, zero), _mm256_cmpeq_epi8(cy, zero));

        if (!_mm256_testz_si256(bad, bad))
            return i;
    }
    /* the last bytes: a step of 32, then the 32 that end the text
     * (overlapping bytes already known to be good), not one at a time */
    if (len - i > 32) {
        if (!bearer_all32_avx2(text + i, by_low, by_high))
            return i;
        i += 32;
    }
    if (i < len && len >= 32 && bearer_all32_avx2(text + len - 32, by_low, by_high))
        return len;
    return i;
}
#endif

/* RFC 6750 b64token characters: ALPHA DIGIT - . _ ~ + / = (and ':'). */
#define B4(x) x, x, x, x
#define B16(x) B4(x), B4(x), B4(x), B4(x)
static const unsigned char bearer_char[256] = {
    B16(0), B16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, /* 0x20: + - . / */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, /* 0x30: 0-9 : = */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40: A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, /* 0x50: P-Z _ */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60: a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, /* 0x70: p-z ~ */
    B16(0), B16(0), B16(0), B16(0), B16(0), B16(0), B16(0), B16(0),
};

BBO__HOT
bool bbo__token_text_is_valid(const char *text, size_t len)
{
    size_t i;

    if (len == 0)
        return false;
#ifdef BEARER_AVX2
    i = __builtin_cpu_supports("avx2") ? bearer_prefix_avx2(text, len) : bearer_prefix(text, len);
#else
    i = bearer_prefix(text, len);
#endif
    for (; i < len; i++)
        if (!bearer_char[(unsigned char)text[i]])
            return false;
    return true;
}

/* The type of (nearly) every token: shared, never written nor freed. */
static char bearer_type[] = "bearer";

static int token_alloc(bbo_token **out, const char *access, size_t access_len,
                       const char *refresh, const char *type, int64_t expires_at,
                       int64_t obtained_at, const bbo_scopes *scopes)
{
    bbo_token *tok;
    size_t i;
    int error;

    if ((tok = bbo__calloc(1, sizeof(*tok))) == NULL)
        return bbo__error_oom();
    tok->refs = 1;
    tok->expires_at = expires_at;
    tok->obtained_at = obtained_at;
    tok->access_len = access_len;
    if (!type || strcmp(type, bearer_type) == 0)
        tok->type = bearer_type;
    if ((tok->access = bbo__strndup(access, access_len)) == NULL ||
        (refresh && (tok->refresh = bbo__strdup(refresh)) == NULL) ||
        (!tok->type && (tok->type = bbo__strdup(type)) == NULL)) {
        bbo_token_free(tok);
        return bbo__error_oom();
    }
    for (i = 0; tok->type != bearer_type && tok->type[i]; i++)
        if (tok->type[i] >= 'A' && tok->type[i] <= 'Z')
            tok->type[i] = (char)(tok->type[i] + 32);
    if ((error = scopes ? bbo_scopes_dup(&tok->scopes, scopes) : bbo_scopes_new(&tok->scopes)) < 0) {
        bbo_token_free(tok);
        return error;
    }
    *out = tok;
    return BBO_OK;
}

/* A bearer token made of parsed parts, taking them over (no second copy of
 * the secrets): `*access`, `*refresh` and `*scopes` are set to NULL. */
static int token_adopt(bbo_token **out, char **access, size_t access_len, char **refresh,
                       int64_t expires_at, int64_t obtained_at, bbo_scopes **scopes)
{
    bbo_token *tok;

    if ((tok = bbo__calloc(1, sizeof(*tok))) == NULL)
        return bbo__error_oom();
    tok->refs = 1;
    tok->type = bearer_type;
    tok->expires_at = expires_at;
    tok->obtained_at = obtained_at;
    tok->access = *access;
    tok->access_len = access_len; /* checked: no NUL inside */
    *access = NULL;
    if (refresh) {
        tok->refresh = *refresh;
        *refresh = NULL;
    }
    tok->scopes = *scopes;
    *scopes = NULL;
    *out = tok;
    return BBO_OK;
}

int bbo__token_new_at(bbo_token **out, const char *access, const char *refresh,
                      const char *type, int64_t expires_at, const bbo_scopes *scopes,
                      int64_t now)
{
    if (!out || !access)
        return bbo__error_set(BBO_EINVAL, "bbo_token_new: NULL argument");
    if (!bbo__token_text_is_valid(access, strlen(access)) ||
        (refresh && !bbo__token_text_is_valid(refresh, strlen(refresh))))
        return bbo__error_set(BBO_EINVAL, "bbo_token_new: token has characters not allowed "
                                          "in a bearer token");
    if (type && bbo__strcasecmp(type, "bearer") != 0)
        return bbo__error_set(BBO_EINVAL, "bbo_token_new: only bearer tokens are supported");
    if (expires_at < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_token_new: negative expires_at");
    return token_alloc(out, access, strlen(access), refresh, type, expires_at, now, scopes);
}

int bbo_token_dup(bbo_token **out, const bbo_token *t)
{
    if (!out || !t)
        return bbo__error_set(BBO_EINVAL, "bbo_token_dup: NULL argument");
    return token_alloc(out, t->access, t->access_len, t->refresh, t->type, t->expires_at,
                       t->obtained_at, t->scopes);
}

/* A non-negative integer literal (digits only, as JSON number or string). */
static bool parse_seconds(const bbo_json_field *f, const char *view, int64_t *out)
{
    int64_t value = 0;
    size_t i;

    if ((f->kind != BBO_JSON_NUMBER && f->kind != BBO_JSON_STRING) || f->length == 0 ||
        f->length > 15)
        return false;
    for (i = 0; i < f->length; i++) {
        if (view[i] < '0' || view[i] > '9')
            return false;
        value = value * 10 + (view[i] - '0');
    }
    *out = value;
    return true;
}

/* A string field that reads "bearer" in any case (as strcasecmp would). */
static bool is_bearer(const bbo_json_field *f, const char *view)
{
    if (f->text)
        return bbo__strcasecmp(f->text, "bearer") == 0;
    return f->length == 6 && bbo__strncasecmp(view, "bearer", 6) == 0; /* no NUL inside */
}

enum {
    F_ACCESS, F_REFRESH, F_TYPE, F_EXPIRES_IN, F_EXPIRES_AT, F_OBTAINED_AT, F_SCOPE, F_SCOPES,
    F_ERROR, F_ERROR_DESCRIPTION, F_ERROR_MESSAGE, F_COUNT
};

/* Report an error body: OAuth's {"error","error_description"} or the API's
 * {"type":"error","error":{"message"}}. */
BBO__COLD static int error_body(bbo_json_field *f, const char *what)
{
    const bbo_json_field *desc = &f[F_ERROR_DESCRIPTION], *msg = &f[F_ERROR_MESSAGE];

    if (f[F_ERROR].kind == BBO_JSON_STRING) {
        const char *d = desc->kind == BBO_JSON_STRING ? desc->text : NULL;

        bbo__error_set(BBO_EOAUTH, "%s: %.64s%s%.300s", what, f[F_ERROR].text, d ? ": " : "",
                       d ? d : "");
        bbo__error_set_oauth(f[F_ERROR].text, d);
        return BBO_EOAUTH;
    }
    if (msg->kind == BBO_JSON_STRING) {
        bbo__error_set(BBO_EPROTOCOL, "%s is an error: %.300s", what, msg->text);
        bbo__error_set_oauth(NULL, msg->text);
        return BBO_EPROTOCOL;
    }
    return bbo__error_set(BBO_EPROTOCOL, "%s is an error without a usable description", what);
}

BBO__HOT
int bbo__token_from_json(bbo_token **out, const char *json, size_t len, int64_t now,
                         const char *what)
{
    bbo_json_field f[F_COUNT] = {
        { "access_token", 0, NULL, 0 }, { "refresh_token", 0, NULL, 0 },
        { "token_type", 0, NULL, 0 }, { "expires_in", 0, NULL, 0 },
        { "expires_at", 0, NULL, 0 }, { "obtained_at", 0, NULL, 0 },
        { "scope", 0, NULL, 0 }, { "scopes", 0, NULL, 0 },
        { "error", 0, NULL, 0 }, { "error_description", 0, NULL, 0 },
        { "error.message", 0, NULL, 0 },
    };
    const char *v[F_COUNT] = { NULL };
    const bbo_json_field *scope;
    char scope_text[512], *scope_heap = NULL;
    const char *scope_copy;
    bbo_scopes *scopes = NULL;
    int64_t expires_at = 0, obtained_at = now, seconds;
    int error;

    /* what is only looked at is borrowed from the text, not copied */
    if ((error = bbo__json_extract_views(json, len, f, F_COUNT, what,
                                         1u << F_TYPE | 1u << F_EXPIRES_IN | 1u << F_EXPIRES_AT |
                                             1u << F_OBTAINED_AT | 1u << F_SCOPE | 1u << F_SCOPES,
                                         v)) < 0)
        return error;
    if (f[F_ERROR].kind != BBO_JSON_ABSENT && f[F_ERROR].kind != BBO_JSON_OTHER) {
        error = error_body(f, what);
        goto done;
    }
    if (f[F_ACCESS].kind != BBO_JSON_STRING) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has no access_token", what);
        goto done;
    }
    if (!bbo__token_text_is_valid(f[F_ACCESS].text, f[F_ACCESS].length) ||
        (f[F_REFRESH].kind == BBO_JSON_STRING &&
         !bbo__token_text_is_valid(f[F_REFRESH].text, f[F_REFRESH].length))) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has a token with characters not allowed in "
                                              "a bearer token", what);
        goto done;
    }
    if (f[F_REFRESH].kind != BBO_JSON_ABSENT && f[F_REFRESH].kind != BBO_JSON_STRING &&
        f[F_REFRESH].kind != BBO_JSON_OTHER) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has a refresh_token that is not a string", what);
        goto done;
    }
    if (f[F_TYPE].kind != BBO_JSON_ABSENT &&
        (f[F_TYPE].kind != BBO_JSON_STRING || !is_bearer(&f[F_TYPE], v[F_TYPE]))) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has a token_type other than bearer", what);
        goto done;
    }
    if (f[F_OBTAINED_AT].kind != BBO_JSON_ABSENT && !parse_seconds(&f[F_OBTAINED_AT], v[F_OBTAINED_AT], &obtained_at)) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has an invalid obtained_at", what);
        goto done;
    }
    if (f[F_EXPIRES_IN].kind != BBO_JSON_ABSENT) {
        if (!parse_seconds(&f[F_EXPIRES_IN], v[F_EXPIRES_IN], &seconds) || seconds < 1 || seconds > EXPIRES_IN_MAX) {
            error = bbo__error_set(BBO_EPROTOCOL, "%s has an expires_in that is not a number of "
                                                  "seconds between 1 and one year", what);
            goto done;
        }
        expires_at = now + seconds;
    } else if (f[F_EXPIRES_AT].kind != BBO_JSON_ABSENT &&
               !parse_seconds(&f[F_EXPIRES_AT], v[F_EXPIRES_AT], &expires_at)) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has an invalid expires_at", what);
        goto done;
    }
    /* "scope" since May 2026, "scopes" before: prefer the standard one */
    scope = f[F_SCOPE].kind != BBO_JSON_ABSENT ? &f[F_SCOPE] : &f[F_SCOPES];
    if (scope->kind != BBO_JSON_ABSENT && scope->kind != BBO_JSON_STRING) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s has a %s that is not a string", what, scope->path);
        goto done;
    }
    if (scope->kind == BBO_JSON_STRING && !scope->text) { /* borrowed: NUL-terminate */
        if (scope->length < sizeof(scope_text)) {
            memcpy(scope_text, v[scope - f], scope->length);
            scope_text[scope->length] = '\0';
            scope_copy = scope_text;
        } else if ((scope_copy = scope_heap = bbo__strndup(v[scope - f], scope->length)) == NULL) {
            error = bbo__error_oom();
            goto done;
        }
    } else {
        scope_copy = scope->text;
    }
    if ((error = scope->kind == BBO_JSON_STRING ? bbo_scopes_parse(&scopes, scope_copy)
                                                : bbo_scopes_new(&scopes)) < 0) {
        if (error == BBO_EINVAL)
            error = bbo__error_set(BBO_EPROTOCOL, "%s has a malformed %s", what, scope->path);
        goto done;
    }
    error = token_adopt(out, &f[F_ACCESS].text, f[F_ACCESS].length,
                        f[F_REFRESH].kind == BBO_JSON_STRING ? &f[F_REFRESH].text : NULL,
                        expires_at, obtained_at, &scopes);
done:
    bbo__free(scope_heap);
    bbo_scopes_free(scopes);
    bbo__json_fields_dispose(f, F_COUNT);
    return error;
}

int bbo_token_parse(bbo_token **out, const char *json, size_t len, int64_t now)
{
    if (!out || !json)
        return bbo__error_set(BBO_EINVAL, "bbo_token_parse: NULL argument");
    return bbo__token_from_json(out, json, len, now, "token JSON");
}

int bbo__token_set_refresh(bbo_token *token, const char *refresh)
{
    char *copy;

    if ((copy = bbo__strdup(refresh)) == NULL)
        return bbo__error_oom();
    bbo__free(token->refresh);
    token->refresh = copy;
    return BBO_OK;
}

/* `key` then a JSON string. What a token holds needs no escaping (checked
 * when it was made), but a quote, backslash or control character would be
 * escaped all the same. (yajl_gen is not used: yajl 2.1 crashes when an
 * allocation fails.) */
static int put_string(bbo_buf *out, const char *key, const char *s)
{
    char esc[8];
    size_t run;
    int error;

    if ((error = bbo__buf_puts(out, key)) < 0 || (error = bbo__buf_putc(out, '"')) < 0)
        return error;
    while (*s) {
        for (run = 0; s[run] && s[run] != '"' && s[run] != '\\' && (unsigned char)s[run] >= 0x20;
             run++)
            ;
        if (run) {
            error = bbo__buf_put(out, s, run);
            s += run;
        } else {
            snprintf(esc, sizeof(esc), (unsigned char)*s < 0x20 ? "\\u%04x" : "\\%c",
                     (unsigned char)*s);
            error = bbo__buf_puts(out, esc);
            s++;
        }
        if (error < 0)
            return error;
    }
    return bbo__buf_putc(out, '"');
}

static int put_number(bbo_buf *out, const char *key, int64_t value)
{
    char digits[24];
    int error;

    snprintf(digits, sizeof(digits), "%" PRId64, value);
    if ((error = bbo__buf_puts(out, key)) < 0)
        return error;
    return bbo__buf_puts(out, digits);
}

int bbo_token_to_json(const bbo_token *token, char **out)
{
    bbo_buf json = BBO_BUF_INIT;
    char *scope = NULL;
    int error;

    if (!token || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_token_to_json: NULL argument");
    if ((error = bbo_scopes_to_string(token->scopes, &scope)) < 0 ||
        (error = put_string(&json, "{\"access_token\":", token->access)) < 0 ||
        (error = put_string(&json, ",\"token_type\":", token->type)) < 0 ||
        (token->refresh &&
         (error = put_string(&json, ",\"refresh_token\":", token->refresh)) < 0) ||
        (token->expires_at &&
         (error = put_number(&json, ",\"expires_at\":", token->expires_at)) < 0) ||
        (error = put_number(&json, ",\"obtained_at\":", token->obtained_at)) < 0 ||
        (error = put_string(&json, ",\"scope\":", scope)) < 0 ||
        (error = bbo__buf_putc(&json, '}')) < 0)
        goto done;
    *out = bbo__buf_detach(&json); /* not empty: never NULL */
done:
    bbo__free(scope);
    bbo__buf_dispose(&json);
    return error;
}

size_t bbo__token_access_len(const bbo_token *t)
{
    return t->access_len;
}

BBO__HOT
const char *bbo_token_access(const bbo_token *t)
{
    return t ? t->access : NULL;
}

BBO__HOT
const char *bbo_token_refresh(const bbo_token *t)
{
    return t ? t->refresh : NULL;
}

const char *bbo_token_type(const bbo_token *t)
{
    return t ? t->type : NULL;
}

BBO__HOT
int64_t bbo_token_expires_at(const bbo_token *t)
{
    return t ? t->expires_at : 0;
}

BBO__HOT
int64_t bbo_token_obtained_at(const bbo_token *t)
{
    return t ? t->obtained_at : 0;
}

BBO__HOT
const bbo_scopes *bbo_token_scopes(const bbo_token *t)
{
    return t ? t->scopes : NULL;
}

BBO__HOT
int bbo_token_is_expired(const bbo_token *t, int64_t now, int64_t margin_s)
{
    if (!t)
        return 1;
    if (t->expires_at == 0)
        return 0;
    if (margin_s < 0)
        margin_s = 0;
    return margin_s >= t->expires_at || now >= t->expires_at - margin_s;
}

BBO__HOT
bbo_token *bbo__token_share(bbo_token *t)
{
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

BBO__HOT
void bbo_token_free(bbo_token *t)
{
    if (!t)
        return;
    /* the holder that lets go last frees it (and sees all the others did) */
    if (__atomic_load_n(&t->refs, __ATOMIC_ACQUIRE) != 1 &&
        __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    bbo__free(t->access);  /* bbo__free wipes */
    bbo__free(t->refresh);
    if (t->type != bearer_type)
        bbo__free(t->type);
    bbo_scopes_free(t->scopes);
    bbo__free(t);
}
