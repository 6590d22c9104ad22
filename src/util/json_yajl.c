/*
 * JSON through yajl: the streaming field extractor for general server JSON
 * (API pages, error bodies, the user check). The token path uses the
 * one-pass parser in json.c; tests/fuzz (json_diff) checks the two agree.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/json.h"

#include <setjmp.h>
#include <stdalign.h>

#include <yajl/yajl_parse.h>

/*
 * yajl 2.1 does not check its own allocations: yajl_alloc, its buffers and
 * its state stack write through the pointer it got. So the extractor gives
 * yajl an arena that tracks every block and, when an allocation fails,
 * jumps back to the parse, which frees all yajl held and reports
 * BBO_ENOMEM instead of crashing.
 */
typedef struct arena_block {
    alignas(max_align_t) struct arena_block *prev;
    struct arena_block *next;
    size_t size;
} arena_block;

typedef struct json_arena {
    arena_block *blocks;
    jmp_buf oom;
} json_arena;

static void *arena_malloc(void *ctx, size_t size)
{
    json_arena *arena = ctx;
    arena_block *block;

    if (size > SIZE_MAX - sizeof(*block) || (block = bbo__malloc(sizeof(*block) + size)) == NULL)
        longjmp(arena->oom, 1);
    block->prev = NULL;
    block->next = arena->blocks;
    block->size = size;
    if (arena->blocks)
        arena->blocks->prev = block;
    arena->blocks = block;
    return block + 1;
}

static void arena_free(void *ctx, void *ptr)
{
    json_arena *arena = ctx;
    arena_block *block;

    if (!ptr)
        return;
    block = (arena_block *)ptr - 1;
    if (block->prev)
        block->prev->next = block->next;
    else
        arena->blocks = block->next;
    if (block->next)
        block->next->prev = block->prev;
    bbo__free(block);
}

static void *arena_realloc(void *ctx, void *ptr, size_t size)
{
    void *fresh = arena_malloc(ctx, size);
    size_t old;

    if (ptr) {
        old = ((arena_block *)ptr - 1)->size;
        memcpy(fresh, ptr, old < size ? old : size);
        arena_free(ctx, ptr);
    }
    return fresh;
}

static void arena_dispose(json_arena *arena)
{
    while (arena->blocks)
        arena_free(arena, arena->blocks + 1);
}

/* Set of the top-level keys seen so far: open addressing on FNV-1a, so a
 * body with a hundred thousand keys stays linear. */
typedef struct key_set {
    char **slots;
    size_t capacity; /* a power of two */
    size_t count;
} key_set;

static uint64_t fnv1a(const unsigned char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static void key_set_dispose(key_set *set)
{
    size_t i;

    for (i = 0; i < set->capacity; i++)
        bbo__free(set->slots[i]);
    bbo__free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* Insert `key` (owned on success). 1: added, 0: already there, <0: error. */
static int key_set_insert(key_set *set, char *key, size_t len);

static int key_set_grow(key_set *set)
{
    key_set bigger = { NULL, set->capacity ? set->capacity * 2 : 16, 0 };
    size_t i;

    if ((bigger.slots = bbo__calloc(bigger.capacity, sizeof(char *))) == NULL)
        return bbo__error_oom();
    for (i = 0; i < set->capacity; i++) {
        if (set->slots[i]) {
            key_set_insert(&bigger, set->slots[i], strlen(set->slots[i]));
            set->slots[i] = NULL;
        }
    }
    key_set_dispose(set);
    *set = bigger;
    return BBO_OK;
}

static int key_set_insert(key_set *set, char *key, size_t len)
{
    size_t i;
    int error;

    if ((set->count + 1) * 2 > set->capacity && (error = key_set_grow(set)) < 0)
        return error;
    for (i = fnv1a((const unsigned char *)key, len) & (set->capacity - 1); set->slots[i];
         i = (i + 1) & (set->capacity - 1)) {
        if (strcmp(set->slots[i], key) == 0)
            return 0;
    }
    set->slots[i] = key;
    set->count++;
    return 1;
}

/* RFC 3629: yajl 2.1 lets overlong forms, surrogates and code points past
 * U+10FFFF through, and decodes a lone "\\uDC00" to a surrogate. */
static bool utf8_is_valid(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    uint32_t cp, min;

    while (i < len) {
        unsigned char c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

typedef struct extract_ctx {
    bbo_json_field *fields;
    size_t count;
    const char *what;
    int depth;        /* open containers */
    bool in_array;    /* the container at depth 1 or 2 being read is an array */
    char *key1;       /* current key at the top level */
    char *key2;       /* current key in an object one level down */
    key_set seen;
    int error;        /* set by a callback that stopped the parse */
} extract_ctx;

static int stop(extract_ctx *ctx, int error)
{
    ctx->error = error;
    return 0;
}

/* The field a value at the current position belongs to, or NULL. */
static bbo_json_field *current_field(extract_ctx *ctx)
{
    size_t i, l1;

    if (ctx->in_array || !ctx->key1)
        return NULL;
    l1 = strlen(ctx->key1);
    for (i = 0; i < ctx->count; i++) {
        const char *p = ctx->fields[i].path;

        /* a dot always means one level down: a top-level key "error.message"
         * is not the path error.message */
        if (ctx->depth == 1 && strcmp(p, ctx->key1) == 0 && !strchr(p, '.'))
            return &ctx->fields[i];
        if (ctx->depth == 2 && ctx->key2 && strncmp(p, ctx->key1, l1) == 0 && p[l1] == '.' &&
            strcmp(p + l1 + 1, ctx->key2) == 0)
            return &ctx->fields[i];
    }
    return NULL;
}

static int set_value(extract_ctx *ctx, bbo_json_kind kind, const char *text, size_t len)
{
    bbo_json_field *field;

    if (ctx->depth == 0)
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s is not a JSON object", ctx->what));
    if ((field = current_field(ctx)) == NULL)
        return 1;
    if (field->kind != BBO_JSON_ABSENT)
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s has the field \"%s\" twice",
                                        ctx->what, field->path));
    field->kind = kind;
    if (text) {
        if ((field->text = bbo__strndup(text, len)) == NULL)
            return stop(ctx, bbo__error_oom());
        field->length = len;
    }
    return 1;
}

static int on_null(void *c)
{
    return set_value(c, BBO_JSON_OTHER, NULL, 0);
}

static int on_boolean(void *c, int value)
{
    (void)value;
    return set_value(c, BBO_JSON_OTHER, NULL, 0);
}

static int on_number(void *c, const char *text, size_t len)
{
    return set_value(c, BBO_JSON_NUMBER, text, len);
}

static int on_string(void *c, const unsigned char *text, size_t len)
{
    extract_ctx *ctx = c;

    if (!utf8_is_valid(text, len))
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s has a string that is not valid UTF-8",
                                        ctx->what));
    return set_value(c, BBO_JSON_STRING, (const char *)text, len);
}

static int open_container(extract_ctx *ctx, bool array)
{
    if (ctx->depth >= BBO_JSON_MAX_DEPTH)
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s is nested more than %d levels deep",
                                        ctx->what, BBO_JSON_MAX_DEPTH));
    if (ctx->depth == 0 && array)
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s is not a JSON object", ctx->what));
    if (ctx->depth > 0 && !set_value(ctx, array ? BBO_JSON_OTHER : BBO_JSON_OBJECT, NULL, 0))
        return 0;
    ctx->depth++;
    /* only the top object and objects directly under it are read */
    if (ctx->depth == 2)
        ctx->in_array = array;
    else if (ctx->depth > 2)
        ctx->in_array = true;
    return 1;
}

static int on_start_map(void *c)
{
    return open_container(c, false);
}

static int on_start_array(void *c)
{
    return open_container(c, true);
}

static int close_container(void *c)
{
    extract_ctx *ctx = c;

    ctx->depth--;
    if (ctx->depth <= 2)
        ctx->in_array = false;
    if (ctx->depth == 1)
        bbo__free_str(&ctx->key2);
    return 1;
}

static int on_map_key(void *c, const unsigned char *key, size_t len)
{
    extract_ctx *ctx = c;
    char *copy;
    int added;

    if (memchr(key, '\0', len))
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s has a key with a NUL byte", ctx->what));
    if (!utf8_is_valid(key, len))
        return stop(ctx, bbo__error_set(BBO_EPROTOCOL, "%s has a key that is not valid UTF-8",
                                        ctx->what));
    if (ctx->depth == 1) {
        if ((copy = bbo__strndup((const char *)key, len)) == NULL)
            return stop(ctx, bbo__error_oom());
        if ((added = key_set_insert(&ctx->seen, copy, len)) <= 0) {
            bbo__free(copy);
            if (added == 0)
                bbo__error_set(BBO_EPROTOCOL, "%s has a duplicate key", ctx->what);
            return stop(ctx, bbo__error_current());
        }
        ctx->key1 = copy; /* owned by the set */
    } else if (ctx->depth == 2 && !ctx->in_array) {
        bbo__free_str(&ctx->key2);
        if ((ctx->key2 = bbo__strndup((const char *)key, len)) == NULL)
            return stop(ctx, bbo__error_oom());
    }
    return 1;
}

static const yajl_callbacks extract_callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string,
    on_start_map, on_map_key, close_container, on_start_array, close_container
};

static int parse_text(json_arena *arena, extract_ctx *ctx, const char *json, size_t len)
{
    yajl_alloc_funcs funcs = { arena_malloc, arena_realloc, arena_free, arena };
    yajl_handle parser;
    yajl_status status;
    unsigned char *detail;
    size_t detail_len;
    int error = BBO_OK;

    parser = yajl_alloc(&extract_callbacks, &funcs, ctx);
    status = yajl_parse(parser, (const unsigned char *)json, len);
    if (status == yajl_status_ok)
        status = yajl_complete_parse(parser);
    if (status == yajl_status_client_canceled) {
        error = ctx->error;
    } else if (status != yajl_status_ok) {
        /* not verbose: the verbose form quotes the text, which may hold a token */
        detail = yajl_get_error(parser, 0, (const unsigned char *)json, len);
        detail_len = detail ? strlen((const char *)detail) : 0;
        while (detail_len && (detail[detail_len - 1] == '\n' || detail[detail_len - 1] == ' '))
            detail_len--;
        error = bbo__error_set(BBO_EPROTOCOL, "%s is not valid JSON (%.*s)", ctx->what,
                               detail ? (int)detail_len : 11,
                               detail ? (const char *)detail : "parse error");
        yajl_free_error(parser, detail);
    } else if (ctx->depth != 0) {
        error = bbo__error_set(BBO_EPROTOCOL, "%s is truncated", ctx->what);
    }
    yajl_free(parser);
    return error;
}

/* The setjmp lives in a function of its own: no local is live across it. */
static int run_parser(json_arena *arena, extract_ctx *ctx, const char *json, size_t len)
{
    if (setjmp(arena->oom) != 0)
        return bbo__error_oom(); /* the caller frees what yajl held */
    return parse_text(arena, ctx, json, len);
}

int bbo__json_extract_yajl(const char *json, size_t len, bbo_json_field *fields, size_t count,
                           const char *what)
{
    extract_ctx ctx;
    json_arena arena;
    int error;

    memset(&ctx, 0, sizeof(ctx));
    ctx.fields = fields;
    ctx.count = count;
    ctx.what = what;
    if (len > BBO_JSON_MAX_BYTES)
        return bbo__error_set(BBO_EPROTOCOL, "%s is larger than %d bytes", what,
                              BBO_JSON_MAX_BYTES);
    if (len == 0)
        return bbo__error_set(BBO_EPROTOCOL, "%s is empty", what);
    arena.blocks = NULL;
    error = run_parser(&arena, &ctx, json, len);
    arena_dispose(&arena);
    bbo__free(ctx.key2);
    key_set_dispose(&ctx.seen);
    if (error < 0)
        bbo__json_fields_dispose(fields, count);
    return error;
}

int bbo__json_extract(const char *json, size_t len, bbo_json_field *fields, size_t count,
                      const char *what)
{
    return bbo__json_extract_yajl(json, len, fields, count, what);
}
