/*
 * The Connect JWT: exact header and claims, qsh, an HMAC checked against
 * mbedTLS directly and a vector computed elsewhere, argument checks, OOM.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "internal/common.h"
#include "internal/encode.h"

#define TOKEN_URL "https://bitbucket.org/site/oauth2/access_token"
#define KEY "my-app-key"
#define SECRET "shared-secret-1"
#define NOW 1700000000

/* SHA-256("POST&/site/oauth2/access_token&"), computed with Python's hashlib */
#define QSH_CLOUD "f045c19462bc33df6431a1f69800ff8fc9e839dfea9d080be9f2bcd59360c73b"
/* The whole JWT for KEY, SECRET, NOW, 180 s, computed with Python's hmac */
#define JWT_CLOUD                                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJpc3MiOiJteS1hcHAta2V5IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAxODAsInFzaCI6ImYwNDVjMT" \
    "k0NjJiYzMzZGY2NDMxYTFmNjk4MDBmZjhmYzllODM5ZGZlYTlkMDgwYmU5ZjJiY2Q1OTM2MGM3M2IifQ."         \
    "-MAMXBKcsTkZw2YmnnRoIk7HeDCUx2YWST81-hmt50Y"

typedef struct parts {
    char *text[3]; /* the three base64url pieces */
    size_t len[3];
} parts;

static int is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Split a compact JWT: exactly three non-empty base64url parts. */
static void split(const char *jwt, parts *p)
{
    const char *start = jwt, *s;
    size_t n = 0;

    memset(p, 0, sizeof(*p));
    for (s = jwt;; s++) {
        if (*s == '.' || *s == '\0') {
            assert_true(n < 3);
            p->text[n] = (char *)start;
            p->len[n] = (size_t)(s - start);
            assert_true(p->len[n] > 0);
            n++;
            if (*s == '\0')
                break;
            start = s + 1;
        } else {
            assert_true(is_base64url(*s));
        }
    }
    assert_int_equal(n, 3);
}

/* Decode part i into a NUL-terminated string (free with bbo_free). */
static char *decode(const parts *p, int i, size_t *len_out)
{
    unsigned char *raw = NULL, *copy;
    size_t len = 0;

    assert_int_equal(bbo__base64url_decode(&raw, &len, p->text[i], p->len[i]), BBO_OK);
    copy = bbo__malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, raw, len);
    copy[len] = '\0';
    bbo__free(raw);
    if (len_out)
        *len_out = len;
    return (char *)copy;
}

static void sha256_hex(const char *text, char hex[65])
{
    unsigned char digest[32];
    size_t i;

    assert_int_equal(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                 (const unsigned char *)text, strlen(text), digest),
                     0);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* Check a JWT fully: header, claims (qsh of `canonical`), signature. */
static void check_jwt(const char *jwt, const char *key, const char *secret, const char *canonical,
                      int64_t iat, int64_t exp)
{
    parts p;
    char *header, *claims, *sig, expected[1024], qsh[65];
    unsigned char mac[32];
    size_t sig_len;

    split(jwt, &p);
    header = decode(&p, 0, NULL);
    assert_string_equal(header, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    claims = decode(&p, 1, NULL);
    sha256_hex(canonical, qsh);
    snprintf(expected, sizeof(expected),
             "{\"iss\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"qsh\":\"%s\"}",
             key, (long long)iat, (long long)exp, qsh);
    assert_string_equal(claims, expected);

    /* HMAC-SHA256(secret, "part1.part2") computed by mbedTLS directly */
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                     (const unsigned char *)secret, strlen(secret),
                                     (const unsigned char *)jwt, p.len[0] + 1 + p.len[1], mac),
                     0);
    sig = decode(&p, 2, &sig_len);
    assert_int_equal(sig_len, 32);
    assert_memory_equal(sig, mac, 32);
    /* 32 bytes are 43 base64url characters: no padding */
    assert_int_equal(p.len[2], 43);
    assert_null(strchr(jwt, '='));
    if (strlen(secret) >= 8) /* a short one may occur by chance */
        assert_null(strstr(jwt, secret));

    bbo_free(header);
    bbo_free(claims);
    bbo_free(sig);
}

static void test_known_vector(void **state)
{
    char *jwt = NULL;
    char qsh[65];

    (void)state;
    sha256_hex("POST&/site/oauth2/access_token&", qsh);
    assert_string_equal(qsh, QSH_CLOUD);
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", TOKEN_URL, NOW, 180), BBO_OK);
    assert_string_equal(jwt, JWT_CLOUD);
    check_jwt(jwt, KEY, SECRET, "POST&/site/oauth2/access_token&", NOW, NOW + 180);
    bbo_free(jwt);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_claims_follow_arguments(void **state)
{
    static const struct {
        const char *url;
        const char *canonical;
    } urls[] = {
        { TOKEN_URL, "POST&/site/oauth2/access_token&" },
        /* no path: "/" */
        { "https://bitbucket.org", "POST&/&" },
        { "https://bitbucket.example.com:8443/rest/oauth2/latest/token",
          "POST&/rest/oauth2/latest/token&" },
    };
    char *jwt = NULL, *again = NULL, *other = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < BBO_ARRAY_SIZE(urls); i++) {
        assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", urls[i].url, NOW, 180),
                         BBO_OK);
        check_jwt(jwt, KEY, SECRET, urls[i].canonical, NOW, NOW + 180);
        bbo_free(jwt);
        jwt = NULL;
    }
    {
        char hex[65];

        sha256_hex("POST&/&", hex);
        /* computed with Python's hashlib */
        assert_string_equal(hex,
                            "6dfb58321692d08d44565d1331846fc24e7dc08b33259d262f4eff79b21d8e05");
    }

    /* another method, key, time and lifetime */
    assert_int_equal(bbo_jwt_connect_token(&jwt, "k!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "s", "GET",
                                           TOKEN_URL, 0, 1),
                     BBO_OK);
    check_jwt(jwt, "k!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "s", "GET&/site/oauth2/access_token&", 0, 1);
    bbo_free(jwt);

    /* deterministic; the secret changes only the signature */
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", TOKEN_URL, NOW, 3600),
                     BBO_OK);
    assert_int_equal(bbo_jwt_connect_token(&again, KEY, SECRET, "POST", TOKEN_URL, NOW, 3600),
                     BBO_OK);
    assert_string_equal(jwt, again);
    assert_int_equal(bbo_jwt_connect_token(&other, KEY, SECRET "x", "POST", TOKEN_URL, NOW, 3600),
                     BBO_OK);
    check_jwt(other, KEY, SECRET "x", "POST&/site/oauth2/access_token&", NOW, NOW + 3600);
    {
        const char *last = strrchr(jwt, '.');

        assert_memory_equal(jwt, other, (size_t)(last - jwt));
        assert_string_not_equal(last, strrchr(other, '.'));
    }
    bbo_free(jwt);
    bbo_free(again);
    bbo_free(other);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_long_secret(void **state)
{
    char secret[200], *jwt = NULL;

    (void)state;
    /* longer than the SHA-256 block: HMAC hashes the key first */
    memset(secret, 'S', sizeof(secret) - 1);
    secret[sizeof(secret) - 1] = '\0';
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, secret, "POST", TOKEN_URL, NOW, 180), BBO_OK);
    check_jwt(jwt, KEY, secret, "POST&/site/oauth2/access_token&", NOW, NOW + 180);
    bbo_free(jwt);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_refused(const char *key, const char *secret, const char *method,
                           const char *url, int64_t now, int64_t lifetime)
{
    char *sentinel = (char *)&sentinel, *jwt = sentinel;
    const char *msg;

    assert_int_equal(bbo_jwt_connect_token(&jwt, key, secret, method, url, now, lifetime),
                     BBO_EINVAL);
    assert_ptr_equal(jwt, sentinel);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    msg = bbo_error_message(bbo_error_last());
    assert_true(strlen(msg) > 0);
    if (secret && *secret)
        assert_null(strstr(msg, secret));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_lifetime(void **state)
{
    char *jwt = NULL;

    (void)state;
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, NOW, 0);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "lifetime"));
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, NOW, 3601);
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, NOW, -1);
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, NOW, INT64_MAX);
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, NOW, INT64_MIN);
    /* the bounds themselves are fine */
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", TOKEN_URL, NOW, 1), BBO_OK);
    check_jwt(jwt, KEY, SECRET, "POST&/site/oauth2/access_token&", NOW, NOW + 1);
    bbo_free(jwt);
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", TOKEN_URL, NOW, 3600),
                     BBO_OK);
    check_jwt(jwt, KEY, SECRET, "POST&/site/oauth2/access_token&", NOW, NOW + 3600);
    bbo_free(jwt);
    /* a time whose exp would overflow */
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, -1, 180);
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, INT64_MAX, 180);
    assert_refused(KEY, SECRET, "POST", TOKEN_URL, INT64_MAX - 179, 180);
    assert_int_equal(bbo_jwt_connect_token(&jwt, KEY, SECRET, "POST", TOKEN_URL, INT64_MAX - 180,
                                           180),
                     BBO_OK);
    bbo_free(jwt);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(bbo_jwt_connect_token(NULL, KEY, SECRET, "POST", TOKEN_URL, NOW, 180),
                     BBO_EINVAL);
    assert_refused(NULL, SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "bbo_jwt_connect_token"));
    assert_refused(KEY, NULL, "POST", TOKEN_URL, NOW, 180);
    assert_refused(KEY, SECRET, NULL, TOKEN_URL, NOW, 180);
    assert_refused(KEY, SECRET, "POST", NULL, NOW, 180);
    /* empty key or secret */
    assert_refused("", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused(KEY, "", "POST", TOKEN_URL, NOW, 180);
    /* a key that would need JSON escapes is refused, not escaped */
    assert_refused("my\"key", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("\"", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("my\\key", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("my\nkey", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("my\tkey", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("my\x7fkey", SECRET, "POST", TOKEN_URL, NOW, 180);
    assert_refused("cl\xc3\xa9", SECRET, "POST", TOKEN_URL, NOW, 180);
    /* the method is canonical uppercase letters: anything else would sign
     * a qsh the server computes differently */
    assert_refused(KEY, SECRET, "", TOKEN_URL, NOW, 180);
    assert_refused(KEY, SECRET, "post", TOKEN_URL, NOW, 180);
    assert_refused(KEY, SECRET, "PO&ST", TOKEN_URL, NOW, 180);
    assert_refused(KEY, SECRET, "POST ", TOKEN_URL, NOW, 180);
    /* not an absolute http(s) URL */
    assert_refused(KEY, SECRET, "POST", "", NOW, 180);
    assert_refused(KEY, SECRET, "POST", "/site/oauth2/access_token", NOW, 180);
    assert_refused(KEY, SECRET, "POST", "ftp://bitbucket.org/x", NOW, 180);
    assert_refused(KEY, SECRET, "POST", "https://user:pw@bitbucket.org/x", NOW, 180);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "pw@"));
}

typedef struct oom_ctx {
    char *jwt;
} oom_ctx;

static int op_jwt(void *p)
{
    oom_ctx *ctx = p;

    ctx->jwt = NULL;
    return bbo_jwt_connect_token(&ctx->jwt, KEY, SECRET, "POST", TOKEN_URL, NOW, 180);
}

static void cleanup_jwt(void *p)
{
    oom_ctx *ctx = p;

    assert_string_equal(ctx->jwt, JWT_CLOUD);
    bbo_free(ctx->jwt);
    ctx->jwt = NULL;
}

static void test_oom(void **state)
{
    oom_ctx ctx = { NULL };

    (void)state;
    bbo_test_oom_torture(op_jwt, cleanup_jwt, &ctx);
    assert_null(ctx.jwt);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_claims_follow_arguments),
        cmocka_unit_test(test_long_secret),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
