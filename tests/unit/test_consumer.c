/*
 * The consumer: defaults, Data Center, endpoint and callback rules.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <string.h>

#include "internal/common.h"
#include "internal/consumer.h"

#define CLOUD_AUTHORIZE "https://bitbucket.org/site/oauth2/authorize"
#define CLOUD_TOKEN "https://bitbucket.org/site/oauth2/access_token"
#define CLOUD_API "https://api.bitbucket.org/2.0"

static bbo_consumer *new_consumer(void)
{
    bbo_consumer *c = NULL;

    assert_int_equal(bbo_consumer_new(&c, "key123", "secret456"), BBO_OK);
    assert_non_null(c);
    return c;
}

static void assert_endpoints(const bbo_consumer *c, const char *authorize, const char *token,
                             const char *api)
{
    assert_string_equal(bbo_consumer_authorize_url(c), authorize);
    assert_string_equal(bbo_consumer_token_url(c), token);
    assert_string_equal(bbo_consumer_api_base_url(c), api);
}

static void test_defaults(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_string_equal(bbo_consumer_key(c), "key123");
    assert_string_equal(c->secret, "secret456");
    assert_null(bbo_consumer_callback_url(c));
    assert_endpoints(c, CLOUD_AUTHORIZE, CLOUD_TOKEN, CLOUD_API);
    assert_non_null(bbo_consumer_scopes(c));
    assert_int_equal(bbo_scopes_count(bbo_consumer_scopes(c)), 0);
    assert_int_equal(bbo_consumer_is_data_center(c), 0);
    assert_int_equal(c->client_auth, BBO_CLIENT_AUTH_BASIC);
    bbo_consumer_free(c);
    bbo_consumer_free(NULL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_getters_null(void **state)
{
    (void)state;
    assert_null(bbo_consumer_key(NULL));
    assert_null(bbo_consumer_callback_url(NULL));
    assert_null(bbo_consumer_authorize_url(NULL));
    assert_null(bbo_consumer_token_url(NULL));
    assert_null(bbo_consumer_api_base_url(NULL));
    assert_null(bbo_consumer_scopes(NULL));
    assert_int_equal(bbo_consumer_is_data_center(NULL), 0);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_public_client(void **state)
{
    bbo_consumer *c = NULL;

    (void)state;
    assert_int_equal(bbo_consumer_new(&c, "public-key", NULL), BBO_OK);
    assert_string_equal(bbo_consumer_key(c), "public-key");
    assert_null(c->secret);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_new_fails(const char *key, const char *secret)
{
    bbo_consumer *sentinel = (bbo_consumer *)&sentinel, *c = sentinel;

    assert_int_equal(bbo_consumer_new(&c, key, secret), BBO_EINVAL);
    assert_ptr_equal(c, sentinel);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
}

static void test_new_invalid(void **state)
{
    (void)state;
    assert_int_equal(bbo_consumer_new(NULL, "k", "s"), BBO_EINVAL);
    assert_new_fails(NULL, "s");
    assert_new_fails("", "s");
    assert_new_fails("k", "");
    assert_new_fails("ke\ny", "s");
    assert_new_fails("key\r", "s");
    assert_new_fails("\tkey", "s");
    assert_new_fails("key\x7f", "s");
    assert_new_fails("key", "sec\nret");
    assert_new_fails("key", "secret\x01");
    assert_new_fails("key", "\x1f");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_new_control_char_message_has_no_secret(void **state)
{
    const char *msg;

    (void)state;
    assert_new_fails("key", "TOPSECRET\n");
    msg = bbo_error_message(bbo_error_last());
    assert_null(strstr(msg, "TOPSECRET"));
    assert_non_null(strstr(msg, "secret"));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_long_credentials(void **state)
{
    /* new Cloud consumers: 32-character keys, secrets around 76 characters */
    const char *key32 = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
    const char *secret76 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "+/=-_.~!012345";
    char big[4097];
    bbo_consumer *c = NULL;

    (void)state;
    assert_int_equal(strlen(key32), 32);
    assert_int_equal(strlen(secret76), 76);
    assert_int_equal(bbo_consumer_new(&c, key32, secret76), BBO_OK);
    assert_string_equal(bbo_consumer_key(c), key32);
    assert_string_equal(c->secret, secret76);
    bbo_consumer_free(c);

    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    c = NULL;
    assert_int_equal(bbo_consumer_new(&c, big, big), BBO_OK);
    assert_string_equal(bbo_consumer_key(c), big);
    assert_string_equal(c->secret, big);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_awkward_but_printable_credentials(void **state)
{
    bbo_consumer *c = NULL;

    (void)state;
    /* no control characters: kept as they are (encoded where they are sent) */
    assert_int_equal(bbo_consumer_new(&c, "k y&z=1/\xc3\xa9", "p:a ss"), BBO_OK);
    assert_string_equal(bbo_consumer_key(c), "k y&z=1/\xc3\xa9");
    assert_string_equal(c->secret, "p:a ss");
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_data_center(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_int_equal(bbo_consumer_use_data_center(c, "https://bitbucket.example.com"), BBO_OK);
    assert_int_equal(bbo_consumer_is_data_center(c), 1);
    assert_endpoints(c, "https://bitbucket.example.com/rest/oauth2/latest/authorize",
                     "https://bitbucket.example.com/rest/oauth2/latest/token",
                     "https://bitbucket.example.com/rest/api/latest");

    assert_int_equal(bbo_consumer_use_data_center(c, "https://bb.example.com/"), BBO_OK);
    assert_endpoints(c, "https://bb.example.com/rest/oauth2/latest/authorize",
                     "https://bb.example.com/rest/oauth2/latest/token",
                     "https://bb.example.com/rest/api/latest");

    assert_int_equal(bbo_consumer_use_data_center(c, "https://example.com:8443/bitbucket/"),
                     BBO_OK);
    assert_endpoints(c, "https://example.com:8443/bitbucket/rest/oauth2/latest/authorize",
                     "https://example.com:8443/bitbucket/rest/oauth2/latest/token",
                     "https://example.com:8443/bitbucket/rest/api/latest");

    assert_int_equal(bbo_consumer_use_data_center(c, "http://127.0.0.1:7990"), BBO_OK);
    assert_endpoints(c, "http://127.0.0.1:7990/rest/oauth2/latest/authorize",
                     "http://127.0.0.1:7990/rest/oauth2/latest/token",
                     "http://127.0.0.1:7990/rest/api/latest");

    assert_int_equal(bbo_consumer_use_data_center(c, "http://[::1]:7990/bb"), BBO_OK);
    assert_endpoints(c, "http://[::1]:7990/bb/rest/oauth2/latest/authorize",
                     "http://[::1]:7990/bb/rest/oauth2/latest/token",
                     "http://[::1]:7990/bb/rest/api/latest");
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_dc_refused(const char *url)
{
    bbo_consumer *c = new_consumer();

    if (bbo_consumer_use_data_center(c, url) != BBO_EINVAL)
        fail_msg("Data Center base URL \"%s\" should be refused", url);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    /* nothing changed */
    assert_int_equal(bbo_consumer_is_data_center(c), 0);
    assert_endpoints(c, CLOUD_AUTHORIZE, CLOUD_TOKEN, CLOUD_API);
    bbo_consumer_free(c);
}

static void test_data_center_refused(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_dc_refused("http://example.com");
    assert_dc_refused("http://localhost:7990");
    assert_dc_refused("https://example.com/?a=b");
    assert_dc_refused("https://example.com?x");
    assert_dc_refused("https://example.com/#frag");
    assert_dc_refused("https://user:pw@example.com/");
    assert_dc_refused("ftp://example.com/");
    assert_dc_refused("example.com");
    assert_dc_refused("");
    assert_dc_refused("https://exa mple.com");
    assert_int_equal(bbo_consumer_use_data_center(NULL, "https://example.com"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_use_data_center(c, NULL), BBO_EINVAL);
    assert_int_equal(bbo_consumer_is_data_center(c), 0);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_set_endpoints(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_int_equal(bbo_consumer_set_endpoints(c, "https://auth.example.com/authorize",
                                                "https://auth.example.com/token",
                                                "https://api.example.com/v2"),
                     BBO_OK);
    assert_endpoints(c, "https://auth.example.com/authorize", "https://auth.example.com/token",
                     "https://api.example.com/v2");
    /* NULL keeps the current value */
    assert_int_equal(bbo_consumer_set_endpoints(c, NULL, "http://127.0.0.1:8080/token", NULL),
                     BBO_OK);
    assert_endpoints(c, "https://auth.example.com/authorize", "http://127.0.0.1:8080/token",
                     "https://api.example.com/v2");
    assert_int_equal(bbo_consumer_set_endpoints(c, "http://[::1]:9/authorize", NULL, NULL),
                     BBO_OK);
    assert_endpoints(c, "http://[::1]:9/authorize", "http://127.0.0.1:8080/token",
                     "https://api.example.com/v2");
    /* trailing slashes of the API base are dropped */
    assert_int_equal(bbo_consumer_set_endpoints(c, NULL, NULL, "https://api.example.com/2.0//"),
                     BBO_OK);
    assert_string_equal(bbo_consumer_api_base_url(c), "https://api.example.com/2.0");
    /* a query on authorize is fine (parameters are appended) */
    assert_int_equal(bbo_consumer_set_endpoints(c, "https://a.example.com/authorize?tenant=1",
                                                NULL, NULL),
                     BBO_OK);
    assert_string_equal(bbo_consumer_authorize_url(c), "https://a.example.com/authorize?tenant=1");
    assert_int_equal(bbo_consumer_set_endpoints(c, NULL, NULL, NULL), BBO_OK);
    assert_string_equal(bbo_consumer_token_url(c), "http://127.0.0.1:8080/token");
    assert_int_equal(bbo_consumer_set_endpoints(NULL, CLOUD_AUTHORIZE, NULL, NULL), BBO_EINVAL);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static const char *bad_endpoints[] = {
    "http://example.com/token",       /* plain http to a remote host */
    "http://localhost/token",         /* localhost may resolve elsewhere */
    "http://127.0.0.2/token",
    "https://user@example.com/token", /* user info */
    "https://user:pw@example.com/",
    "https://example.com/token#frag", /* fragment */
    "https://example.com/#",
    "https://example.com/to ken",     /* blanks */
    " https://example.com/token",
    "https://example.com/token\n",
    "https:///token",                 /* no host */
    "https://",
    "https://:443/token",
    "https://example.com:0/",         /* bad ports */
    "https://example.com:65536/",
    "https://example.com:99999999999999999999/",
    "https://example.com:/",
    "https://example.com:8a/",
    "https://example.com:-1/",
    "https://[::1/",                  /* malformed IPv6 */
    "https://[]/",
    "https://[::1]x/",
    "https://exa$mple.com/",          /* bad host character */
    "ftp://example.com/",
    "/token",
    "example.com/token",
    "",
};

static void test_set_endpoints_refused(void **state)
{
    bbo_consumer *c = new_consumer();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_endpoints) / sizeof(bad_endpoints[0]); i++) {
        const char *bad = bad_endpoints[i];

        if (bbo_consumer_set_endpoints(c, bad, NULL, NULL) != BBO_EINVAL ||
            bbo_consumer_set_endpoints(c, NULL, bad, NULL) != BBO_EINVAL ||
            bbo_consumer_set_endpoints(c, NULL, NULL, bad) != BBO_EINVAL)
            fail_msg("endpoint \"%s\" should be refused", bad);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
        /* one bad URL among good ones: nothing changes */
        assert_int_equal(bbo_consumer_set_endpoints(c, "https://a.example.com/authorize",
                                                    "https://a.example.com/token", bad),
                         BBO_EINVAL);
        assert_int_equal(bbo_consumer_set_endpoints(c, bad, "https://a.example.com/token",
                                                    "https://api.example.com"),
                         BBO_EINVAL);
        assert_endpoints(c, CLOUD_AUTHORIZE, CLOUD_TOKEN, CLOUD_API);
    }
    /* the API base may not carry a query */
    assert_int_equal(bbo_consumer_set_endpoints(c, "https://a.example.com/authorize", NULL,
                                                "https://api.example.com/2.0?x=1"),
                     BBO_EINVAL);
    assert_endpoints(c, CLOUD_AUTHORIZE, CLOUD_TOKEN, CLOUD_API);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_endpoint_error_names_the_url(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_int_equal(bbo_consumer_set_endpoints(c, NULL, "http://example.com/token", NULL),
                     BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "token URL"));
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "https"));
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_callback_url(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://app.example.com/cb"), BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "https://app.example.com/cb");
    assert_int_equal(bbo_consumer_set_callback_url(c, "http://127.0.0.1/callback"), BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "http://127.0.0.1/callback");
    assert_int_equal(bbo_consumer_set_callback_url(c, "http://127.0.0.1:53127/cb"), BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "http://127.0.0.1:53127/cb");
    assert_int_equal(bbo_consumer_set_callback_url(c, "http://[::1]:8000/cb"), BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "http://[::1]:8000/cb");
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://app.example.com/cb?app=1"),
                     BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "https://app.example.com/cb?app=1");

    /* a server's own host and port over plain http (Bitbucket accepts it) */
    assert_int_equal(bbo_consumer_set_callback_url(c, "http://review.example.com:3001/callback"),
                     BBO_OK);
    assert_string_equal(bbo_consumer_callback_url(c), "http://review.example.com:3001/callback");
    assert_int_equal(bbo_consumer_set_callback_url(c, "http://localhost/cb"), BBO_OK);
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://app.example.com/cb?app=1"),
                     BBO_OK);

    /* refused ones keep the previous value */
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://app.example.com/cb#x"),
                     BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://u@app.example.com/cb"),
                     BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_callback_url(c, "myapp://callback"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_callback_url(c, "/cb"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_callback_url(c, ""), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_string_equal(bbo_consumer_callback_url(c), "https://app.example.com/cb?app=1");

    /* NULL removes it */
    assert_int_equal(bbo_consumer_set_callback_url(c, NULL), BBO_OK);
    assert_null(bbo_consumer_callback_url(c));
    assert_int_equal(bbo_consumer_set_callback_url(NULL, "https://app.example.com/cb"),
                     BBO_EINVAL);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_set_scopes(void **state)
{
    bbo_consumer *c = new_consumer();
    bbo_scopes *s = NULL;
    char *text = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_parse(&s, "pullrequest:write account"), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(c, s), BBO_OK);
    /* a copy: changing the original does not change the consumer */
    assert_int_equal(bbo_scopes_add(s, "email"), BBO_OK);
    assert_ptr_not_equal(bbo_consumer_scopes(c), s);
    assert_int_equal(bbo_scopes_to_string(bbo_consumer_scopes(c), &text), BBO_OK);
    assert_string_equal(text, "account pullrequest:write");
    bbo_free(text);
    bbo_scopes_free(s);

    assert_int_equal(bbo_consumer_set_scopes(c, NULL), BBO_OK);
    assert_non_null(bbo_consumer_scopes(c));
    assert_int_equal(bbo_scopes_count(bbo_consumer_scopes(c)), 0);
    assert_int_equal(bbo_consumer_set_scopes(NULL, NULL), BBO_EINVAL);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_client_auth(void **state)
{
    bbo_consumer *c = new_consumer();

    (void)state;
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_FORM), BBO_OK);
    assert_int_equal(c->client_auth, BBO_CLIENT_AUTH_FORM);
    assert_int_equal(bbo_consumer_set_client_auth(c, (bbo_client_auth)2), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_client_auth(c, (bbo_client_auth)-1), BBO_EINVAL);
    assert_int_equal(c->client_auth, BBO_CLIENT_AUTH_FORM);
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_BASIC), BBO_OK);
    assert_int_equal(c->client_auth, BBO_CLIENT_AUTH_BASIC);
    assert_int_equal(bbo_consumer_set_client_auth(NULL, BBO_CLIENT_AUTH_BASIC), BBO_EINVAL);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* OOM torture */

typedef struct torture_ctx {
    bbo_consumer *consumer;
    bbo_scopes *scopes;
} torture_ctx;

static int op_new(void *p)
{
    torture_ctx *ctx = p;

    return bbo_consumer_new(&ctx->consumer, "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
                            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

static void cleanup_consumer(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(bbo_consumer_token_url(ctx->consumer), CLOUD_TOKEN);
    bbo_consumer_free(ctx->consumer);
    ctx->consumer = NULL;
}

static int op_data_center(void *p)
{
    torture_ctx *ctx = p;
    int error = bbo_consumer_use_data_center(ctx->consumer, "https://bb.example.com/ctx/");

    /* a failure leaves the consumer as it was */
    if (error == BBO_ENOMEM && (bbo_consumer_is_data_center(ctx->consumer) ||
                                strcmp(bbo_consumer_token_url(ctx->consumer), CLOUD_TOKEN) != 0))
        return BBO_EUSER;
    return error;
}

static void cleanup_data_center(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(bbo_consumer_token_url(ctx->consumer),
                        "https://bb.example.com/ctx/rest/oauth2/latest/token");
}

static int op_set_endpoints(void *p)
{
    torture_ctx *ctx = p;
    int error = bbo_consumer_set_endpoints(ctx->consumer, "https://a.example.com/authorize",
                                           "https://a.example.com/token", NULL);

    if (error == BBO_ENOMEM && strcmp(bbo_consumer_token_url(ctx->consumer), CLOUD_TOKEN) != 0)
        return BBO_EUSER;
    return error;
}

static int op_callback_and_scopes(void *p)
{
    torture_ctx *ctx = p;
    int error;

    if ((error = bbo_consumer_set_callback_url(ctx->consumer, "http://127.0.0.1:1/cb")) < 0)
        return error;
    if ((error = bbo_consumer_set_scopes(ctx->consumer, ctx->scopes)) < 0) {
        bbo_consumer_set_callback_url(ctx->consumer, NULL);
        return error;
    }
    return BBO_OK;
}

static void cleanup_callback_and_scopes(void *p)
{
    torture_ctx *ctx = p;

    assert_int_equal(bbo_scopes_count(bbo_consumer_scopes(ctx->consumer)), 2);
    assert_int_equal(bbo_consumer_set_callback_url(ctx->consumer, NULL), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(ctx->consumer, NULL), BBO_OK);
}

static void test_oom(void **state)
{
    torture_ctx ctx = { NULL, NULL };

    (void)state;
    bbo_test_oom_torture(op_new, cleanup_consumer, &ctx);

    ctx.consumer = new_consumer();
    bbo_test_oom_torture(op_data_center, cleanup_data_center, &ctx);
    bbo_consumer_free(ctx.consumer);

    ctx.consumer = new_consumer();
    bbo_test_oom_torture(op_set_endpoints, NULL, &ctx);
    bbo_consumer_free(ctx.consumer);

    ctx.consumer = new_consumer();
    assert_int_equal(bbo_scopes_parse(&ctx.scopes, "account email"), BBO_OK);
    bbo_test_oom_torture(op_callback_and_scopes, cleanup_callback_and_scopes, &ctx);
    bbo_scopes_free(ctx.scopes);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* RFC 9207: the issuer a callback's iss must name. */
static void test_issuer(void **state)
{
    bbo_consumer *c = new_consumer(), *copy = NULL;
    long live;

    (void)state;
    assert_null(bbo_consumer_issuer(c));
    assert_null(bbo_consumer_issuer(NULL));
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com"), BBO_OK);
    assert_string_equal(bbo_consumer_issuer(c), "https://bitbucket.example.com");
    assert_int_equal(bbo_consumer_set_issuer(c, "http://127.0.0.1:8990/bb"), BBO_OK);
    assert_string_equal(bbo_consumer_issuer(c), "http://127.0.0.1:8990/bb");
    /* refused ones keep the previous value */
    assert_int_equal(bbo_consumer_set_issuer(c, "http://bitbucket.example.com"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com?x=1"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com#x"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_issuer(c, "bitbucket"), BBO_EINVAL);
    assert_int_equal(bbo_consumer_set_issuer(c, ""), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_string_equal(bbo_consumer_issuer(c), "http://127.0.0.1:8990/bb");
    assert_int_equal(bbo_consumer_set_issuer(NULL, "https://x.example"), BBO_EINVAL);
    /* copied by dup */
    assert_int_equal(bbo_consumer_dup(&copy, c), BBO_OK);
    assert_string_equal(bbo_consumer_issuer(copy), "http://127.0.0.1:8990/bb");
    bbo_consumer_free(copy);
    /* NULL removes it */
    assert_int_equal(bbo_consumer_set_issuer(c, NULL), BBO_OK);
    assert_null(bbo_consumer_issuer(c));
    /* no memory: nothing changes */
    live = bbo_test_alloc_live();
    bbo_test_alloc_fail_after(0);
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com"), BBO_ENOMEM);
    bbo_test_alloc_fail_after(-1);
    assert_null(bbo_consumer_issuer(c));
    assert_int_equal(bbo_test_alloc_live(), live);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_getters_null),
        cmocka_unit_test(test_public_client),
        cmocka_unit_test(test_new_invalid),
        cmocka_unit_test(test_new_control_char_message_has_no_secret),
        cmocka_unit_test(test_long_credentials),
        cmocka_unit_test(test_awkward_but_printable_credentials),
        cmocka_unit_test(test_data_center),
        cmocka_unit_test(test_data_center_refused),
        cmocka_unit_test(test_set_endpoints),
        cmocka_unit_test(test_set_endpoints_refused),
        cmocka_unit_test(test_endpoint_error_names_the_url),
        cmocka_unit_test(test_callback_url),
        cmocka_unit_test(test_set_scopes),
        cmocka_unit_test(test_client_auth),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_issuer),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("consumer", tests, NULL, NULL);
}
