/*
 * Unit tests: the streaming JSON field extractor (src/internal/json.h).
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/common.h"
#include "internal/json.h"

#define FIELD(p) { (p), BBO_JSON_ABSENT, NULL, 0 }

static int extract(const char *json, bbo_json_field *f, size_t n)
{
    return bbo__json_extract(json, strlen(json), f, n, "test document");
}

static void assert_all_absent(const bbo_json_field *f, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        assert_int_equal(f[i].kind, BBO_JSON_ABSENT);
        assert_null(f[i].text);
        assert_int_equal(f[i].length, 0);
    }
}

/* Expect `code` for `json` with a couple of fields asked for. */
static void expect_failure(const char *json, size_t len, int code)
{
    bbo_json_field f[] = { FIELD("a"), FIELD("error.message") };
    long base = bbo_test_alloc_live();
    int rc = bbo__json_extract(json, len, f, 2, "test document");

    if (rc != code)
        fail_msg("%.*s gave %d (%s), expected %d", (int)(len > 80 ? 80 : len), json, rc,
                 bbo_error_message(bbo_error_last()), code);
    assert_int_equal(bbo_error_code(bbo_error_last()), code);
    assert_all_absent(f, 2);
    assert_int_equal(bbo_test_alloc_live(), base);
}

#define EXPECT_FAILURE(json) expect_failure((json), strlen(json), BBO_EPROTOCOL)

static void test_kinds(void **state)
{
    bbo_json_field f[] = {
        FIELD("s"), FIELD("n"), FIELD("o"), FIELD("arr"), FIELD("t"), FIELD("f"), FIELD("z"),
        FIELD("missing"), FIELD("e"),
    };
    long base = bbo_test_alloc_live();

    (void)state;
    assert_int_equal(extract("{\"s\":\"text\",\"n\":42,\"o\":{\"x\":1},\"arr\":[1,\"s\"],"
                             "\"t\":true,\"f\":false,\"z\":null,\"e\":\"\"}",
                             f, BBO_ARRAY_SIZE(f)),
                     BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_STRING);
    assert_string_equal(f[0].text, "text");
    assert_int_equal(f[0].length, 4);
    assert_int_equal(f[1].kind, BBO_JSON_NUMBER);
    assert_string_equal(f[1].text, "42");
    assert_int_equal(f[1].length, 2);
    assert_int_equal(f[2].kind, BBO_JSON_OBJECT);
    assert_null(f[2].text);
    assert_int_equal(f[3].kind, BBO_JSON_OTHER);
    assert_null(f[3].text);
    assert_int_equal(f[4].kind, BBO_JSON_OTHER);
    assert_int_equal(f[5].kind, BBO_JSON_OTHER);
    assert_int_equal(f[6].kind, BBO_JSON_OTHER);
    assert_null(f[6].text);
    assert_int_equal(f[7].kind, BBO_JSON_ABSENT);
    assert_null(f[7].text);
    assert_int_equal(f[8].kind, BBO_JSON_STRING);
    assert_string_equal(f[8].text, "");
    assert_int_equal(f[8].length, 0);

    assert_ptr_equal(bbo__json_field(f, BBO_ARRAY_SIZE(f), "o"), &f[2]);
    assert_ptr_equal(bbo__json_field(f, BBO_ARRAY_SIZE(f), "e"), &f[8]);
    assert_null(bbo__json_field(f, BBO_ARRAY_SIZE(f), "nope"));
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));
    assert_all_absent(f, BBO_ARRAY_SIZE(f));
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_numbers_are_literals(void **state)
{
    static const char *const numbers[] = {
        "0", "-0", "7200", "-1", "1.5", "-0.5e+10", "1E3", "2.50",
        "123456789012345678901234567890", "1e999", "-9223372036854775809",
    };
    long base = bbo_test_alloc_live();
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < BBO_ARRAY_SIZE(numbers); i++) {
        bbo_json_field f[] = { FIELD("n") };

        snprintf(body, sizeof(body), "{\"n\":%s}", numbers[i]);
        assert_int_equal(extract(body, f, 1), BBO_OK);
        assert_int_equal(f[0].kind, BBO_JSON_NUMBER);
        assert_string_equal(f[0].text, numbers[i]);
        assert_int_equal(f[0].length, strlen(numbers[i]));
        bbo__json_fields_dispose(f, 1);
    }
    /* not JSON numbers */
    EXPECT_FAILURE("{\"n\":+1}");
    EXPECT_FAILURE("{\"n\":.5}");
    EXPECT_FAILURE("{\"n\":0x10}");
    EXPECT_FAILURE("{\"n\":NaN}");
    EXPECT_FAILURE("{\"n\":1.}");
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_nested_paths(void **state)
{
    bbo_json_field f[] = { FIELD("error"), FIELD("error.message"), FIELD("b.c"), FIELD("x.y") };
    long base = bbo_test_alloc_live();

    (void)state;
    assert_int_equal(extract("{\"type\":\"error\",\"error\":{\"code\":1,\"message\":\"Access "
                             "token expired.\",\"list\":[{\"message\":\"no\"}]},"
                             "\"b\":{\"a\":{\"c\":\"deep\"},\"c\":-2.5},\"x\":{\"z\":1}}",
                             f, BBO_ARRAY_SIZE(f)),
                     BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_OBJECT);
    assert_int_equal(f[1].kind, BBO_JSON_STRING);
    assert_string_equal(f[1].text, "Access token expired.");
    assert_int_equal(f[2].kind, BBO_JSON_NUMBER);
    assert_string_equal(f[2].text, "-2.5");
    assert_int_equal(f[3].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));

    /* error as a string: error.message is absent */
    assert_int_equal(extract("{\"error\":\"invalid_grant\",\"message\":\"top\"}", f, 2), BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_STRING);
    assert_string_equal(f[0].text, "invalid_grant");
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);

    /* error.message inside an array or two levels down is not error.message */
    assert_int_equal(extract("{\"error\":[{\"message\":\"a\"},\"b\",[\"c\"],\"d\"]}", f, 2), BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_OTHER);
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);
    assert_int_equal(extract("{\"error\":{\"inner\":{\"message\":\"a\"}}}", f, 2), BBO_OK);
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);
    assert_int_equal(extract("{\"error\":{\"inner\":[[1],{\"message\":\"a\"}],\"m\":1}}", f, 2),
                     BBO_OK);
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);
    /* a nested key of another object is not error.message */
    assert_int_equal(extract("{\"other\":{\"message\":\"a\"},\"error\":{}}", f, 2), BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_OBJECT);
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);
    /* the key at depth 2 is forgotten when its object closes */
    assert_int_equal(extract("{\"error\":{\"message\":{\"x\":1},\"y\":2},\"message\":\"m\"}", f, 2),
                     BBO_OK);
    assert_int_equal(f[1].kind, BBO_JSON_OBJECT);
    bbo__json_fields_dispose(f, 2);
    /* a top-level key that looks like a path is not a path */
    assert_int_equal(extract("{\"error.message\":\"flat\"}", f, 2), BBO_OK);
    assert_int_equal(f[1].kind, BBO_JSON_ABSENT);
    bbo__json_fields_dispose(f, 2);
    /* a repeated nested field that was asked for is refused */
    EXPECT_FAILURE("{\"error\":{\"message\":\"a\",\"message\":\"b\"}}");
    /* a repeated nested key nobody asked for is tolerated */
    assert_int_equal(extract("{\"x\":{\"k\":1,\"k\":2},\"error\":\"e\"}", f, 2), BBO_OK);
    assert_string_equal(f[0].text, "e");
    bbo__json_fields_dispose(f, 2);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_escaped_keys_and_strings(void **state)
{
    bbo_json_field f[] = { FIELD("access_token"), FIELD("a\"b"), FIELD("s"), FIELD("caf\xc3\xa9") };
    long base = bbo_test_alloc_live();

    (void)state;
    assert_int_equal(extract("{\"acc\\u0065ss_token\":\"x\",\"a\\\"b\":1,"
                             "\"s\":\"a\\nb\\t\\\"\\\\\\/\\u00e9\\ud83d\\ude00\","
                             "\"caf\\u00e9\":true}",
                             f, BBO_ARRAY_SIZE(f)),
                     BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_STRING);
    assert_string_equal(f[0].text, "x");
    assert_int_equal(f[1].kind, BBO_JSON_NUMBER);
    assert_string_equal(f[1].text, "1");
    assert_int_equal(f[2].kind, BBO_JSON_STRING);
    assert_string_equal(f[2].text, "a\nb\t\"\\/\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(f[2].length, 13);
    assert_int_equal(f[3].kind, BBO_JSON_OTHER);
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));

    /* a NUL inside a value is kept with its length */
    assert_int_equal(extract("{\"s\":\"a\\u0000b\"}", f, BBO_ARRAY_SIZE(f)), BBO_OK);
    assert_int_equal(f[2].length, 3);
    assert_memory_equal(f[2].text, "a\0b", 4);
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));

    /* an escaped spelling of a key already seen is a duplicate */
    EXPECT_FAILURE("{\"a\":1,\"\\u0061\":2}");
    EXPECT_FAILURE("{\"access_token\":\"x\",\"access\\u005ftoken\":\"y\"}");
    /* a key with a NUL byte */
    EXPECT_FAILURE("{\"a\\u0000b\":1}");
    /* lone surrogates */
    EXPECT_FAILURE("{\"s\":\"\\udc00\"}");
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_duplicate_keys(void **state)
{
    bbo_json_field f[] = { FIELD("a") };
    long base = bbo_test_alloc_live();

    (void)state;
    EXPECT_FAILURE("{\"a\":1,\"a\":1}");
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "test document"));
    EXPECT_FAILURE("{\"x\":1,\"x\":[]}");
    EXPECT_FAILURE("{\"x\":{},\"y\":0,\"x\":{}}");
    EXPECT_FAILURE("{\"\":1,\"\":2}");
    /* same key at different levels is fine */
    assert_int_equal(extract("{\"a\":{\"a\":{\"a\":1}}}", f, 1), BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_OBJECT);
    bbo__json_fields_dispose(f, 1);
    /* keys differing only in case are distinct */
    assert_int_equal(extract("{\"a\":\"lower\",\"A\":\"upper\"}", f, 1), BBO_OK);
    assert_string_equal(f[0].text, "lower");
    bbo__json_fields_dispose(f, 1);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* {"0":0,"1":1,...} with `n` distinct keys, then the given tail. */
static char *many_keys(size_t n, const char *tail, size_t *len_out)
{
    size_t cap = n * 16 + 64, len = 0, i;
    char *body = malloc(cap);

    assert_non_null(body);
    body[len++] = '{';
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%zu\":0", i ? "," : "", i);
    len += (size_t)snprintf(body + len, cap - len, "%s}", tail);
    *len_out = len;
    return body;
}

static void test_hundred_thousand_keys(void **state)
{
    bbo_json_field f[] = { FIELD("99999"), FIELD("0"), FIELD("last") };
    long base = bbo_test_alloc_live();
    size_t len;
    char *body;

    (void)state;
    body = many_keys(100000, ",\"last\":\"end\"", &len);
    assert_true(len <= BBO_JSON_MAX_BYTES);
    assert_int_equal(bbo__json_extract(body, len, f, 3, "big"), BBO_OK);
    assert_int_equal(f[0].kind, BBO_JSON_NUMBER);
    assert_int_equal(f[1].kind, BBO_JSON_NUMBER);
    assert_string_equal(f[2].text, "end");
    bbo__json_fields_dispose(f, 3);
    free(body);

    /* the same with a repeat of an early key at the very end */
    body = many_keys(100000, ",\"17\":1", &len);
    assert_int_equal(bbo__json_extract(body, len, f, 3, "big"), BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "duplicate"));
    assert_all_absent(f, 3);
    free(body);
    /* and of the key just before */
    body = many_keys(100000, ",\"99999\":1", &len);
    assert_int_equal(bbo__json_extract(body, len, f, 3, "big"), BBO_EPROTOCOL);
    assert_all_absent(f, 3);
    free(body);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* `depth` nested arrays or objects under a top-level object (0: none). */
static char *nested(int depth, char open, char close)
{
    size_t cap = (size_t)depth * 8 + 32, n = 0;
    char *body = malloc(cap);
    int i;

    if (!body)
        abort();
    n += (size_t)snprintf(body, cap, "{\"a\":\"v\",\"d\":");
    for (i = 0; i < depth; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s", open == '[' ? "[" : "{\"k\":");
    body[n++] = '1';
    for (i = 0; i < depth; i++)
        body[n++] = close;
    body[n++] = '}';
    body[n] = '\0';
    return body;
}

static void test_depth_limit(void **state)
{
    bbo_json_field f[] = { FIELD("a") };
    long base = bbo_test_alloc_live();
    char *body;

    (void)state;
    /* the top object plus 31 containers: exactly the limit */
    body = nested(BBO_JSON_MAX_DEPTH - 1, '[', ']');
    assert_int_equal(extract(body, f, 1), BBO_OK);
    assert_string_equal(f[0].text, "v");
    bbo__json_fields_dispose(f, 1);
    free(body);
    body = nested(BBO_JSON_MAX_DEPTH - 1, '{', '}');
    assert_int_equal(extract(body, f, 1), BBO_OK);
    bbo__json_fields_dispose(f, 1);
    free(body);
    /* one more */
    body = nested(BBO_JSON_MAX_DEPTH, '[', ']');
    EXPECT_FAILURE(body);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "nested"));
    free(body);
    body = nested(BBO_JSON_MAX_DEPTH, '{', '}');
    EXPECT_FAILURE(body);
    free(body);
    body = nested(10000, '[', ']');
    EXPECT_FAILURE(body);
    free(body);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_not_an_object(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    EXPECT_FAILURE("[]");
    EXPECT_FAILURE("[{\"a\":1}]");
    EXPECT_FAILURE("\"a\"");
    EXPECT_FAILURE("1");
    EXPECT_FAILURE("true");
    EXPECT_FAILURE("null");
    EXPECT_FAILURE(" ");
    EXPECT_FAILURE("{");
    EXPECT_FAILURE("{\"a\":");
    EXPECT_FAILURE("{\"a\":1");
    EXPECT_FAILURE("{\"a\":1}}");
    EXPECT_FAILURE("{}{}");
    EXPECT_FAILURE("{} x");
    EXPECT_FAILURE("{/* comment */}");
    EXPECT_FAILURE("{\"a\":\"unterminated}");
    EXPECT_FAILURE("{\"a\":\"tab\tinside\"}");
    EXPECT_FAILURE("{\"a\":\"\\x41\"}");
    expect_failure("", 0, BBO_EPROTOCOL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "empty"));
    expect_failure("{}", BBO_JSON_MAX_BYTES + 1, BBO_EPROTOCOL); /* not read: too long */
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "larger"));
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_error_message_is_one_line(void **state)
{
    const char *msg;
    size_t i;

    (void)state;
    EXPECT_FAILURE("{\"secret-token-value\" 1}");
    msg = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(msg, "test document is not valid JSON ("));
    assert_int_equal(msg[strlen(msg) - 1], ')');
    for (i = 0; msg[i]; i++)
        assert_true((unsigned char)msg[i] >= 0x20);
    /* the non-verbose yajl message never quotes the text */
    assert_null(strstr(msg, "secret-token-value"));
}

static void test_invalid_utf8(void **state)
{
    long base = bbo_test_alloc_live();

    (void)state;
    EXPECT_FAILURE("{\"a\":\"\xff\"}");
    EXPECT_FAILURE("{\"a\":\"\xc3\"}");
    EXPECT_FAILURE("{\"a\":\"\xc0\xaf\"}");         /* overlong '/' */
    EXPECT_FAILURE("{\"a\":\"\xe0\x80\xaf\"}");     /* overlong, 3 bytes */
    EXPECT_FAILURE("{\"a\":\"\xed\xa0\x80\"}");     /* UTF-16 surrogate */
    EXPECT_FAILURE("{\"a\":\"\xf4\x90\x80\x80\"}"); /* past U+10FFFF */
    EXPECT_FAILURE("{\"a\":\"\xf8\x88\x80\x80\x80\"}");
    EXPECT_FAILURE("{\"\xc0\xaf\":1}");
    EXPECT_FAILURE("{\"ignored\":[\"\xe2\x82\"]}");
    {
        bbo_json_field f[] = { FIELD("a") };

        /* the extremes of valid UTF-8 */
        assert_int_equal(extract("{\"a\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"
                                 "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}",
                                 f, 1),
                         BBO_OK);
        assert_int_equal(f[0].length, 18);
        bbo__json_fields_dispose(f, 1);
    }
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_not_nul_terminated(void **state)
{
    static const char text[] = "{\"a\":12}34";
    bbo_json_field f[] = { FIELD("a") };
    long base = bbo_test_alloc_live();
    char *exact = malloc(8);

    (void)state;
    assert_non_null(exact);
    memcpy(exact, text, 8);
    assert_int_equal(bbo__json_extract(exact, 8, f, 1, "x"), BBO_OK);
    assert_string_equal(f[0].text, "12");
    bbo__json_fields_dispose(f, 1);
    /* a number cut by the length at the end */
    assert_int_equal(bbo__json_extract("{\"a\":1234}", 7, f, 1, "x"), BBO_EPROTOCOL);
    assert_all_absent(f, 1);
    free(exact);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* Long strings take the wide scanning steps: an escape, a multi-byte
 * character, a control character or a bad byte at any offset is seen. */
static void test_long_strings(void **state)
{
    static const char *const specials[] = { "\\n", "\xc3\xa9", "\\u00e9", "\\\"" };
    static const char *const decoded[] = { "\n", "\xc3\xa9", "\xc3\xa9", "\"" };
    long base = bbo_test_alloc_live();
    char body[1200], want[1100];
    size_t len, at, k;

    (void)state;
    for (len = 250; len <= 330; len += 40) {
        for (at = 0; at < len; at += (at < 80 || at > len - 80) ? 1 : 29) {
            for (k = 0; k < BBO_ARRAY_SIZE(specials); k++) {
                bbo_json_field f[] = { FIELD("a") };
                size_t n = 0, w = 0;

                n += (size_t)snprintf(body, sizeof(body), "{\"a\":\"");
                memset(body + n, 'x', at);
                memset(want, 'x', at);
                n += at;
                w += at;
                n += (size_t)snprintf(body + n, sizeof(body) - n, "%s", specials[k]);
                w += (size_t)snprintf(want + w, sizeof(want) - w, "%s", decoded[k]);
                memset(body + n, 'y', len - at);
                memset(want + w, 'y', len - at);
                n += len - at;
                w += len - at;
                want[w] = '\0';
                n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}");
                assert_int_equal(bbo__json_extract(body, n, f, 1, "long"), BBO_OK);
                assert_int_equal(f[0].length, w);
                assert_memory_equal(f[0].text, want, w + 1);
                bbo__json_fields_dispose(f, 1);
            }
            /* a control character and a byte that is not UTF-8 */
            {
                static const char bad[] = { '\t', '\x1f', '\xff', '\x80' };

                for (k = 0; k < sizeof(bad); k++) {
                    size_t n = (size_t)snprintf(body, sizeof(body), "{\"a\":\"");

                    memset(body + n, 'x', len);
                    body[n + at] = bad[k];
                    n += len;
                    n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}");
                    expect_failure(body, n, BBO_EPROTOCOL);
                }
            }
        }
    }
    assert_int_equal(bbo_test_alloc_live(), base);
}

typedef struct oom_ctx {
    const char *json;
    bbo_json_field f[3];
} oom_ctx;

static int op_extract(void *c)
{
    oom_ctx *ctx = c;

    return bbo__json_extract(ctx->json, strlen(ctx->json), ctx->f, 3, "oom");
}

static void cleanup_extract(void *c)
{
    oom_ctx *ctx = c;

    assert_int_equal(ctx->f[0].kind, BBO_JSON_STRING);
    assert_int_equal(ctx->f[2].kind, BBO_JSON_STRING);
    bbo__json_fields_dispose(ctx->f, 3);
}

static void test_oom(void **state)
{
    oom_ctx ctx = {
        "{\"a\":\"va\\u00e9lue with escapes \\n\",\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,"
        "\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"deep\":[[[[[[{\"x\":[1,2,3]}]]]]]],"
        "\"error\":{\"code\":1,\"message\":\"m\"},\"k10\":1.5e3}",
        { FIELD("a"), FIELD("k10"), FIELD("error.message") },
    };
    long base = bbo_test_alloc_live();

    (void)state;
    bbo_test_oom_torture(op_extract, cleanup_extract, &ctx);
    assert_int_equal(bbo_test_alloc_live(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_numbers_are_literals),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_escaped_keys_and_strings),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_hundred_thousand_keys),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_error_message_is_one_line),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_long_strings),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
