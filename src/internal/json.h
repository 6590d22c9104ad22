/*
 * JSON through yajl: a streaming field extractor and the allocator glue.
 * SPDX-License-Identifier: MIT
 *
 * The extractor reads a whole object with yajl's streaming parser and keeps
 * only the fields asked for, so a large or hostile body costs no tree: it
 * enforces BBO_JSON_MAX_BYTES, a nesting limit, and rejects duplicate keys
 * (an attacker-controlled duplicate could otherwise shadow a field).
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
 * error messages ("token endpoint answer"). BBO_EPROTOCOL when the text is
 * not a JSON object, is truncated, too big, too deep or has a duplicate
 * key; BBO_ENOMEM. On failure the fields are left empty.
 */
int bbo__json_extract(const char *json, size_t len, bbo_json_field *fields, size_t count,
                      const char *what);

/*
 * bbo__json_extract that copies less: a field whose bit is set in `borrow`
 * (bit i for fields[i]) and whose value is a number or a string without
 * escapes keeps `text` NULL. `views` (count entries) receives, for every
 * string and number, where its `length` bytes are: in `json` when
 * borrowed (not NUL-terminated), else `text`.
 */
int bbo__json_extract_views(const char *json, size_t len, bbo_json_field *fields, size_t count,
                            const char *what, uint32_t borrow, const char **views);

/* Free what bbo__json_extract filled in (wiping it). */
void bbo__json_fields_dispose(bbo_json_field *fields, size_t count);

/* The field with this path, or NULL. */
bbo_json_field *bbo__json_field(bbo_json_field *fields, size_t count, const char *path);

#endif
