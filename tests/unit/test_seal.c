/*
 * Sealed authorizations: round trip (code flow, implicit, exchange through
 * the client), every tampered byte, truncation, wrong key, the expiry
 * boundaries, another consumer, the size limit, torture.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "fake_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/common.h"
#include "internal/authorization.h"
#include "internal/encode.h"

#define CALLBACK "https://review.example.com:3001/callback"
#define NOW INT64_C(1700000000)
#define TOKEN_JSON                                                                                 \
    "{\"access_token\":\"at-new\",\"token_type\":\"bearer\",\"expires_in\":7200,"                \
    "\"refresh_token\":\"rt-new\",\"scopes\":\"account pullrequest:write\"}"

static const unsigned char KEY1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char KEY2[32] = "0123456789abcdef0123456789abcdeF";
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bbo_consumer *new_consumer(const char *key, const char *callback)
{
    bbo_consumer *c = NULL;
    bbo_scopes *s = NULL;

    assert_rc(bbo_consumer_new(&c, key, "the-secret"), BBO_OK);
    if (callback)
        assert_rc(bbo_consumer_set_callback_url(c, callback), BBO_OK);
    assert_rc(bbo_scopes_parse(&s, "account pullrequest:write"), BBO_OK);
    assert_rc(bbo_consumer_set_scopes(c, s), BBO_OK);
    bbo_scopes_free(s);
    return c;
}

static char *seal_new(const bbo_consumer *c, const char *redirect, int flags, bbo_authorization **keep)
{
    bbo_authorization *a = NULL;
    char *text = NULL;

    assert_rc(bbo_authorization_begin_ex(&a, c, redirect, flags), BBO_OK);
    assert_rc(bbo_authorization_seal(a, KEY1, NOW, &text), BBO_OK);
    if (keep)
        *keep = a;
    else
        bbo_authorization_free(a);
    return text;
}

static void assert_same(const bbo_authorization *a, const bbo_authorization *b)
{
    assert_string_equal(a->state, b->state);
    if (a->verifier)
        assert_string_equal(a->verifier, b->verifier);
    else
        assert_null(b->verifier);
    if (a->redirect_uri)
        assert_string_equal(a->redirect_uri, b->redirect_uri);
    else
        assert_null(b->redirect_uri);
    assert_string_equal(a->consumer_key, b->consumer_key);
    assert_int_equal(a->implicit, b->implicit);
    assert_false(b->completed);
}

static void test_round_trip(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    bbo_authorization *a = NULL, *b = NULL;
    char *text, *again = NULL, *code = NULL, callback[512];
    size_t i;

    (void)state;
    text = seal_new(c, NULL, 0, &a);
    assert_true(strlen(text) <= 1024);
    for (i = 0; text[i]; i++)
        assert_non_null(strchr(b64url_alphabet, text[i]));
    /* nothing readable: neither state nor verifier nor the redirect */
    assert_null(strstr(text, a->state));
    assert_null(strstr(text, a->verifier));

    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, NOW + 5), BBO_OK);
    assert_same(a, b);
    assert_string_equal(bbo_authorization_url(b), bbo_authorization_url(a));
    assert_string_equal(bbo_authorization_state(b), bbo_authorization_state(a));
    assert_string_equal(bbo_authorization_redirect_uri(b), CALLBACK);

    /* a fresh nonce each time */
    assert_rc(bbo_authorization_seal(a, KEY1, NOW, &again), BBO_OK);
    assert_string_not_equal(again, text);
    bbo_free(again);
    /* an unsealed one seals again */
    assert_rc(bbo_authorization_seal(b, KEY1, NOW, &again), BBO_OK);
    bbo_free(again);

    /* the state check still runs on the unsealed transaction */
    assert_rc(bbo_authorization_complete(b, CALLBACK "?code=c&state=forged", &code),
              BBO_ESTATE);
    snprintf(callback, sizeof(callback), CALLBACK "?code=the-code&state=%s", a->state);
    assert_rc(bbo_authorization_complete(b, callback, &code), BBO_OK);
    assert_string_equal(code, "the-code");
    bbo_free(code);
    /* a completed one is not sealed */
    assert_rc(bbo_authorization_seal(b, KEY1, NOW, &again), BBO_EINVAL);

    bbo_authorization_free(a);
    bbo_authorization_free(b);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_round_trip_variants(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL);
    bbo_authorization *a = NULL, *b = NULL;
    bbo_token *tok = NULL;
    char *text, callback[512];

    (void)state;
    /* no redirect_uri at all */
    text = seal_new(c, NULL, 0, &a);
    assert_null(a->redirect_uri);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, NOW), BBO_OK);
    assert_same(a, b);
    bbo_authorization_free(a);
    bbo_authorization_free(b);
    bbo_free(text);

    /* implicit: no verifier, completes with the fragment */
    text = seal_new(c, "http://127.0.0.1:8080/cb", BBO_AUTHORIZATION_IMPLICIT, &a);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, NOW), BBO_OK);
    assert_same(a, b);
    assert_true(b->implicit);
    snprintf(callback, sizeof(callback),
             "http://127.0.0.1:8080/cb#access_token=AT&token_type=bearer&state=%s", a->state);
    assert_rc(bbo_authorization_complete_implicit(b, callback, NOW, &tok), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "AT");
    bbo_token_free(tok);
    bbo_authorization_free(a);
    bbo_authorization_free(b);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* Unsealed on "another worker": the client sends the original verifier
 * and redirect_uri with the code. */
static void test_exchange_after_unseal(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    bbo_authorization *a = NULL, *b = NULL;
    bbo_client *client = NULL;
    bbo_fake *fake = bbo_fake_new();
    bbo_transport t;
    bbo_token *tok = NULL;
    char *text, *code = NULL, callback[512], expected[512];
    const bbo_fake_request *r;

    (void)state;
    text = seal_new(c, NULL, 0, &a);
    snprintf(callback, sizeof(callback), CALLBACK "?code=the-code&state=%s", a->state);
    snprintf(expected, sizeof(expected),
             "grant_type=authorization_code&code=the-code&redirect_uri=%s&code_verifier=%s",
             "https%3A%2F%2Freview.example.com%3A3001%2Fcallback", a->verifier);
    bbo_authorization_free(a);

    assert_rc(bbo_client_new(&client, c), BBO_OK);
    bbo_fake_transport(fake, &t);
    assert_rc(bbo_client_set_transport(client, &t), BBO_OK);
    bbo_fake_push_json(fake, 200, TOKEN_JSON);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, NOW + 30), BBO_OK);
    assert_rc(bbo_authorization_complete(b, callback, &code), BBO_OK);
    assert_rc(bbo_client_exchange_code(client, b, code, &tok), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "at-new");
    r = bbo_fake_last_request(fake);
    assert_non_null(r);
    assert_string_equal(r->body, expected);

    bbo_token_free(tok);
    bbo_free(code);
    bbo_authorization_free(b);
    bbo_client_free(client);
    bbo_fake_free(fake);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static char *encode(const unsigned char *bin, size_t len)
{
    bbo_buf buf = BBO_BUF_INIT;
    char *copy;

    assert_rc(bbo__base64_encode(&buf, bin, len, true), BBO_OK);
    copy = strdup(buf.ptr);
    bbo__buf_dispose(&buf);
    return copy;
}

static void assert_refused(const bbo_consumer *c, const char *text, int allow_einval)
{
    bbo_authorization *b = NULL;
    int rc = bbo_authorization_unseal(&b, c, KEY1, text, NOW);

    if (rc != BBO_ECRYPTO && !(allow_einval && rc == BBO_EINVAL))
        fail_msg("unseal of an altered text gave %d (%s)", rc,
                 bbo_error_message(bbo_error_last()));
    assert_null(b);
}

/* Every bit flip of every byte, and every character swapped for another. */
static void test_tamper(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    char *text = seal_new(c, NULL, 0, NULL), *t;
    unsigned char *bin = NULL;
    size_t bin_len = 0, i, len = strlen(text);
    int bit;

    (void)state;
    assert_rc(bbo__base64url_decode(&bin, &bin_len, text, len), BBO_OK);
    for (i = 0; i < bin_len; i++)
        for (bit = 0; bit < 8; bit++) {
            bin[i] ^= (unsigned char)(1u << bit);
            t = encode(bin, bin_len);
            assert_refused(c, t, 0);
            free(t);
            bin[i] ^= (unsigned char)(1u << bit);
        }
    /* text level: another base64url character, or one outside the alphabet,
     * in every position (the last one's unused bits included) */
    t = strdup(text);
    for (i = 0; i < len; i++) {
        const char *p;

        for (p = b64url_alphabet; *p; p++) {
            if (*p == text[i])
                continue;
            t[i] = *p;
            assert_refused(c, t, 1);
        }
        t[i] = '=';
        assert_refused(c, t, 1);
        t[i] = '+';
        assert_refused(c, t, 1);
        t[i] = text[i];
    }
    free(t);
    bbo__free(bin);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_truncated_and_extended(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    char *text = seal_new(c, NULL, 0, NULL), *t;
    size_t len = strlen(text), i;

    (void)state;
    t = malloc(len + 8);
    assert_non_null(t);
    for (i = 0; i < len; i++) {
        memcpy(t, text, i);
        t[i] = '\0';
        assert_refused(c, t, 1);
    }
    snprintf(t, len + 8, "%sA", text);
    assert_refused(c, t, 1);
    snprintf(t, len + 8, "%sAA", text);
    assert_refused(c, t, 1);
    snprintf(t, len + 8, "%s=", text);
    assert_refused(c, t, 1);
    snprintf(t, len + 8, " %s", text);
    assert_refused(c, t, 1);
    assert_refused(c, "not a sealed login", 1);
    free(t);
    /* far too long: refused before decoding */
    t = malloc(4097);
    assert_non_null(t);
    memset(t, 'A', 4096);
    t[4096] = '\0';
    assert_refused(c, t, 1);
    free(t);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_wrong_key(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    char *text = seal_new(c, NULL, 0, NULL);
    bbo_authorization *b = NULL;
    const char *msg;

    (void)state;
    assert_rc(bbo_authorization_unseal(&b, c, KEY2, text, NOW), BBO_ECRYPTO);
    assert_null(b);
    msg = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(msg, "another key"));
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_expiry_boundaries(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    char *text = seal_new(c, NULL, 0, NULL);
    bbo_authorization *b = NULL;
    static const struct { int64_t offset; int rc; } cases[] = {
        { 0, BBO_OK },         { 1, BBO_OK },     { 600, BBO_OK },
        { 601, BBO_EEXPIRED }, { 86400, BBO_EEXPIRED },
        { -1, BBO_OK },        { -60, BBO_OK },   { -61, BBO_EEXPIRED },
        { -86400, BBO_EEXPIRED },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = bbo_authorization_unseal(&b, c, KEY1, text, NOW + cases[i].offset);

        if (rc != cases[i].rc)
            fail_msg("now %+lld s: got %d (%s), expected %d", (long long)cases[i].offset, rc,
                     bbo_error_message(bbo_error_last()), cases[i].rc);
        if (rc == BBO_OK) {
            assert_non_null(b);
            bbo_authorization_free(b);
            b = NULL;
        } else {
            assert_null(b);
        }
    }
    /* the far ends of int64_t do not overflow */
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, INT64_MAX), BBO_EEXPIRED);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, INT64_MIN), BBO_EEXPIRED);
    bbo_free(text);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_other_consumer(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    bbo_consumer *other = new_consumer("key124", CALLBACK);
    bbo_consumer *same = new_consumer("key123", "https://elsewhere.example.com/cb");
    char *text = seal_new(c, NULL, 0, NULL);
    bbo_authorization *b = NULL;

    (void)state;
    assert_rc(bbo_authorization_unseal(&b, other, KEY1, text, NOW), BBO_EINVAL);
    assert_null(b);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "another consumer"));
    /* the same key with another callback: the sealed redirect_uri wins */
    assert_rc(bbo_authorization_unseal(&b, same, KEY1, text, NOW), BBO_OK);
    assert_string_equal(bbo_authorization_redirect_uri(b), CALLBACK);
    bbo_authorization_free(b);
    bbo_free(text);
    bbo_consumer_free(c);
    bbo_consumer_free(other);
    bbo_consumer_free(same);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* Long redirect URIs: the text stays within 1024 characters, and one that
 * would not fit is a clear BBO_EINVAL. */
static void test_size_limit(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    bbo_authorization *a = NULL, *b = NULL;
    char uri[1200], *text = NULL;
    size_t n, fitted = 0;
    const char *prefix = "https://review.example.com:3001/callback?tenant=";

    (void)state;
    for (n = strlen(prefix) + 1; n < sizeof(uri) - 1; n++) {
        int rc;

        memset(uri, 'x', n);
        memcpy(uri, prefix, strlen(prefix));
        uri[n] = '\0';
        assert_rc(bbo_authorization_begin_ex(&a, c, uri, 0), BBO_OK);
        rc = bbo_authorization_seal(a, KEY1, NOW, &text);
        if (rc == BBO_OK) {
            assert_true(strlen(text) <= 1024);
            fitted = n;
            assert_rc(bbo_authorization_unseal(&b, c, KEY1, text, NOW), BBO_OK);
            assert_string_equal(bbo_authorization_redirect_uri(b), uri);
            bbo_authorization_free(b);
            bbo_free(text);
        } else {
            assert_int_equal(rc, BBO_EINVAL);
            assert_non_null(strstr(bbo_error_message(bbo_error_last()), "1024"));
            assert_non_null(strstr(bbo_error_message(bbo_error_last()), "redirect URI"));
        }
        bbo_authorization_free(a);
        if (rc != BBO_OK)
            break;
    }
    /* with a 6-character key, redirect URIs of 600 characters still fit */
    assert_true(fitted >= 600);
    assert_true(fitted < 700);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_invalid(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK);
    bbo_authorization *a = NULL, *b = NULL;
    char *text = NULL;

    (void)state;
    assert_rc(bbo_authorization_begin(&a, c), BBO_OK);
    assert_rc(bbo_authorization_seal(NULL, KEY1, NOW, &text), BBO_EINVAL);
    assert_rc(bbo_authorization_seal(a, NULL, NOW, &text), BBO_EINVAL);
    assert_rc(bbo_authorization_seal(a, KEY1, NOW, NULL), BBO_EINVAL);
    assert_rc(bbo_authorization_seal(a, KEY1, NOW, &text), BBO_OK);
    assert_rc(bbo_authorization_unseal(NULL, c, KEY1, text, NOW), BBO_EINVAL);
    assert_rc(bbo_authorization_unseal(&b, NULL, KEY1, text, NOW), BBO_EINVAL);
    assert_rc(bbo_authorization_unseal(&b, c, NULL, text, NOW), BBO_EINVAL);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, NULL, NOW), BBO_EINVAL);
    assert_rc(bbo_authorization_unseal(&b, c, KEY1, "", NOW), BBO_ECRYPTO);
    assert_null(b);
    bbo_free(text);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

typedef struct torture_ctx {
    bbo_consumer *consumer;
    bbo_authorization *auth;
    char *text;
    char *out;
    bbo_authorization *unsealed;
} torture_ctx;

static int op_seal(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_seal(ctx->auth, KEY1, NOW, &ctx->out);
}

static void cleanup_seal(void *p)
{
    torture_ctx *ctx = p;

    bbo_free(ctx->out);
    ctx->out = NULL;
}

static int op_unseal(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_unseal(&ctx->unsealed, ctx->consumer, KEY1, ctx->text, NOW);
}

static void cleanup_unseal(void *p)
{
    torture_ctx *ctx = p;

    bbo_authorization_free(ctx->unsealed);
    ctx->unsealed = NULL;
}

static void test_oom(void **state)
{
    torture_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.consumer = new_consumer("key123", CALLBACK);
    ctx.text = seal_new(ctx.consumer, NULL, 0, &ctx.auth);
    bbo_test_oom_torture(op_seal, cleanup_seal, &ctx);
    bbo_test_oom_torture(op_unseal, cleanup_unseal, &ctx);
    bbo_authorization_free(ctx.auth);
    bbo_free(ctx.text);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_variants),
        cmocka_unit_test(test_exchange_after_unseal),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_truncated_and_extended),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_expiry_boundaries),
        cmocka_unit_test(test_other_consumer),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
