/*
 * JSON: two field extractors with one contract, and the allocator glue.
 * SPDX-License-Identifier: MIT
 *
 * Both read a whole object and keep only the fields asked for, so a large
 * or hostile body costs no tree: they enforce BBO_JSON_MAX_BYTES, a nesting
 * limit, RFC 3629 UTF-8, and reject duplicate keys (an attacker-controlled
 * duplicate could otherwise shadow a field).
 *
 * - bbo__json_extract (= bbo__json_extract_yajl, src/util/json_yajl.c):
 *   yajl's streaming parser, its allocations through a tracking arena on
 *   bbo__malloc. For general server JSON: API pages, error bodies, the user
 *   check.
 * - bbo__json_extract_views (src/util/json.c): a hand-written one-pass
 *   parser, for the hot path only: token endpoint answers and the token
 *   file (src/core/token.c). tests/fuzz's json_diff target checks that
 *   whatever it accepts, yajl accepts with the same fields, and the
 *   other way round but for two intentional differences, where yajl 2.1 is
 *   lenient: the one-pass parser rejects a lone or unpaired UTF-16
 *   surrogate escape ("\ud800", "\ud800\u0041"), which yajl turns into '?'
 *   or another code point, and a string cut by the end of the text after
 *   the object ("{} \"abc"), which yajl does not count as trailing garbage.
 */
#ifndef BBO_INTERNAL_JSON_H
#define BBO_INTERNAL_JSON_H

#include <stddef.h>
#include <stdint.h>


#define BBO_JSON_MAX_DEPTH 32

typedef enum bbo_json_kind {
    BBO_JSON_ABSENT = 0,
    BBO_JSON_STRING,
    BBO_JSON_NUMBER,  /* `text` holds the literal as written */
    BBO_JSON_OBJECT,  /* `text` is NULL */
    BBO_JSON_OTHER    /* array, true, false, null: `text` is NULL */
} bbo_json_kind;

typedef struct bbo_json_field {
    const char *path;   /* "access_token", or one level deep: "error.message" */
    bbo_json_kind kind; /* filled in */
    char *text;         /* filled in for strings and numbers; NUL-terminated */
    size_t length;
} bbo_json_field;

/*
 * Fill `fields` from the object in `json`. `what` names the document in
 * error messages ("API page"). BBO_EPROTOCOL when the text is
 * not a JSON object, is truncated, too big, too deep or has a duplicate
 * key; BBO_ENOMEM. On failure the fields are left empty.
 */
int bbo__json_extract(const char *json, size_t len, bbo_json_field *fields, size_t count,
                      const char *what);

/* bbo__json_extract by name: yajl's parser (also what the fuzz target and
 * the unit tests compare the one-pass parser with). */
int bbo__json_extract_yajl(const char *json, size_t len, bbo_json_field *fields, size_t count,
                           const char *what);

/*
 * The same contract on the one-pass parser, copying less: a field whose bit
 * is set in `borrow` (bit i for fields[i]) and whose value is a number or a
 * string without escapes keeps `text` NULL (borrow 0 copies every value;
 * `views` may be NULL). `views` (count entries) receives, for every
 * string and number, where its `length` bytes are: in `json` when
 * borrowed (not NUL-terminated), else `text`.
 */
int bbo__json_extract_views(const char *json, size_t len, bbo_json_field *fields, size_t count,
                            const char *what, uint32_t borrow, const char **views);

/* Free what either extractor filled in (wiping it). */
void bbo__json_fields_dispose(bbo_json_field *fields, size_t count);

/* The field with this path, or NULL. */
bbo_json_field *bbo__json_field(bbo_json_field *fields, size_t count, const char *path);

#endif
