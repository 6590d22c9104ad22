/*
 * Authorization transactions: PKCE, the authorize URL, callback checks,
 * the implicit grant, DRBG reseed after fork, torture.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/common.h"
#include "internal/authorization.h"
#include "internal/encode.h"
#include "internal/url.h"

#define AUTHORIZE "https://bitbucket.org/site/oauth2/authorize"
#define CALLBACK "https://app.example.com/cb"
#define CODE "SECRETCODE42"
#define NOW INT64_C(1700000000)

/* RFC 7636 appendix B */
#define RFC_VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define RFC_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bbo_consumer *new_consumer(const char *key, const char *callback, const char *scopes)
{
    bbo_consumer *c = NULL;

    assert_int_equal(bbo_consumer_new(&c, key, "the-secret"), BBO_OK);
    if (callback)
        assert_int_equal(bbo_consumer_set_callback_url(c, callback), BBO_OK);
    if (scopes) {
        bbo_scopes *s = NULL;

        assert_int_equal(bbo_scopes_parse(&s, scopes), BBO_OK);
        assert_int_equal(bbo_consumer_set_scopes(c, s), BBO_OK);
        bbo_scopes_free(s);
    }
    return c;
}

static bbo_authorization *begin(const bbo_consumer *c)
{
    bbo_authorization *a = NULL;

    assert_int_equal(bbo_authorization_begin(&a, c), BBO_OK);
    assert_non_null(a);
    return a;
}

/* The raw (still encoded) value of `name` in the URL's query, copied with
 * malloc; *count gets the number of occurrences. NULL when absent. */
static char *raw_param(const char *url, const char *name, int *count)
{
    const char *p = strchr(url, '?');
    size_t nlen = strlen(name);
    char *value = NULL;

    *count = 0;
    assert_non_null(p);
    p++;
    while (*p) {
        size_t len = strcspn(p, "&");

        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            if (!value) {
                value = malloc(len - nlen);
                assert_non_null(value);
                memcpy(value, p + nlen + 1, len - nlen - 1);
                value[len - nlen - 1] = '\0';
            }
            (*count)++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return value;
}

/* The raw value of a parameter that must be there exactly once. */
static char *param_once(const char *url, const char *name)
{
    int count;
    char *value = raw_param(url, name, &count);

    if (count != 1)
        fail_msg("parameter %s appears %d times in the authorize URL", name, count);
    return value;
}

static void assert_param(const char *url, const char *name, const char *raw_expected)
{
    char *v = param_once(url, name);

    assert_string_equal(v, raw_expected);
    free(v);
}

static void assert_no_param(const char *url, const char *name)
{
    int count;
    char *v = raw_param(url, name, &count);

    assert_int_equal(count, 0);
    assert_null(v);
}

static int count_params(const char *url)
{
    const char *p = strchr(url, '?');
    int n = 1;

    assert_non_null(p);
    for (; *p; p++)
        n += *p == '&';
    return n;
}

/* --- PKCE --------------------------------------------------------------- */

static void test_pkce_rfc7636(void **state)
{
    char *challenge = NULL;

    (void)state;
    assert_int_equal(bbo_pkce_challenge(RFC_VERIFIER, &challenge), BBO_OK);
    assert_string_equal(challenge, RFC_CHALLENGE);
    bbo_free(challenge);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_pkce_refused(const char *verifier)
{
    char *sentinel = (char *)&sentinel, *challenge = sentinel;

    assert_int_equal(bbo_pkce_challenge(verifier, &challenge), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_ptr_equal(challenge, sentinel);
}

static void test_pkce_bounds(void **state)
{
    char v[130], *challenge = NULL;

    (void)state;
    memset(v, 'a', sizeof(v));
    v[42] = '\0';
    assert_pkce_refused(v); /* 42: too short */
    v[42] = 'a';
    v[43] = '\0';
    assert_int_equal(bbo_pkce_challenge(v, &challenge), BBO_OK); /* 43 */
    assert_int_equal(strlen(challenge), 43);
    assert_int_equal(strspn(challenge, b64url_alphabet), 43);
    bbo_free(challenge);
    v[43] = 'a';
    v[128] = '\0';
    assert_int_equal(bbo_pkce_challenge(v, &challenge), BBO_OK); /* 128 */
    bbo_free(challenge);
    v[128] = 'a';
    v[129] = '\0';
    assert_pkce_refused(v); /* 129: too long */
    assert_pkce_refused("");

    /* all four unreserved punctuation characters are fine */
    assert_int_equal(bbo_pkce_challenge("-._~-._~-._~-._~-._~-._~-._~-._~-._~-._~abc", &challenge),
                     BBO_OK);
    bbo_free(challenge);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_pkce_bad_characters(void **state)
{
    static const char *bad[] = {
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX/",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX=",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX ",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX%",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX\n",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEj\xc3\xa9",
    };
    char *challenge = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_pkce_refused(bad[i]);
    assert_int_equal(bbo_pkce_challenge(NULL, &challenge), BBO_EINVAL);
    assert_int_equal(bbo_pkce_challenge(RFC_VERIFIER, NULL), BBO_EINVAL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* --- the authorize URL -------------------------------------------------- */

static void check_state_and_pkce(const bbo_authorization *a)
{
    const char *url = bbo_authorization_url(a);
    const char *st = bbo_authorization_state(a);
    char *challenge = NULL;

    assert_non_null(st);
    assert_int_equal(strlen(st), 43);
    assert_int_equal(strspn(st, b64url_alphabet), 43);
    assert_param(url, "state", st);
    assert_ptr_equal(st, a->state);
    assert_non_null(a->verifier);
    assert_int_equal(strlen(a->verifier), 43);
    assert_int_equal(strspn(a->verifier, b64url_alphabet), 43);
    assert_string_not_equal(a->verifier, st);
    assert_int_equal(bbo_pkce_challenge(a->verifier, &challenge), BBO_OK);
    assert_param(url, "code_challenge", challenge);
    assert_param(url, "code_challenge_method", "S256");
    /* the verifier itself never goes into the URL */
    assert_null(strstr(url, a->verifier));
    bbo_free(challenge);
}

static void test_begin_url(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, "pullrequest:write account");
    bbo_authorization *a = begin(c);
    const char *url = bbo_authorization_url(a);
    char *challenge = NULL, expected[1024];

    (void)state;
    assert_non_null(url);
    assert_int_equal(strncmp(url, AUTHORIZE "?", strlen(AUTHORIZE) + 1), 0);
    assert_param(url, "client_id", "key123");
    assert_param(url, "response_type", "code");
    assert_param(url, "redirect_uri", "https%3A%2F%2Fapp.example.com%2Fcb");
    assert_param(url, "scope", "account%20pullrequest%3Awrite");
    check_state_and_pkce(a);
    assert_int_equal(count_params(url), 7);
    assert_string_equal(bbo_authorization_redirect_uri(a), CALLBACK);

    /* and the whole URL, byte for byte */
    assert_int_equal(bbo_pkce_challenge(a->verifier, &challenge), BBO_OK);
    snprintf(expected, sizeof(expected),
             AUTHORIZE "?client_id=key123&response_type=code&state=%s"
                       "&redirect_uri=https%%3A%%2F%%2Fapp.example.com%%2Fcb"
                       "&scope=account%%20pullrequest%%3Awrite"
                       "&code_challenge=%s&code_challenge_method=S256",
             bbo_authorization_state(a), challenge);
    assert_string_equal(url, expected);
    bbo_free(challenge);
    assert_false(a->implicit);
    assert_false(a->completed);

    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_url_parses_back(void **state)
{
    bbo_consumer *c = new_consumer("key123", "http://127.0.0.1:8123/cb?x=1", "account email");
    bbo_authorization *a = begin(c);
    bbo_params params = { NULL, 0 };
    bbo_url u;
    size_t n;

    (void)state;
    assert_int_equal(bbo__url_parse(&u, bbo_authorization_url(a), "authorize URL"), BBO_OK);
    assert_string_equal(u.host, "bitbucket.org");
    assert_string_equal(u.path, "/site/oauth2/authorize");
    assert_int_equal(bbo__params_parse(&params, u.query, strlen(u.query)), BBO_OK);
    assert_int_equal(params.count, 7);
    assert_string_equal(bbo__params_get(&params, "client_id", &n), "key123");
    assert_int_equal(n, 1);
    assert_string_equal(bbo__params_get(&params, "redirect_uri", &n),
                        "http://127.0.0.1:8123/cb?x=1");
    assert_int_equal(n, 1);
    assert_string_equal(bbo__params_get(&params, "scope", &n), "account email");
    assert_string_equal(bbo__params_get(&params, "state", &n), bbo_authorization_state(a));
    assert_int_equal(n, 1);
    assert_param(bbo_authorization_url(a), "redirect_uri",
                 "http%3A%2F%2F127.0.0.1%3A8123%2Fcb%3Fx%3D1");
    bbo__params_dispose(&params);
    bbo__url_dispose(&u);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_minimal(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL, NULL);
    bbo_authorization *a = begin(c);
    const char *url = bbo_authorization_url(a);

    (void)state;
    assert_param(url, "client_id", "key123");
    assert_param(url, "response_type", "code");
    assert_no_param(url, "redirect_uri");
    assert_no_param(url, "scope");
    check_state_and_pkce(a);
    assert_int_equal(count_params(url), 5);
    assert_null(bbo_authorization_redirect_uri(a));
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_fresh_each_time(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c), *b = begin(c);

    (void)state;
    assert_string_not_equal(bbo_authorization_state(a), bbo_authorization_state(b));
    assert_string_not_equal(a->verifier, b->verifier);
    assert_string_not_equal(bbo_authorization_url(a), bbo_authorization_url(b));
    bbo_authorization_free(a);
    bbo_authorization_free(b);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_awkward_key(void **state)
{
    bbo_consumer *c = new_consumer("k y&z=1/\xc3\xa9+#?", NULL, NULL);
    bbo_authorization *a = begin(c);

    (void)state;
    assert_param(bbo_authorization_url(a), "client_id", "k%20y%26z%3D1%2F%C3%A9%2B%23%3F");
    assert_int_equal(count_params(bbo_authorization_url(a)), 5);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_authorize_url_with_query(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL, NULL);
    bbo_authorization *a;
    const char *url, *prefix;

    (void)state;
    assert_int_equal(bbo_consumer_set_endpoints(c, "https://auth.example.com/authorize?tenant=7",
                                                NULL, NULL),
                     BBO_OK);
    a = begin(c);
    url = bbo_authorization_url(a);
    prefix = "https://auth.example.com/authorize?tenant=7&client_id=key123&";
    assert_int_equal(strncmp(url, prefix, strlen(prefix)), 0);
    assert_param(url, "tenant", "7");
    assert_int_equal(count_params(url), 6);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_data_center(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, "REPO_WRITE PUBLIC_REPOS");
    bbo_authorization *a;
    const char *prefix;

    (void)state;
    assert_int_equal(bbo_consumer_use_data_center(c, "https://bb.example.com/ctx"), BBO_OK);
    a = begin(c);
    prefix = "https://bb.example.com/ctx/rest/oauth2/latest/authorize?client_id=key123&";
    assert_int_equal(strncmp(bbo_authorization_url(a), prefix, strlen(prefix)), 0);
    assert_param(bbo_authorization_url(a), "scope", "PUBLIC_REPOS%20REPO_WRITE");
    check_state_and_pkce(a);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_consumer_may_be_freed(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, "account");
    bbo_authorization *a = begin(c);
    char *url = strdup(bbo_authorization_url(a));

    (void)state;
    bbo_consumer_free(c);
    assert_string_equal(bbo_authorization_url(a), url);
    assert_string_equal(bbo_authorization_redirect_uri(a), CALLBACK);
    free(url);
    bbo_authorization_free(a);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_ex_redirect_override(void **state)
{
    bbo_consumer *c = new_consumer("key123", "http://127.0.0.1/callback", NULL);
    bbo_authorization *a = NULL;

    (void)state;
    assert_int_equal(bbo_authorization_begin_ex(&a, c, "http://127.0.0.1:53127/callback", 0),
                     BBO_OK);
    assert_param(bbo_authorization_url(a), "redirect_uri",
                 "http%3A%2F%2F127.0.0.1%3A53127%2Fcallback");
    assert_string_equal(bbo_authorization_redirect_uri(a), "http://127.0.0.1:53127/callback");
    check_state_and_pkce(a);
    bbo_authorization_free(a);

    /* NULL: the consumer's own */
    a = NULL;
    assert_int_equal(bbo_authorization_begin_ex(&a, c, NULL, 0), BBO_OK);
    assert_string_equal(bbo_authorization_redirect_uri(a), "http://127.0.0.1/callback");
    assert_param(bbo_authorization_url(a), "redirect_uri", "http%3A%2F%2F127.0.0.1%2Fcallback");
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* A server's own host and port over plain http: only the browser goes there. */
static void test_begin_server_http_callback(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL, NULL);
    bbo_authorization *a = NULL;

    (void)state;
    assert_int_equal(bbo_authorization_begin_ex(&a, c, "http://review.example.com:3001/callback", 0),
                     BBO_OK);
    assert_string_equal(bbo_authorization_redirect_uri(a), "http://review.example.com:3001/callback");
    assert_param(bbo_authorization_url(a), "redirect_uri",
                 "http%3A%2F%2Freview.example.com%3A3001%2Fcallback");
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_invalid(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL, NULL);
    bbo_authorization *sentinel = (bbo_authorization *)&sentinel, *a = sentinel;

    (void)state;
    assert_int_equal(bbo_authorization_begin(NULL, c), BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin(&a, NULL), BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&a, c, "ftp://app.example.com/cb", 0),
                     BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&a, c, "https://app.example.com/cb#f", 0),
                     BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&a, c, "not a url", 0), BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&a, c, NULL, 2), BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&a, c, NULL, -1), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_ptr_equal(a, sentinel);
    assert_null(bbo_authorization_url(NULL));
    assert_null(bbo_authorization_state(NULL));
    assert_null(bbo_authorization_redirect_uri(NULL));
    bbo_authorization_free(NULL);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_begin_implicit(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, "account");
    bbo_authorization *a = NULL;
    char expected[512];
    const char *url;

    (void)state;
    assert_int_equal(bbo_authorization_begin_ex(&a, c, NULL, BBO_AUTHORIZATION_IMPLICIT),
                     BBO_OK);
    url = bbo_authorization_url(a);
    assert_param(url, "response_type", "token");
    assert_no_param(url, "code_challenge");
    assert_no_param(url, "code_challenge_method");
    assert_null(a->verifier);
    assert_true(a->implicit);
    assert_int_equal(strlen(bbo_authorization_state(a)), 43);
    snprintf(expected, sizeof(expected),
             AUTHORIZE "?client_id=key123&response_type=token&state=%s"
                       "&redirect_uri=https%%3A%%2F%%2Fapp.example.com%%2Fcb&scope=account",
             bbo_authorization_state(a));
    assert_string_equal(url, expected);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* --- completing --------------------------------------------------------- */

/* The last error's message never shows the state or the code. */
static void assert_message_clean(const bbo_authorization *a)
{
    const char *msg = bbo_error_message(bbo_error_last());

    assert_null(strstr(msg, bbo_authorization_state(a)));
    assert_null(strstr(msg, CODE));
    assert_null(strstr(msg, "WRONGSTATE"));
}

/* Copy `tmpl` with each "{S}" replaced by the transaction's state. */
static void subst(char *out, size_t cap, const char *tmpl, const bbo_authorization *a)
{
    const char *st = bbo_authorization_state(a);
    size_t n = 0, slen = strlen(st);

    while (*tmpl) {
        if (strncmp(tmpl, "{S}", 3) == 0) {
            assert_true(n + slen < cap);
            memcpy(out + n, st, slen);
            n += slen;
            tmpl += 3;
        } else {
            assert_true(n + 1 < cap);
            out[n++] = *tmpl++;
        }
    }
    out[n] = '\0';
}

static int complete_fmt(bbo_authorization *a, char **code, const char *fmt)
{
    char callback[1024];
    int rc;

    subst(callback, sizeof(callback), fmt, a);
    rc = bbo_authorization_complete(a, callback, code);
    if (rc != BBO_OK)
        assert_message_clean(a);
    return rc;
}

static void assert_completes(const char *fmt, const char *expected_code)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    if (complete_fmt(a, &code, fmt) != BBO_OK)
        fail_msg("callback \"%s\": %s", fmt, bbo_error_message(bbo_error_last()));
    assert_string_equal(code, expected_code);
    assert_true(a->completed);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
}

static void test_complete_forms(void **state)
{
    (void)state;
    assert_completes(CALLBACK "?code=" CODE "&state={S}", CODE);
    assert_completes("HTTPS://app.example.com/cb?state={S}&code=" CODE, CODE);
    assert_completes("http://127.0.0.1:53127/cb?code=" CODE "&state={S}", CODE);
    assert_completes("code=" CODE "&state={S}", CODE);
    assert_completes("?code=" CODE "&state={S}", CODE);
    assert_completes(CALLBACK "?code=" CODE "&state={S}#_=_", CODE);
    assert_completes(CALLBACK "?code=" CODE "&state={S}#code=other&state=x", CODE);
    assert_completes(CALLBACK "?extra=1&code=" CODE "&state={S}&other", CODE);
    assert_completes("code=a%2Fb%2Bc+d%7E&state={S}", "a/b+c d~");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_complete_fails(bbo_authorization *a, const char *fmt, int expected)
{
    char *sentinel = (char *)&sentinel, *code = sentinel;
    int rc = complete_fmt(a, &code, fmt);

    if (rc != expected)
        fail_msg("callback \"%s\" gave %d (%s), not %d", fmt, rc,
                 bbo_error_message(bbo_error_last()), expected);
    assert_int_equal(bbo_error_code(bbo_error_last()), expected);
    assert_ptr_equal(code, sentinel);
}

static void test_complete_state_mismatch(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL, wrong[128];

    (void)state;
    assert_complete_fails(a, CALLBACK "?code=" CODE "&state=WRONGSTATE", BBO_ESTATE);
    /* one character off, a prefix, an extension */
    snprintf(wrong, sizeof(wrong), "code=" CODE "&state=%.42sA", bbo_authorization_state(a));
    if (wrong[strlen(wrong) - 1] == bbo_authorization_state(a)[42])
        wrong[strlen(wrong) - 1] = 'B';
    assert_complete_fails(a, wrong, BBO_ESTATE);
    snprintf(wrong, sizeof(wrong), "code=" CODE "&state=%.42s", bbo_authorization_state(a));
    assert_complete_fails(a, wrong, BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}A", BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state=", BBO_ESTATE);
    assert_false(a->completed);
    /* a forged redirect does not burn the transaction */
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_state_missing_or_repeated(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    (void)state;
    assert_complete_fails(a, CALLBACK "?code=" CODE, BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE, BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}&state={S}", BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}&state=WRONGSTATE", BBO_ESTATE);
    assert_complete_fails(a, "state=WRONGSTATE&code=" CODE "&state={S}", BBO_ESTATE);
    /* the state is a query parameter, not a fragment one */
    assert_complete_fails(a, CALLBACK "?code=" CODE "#state={S}", BBO_ESTATE);
    assert_false(a->completed);
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* RFC 9207: iss twice is refused always; without an expected issuer a
 * single iss is not looked at. */
static void test_complete_iss_without_issuer(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    (void)state;
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=https%3A%2F%2Fa&iss=https%3A%2F%2Fb",
                          BBO_ESTATE);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "iss"));
    assert_complete_fails(a, "iss=x&code=" CODE "&state={S}&iss=x", BBO_ESTATE);
    assert_complete_fails(a, "iss=x&error=access_denied&state={S}&iss=x", BBO_ESTATE);
    assert_false(a->completed);
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}&iss=https%3A%2F%2Fany"),
                     BBO_OK);
    bbo_free(code);
    bbo_authorization_free(a);
    a = begin(c);
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* With an expected issuer, iss must be there and equal it. */
static void test_complete_iss_expected(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL), *copy = NULL;
    bbo_authorization *a;
    char *code = NULL;

    (void)state;
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com"), BBO_OK);
    a = begin(c);
    /* the consumer may change or go: the transaction keeps its issuer */
    assert_int_equal(bbo_consumer_set_issuer(c, NULL), BBO_OK);
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=https%3A%2F%2Fevil.example", BBO_ESTATE);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "another server"));
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=https%3A%2F%2Fbitbucket.example.com%2F",
                          BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=HTTPS%3A%2F%2Fbitbucket.example.com",
                          BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=", BBO_ESTATE);
    assert_complete_fails(a, "code=" CODE "&state={S}", BBO_ESTATE);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "no iss"));
    /* a foreign server's error does not end the transaction either */
    assert_complete_fails(a, "error=access_denied&state={S}&iss=https%3A%2F%2Fevil.example",
                          BBO_ESTATE);
    assert_false(a->completed);
    assert_int_equal(
        complete_fmt(a, &code, "code=" CODE "&state={S}&iss=https%3A%2F%2Fbitbucket.example.com"),
        BBO_OK);
    assert_string_equal(code, CODE);
    bbo_free(code);
    bbo_authorization_free(a);

    /* bbo_consumer_dup keeps the issuer */
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com"), BBO_OK);
    assert_int_equal(bbo_consumer_dup(&copy, c), BBO_OK);
    assert_string_equal(bbo_consumer_issuer(copy), "https://bitbucket.example.com");
    a = begin(copy);
    assert_complete_fails(a, "code=" CODE "&state={S}&iss=https%3A%2F%2Fevil.example", BBO_ESTATE);
    bbo_authorization_free(a);
    bbo_consumer_free(copy);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_twice(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    (void)state;
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    bbo_free(code);
    assert_complete_fails(a, "code=" CODE "&state={S}", BBO_ESTATE);
    assert_complete_fails(a, "code=other&state={S}", BBO_ESTATE);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_denied(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    const bbo_error *e;

    (void)state;
    assert_complete_fails(a, CALLBACK "?error=access_denied"
                                      "&error_description=The+user+denied+access.&state={S}",
                          BBO_EDENIED);
    e = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(e), "access_denied");
    assert_string_equal(bbo_error_description(e), "The user denied access.");
    assert_non_null(strstr(bbo_error_message(e), "denied"));
    /* that answer ends the transaction */
    assert_complete_fails(a, "code=" CODE "&state={S}", BBO_ESTATE);
    bbo_authorization_free(a);

    /* without a description */
    a = begin(c);
    assert_complete_fails(a, "error=access_denied&state={S}", BBO_EDENIED);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "access_denied");
    assert_null(bbo_error_description(bbo_error_last()));
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_oauth_error(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    const bbo_error *e;

    (void)state;
    assert_complete_fails(a, "error=invalid_scope&error_description=These+requested+scopes+are"
                             "+beyond+the+OAuth+client%27s+own+scopes%3A+team&state={S}",
                          BBO_EOAUTH);
    e = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(e), "invalid_scope");
    assert_string_equal(bbo_error_description(e),
                        "These requested scopes are beyond the OAuth client's own scopes: team");
    assert_non_null(strstr(bbo_error_message(e), "invalid_scope"));
    assert_true(a->completed);
    bbo_authorization_free(a);

    /* an error with a code beside it is still an error */
    a = begin(c);
    assert_complete_fails(a, "error=server_error&code=" CODE "&state={S}", BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "server_error");
    assert_null(bbo_error_description(bbo_error_last()));
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_error_needs_state(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    (void)state;
    /* an error redirect with a foreign or no state is an attack, not an answer */
    assert_complete_fails(a, "error=access_denied&state=WRONGSTATE", BBO_ESTATE);
    assert_null(bbo_error_oauth_code(bbo_error_last()));
    assert_complete_fails(a, "error=access_denied&error_description=no", BBO_ESTATE);
    assert_null(bbo_error_oauth_code(bbo_error_last()));
    assert_complete_fails(a, "error=invalid_scope", BBO_ESTATE);
    assert_false(a->completed);
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_error_text_sanitized(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    const char *msg;

    (void)state;
    assert_complete_fails(a, "error=invalid%0Arequest&error_description=line1%0D%0Aline2%1B[31m"
                             "&state={S}",
                          BBO_EOAUTH);
    msg = bbo_error_message(bbo_error_last());
    assert_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\r'));
    assert_null(strchr(msg, '\x1b'));
    assert_non_null(strstr(msg, "line1"));
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid?request");
    assert_string_equal(bbo_error_description(bbo_error_last()), "line1??line2?[31m");
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_code_problems(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c);
    char *code = NULL;

    (void)state;
    assert_complete_fails(a, "state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, CALLBACK "?state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, "code=" CODE "&code=" CODE "&state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, "code=&state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, "code&state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, "code=%zz&state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, "code=a%00b&state={S}", BBO_EPROTOCOL);
    assert_complete_fails(a, CALLBACK, BBO_EPROTOCOL);
    assert_complete_fails(a, CALLBACK "#code=" CODE "&state={S}", BBO_EPROTOCOL);
    /* a '?' inside the fragment starts no query */
    assert_complete_fails(a, CALLBACK "#x?code=" CODE "&state={S}", BBO_EPROTOCOL);
    assert_false(a->completed);
    assert_int_equal(complete_fmt(a, &code, "code=" CODE "&state={S}"), BBO_OK);
    bbo_free(code);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_complete_invalid(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin(c), *imp = NULL;
    char *code = NULL;
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(bbo_authorization_complete(NULL, "code=x&state=y", &code), BBO_EINVAL);
    assert_int_equal(bbo_authorization_complete(a, NULL, &code), BBO_EINVAL);
    assert_int_equal(bbo_authorization_complete(a, "code=x&state=y", NULL), BBO_EINVAL);
    assert_null(code);
    /* the two flows do not mix */
    assert_int_equal(bbo_authorization_complete_implicit(a, CALLBACK "#access_token=x", NOW, &tok),
                     BBO_EINVAL);
    assert_int_equal(bbo_authorization_begin_ex(&imp, c, NULL, BBO_AUTHORIZATION_IMPLICIT),
                     BBO_OK);
    assert_int_equal(complete_fmt(imp, &code, "code=" CODE "&state={S}"), BBO_EINVAL);
    assert_int_equal(bbo_authorization_complete_implicit(NULL, "x", NOW, &tok), BBO_EINVAL);
    assert_int_equal(bbo_authorization_complete_implicit(imp, NULL, NOW, &tok), BBO_EINVAL);
    assert_int_equal(bbo_authorization_complete_implicit(imp, "x", NOW, NULL), BBO_EINVAL);
    assert_null(tok);
    assert_null(code);
    bbo_authorization_free(imp);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* --- implicit grant ----------------------------------------------------- */

static int implicit_fmt(bbo_authorization *a, const char *fmt, bbo_token **tok)
{
    char callback[1024];

    subst(callback, sizeof(callback), fmt, a);
    return bbo_authorization_complete_implicit(a, callback, NOW, tok);
}

static bbo_authorization *begin_implicit(const bbo_consumer *c)
{
    bbo_authorization *a = NULL;

    assert_int_equal(bbo_authorization_begin_ex(&a, c, NULL, BBO_AUTHORIZATION_IMPLICIT),
                     BBO_OK);
    return a;
}

static void test_implicit_complete(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, "account");
    bbo_authorization *a = begin_implicit(c);
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(implicit_fmt(a,
                                  CALLBACK "#access_token=AT-abc.123&token_type=bearer"
                                           "&expires_in=3600&scope=account+pullrequest&state={S}",
                                  &tok),
                     BBO_OK);
    assert_non_null(tok);
    assert_string_equal(bbo_token_access(tok), "AT-abc.123");
    assert_string_equal(bbo_token_type(tok), "bearer");
    assert_null(bbo_token_refresh(tok));
    assert_true(bbo_token_expires_at(tok) == NOW + 3600);
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(tok)), 2);
    assert_int_equal(bbo_scopes_has(bbo_token_scopes(tok), "account"), 1);
    assert_int_equal(bbo_scopes_has(bbo_token_scopes(tok), "repository"), 1);
    assert_true(a->completed);
    bbo_token_free(tok);

    /* once only */
    tok = NULL;
    assert_int_equal(implicit_fmt(a, CALLBACK "#access_token=AT&state={S}", &tok), BBO_ESTATE);
    assert_null(tok);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_implicit_minimal_fragment(void **state)
{
    bbo_consumer *c = new_consumer("key123", NULL, NULL);
    bbo_authorization *a = begin_implicit(c);
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(implicit_fmt(a, CALLBACK "?app=1#state={S}&access_token=AT", &tok), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "AT");
    assert_true(bbo_token_expires_at(tok) == 0);
    assert_int_equal(bbo_scopes_count(bbo_token_scopes(tok)), 0);
    bbo_token_free(tok);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void assert_implicit_fails(bbo_authorization *a, const char *fmt, int expected)
{
    bbo_token *sentinel = (bbo_token *)&sentinel, *tok = sentinel;
    int rc = implicit_fmt(a, fmt, &tok);

    if (rc != expected)
        fail_msg("implicit callback \"%s\" gave %d (%s), not %d", fmt, rc,
                 bbo_error_message(bbo_error_last()), expected);
    assert_ptr_equal(tok, sentinel);
    assert_null(strstr(bbo_error_message(bbo_error_last()), bbo_authorization_state(a)));
    assert_null(strstr(bbo_error_message(bbo_error_last()), "SECRETAT"));
}

static void test_implicit_failures(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a = begin_implicit(c);

    (void)state;
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&state=WRONGSTATE", BBO_ESTATE);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT", BBO_ESTATE);
    assert_implicit_fails(a, CALLBACK "#state={S}", BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&access_token=x&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&expires_in=soon&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&expires_in=0&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&expires_in=-5&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&expires_in=99999999999&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&scope=%22bad&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT%0D%0AX-Evil:+1&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=&state={S}", BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK "#access_token=SECRETAT&token_type=mac&state={S}",
                          BBO_EPROTOCOL);
    assert_implicit_fails(a, CALLBACK, BBO_EPROTOCOL);
    assert_false(a->completed);
    /* the error of the implicit flow comes in the query */
    assert_implicit_fails(a, CALLBACK "?error=access_denied&state={S}", BBO_EDENIED);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "access_denied");
    assert_true(a->completed);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* --- fork --------------------------------------------------------------- */

static void test_fork_reseeds(void **state)
{
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *before = begin(c), *after;
    char child_state[64];
    int fds[2], status;
    ssize_t n;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bbo_authorization *mine = NULL;
        int ok;

        close(fds[0]);
        ok = bbo_authorization_begin(&mine, c) == BBO_OK &&
             write(fds[1], bbo_authorization_state(mine), 43) == 43;
        /* the child's copies too, so valgrind --trace-children sees no leak */
        bbo_authorization_free(mine);
        bbo_authorization_free(before);
        bbo_consumer_free(c);
        _exit(ok && bbo_test_alloc_live() == 0 ? 0 : 1);
    }
    close(fds[1]);
    n = read(fds[0], child_state, sizeof(child_state) - 1);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(n, 43);
    child_state[n] = '\0';

    /* the child and the parent drew from copies of one DRBG: without the
     * reseed the parent's next state would be the child's */
    after = begin(c);
    assert_string_not_equal(bbo_authorization_state(after), child_state);
    assert_string_not_equal(bbo_authorization_state(before), child_state);
    bbo_authorization_free(before);
    bbo_authorization_free(after);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* --- OOM torture -------------------------------------------------------- */

typedef struct torture_ctx {
    bbo_consumer *consumer;
    bbo_authorization *auth;
    char *code;
    bbo_token *token;
    char callback[512];
} torture_ctx;

static int op_begin(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_begin(&ctx->auth, ctx->consumer);
}

static int op_begin_ex(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_begin_ex(&ctx->auth, ctx->consumer, "http://127.0.0.1:5000/cb",
                                      BBO_AUTHORIZATION_IMPLICIT);
}

static void cleanup_auth(void *p)
{
    torture_ctx *ctx = p;

    assert_non_null(bbo_authorization_url(ctx->auth));
    bbo_authorization_free(ctx->auth);
    ctx->auth = NULL;
}

static int op_complete(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_complete(ctx->auth, ctx->callback, &ctx->code);
}

static void cleanup_code(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->code, "a/b c");
    bbo_free(ctx->code);
    ctx->code = NULL;
}

static int op_complete_implicit(void *p)
{
    torture_ctx *ctx = p;

    return bbo_authorization_complete_implicit(ctx->auth, ctx->callback, NOW, &ctx->token);
}

static void cleanup_token(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(bbo_token_access(ctx->token), "AT");
    bbo_token_free(ctx->token);
    ctx->token = NULL;
}

static int op_pkce(void *p)
{
    torture_ctx *ctx = p;

    return bbo_pkce_challenge(RFC_VERIFIER, &ctx->code);
}

static void cleanup_pkce(void *p)
{
    torture_ctx *ctx = p;

    assert_string_equal(ctx->code, RFC_CHALLENGE);
    bbo_free(ctx->code);
    ctx->code = NULL;
}

static void test_oom(void **state)
{
    torture_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.consumer = new_consumer("key123", CALLBACK, "account pullrequest:write");
    bbo_test_oom_torture(op_begin, cleanup_auth, &ctx);
    bbo_test_oom_torture(op_begin_ex, cleanup_auth, &ctx);
    bbo_test_oom_torture(op_pkce, cleanup_pkce, &ctx);

    ctx.auth = begin(ctx.consumer);
    snprintf(ctx.callback, sizeof(ctx.callback), CALLBACK "?code=a%%2Fb+c&state=%s&x=1",
             bbo_authorization_state(ctx.auth));
    bbo_test_oom_torture(op_complete, cleanup_code, &ctx);
    bbo_authorization_free(ctx.auth);

    ctx.auth = begin_implicit(ctx.consumer);
    snprintf(ctx.callback, sizeof(ctx.callback),
             CALLBACK "#access_token=AT&token_type=bearer&expires_in=7200"
                      "&scope=account+pullrequest%%3Awrite&state=%s",
             bbo_authorization_state(ctx.auth));
    bbo_test_oom_torture(op_complete_implicit, cleanup_token, &ctx);
    bbo_authorization_free(ctx.auth);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* Allocation failures with an expected issuer. */
static void test_iss_oom(void **state)
{
    torture_ctx ctx;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.consumer = new_consumer("key123", CALLBACK, NULL);
    assert_int_equal(bbo_consumer_set_issuer(ctx.consumer, "https://bitbucket.example.com"),
                     BBO_OK);
    bbo_test_oom_torture(op_begin, cleanup_auth, &ctx);
    ctx.auth = begin(ctx.consumer);
    snprintf(ctx.callback, sizeof(ctx.callback),
             CALLBACK "?code=a%%2Fb+c&state=%s&iss=https%%3A%%2F%%2Fbitbucket.example.com",
             bbo_authorization_state(ctx.auth));
    bbo_test_oom_torture(op_complete, cleanup_code, &ctx);
    bbo_authorization_free(ctx.auth);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* A login sealed and unsealed (another worker) still checks iss: the
 * unsealing consumer's issuer applies. */
static void test_iss_after_unseal(void **state)
{
    static const unsigned char key[32] = "a key of exactly thirty-two byte";
    bbo_consumer *c = new_consumer("key123", CALLBACK, NULL);
    bbo_authorization *a, *b = NULL;
    char *sealed = NULL, *code = NULL;

    (void)state;
    assert_int_equal(bbo_consumer_set_issuer(c, "https://bitbucket.example.com"), BBO_OK);
    a = begin(c);
    assert_int_equal(bbo_authorization_seal(a, key, NOW, &sealed), BBO_OK);
    assert_int_equal(bbo_authorization_unseal(&b, c, key, sealed, NOW + 5), BBO_OK);
    assert_complete_fails(b, "code=" CODE "&state={S}&iss=https%3A%2F%2Fevil.example", BBO_ESTATE);
    assert_complete_fails(b, "code=" CODE "&state={S}&iss=x&iss=x", BBO_ESTATE);
    assert_int_equal(
        complete_fmt(b, &code, "code=" CODE "&state={S}&iss=https%3A%2F%2Fbitbucket.example.com"),
        BBO_OK);
    bbo_free(code);
    bbo_free(sealed);
    bbo_authorization_free(b);
    bbo_authorization_free(a);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkce_rfc7636),
        cmocka_unit_test(test_complete_iss_without_issuer),
        cmocka_unit_test(test_complete_iss_expected),
        cmocka_unit_test(test_iss_oom),
        cmocka_unit_test(test_iss_after_unseal),
        cmocka_unit_test(test_pkce_bounds),
        cmocka_unit_test(test_pkce_bad_characters),
        cmocka_unit_test(test_begin_url),
        cmocka_unit_test(test_begin_url_parses_back),
        cmocka_unit_test(test_begin_minimal),
        cmocka_unit_test(test_begin_fresh_each_time),
        cmocka_unit_test(test_begin_awkward_key),
        cmocka_unit_test(test_begin_authorize_url_with_query),
        cmocka_unit_test(test_begin_data_center),
        cmocka_unit_test(test_begin_consumer_may_be_freed),
        cmocka_unit_test(test_begin_ex_redirect_override),
        cmocka_unit_test(test_begin_server_http_callback),
        cmocka_unit_test(test_begin_invalid),
        cmocka_unit_test(test_begin_implicit),
        cmocka_unit_test(test_complete_forms),
        cmocka_unit_test(test_complete_state_mismatch),
        cmocka_unit_test(test_complete_state_missing_or_repeated),
        cmocka_unit_test(test_complete_twice),
        cmocka_unit_test(test_complete_denied),
        cmocka_unit_test(test_complete_oauth_error),
        cmocka_unit_test(test_complete_error_needs_state),
        cmocka_unit_test(test_complete_error_text_sanitized),
        cmocka_unit_test(test_complete_code_problems),
        cmocka_unit_test(test_complete_invalid),
        cmocka_unit_test(test_implicit_complete),
        cmocka_unit_test(test_implicit_minimal_fragment),
        cmocka_unit_test(test_implicit_failures),
        cmocka_unit_test(test_fork_reseeds),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("authorization", tests, NULL, NULL);
}
