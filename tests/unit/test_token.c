/*
 * Unit tests: tokens (parse, serialize, copy, expiry).
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal/token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW INT64_C(1700000000)

/* Fake secrets: distinctive so a leak into an error message is easy to see. */
#define ACCESS "AccessSecret-0123456789_abc.def~ghi+jkl/mno=="
#define REFRESH "RefreshSecret-9876543210"

#define TODAY_ANSWER                                                                     \
    "{\"access_token\":\"" ACCESS "\",\"scope\":\"repository account\",\"expires_in\":7200," \
    "\"token_type\":\"bearer\",\"state\":\"authorization_code\",\"refresh_token\":\"" REFRESH "\"}"

#define LEGACY_ANSWER                                                                     \
    "{\"access_token\":\"" ACCESS "\",\"scopes\":\"repository account\",\"expires_in\":7200," \
    "\"token_type\":\"bearer\",\"state\":\"authorization_code\",\"refresh_token\":\"" REFRESH "\"}"

static int parse(bbo_token **out, const char *json)
{
    return bbo_token_parse(out, json, strlen(json), NOW);
}

/* Parse `json`, expect `code`, check *out untouched and nothing leaked. */
static void expect_parse_error(const char *json, int code)
{
    bbo_token *tok = (bbo_token *)(uintptr_t)0x1; /* sentinel: must stay untouched */
    long base = bbo_test_alloc_live();
    int rc = parse(&tok, json);

    if (rc != code)
        fail_msg("parsing %s gave %d (%s), expected %d", json, rc,
                 bbo_error_message(bbo_error_last()), code);
    assert_int_equal(bbo_error_code(bbo_error_last()), code);
    assert_ptr_equal(tok, (bbo_token *)(uintptr_t)0x1);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void assert_scopes(const bbo_token *tok, const char *expected)
{
    char *text = NULL;

    assert_non_null(bbo_token_scopes(tok));
    assert_int_equal(bbo_scopes_to_string(bbo_token_scopes(tok), &text), BBO_OK);
    assert_string_equal(text, expected);
    bbo_free(text);
}

/* ---- the two answer shapes ---------------------------------------------- */

static void test_parse_today(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(parse(&tok, TODAY_ANSWER), BBO_OK);
    assert_non_null(tok);
    assert_string_equal(bbo_token_access(tok), ACCESS);
    assert_string_equal(bbo_token_refresh(tok), REFRESH);
    assert_string_equal(bbo_token_type(tok), "bearer");
    assert_int_equal(bbo_token_expires_at(tok), NOW + 7200);
    assert_int_equal(bbo_token_obtained_at(tok), NOW);
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(tok)), 2);
    assert_string_equal(bbo_scopes_at(bbo_token_scopes(tok), 0), "account");
    assert_string_equal(bbo_scopes_at(bbo_token_scopes(tok), 1), "repository");
    assert_true(bbo_scopes_has(bbo_token_scopes(tok), "repository"));
    assert_false(bbo_scopes_has(bbo_token_scopes(tok), "pullrequest"));
    assert_int_equal(bbo_token_is_expired(tok, NOW, 60), 0);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_legacy_scopes(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(parse(&tok, LEGACY_ANSWER), BBO_OK);
    assert_string_equal(bbo_token_access(tok), ACCESS);
    assert_string_equal(bbo_token_refresh(tok), REFRESH);
    assert_int_equal(bbo_token_expires_at(tok), NOW + 7200);
    assert_scopes(tok, "account repository");
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_scope_wins_over_scopes(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(parse(&tok, "{\"scopes\":\"team email\",\"access_token\":\"a\","
                                 "\"scope\":\"pullrequest:write\"}"),
                     BBO_OK);
    assert_scopes(tok, "pullrequest:write");
    bbo_token_free(tok);
    /* either order */
    assert_int_equal(parse(&tok, "{\"scope\":\"wiki\",\"access_token\":\"a\","
                                 "\"scopes\":\"team email\"}"),
                     BBO_OK);
    assert_scopes(tok, "wiki");
    bbo_token_free(tok);
    /* neither: an empty set, not NULL */
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\"}"), BBO_OK);
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(tok)), 0);
    assert_scopes(tok, "");
    bbo_token_free(tok);
    /* scope that is not a string */
    expect_parse_error("{\"access_token\":\"a\",\"scope\":[\"account\"]}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"scope\":7}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"scope\":\"acc\\\"ount\"}", BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- expires_in ---------------------------------------------------------- */

static void expect_expiry(const char *expires_json, int64_t expected_at)
{
    char body[256];
    bbo_token *tok = NULL;

    snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"expires_in\":%s}", expires_json);
    if (parse(&tok, body) != BBO_OK)
        fail_msg("%s: %s", body, bbo_error_message(bbo_error_last()));
    assert_int_equal(bbo_token_expires_at(tok), expected_at);
    assert_int_equal(bbo_token_obtained_at(tok), NOW);
    bbo_token_free(tok);
}

static void expect_bad_expiry(const char *expires_json)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"expires_in\":%s}", expires_json);
    expect_parse_error(body, BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "expires_in"));
}

static void test_expires_in(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    expect_expiry("7200", NOW + 7200);
    expect_expiry("\"3600\"", NOW + 3600);
    expect_expiry("1", NOW + 1);
    expect_expiry("31622400", NOW + 366 * 24 * 3600); /* the cap itself */
    expect_bad_expiry("0");
    expect_bad_expiry("\"0\"");
    expect_bad_expiry("-1");
    expect_bad_expiry("-7200");
    expect_bad_expiry("\"-3600\"");
    expect_bad_expiry("1.5");
    expect_bad_expiry("7200.0");
    expect_bad_expiry("1e3");
    expect_bad_expiry("1E3");
    expect_bad_expiry("\"abc\"");
    expect_bad_expiry("\"\"");
    expect_bad_expiry("\" 3600\"");
    expect_bad_expiry("\"3600 \"");
    expect_bad_expiry("\"+3600\"");
    expect_bad_expiry("\"0x10\"");
    expect_bad_expiry("31622401");          /* a year and a second */
    expect_bad_expiry("315360000");         /* ten years */
    expect_bad_expiry("9999999999999999"); /* 16 digits */
    expect_bad_expiry("123456789012345678901234567890");
    expect_bad_expiry("null");
    expect_bad_expiry("true");
    expect_bad_expiry("[7200]");
    expect_bad_expiry("{\"s\":7200}");
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_missing_expires_in(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\",\"refresh_token\":\"r\"}"), BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), 0);
    assert_int_equal(bbo_token_obtained_at(tok), NOW);
    assert_int_equal(bbo_token_is_expired(tok, NOW, 60), 0);
    assert_int_equal(bbo_token_is_expired(tok, INT64_MAX, INT64_MAX), 0);
    assert_null(bbo_token_refresh(NULL));
    assert_string_equal(bbo_token_refresh(tok), "r");
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- token_type ---------------------------------------------------------- */

static void test_token_type(void **state)
{
    static const char *const ok[] = { "\"bearer\"", "\"Bearer\"", "\"BEARER\"", "\"bEaReR\"" };
    static const char *const bad[] = { "\"mac\"", "\"MAC\"", "\"\"", "\"bearer \"",
                                       "\"bearerx\"", "\"bear\"", "null", "1", "[\"bearer\"]" };
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"token_type\":%s}", ok[i]);
        assert_int_equal(parse(&tok, body), BBO_OK);
        assert_string_equal(bbo_token_type(tok), "bearer");
        bbo_token_free(tok);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"token_type\":%s}", bad[i]);
        expect_parse_error(body, BBO_EPROTOCOL);
        assert_non_null(strstr(bbo_error_message(bbo_error_last()), "token_type"));
    }
    /* missing: bearer */
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\"}"), BBO_OK);
    assert_string_equal(bbo_token_type(tok), "bearer");
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- access_token -------------------------------------------------------- */

static void test_access_token_required(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    expect_parse_error("{}", BBO_EPROTOCOL);
    expect_parse_error("{\"refresh_token\":\"r\",\"expires_in\":7200}", BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "access_token"));
    expect_parse_error("{\"access_token\":\"\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":null}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":12345}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":true}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":[\"a\"]}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":{\"value\":\"a\"}}", BBO_EPROTOCOL);
    /* nested access_token does not count */
    expect_parse_error("{\"data\":{\"access_token\":\"a\"}}", BBO_EPROTOCOL);
    expect_parse_error("{\"data\":[{\"access_token\":\"a\"}]}", BBO_EPROTOCOL);
    /* refresh_token of the wrong kind */
    expect_parse_error("{\"access_token\":\"a\",\"refresh_token\":5}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"refresh_token\":{}}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"refresh_token\":\"\"}", BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_refresh_token_null(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\",\"refresh_token\":null}"), BBO_OK);
    assert_null(bbo_token_refresh(tok));
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_token_characters(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    expect_parse_error("{\"access_token\":\"abc\\r\\nX-Injected: 1\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc\\ndef\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc\\rdef\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc def\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc\\tdef\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc\\u0000def\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc\\\"def\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"abc,def\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"caf\\u00e9\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"refresh_token\":\"r\\r\\nx\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"refresh_token\":\"r r\"}", BBO_EPROTOCOL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "r r"));
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- error bodies -------------------------------------------------------- */

static void test_oauth_error_body(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e;

    (void)state;
    expect_parse_error("{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh_token\"}",
                       BBO_EOAUTH);
    e = bbo_error_last();
    assert_int_equal(bbo_error_code(e), BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_string_equal(bbo_error_description(e), "Invalid refresh_token");
    assert_int_equal(bbo_error_http_status(e), 0);
    assert_int_equal(bbo_error_retry_after(e), -1);
    assert_non_null(strstr(bbo_error_message(e), "invalid_grant"));
    assert_non_null(strstr(bbo_error_message(e), "Invalid refresh_token"));

    /* error without description */
    expect_parse_error("{\"error\":\"invalid_scope\"}", BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_scope");
    assert_null(bbo_error_description(bbo_error_last()));

    /* error_description that is not a string is ignored */
    expect_parse_error("{\"error\":\"invalid_request\",\"error_description\":42}", BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_request");
    assert_null(bbo_error_description(bbo_error_last()));

    /* an error that is not a string still makes the body an error */
    expect_parse_error("{\"error\":5,\"access_token\":\"a\"}", BBO_EPROTOCOL);

    /* "error": null next to a token is not an error */
    {
        bbo_token *tok = NULL;

        assert_int_equal(parse(&tok, "{\"error\":null,\"access_token\":\"a\"}"), BBO_OK);
        assert_string_equal(bbo_token_access(tok), "a");
        bbo_token_free(tok);
    }
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_error_body_with_token_never_leaks(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e;

    (void)state;
    expect_parse_error("{\"access_token\":\"" ACCESS "\",\"refresh_token\":\"" REFRESH "\","
                       "\"error\":\"unauthorized_client\","
                       "\"error_description\":\"Invalid OAuth client credentials\"}",
                       BBO_EOAUTH);
    e = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(e), "unauthorized_client");
    assert_string_equal(bbo_error_description(e), "Invalid OAuth client credentials");
    assert_null(strstr(bbo_error_message(e), "AccessSecret"));
    assert_null(strstr(bbo_error_message(e), "RefreshSecret"));
    assert_null(strstr(bbo_error_description(e), "AccessSecret"));
    assert_null(strstr(bbo_error_description(e), "RefreshSecret"));
    assert_null(strstr(bbo_error_oauth_code(e), "Secret"));

    /* the order of the fields does not matter */
    expect_parse_error("{\"error\":\"invalid_grant\",\"access_token\":\"" ACCESS "\"}", BBO_EOAUTH);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));

    /* nor do malformed, truncated and duplicate bodies leak the token */
    expect_parse_error("{\"access_token\":\"" ACCESS "\",\"expires_in\":", BBO_EPROTOCOL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));
    expect_parse_error("{\"access_token\":\"" ACCESS "\",\"access_token\":\"" ACCESS "\"}",
                       BBO_EPROTOCOL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));
    expect_parse_error("{\"access_token\":\"" ACCESS " x\"}", BBO_EPROTOCOL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));
    expect_parse_error("{\"access_token\":\"" ACCESS "\" x}", BBO_EPROTOCOL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_api_error_shape(void **state)
{
    long base = bbo_test_alloc_live();
    const bbo_error *e;

    (void)state;
    expect_parse_error("{\"type\":\"error\",\"error\":{\"message\":\"Access token expired. Use "
                       "your refresh token to obtain a new access token.\"}}",
                       BBO_EPROTOCOL);
    e = bbo_error_last();
    assert_null(bbo_error_oauth_code(e));
    assert_string_equal(bbo_error_description(e), "Access token expired. Use your refresh token "
                                                  "to obtain a new access token.");
    assert_non_null(strstr(bbo_error_message(e), "Access token expired."));

    /* error object without a message */
    expect_parse_error("{\"type\":\"error\",\"error\":{\"detail\":\"x\"}}", BBO_EPROTOCOL);
    assert_null(bbo_error_description(bbo_error_last()));
    assert_null(bbo_error_oauth_code(bbo_error_last()));
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- shape of the JSON --------------------------------------------------- */

static void test_unknown_fields_ignored(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(
        parse(&tok, "{\"links\":{\"self\":{\"href\":\"x\"},\"list\":[1,{\"access_token\":\"z\"}]},"
                    "\"nested\":[[[[{\"a\":[]}]]]],\"n\":null,\"t\":true,\"f\":false,"
                    "\"num\":-1.5e3,\"str\":\"\\u00e9\\ud83d\\ude00\","
                    "\"obj\":{\"refresh_token\":\"nested\",\"obj\":{\"obj\":{}}},"
                    "\"access_token\":\"tok\",\"state\":\"client_credentials\","
                    "\"jti\":\"id\",\"expires_in\":\"60\"}"),
        BBO_OK);
    assert_string_equal(bbo_token_access(tok), "tok");
    assert_null(bbo_token_refresh(tok));
    assert_int_equal(bbo_token_expires_at(tok), NOW + 60);
    bbo_token_free(tok);
    /* whitespace everywhere */
    assert_int_equal(parse(&tok, " \r\n\t{ \"access_token\" :\n\"tok\" ,\"expires_in\" : 10 } \n"),
                     BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), NOW + 10);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_duplicate_keys(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    expect_parse_error("{\"access_token\":\"a\",\"access_token\":\"b\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"expires_in\":1,\"expires_in\":99999}",
                       BBO_EPROTOCOL);
    expect_parse_error("{\"unknown\":1,\"access_token\":\"a\",\"unknown\":2}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"acc\\u0065ss_token\":\"b\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"error\":\"x\",\"error\":\"y\"}", BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_truncated_every_prefix(void **state)
{
    static const char body[] = TODAY_ANSWER;
    long base = bbo_test_alloc_live();
    size_t len;

    (void)state;
    for (len = 0; len < sizeof(body) - 1; len++) {
        /* a heap copy of exactly `len` bytes: valgrind sees any over-read */
        char *copy = malloc(len ? len : 1);
        bbo_token *tok = NULL;
        int rc;

        assert_non_null(copy);
        memcpy(copy, body, len);
        rc = bbo_token_parse(&tok, copy, len, NOW);
        if (rc != BBO_EPROTOCOL)
            fail_msg("prefix of %zu bytes gave %d", len, rc);
        assert_null(tok);
        assert_null(strstr(bbo_error_message(bbo_error_last()), "AccessSecret"));
        assert_null(strstr(bbo_error_message(bbo_error_last()), "RefreshSecret"));
        assert_null(bbo_error_oauth_code(bbo_error_last()));
        free(copy);
        assert_int_equal(bbo_test_alloc_live(), base);
    }
}

static void test_size_limit(void **state)
{
    long base = bbo_test_alloc_live();
    size_t size = BBO_JSON_MAX_BYTES + 1;
    char *big = malloc(size);
    bbo_token *tok = NULL;
    const char *head = "{\"access_token\":\"a\",\"pad\":\"";

    (void)state;
    assert_non_null(big);
    /* exactly the limit: accepted */
    memset(big, 'x', size);
    memcpy(big, head, strlen(head));
    memcpy(big + BBO_JSON_MAX_BYTES - 2, "\"}", 2);
    assert_int_equal(bbo_token_parse(&tok, big, BBO_JSON_MAX_BYTES, NOW), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "a");
    bbo_token_free(tok);
    tok = NULL;
    /* one byte more (trailing blank, still valid JSON): refused */
    big[BBO_JSON_MAX_BYTES] = ' ';
    assert_int_equal(bbo_token_parse(&tok, big, size, NOW), BBO_EPROTOCOL);
    assert_null(tok);
    assert_int_equal(bbo_token_parse(&tok, big, SIZE_MAX, NOW), BBO_EPROTOCOL);
    assert_null(tok);
    free(big);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_nesting_limit(void **state)
{
    long base = bbo_test_alloc_live();
    char body[512];
    size_t n = 0;
    int i;

    (void)state;
    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"access_token\":\"a\",\"deep\":");
    for (i = 0; i < 40; i++)
        body[n++] = '[';
    for (i = 0; i < 40; i++)
        body[n++] = ']';
    body[n++] = '}';
    body[n] = '\0';
    expect_parse_error(body, BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "deep"));

    n = 0;
    for (i = 0; i < 40; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"k\":");
    n += (size_t)snprintf(body + n, sizeof(body) - n, "1");
    for (i = 0; i < 40; i++)
        body[n++] = '}';
    body[n] = '\0';
    expect_parse_error(body, BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_not_an_object(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    expect_parse_error("[]", BBO_EPROTOCOL);
    expect_parse_error("[{\"access_token\":\"a\"}]", BBO_EPROTOCOL);
    expect_parse_error("\"access_token\"", BBO_EPROTOCOL);
    expect_parse_error("42", BBO_EPROTOCOL);
    expect_parse_error("-1.5", BBO_EPROTOCOL);
    expect_parse_error("true", BBO_EPROTOCOL);
    expect_parse_error("null", BBO_EPROTOCOL);
    expect_parse_error("", BBO_EPROTOCOL);
    expect_parse_error("   ", BBO_EPROTOCOL);
    expect_parse_error("<html><body>502 Bad Gateway</body></html>", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\"}{\"access_token\":\"b\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\"} trailing", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",}", BBO_EPROTOCOL);
    expect_parse_error("{'access_token':'a'}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\" /* c */}", BBO_EPROTOCOL);
    /* NULL arguments */
    assert_int_equal(bbo_token_parse(NULL, "{}", 2, NOW), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_token_parse(&tok, NULL, 2, NOW), BBO_EINVAL);
    assert_null(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_not_nul_terminated(void **state)
{
    static const char text[] = "{\"access_token\":\"abc\",\"expires_in\":36}00,\"x\":1}";
    long base = bbo_test_alloc_live();
    size_t len = strlen("{\"access_token\":\"abc\",\"expires_in\":36}");
    char *exact = malloc(len);
    bbo_token *tok = NULL;

    (void)state;
    assert_non_null(exact);
    /* the next bytes would make it 3600 and then invalid: only len is read */
    assert_int_equal(bbo_token_parse(&tok, text, len, NOW), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "abc");
    assert_int_equal(bbo_token_expires_at(tok), NOW + 36);
    bbo_token_free(tok);
    /* a heap block without a terminator (valgrind/ASan catch an over-read) */
    memcpy(exact, text, len);
    assert_int_equal(bbo_token_parse(&tok, exact, len, NOW), BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), NOW + 36);
    bbo_token_free(tok);
    free(exact);
    /* a number at the very end of the buffer, no closing brace in range */
    assert_int_equal(bbo_token_parse(&tok, text, len - 1, NOW), BBO_EPROTOCOL);
    /* embedded NUL inside the range */
    assert_int_equal(bbo_token_parse(&tok, "{\"access_token\":\"a\"}\0", 21, NOW), BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_invalid_utf8(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    expect_parse_error("{\"access_token\":\"a\",\"x\":\"\xff\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"x\":\"\xc0\xaf\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"x\":\"\xe2\x82\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"\xfe\":1}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\xff\"}", BBO_EPROTOCOL);
    expect_parse_error("{\"error\":\"bad\xff\"}", BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static char *make_token_text(size_t len, char seed)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                   "-._~+/";
    char *s = malloc(len + 1);
    size_t i;

    assert_non_null(s);

    for (i = 0; i < len; i++)
        s[i] = alphabet[(i * 7 + (size_t)seed) % (sizeof(alphabet) - 1)];
    s[len] = '\0';
    return s;
}

static void test_long_tokens_round_trip(void **state)
{
    long base = bbo_test_alloc_live();
    char *access = make_token_text(5000, 3), *refresh = make_token_text(5000, 11);
    size_t cap = 11000 + 200;
    char *body = malloc(cap);
    char *json = NULL;
    bbo_token *tok = NULL, *back = NULL;

    (void)state;
    assert_non_null(body);
    snprintf(body, cap, "{\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"expires_in\":7200,"
                        "\"scope\":\"account\"}", access, refresh);
    assert_int_equal(parse(&tok, body), BBO_OK);
    assert_int_equal(strlen(bbo_token_access(tok)), 5000);
    assert_string_equal(bbo_token_access(tok), access);
    assert_string_equal(bbo_token_refresh(tok), refresh);
    assert_int_equal(bbo_token_to_json(tok, &json), BBO_OK);
    assert_int_equal(bbo_token_parse(&back, json, strlen(json), NOW + 99), BBO_OK);
    assert_string_equal(bbo_token_access(back), access);
    assert_string_equal(bbo_token_refresh(back), refresh);
    assert_int_equal(bbo_token_expires_at(back), NOW + 7200);
    bbo_free(json);
    bbo_token_free(tok);
    bbo_token_free(back);
    free(body);
    free(access);
    free(refresh);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- serialization ------------------------------------------------------- */

static void test_to_json_round_trip(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL, *back = NULL;
    char *json = NULL;

    (void)state;
    assert_int_equal(parse(&tok, TODAY_ANSWER), BBO_OK);
    assert_int_equal(bbo_token_to_json(tok, &json), BBO_OK);
    assert_string_equal(json, "{\"access_token\":\"" ACCESS "\",\"token_type\":\"bearer\","
                              "\"refresh_token\":\"" REFRESH "\",\"expires_at\":1700007200,"
                              "\"obtained_at\":1700000000,\"scope\":\"account repository\"}");
    /* read back much later: the absolute times stay */
    assert_int_equal(bbo_token_parse(&back, json, strlen(json), NOW + 5000), BBO_OK);
    assert_string_equal(bbo_token_access(back), ACCESS);
    assert_string_equal(bbo_token_refresh(back), REFRESH);
    assert_string_equal(bbo_token_type(back), "bearer");
    assert_int_equal(bbo_token_expires_at(back), NOW + 7200);
    assert_int_equal(bbo_token_obtained_at(back), NOW);
    assert_scopes(back, "account repository");
    bbo_free(json);
    bbo_token_free(tok);
    bbo_token_free(back);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_to_json_minimal(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL, *back = NULL;
    char *json = NULL;
    char expected[160];
    int64_t before = (int64_t)time(NULL), obtained;

    (void)state;

    assert_int_equal(bbo_token_new(&tok, "only-access", NULL, NULL, 0, NULL), BBO_OK);
    /* bbo_token_new stamps the current time as obtained_at */
    obtained = bbo_token_obtained_at(tok);
    assert_true(obtained >= before && obtained <= (int64_t)time(NULL));
    assert_int_equal(bbo_token_to_json(tok, &json), BBO_OK);
    snprintf(expected, sizeof(expected), "{\"access_token\":\"only-access\",\"token_type\":"
             "\"bearer\",\"obtained_at\":%lld,\"scope\":\"\"}", (long long)obtained);
    assert_string_equal(json, expected);
    assert_int_equal(bbo_token_parse(&back, json, strlen(json), NOW), BBO_OK);
    assert_string_equal(bbo_token_access(back), "only-access");
    assert_null(bbo_token_refresh(back));
    assert_int_equal(bbo_token_expires_at(back), 0);
    assert_int_equal(bbo_token_obtained_at(back), obtained);
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(back)), 0);
    assert_int_equal(bbo_token_is_expired(back, NOW, 60), 0);
    bbo_free(json);
    bbo_token_free(tok);
    bbo_token_free(back);

    json = (char *)(uintptr_t)0x1;
    assert_int_equal(bbo_token_to_json(NULL, &json), BBO_EINVAL);
    assert_ptr_equal(json, (char *)(uintptr_t)0x1);
    assert_int_equal(bbo_token_new(&tok, "a", NULL, NULL, 0, NULL), BBO_OK);
    assert_int_equal(bbo_token_to_json(tok, NULL), BBO_EINVAL);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_saved_token_fields(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;

    (void)state;
    /* expires_in wins over expires_at when both are present */
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\",\"expires_at\":5,\"expires_in\":10}"),
                     BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), NOW + 10);
    bbo_token_free(tok);
    assert_int_equal(parse(&tok, "{\"access_token\":\"a\",\"expires_at\":\"1700000123\","
                                 "\"obtained_at\":1699999999}"),
                     BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), 1700000123);
    assert_int_equal(bbo_token_obtained_at(tok), 1699999999);
    bbo_token_free(tok);
    expect_parse_error("{\"access_token\":\"a\",\"expires_at\":-5}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"expires_at\":1.5}", BBO_EPROTOCOL);
    expect_parse_error("{\"access_token\":\"a\",\"obtained_at\":\"soon\"}", BBO_EPROTOCOL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- construction -------------------------------------------------------- */

static void test_token_new(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;
    bbo_scopes *scopes = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_parse(&scopes, "repository account"), BBO_OK);
    assert_int_equal(bbo_token_new(&tok, "acc", "ref", "Bearer", NOW + 10, scopes), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "acc");
    assert_string_equal(bbo_token_refresh(tok), "ref");
    assert_string_equal(bbo_token_type(tok), "bearer");
    assert_int_equal(bbo_token_expires_at(tok), NOW + 10);
    assert_true(bbo_token_obtained_at(tok) > 0); /* stamped with the current time */
    /* scopes were copied */
    assert_ptr_not_equal(bbo_token_scopes(tok), scopes);
    assert_int_equal(bbo_scopes_add(scopes, "email"), BBO_OK);
    assert_scopes(tok, "account repository");
    bbo_token_free(tok);
    bbo_scopes_free(scopes);

    tok = (bbo_token *)(uintptr_t)0x1;
    assert_int_equal(bbo_token_new(NULL, "a", NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, NULL, NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "", NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a b", NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a\r\nb", NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a", "r\nr", NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a", "", NULL, 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a", NULL, "mac", 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a", NULL, "", 0, NULL), BBO_EINVAL);
    assert_int_equal(bbo_token_new(&tok, "a", NULL, NULL, -1, NULL), BBO_EINVAL);
    assert_ptr_equal(tok, (bbo_token *)(uintptr_t)0x1);
    /* the rejected value is not echoed */
    assert_int_equal(bbo_token_new(&tok, "Secret value", NULL, NULL, 0, NULL), BBO_EINVAL);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Secret"));

    tok = NULL;
    assert_int_equal(bbo_token_new(&tok, "a", NULL, "BEARER", 0, NULL), BBO_OK);
    assert_string_equal(bbo_token_type(tok), "bearer");
    assert_null(bbo_token_refresh(tok));
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(tok)), 0);
    bbo_token_free(tok);
    bbo_token_free(NULL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_token_dup(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL, *copy = NULL;

    (void)state;
    assert_int_equal(parse(&tok, TODAY_ANSWER), BBO_OK);
    assert_int_equal(bbo_token_dup(&copy, tok), BBO_OK);
    assert_ptr_not_equal(copy, tok);
    assert_ptr_not_equal(bbo_token_access(copy), bbo_token_access(tok));
    assert_string_equal(bbo_token_access(copy), ACCESS);
    assert_string_equal(bbo_token_refresh(copy), REFRESH);
    assert_string_equal(bbo_token_type(copy), "bearer");
    assert_int_equal(bbo_token_expires_at(copy), NOW + 7200);
    assert_int_equal(bbo_token_obtained_at(copy), NOW);
    assert_ptr_not_equal(bbo_token_scopes(copy), bbo_token_scopes(tok));
    bbo_token_free(tok);
    /* the copy outlives the original */
    assert_string_equal(bbo_token_access(copy), ACCESS);
    assert_scopes(copy, "account repository");
    bbo_token_free(copy);

    copy = (bbo_token *)(uintptr_t)0x1;
    assert_int_equal(bbo_token_dup(&copy, NULL), BBO_EINVAL);
    assert_ptr_equal(copy, (bbo_token *)(uintptr_t)0x1);
    assert_int_equal(bbo_token_dup(NULL, NULL), BBO_EINVAL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* A shared token (the session's leader holds the token it refreshes this
 * way): no copy, and it lives until its last holder lets go. */
static void test_token_share(void **state)
{
    long base = bbo_test_alloc_live(), live;
    bbo_token *tok = NULL, *held;
    int i;

    (void)state;
    assert_int_equal(parse(&tok, TODAY_ANSWER), BBO_OK);
    live = bbo_test_alloc_live();
    held = bbo__token_share(tok);
    assert_ptr_equal(held, tok);
    assert_int_equal(bbo_test_alloc_live(), live); /* nothing allocated */
    for (i = 0; i < 3; i++)
        bbo__token_share(tok);
    for (i = 0; i < 4; i++) {
        bbo_token_free(tok);
        /* still whole for the holders left */
        assert_string_equal(bbo_token_access(held), ACCESS);
        assert_string_equal(bbo_token_refresh(held), REFRESH);
        assert_scopes(held, "account repository");
        assert_int_equal(bbo_test_alloc_live(), live);
    }
    bbo_token_free(held); /* the last holder */
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* Holders on several threads take and let go of the same token at once
 * (the main thread's hold outlives them): the count stays exact. */
static void *share_and_free(void *arg)
{
    bbo_token *tok = arg;
    int i;

    for (i = 0; i < 20000; i++) {
        bbo_token *held = bbo__token_share(tok);

        if (strcmp(bbo_token_refresh(held), REFRESH) != 0)
            abort();
        bbo_token_free(held);
    }
    return NULL;
}

static void test_token_share_threads(void **state)
{
    long base = bbo_test_alloc_live(), live;
    pthread_t threads[4];
    bbo_token *tok = NULL;
    size_t i;

    (void)state;
    assert_int_equal(parse(&tok, TODAY_ANSWER), BBO_OK);
    live = bbo_test_alloc_live();
    for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
        assert_int_equal(pthread_create(&threads[i], NULL, share_and_free, tok), 0);
    for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(bbo_test_alloc_live(), live);
    assert_string_equal(bbo_token_access(tok), ACCESS);
    bbo_token_free(tok); /* the last holder */
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_getters_null(void **state)
{
    (void)state;
    assert_null(bbo_token_access(NULL));
    assert_null(bbo_token_refresh(NULL));
    assert_null(bbo_token_type(NULL));
    assert_null(bbo_token_scopes(NULL));
    assert_int_equal(bbo_token_expires_at(NULL), 0);
    assert_int_equal(bbo_token_obtained_at(NULL), 0);
    assert_int_equal(bbo_token_is_expired(NULL, NOW, 0), 1);
}

static void test_is_expired(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;
    const int64_t at = NOW + 3600;

    (void)state;
    assert_int_equal(bbo_token_new(&tok, "a", NULL, NULL, at, NULL), BBO_OK);
    assert_int_equal(bbo_token_is_expired(tok, NOW, 0), 0);
    assert_int_equal(bbo_token_is_expired(tok, at - 1, 0), 0);
    assert_int_equal(bbo_token_is_expired(tok, at, 0), 1);
    assert_int_equal(bbo_token_is_expired(tok, at + 1, 0), 1);
    /* boundary: now + margin == expires_at counts as expired */
    assert_int_equal(bbo_token_is_expired(tok, at - 60, 60), 1);
    assert_int_equal(bbo_token_is_expired(tok, at - 61, 60), 0);
    assert_int_equal(bbo_token_is_expired(tok, NOW, 3599), 0);
    assert_int_equal(bbo_token_is_expired(tok, NOW, 3600), 1);
    assert_int_equal(bbo_token_is_expired(tok, NOW, 3601), 1);
    /* a negative margin counts as 0 */
    assert_int_equal(bbo_token_is_expired(tok, at - 1, -100), 0);
    assert_int_equal(bbo_token_is_expired(tok, at, -100), 1);
    /* extremes do not overflow */
    assert_int_equal(bbo_token_is_expired(tok, NOW, INT64_MAX), 1);
    assert_int_equal(bbo_token_is_expired(tok, INT64_MIN, INT64_MAX), 1);
    assert_int_equal(bbo_token_is_expired(tok, INT64_MIN, 0), 0);
    assert_int_equal(bbo_token_is_expired(tok, INT64_MAX, 0), 1);
    assert_int_equal(bbo_token_is_expired(tok, 0, INT64_MIN), 0);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- out of memory ------------------------------------------------------- */

typedef struct oom_ctx {
    const char *json;
    bbo_token *token;
    char *text;
} oom_ctx;

static int op_parse(void *c)
{
    oom_ctx *ctx = c;

    return bbo_token_parse(&ctx->token, ctx->json, strlen(ctx->json), NOW);
}

static void cleanup_parse(void *c)
{
    oom_ctx *ctx = c;

    assert_string_equal(bbo_token_access(ctx->token), ACCESS);
    assert_string_equal(bbo_token_refresh(ctx->token), REFRESH);
    bbo_token_free(ctx->token);
    ctx->token = NULL;
}

static int op_to_json(void *c)
{
    oom_ctx *ctx = c;

    return bbo_token_to_json(ctx->token, &ctx->text);
}

static void cleanup_to_json(void *c)
{
    oom_ctx *ctx = c;

    assert_non_null(strstr(ctx->text, ACCESS));
    bbo_free(ctx->text);
    ctx->text = NULL;
}

static void test_oom_parse(void **state)
{
    oom_ctx ctx = { TODAY_ANSWER, NULL, NULL };
    long base = bbo_test_alloc_live();

    (void)state;
    bbo_test_oom_torture(op_parse, cleanup_parse, &ctx);
    /* with escapes (yajl's decode buffer) */
    ctx.json = "{\"access_token\":\"" ACCESS "\",\"refresh_token\":\"" REFRESH "\","
               "\"x\":\"\\u00e9\\n\",\"scopes\":\"a b c d e f g h i j\",\"expires_in\":\"60\"}";
    bbo_test_oom_torture(op_parse, cleanup_parse, &ctx);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_oom_to_json(void **state)
{
    oom_ctx ctx = { TODAY_ANSWER, NULL, NULL };
    long base = bbo_test_alloc_live();

    (void)state;
    assert_int_equal(op_parse(&ctx), BBO_OK);
    bbo_test_oom_torture(op_to_json, cleanup_to_json, &ctx);
    bbo_token_free(ctx.token);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* Every character at every offset of tokens long enough for the wide
 * checking steps: exactly the bearer characters pass. */
static void test_token_characters_at_any_offset(void **state)
{
    static const char good[] = "AZaz09-._~+/=:";
    char text[200];
    size_t len, at;
    int c;

    (void)state;
    for (len = 1; len < sizeof(text); len += 13) {
        for (at = 0; at < len; at += 3) {
            for (c = 1; c < 256; c++) {
                bbo_token *tok = NULL;
                int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || (c && strchr(good, c) != NULL);
                int rc;

                memset(text, 'k', len);
                text[len] = '\0';
                text[at] = (char)c;
                rc = bbo_token_new(&tok, text, NULL, "bearer", 0, NULL);
                if (rc != (ok ? BBO_OK : BBO_EINVAL))
                    fail_msg("char %d at %zu of %zu: %d", c, at, len, rc);
                bbo_token_free(tok);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_today),
        cmocka_unit_test(test_token_characters_at_any_offset),
        cmocka_unit_test(test_parse_legacy_scopes),
        cmocka_unit_test(test_parse_scope_wins_over_scopes),
        cmocka_unit_test(test_expires_in),
        cmocka_unit_test(test_missing_expires_in),
        cmocka_unit_test(test_token_type),
        cmocka_unit_test(test_access_token_required),
        cmocka_unit_test(test_refresh_token_null),
        cmocka_unit_test(test_token_characters),
        cmocka_unit_test(test_oauth_error_body),
        cmocka_unit_test(test_error_body_with_token_never_leaks),
        cmocka_unit_test(test_api_error_shape),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_truncated_every_prefix),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_long_tokens_round_trip),
        cmocka_unit_test(test_to_json_round_trip),
        cmocka_unit_test(test_to_json_minimal),
        cmocka_unit_test(test_saved_token_fields),
        cmocka_unit_test(test_token_new),
        cmocka_unit_test(test_token_dup),
        cmocka_unit_test(test_token_share),
        cmocka_unit_test(test_token_share_threads),
        cmocka_unit_test(test_getters_null),
        cmocka_unit_test(test_is_expired),
        cmocka_unit_test(test_oom_parse),
        cmocka_unit_test(test_oom_to_json),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
