/*
 * Unit tests: HTTP request and response objects.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal/common.h"
#include "internal/http.h"

#include <stdlib.h>
#include <string.h>

#define URL "https://127.0.0.1:8443/site/oauth2/access_token"

static int add_line(bbo_http_response *resp, const char *line)
{
    return bbo_http_response_add_header_line(resp, line, strlen(line));
}

/* ---- requests ------------------------------------------------------------- */

static void test_request_basics(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_request *req = NULL;
    size_t len = 99;

    (void)state;
    assert_int_equal(bbo_http_request_new(&req, "POST", URL), BBO_OK);
    assert_string_equal(bbo_http_request_method(req), "POST");
    assert_string_equal(bbo_http_request_url(req), URL);
    assert_int_equal(bbo_http_request_header_count(req), 0);
    assert_null(bbo_http_request_header_name(req, 0));
    assert_null(bbo_http_request_header_value(req, 0));
    assert_null(bbo_http_request_header(req, "Accept"));
    assert_string_equal(bbo_http_request_body(req, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(bbo_http_request_body(req, NULL), "");
    assert_int_equal(bbo_http_request_timeout_ms(req), 0);

    assert_int_equal(bbo_http_request_add_header(req, "Accept", "application/json"), BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "X-Multi", "one"), BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "x-multi", "two"), BBO_OK);
    assert_int_equal(bbo_http_request_add_header(req, "Empty", ""), BBO_OK);
    assert_int_equal(bbo_http_request_header_count(req), 4);
    assert_string_equal(bbo_http_request_header_name(req, 0), "Accept");
    assert_string_equal(bbo_http_request_header_value(req, 0), "application/json");
    assert_string_equal(bbo_http_request_header_name(req, 2), "x-multi");
    assert_string_equal(bbo_http_request_header_value(req, 2), "two");
    assert_string_equal(bbo_http_request_header_value(req, 3), "");
    assert_null(bbo_http_request_header_name(req, 4));
    assert_null(bbo_http_request_header_value(req, (size_t)-1));
    /* lookup is case-insensitive and finds the first */
    assert_string_equal(bbo_http_request_header(req, "ACCEPT"), "application/json");
    assert_string_equal(bbo_http_request_header(req, "X-MULTI"), "one");
    assert_null(bbo_http_request_header(req, "X-Multi2"));
    assert_null(bbo_http_request_header(req, NULL));

    /* bodies may hold any byte */
    assert_int_equal(bbo_http_request_set_body(req, "a\0b\r\n", 5), BBO_OK);
    assert_memory_equal(bbo_http_request_body(req, &len), "a\0b\r\n", 6);
    assert_int_equal(len, 5);
    /* set replaces */
    assert_int_equal(bbo_http_request_set_body(req, "xy", 2), BBO_OK);
    assert_string_equal(bbo_http_request_body(req, &len), "xy");
    assert_int_equal(len, 2);
    assert_int_equal(bbo_http_request_set_body(req, NULL, 0), BBO_OK);
    assert_string_equal(bbo_http_request_body(req, &len), "");
    assert_int_equal(len, 0);

    assert_int_equal(bbo_http_request_set_timeout_ms(req, 2500), BBO_OK);
    assert_int_equal(bbo_http_request_timeout_ms(req), 2500);
    assert_int_equal(bbo_http_request_set_timeout_ms(req, -1), BBO_EINVAL);
    assert_int_equal(bbo_http_request_timeout_ms(req), 2500);
    assert_int_equal(bbo_http_request_set_timeout_ms(req, 0), BBO_OK);
    assert_int_equal(bbo_http_request_timeout_ms(req), 0);
    bbo_http_request_free(req);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_request_new_invalid(void **state)
{
    static const char *const methods[] = { "", "post", "Post", "GET ", "GE T", "P0ST", "GET\r\n" };
    static const char *const urls[] = {
        "", "not a url", "ftp://127.0.0.1/x", "//127.0.0.1/x", "https://", "/relative",
    };
    long base = bbo_test_alloc_live();
    bbo_http_request *req = (bbo_http_request *)(uintptr_t)0x1;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (bbo_http_request_new(&req, methods[i], URL) != BBO_EINVAL)
            fail_msg("method \"%s\" accepted", methods[i]);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    }
    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
        if (bbo_http_request_new(&req, "GET", urls[i]) != BBO_EINVAL)
            fail_msg("URL \"%s\" accepted", urls[i]);
    assert_int_equal(bbo_http_request_new(NULL, "GET", URL), BBO_EINVAL);
    assert_int_equal(bbo_http_request_new(&req, NULL, URL), BBO_EINVAL);
    assert_int_equal(bbo_http_request_new(&req, "GET", NULL), BBO_EINVAL);
    assert_ptr_equal(req, (bbo_http_request *)(uintptr_t)0x1);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_request_header_validation(void **state)
{
    static const char *const names[] = {
        "", "Bad Name", "Name:", "Na\tme", "Näme", "(x)", "a/b", "a\"b", "a\r\nb", "{x}",
    };
    static const char *const values[] = {
        "a\rb", "a\nb", "a\r\nX-Injected: 1", "\r\n", "x\n",
    };
    long base = bbo_test_alloc_live();
    bbo_http_request *req = NULL;
    size_t i;

    (void)state;
    assert_int_equal(bbo_http_request_new(&req, "GET", URL), BBO_OK);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (bbo_http_request_add_header(req, names[i], "v") != BBO_EINVAL)
            fail_msg("header name \"%s\" accepted", names[i]);
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_int_equal(bbo_http_request_add_header(req, "X-Value", values[i]), BBO_EINVAL);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    }
    assert_int_equal(bbo_http_request_header_count(req), 0);
    /* every tchar is a valid name character */
    assert_int_equal(bbo_http_request_add_header(req, "!#$%&'*+-.^_`|~09azAZ", "v"), BBO_OK);
    /* blanks around the value go, inside they stay; tabs and UTF-8 are fine */
    assert_int_equal(bbo_http_request_add_header(req, "X-Trim", " \t a \t b \t "), BBO_OK);
    assert_string_equal(bbo_http_request_header(req, "x-trim"), "a \t b");
    assert_int_equal(bbo_http_request_add_header(req, "X-Utf8", "caf\xc3\xa9"), BBO_OK);
    assert_int_equal(bbo_http_request_header_count(req), 3);

    assert_int_equal(bbo_http_request_add_header(NULL, "A", "b"), BBO_EINVAL);
    assert_int_equal(bbo_http_request_add_header(req, NULL, "b"), BBO_EINVAL);
    assert_int_equal(bbo_http_request_add_header(req, "A", NULL), BBO_EINVAL);
    assert_int_equal(bbo_http_request_set_body(NULL, "x", 1), BBO_EINVAL);
    assert_int_equal(bbo_http_request_set_body(req, NULL, 1), BBO_EINVAL);
    assert_int_equal(bbo_http_request_set_timeout_ms(NULL, 1), BBO_EINVAL);
    assert_int_equal(bbo_http_request_header_count(req), 3);
    bbo_http_request_free(req);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_request_null(void **state)
{
    size_t len = 7;

    (void)state;
    assert_null(bbo_http_request_method(NULL));
    assert_null(bbo_http_request_url(NULL));
    assert_int_equal(bbo_http_request_header_count(NULL), 0);
    assert_null(bbo_http_request_header_name(NULL, 0));
    assert_null(bbo_http_request_header_value(NULL, 0));
    assert_null(bbo_http_request_header(NULL, "A"));
    assert_string_equal(bbo_http_request_body(NULL, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(bbo_http_request_timeout_ms(NULL), 0);
    bbo_http_request_free(NULL);
}

/* ---- responses ------------------------------------------------------------ */

static void test_response_basics(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    size_t len = 99;

    (void)state;
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 0);
    assert_int_equal(bbo_http_response_body_limit(resp), BBO_HTTP_DEFAULT_BODY_LIMIT);
    assert_int_equal(bbo_http_response_header_count(resp), 0);
    assert_string_equal(bbo_http_response_body(resp, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(bbo_http_response_not_sent(resp), 0);

    assert_int_equal(bbo_http_response_set_status(resp, 99), BBO_EINVAL);
    assert_int_equal(bbo_http_response_set_status(resp, 600), BBO_EINVAL);
    assert_int_equal(bbo_http_response_set_status(resp, -200), BBO_EINVAL);
    assert_int_equal(bbo_http_response_status(resp), 0);
    assert_int_equal(bbo_http_response_set_status(resp, 100), BBO_OK);
    assert_int_equal(bbo_http_response_set_status(resp, 599), BBO_OK);
    assert_int_equal(bbo_http_response_set_status(resp, 200), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 200);

    assert_int_equal(bbo_http_response_add_header(resp, "Content-Type", "  application/json\t"),
                     BBO_OK);
    assert_int_equal(bbo_http_response_add_header(resp, "Set-Cookie", "a=1"), BBO_OK);
    assert_int_equal(bbo_http_response_add_header(resp, "set-cookie", "b=2"), BBO_OK);
    assert_int_equal(bbo_http_response_header_count(resp), 3);
    assert_string_equal(bbo_http_response_header(resp, "content-type"), "application/json");
    assert_string_equal(bbo_http_response_header(resp, "CONTENT-TYPE"), "application/json");
    assert_string_equal(bbo_http_response_header(resp, "Set-Cookie"), "a=1");
    assert_string_equal(bbo_http_response_header_name(resp, 2), "set-cookie");
    assert_string_equal(bbo_http_response_header_value(resp, 2), "b=2");
    assert_null(bbo_http_response_header_name(resp, 3));
    assert_null(bbo_http_response_header_value(resp, 3));
    assert_null(bbo_http_response_header(resp, "Content-Typ"));
    assert_null(bbo_http_response_header(resp, "Content-Type2"));
    assert_null(bbo_http_response_header(resp, NULL));

    assert_int_equal(bbo_http_response_add_header(resp, "Bad Name", "x"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(resp, "", "x"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(resp, "X", "a\r\nb"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(resp, "X", "a\nb"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(NULL, "X", "v"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(resp, NULL, "v"), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header(resp, "X", NULL), BBO_EINVAL);
    assert_int_equal(bbo_http_response_header_count(resp), 3);

    assert_int_equal(bbo_http_response_append_body(resp, "{\"a\"", 4), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, NULL, 0), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, ":1}", 3), BBO_OK);
    assert_string_equal(bbo_http_response_body(resp, &len), "{\"a\":1}");
    assert_int_equal(len, 7);
    assert_int_equal(bbo_http_response_append_body(resp, "\0x", 2), BBO_OK);
    assert_memory_equal(bbo_http_response_body(resp, &len), "{\"a\":1}\0x", 10);
    assert_int_equal(len, 9);
    assert_int_equal(bbo_http_response_append_body(resp, NULL, 1), BBO_EINVAL);
    assert_int_equal(bbo_http_response_append_body(NULL, "x", 1), BBO_EINVAL);
    bbo_http_response_free(resp);

    assert_int_equal(bbo_http_response_new(NULL), BBO_EINVAL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_header_lines(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;

    (void)state;
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    /* an interim answer, then the real one: the interim headers are forgotten */
    assert_int_equal(add_line(resp, "HTTP/1.1 100 Continue\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 100);
    assert_int_equal(add_line(resp, "X-Interim: yes\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_header_count(resp), 1);
    assert_int_equal(add_line(resp, "\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "HTTP/1.1 200 OK\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 200);
    assert_int_equal(bbo_http_response_header_count(resp), 0);
    assert_null(bbo_http_response_header(resp, "X-Interim"));
    assert_int_equal(add_line(resp, "Content-Type:application/json\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "Retry-After:   120  \r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "X-Empty:\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "X-Colon: a:b: c\n"), BBO_OK);
    assert_int_equal(add_line(resp, "X-No-Newline: v"), BBO_OK);
    assert_int_equal(add_line(resp, "\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, ""), BBO_OK);
    assert_int_equal(bbo_http_response_header_count(resp), 5);
    assert_string_equal(bbo_http_response_header(resp, "content-type"), "application/json");
    assert_string_equal(bbo_http_response_header(resp, "retry-after"), "120");
    assert_string_equal(bbo_http_response_header(resp, "X-Empty"), "");
    assert_string_equal(bbo_http_response_header(resp, "X-Colon"), "a:b: c");
    assert_string_equal(bbo_http_response_header(resp, "X-No-Newline"), "v");
    assert_string_equal(bbo_http_response_header_name(resp, 0), "Content-Type");

    /* a line not at its NUL: only len bytes count */
    assert_int_equal(bbo_http_response_add_header_line(resp, "X-Len: abcdef", 10), BBO_OK);
    assert_string_equal(bbo_http_response_header(resp, "X-Len"), "abc");

    /* HTTP/2 and HTTP/1.0 status lines; a proxy's CONNECT answer first */
    assert_int_equal(add_line(resp, "HTTP/1.0 200 Connection established\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_header_count(resp), 0);
    assert_int_equal(add_line(resp, "Proxy-Agent: p\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "HTTP/2 429\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 429);
    assert_int_equal(bbo_http_response_header_count(resp), 0);
    assert_int_equal(add_line(resp, "HTTP/1.1 302 Found"), BBO_OK);
    assert_int_equal(bbo_http_response_status(resp), 302);
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_header_lines_malformed(void **state)
{
    static const char *const bad[] = {
        "no colon here\r\n", ": value\r\n", "Bad Name: v\r\n", " Folded: v\r\n",
        "HTTP/1.1\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 099 x\r\n",
        "HTTP/1.1 600 x\r\n", "HTTP/1.1 abc\r\n", "HTTP/ 200\r\n", "X: a\rb\r\n",
    };
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    size_t i;

    (void)state;
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(add_line(resp, "HTTP/1.1 200 OK\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "Keep: 1\r\n"), BBO_OK);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = add_line(resp, bad[i]);

        if (rc != BBO_EINVAL)
            fail_msg("line \"%s\" gave %d", bad[i], rc);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    }
    /* a NUL inside the line */
    assert_int_equal(bbo_http_response_add_header_line(resp, "X: a\0b\r\n", 8), BBO_EINVAL);
    /* nothing changed */
    assert_int_equal(bbo_http_response_status(resp), 200);
    assert_int_equal(bbo_http_response_header_count(resp), 1);
    assert_int_equal(bbo_http_response_add_header_line(NULL, "X: v", 4), BBO_EINVAL);
    assert_int_equal(bbo_http_response_add_header_line(resp, NULL, 4), BBO_EINVAL);
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_body_limit(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    size_t len;

    (void)state;
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(bbo_http_response_set_body_limit(resp, 0), BBO_EINVAL);
    assert_int_equal(bbo_http_response_set_body_limit(NULL, 10), BBO_EINVAL);
    assert_int_equal(bbo_http_response_set_body_limit(resp, 10), BBO_OK);
    assert_int_equal(bbo_http_response_body_limit(resp), 10);
    assert_int_equal(bbo_http_response_append_body(resp, "012345", 6), BBO_OK);
    /* 6 + 5 > 10: refused, nothing of it kept */
    assert_int_equal(bbo_http_response_append_body(resp, "6789A", 5), BBO_EPROTOCOL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EPROTOCOL);
    assert_string_equal(bbo_http_response_body(resp, &len), "012345");
    assert_int_equal(len, 6);
    /* and nothing more after that, even what would fit */
    assert_int_equal(bbo_http_response_append_body(resp, "6", 1), BBO_EPROTOCOL);
    assert_string_equal(bbo_http_response_body(resp, &len), "012345");
    assert_int_equal(len, 6);

    /* exactly the limit is fine */
    bbo_http_response_reset(resp);
    assert_int_equal(bbo_http_response_body_limit(resp), 10);
    assert_int_equal(bbo_http_response_append_body(resp, "01234", 5), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "56789", 5), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "", 0), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "X", 1), BBO_EPROTOCOL);
    assert_string_equal(bbo_http_response_body(resp, &len), "0123456789");
    assert_int_equal(len, 10);

    /* a limit lowered below what is held: nothing more goes in */
    bbo_http_response_reset(resp);
    assert_int_equal(bbo_http_response_append_body(resp, "0123456789", 10), BBO_OK);
    assert_int_equal(bbo_http_response_set_body_limit(resp, 4), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "X", 1), BBO_EPROTOCOL);
    assert_int_equal(bbo_http_response_append_body(resp, "Y", 1), BBO_EPROTOCOL);
    bbo_http_response_body(resp, &len);
    assert_int_equal(len, 10);

    /* a huge length does not wrap around */
    bbo_http_response_reset(resp);
    assert_int_equal(bbo_http_response_append_body(resp, "ab", 2), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "c", SIZE_MAX), BBO_EPROTOCOL);
    bbo_http_response_body(resp, &len);
    assert_int_equal(len, 2);
    bbo_http_response_free(resp);

    /* the default limit */
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    {
        size_t size = BBO_HTTP_DEFAULT_BODY_LIMIT;
        char *big = calloc(1, size);

        assert_non_null(big);

        assert_int_equal(bbo_http_response_append_body(resp, big, size), BBO_OK);
        assert_int_equal(bbo_http_response_append_body(resp, "x", 1), BBO_EPROTOCOL);
        bbo_http_response_body(resp, &len);
        assert_int_equal(len, size);
        free(big);
    }
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_reset_and_not_sent(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    size_t len = 5;

    (void)state;
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(bbo_http_response_set_body_limit(resp, 100), BBO_OK);
    assert_int_equal(add_line(resp, "HTTP/1.1 503 Service Unavailable\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "Retry-After: 5\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "busy", 4), BBO_OK);
    bbo_http_response_set_not_sent(resp);
    assert_int_equal(bbo_http_response_not_sent(resp), 1);

    bbo_http_response_reset(resp);
    assert_int_equal(bbo_http_response_status(resp), 0);
    assert_int_equal(bbo_http_response_header_count(resp), 0);
    assert_null(bbo_http_response_header(resp, "Retry-After"));
    assert_string_equal(bbo_http_response_body(resp, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(bbo_http_response_not_sent(resp), 0);
    assert_int_equal(bbo_http_response_body_limit(resp), 100);
    /* usable again */
    assert_int_equal(add_line(resp, "HTTP/1.1 200 OK\r\n"), BBO_OK);
    assert_int_equal(add_line(resp, "A: b\r\n"), BBO_OK);
    assert_int_equal(bbo_http_response_append_body(resp, "ok", 2), BBO_OK);
    assert_string_equal(bbo_http_response_body(resp, &len), "ok");
    assert_int_equal(len, 2);
    assert_string_equal(bbo_http_response_header(resp, "a"), "b");
    bbo_http_response_free(resp);

    bbo_http_response_reset(NULL);
    bbo_http_response_set_not_sent(NULL);
    assert_int_equal(bbo_http_response_not_sent(NULL), 0);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_response_null(void **state)
{
    size_t len = 7;

    (void)state;
    assert_int_equal(bbo_http_response_status(NULL), 0);
    assert_null(bbo_http_response_header(NULL, "A"));
    assert_int_equal(bbo_http_response_header_count(NULL), 0);
    assert_null(bbo_http_response_header_name(NULL, 0));
    assert_null(bbo_http_response_header_value(NULL, 0));
    assert_string_equal(bbo_http_response_body(NULL, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(bbo_http_response_body(NULL, NULL), "");
    assert_int_equal(bbo_http_response_body_limit(NULL), 0);
    assert_int_equal(bbo_http_response_set_status(NULL, 200), BBO_EINVAL);
    bbo_http_response_free(NULL);
}

/* ---- out of memory -------------------------------------------------------- */

typedef struct oom_ctx {
    bbo_http_request *req;
    bbo_http_response *resp;
} oom_ctx;

static int op_request(void *c)
{
    oom_ctx *ctx = c;
    bbo_http_request *req = NULL;
    int i, error;

    if ((error = bbo_http_request_new(&req, "POST", URL)) < 0)
        return error;
    for (i = 0; i < 12; i++)
        if ((error = bbo_http_request_add_header(req, "X-Header", "value")) < 0)
            goto done;
    if ((error = bbo_http_request_set_body(req, "grant_type=refresh_token", 24)) < 0)
        goto done;
    ctx->req = req;
    req = NULL;
done:
    bbo_http_request_free(req);
    return error;
}

static void cleanup_request(void *c)
{
    oom_ctx *ctx = c;

    assert_int_equal(bbo_http_request_header_count(ctx->req), 12);
    bbo_http_request_free(ctx->req);
    ctx->req = NULL;
}

static int op_response(void *c)
{
    oom_ctx *ctx = c;
    bbo_http_response *resp = NULL;
    int i, error;

    if ((error = bbo_http_response_new(&resp)) < 0)
        return error;
    for (i = 0; i < 10; i++)
        if ((error = add_line(resp, "X-Header: value\r\n")) < 0)
            goto done;
    for (i = 0; i < 100; i++)
        if ((error = bbo_http_response_append_body(resp, "0123456789", 10)) < 0)
            goto done;
    ctx->resp = resp;
    resp = NULL;
done:
    bbo_http_response_free(resp);
    return error;
}

static void cleanup_response(void *c)
{
    oom_ctx *ctx = c;
    size_t len;

    bbo_http_response_body(ctx->resp, &len);
    assert_int_equal(len, 1000);
    bbo_http_response_free(ctx->resp);
    ctx->resp = NULL;
}

/* A reserved response keeps its body in its own block until the body
 * outgrows the room; then it moves, whole, to a block of its own. */
static void test_reserved_body_grows_out(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    char chunk[3000];
    const char *body;
    size_t len, i, round;

    (void)state;
    for (round = 0; round < 2; round++) {
        assert_int_equal(bbo__http_response_new_reserved(&resp, 4096, 16, 1024), BBO_OK);
        assert_int_equal(bbo_test_alloc_live(), base + 1); /* one block */
        /* round 1: a Content-Length beyond the room moves the body first */
        if (round == 1)
            assert_int_equal(add_line(resp, "Content-Length: 9000\r\n"), BBO_OK);
        for (i = 0; i < 3; i++) {
            memset(chunk, 'a' + (int)i, sizeof(chunk));
            assert_int_equal(bbo_http_response_append_body(resp, chunk, sizeof(chunk)), BBO_OK);
        }
        body = bbo_http_response_body(resp, &len);
        assert_int_equal(len, 9000);
        for (i = 0; i < len; i++)
            if (body[i] != 'a' + (int)(i / 3000))
                fail_msg("byte %zu is %c", i, body[i]);
        assert_int_equal(body[len], '\0');
        assert_int_equal(bbo_test_alloc_live(), base + 2); /* the body moved out */
        bbo_http_response_reset(resp);
        assert_int_equal(bbo_http_response_append_body(resp, "xy", 2), BBO_OK);
        body = bbo_http_response_body(resp, &len);
        assert_int_equal(len, 2);
        assert_string_equal(body, "xy");
        bbo_http_response_free(resp);
        assert_int_equal(bbo_test_alloc_live(), base);
    }
}

static void test_oom(void **state)
{
    oom_ctx ctx = { NULL, NULL };

    (void)state;
    bbo_test_oom_torture(op_request, cleanup_request, &ctx);
    bbo_test_oom_torture(op_response, cleanup_response, &ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basics),
        cmocka_unit_test(test_request_new_invalid),
        cmocka_unit_test(test_request_header_validation),
        cmocka_unit_test(test_request_null),
        cmocka_unit_test(test_response_basics),
        cmocka_unit_test(test_header_lines),
        cmocka_unit_test(test_header_lines_malformed),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_reset_and_not_sent),
        cmocka_unit_test(test_response_null),
        cmocka_unit_test(test_reserved_body_grows_out),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
