/*
 * Absolute http(s) URLs (src/internal/url.h).
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <string.h>

#include "internal/common.h"
#include "internal/url.h"

static void parse_ok(bbo_url *u, const char *text)
{
    int rc = bbo__url_parse(u, text, "test URL");

    if (rc != BBO_OK)
        fail_msg("\"%s\" gave %d: %s", text, rc, bbo_error_message(bbo_error_last()));
}

static void assert_url(const char *text, const char *scheme, const char *host, int port,
                       const char *path, const char *query)
{
    bbo_url u;

    parse_ok(&u, text);
    assert_string_equal(u.scheme, scheme);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.path, path);
    if (query)
        assert_string_equal(u.query, query);
    else
        assert_null(u.query);
    bbo__url_dispose(&u);
    assert_null(u.scheme);
    assert_null(u.host);
    assert_null(u.path);
    assert_null(u.query);
}

static void test_parse_parts(void **state)
{
    (void)state;
    assert_url("https://bitbucket.org/site/oauth2/authorize", "https", "bitbucket.org", 443,
               "/site/oauth2/authorize", NULL);
    assert_url("https://bitbucket.org/site/oauth2/authorize?client_id=k&state=s#frag", "https",
               "bitbucket.org", 443, "/site/oauth2/authorize", "client_id=k&state=s");
    assert_url("http://127.0.0.1:53127/callback?code=x", "http", "127.0.0.1", 53127,
               "/callback", "code=x");
    assert_url("http://example.com", "http", "example.com", 80, "", NULL);
    assert_url("https://example.com:8443", "https", "example.com", 8443, "", NULL);
    assert_url("https://example.com?q=1", "https", "example.com", 443, "", "q=1");
    assert_url("https://example.com/p?", "https", "example.com", 443, "/p", "");
    assert_url("https://example.com/p#?not-a-query", "https", "example.com", 443, "/p", NULL);
    assert_url("https://example.com#frag", "https", "example.com", 443, "", NULL);
    assert_url("https://example.com:1/", "https", "example.com", 1, "/", NULL);
    assert_url("https://example.com:65535/", "https", "example.com", 65535, "/", NULL);
    assert_url("https://my_host-1.example.com/a/b/c.json", "https", "my_host-1.example.com",
               443, "/a/b/c.json", NULL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_case(void **state)
{
    (void)state;
    /* scheme and host are case-insensitive and come out lowercase; path
     * and query keep their case */
    assert_url("HTTPS://BitBucket.ORG/Site/OAuth2?A=B", "https", "bitbucket.org", 443,
               "/Site/OAuth2", "A=B");
    assert_url("HtTp://127.0.0.1:8080/X", "http", "127.0.0.1", 8080, "/X", NULL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_ipv6(void **state)
{
    (void)state;
    assert_url("http://[::1]:53127/cb", "http", "::1", 53127, "/cb", NULL);
    assert_url("https://[::1]/", "https", "::1", 443, "/", NULL);
    assert_url("https://[FE80::1:AbCd]:8443/x?y", "https", "fe80::1:abcd", 8443, "/x", "y");
    assert_url("https://[::ffff:127.0.0.1]", "https", "::ffff:127.0.0.1", 443, "", NULL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static const char *invalid[] = {
    "",
    "bitbucket.org",
    "/path",
    "ftp://example.com/",
    "https:/example.com/",
    "https//example.com/",
    "https://",
    "https:///path",
    "https://?q",
    "https://#f",
    "https://:443/",
    "https://user@example.com/",
    "https://user:pass@example.com/",
    "https://example.com:0/",
    "https://example.com:65536/",
    "https://example.com:123456789012/",
    "https://example.com:/",
    "https://example.com:x/",
    "https://example.com:80:80/",
    "https://example.com:+80/",
    "https://exa mple.com/",
    "https://example.com/a b",
    "https://example.com/a\tb",
    "https://example.com/\x7f",
    "https://example.com/\n",
    "https://exa%6dple.com/",
    "https://exam$ple.com/",
    "https://[::1/",
    "https://[]/",
    "https://[::g]/",
    "https://[::1]x/",
    "https://[::1]:/",
    "https://[::1]:0/",
    "https://::1/",
};

static void test_parse_invalid(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        bbo_url u = { (char *)"untouched", NULL, 7, NULL, NULL };

        if (bbo__url_parse(&u, invalid[i], "the test URL") != BBO_EINVAL)
            fail_msg("\"%s\" should be refused", invalid[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
        assert_non_null(strstr(bbo_error_message(bbo_error_last()), "the test URL"));
        assert_string_equal(u.scheme, "untouched");
        assert_int_equal(u.port, 7);
    }
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_error_messages(void **state)
{
    bbo_url u;

    (void)state;
    assert_int_equal(bbo__url_parse(&u, "https://u:secret@example.com/", "token URL"),
                     BBO_EINVAL);
    assert_string_equal(bbo_error_message(bbo_error_last()), "token URL may not contain user info");
    assert_int_equal(bbo__url_parse(&u, "https://example.com:99999/", "token URL"), BBO_EINVAL);
    assert_string_equal(bbo_error_message(bbo_error_last()), "token URL has an invalid port");
    assert_int_equal(bbo__url_parse(&u, "https:///x", "token URL"), BBO_EINVAL);
    assert_string_equal(bbo_error_message(bbo_error_last()), "token URL has no host");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static int loopback(const char *text)
{
    bbo_url u;
    int result;

    parse_ok(&u, text);
    result = bbo__url_is_loopback(&u);
    bbo__url_dispose(&u);
    return result;
}

static void test_loopback(void **state)
{
    (void)state;
    assert_int_equal(loopback("http://127.0.0.1/cb"), 1);
    assert_int_equal(loopback("http://127.0.0.1:53127/cb"), 1);
    assert_int_equal(loopback("https://127.0.0.1"), 1);
    assert_int_equal(loopback("http://[::1]:8080/"), 1);
    /* "localhost" may resolve elsewhere (RFC 8252 8.3) */
    assert_int_equal(loopback("http://localhost/cb"), 0);
    assert_int_equal(loopback("http://LOCALHOST/cb"), 0);
    assert_int_equal(loopback("http://127.0.0.2/cb"), 0);
    assert_int_equal(loopback("http://127.0.0.1.example.com/cb"), 0);
    assert_int_equal(loopback("http://[::2]/cb"), 0);
    assert_int_equal(loopback("https://bitbucket.org/"), 0);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static int same_origin(const char *a, const char *b)
{
    bbo_url ua, ub;
    int result;

    parse_ok(&ua, a);
    parse_ok(&ub, b);
    result = bbo__url_same_origin(&ua, &ub);
    assert_int_equal(bbo__url_same_origin(&ub, &ua), result);
    bbo__url_dispose(&ua);
    bbo__url_dispose(&ub);
    return result;
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_int_equal(same_origin("https://api.bitbucket.org/2.0/user",
                                 "https://api.bitbucket.org/2.0/repositories?page=2"), 1);
    assert_int_equal(same_origin("https://API.Bitbucket.org:443/", "HTTPS://api.bitbucket.org"),
                     1);
    assert_int_equal(same_origin("http://example.com/", "http://example.com:80/x"), 1);
    assert_int_equal(same_origin("https://api.bitbucket.org/", "http://api.bitbucket.org/"), 0);
    assert_int_equal(same_origin("https://api.bitbucket.org/", "https://api.bitbucket.org:8443/"),
                     0);
    assert_int_equal(same_origin("https://api.bitbucket.org/", "https://bitbucket.org/"), 0);
    assert_int_equal(same_origin("https://api.bitbucket.org/", "https://api.bitbucket.org.evil/"),
                     0);
    assert_int_equal(same_origin("http://example.com:443/", "https://example.com/"), 0);
    assert_int_equal(same_origin("http://[::1]:80/", "http://[::1]/"), 1);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_check_endpoint(void **state)
{
    (void)state;
    assert_int_equal(bbo__url_check_endpoint("https://bitbucket.org/x", "u"), BBO_OK);
    assert_int_equal(bbo__url_check_endpoint("http://127.0.0.1:9/x", "u"), BBO_OK);
    assert_int_equal(bbo__url_check_endpoint("HTTP://[::1]:9/x", "u"), BBO_OK);
    assert_int_equal(bbo__url_check_endpoint("https://example.com/x?a=b", "u"), BBO_OK);
    assert_int_equal(bbo__url_check_endpoint("http://example.com/x", "the endpoint"), BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "the endpoint must use https"));
    assert_int_equal(bbo__url_check_endpoint("http://localhost/x", "u"), BBO_EINVAL);
    assert_int_equal(bbo__url_check_endpoint("https://example.com/x#f", "the endpoint"),
                     BBO_EINVAL);
    assert_string_equal(bbo_error_message(bbo_error_last()),
                        "the endpoint may not have a fragment");
    assert_int_equal(bbo__url_check_endpoint("https://example.com/x?a#", "u"), BBO_EINVAL);
    assert_int_equal(bbo__url_check_endpoint("https://u@example.com/x", "u"), BBO_EINVAL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* OOM torture */

typedef struct torture_ctx {
    bbo_url url;
} torture_ctx;

static int op_parse(void *p)
{
    torture_ctx *ctx = p;

    return bbo__url_parse(&ctx->url, "HTTPS://[::1]:8443/Path/x?query=1#frag", "test URL");
}

static void cleanup_parse(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->url.host, "::1");
    assert_string_equal(ctx->url.query, "query=1");
    bbo__url_dispose(&ctx->url);
}

static int op_check(void *p)
{
    (void)p;
    return bbo__url_check_endpoint("https://example.com/token", "token URL");
}

static void test_oom(void **state)
{
    torture_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    bbo_test_oom_torture(op_parse, cleanup_parse, &ctx);
    bbo_test_oom_torture(op_check, NULL, &ctx);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_parts),
        cmocka_unit_test(test_parse_case),
        cmocka_unit_test(test_parse_ipv6),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_same_origin),
        cmocka_unit_test(test_check_endpoint),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
