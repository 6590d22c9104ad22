/*
 * The session: access tokens when not due, arguments, token callbacks,
 * logout and new logins.
 * SPDX-License-Identifier: MIT
 */
#include "session_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- access tokens ------------------------------------------------------ */

static void test_not_due(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 3600);
    assert_access(fx, "at-1");
    assert_access(fx, "at-1");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_due_refreshes(void **state)
{
    fixture *fx = *state;
    bbo_token *tok = NULL;

    start(fx, T0 + 30); /* within the default 60 s margin */
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");

    assert_rc(bbo_session_token(fx->session, &tok), BBO_OK);
    assert_string_equal(bbo_token_refresh(tok), "rt-2");
    assert_int_equal(bbo_token_expires_at(tok), T0 + 7200);
    assert_int_equal(bbo_token_obtained_at(tok), T0);
    bbo_token_free(tok);

    /* the new one is good for two hours: no more requests */
    assert_access(fx, "at-2");
    set_now(fx, T0 + 7200 - 61);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* ... until it is within the margin */
    set_now(fx, T0 + 7200 - 60);
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-2");
}

static void test_refresh_keeps_refresh_token(void **state)
{
    fixture *fx = *state;

    start(fx, T0 - 5); /* already expired */
    bbo_fake_push_json(fx->fake, 200,
                       "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":3600}");
    assert_access(fx, "at-2");
    assert_session_token(fx, "at-2", "rt-1");
}

static void test_margin(void **state)
{
    fixture *fx = *state;

    start(fx, T0 + 100);
    assert_access(fx, "at-1");

    assert_rc(bbo_session_set_refresh_margin(NULL, 10), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, -1), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 86401), BBO_EINVAL);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 86400), BBO_OK);
    assert_rc(bbo_session_set_refresh_margin(fx->session, 99), BBO_OK);
    assert_access(fx, "at-1");
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);

    assert_rc(bbo_session_set_refresh_margin(fx->session, 100), BBO_OK);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* margin 0: good until the very second it expires */
    assert_rc(bbo_session_set_refresh_margin(fx->session, 0), BBO_OK);
    set_now(fx, T0 + 7199);
    assert_access(fx, "at-2");
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
    set_now(fx, T0 + 7200);
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_access(fx, "at-3");
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
}

static void test_expired_without_refresh_token(void **state)
{
    fixture *fx = *state;
    char *access = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", NULL, T0 + 10, T0)),
              BBO_OK);
    /* a 10 s token is due half-way through its life (not at once, as it
     * was when the 60 s margin applied to every token) */
    assert_access(fx, "at-1");
    set_now(fx, T0 + 5);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EEXPIRED);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    /* the token is still there (a caller may want its scopes) */
    assert_session_token(fx, "at-1", NULL);
}

static void test_no_token(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    char *access = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, NULL), BBO_OK);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_EEXPIRED);
    assert_null(access);
    assert_rc(bbo_session_token(fx->session, &tok), BBO_EEXPIRED);
    assert_null(tok);
    assert_rc(bbo_session_refresh(fx->session), BBO_EEXPIRED);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_arguments(void **state)
{
    fixture *fx = *state;
    bbo_session *s = NULL;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    char *text = NULL;

    /* the initial token is taken even on error: the leak check sees it */
    assert_rc(bbo_session_new(NULL, fx->client, make_token("a", "r", T0, T0)), BBO_EINVAL);
    assert_rc(bbo_session_new(&s, NULL, make_token("a", "r", T0, T0)), BBO_EINVAL);
    assert_null(s);
    assert_rc(bbo_session_set_store(NULL, ms_store(&fx->ms, 0)), BBO_EINVAL);
    assert_int_equal(fx->ms.destroyed, 1);
    assert_rc(bbo_session_set_token(NULL, make_token("a", "r", T0, T0)), BBO_EINVAL);

    start(fx, T0 + 3600);
    assert_rc(bbo_session_access_token(NULL, &text), BBO_EINVAL);
    assert_rc(bbo_session_access_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_set_token(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_set_store(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_refresh(NULL), BBO_EINVAL);
    assert_rc(bbo_session_logout(NULL), BBO_EINVAL);
    assert_rc(bbo_session_on_token(fx->session, NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_session_user(fx->session, NULL), BBO_EINVAL);
    assert_rc(bbo_session_user(NULL, &text), BBO_EINVAL);
    assert_rc(bbo_session_request(NULL, "GET", "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, NULL, "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", NULL, NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, NULL), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "POST", "/user", NULL, 3, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "/us er", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "get me", "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
    assert_null(tok);
    assert_null(text);

    bbo_session_free(NULL);
    bbo_response_free(NULL);
    assert_int_equal(bbo_response_status(NULL), 0);
    assert_null(bbo_response_header(NULL, "X"));
}

/* bbo_error_last describes the last call that failed: successful calls
 * leave it alone, also when they recovered from a failure on the way. */
static void test_success_keeps_last_error(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    char *access = NULL;

    start(fx, T0 + 30);
    assert_rc(bbo_session_set_store(fx->session, ms_store(&fx->ms, 1)), BBO_OK);
    assert_rc(bbo_session_access_token(fx->session, NULL), BBO_EINVAL);
    fx->ms.fail_saves = 1;
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_rc(bbo_session_access_token(fx->session, &access), BBO_OK);
    bbo_free(access);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_message_has("NULL argument");
    assert_int_equal(bbo_session_save_error(fx->session), BBO_EIO);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_session_save_error(fx->session), BBO_OK); /* retried, saved */
    assert_rc(bbo_session_set_token(fx->session, make_token("at-9", "rt-9", T0 + 9000, T0 + 9)),
              BBO_OK);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_session_save_error(NULL), BBO_EINVAL);
}

/* ---- callbacks ---------------------------------------------------------- */

static void test_callbacks(void **state)
{
    fixture *fx = *state;
    counter a, b;
    int i;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.fx = fx;
    start(fx, T0 + 3600);
    assert_rc(bbo_session_on_token(fx->session, on_token, &a), BBO_OK);
    assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_OK);

    /* no refresh, no callback */
    assert_access(fx, "at-1");
    assert_int_equal(a.calls, 0);

    set_now(fx, T0 + 3600 - 59);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    assert_access(fx, "at-2");
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_string_equal(a.access, "at-2");
    assert_int_equal(a.save_error, 0);
    assert_int_equal(a.requests, 1); /* after the refresh */
    assert_rc(a.session_rc, BBO_OK); /* no deadlock, and the session has it */
    assert_string_equal(a.session_access, "at-2");

    assert_access(fx, "at-2");
    assert_int_equal(a.calls, 1);

    /* a forced refresh: once more */
    bbo_fake_push_json(fx->fake, 200, TOKEN_JSON("at-3", "rt-3"));
    assert_rc(bbo_session_refresh(fx->session), BBO_OK);
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);
    assert_string_equal(a.access, "at-3");
    assert_string_equal(a.session_access, "at-3");

    /* a failed refresh: none */
    bbo_fake_push(fx->fake, 503, "");
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    assert_rc(bbo_session_refresh(fx->session), BBO_EHTTP);
    assert_int_equal(a.calls, 2);

    /* at most 8 */
    for (i = 2; i < 8; i++)
        assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_OK);
    assert_rc(bbo_session_on_token(fx->session, on_token, &b), BBO_EINVAL);
}

/* Whatever allocation fails in a refreshing call, the callbacks hear of
 * the new token exactly once by the end of the next call. */
static void test_callbacks_after_oom(void **state)
{
    fixture *fx = *state;
    char *access = NULL;
    counter c;
    long n;
    int rc;

    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_set_repeat_last(fx->fake, 1);
    for (n = 0;; n++) {
        memset(&c, 0, sizeof(c));
        start(fx, T0 + 30);
        assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
        bbo_test_alloc_fail_after(n);
        rc = bbo_session_access_token(fx->session, &access);
        bbo_test_alloc_fail_after(-1);
        if (rc == BBO_OK) {
            assert_string_equal(access, "at-2");
            bbo_free(access);
            assert_int_equal(c.calls, 1);
            break;
        }
        assert_rc(rc, BBO_ENOMEM);
        assert_null(access);
        assert_in_range(c.calls, 0, 1); /* 1: only the copy for the caller failed */
        assert_access(fx, "at-2");
        assert_int_equal(c.calls, 1);
        assert_string_equal(c.access, "at-2");
        assert_access(fx, "at-2");
        assert_int_equal(c.calls, 1);
        bbo_session_free(fx->session);
        fx->session = NULL;
    }
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_not_due),
        T(test_due_refreshes),
        T(test_refresh_keeps_refresh_token),
        T(test_margin),
        T(test_expired_without_refresh_token),
        T(test_no_token),
        T(test_arguments),
        T(test_success_keeps_last_error),
        T(test_callbacks),
        T(test_callbacks_after_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
