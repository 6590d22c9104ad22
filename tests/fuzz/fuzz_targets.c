/*
 * Fuzz targets for everything that reads untrusted bytes: token answers
 * (and saved tokens), redirect callbacks, HTTP header lines and error
 * bodies, scope lists, sealed logins. Built for libFuzzer with -Dfuzzing=true (clang), and
 * always as a deterministic smoke run (tests/fuzz/driver.c) in the suite.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_targets.h"

#include <bboauth.h>

#include "internal/loopback.h"

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
