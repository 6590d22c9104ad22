/*
 * Mandatory scopes, invalid_scope and sealed logins against the loopback
 * mock (tests/mock/bbmock.py) with the real libcurl transport: a consumer
 * registered with fewer scopes than the app requires, a refresh whose
 * grant lost a scope (the rotated token is kept and still works), and a
 * login sealed by one "worker" and completed by another.
 * Run it with tests/mock/with_mock.py (meson does).
 * SPDX-License-Identifier: MIT
 */
#include "mockctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char APP_KEY[32] = "an app key of 32 bytes, for test";

static bbo_scopes *scopes(const char *text)
{
    bbo_scopes *s = NULL;

    assert_rc(bbo_scopes_parse(&s, text), BBO_OK);
    return s;
}

/* The mock consumer asking for `asked` (NULL: nothing) and requiring
 * `required` (NULL: nothing). */
static bbo_consumer *consumer_with(const char *asked, const char *required)
{
    bbo_consumer *c = mock_consumer();
    bbo_scopes *s;

    if (asked) {
        s = scopes(asked);
        assert_rc(bbo_consumer_set_scopes(c, s), BBO_OK);
        bbo_scopes_free(s);
    }
    if (required) {
        s = scopes(required);
        assert_rc(bbo_consumer_require_scopes(c, s), BBO_OK);
        bbo_scopes_free(s);
    }
    return c;
}

static void assert_message_has(const char *needle)
{
    const char *msg = bbo_error_message(bbo_error_last());

    if (!strstr(msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

/* Begin, let the mock "browser" approve, complete, exchange. */
static int login(const bbo_consumer *c, bbo_client *client, bbo_token **out)
{
    bbo_authorization *auth = NULL;
    char *location, *code = NULL;
    int rc;

    assert_rc(bbo_authorization_begin(&auth, c), BBO_OK);
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    if ((rc = bbo_authorization_complete(auth, location, &code)) == BBO_OK)
        rc = bbo_client_exchange_code(client, auth, code, out);
    free(location);
    bbo_free(code);
    bbo_authorization_free(auth);
    return rc;
}

/* The consumer was registered with Account: Read only; the app requires
 * Pull requests: Write as well. */
static void test_exchange_lacks_scope(void **state)
{
    bbo_consumer *c;
    bbo_client *client;
    bbo_token *tok = NULL;

    (void)state;
    mock_reset();
    mock_config("{\"consumer\": {\"scopes\": \"account\"}}");
    c = consumer_with(NULL, "account pullrequest:write");
    client = mock_client(c);
    assert_rc(login(c, client, &tok), BBO_ESCOPE);
    assert_null(tok);
    assert_message_has("Pull requests: Write [pullrequest:write]");
    assert_message_has("Workspace settings > OAuth consumers");
    assert_message_has("log in again");
    assert_int_equal(mock_stat_long("grants.authorization_code"), 1);

    /* the consumer fixed on Bitbucket: the next login passes */
    mock_config("{\"consumer\": {\"scopes\": \"account pullrequest:write\"}}");
    assert_rc(login(c, client, &tok), BBO_OK);
    assert_true(bbo_scopes_has(bbo_token_scopes(tok), "pullrequest:write"));
    bbo_token_free(tok);
    bbo_client_free(client);
    bbo_consumer_free(c);
}

/* Asking for more than the consumer has: invalid_scope at the redirect,
 * explained in the form's words. */
static void test_invalid_scope_redirect(void **state)
{
    bbo_consumer *c;
    bbo_client *client;
    bbo_token *tok = NULL;

    (void)state;
    mock_reset();
    mock_config("{\"consumer\": {\"scopes\": \"account\"}}");
    c = consumer_with("account pullrequest:write", NULL);
    client = mock_client(c);
    assert_rc(login(c, client, &tok), BBO_EOAUTH);
    assert_null(tok);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_scope");
    assert_message_has("Account: Read, Pull requests: Write");
    assert_message_has("Workspace settings > OAuth consumers > the consumer > Edit > Permissions");
    bbo_client_free(client);
    bbo_consumer_free(c);
}

/* invalid_scope from the token endpoint (the mock checks scopes on the
 * JWT grant). */
static void test_invalid_scope_token_endpoint(void **state)
{
    bbo_consumer *c;
    bbo_client *client;
    bbo_token *tok = NULL;
    char *jwt = NULL;

    (void)state;
    mock_reset();
    c = consumer_with("account team", NULL);
    client = mock_client(c);
    assert_rc(bbo_jwt_connect_token(&jwt, "bbo-test-key", "bbo-connect-shared-secret", "POST",
                                    bbo_consumer_token_url(c), (int64_t)time(NULL), 180),
              BBO_OK);
    assert_rc(bbo_client_jwt_grant(client, jwt, &tok), BBO_EOAUTH);
    assert_null(tok);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_scope");
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 400);
    assert_message_has("Account: Read, Workspace membership: Read [account team]");
    bbo_free(jwt);
    bbo_client_free(client);
    bbo_consumer_free(c);
}

/* A login through a consumer registered with Account: Read only (`plain`,
 * requiring nothing), and a second consumer (`strict`) requiring Pull
 * requests: Write as well. */
static void login_lacking(bbo_consumer **plain, bbo_client **plain_client, bbo_consumer **strict,
                          bbo_client **strict_client, bbo_token **tok)
{
    mock_reset();
    mock_config("{\"consumer\": {\"scopes\": \"account\"}}");
    *plain = consumer_with(NULL, NULL);
    *plain_client = mock_client(*plain);
    assert_rc(login(*plain, *plain_client, tok), BBO_OK);
    *strict = consumer_with(NULL, "account pullrequest:write");
    *strict_client = mock_client(*strict);
}

/* `kept` (after one refresh) refreshes again: the grant was not revoked. */
static void assert_grant_alive(bbo_client *client, const bbo_token *kept)
{
    bbo_token *again = NULL;

    assert_rc(bbo_client_refresh(client, kept, &again), BBO_OK);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 2);
    bbo_token_free(again);
}

/* A grant without Pull requests: Write, refreshed by an app that requires
 * it: BBO_ESCOPE, and the rotated token comes back and still refreshes
 * (the grant is not lost, the old refresh token is dead). */
static void test_refresh_lacks_scope_keeps_grant(void **state)
{
    bbo_consumer *plain, *strict;
    bbo_client *plain_client, *strict_client;
    bbo_token *tok = NULL, *next = NULL;

    (void)state;
    login_lacking(&plain, &plain_client, &strict, &strict_client, &tok);
    assert_rc(bbo_client_refresh(strict_client, tok, &next), BBO_ESCOPE);
    assert_message_has("Pull requests: Write");
    assert_non_null(next);
    assert_true(strcmp(bbo_token_refresh(next), bbo_token_refresh(tok)) != 0);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);

    /* the kept token refreshes; the grant was not revoked */
    assert_grant_alive(plain_client, next);
    bbo_token_free(next);
    bbo_token_free(tok);
    bbo_client_free(strict_client);
    bbo_client_free(plain_client);
    bbo_consumer_free(strict);
    bbo_consumer_free(plain);
}

/* The same through a session: BBO_ESCOPE from bbo_session_access_token,
 * the rotated token saved and served without a new request, the grant
 * alive at the mock (its refresh token refreshes again). */
static void test_session_refresh_lacks_scope_keeps_grant(void **state)
{
    bbo_consumer *plain, *strict;
    bbo_client *plain_client, *strict_client;
    bbo_session *session = NULL;
    bbo_token *tok = NULL, *kept = NULL;
    char *access = NULL;

    (void)state;
    login_lacking(&plain, &plain_client, &strict, &strict_client, &tok);
    /* an old grant, and a margin of a day: due (a token's margin is at
     * most half its lifetime, so the token must be older than the day) */
    assert_rc(bbo_session_new(&session, strict_client, mock_token_aged(tok, 2 * 86400)), BBO_OK);
    assert_rc(bbo_session_set_refresh_margin(session, 86400), BBO_OK);
    assert_rc(bbo_session_access_token(session, &access), BBO_ESCOPE);
    assert_null(access);
    assert_message_has("Pull requests: Write");
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);

    /* served while valid, without a request */
    assert_rc(bbo_session_set_refresh_margin(session, 0), BBO_OK);
    assert_rc(bbo_session_access_token(session, &access), BBO_OK);
    assert_non_null(access);
    bbo_free(access);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);

    /* the kept token is the live grant */
    assert_rc(bbo_session_token(session, &kept), BBO_OK);
    assert_grant_alive(plain_client, kept);
    bbo_token_free(kept);
    bbo_session_free(session);
    bbo_client_free(strict_client);
    bbo_client_free(plain_client);
    bbo_consumer_free(strict);
    bbo_consumer_free(plain);
}

/* Begun and sealed by one worker, unsealed and completed by another (its
 * own consumer and client objects), exchanged at the mock. */
static void test_sealed_login(void **state)
{
    bbo_consumer *c1, *c2;
    bbo_client *client;
    bbo_authorization *auth = NULL, *unsealed = NULL;
    bbo_token *tok = NULL;
    char *sealed = NULL, *location, *code = NULL;
    int64_t now = (int64_t)time(NULL);

    (void)state;
    mock_reset();
    c1 = consumer_with("account pullrequest:write", "account pullrequest:write");
    assert_rc(bbo_authorization_begin(&auth, c1), BBO_OK);
    assert_rc(bbo_authorization_seal(auth, APP_KEY, now, &sealed), BBO_OK);
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    bbo_authorization_free(auth);
    bbo_consumer_free(c1);

    c2 = consumer_with("account pullrequest:write", "account pullrequest:write");
    client = mock_client(c2);
    assert_rc(bbo_authorization_unseal(&unsealed, c2, APP_KEY, sealed, now + 3), BBO_OK);
    assert_rc(bbo_authorization_complete(unsealed, location, &code), BBO_OK);
    assert_rc(bbo_client_exchange_code(client, unsealed, code, &tok), BBO_OK);
    assert_true(bbo_scopes_has(bbo_token_scopes(tok), "pullrequest:write"));
    bbo_token_free(tok);
    bbo_free(code);
    bbo_authorization_free(unsealed);
    free(location);
    bbo_free(sealed);
    bbo_client_free(client);
    bbo_consumer_free(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange_lacks_scope),
        cmocka_unit_test(test_invalid_scope_redirect),
        cmocka_unit_test(test_invalid_scope_token_endpoint),
        cmocka_unit_test(test_refresh_lacks_scope_keeps_grant),
        cmocka_unit_test(test_session_refresh_lacks_scope_keeps_grant),
        cmocka_unit_test(test_sealed_login),
    };

    if (!getenv("BBMOCK_CONTROL")) {
        fprintf(stderr, "run under tests/mock/with_mock.py: BBMOCK_* is not set\n");
        return 1;
    }
    return cmocka_run_group_tests_name("scopes-curl", tests, NULL, NULL);
}
