/*
 * Unit tests: token request builders and the token answer parser.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/authorization.h"

#define TOKEN_URL "https://127.0.0.1:8443/site/oauth2/access_token"
#define KEY "bbo-key"
#define SECRET "bbo secret/+&"
/* base64("bbo-key:bbo+secret%2F%2B%26"): key and secret form-encoded first */
#define BASIC "Basic YmJvLWtleTpiYm8rc2VjcmV0JTJGJTJCJTI2"
#define FORM_TYPE "application/x-www-form-urlencoded"
#define JWT "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhcHAta2V5In0.c2lnbmF0dXJlLV8"
#define SENT_AT INT64_C(1700000000)

static bbo_consumer *new_consumer(const char *secret)
{
    bbo_consumer *c = NULL;

    assert_int_equal(bbo_consumer_new(&c, KEY, secret), BBO_OK);
    assert_int_equal(bbo_consumer_set_endpoints(c, NULL, TOKEN_URL, NULL), BBO_OK);
    return c;
}

/*
 * The exact request: POST to the token URL, headers in this order and no
 * other, the body byte for byte. `authorization` NULL: no such header.
 */
static void assert_request(const bbo_http_request *req, const char *authorization,
                           const char *body)
{
    size_t len = 0, i = 0;
    const char *got;

    assert_non_null(req);
    assert_string_equal(bbo_http_request_method(req), "POST");
    assert_string_equal(bbo_http_request_url(req), TOKEN_URL);
    assert_int_equal(bbo_http_request_header_count(req), authorization ? 3 : 2);
    if (authorization) {
        assert_string_equal(bbo_http_request_header_name(req, i), "Authorization");
        assert_string_equal(bbo_http_request_header_value(req, i), authorization);
        i++;
    } else {
        assert_null(bbo_http_request_header(req, "Authorization"));
    }
    assert_string_equal(bbo_http_request_header_name(req, i), "Content-Type");
    assert_string_equal(bbo_http_request_header_value(req, i), FORM_TYPE);
    i++;
    assert_string_equal(bbo_http_request_header_name(req, i), "Accept");
    assert_string_equal(bbo_http_request_header_value(req, i), "application/json");
    i++;
    assert_null(bbo_http_request_header_name(req, i));
    got = bbo_http_request_body(req, &len);
    if (len != strlen(body) || memcmp(got, body, len) != 0)
        fail_msg("body\n  got      %.*s\n  expected %s", (int)len, got, body);
    assert_int_equal(got[len], '\0');
    assert_int_equal(bbo_http_request_timeout_ms(req), 0);
}

/* ---- authorization code -------------------------------------------------- */

static void test_authorization_code_with_redirect(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_authorization *auth = NULL;
    bbo_http_request *req = NULL;
    char body[512];

    (void)state;
    assert_int_equal(bbo_authorization_begin_ex(&auth, c, "http://127.0.0.1:8765/callback", 0),
                     BBO_OK);
    assert_non_null(auth->verifier);
    assert_int_equal(strlen(auth->verifier), 43);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, "c0de/+ =&?"), BBO_OK);
    snprintf(body, sizeof(body),
             "grant_type=authorization_code&code=c0de%%2F%%2B+%%3D%%26%%3F"
             "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fcallback&code_verifier=%s",
             auth->verifier);
    assert_request(req, BASIC, body);
    assert_null(strstr(bbo_http_request_url(req), "c0de"));
    assert_null(strstr(bbo_http_request_url(req), "secret"));
    assert_null(strstr(bbo_http_request_url(req), auth->verifier));
    bbo_http_request_free(req);
    bbo_authorization_free(auth);

    /* the consumer's callback URL is the transaction's redirect_uri */
    assert_int_equal(bbo_consumer_set_callback_url(c, "https://app.example/cb?x=1"), BBO_OK);
    assert_int_equal(bbo_authorization_begin(&auth, c), BBO_OK);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, "abc"), BBO_OK);
    snprintf(body, sizeof(body),
             "grant_type=authorization_code&code=abc"
             "&redirect_uri=https%%3A%%2F%%2Fapp.example%%2Fcb%%3Fx%%3D1&code_verifier=%s",
             auth->verifier);
    assert_request(req, BASIC, body);
    bbo_http_request_free(req);
    bbo_authorization_free(auth);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_authorization_code_without_redirect(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_authorization *auth = NULL;
    bbo_http_request *req = NULL;
    char body[512];

    (void)state;
    assert_int_equal(bbo_authorization_begin(&auth, c), BBO_OK);
    assert_null(auth->redirect_uri);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, "the-code"), BBO_OK);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=the-code&code_verifier=%s",
             auth->verifier);
    assert_request(req, BASIC, body);
    assert_null(strstr(bbo_http_request_body(req, NULL), "redirect_uri"));
    bbo_http_request_free(req);
    bbo_authorization_free(auth);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_authorization_code_invalid(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_authorization *auth = NULL, *implicit = NULL;
    bbo_http_request *req = (bbo_http_request *)(uintptr_t)0x1;

    (void)state;
    assert_int_equal(bbo_authorization_begin(&auth, c), BBO_OK);
    assert_int_equal(bbo_authorization_begin_ex(&implicit, c, NULL, BBO_AUTHORIZATION_IMPLICIT),
                     BBO_OK);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, ""), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, implicit, "code"), BBO_EINVAL);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, NULL), BBO_EINVAL);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, NULL, "code"), BBO_EINVAL);
    assert_int_equal(bbo_grant_authorization_code_request(&req, NULL, auth, "code"), BBO_EINVAL);
    assert_int_equal(bbo_grant_authorization_code_request(NULL, c, auth, "code"), BBO_EINVAL);
    assert_ptr_equal(req, (bbo_http_request *)(uintptr_t)0x1);
    bbo_authorization_free(auth);
    bbo_authorization_free(implicit);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- refresh ------------------------------------------------------------- */

static void test_refresh_request(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_token *tok = NULL, *no_refresh = NULL;
    bbo_http_request *req = NULL;

    (void)state;
    assert_int_equal(bbo_token_new(&tok, "acc", "r3fresh/+=", NULL, SENT_AT, NULL), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, tok), BBO_OK);
    assert_request(req, BASIC, "grant_type=refresh_token&refresh_token=r3fresh%2F%2B%3D");
    assert_null(strstr(bbo_http_request_url(req), "r3fresh"));
    /* the access token goes nowhere */
    assert_null(strstr(bbo_http_request_body(req, NULL), "acc&"));
    bbo_http_request_free(req);

    req = (bbo_http_request *)(uintptr_t)0x1;
    assert_int_equal(bbo_token_new(&no_refresh, "acc", NULL, NULL, SENT_AT, NULL), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, no_refresh), BBO_EEXPIRED);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EEXPIRED);
    assert_int_equal(bbo_grant_refresh_request(&req, c, NULL), BBO_EINVAL);
    assert_int_equal(bbo_grant_refresh_request(&req, NULL, tok), BBO_EINVAL);
    assert_int_equal(bbo_grant_refresh_request(NULL, c, tok), BBO_EINVAL);
    assert_ptr_equal(req, (bbo_http_request *)(uintptr_t)0x1);
    bbo_token_free(tok);
    bbo_token_free(no_refresh);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- client credentials -------------------------------------------------- */

static void test_client_credentials_request(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET), *pub = new_consumer(NULL);
    bbo_scopes *scopes = NULL;
    bbo_http_request *req = NULL;

    (void)state;
    assert_int_equal(bbo_grant_client_credentials_request(&req, c), BBO_OK);
    assert_request(req, BASIC, "grant_type=client_credentials");
    bbo_http_request_free(req);

    assert_int_equal(bbo_scopes_parse(&scopes, "repository:write account"), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(c, scopes), BBO_OK);
    assert_int_equal(bbo_grant_client_credentials_request(&req, c), BBO_OK);
    assert_request(req, BASIC, "grant_type=client_credentials&scope=account+repository%3Awrite");
    bbo_http_request_free(req);

    req = (bbo_http_request *)(uintptr_t)0x1;
    assert_int_equal(bbo_grant_client_credentials_request(&req, pub), BBO_EINVAL);
    assert_int_equal(bbo_grant_client_credentials_request(&req, NULL), BBO_EINVAL);
    assert_int_equal(bbo_grant_client_credentials_request(NULL, c), BBO_EINVAL);
    assert_ptr_equal(req, (bbo_http_request *)(uintptr_t)0x1);
    bbo_scopes_free(scopes);
    bbo_consumer_free(c);
    bbo_consumer_free(pub);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- JWT ------------------------------------------------------------------ */

static void test_jwt_request(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET), *pub = new_consumer(NULL);
    bbo_scopes *scopes = NULL;
    bbo_http_request *req = NULL;
    size_t i;

    (void)state;
    assert_int_equal(bbo_grant_jwt_request(&req, c, JWT), BBO_OK);
    assert_request(req, "JWT " JWT, "grant_type=urn%3Abitbucket%3Aoauth2%3Ajwt");
    for (i = 0; i < bbo_http_request_header_count(req); i++)
        assert_null(strstr(bbo_http_request_header_value(req, i), "Basic"));
    assert_null(strstr(bbo_http_request_body(req, NULL), "client_"));
    bbo_http_request_free(req);

    /* form client auth does not apply: the JWT is the authentication */
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_FORM), BBO_OK);
    assert_int_equal(bbo_grant_jwt_request(&req, c, JWT), BBO_OK);
    assert_request(req, "JWT " JWT, "grant_type=urn%3Abitbucket%3Aoauth2%3Ajwt");
    bbo_http_request_free(req);
    assert_int_equal(bbo_grant_jwt_request(&req, pub, JWT), BBO_OK);
    assert_request(req, "JWT " JWT, "grant_type=urn%3Abitbucket%3Aoauth2%3Ajwt");
    bbo_http_request_free(req);

    /* with scopes */
    assert_int_equal(bbo_scopes_parse(&scopes, "pullrequest"), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(c, scopes), BBO_OK);
    assert_int_equal(bbo_grant_jwt_request(&req, c, JWT), BBO_OK);
    assert_request(req, "JWT " JWT, "grant_type=urn%3Abitbucket%3Aoauth2%3Ajwt&scope=pullrequest");
    bbo_http_request_free(req);
    bbo_scopes_free(scopes);
    bbo_consumer_free(c);
    bbo_consumer_free(pub);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_jwt_invalid(void **state)
{
    static const char *const bad[] = {
        "", "abc", "a.b", "a.b.c.d", "a b.c.d", "a.b.c\r\nX-Evil: 1", "a.b.c ", "a.b.c=",
        "a~.b.c", "a.b+.c", "a/.b.c", "..", "a..c", ".b.c", "a.b.", "a.b.c\n", "\xc3\xa9.b.c",
    };
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_http_request *req = (bbo_http_request *)(uintptr_t)0x1;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = bbo_grant_jwt_request(&req, c, bad[i]);

        if (rc != BBO_EINVAL)
            fail_msg("JWT \"%s\" gave %d", bad[i], rc);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    }
    assert_int_equal(bbo_grant_jwt_request(&req, c, NULL), BBO_EINVAL);
    assert_int_equal(bbo_grant_jwt_request(&req, NULL, JWT), BBO_EINVAL);
    assert_int_equal(bbo_grant_jwt_request(NULL, c, JWT), BBO_EINVAL);
    assert_ptr_equal(req, (bbo_http_request *)(uintptr_t)0x1);
    /* the smallest valid shape */
    assert_int_equal(bbo_grant_jwt_request(&req, c, "a.b.c"), BBO_OK);
    assert_string_equal(bbo_http_request_header(req, "authorization"), "JWT a.b.c");
    bbo_http_request_free(req);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- client authentication variants ------------------------------------- */

static void test_form_client_auth(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(SECRET);
    bbo_authorization *auth = NULL;
    bbo_token *tok = NULL;
    bbo_http_request *req = NULL;
    char body[512];

    (void)state;
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_FORM), BBO_OK);
    assert_int_equal(bbo_token_new(&tok, "acc", "ref", NULL, 0, NULL), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, tok), BBO_OK);
    assert_request(req, NULL, "grant_type=refresh_token&refresh_token=ref"
                              "&client_id=bbo-key&client_secret=bbo+secret%2F%2B%26");
    bbo_http_request_free(req);

    assert_int_equal(bbo_grant_client_credentials_request(&req, c), BBO_OK);
    assert_request(req, NULL, "grant_type=client_credentials"
                              "&client_id=bbo-key&client_secret=bbo+secret%2F%2B%26");
    bbo_http_request_free(req);

    assert_int_equal(bbo_authorization_begin(&auth, c), BBO_OK);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, "C"), BBO_OK);
    snprintf(body, sizeof(body),
             "grant_type=authorization_code&code=C&code_verifier=%s"
             "&client_id=bbo-key&client_secret=bbo+secret%%2F%%2B%%26",
             auth->verifier);
    assert_request(req, NULL, body);
    assert_null(strstr(bbo_http_request_url(req), "secret"));
    bbo_http_request_free(req);

    /* back to Basic */
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_BASIC), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, tok), BBO_OK);
    assert_request(req, BASIC, "grant_type=refresh_token&refresh_token=ref");
    bbo_http_request_free(req);
    bbo_authorization_free(auth);
    bbo_token_free(tok);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_public_consumer(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_consumer *c = new_consumer(NULL);
    bbo_authorization *auth = NULL;
    bbo_token *tok = NULL;
    bbo_http_request *req = NULL;
    char body[512];

    (void)state;
    assert_int_equal(bbo_token_new(&tok, "acc", "ref", NULL, 0, NULL), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, tok), BBO_OK);
    assert_request(req, NULL, "grant_type=refresh_token&refresh_token=ref&client_id=bbo-key");
    bbo_http_request_free(req);

    assert_int_equal(bbo_authorization_begin(&auth, c), BBO_OK);
    assert_int_equal(bbo_grant_authorization_code_request(&req, c, auth, "C"), BBO_OK);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=C&code_verifier=%s"
                                 "&client_id=bbo-key",
             auth->verifier);
    assert_request(req, NULL, body);
    bbo_http_request_free(req);

    /* form auth on a public consumer: still only client_id */
    assert_int_equal(bbo_consumer_set_client_auth(c, BBO_CLIENT_AUTH_FORM), BBO_OK);
    assert_int_equal(bbo_grant_refresh_request(&req, c, tok), BBO_OK);
    assert_request(req, NULL, "grant_type=refresh_token&refresh_token=ref&client_id=bbo-key");
    bbo_http_request_free(req);
    bbo_authorization_free(auth);
    bbo_token_free(tok);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- answers -------------------------------------------------------------- */

static bbo_http_response *response(int status, const char *content_type, const char *body)
{
    bbo_http_response *resp = NULL;

    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(bbo_http_response_set_status(resp, status), BBO_OK);
    if (content_type)
        assert_int_equal(bbo_http_response_add_header(resp, "Content-Type", content_type), BBO_OK);
    if (body)
        assert_int_equal(bbo_http_response_append_body(resp, body, strlen(body)), BBO_OK);
    return resp;
}

/* Parse, expect `code`; *out untouched and nothing leaked. */
static void expect_answer_error(const bbo_http_response *resp, const bbo_token *previous, int code)
{
    bbo_token *tok = (bbo_token *)(uintptr_t)0x1;
    long base = bbo_test_alloc_live();
    int rc = bbo_grant_parse_response(&tok, resp, SENT_AT, previous);

    if (rc != code)
        fail_msg("got %d (%s), expected %d", rc, bbo_error_message(bbo_error_last()), code);
    assert_int_equal(bbo_error_code(bbo_error_last()), code);
    assert_ptr_equal(tok, (bbo_token *)(uintptr_t)0x1);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_ok(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = response(200, "application/json",
                                       "{\"access_token\":\"new-access\",\"scope\":\"account\","
                                       "\"expires_in\":7200,\"token_type\":\"bearer\","
                                       "\"state\":\"refresh_token\",\"refresh_token\":\"new-r\"}");
    bbo_token *tok = NULL;

    (void)state;
    assert_int_equal(bbo_grant_parse_response(&tok, resp, SENT_AT, NULL), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "new-access");
    assert_string_equal(bbo_token_refresh(tok), "new-r");
    assert_int_equal(bbo_token_expires_at(tok), SENT_AT + 7200);
    assert_int_equal(bbo_token_obtained_at(tok), SENT_AT);
    assert_true(bbo_scopes_has(bbo_token_scopes(tok), "account"));
    bbo_token_free(tok);

    /* any 2xx, and no Content-Type */
    bbo_http_response_free(resp);
    resp = response(201, NULL, "{\"access_token\":\"a\",\"expires_in\":\"60\"}");
    assert_int_equal(bbo_grant_parse_response(&tok, resp, SENT_AT + 5, NULL), BBO_OK);
    assert_int_equal(bbo_token_expires_at(tok), SENT_AT + 65);
    bbo_token_free(tok);
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_refresh_rotation(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *without = response(200, "application/json",
                                          "{\"access_token\":\"a2\",\"expires_in\":7200}");
    bbo_http_response *with = response(200, "application/json",
                                       "{\"access_token\":\"a2\",\"refresh_token\":\"r2\","
                                       "\"expires_in\":7200}");
    bbo_token *previous = NULL, *bare = NULL, *tok = NULL;

    (void)state;
    assert_int_equal(bbo_token_new(&previous, "a1", "r1", NULL, SENT_AT - 10, NULL), BBO_OK);
    assert_int_equal(bbo_token_new(&bare, "a1", NULL, NULL, SENT_AT - 10, NULL), BBO_OK);

    /* no refresh token in the answer: keep the previous one */
    assert_int_equal(bbo_grant_parse_response(&tok, without, SENT_AT, previous), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "a2");
    assert_string_equal(bbo_token_refresh(tok), "r1");
    assert_ptr_not_equal(bbo_token_refresh(tok), bbo_token_refresh(previous));
    assert_int_equal(bbo_token_expires_at(tok), SENT_AT + 7200);
    bbo_token_free(tok);
    /* a new one: rotation */
    assert_int_equal(bbo_grant_parse_response(&tok, with, SENT_AT, previous), BBO_OK);
    assert_string_equal(bbo_token_refresh(tok), "r2");
    bbo_token_free(tok);
    /* neither has one */
    assert_int_equal(bbo_grant_parse_response(&tok, without, SENT_AT, bare), BBO_OK);
    assert_null(bbo_token_refresh(tok));
    bbo_token_free(tok);
    assert_int_equal(bbo_grant_parse_response(&tok, without, SENT_AT, NULL), BBO_OK);
    assert_null(bbo_token_refresh(tok));
    bbo_token_free(tok);
    /* previous is left alone */
    assert_string_equal(bbo_token_refresh(previous), "r1");
    assert_string_equal(bbo_token_access(previous), "a1");

    bbo_token_free(previous);
    bbo_token_free(bare);
    bbo_http_response_free(without);
    bbo_http_response_free(with);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_200_error_body(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = response(200, "application/json",
                                       "{\"error\":\"invalid_grant\",\"error_description\":"
                                       "\"The code has expired\",\"access_token\":\"leaked\"}");
    const bbo_error *e;

    (void)state;
    expect_answer_error(resp, NULL, BBO_EOAUTH);
    e = bbo_error_last();
    assert_int_equal(bbo_error_http_status(e), 200);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_string_equal(bbo_error_description(e), "The code has expired");
    assert_null(strstr(bbo_error_message(e), "leaked"));
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_400_invalid_grant(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = response(400, "application/json",
                                       "{\"error\":\"invalid_grant\",\"error_description\":"
                                       "\"Invalid refresh_token\"}");
    const bbo_error *e;

    (void)state;
    expect_answer_error(resp, NULL, BBO_EOAUTH);
    e = bbo_error_last();
    assert_int_equal(bbo_error_http_status(e), 400);
    assert_string_equal(bbo_error_oauth_code(e), "invalid_grant");
    assert_string_equal(bbo_error_description(e), "Invalid refresh_token");
    assert_int_equal(bbo_error_retry_after(e), -1);
    assert_string_equal(bbo_error_message(e), "token endpoint answered HTTP 400: invalid_grant: "
                                              "Invalid refresh_token");
    bbo_http_response_free(resp);

    /* JSON labelled as something else is still read */
    resp = response(400, "text/html", " \n{\"error\":\"invalid_request\",\"error_description\":"
                                      "\"No callback uri defined for the OAuth client.\"}");
    expect_answer_error(resp, NULL, BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_request");
    assert_string_equal(bbo_error_description(bbo_error_last()),
                        "No callback uri defined for the OAuth client.");
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_401_unauthorized_client(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = response(401, "application/json; charset=utf-8",
                                       "{\"error_description\": \"Invalid OAuth client "
                                       "credentials\", \"error\": \"unauthorized_client\"}");
    const bbo_error *e;

    (void)state;
    expect_answer_error(resp, NULL, BBO_EOAUTH);
    e = bbo_error_last();
    assert_int_equal(bbo_error_http_status(e), 401);
    assert_string_equal(bbo_error_oauth_code(e), "unauthorized_client");
    assert_string_equal(bbo_error_description(e), "Invalid OAuth client credentials");
    bbo_http_response_free(resp);

    /* the API's error shape on a 401: an HTTP error with the message */
    resp = response(401, "application/json",
                    "{\"type\":\"error\",\"error\":{\"message\":\"Access token expired.\"}}");
    expect_answer_error(resp, NULL, BBO_EHTTP);
    e = bbo_error_last();
    assert_int_equal(bbo_error_http_status(e), 401);
    assert_null(bbo_error_oauth_code(e));
    assert_string_equal(bbo_error_description(e), "Access token expired.");
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_429(void **state)
{
    static const char *const retry[][2] = {
        { NULL, "-1" },
        { "120", "120" },
        { "  0 ", "0" },
        { "Tue, 14 Nov 2023 22:14:50 GMT", "90" }, /* SENT_AT + 90 */
        { "Tue, 14 Nov 2023 22:11:50 GMT", "0" },  /* in the past */
        { "soon", "-1" },
        { "-5", "-1" },
        { "1.5", "-1" },
        { "Tue, 14 Nov 2023 22:14:50 UTC", "-1" },
    };
    long base = bbo_test_alloc_live();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++) {
        bbo_http_response *resp = response(429, "text/plain",
                                           "Rate limit for this resource has been exceeded");
        const bbo_error *e;

        if (retry[i][0])
            assert_int_equal(bbo_http_response_add_header(resp, "Retry-After", retry[i][0]),
                             BBO_OK);
        expect_answer_error(resp, NULL, BBO_ERATELIMIT);
        e = bbo_error_last();
        assert_int_equal(bbo_error_http_status(e), 429);
        if (bbo_error_retry_after(e) != atoi(retry[i][1]))
            fail_msg("Retry-After %s gave %lld", retry[i][0] ? retry[i][0] : "(none)",
                     (long long)bbo_error_retry_after(e));
        assert_null(bbo_error_oauth_code(e));
        assert_string_equal(bbo_error_description(e),
                            "Rate limit for this resource has been exceeded");
        assert_non_null(strstr(bbo_error_message(e), "429"));
        bbo_http_response_free(resp);
    }
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_http_errors(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp;
    const bbo_error *e;

    (void)state;
    resp = response(502, "text/html; charset=utf-8",
                    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>");
    expect_answer_error(resp, NULL, BBO_EHTTP);
    e = bbo_error_last();
    assert_int_equal(bbo_error_http_status(e), 502);
    assert_non_null(strstr(bbo_error_message(e), "HTML"));
    assert_non_null(strstr(bbo_error_message(e), "502"));
    assert_null(bbo_error_oauth_code(e));
    assert_null(bbo_error_description(e));
    bbo_http_response_free(resp);

    resp = response(302, "text/html", "<a href=\"https://evil.example/\">moved</a>");
    assert_int_equal(bbo_http_response_add_header(resp, "Location", "https://evil.example/"),
                     BBO_OK);
    expect_answer_error(resp, NULL, BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 302);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "redirect"));
    bbo_http_response_free(resp);

    resp = response(500, NULL, NULL);
    expect_answer_error(resp, NULL, BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 500);
    assert_string_equal(bbo_error_message(bbo_error_last()),
                        "token endpoint answered HTTP 500 with an empty body");
    assert_null(bbo_error_description(bbo_error_last()));
    bbo_http_response_free(resp);

    resp = response(503, "application/json", "{\"error\":");
    assert_int_equal(bbo_http_response_add_header(resp, "Retry-After", "30"), BBO_OK);
    expect_answer_error(resp, NULL, BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 503);
    assert_int_equal(bbo_error_retry_after(bbo_error_last()), 30);
    assert_null(bbo_error_oauth_code(bbo_error_last()));
    bbo_http_response_free(resp);

    resp = response(101, NULL, NULL);
    expect_answer_error(resp, NULL, BBO_EHTTP);
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_parse_200_not_a_token(void **state)
{
    static const char answer[] = "{\"access_token\":\"abc\",\"expires_in\":7200}";
    long base = bbo_test_alloc_live();
    bbo_http_response *resp;
    bbo_token *tok = NULL;
    size_t len;

    (void)state;
    resp = response(200, "text/html", "<html><body>Log in to Bitbucket</body></html>");
    expect_answer_error(resp, NULL, BBO_EPROTOCOL);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 200);
    bbo_http_response_free(resp);

    resp = response(200, "application/json", NULL);
    expect_answer_error(resp, NULL, BBO_EPROTOCOL);
    bbo_http_response_free(resp);

    for (len = 0; len < sizeof(answer) - 1; len++) {
        assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
        assert_int_equal(bbo_http_response_set_status(resp, 200), BBO_OK);
        assert_int_equal(bbo_http_response_append_body(resp, answer, len), BBO_OK);
        expect_answer_error(resp, NULL, BBO_EPROTOCOL);
        assert_int_equal(bbo_error_http_status(bbo_error_last()), 200);
        bbo_http_response_free(resp);
    }
    resp = response(200, "application/json", answer);
    assert_int_equal(bbo_grant_parse_response(&tok, resp, SENT_AT, NULL), BBO_OK);
    bbo_token_free(tok);

    tok = (bbo_token *)(uintptr_t)0x1;
    assert_int_equal(bbo_grant_parse_response(NULL, resp, SENT_AT, NULL), BBO_EINVAL);
    assert_int_equal(bbo_grant_parse_response(&tok, NULL, SENT_AT, NULL), BBO_EINVAL);
    bbo_http_response_free(resp);
    /* a response nobody filled in */
    assert_int_equal(bbo_http_response_new(&resp), BBO_OK);
    assert_int_equal(bbo_grant_parse_response(&tok, resp, SENT_AT, NULL), BBO_EINVAL);
    assert_ptr_equal(tok, (bbo_token *)(uintptr_t)0x1);
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- out of memory --------------------------------------------------------- */

typedef struct oom_ctx {
    bbo_consumer *consumer;
    bbo_authorization *auth;
    bbo_token *token;
    bbo_http_response *resp;
    bbo_http_request *req;
    bbo_token *out;
} oom_ctx;

static int op_code_request(void *c)
{
    oom_ctx *ctx = c;

    return bbo_grant_authorization_code_request(&ctx->req, ctx->consumer, ctx->auth, "code");
}

static int op_refresh_request(void *c)
{
    oom_ctx *ctx = c;

    return bbo_grant_refresh_request(&ctx->req, ctx->consumer, ctx->token);
}

static int op_jwt_request(void *c)
{
    oom_ctx *ctx = c;

    return bbo_grant_jwt_request(&ctx->req, ctx->consumer, JWT);
}

static void cleanup_request(void *c)
{
    oom_ctx *ctx = c;

    assert_string_equal(bbo_http_request_url(ctx->req), TOKEN_URL);
    bbo_http_request_free(ctx->req);
    ctx->req = NULL;
}

static int op_parse(void *c)
{
    oom_ctx *ctx = c;

    return bbo_grant_parse_response(&ctx->out, ctx->resp, SENT_AT, ctx->token);
}

static void cleanup_parse(void *c)
{
    oom_ctx *ctx = c;

    assert_string_equal(bbo_token_refresh(ctx->out), "r1");
    bbo_token_free(ctx->out);
    ctx->out = NULL;
}

/* BBO_OK stands for "the expected BBO_EOAUTH with all its details" */
static int op_parse_error(void *c)
{
    oom_ctx *ctx = c;
    int rc = bbo_grant_parse_response(&ctx->out, ctx->resp, SENT_AT, ctx->token);

    if (rc != BBO_EOAUTH)
        return rc;
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_grant");
    assert_string_equal(bbo_error_description(bbo_error_last()), "x");
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 400);
    return BBO_OK;
}

static void test_oom(void **state)
{
    long base = bbo_test_alloc_live();
    oom_ctx ctx = { NULL, NULL, NULL, NULL, NULL, NULL };
    bbo_scopes *scopes = NULL;

    (void)state;
    ctx.consumer = new_consumer(SECRET);
    assert_int_equal(bbo_scopes_parse(&scopes, "account pullrequest"), BBO_OK);
    assert_int_equal(bbo_consumer_set_scopes(ctx.consumer, scopes), BBO_OK);
    assert_int_equal(bbo_authorization_begin_ex(&ctx.auth, ctx.consumer,
                                                "http://127.0.0.1:9/cb", 0),
                     BBO_OK);
    assert_int_equal(bbo_token_new(&ctx.token, "a1", "r1", NULL, 0, NULL), BBO_OK);
    ctx.resp = response(200, "application/json",
                        "{\"access_token\":\"a2\",\"expires_in\":7200,\"scope\":\"account\"}");
    bbo_test_oom_torture(op_code_request, cleanup_request, &ctx);
    bbo_test_oom_torture(op_refresh_request, cleanup_request, &ctx);
    bbo_test_oom_torture(op_jwt_request, cleanup_request, &ctx);
    bbo_test_oom_torture(op_parse, cleanup_parse, &ctx);
    assert_int_equal(bbo_consumer_set_client_auth(ctx.consumer, BBO_CLIENT_AUTH_FORM), BBO_OK);
    bbo_test_oom_torture(op_refresh_request, cleanup_request, &ctx);
    bbo_http_response_free(ctx.resp);

    /* the error path too: an OAuth error body is read or BBO_ENOMEM comes back */
    ctx.resp = response(400, "application/json",
                        "{\"error\":\"invalid_grant\",\"error_description\":\"x\"}");
    bbo_test_oom_torture(op_parse_error, NULL, &ctx);
    bbo_http_response_free(ctx.resp);
    bbo_token_free(ctx.token);
    bbo_authorization_free(ctx.auth);
    bbo_scopes_free(scopes);
    bbo_consumer_free(ctx.consumer);
    assert_int_equal(bbo_test_alloc_live(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorization_code_with_redirect),
        cmocka_unit_test(test_authorization_code_without_redirect),
        cmocka_unit_test(test_authorization_code_invalid),
        cmocka_unit_test(test_refresh_request),
        cmocka_unit_test(test_client_credentials_request),
        cmocka_unit_test(test_jwt_request),
        cmocka_unit_test(test_jwt_invalid),
        cmocka_unit_test(test_form_client_auth),
        cmocka_unit_test(test_public_consumer),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_refresh_rotation),
        cmocka_unit_test(test_parse_200_error_body),
        cmocka_unit_test(test_parse_400_invalid_grant),
        cmocka_unit_test(test_parse_401_unauthorized_client),
        cmocka_unit_test(test_parse_429),
        cmocka_unit_test(test_parse_http_errors),
        cmocka_unit_test(test_parse_200_not_a_token),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("grant", tests, NULL, NULL);
}
