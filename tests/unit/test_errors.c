/*
 * Unit tests: error codes and the per-thread last error.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"

#define NOW INT64_C(1700000000)

static int parse(const char *json)
{
    bbo_token *tok = NULL;
    int rc = bbo_token_parse(&tok, json, strlen(json), NOW);

    bbo_token_free(tok);
    return rc;
}

/* Every byte printable ASCII or part of a valid UTF-8 sequence (no C0/C1
 * controls, no DEL, no overlongs or surrogates). */
static int is_clean_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n, k;
    unsigned long cp, min;

    while (s[i]) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf)
            n = 1, cp = s[i] & 0x1f, min = 0xa0;
        else if (s[i] >= 0xe0 && s[i] <= 0xef)
            n = 2, cp = s[i] & 0x0f, min = 0x800;
        else if (s[i] >= 0xf0 && s[i] <= 0xf4)
            n = 3, cp = s[i] & 0x07, min = 0x10000;
        else
            return 0;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static void assert_no_error(const bbo_error *e)
{
    assert_non_null(e);
    assert_int_equal(bbo_error_code(e), BBO_OK);
    assert_int_equal(bbo_error_http_status(e), 0);
    assert_string_equal(bbo_error_message(e), "no error");
    assert_null(bbo_error_oauth_code(e));
    assert_null(bbo_error_description(e));
    assert_int_equal(bbo_error_retry_after(e), -1);
}

static void test_strerror(void **state)
{
    static const struct {
        int code;
        const char *text;
    } table[] = {
        { BBO_OK, "success" },
        { BBO_EINVAL, "invalid argument" },
        { BBO_ENOMEM, "out of memory" },
        { BBO_ETRANSPORT, "network transport failure" },
        { BBO_ETLS, "TLS failure" },
        { BBO_ETIMEOUT, "timed out" },
        { BBO_EHTTP, "unexpected HTTP status" },
        { BBO_EPROTOCOL, "malformed server answer" },
        { BBO_EOAUTH, "OAuth error from the server" },
        { BBO_ESTATE, "authorization state mismatch" },
        { BBO_EDENIED, "authorization denied by the user" },
        { BBO_EEXPIRED, "token expired and cannot be refreshed" },
        { BBO_ESCOPE, "token lacks a required scope" },
        { BBO_EIO, "I/O error" },
        { BBO_ECRYPTO, "cryptographic failure" },
        { BBO_ERATELIMIT, "rate limited by the server" },
        { BBO_EUSER, "aborted by a callback" },
        { BBO_EBUSY, "busy: the lock is held elsewhere" },
        { BBO_ECONFLICT, "a newer token is already stored" },
    };
    size_t i, j;

    (void)state;
    /* codes are stable: never renumbered */
    assert_int_equal(BBO_OK, 0);
    assert_int_equal(BBO_EINVAL, -1);
    assert_int_equal(BBO_ENOMEM, -2);
    assert_int_equal(BBO_ETRANSPORT, -3);
    assert_int_equal(BBO_ETLS, -4);
    assert_int_equal(BBO_ETIMEOUT, -5);
    assert_int_equal(BBO_EHTTP, -6);
    assert_int_equal(BBO_EPROTOCOL, -7);
    assert_int_equal(BBO_EOAUTH, -8);
    assert_int_equal(BBO_ESTATE, -9);
    assert_int_equal(BBO_EDENIED, -10);
    assert_int_equal(BBO_EEXPIRED, -11);
    assert_int_equal(BBO_ESCOPE, -12);
    assert_int_equal(BBO_EIO, -13);
    assert_int_equal(BBO_ECRYPTO, -14);
    assert_int_equal(BBO_ERATELIMIT, -15);
    assert_int_equal(BBO_EUSER, -16);
    assert_int_equal(BBO_EBUSY, -17);
    assert_int_equal(BBO_ECONFLICT, -18);
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(table[i].code, -(int)i);
        assert_string_equal(bbo_strerror(table[i].code), table[i].text);
        for (j = 0; j < i; j++)
            assert_string_not_equal(bbo_strerror(table[i].code), bbo_strerror(table[j].code));
    }
    assert_string_equal(bbo_strerror(-19), "unknown error code");
    assert_string_equal(bbo_strerror(1), "unknown error code");
    assert_string_equal(bbo_strerror(INT_MIN), "unknown error code");
    assert_string_equal(bbo_strerror(INT_MAX), "unknown error code");
}

static void test_last_error_basics(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e = bbo_error_last();
    bbo_token *tok = NULL;

    (void)state;
    assert_non_null(e);
    bbo_error_clear();
    assert_no_error(bbo_error_last());
    /* the pointer is stable for the thread */
    assert_ptr_equal(bbo_error_last(), e);

    assert_int_equal(bbo_token_parse(NULL, "{}", 2, NOW), BBO_EINVAL);
    assert_ptr_equal(bbo_error_last(), e);
    assert_int_equal(bbo_error_code(e), BBO_EINVAL);
    assert_string_equal(bbo_error_message(e), "bbo_token_parse: NULL argument");
    assert_null(bbo_error_oauth_code(e));
    assert_int_equal(bbo_error_retry_after(e), -1);

    /* a successful call leaves the error alone */
    assert_int_equal(bbo_token_new(&tok, "a", NULL, NULL, 0, NULL), BBO_OK);
    bbo_token_free(tok);
    assert_int_equal(bbo_error_code(e), BBO_EINVAL);
    assert_string_equal(bbo_error_message(e), "bbo_token_parse: NULL argument");

    bbo_error_clear();
    assert_no_error(e);

    /* NULL error handle */
    assert_int_equal(bbo_error_code(NULL), BBO_EINVAL);
    assert_int_equal(bbo_error_http_status(NULL), 0);
    assert_non_null(bbo_error_message(NULL));
    assert_null(bbo_error_oauth_code(NULL));
    assert_null(bbo_error_description(NULL));
    assert_int_equal(bbo_error_retry_after(NULL), -1);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_oauth_fields(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e = bbo_error_last();

    (void)state;
    assert_int_equal(parse("{\"error\":\"invalid_scope\",\"error_description\":\"These requested "
                           "scopes are beyond the OAuth client's own scopes: team\"}"),
                     BBO_EOAUTH);
    assert_int_equal(bbo_error_code(e), BBO_EOAUTH);
    assert_int_equal(bbo_error_http_status(e), 0);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_scope");
    assert_string_equal(bbo_error_description(e), "These requested scopes are beyond the OAuth "
                                                  "client's own scopes: team");
    assert_string_equal(bbo_error_message(e), "token JSON: invalid_scope: These requested scopes "
                                              "are beyond the OAuth client's own scopes: team");
    assert_int_equal(bbo_error_retry_after(e), -1);

    /* the next error replaces all of it */
    assert_int_equal(parse("[]"), BBO_EPROTOCOL);
    assert_int_equal(bbo_error_code(e), BBO_EPROTOCOL);
    assert_null(bbo_error_oauth_code(e));
    assert_null(bbo_error_description(e));

    assert_int_equal(parse("{\"error\":\"invalid_grant\"}"), BBO_EOAUTH);
    bbo_error_clear();
    assert_no_error(e);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_internal_setters(void **state)
{
    const bbo_error *e = bbo_error_last();

    (void)state;
    assert_int_equal(bbo__error_set(BBO_EHTTP, "status %d from %s", 503, "server"), BBO_EHTTP);
    bbo__error_set_http_status(503);
    bbo__error_set_retry_after(30);
    bbo__error_set_oauth(NULL, "busy");
    assert_int_equal(bbo__error_current(), BBO_EHTTP);
    assert_string_equal(bbo_error_message(e), "status 503 from server");
    assert_int_equal(bbo_error_http_status(e), 503);
    assert_int_equal(bbo_error_retry_after(e), 30);
    assert_null(bbo_error_oauth_code(e));
    assert_string_equal(bbo_error_description(e), "busy");
    bbo__error_prefix("refresh");
    assert_string_equal(bbo_error_message(e), "refresh: status 503 from server");
    assert_int_equal(bbo_error_http_status(e), 503);
    /* a new error resets the details */
    bbo__error_set(BBO_EIO, "disk");
    assert_int_equal(bbo_error_http_status(e), 0);
    assert_int_equal(bbo_error_retry_after(e), -1);
    assert_null(bbo_error_description(e));
    assert_int_equal(bbo__error_oom(), BBO_ENOMEM);
    assert_string_equal(bbo_error_message(e), "out of memory");
    bbo_error_clear();
    assert_int_equal(bbo__error_current(), BBO_OK);
}

/* A kept error comes back whole: the fields, each text, and which of the
 * OAuth texts there are, over a longer error set in between. */
static void test_keep_and_restore(void **state)
{
    const bbo_error *e = bbo_error_last();
    bbo_error kept;
    char long_text[400];

    (void)state;
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    bbo__error_set(BBO_EOAUTH, "invalid_grant: gone");
    bbo__error_set_http_status(400);
    bbo__error_set_retry_after(7);
    bbo__error_set_oauth("invalid_grant", "gone");
    bbo__error_keep(&kept);
    bbo__error_set(BBO_EHTTP, "%s", long_text);
    bbo__error_set_oauth(long_text + 340, long_text);
    assert_int_equal(bbo__error_restore(&kept), BBO_EOAUTH);
    assert_int_equal(bbo_error_code(e), BBO_EOAUTH);
    assert_int_equal(bbo_error_http_status(e), 400);
    assert_int_equal(bbo_error_retry_after(e), 7);
    assert_string_equal(bbo_error_message(e), "invalid_grant: gone");
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_string_equal(bbo_error_description(e), "gone");

    /* without OAuth texts: none come back, even over an error that had them */
    bbo__error_set(BBO_EIO, "disk");
    bbo__error_keep(&kept);
    bbo__error_set(BBO_EOAUTH, "%s", long_text);
    bbo__error_set_oauth("invalid_request", long_text);
    assert_int_equal(bbo__error_restore(&kept), BBO_EIO);
    assert_string_equal(bbo_error_message(e), "disk");
    assert_null(bbo_error_oauth_code(e));
    assert_null(bbo_error_description(e));
    assert_int_equal(bbo_error_http_status(e), 0);
    assert_int_equal(bbo_error_retry_after(e), -1);
    bbo_error_clear();
}

static void test_prefix_long(void **state)
{
    char big[700];
    const char *msg;

    (void)state;
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bbo__error_set(BBO_EIO, "%s", big);
    assert_int_equal(strlen(bbo_error_message(bbo_error_last())), 511);
    bbo__error_prefix("context");
    msg = bbo_error_message(bbo_error_last());
    assert_int_equal(strlen(msg), 511);
    assert_memory_equal(msg, "context: mmm", 12);
    /* a prefix as long as the buffer is dropped, not overflowed */
    memset(big, 'p', 600);
    big[600] = '\0';
    bbo__error_set(BBO_EIO, "short");
    bbo__error_prefix(big);
    assert_string_equal(bbo_error_message(bbo_error_last()), "short");
    /* a prefix that pushes a multi-byte character over the edge */
    memset(big, 'x', 509);
    memcpy(big + 509, "\xc3\xa9", 3);
    bbo__error_set(BBO_EIO, "%s", big);
    assert_int_equal(strlen(bbo_error_message(bbo_error_last())), 511);
    bbo__error_prefix("a");
    assert_true(is_clean_utf8(bbo_error_message(bbo_error_last())));
    bbo_error_clear();
}

/* ---- threads -------------------------------------------------------------- */

typedef struct thread_result {
    int fresh_code;
    int fresh_status;
    int has_oauth;
    int own_code;
    char own_oauth[64];
    const bbo_error *pointer;
} thread_result;

static void *thread_main(void *arg)
{
    thread_result *r = arg;
    const bbo_error *e = bbo_error_last();

    r->pointer = e;
    r->fresh_code = bbo_error_code(e);
    r->fresh_status = bbo_error_http_status(e);
    r->has_oauth = bbo_error_oauth_code(e) != NULL;
    parse("{\"error\":\"unauthorized_client\"}");
    r->own_code = bbo_error_code(bbo_error_last());
    snprintf(r->own_oauth, sizeof(r->own_oauth), "%s",
             bbo_error_oauth_code(bbo_error_last()) ? bbo_error_oauth_code(bbo_error_last()) : "");
    return NULL;
}

static void test_per_thread(void **state)
{
    long base = bbo_test_alloc_live();
    thread_result r;
    pthread_t thread;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(parse("{\"error\":\"invalid_grant\",\"error_description\":\"main\"}"),
                     BBO_EOAUTH);
    assert_int_equal(pthread_create(&thread, NULL, thread_main, &r), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* the other thread started clean and saw only its own error */
    assert_ptr_not_equal(r.pointer, bbo_error_last());
    assert_int_equal(r.fresh_code, BBO_OK);
    assert_int_equal(r.fresh_status, 0);
    assert_int_equal(r.has_oauth, 0);
    assert_int_equal(r.own_code, BBO_EOAUTH);
    assert_string_equal(r.own_oauth, "unauthorized_client");
    /* this thread's error is untouched */
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_grant");
    assert_string_equal(bbo_error_description(bbo_error_last()), "main");
    bbo_error_clear();
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- hostile server text ------------------------------------------------- */

static void test_control_characters_replaced(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e = bbo_error_last();

    (void)state;
    assert_int_equal(parse("{\"error\":\"invalid_request\\u0007\\n\",\"error_description\":"
                           "\"line1\\nline2\\r\\u001b[31mred\\u007f\\ttab\\u0085end\"}"),
                     BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_request??");
    assert_string_equal(bbo_error_description(e), "line1?line2??[31mred??tab??end");
    assert_true(is_clean_utf8(bbo_error_message(e)));
    assert_non_null(strstr(bbo_error_message(e), "line1?line2??[31mred??tab??end"));
    /* printable UTF-8 is kept as it is */
    assert_int_equal(parse("{\"error\":\"x\",\"error_description\":\"caf\\u00e9 \\u2713 "
                           "\\ud83d\\ude00\"}"),
                     BBO_EOAUTH);
    assert_string_equal(bbo_error_description(e), "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
    assert_true(is_clean_utf8(bbo_error_message(e)));
    /* the API shape too */
    assert_int_equal(parse("{\"type\":\"error\",\"error\":{\"message\":\"a\\r\\nb\"}}"),
                     BBO_EPROTOCOL);
    assert_string_equal(bbo_error_description(e), "a??b");
    assert_true(is_clean_utf8(bbo_error_message(e)));
    bbo_error_clear();
    assert_int_equal(bbo_test_alloc_live(), base);
}

static char *body_with(const char *error, const char *piece, size_t repeat)
{
    size_t cap = strlen(piece) * repeat + strlen(error) + 64, n = 0, i;
    char *body = malloc(cap);

    assert_non_null(body);

    n += (size_t)snprintf(body, cap, "{\"error\":\"%s\",\"error_description\":\"", error);
    for (i = 0; i < repeat; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s", piece);
    snprintf(body + n, cap - n, "\"}");
    return body;
}

static void test_long_descriptions(void **state)
{
    static const char *const pieces[] = { "x", "\\u00e9", "\\u2713", "\\ud83d\\ude00", "a\\u00e9" };
    long base = bbo_test_alloc_live();
    const bbo_error *e = bbo_error_last();
    char long_code[301];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        char *body = body_with("invalid_grant", pieces[i], 10000);

        assert_int_equal(parse(body), BBO_EOAUTH);
        assert_true(strlen(bbo_error_description(e)) <= 511);
        assert_true(strlen(bbo_error_description(e)) >= 500);
        assert_true(strlen(bbo_error_message(e)) <= 511);
        assert_true(is_clean_utf8(bbo_error_description(e)));
        assert_true(is_clean_utf8(bbo_error_message(e)));
        assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
        free(body);
    }
    /* a long OAuth code is cut too */
    memset(long_code, 'c', 300);
    long_code[300] = '\0';
    {
        char *body = body_with(long_code, "d", 10);

        assert_int_equal(parse(body), BBO_EOAUTH);
        assert_int_equal(strlen(bbo_error_oauth_code(e)), 63);
        assert_string_equal(bbo_error_description(e), "dddddddddd");
        free(body);
    }
    bbo_error_clear();
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_oom_error_needs_no_memory(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;
    int rc;

    (void)state;
    bbo_test_alloc_fail_after(0);
    rc = bbo_token_parse(&tok, "{\"access_token\":\"a\"}", 20, NOW);
    bbo_test_alloc_fail_after(-1);
    assert_int_equal(rc, BBO_ENOMEM);
    assert_null(tok);
    assert_non_null(bbo_error_last());
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ENOMEM);
    assert_string_equal(bbo_error_message(bbo_error_last()), "out of memory");
    bbo_error_clear();
    assert_int_equal(bbo_test_alloc_live(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_last_error_basics),
        cmocka_unit_test(test_oauth_fields),
        cmocka_unit_test(test_internal_setters),
        cmocka_unit_test(test_keep_and_restore),
        cmocka_unit_test(test_prefix_long),
        cmocka_unit_test(test_per_thread),
        cmocka_unit_test(test_control_characters_replaced),
        cmocka_unit_test(test_long_descriptions),
        cmocka_unit_test(test_oom_error_needs_no_memory),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
