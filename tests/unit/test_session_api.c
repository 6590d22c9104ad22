/*
 * The session's API calls: the same-origin rule, 401 retry, 403 scopes,
 * 429, pagination and the user check.
 * SPDX-License-Identifier: MIT
 */
#include "session_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- API calls ---------------------------------------------------------- */

static void test_request_paths(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_fake_request *r;
    const char *body;
    size_t len;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200, "{\"username\":\"bbo-tester\"}");
    bbo_fake_push_header(fx->fake, "X-Request-Id", "abc");
    bbo_fake_set_repeat_last(fx->fake, 1);

    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    r = bbo_fake_last_request(fx->fake);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->url, API "/user");
    assert_string_equal(bbo_fake_request_header(r, "Authorization"), "Bearer at-1");
    assert_int_equal(bbo_fake_request_header_occurrences(r, "Authorization"), 1);
    assert_string_equal(bbo_fake_request_header(r, "Accept"), "application/json");
    assert_null(bbo_fake_request_header(r, "Content-Type"));
    assert_int_equal(r->body_len, 0);
    assert_int_equal(bbo_response_status(resp), 200);
    body = bbo_response_body(resp, &len);
    assert_int_equal(len, strlen("{\"username\":\"bbo-tester\"}"));
    assert_string_equal(body, "{\"username\":\"bbo-tester\"}");
    assert_string_equal(bbo_response_header(resp, "x-request-id"), "abc");
    assert_string_equal(bbo_response_header(resp, "X-REQUEST-ID"), "abc");
    assert_string_equal(bbo_response_header(resp, "content-type"), "application/json");
    assert_null(bbo_response_header(resp, "X-Absent"));
    bbo_response_free(resp);

    assert_rc(bbo_session_request(fx->session, "GET", "user", NULL, 0, &resp), BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/user");
    bbo_response_free(resp);

    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws?page=2&pagelen=10", NULL, 0,
                                  &resp),
              BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url,
                        API "/repositories/ws?page=2&pagelen=10");
    bbo_response_free(resp);

    /* absolute URLs on the API's origin */
    assert_rc(
        bbo_session_request(fx->session, "GET", API "/repositories/ws?page=3", NULL, 0, &resp),
        BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/repositories/ws?page=3");
    bbo_response_free(resp);
    assert_rc(bbo_session_request(fx->session, "GET", "https://api.bitbucket.org:443/2.0/user",
                                  NULL, 0, &resp),
              BBO_OK);
    bbo_response_free(resp);
    assert_rc(bbo_session_request(fx->session, "GET", "HTTPS://API.Bitbucket.org/2.0/user", NULL, 0,
                                  &resp),
              BBO_OK);
    bbo_response_free(resp);
    /* a name of three dots is a name, not a step up */
    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws/.../src", NULL, 0, &resp),
              BBO_OK);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/repositories/ws/.../src");
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 7);
}

static void test_request_foreign_origin(void **state)
{
    static const char *const foreign[] = {
        "https://evil.example/2.0/user",
        "https://api.bitbucket.org:8443/2.0/user",
        "http://api.bitbucket.org/2.0/user",
        "https://api.bitbucket.org.evil.example/2.0/user",
        "https://api.bitbucket.org@evil.example/2.0/user",
        "https://bitbucket.org/2.0/user",
    };
    fixture *fx = *state;
    bbo_response *resp = NULL;
    size_t i;

    start(fx, T0 + 30); /* due: not even a refresh may happen */
    for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        assert_rc(bbo_session_request(fx->session, "GET", foreign[i], NULL, 0, &resp), BBO_EINVAL);
        assert_null(resp);
        assert_null(strstr(bbo_error_message(bbo_error_last()), "at-1"));
    }
    assert_int_equal(bbo_fake_request_count(fx->fake), 0);
}

static void test_request_body(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_fake_request *r;
    static const char body[] = "{\"title\":\"x\"}";

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 201, "{\"id\":1}");
    assert_rc(bbo_session_request(fx->session, "POST", "/repositories/ws/r/pullrequests", body,
                                  strlen(body), &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 201);
    r = bbo_fake_last_request(fx->fake);
    assert_string_equal(r->method, "POST");
    assert_string_equal(bbo_fake_request_header(r, "Content-Type"), "application/json");
    assert_string_equal(bbo_fake_request_header(r, "Authorization"), "Bearer at-1");
    assert_body(r, body);
    bbo_response_free(resp);
}

static void test_request_401_refresh_retry(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    counter c;

    memset(&c, 0, sizeof(c));
    start(fx, T0 + 3600); /* not due by the clock, but revoked on the server */
    assert_rc(bbo_session_on_token(fx->session, on_token, &c), BBO_OK);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 200, "{\"username\":\"bbo-tester\"}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 200);
    assert_string_equal(bbo_response_body(resp, NULL), "{\"username\":\"bbo-tester\"}");
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 0), "Authorization"),
                        "Bearer at-1");
    assert_refresh_request(bbo_fake_request_at(fx->fake, 1), "rt-1");
    assert_string_equal(bbo_fake_request_at(fx->fake, 2)->url, API "/user");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 2), "Authorization"),
                        "Bearer at-2");
    assert_int_equal(c.calls, 1);
    assert_int_equal(bbo_fake_remaining(fx->fake), 0);
}

static void test_request_401_twice(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 401);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_int_equal(bbo_fake_unexpected(fx->fake), 0);
    /* the refreshed token is kept */
    assert_session_token(fx, "at-2", "rt-2");
}

static void test_request_401_without_refresh_token(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    assert_rc(bbo_session_new(&fx->session, fx->client, make_token("at-1", NULL, T0 + 3600, T0)),
              BBO_OK);
    bbo_fake_push_json(fx->fake, 401, EXPIRED_401);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_EEXPIRED);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_request_403_scope(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 403,
                       "{\"type\":\"error\",\"error\":{\"message\":\"Your credentials lack one "
                       "or more required privilege scopes.\"}}");
    bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", "account");
    bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", "repository:write");
    assert_rc(bbo_session_request(fx->session, "POST", "/repositories/ws/r", "{}", 2, &resp),
              BBO_ESCOPE);
    assert_null(resp);
    assert_message_has("repository:write");
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 403);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_request_403_scope_granted(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    /* implied: repository:write gives repository; a 403 for another reason */
    bbo_fake_push_json(fx->fake, 403, "{\"type\":\"error\",\"error\":{\"message\":\"no\"}}");
    bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", "account, repository:write");
    bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", "repository");
    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws/r", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 403);
    bbo_response_free(resp);

    /* a 403 without the scope headers is an answer too */
    bbo_fake_push_json(fx->fake, 403, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/x", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 403);
    bbo_response_free(resp);
}

/* Scope headers naming more than 256 scopes are malformed: no explanation
 * (the comparison would be quadratic), the 403 is returned as it is. */
static void test_request_403_scope_cap(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    static char many[300 * 8];
    size_t n, len;

    start(fx, T0 + 3600);
    for (n = 256; n <= 257; n++) {
        size_t i;

        len = 0;
        for (i = 0; i < n; i++)
            len += (size_t)snprintf(many + len, sizeof(many) - len, "%ss%zu", i ? " " : "", i);
        bbo_fake_push_json(fx->fake, 403, "{}");
        bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", "account");
        bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", many);
        if (n == 256) {
            assert_rc(bbo_session_request(fx->session, "GET", "/x", NULL, 0, &resp), BBO_ESCOPE);
            assert_null(resp);
        } else {
            assert_rc(bbo_session_request(fx->session, "GET", "/x", NULL, 0, &resp), BBO_OK);
            assert_int_equal(bbo_response_status(resp), 403);
            bbo_response_free(resp);
            resp = NULL;
        }
    }
    /* the same for the granted list */
    bbo_fake_push_json(fx->fake, 403, "{}");
    bbo_fake_push_header(fx->fake, "X-OAuth-Scopes", many);
    bbo_fake_push_header(fx->fake, "X-Accepted-OAuth-Scopes", "pipeline");
    assert_rc(bbo_session_request(fx->session, "GET", "/x", NULL, 0, &resp), BBO_OK);
    assert_int_equal(bbo_response_status(resp), 403);
    bbo_response_free(resp);
}

static void test_request_429(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;
    const bbo_error *e;

    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push(fx->fake, 429, "Rate limit for this resource has been exceeded");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    bbo_fake_push_header(fx->fake, "Retry-After", "7");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ERATELIMIT);
    assert_null(resp);
    e = bbo_error_last();
    assert_int_equal(bbo_error_retry_after(e), 7);
    assert_int_equal(bbo_error_http_status(e), 429);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);

    /* without Retry-After: unknown */
    bbo_fake_push(fx->fake, 429, "Rate limit for this resource has been exceeded");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ERATELIMIT);
    assert_int_equal(bbo_error_retry_after(bbo_error_last()), -1);
}

static void test_request_other_statuses(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push_json(fx->fake, 404,
                       "{\"type\":\"error\",\"error\":{\"message\":\"Repository not found\"}}");
    assert_rc(bbo_session_request(fx->session, "GET", "/repositories/ws/none", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 404);
    bbo_response_free(resp);
    bbo_fake_push(fx->fake, 500, "oops");
    assert_rc(bbo_session_request(fx->session, "DELETE", "/repositories/ws/r", NULL, 0, &resp),
              BBO_OK);
    assert_int_equal(bbo_response_status(resp), 500);
    assert_string_equal(bbo_fake_last_request(fx->fake)->method, "DELETE");
    bbo_response_free(resp);
    resp = NULL;
    /* the transport's failure */
    bbo_fake_push_error(fx->fake, BBO_ETIMEOUT, 0);
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_ETIMEOUT);
    assert_null(resp);
}

/* The request refreshes first when the token is due. */
static void test_request_refreshes_when_due(void **state)
{
    fixture *fx = *state;
    bbo_response *resp = NULL;

    start(fx, T0 + 30);
    bbo_fake_push_json(fx->fake, 200, NEW_TOKEN);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(bbo_session_request(fx->session, "GET", "/user", NULL, 0, &resp), BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_refresh_request(bbo_fake_request_at(fx->fake, 0), "rt-1");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 1), "Authorization"),
                        "Bearer at-2");
}

/* ---- pagination --------------------------------------------------------- */

typedef struct pages {
    int calls;
    int stop_at; /* return 1 on this call (1-based), 0: never */
    char first_body[64];
} pages;

static int on_page(const bbo_response *page, void *payload)
{
    pages *p = payload;

    p->calls++;
    if (p->calls == 1)
        snprintf(p->first_body, sizeof(p->first_body), "%s", bbo_response_body(page, NULL));
    return p->stop_at && p->calls == p->stop_at;
}

static void push_pages(fixture *fx)
{
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[1,2],\"next\":\"" API "/repositories/ws?page=2\"}");
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[3,4],\"next\":\"" API "/repositories/ws?page=3\","
                       "\"previous\":\"" API "/repositories/ws?page=1\"}");
    bbo_fake_push_json(fx->fake, 200, "{\"values\":[5]}");
}

static void test_pages(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 100, on_page, &p), BBO_OK);
    assert_int_equal(p.calls, 3);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
    assert_string_equal(bbo_fake_request_at(fx->fake, 0)->url, API "/repositories/ws");
    assert_string_equal(bbo_fake_request_at(fx->fake, 1)->url, API "/repositories/ws?page=2");
    assert_string_equal(bbo_fake_request_at(fx->fake, 2)->url, API "/repositories/ws?page=3");
    assert_string_equal(bbo_fake_request_header(bbo_fake_request_at(fx->fake, 2), "Authorization"),
                        "Bearer at-1");
    assert_non_null(strstr(p.first_body, "[1,2]"));
}

static void test_pages_max(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 2, on_page, &p), BBO_OK);
    assert_int_equal(p.calls, 2);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 0, on_page, &p),
              BBO_EINVAL);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 1, NULL, &p), BBO_EINVAL);
    assert_rc(bbo_session_foreach_page(fx->session, NULL, 1, on_page, &p), BBO_EINVAL);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
}

static void test_pages_foreign_next(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    bbo_fake_push_json(
        fx->fake, 200,
        "{\"values\":[1],\"next\":\"https://evil.example/2.0/repositories/ws?page=2\"}");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EINVAL);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_pages_callback_stops(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    p.stop_at = 1;
    start(fx, T0 + 3600);
    push_pages(fx);
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EUSER);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 1);
}

static void test_pages_http_error(void **state)
{
    fixture *fx = *state;
    pages p;

    memset(&p, 0, sizeof(p));
    start(fx, T0 + 3600);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push_json(fx->fake, 200,
                       "{\"values\":[1],\"next\":\"" API "/repositories/ws?page=2\"}");
    bbo_fake_push(fx->fake, 500, "Internal Server Error");
    bbo_fake_push_header(fx->fake, "Content-Type", "text/plain");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 500);
    assert_int_equal(p.calls, 1);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);

    /* the first page already fails; a page that is not JSON */
    bbo_fake_reset(fx->fake);
    memset(&p, 0, sizeof(p));
    bbo_fake_push_json(fx->fake, 404, "{\"type\":\"error\",\"error\":{\"message\":\"nope\"}}");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/none", 10, on_page, &p),
              BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 404);
    assert_int_equal(p.calls, 0);
    bbo_fake_push(fx->fake, 200, "<html>");
    assert_rc(bbo_session_foreach_page(fx->session, "/repositories/ws", 10, on_page, &p),
              BBO_EPROTOCOL);
    assert_int_equal(p.calls, 0);
}

/* ---- the user check ----------------------------------------------------- */

static void test_user_cloud(void **state)
{
    fixture *fx = *state;
    char *name = NULL;

    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200,
                       "{\"type\":\"user\",\"username\":\"bbo-tester\",\"nickname\":\"nick\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "bbo-tester");
    bbo_free(name);
    assert_string_equal(bbo_fake_last_request(fx->fake)->url, API "/user");
    assert_string_equal(bbo_fake_last_request(fx->fake)->method, "GET");

    /* no username (Atlassian accounts): the nickname */
    bbo_fake_push_json(fx->fake, 200, "{\"type\":\"user\",\"nickname\":\"nick\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "nick");
    bbo_free(name);
    name = NULL;

    bbo_fake_push_json(fx->fake, 200, "{\"type\":\"user\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EPROTOCOL);
    assert_null(name);
    assert_rc(bbo_client_set_retry(fx->client, 1, 0), BBO_OK);
    bbo_fake_push(fx->fake, 502, "Bad Gateway");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EHTTP);
    assert_null(name);
}

static void test_user_data_center(void **state)
{
    fixture *fx = *state;
    bbo_consumer *consumer = NULL;
    bbo_response *resp = NULL;
    char *name = NULL;

    assert_rc(bbo_consumer_new(&consumer, "key123", "secret456"), BBO_OK);
    assert_rc(bbo_consumer_use_data_center(consumer, "https://git.example.com/bitbucket"), BBO_OK);
    fx_client(fx, consumer);
    assert_int_equal(bbo_fake_destroy_count(fx->fake), 1); /* the first client's */
    start(fx, T0 + 3600);
    bbo_fake_push_json(fx->fake, 200, "{\"version\":\"8.19.0\"}");
    bbo_fake_push_header(fx->fake, "X-AUSERNAME", "bbo-tester");
    assert_rc(bbo_session_user(fx->session, &name), BBO_OK);
    assert_string_equal(name, "bbo-tester");
    bbo_free(name);
    name = NULL;
    assert_string_equal(bbo_fake_last_request(fx->fake)->url,
                        "https://git.example.com/bitbucket/rest/api/latest/"
                        "application-properties");
    assert_string_equal(bbo_fake_request_header(bbo_fake_last_request(fx->fake), "Authorization"),
                        "Bearer at-1");

    /* anonymous: no header */
    bbo_fake_push_json(fx->fake, 200, "{\"version\":\"8.19.0\"}");
    assert_rc(bbo_session_user(fx->session, &name), BBO_EPROTOCOL);
    assert_null(name);

    /* the same-origin rule uses the Data Center host, and its API base
     * path: other applications on that server never get the token */
    assert_rc(bbo_session_request(fx->session, "GET", API "/user", NULL, 0, &resp), BBO_EINVAL);
    assert_rc(
        bbo_session_request(fx->session, "GET", "https://git.example.com/other", NULL, 0, &resp),
        BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "https://git.example.com/bitbucket/admin",
                                  NULL, 0, &resp),
              BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET",
                                  "https://git.example.com/bitbucket/rest/api/latestx", NULL, 0,
                                  &resp),
              BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET",
                                  "https://git.example.com/bitbucket/rest/api/latest/../../admin",
                                  NULL, 0, &resp),
              BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "/%2e%2E/%2e%2e/admin", NULL, 0, &resp),
              BBO_EINVAL);
    assert_rc(bbo_session_request(fx->session, "GET", "../../admin", NULL, 0, &resp), BBO_EINVAL);
    assert_null(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 2);
    bbo_fake_push_json(fx->fake, 200, "{}");
    assert_rc(bbo_session_request(fx->session, "GET",
                                  "https://git.example.com/bitbucket/rest/api/latest/projects?x=..",
                                  NULL, 0, &resp),
              BBO_OK);
    bbo_response_free(resp);
    assert_int_equal(bbo_fake_request_count(fx->fake), 3);
}

/* ---- out of memory ------------------------------------------------------ */

enum { OOM_200, OOM_401_RETRY, OOM_403_SCOPE, OOM_PAGES };

static int oom_page(const bbo_response *page, void *payload)
{
    (void)page;
    (void)payload;
    return 0;
}

/* A request (or a listing) in each scenario; the fake's script is
 * replayed from the start on every run. */
static int oom_request(void *ctx)
{
    oom_ctx *o = ctx;
    bbo_fake *fake = o->fx->fake;
    bbo_session *s = NULL;
    bbo_response *resp = NULL;
    bbo_token *tok = NULL;
    int rc;

    bbo_fake_reset(fake);
    if (o->scenario == OOM_401_RETRY) {
        bbo_fake_push_json(fake, 401, EXPIRED_401);
        bbo_fake_push_json(fake, 200, NEW_TOKEN);
    }
    if (o->scenario == OOM_403_SCOPE) {
        bbo_fake_push_json(fake, 403, "{}");
        bbo_fake_push_header(fake, "X-OAuth-Scopes", "account");
        bbo_fake_push_header(fake, "X-Accepted-OAuth-Scopes", "repository:write");
    } else if (o->scenario == OOM_PAGES) {
        bbo_fake_push_json(fake, 200, "{\"values\":[1],\"next\":\"" API "/r?page=2\"}");
        bbo_fake_push_json(fake, 200, "{\"values\":[2]}");
    } else {
        bbo_fake_push_json(fake, 200, "{\"username\":\"bbo-tester\"}");
    }
    if ((rc = bbo_token_new(&tok, "at-1", "rt-1", NULL, T0 + 3600, NULL)) < 0)
        return rc;
    if ((rc = bbo_session_new(&s, o->fx->client, tok)) < 0)
        return rc;
    if (o->scenario == OOM_PAGES)
        rc = bbo_session_foreach_page(s, "/r", 10, oom_page, NULL);
    else
        rc = bbo_session_request(s, "GET", "/user", NULL, 0, &resp);
    if (o->scenario == OOM_403_SCOPE)
        rc = rc == BBO_ESCOPE ? BBO_OK : rc == BBO_OK ? BBO_EINVAL : rc;
    else if (rc == BBO_OK && o->scenario != OOM_PAGES && bbo_response_status(resp) != 200)
        rc = BBO_EINVAL;
    bbo_response_free(resp);
    bbo_session_free(s);
    return rc;
}

static void test_oom_request(void **state)
{
    fixture *fx = *state;
    oom_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.fx = fx;
    for (ctx.scenario = OOM_200; ctx.scenario <= OOM_PAGES; ctx.scenario++)
        bbo_test_oom_torture(oom_request, NULL, &ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_request_paths),
        T(test_request_foreign_origin),
        T(test_request_body),
        T(test_request_401_refresh_retry),
        T(test_request_401_twice),
        T(test_request_401_without_refresh_token),
        T(test_request_403_scope),
        T(test_request_403_scope_granted),
        T(test_request_403_scope_cap),
        T(test_request_429),
        T(test_request_other_statuses),
        T(test_request_refreshes_when_due),
        T(test_pages),
        T(test_pages_max),
        T(test_pages_foreign_next),
        T(test_pages_callback_stops),
        T(test_pages_http_error),
        T(test_user_cloud),
        T(test_user_data_center),
        T(test_oom_request),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("session_api", tests, NULL, NULL);
}
