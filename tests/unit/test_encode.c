/*
 * Percent, form and base64 encodings; query-string parsing
 * (src/internal/encode.h).
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <string.h>

#include "internal/common.h"
#include "internal/encode.h"

static void assert_encoded(const char *in, size_t len, bool form, const char *expected)
{
    bbo_buf b = BBO_BUF_INIT;

    assert_int_equal(bbo__url_encode(&b, in, len, form), BBO_OK);
    assert_string_equal(b.ptr, expected);
    assert_int_equal(b.size, strlen(expected));
    bbo__buf_dispose(&b);
}

static void test_percent_encode(void **state)
{
    const char *awkward = "a b+c&d=e%f/g?h#i~j-k.l_m";

    (void)state;
    assert_encoded(awkward, strlen(awkward), false,
                   "a%20b%2Bc%26d%3De%25f%2Fg%3Fh%23i~j-k.l_m");
    assert_encoded("\xc3\xa9\xe2\x82\xac", 5, false, "%C3%A9%E2%82%AC");
    assert_encoded("AZaz09-._~", 10, false, "AZaz09-._~");
    assert_encoded(":@!$'()*,;[]\"\\<>^`{|}", 21, false,
                   "%3A%40%21%24%27%28%29%2A%2C%3B%5B%5D%22%5C%3C%3E%5E%60%7B%7C%7D");
    assert_encoded("\x01\x7f\xff", 3, false, "%01%7F%FF");
    assert_encoded("a\0b", 3, false, "a%00b"); /* length, not NUL, ends the input */
    assert_encoded("abcdef", 3, false, "abc");
    assert_encoded("", 0, false, "");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_form_encode(void **state)
{
    const char *awkward = "a b+c&d=e%f/g?h#i~j";

    (void)state;
    assert_encoded(awkward, strlen(awkward), true, "a+b%2Bc%26d%3De%25f%2Fg%3Fh%23i~j");
    assert_encoded("  ", 2, true, "++");
    assert_encoded("\xc3\xa9 x", 4, true, "%C3%A9+x");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_encode_appends(void **state)
{
    bbo_buf b = BBO_BUF_INIT;
    char big[300];

    (void)state;
    assert_int_equal(bbo__buf_puts(&b, "x="), BBO_OK);
    assert_int_equal(bbo__url_encode(&b, "a/b", 3, false), BBO_OK);
    assert_string_equal(b.ptr, "x=a%2Fb");
    /* growing past the first block keeps what was there */
    memset(big, '/', sizeof(big));
    assert_int_equal(bbo__url_encode(&b, big, sizeof(big), false), BBO_OK);
    assert_int_equal(b.size, 7 + 3 * sizeof(big));
    assert_memory_equal(b.ptr, "x=a%2Fb%2F%2F", 13);
    assert_string_equal(b.ptr + b.size - 3, "%2F");
    bbo__buf_dispose(&b);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_form_append(void **state)
{
    bbo_buf b = BBO_BUF_INIT;

    (void)state;
    assert_int_equal(bbo__form_append(&b, "grant_type", "authorization_code"), BBO_OK);
    assert_string_equal(b.ptr, "grant_type=authorization_code");
    assert_int_equal(bbo__form_append(&b, "code", "a b&c=d+e%"), BBO_OK);
    assert_int_equal(bbo__form_append(&b, "redirect_uri", "http://127.0.0.1:9/cb?x=1"), BBO_OK);
    assert_int_equal(bbo__form_append(&b, "we ird&", ""), BBO_OK);
    assert_string_equal(b.ptr, "grant_type=authorization_code&code=a+b%26c%3Dd%2Be%25"
                               "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fx%3D1"
                               "&we+ird%26=");
    bbo__buf_dispose(&b);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_decoded(const char *in, bool form, const char *expected)
{
    char *out = NULL;

    assert_int_equal(bbo__url_decode(&out, in, strlen(in), form), BBO_OK);
    assert_string_equal(out, expected);
    bbo_free(out);
}

static void assert_decode_fails(const char *in, size_t len)
{
    char *sentinel = (char *)&sentinel, *out = sentinel;

    if (bbo__url_decode(&out, in, len, true) != BBO_EPROTOCOL)
        fail_msg("decoding \"%s\" should fail", in);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EPROTOCOL);
    assert_ptr_equal(out, sentinel);
}

static void test_decode(void **state)
{
    char *out = NULL;

    (void)state;
    assert_decoded("a%20b+c", true, "a b c");
    assert_decoded("a%20b+c", false, "a b+c");
    assert_decoded("%2B%2b", true, "++");
    assert_decoded("%41%62%2f%2F", false, "Ab//");
    assert_decoded("%C3%A9%e2%82%ac", true, "\xc3\xa9\xe2\x82\xac");
    assert_decoded("a%26b%3Dc%25d%23e%3Ff", true, "a&b=c%d#e?f");
    assert_decoded("~-._", true, "~-._");
    assert_decoded("", true, "");
    /* a raw '%' beyond the given length is not looked at */
    assert_int_equal(bbo__url_decode(&out, "ab%zz", 2, true), BBO_OK);
    assert_string_equal(out, "ab");
    bbo_free(out);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_decode_bad_escapes(void **state)
{
    (void)state;
    assert_decode_fails("%4", 2);
    assert_decode_fails("%", 1);
    assert_decode_fails("abc%", 4);
    assert_decode_fails("abc%4", 5);
    assert_decode_fails("%zz", 3);
    assert_decode_fails("%g0", 3);
    assert_decode_fails("%0g", 3);
    assert_decode_fails("% 41", 4);
    assert_decode_fails("%00", 3);
    assert_decode_fails("ok%00ok", 7);
    assert_decode_fails("%41%4", 5);
    assert_decode_fails("%41%", 4);
    /* the escape is cut by the length */
    assert_decode_fails("%41", 2);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_b64(const char *in, bool url, const char *expected)
{
    bbo_buf b = BBO_BUF_INIT;

    assert_int_equal(bbo__base64_encode(&b, (const unsigned char *)in, strlen(in), url), BBO_OK);
    assert_non_null(b.ptr);
    assert_string_equal(b.ptr, expected);
    assert_int_equal(b.size, strlen(expected));
    bbo__buf_dispose(&b);
}

static void test_base64_rfc4648(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    assert_b64("", false, "");
    assert_b64("f", false, "Zg==");
    assert_b64("fo", false, "Zm8=");
    assert_b64("foo", false, "Zm9v");
    assert_b64("foob", false, "Zm9vYg==");
    assert_b64("fooba", false, "Zm9vYmE=");
    assert_b64("foobar", false, "Zm9vYmFy");
    /* base64url: no padding */
    assert_b64("", true, "");
    assert_b64("f", true, "Zg");
    assert_b64("fo", true, "Zm8");
    assert_b64("foo", true, "Zm9v");
    assert_b64("foob", true, "Zm9vYg");
    assert_b64("fooba", true, "Zm9vYmE");
    assert_b64("foobar", true, "Zm9vYmFy");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_base64_alphabets(void **state)
{
    static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83 };
    bbo_buf b = BBO_BUF_INIT;

    (void)state;
    assert_int_equal(bbo__base64_encode(&b, bytes, sizeof(bytes), false), BBO_OK);
    assert_string_equal(b.ptr, "+/+/ABCD");
    bbo__buf_dispose(&b);
    assert_int_equal(bbo__base64_encode(&b, bytes, sizeof(bytes), true), BBO_OK);
    assert_string_equal(b.ptr, "-_-_ABCD");
    bbo__buf_dispose(&b);
    assert_int_equal(bbo__base64_encode(&b, bytes, 2, false), BBO_OK);
    assert_string_equal(b.ptr, "+/8=");
    bbo__buf_dispose(&b);
    /* appends */
    assert_int_equal(bbo__buf_puts(&b, "Basic "), BBO_OK);
    assert_int_equal(bbo__base64_encode(&b, (const unsigned char *)"key:secret", 10, false),
                     BBO_OK);
    assert_string_equal(b.ptr, "Basic a2V5OnNlY3JldA==");
    bbo__buf_dispose(&b);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_b64url_decoded(const char *in, const void *expected, size_t expected_len)
{
    unsigned char *out = NULL;
    size_t len = 12345;

    if (bbo__base64url_decode(&out, &len, in, strlen(in)) != BBO_OK)
        fail_msg("decoding \"%s\" failed", in);
    assert_int_equal(len, expected_len);
    assert_memory_equal(out, expected, expected_len);
    bbo_free(out);
}

static void test_base64url_decode(void **state)
{
    (void)state;
    assert_b64url_decoded("", "", 0);
    assert_b64url_decoded("Zg", "f", 1);
    assert_b64url_decoded("Zg==", "f", 1); /* padding optional */
    assert_b64url_decoded("Zm8", "fo", 2);
    assert_b64url_decoded("Zm8=", "fo", 2);
    assert_b64url_decoded("Zm9v", "foo", 3);
    assert_b64url_decoded("Zm9vYg", "foob", 4);
    assert_b64url_decoded("Zm9vYmE", "fooba", 5);
    assert_b64url_decoded("Zm9vYmFy", "foobar", 6);
    assert_b64url_decoded("-_-_ABCD", "\xfb\xff\xbf\x00\x10\x83", 6);
    assert_b64url_decoded("-_8", "\xfb\xff", 2);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_base64url_round_trip(void **state)
{
    unsigned char data[200];
    size_t n, i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 151 + 7);
    for (n = 0; n <= sizeof(data); n++) {
        bbo_buf b = BBO_BUF_INIT;
        unsigned char *out = NULL;
        size_t len = 0;

        assert_int_equal(bbo__base64_encode(&b, data, n, true), BBO_OK);
        assert_int_equal(b.size, (n * 4 + 2) / 3); /* no padding */
        assert_null(strpbrk(b.ptr, "+/="));
        assert_int_equal(bbo__base64url_decode(&out, &len, b.ptr, b.size), BBO_OK);
        assert_int_equal(len, n);
        if (n)
            assert_memory_equal(out, data, n);
        bbo_free(out);
        bbo__buf_dispose(&b);
    }
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_b64url_fails(const char *in)
{
    unsigned char *sentinel = (unsigned char *)&sentinel, *out = sentinel;
    size_t len = 99;

    if (bbo__base64url_decode(&out, &len, in, strlen(in)) != BBO_EINVAL)
        fail_msg("decoding \"%s\" should fail", in);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(len, 99);
}

static void test_base64url_invalid(void **state)
{
    (void)state;
    assert_b64url_fails("Z");        /* a lone sextet is no byte */
    assert_b64url_fails("Zm9vY");
    assert_b64url_fails("Zm9v!");
    assert_b64url_fails("+/8=");     /* standard alphabet */
    assert_b64url_fails("Zm 9v");
    assert_b64url_fails("Zg==Zg");   /* padding inside */
    assert_b64url_fails("Zm9v\n");
    assert_b64url_fails("Zm9v\xc3\xa9");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static bbo_params parse_params(const char *query)
{
    bbo_params p = { NULL, 0 };

    assert_int_equal(bbo__params_parse(&p, query, strlen(query)), BBO_OK);
    return p;
}

static void test_params_parse(void **state)
{
    bbo_params p;
    size_t count = 99;

    (void)state;
    p = parse_params("code=abc&state=xyz");
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].name, "code");
    assert_string_equal(p.items[0].value, "abc");
    assert_string_equal(p.items[1].name, "state");
    assert_string_equal(p.items[1].value, "xyz");
    assert_string_equal(bbo__params_get(&p, "state", &count), "xyz");
    assert_int_equal(count, 1);
    assert_null(bbo__params_get(&p, "missing", &count));
    assert_int_equal(count, 0);
    assert_null(bbo__params_get(&p, "Code", NULL)); /* names are case-sensitive */
    bbo__params_dispose(&p);
    assert_null(p.items);
    assert_int_equal(p.count, 0);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_params_repeated(void **state)
{
    bbo_params p;
    size_t count = 0;

    (void)state;
    p = parse_params("a=1&b=2&a=3&a=");
    assert_int_equal(p.count, 4);
    assert_string_equal(bbo__params_get(&p, "a", &count), "1"); /* the first */
    assert_int_equal(count, 3);
    assert_string_equal(bbo__params_get(&p, "b", &count), "2");
    assert_int_equal(count, 1);
    bbo__params_dispose(&p);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_params_empty_pieces(void **state)
{
    bbo_params p;

    (void)state;
    p = parse_params("&&x=1&&&y=2&");
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].name, "x");
    assert_string_equal(p.items[1].name, "y");
    bbo__params_dispose(&p);

    p = parse_params("");
    assert_int_equal(p.count, 0);
    bbo__params_dispose(&p);

    p = parse_params("&&&");
    assert_int_equal(p.count, 0);
    bbo__params_dispose(&p);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_params_missing_equals(void **state)
{
    bbo_params p;
    size_t count = 0;

    (void)state;
    p = parse_params("flag&y=&=v&a=b=c");
    assert_int_equal(p.count, 4);
    assert_string_equal(bbo__params_get(&p, "flag", &count), "");
    assert_int_equal(count, 1);
    assert_string_equal(bbo__params_get(&p, "y", NULL), "");
    assert_string_equal(bbo__params_get(&p, "", NULL), "v");
    assert_string_equal(bbo__params_get(&p, "a", NULL), "b=c");
    bbo__params_dispose(&p);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_params_decoding(void **state)
{
    bbo_params p;

    (void)state;
    p = parse_params("n%20m+x=v+w%26%3D%2B&error_description=The+user+denied+access");
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].name, "n m x");
    assert_string_equal(p.items[0].value, "v w&=+");
    assert_string_equal(bbo__params_get(&p, "error_description", NULL),
                        "The user denied access");
    bbo__params_dispose(&p);

    /* only `len` bytes are read */
    assert_int_equal(bbo__params_parse(&p, "a=1&b=2#frag", 7), BBO_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(bbo__params_get(&p, "b", NULL), "2");
    bbo__params_dispose(&p);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_params_malformed(void **state)
{
    static const char *bad[] = { "a=%zz", "%zz=a", "ok=1&a=%4", "a=1&b=%00", "x=1&%=1" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bbo_params p = { (bbo_param *)&p, 77 };

        if (bbo__params_parse(&p, bad[i], strlen(bad[i])) != BBO_EPROTOCOL)
            fail_msg("\"%s\" should be malformed", bad[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EPROTOCOL);
        assert_int_equal(p.count, 77); /* untouched */
        assert_int_equal(bbo_test_alloc_live(), 0);
    }
}

static void test_strcasecmp(void **state)
{
    (void)state;
    assert_int_equal(bbo__strcasecmp("Bearer", "bEARER"), 0);
    assert_int_equal(bbo__strcasecmp("", ""), 0);
    assert_int_equal(bbo__strcasecmp("Content-Type", "content-type"), 0);
    assert_true(bbo__strcasecmp("abc", "abd") < 0);
    assert_true(bbo__strcasecmp("ABD", "abc") > 0);
    assert_true(bbo__strcasecmp("abc", "ab") > 0);
    assert_true(bbo__strcasecmp("ab", "ABC") < 0);
    assert_true(bbo__strcasecmp("", "a") < 0);
    /* ASCII only, whatever the locale: no folding of other bytes */
    assert_true(bbo__strcasecmp("\xc3\xa9", "\xc3\x89") != 0);
    assert_true(bbo__strcasecmp("[", "{") != 0); /* 0x5b vs 0x7b: not a case pair */
    assert_true(bbo__strcasecmp("@", "`") != 0);
    assert_int_equal(bbo__strncasecmp("Content-Type", "content-length", 8), 0);
    assert_true(bbo__strncasecmp("Content-Type", "content-length", 9) != 0);
    assert_int_equal(bbo__strncasecmp("HTTPS://x", "https://", 8), 0);
    assert_int_equal(bbo__strncasecmp("ab", "AB", 10), 0); /* stops at the NUL */
    assert_true(bbo__strncasecmp("ab", "ABC", 10) < 0);
    assert_int_equal(bbo__strncasecmp("x", "y", 0), 0);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_is_unreserved(void **state)
{
    int c, n = 0;

    (void)state;
    for (c = 0; c < 256; c++)
        n += bbo__is_unreserved((unsigned char)c);
    assert_int_equal(n, 26 + 26 + 10 + 4);
    assert_true(bbo__is_unreserved('~'));
    assert_true(bbo__is_unreserved('-'));
    assert_false(bbo__is_unreserved('+'));
    assert_false(bbo__is_unreserved('%'));
    assert_false(bbo__is_unreserved(0xc3));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* OOM torture */

typedef struct torture_ctx {
    bbo_params params;
    char *text;
    unsigned char *bytes;
    bbo_buf buf;
} torture_ctx;

static int op_params(void *p)
{
    torture_ctx *ctx = p;
    const char *q = "code=a%2Fb&state=xyz&error_description=The+user+denied&flag&x=1";

    return bbo__params_parse(&ctx->params, q, strlen(q));
}

static void cleanup_params(void *p)
{
    torture_ctx *ctx = p;

    assert_int_equal(ctx->params.count, 5);
    bbo__params_dispose(&ctx->params);
}

static int op_decode(void *p)
{
    torture_ctx *ctx = p;

    return bbo__url_decode(&ctx->text, "a%20b", 5, true);
}

static void cleanup_text(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->text, "a b");
    bbo_free(ctx->text);
    ctx->text = NULL;
}

static int op_form(void *p)
{
    torture_ctx *ctx = p;
    int error;

    if ((error = bbo__form_append(&ctx->buf, "grant_type", "refresh_token")) < 0 ||
        (error = bbo__form_append(&ctx->buf, "refresh_token", "r/e f")) < 0)
        bbo__buf_dispose(&ctx->buf);
    return error;
}

static void cleanup_buf(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->buf.ptr, "grant_type=refresh_token&refresh_token=r%2Fe+f");
    bbo__buf_dispose(&ctx->buf);
}

static int op_b64(void *p)
{
    torture_ctx *ctx = p;
    int error = bbo__base64_encode(&ctx->buf, (const unsigned char *)"foobar", 6, false);

    if (error < 0)
        bbo__buf_dispose(&ctx->buf);
    return error;
}

static void cleanup_b64(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->buf.ptr, "Zm9vYmFy");
    bbo__buf_dispose(&ctx->buf);
}

static int op_b64url_decode(void *p)
{
    torture_ctx *ctx = p;
    size_t len;

    return bbo__base64url_decode(&ctx->bytes, &len, "Zm9vYmFy", 8);
}

static void cleanup_b64url_decode(void *p)
{
    torture_ctx *ctx = p;

    assert_memory_equal(ctx->bytes, "foobar", 6);
    bbo_free(ctx->bytes);
    ctx->bytes = NULL;
}

static void test_oom(void **state)
{
    torture_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    bbo_test_oom_torture(op_params, cleanup_params, &ctx);
    bbo_test_oom_torture(op_decode, cleanup_text, &ctx);
    bbo_test_oom_torture(op_form, cleanup_buf, &ctx);
    bbo_test_oom_torture(op_b64, cleanup_b64, &ctx);
    bbo_test_oom_torture(op_b64url_decode, cleanup_b64url_decode, &ctx);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_encode),
        cmocka_unit_test(test_form_encode),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_form_append),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_decode_bad_escapes),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_alphabets),
        cmocka_unit_test(test_base64url_decode),
        cmocka_unit_test(test_base64url_round_trip),
        cmocka_unit_test(test_base64url_invalid),
        cmocka_unit_test(test_params_parse),
        cmocka_unit_test(test_params_repeated),
        cmocka_unit_test(test_params_empty_pieces),
        cmocka_unit_test(test_params_missing_equals),
        cmocka_unit_test(test_params_decoding),
        cmocka_unit_test(test_params_malformed),
        cmocka_unit_test(test_strcasecmp),
        cmocka_unit_test(test_is_unreserved),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("encode", tests, NULL, NULL);
}
