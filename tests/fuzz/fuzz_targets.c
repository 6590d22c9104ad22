/*
 * Fuzz targets for everything that reads untrusted bytes: token answers
 * (and saved tokens), redirect callbacks, HTTP header lines and error
 * bodies, scope lists, sealed logins. Built for libFuzzer with -Dfuzzing=true (clang), and
 * always as a deterministic smoke run (tests/fuzz/driver.c) in the suite.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_targets.h"

#include <bboauth.h>

#include "internal/json.h"
#include "internal/loopback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NUL-terminated copy of the input for the APIs that take C strings. */
static char *text_of(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

int bbo_fuzz_token(const uint8_t *data, size_t size)
{
    bbo_token *token = NULL, *again = NULL;
    char *json = NULL;

    if (bbo_token_parse(&token, (const char *)data, size, 1700000000) == BBO_OK) {
        /* whatever parses must serialize and parse back to the same token */
        if (bbo_token_to_json(token, &json) != BBO_OK ||
            bbo_token_parse(&again, json, strlen(json), 0) != BBO_OK ||
            strcmp(bbo_token_access(token), bbo_token_access(again)) != 0 ||
            bbo_token_expires_at(token) != bbo_token_expires_at(again))
            abort();
    }
    bbo_free(json);
    bbo_token_free(again);
    bbo_token_free(token);
    return 0;
}

int bbo_fuzz_callback(const uint8_t *data, size_t size)
{
    static bbo_consumer *consumer;
    bbo_authorization *auth = NULL;
    bbo_token *token = NULL;
    char *text = text_of(data, size), *code = NULL;

    if (!consumer && (bbo_consumer_new(&consumer, "fuzz-key", "fuzz-secret") != BBO_OK ||
                      bbo_consumer_set_callback_url(consumer, "http://127.0.0.1/cb") != BBO_OK))
        abort();
    if (bbo_authorization_begin(&auth, consumer) != BBO_OK)
        abort();
    /* a random callback can never carry the fresh 256-bit state */
    if (bbo_authorization_complete(auth, text, &code) == BBO_OK)
        abort();
    bbo_authorization_free(auth);
    if (bbo_authorization_begin_ex(&auth, consumer, NULL, BBO_AUTHORIZATION_IMPLICIT) != BBO_OK)
        abort();
    if (bbo_authorization_complete_implicit(auth, text, 1700000000, &token) == BBO_OK)
        abort();
    bbo_authorization_free(auth);
    free(text);
    return 0;
}

int bbo_fuzz_response(const uint8_t *data, size_t size)
{
    bbo_http_response *resp = NULL;
    bbo_token *token = NULL;
    size_t start = 0, i;

    if (bbo_http_response_new(&resp) != BBO_OK)
        abort();
    bbo_http_response_set_body_limit(resp, 4096);
    /* lines up to a blank line are the head, the rest the body */
    for (i = 0; i < size; i++) {
        if (data[i] != '\n')
            continue;
        if (i == start || (i == start + 1 && data[start] == '\r')) {
            start = i + 1;
            break;
        }
        bbo_http_response_add_header_line(resp, (const char *)data + start, i - start + 1);
        start = i + 1;
    }
    if (start < size)
        bbo_http_response_append_body(resp, (const char *)data + start, size - start);
    if (bbo_http_response_status(resp) == 0)
        bbo_http_response_set_status(resp, 400);
    bbo_grant_parse_response(&token, resp, 1700000000, NULL);
    bbo_token_free(token);
    bbo_http_response_free(resp);
    return 0;
}

int bbo_fuzz_scopes(const uint8_t *data, size_t size)
{
    bbo_scopes *scopes = NULL, *again = NULL;
    char *text = text_of(data, size), *canonical = NULL;
    size_t i;

    if (bbo_scopes_parse(&scopes, text) == BBO_OK) {
        /* canonical text parses back to the same set; every scope covers itself */
        if (bbo_scopes_to_string(scopes, &canonical) != BBO_OK ||
            bbo_scopes_parse(&again, canonical) != BBO_OK ||
            bbo_scopes_count(again) != bbo_scopes_count(scopes) ||
            !bbo_scopes_covers(scopes, again))
            abort();
        for (i = 0; i < bbo_scopes_count(scopes); i++)
            if (!bbo_scopes_has(scopes, bbo_scopes_at(scopes, i)))
                abort();
    }
    if (scopes) {
        char *cloud = NULL, *dc = NULL;

        if (bbo_scopes_to_permissions(scopes, 0, &cloud) != BBO_OK ||
            bbo_scopes_to_permissions(scopes, 1, &dc) != BBO_OK)
            abort();
        bbo_free(cloud);
        bbo_free(dc);
    }
    bbo_free(canonical);
    bbo_scopes_free(again);
    bbo_scopes_free(scopes);
    free(text);
    return 0;
}

/* Sealed login text (a cookie an attacker controls): the seeds are real
 * seals under this key at 1700000000. Whatever unseals must be whole. */
int bbo_fuzz_sealed(const uint8_t *data, size_t size)
{
    static const unsigned char key[32] = "fuzz key, thirty-two bytes long.";
    static bbo_consumer *consumer;
    bbo_authorization *auth = NULL;
    char *text = text_of(data, size), *code = NULL;

    if (!consumer && (bbo_consumer_new(&consumer, "fuzz-key", "fuzz-secret") != BBO_OK ||
                      bbo_consumer_set_callback_url(consumer, "http://127.0.0.1/cb") != BBO_OK))
        abort();
    if (bbo_authorization_unseal(&auth, consumer, key, text, 1700000000) == BBO_OK) {
        if (strlen(bbo_authorization_state(auth)) != 43 || !bbo_authorization_url(auth))
            abort();
        /* its state still guards the callback */
        if (bbo_authorization_complete(auth, "code=c&state=forged", &code) == BBO_OK)
            abort();
    }
    bbo_authorization_free(auth);
    free(text);
    return 0;
}

/* The loopback receiver's request head reader (src/io/loopback.c), on
 * whatever a local process may send to the port. */
int bbo_fuzz_loopback(const uint8_t *data, size_t size)
{
    static const bbo__lb_routes routes = { "127.0.0.1:5000", "/callback", "/L4unch-Path_x" };
    const char *text = (const char *)data, *target = NULL;
    size_t target_len = 0, i;
    bool complete = false;
    uint8_t *longer;
    bbo__lb_route route = bbo__loopback_classify(&routes, text, size, &target, &target_len);

    for (i = 0; i + 4 <= size && !complete; i++)
        complete = memcmp(data + i, "\r\n\r\n", 4) == 0;
    if ((route == BBO__LB_INCOMPLETE) == complete)
        abort();
    if (route == BBO__LB_CALLBACK &&
        (target < text || target_len < 9 || target + target_len > text + size ||
         memcmp(target, "/callback", 9) != 0 || (target_len > 9 && target[9] != '?') ||
         memchr(target, '\0', target_len)))
        abort();
    /* what follows a complete head (a body, a pipelined request) changes
     * nothing */
    if (complete) {
        const char *again_target = NULL;
        size_t again_len = 0;

        if ((longer = malloc(size + 5)) == NULL)
            abort();
        memcpy(longer, data, size);
        memcpy(longer + size, "\r\n\r\nX", 5);
        if (bbo__loopback_classify(&routes, (const char *)longer, size + 5, &again_target,
                                   &again_len) != route ||
            (route == BBO__LB_CALLBACK && (again_len != target_len ||
                                           again_target - (const char *)longer != target - text)))
            abort();
        free(longer);
    }
    return 0;
}

/*
 * Differential: the one-pass parser of the token path (bbo__json_extract_views,
 * src/util/json.c) against yajl (bbo__json_extract_yajl) on the same bytes
 * and fields. Both accept or both reject; when both accept, every field has
 * the same kind and the same bytes, copied or borrowed. The intentional
 * differences (src/internal/json.h), where yajl is more lenient, are
 * excluded below, each with its reason.
 */
static const char *const diff_paths[] = {
    "access_token", "refresh_token", "expires_in", "scope", "scopes", "token_type", "error",
    "error_description", "error.message", "next", "values", "a", "a.b",
};

#define DIFF_COUNT (sizeof(diff_paths) / sizeof(diff_paths[0]))

static void diff_fields_init(bbo_json_field *f)
{
    size_t i;

    for (i = 0; i < DIFF_COUNT; i++) {
        f[i].path = diff_paths[i];
        f[i].kind = BBO_JSON_ABSENT;
        f[i].text = NULL;
        f[i].length = 0;
    }
}

static int diff_hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether the text has an escape \uD800..\uDFFF (backslash pairs read left
 * to right: outside strings a backslash is not JSON to either parser). */
static int has_surrogate_escape(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i + 1 < size; i++) {
        if (data[i] != '\\')
            continue;
        if (data[i + 1] == 'u' && i + 3 < size && (data[i + 2] | 0x20) == 'd' &&
            diff_hex(data[i + 3]) >= 8)
            return 1;
        i++; /* the escaped character */
    }
    return 0;
}

/* Whether `data` is a string cut by the end of the text: an opening quote,
 * then no unescaped closing one. */
static int is_open_string(const uint8_t *data, size_t size)
{
    size_t i;

    if (size == 0 || data[0] != '"')
        return 0;
    for (i = 1; i < size; i++) {
        if (data[i] == '\\')
            i++;
        else if (data[i] == '"')
            return 0;
    }
    return 1;
}

static void diff_compare(const bbo_json_field *fast, const char *const *views,
                         const bbo_json_field *yajl);

/*
 * Whether the text is an object the one-pass parser accepts (with the same
 * fields as yajl's `yajl`), then blanks, then a string cut by the end of the
 * text. yajl 2.1 takes that for a token it has not seen the end of, and
 * yajl_complete_parse does not report it as trailing garbage.
 */
static int object_then_open_string(const uint8_t *data, size_t size, const bbo_json_field *yajl)
{
    bbo_json_field prefix[DIFF_COUNT];
    size_t k, rest;
    int ok = 0;

    for (k = 0; k < size && !ok; k++) {
        if (data[k] != '}')
            continue;
        for (rest = k + 1; rest < size && (data[rest] == ' ' || data[rest] == '\t' ||
                                          data[rest] == '\n' || data[rest] == '\r' ||
                                          data[rest] == '\v' || data[rest] == '\f');
             rest++)
            ;
        if (!is_open_string(data + rest, size - rest))
            continue;
        diff_fields_init(prefix);
        if (bbo__json_extract_views((const char *)data, k + 1, prefix, DIFF_COUNT, "fuzz", 0,
                                    NULL) == BBO_OK) {
            diff_compare(prefix, NULL, yajl);
            ok = 1;
        }
        bbo__json_fields_dispose(prefix, DIFF_COUNT);
    }
    return ok;
}

static void diff_fail(const char *why, const char *path)
{
    fprintf(stderr, "json_diff: %s%s%s\n", why, path ? ": " : "", path ? path : "");
    abort();
}

static void diff_compare(const bbo_json_field *fast, const char *const *views,
                         const bbo_json_field *yajl)
{
    size_t i;

    for (i = 0; i < DIFF_COUNT; i++) {
        if (fast[i].kind != yajl[i].kind)
            diff_fail("kinds differ", diff_paths[i]);
        if (fast[i].length != yajl[i].length)
            diff_fail("lengths differ", diff_paths[i]);
        if (fast[i].kind != BBO_JSON_STRING && fast[i].kind != BBO_JSON_NUMBER) {
            if (fast[i].text || yajl[i].text || fast[i].length)
                diff_fail("text for a value that has none", diff_paths[i]);
            continue;
        }
        if (!yajl[i].text || yajl[i].text[yajl[i].length] != '\0' ||
            (fast[i].text && fast[i].text[fast[i].length] != '\0'))
            diff_fail("text missing or not NUL-terminated", diff_paths[i]);
        if (views) {
            if (!views[i] || memcmp(views[i], yajl[i].text, yajl[i].length) != 0)
                diff_fail("bytes differ (view)", diff_paths[i]);
        } else if (!fast[i].text || memcmp(fast[i].text, yajl[i].text, yajl[i].length) != 0) {
            diff_fail("bytes differ", diff_paths[i]);
        }
    }
}

static void diff_expect_absent(const bbo_json_field *f)
{
    size_t i;

    for (i = 0; i < DIFF_COUNT; i++)
        if (f[i].kind != BBO_JSON_ABSENT || f[i].text || f[i].length)
            diff_fail("a failed extraction left a field filled in", diff_paths[i]);
}

int bbo_fuzz_json_diff(const uint8_t *data, size_t size)
{
    bbo_json_field fast[DIFF_COUNT], borrowed[DIFF_COUNT], yajl[DIFF_COUNT];
    const char *views[DIFF_COUNT] = { NULL };
    /* an exact-size copy: a read past the end is an ASan report */
    char *json = malloc(size ? size : 1);
    int rc_fast, rc_borrowed, rc_yajl;

    if (!json)
        abort();
    memcpy(json, data, size);
    diff_fields_init(fast);
    diff_fields_init(borrowed);
    diff_fields_init(yajl);
    rc_fast = bbo__json_extract_views(json, size, fast, DIFF_COUNT, "fuzz", 0, NULL);
    rc_borrowed = bbo__json_extract_views(json, size, borrowed, DIFF_COUNT, "fuzz", UINT32_MAX,
                                          views);
    rc_yajl = bbo__json_extract_yajl(json, size, yajl, DIFF_COUNT, "fuzz");
    if (rc_fast != rc_borrowed)
        diff_fail("copying and borrowing runs of the one-pass parser disagree", NULL);
    if (rc_fast < 0 && rc_fast != BBO_EPROTOCOL)
        diff_fail("one-pass parser failed with something else than BBO_EPROTOCOL", NULL);
    if (rc_yajl < 0 && rc_yajl != BBO_EPROTOCOL)
        diff_fail("yajl failed with something else than BBO_EPROTOCOL", NULL);
    if (rc_fast == BBO_OK) {
        /* whatever the token path accepts, yajl accepts with the same fields */
        if (rc_yajl != BBO_OK)
            diff_fail("accepted by the one-pass parser, rejected by yajl", NULL);
        diff_compare(fast, NULL, yajl);
        diff_compare(borrowed, views, yajl);
    } else {
        diff_expect_absent(fast);
        diff_expect_absent(borrowed);
        /*
         * Intentional, where yajl 2.1 is too lenient:
         * - the one-pass parser rejects an escaped UTF-16 surrogate that is
         *   not a high-low pair. yajl decodes a lone high one ("\ud800") to
         *   '?' and joins a high one with any "\uXXXX" after it into some
         *   other code point ("\ud800\u0041" is U+10041); only a lone low
         *   one is rejected by both (bad UTF-8 once decoded);
         * - it rejects any text after the object; yajl lets a string cut by
         *   the end of the text through there ("{} \"abc").
         */
        if (rc_yajl == BBO_OK && !has_surrogate_escape(data, size) &&
            !object_then_open_string(data, size, yajl))
            diff_fail("rejected by the one-pass parser, accepted by yajl", NULL);
    }
    if (rc_yajl != BBO_OK)
        diff_expect_absent(yajl);
    bbo__json_fields_dispose(fast, DIFF_COUNT);
    bbo__json_fields_dispose(borrowed, DIFF_COUNT);
    bbo__json_fields_dispose(yajl, DIFF_COUNT);
    free(json);
    return 0;
}
