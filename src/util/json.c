/*
 * JSON: a one-pass field extractor.
 * SPDX-License-Identifier: MIT
 *
 * Each byte is read once: the scan that finds a string's end also checks
 * it for control characters, escapes and UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), with a 16-byte fast path
 * for runs of plain ASCII. Nothing is copied but the values asked for;
 * keys are compared where they lie in the text (an escaped key is decoded
 * into a block of its own).
 */
#include "internal/common.h"
#include "internal/json.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define JSON_SSE2 1
#endif

/* String bytes: 0 plain ASCII; the others end a plain run. */
enum { S_PLAIN = 0, S_QUOTE, S_ESCAPE, S_CONTROL, S_HIGH };

#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)

static const unsigned char string_class[256] = {
    R16(S_CONTROL), R16(S_CONTROL),
    0, 0, S_QUOTE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    R16(0), R16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, S_ESCAPE, 0, 0, 0, /* 0x50: '\\' */
    R16(0), R16(0),
    R16(S_HIGH), R16(S_HIGH), R16(S_HIGH), R16(S_HIGH),
    R16(S_HIGH), R16(S_HIGH), R16(S_HIGH), R16(S_HIGH),
};

/* What yajl took as blanks between tokens (it allowed \v and \f too). */
static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

#if defined(JSON_SSE2) && defined(__x86_64__)
#include <immintrin.h>
#define JSON_AVX2 1

/* skip_plain 64 then 32 bytes a step, for long strings on CPUs with AVX2 */
BBO__HOT
__attribute__((target("avx2"))) static const unsigned char *
skip_plain_avx2(const unsigned char *p, const unsigned char *end)
{
    const __m256i quote = _mm256_set1_epi8('"'), escape = _mm256_set1_epi8('\\'),
                  space = _mm256_set1_epi8(0x20);

    /* 64 bytes a step: one test for both halves, the exact place after */
    while (end - p >= 64) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        __m256i sx = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, quote),
                                                     _mm256_cmpeq_epi8(x, escape)),
                                     _mm256_cmpgt_epi8(space, x));
        __m256i sy = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(y, quote),
                                                     _mm256_cmpeq_epi8(y, escape)),
                                     _mm256_cmpgt_epi8(space, y));
        __m256i stop = _mm256_or_si256(sx, sy);

        if (!_mm256_testz_si256(stop, stop)) {
            unsigned mask = (unsigned)_mm256_movemask_epi8(sx);

            if (mask)
                return p + __builtin_ctz(mask);
            return p + 32 + __builtin_ctz((unsigned)_mm256_movemask_epi8(sy));
        }
        p += 64;
    }
    while (end - p >= 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i stop = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, quote),
                                                       _mm256_cmpeq_epi8(x, escape)),
                                       _mm256_cmpgt_epi8(space, x));
        unsigned mask = (unsigned)_mm256_movemask_epi8(stop);

        if (mask)
            return p + __builtin_ctz(mask);
        p += 32;
    }
    return p;
}
#endif

/* First byte at or after `p` that is not plain ASCII string text. */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
#ifdef JSON_SSE2
    const __m128i quote = _mm_set1_epi8('"'), escape = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);

#ifdef JSON_AVX2
    /* a long string (an access token): the wider steps pay for the call */
    if (end - p >= 256 && __builtin_cpu_supports("avx2")) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, escape)),
                         _mm_cmplt_epi8(x, space)));

        if (mask)
            return p + __builtin_ctz(mask);
        p = skip_plain_avx2(p + 16, end);
    }
#endif
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: bytes from 0x80 up are below 0x20 too */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                 _mm_cmpeq_epi8(x, escape)),
                                    _mm_cmplt_epi8(x, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(stop);

        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && string_class[*p] == S_PLAIN)
        p++;
    return p;
}

/* Length of the valid UTF-8 sequence of 2 to 4 bytes at `p`, or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n, k;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

static uint32_t hex4(const unsigned char *p)
{
    return (uint32_t)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
                      hex_value(p[3]));
}

static bool is_hex4(const unsigned char *p, const unsigned char *end)
{
    return end - p >= 4 && hex_value(p[0]) >= 0 && hex_value(p[1]) >= 0 &&
           hex_value(p[2]) >= 0 && hex_value(p[3]) >= 0;
}

typedef struct span {
    const char *ptr;
    size_t len;
} span;

/* A key seen at the top level: where it lies, and the block holding it
 * when it had to be decoded. */
typedef struct key_slot {
    span key;
    char *owned;
} key_slot;

#define KEYS_INLINE 16

/* The first KEYS_LINEAR keys in a plain array, compared by length first
 * (a token answer has seven: no hashing); past that, open addressing on
 * FNV-1a, so a body with a hundred thousand keys stays linear. The first
 * keys need no allocation. */
#define KEYS_LINEAR 8

typedef struct key_set {
    key_slot *slots;
    size_t capacity; /* a power of two */
    size_t count;
    bool hashed;     /* slots is a hash table (else slots[0..count) in order) */
    key_slot inline_slots[KEYS_INLINE];
} key_set;

typedef struct parser {
    const unsigned char *p, *end;
    bbo_json_field *fields;
    size_t count;
    const char *what;
    int depth;         /* open containers */
    bool level2_object; /* the container at depth 2 is an object */
    span key1;         /* current key at the top level (valid when depth >= 1) */
    span key2;         /* current key in an object one level down; ptr NULL when none */
    char *key2_owned;
    key_set seen;
    uint32_t borrow;    /* fields not to copy (bbo__json_extract_views) */
    const char **views;
} parser;

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void key_set_dispose(key_set *set)
{
    size_t i, n = set->hashed ? set->capacity : set->count;

    for (i = 0; i < n; i++)
        if (set->slots[i].owned)
            bbo__free(set->slots[i].owned);
    if (set->slots != set->inline_slots)
        bbo__free(set->slots);
    set->slots = NULL;
    set->capacity = set->count = 0;
}

static void key_set_place(key_set *set, key_slot slot)
{
    size_t i = fnv1a(slot.key.ptr, slot.key.len) & (set->capacity - 1);

    while (set->slots[i].key.ptr)
        i = (i + 1) & (set->capacity - 1);
    set->slots[i] = slot;
    set->count++;
}

/* Into a hash table of twice the room (from the array: 2 * KEYS_INLINE slots). */
static int key_set_grow(key_set *set)
{
    size_t capacity = set->capacity * 2, i;
    size_t old_capacity = set->hashed ? set->capacity : set->count;
    key_slot *slots = bbo__calloc(capacity, sizeof(*slots)), *old = set->slots;

    if (!slots)
        return bbo__error_oom();
    set->slots = slots;
    set->capacity = capacity;
    set->count = 0;
    for (i = 0; i < old_capacity; i++)
        if (old[i].key.ptr)
            key_set_place(set, old[i]);
    set->hashed = true;
    if (old != set->inline_slots)
        bbo__free(old);
    return BBO_OK;
}

/* 1: the key is new (the set now owns `owned`), 0: seen before, <0: error. */
static int key_set_insert(key_set *set, span key, char *owned)
{
    size_t i;
    int error;

    if (!set->hashed) {
        for (i = 0; i < set->count; i++)
            if (set->slots[i].key.len == key.len &&
                memcmp(set->slots[i].key.ptr, key.ptr, key.len) == 0)
                return 0;
        if (set->count < KEYS_LINEAR) {
            set->slots[set->count].key = key;
            set->slots[set->count].owned = owned;
            set->count++;
            return 1;
        }
        if ((error = key_set_grow(set)) < 0)
            return error;
    }
    if ((set->count + 1) * 2 > set->capacity && (error = key_set_grow(set)) < 0)
        return error;
    for (i = fnv1a(key.ptr, key.len) & (set->capacity - 1); set->slots[i].key.ptr;
         i = (i + 1) & (set->capacity - 1)) {
        if (set->slots[i].key.len == key.len && memcmp(set->slots[i].key.ptr, key.ptr, key.len) == 0)
            return 0;
    }
    set->slots[i].key = key;
    set->slots[i].owned = owned;
    set->count++;
    return 1;
}

static int not_json(parser *ps, const char *detail)
{
    if (ps->p >= ps->end)
        return bbo__error_set(BBO_EPROTOCOL, "%s is truncated", ps->what);
    return bbo__error_set(BBO_EPROTOCOL, "%s is not valid JSON (%s)", ps->what, detail);
}

enum { STR_ESCAPED = 1, STR_NUL = 2 };

/*
 * The string whose opening quote is at ps->p: checked, its raw text (between
 * the quotes) in `raw`, STR_ flags in `flags`; ps->p ends past the closing
 * quote. Escaped surrogates must come as a high-low pair.
 */
BBO__HOT
static int scan_string(parser *ps, span *raw, int *flags)
{
    const unsigned char *p = ps->p + 1, *end = ps->end, *start = p;
    uint32_t cp;
    size_t n;

    *flags = 0;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end) {
            ps->p = p;
            return not_json(ps, "unterminated string");
        }
        switch (string_class[*p]) {
        case S_QUOTE:
            raw->ptr = (const char *)start;
            raw->len = (size_t)(p - start);
            ps->p = p + 1;
            return BBO_OK;
        case S_HIGH:
            if ((n = utf8_sequence(p, end)) == 0) {
                ps->p = p;
                return bbo__error_set(BBO_EPROTOCOL, "%s has a string that is not valid UTF-8",
                                      ps->what);
            }
            p += n;
            break;
        case S_CONTROL:
            ps->p = p;
            return not_json(ps, "control character in a string");
        default: /* S_ESCAPE */
            *flags |= STR_ESCAPED;
            if (end - p < 2)
                goto bad_escape;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                break;
            case 'u':
                if (!is_hex4(p + 2, end))
                    goto bad_escape;
                cp = hex4(p + 2);
                p += 6;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    goto bad_escape;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !is_hex4(p + 2, end))
                        goto bad_escape;
                    cp = hex4(p + 2);
                    if (cp < 0xdc00 || cp > 0xdfff)
                        goto bad_escape;
                    p += 6;
                } else if (cp == 0) {
                    *flags |= STR_NUL;
                }
                break;
            default:
                goto bad_escape;
            }
        }
    }
bad_escape:
    ps->p = p;
    return bbo__error_set(BBO_EPROTOCOL, "%s is not valid JSON (bad escape in a string)",
                          ps->what);
}

/* Write the decoded form of a string scan_string accepted; its length. */
static size_t decode_string(span raw, char *out)
{
    const unsigned char *p = (const unsigned char *)raw.ptr, *end = p + raw.len, *run;
    char *o = out;
    uint32_t cp;

    while (p < end) {
        for (run = p; p < end && *p != '\\'; p++)
            ;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p >= end)
            break;
        switch (p[1]) {
        case 'b': *o++ = '\b'; p += 2; continue;
        case 'f': *o++ = '\f'; p += 2; continue;
        case 'n': *o++ = '\n'; p += 2; continue;
        case 'r': *o++ = '\r'; p += 2; continue;
        case 't': *o++ = '\t'; p += 2; continue;
        case 'u': break;
        default: *o++ = (char)p[1]; p += 2; continue;
        }
        cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 2) - 0xdc00);
            p += 6;
        }
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | cp >> 12);
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | cp >> 18);
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    return (size_t)(o - out);
}

/* A decoded copy of `raw` (never longer than the raw text), NUL-terminated. */
static char *decoded_copy(span raw, bool escaped, size_t *len_out)
{
    char *copy = bbo__malloc(raw.len + 1);

    if (!copy)
        return NULL;
    if (escaped) {
        *len_out = decode_string(raw, copy);
    } else {
        memcpy(copy, raw.ptr, raw.len);
        *len_out = raw.len;
    }
    copy[*len_out] = '\0';
    return copy;
}

static bool span_is(span s, const char *text, size_t len)
{
    return s.len == len && memcmp(s.ptr, text, len) == 0;
}

/* The path begins with `key` followed by `next` ('\0': the whole path,
 * '.': its first part). strncmp stops at the end of a shorter path (a key
 * has no NUL); the first bytes are compared inline, as most keys differ
 * there. */
static bool path_begins(const char *path, span key, char next)
{
    return (key.len == 0 || path[0] == key.ptr[0]) && strncmp(path, key.ptr, key.len) == 0 &&
           path[key.len] == next;
}

/* The field a value at the current position belongs to, or NULL. */
static bbo_json_field *current_field(parser *ps)
{
    size_t i;

    if (ps->depth == 1) {
        for (i = 0; i < ps->count; i++)
            if (path_begins(ps->fields[i].path, ps->key1, '\0'))
                /* a dot always means one level down: a top-level key
                 * "error.message" is not the path error.message */
                return memchr(ps->key1.ptr, '.', ps->key1.len) ? NULL : &ps->fields[i];
    } else if (ps->depth == 2 && ps->level2_object && ps->key2.ptr) {
        for (i = 0; i < ps->count; i++) {
            const char *path = ps->fields[i].path;

            if (path_begins(path, ps->key1, '.') &&
                span_is(ps->key2, path + ps->key1.len + 1, strlen(path + ps->key1.len + 1)))
                return &ps->fields[i];
        }
    }
    return NULL;
}

BBO__HOT
static int set_value(parser *ps, bbo_json_kind kind, span raw, bool escaped)
{
    bbo_json_field *field;

    if (ps->depth == 0)
        return bbo__error_set(BBO_EPROTOCOL, "%s is not a JSON object", ps->what);
    if ((field = current_field(ps)) == NULL)
        return BBO_OK;
    if (field->kind != BBO_JSON_ABSENT)
        return bbo__error_set(BBO_EPROTOCOL, "%s has the field \"%s\" twice", ps->what,
                              field->path);
    if (raw.ptr) {
        size_t at = (size_t)(field - ps->fields);
        bool borrow = at < 32 && (ps->borrow >> at & 1) && !escaped;

        if (borrow) {
            field->length = raw.len;
        } else if ((field->text = decoded_copy(raw, escaped, &field->length)) == NULL) {
            return bbo__error_oom();
        }
        if (ps->views)
            ps->views[at] = borrow ? raw.ptr : field->text;
    }
    field->kind = kind;
    return BBO_OK;
}

static int on_key(parser *ps, span raw, int flags)
{
    span key = raw;
    char *owned = NULL;
    int added;

    if (flags & STR_NUL)
        return bbo__error_set(BBO_EPROTOCOL, "%s has a key with a NUL byte", ps->what);
    if (ps->depth == 1 || (ps->depth == 2 && ps->level2_object)) {
        if ((flags & STR_ESCAPED) && (owned = decoded_copy(raw, true, &key.len)) == NULL)
            return bbo__error_oom();
        if (owned)
            key.ptr = owned;
    }
    if (ps->depth == 1) {
        if ((added = key_set_insert(&ps->seen, key, owned)) <= 0) {
            bbo__free(owned);
            if (added == 0)
                return bbo__error_set(BBO_EPROTOCOL, "%s has a duplicate key", ps->what);
            return added;
        }
        ps->key1 = key;
    } else if (ps->depth == 2 && ps->level2_object) {
        bbo__free(ps->key2_owned);
        ps->key2_owned = owned;
        ps->key2 = key;
    }
    return BBO_OK;
}

static int parse_value(parser *ps);

static inline void skip_blanks(parser *ps)
{
    /* most tokens follow a token or a single space directly */
    while (ps->p < ps->end && *ps->p <= ' ' && is_blank(*ps->p))
        ps->p++;
}

BBO__HOT
static int open_container(parser *ps, bool array)
{
    int error;

    if (ps->depth >= BBO_JSON_MAX_DEPTH)
        return bbo__error_set(BBO_EPROTOCOL, "%s is nested more than %d levels deep", ps->what,
                              BBO_JSON_MAX_DEPTH);
    if (ps->depth == 0 && array)
        return bbo__error_set(BBO_EPROTOCOL, "%s is not a JSON object", ps->what);
    if (ps->depth > 0 &&
        (error = set_value(ps, array ? BBO_JSON_OTHER : BBO_JSON_OBJECT, (span){ NULL, 0 },
                           false)) < 0)
        return error;
    ps->depth++;
    if (ps->depth == 2) {
        ps->level2_object = !array;
        ps->key2.ptr = NULL;
    }
    ps->p++;
    return BBO_OK;
}

static void close_container(parser *ps)
{
    ps->depth--;
    if (ps->depth == 1) {
        bbo__free_str(&ps->key2_owned);
        ps->key2.ptr = NULL;
    }
    ps->p++;
}

/* After a value in a container: its end (0, closed) or a comma (1, more
 * to come), else an error. */
static int after_value(parser *ps, char close)
{
    skip_blanks(ps);
    if (ps->p >= ps->end)
        return not_json(ps, "");
    if (*ps->p == close) {
        close_container(ps);
        return 0;
    }
    if (*ps->p != ',')
        return not_json(ps, close == '}' ? "expected ',' or '}' after a value"
                                         : "expected ',' or ']' after a value");
    ps->p++;
    return 1;
}

BBO__HOT
static int parse_object(parser *ps)
{
    span raw;
    int flags, error;

    if ((error = open_container(ps, false)) < 0)
        return error;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        close_container(ps);
        return BBO_OK;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"')
            return not_json(ps, "expected a key");
        if ((error = scan_string(ps, &raw, &flags)) < 0 || (error = on_key(ps, raw, flags)) < 0)
            return error;
        skip_blanks(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return not_json(ps, "expected ':' after a key");
        ps->p++;
        if ((error = parse_value(ps)) < 0 || (error = after_value(ps, '}')) <= 0)
            return error;
        skip_blanks(ps);
    }
}

static int parse_array(parser *ps)
{
    int error;

    if ((error = open_container(ps, true)) < 0)
        return error;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        close_container(ps);
        return BBO_OK;
    }
    for (;;) {
        if ((error = parse_value(ps)) < 0 || (error = after_value(ps, ']')) <= 0)
            return error;
    }
}

static int parse_number(parser *ps)
{
    const unsigned char *p = ps->p, *end = ps->end, *start = p;

    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        ps->p = p;
        return not_json(ps, "malformed number");
    }
    if (p < end && *p == '.') {
        if (++p >= end || *p < '0' || *p > '9') {
            ps->p = p;
            return not_json(ps, "malformed number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            ps->p = p;
            return not_json(ps, "malformed number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    /* a number cut by the end of the text is not known to be whole */
    if (p >= end) {
        ps->p = p;
        return not_json(ps, "");
    }
    ps->p = p;
    return set_value(ps, BBO_JSON_NUMBER, (span){ (const char *)start, (size_t)(p - start) },
                     false);
}

static int parse_word(parser *ps, const char *word, size_t len)
{
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) {
        if ((size_t)(ps->end - ps->p) < len && memcmp(ps->p, word, (size_t)(ps->end - ps->p)) == 0)
            ps->p = ps->end;
        return not_json(ps, "invalid literal");
    }
    ps->p += len;
    return set_value(ps, BBO_JSON_OTHER, (span){ NULL, 0 }, false);
}

BBO__HOT
static int parse_value(parser *ps)
{
    span raw;
    int flags, error;

    skip_blanks(ps);
    if (ps->p >= ps->end)
        return not_json(ps, "");
    switch (*ps->p) {
    case '{':
        return parse_object(ps);
    case '[':
        return parse_array(ps);
    case '"':
        if ((error = scan_string(ps, &raw, &flags)) < 0)
            return error;
        return set_value(ps, BBO_JSON_STRING, raw, (flags & STR_ESCAPED) != 0);
    case 't':
        return parse_word(ps, "true", 4);
    case 'f':
        return parse_word(ps, "false", 5);
    case 'n':
        return parse_word(ps, "null", 4);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps);
        return not_json(ps, "invalid character");
    }
}

BBO__HOT
void bbo__json_fields_dispose(bbo_json_field *fields, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        bbo__free_str(&fields[i].text);
        fields[i].kind = BBO_JSON_ABSENT;
        fields[i].length = 0;
    }
}

bbo_json_field *bbo__json_field(bbo_json_field *fields, size_t count, const char *path)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (strcmp(fields[i].path, path) == 0)
            return &fields[i];
    return NULL;
}

BBO__HOT
int bbo__json_extract_views(const char *json, size_t len, bbo_json_field *fields, size_t count,
                            const char *what, uint32_t borrow, const char **views)
{
    parser ps;
    int error;

    if (len > BBO_JSON_MAX_BYTES)
        return bbo__error_set(BBO_EPROTOCOL, "%s is larger than %d bytes", what,
                              BBO_JSON_MAX_BYTES);
    if (len == 0)
        return bbo__error_set(BBO_EPROTOCOL, "%s is empty", what);
    memset(&ps, 0, sizeof(ps));
    ps.p = (const unsigned char *)json;
    ps.end = ps.p + len;
    ps.fields = fields;
    ps.count = count;
    ps.what = what;
    ps.borrow = borrow;
    ps.views = views;
    ps.seen.slots = ps.seen.inline_slots;
    ps.seen.capacity = KEYS_INLINE;
    skip_blanks(&ps);
    if (ps.p >= ps.end)
        error = bbo__error_set(BBO_EPROTOCOL, "%s is not valid JSON (no value)", what);
    else if (*ps.p != '{')
        error = bbo__error_set(BBO_EPROTOCOL, "%s is not a JSON object", what);
    else
        error = parse_object(&ps);
    if (error == BBO_OK) {
        skip_blanks(&ps);
        if (ps.p < ps.end)
            error = bbo__error_set(BBO_EPROTOCOL, "%s is not valid JSON (text after the object)",
                                   what);
    }
    bbo__free(ps.key2_owned);
    key_set_dispose(&ps.seen);
    if (error < 0)
        bbo__json_fields_dispose(fields, count);
    return error;
}
