/*
 * The client with the real libcurl transport against the loopback mock
 * (tests/mock/bbmock.py): every grant, connection reuse, every fault the
 * mock can inject, TLS failures, a dead server, API calls and threads.
 * Run it with tests/mock/with_mock.py (meson does).
 *
 * No test prints a token, code or secret: tokens are compared with
 * strcmp/strlen, never with assert_string_equal.
 * SPDX-License-Identifier: MIT
 */
#include "mockctl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_PATH "/site/oauth2/access_token"
#define FAULT(json) "{\"path\": \"" TOKEN_PATH "\", " json "}"
#define MAX_WAITS 16

/* The back-off waits the client asked for, instead of sleeping. */
typedef struct recorder {
    int64_t waits[MAX_WAITS];
    int count;
} recorder;

typedef struct fixture {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_token *token; /* from login(), freed by the teardown */
    recorder rec;
} fixture;

static int64_t rec_now(void *payload)
{
    (void)payload;
    return (int64_t)time(NULL);
}

static void rec_sleep(int64_t seconds, void *payload)
{
    recorder *rec = payload;

    if (rec->count < MAX_WAITS)
        rec->waits[rec->count] = seconds;
    rec->count++;
}

static void assert_waits(const recorder *rec, int count, int64_t first, int64_t second)
{
    assert_int_equal(rec->count, count);
    if (count > 0)
        assert_int_equal(rec->waits[0], first);
    if (count > 1)
        assert_int_equal(rec->waits[1], second);
}

static double monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A new client for f->consumer (a fresh connection cache), with the recorder. */
static void new_client(fixture *f)
{
    bbo_client_free(f->client);
    f->client = mock_client(f->consumer);
    assert_rc(bbo_client_set_clock(f->client, rec_now, rec_sleep, &f->rec), BBO_OK);
}

static void use_consumer(fixture *f, bbo_consumer *consumer)
{
    bbo_consumer_free(f->consumer);
    f->consumer = consumer;
    new_client(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    mock_reset();
    f->consumer = mock_consumer();
    new_client(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    bbo_token_free(f->token);
    bbo_client_free(f->client);
    bbo_consumer_free(f->consumer);
    free(f);
    return 0;
}

static void assert_stat_string(const char *path, const char *expected)
{
    char *value = mock_stat_string(path);

    if (expected) {
        assert_non_null(value);
        assert_string_equal(value, expected);
    } else {
        assert_null(value);
    }
    free(value);
}

/* The authorization-code flow through the mock's "browser". */
static bbo_token *login_with(fixture *f, bbo_authorization *auth, int64_t *before, int64_t *after)
{
    bbo_token *token = NULL;
    char *location, *code = NULL;

    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_rc(bbo_authorization_complete(auth, location, &code), BBO_OK);
    free(location);
    *before = (int64_t)time(NULL);
    assert_rc(bbo_client_exchange_code(f->client, auth, code, &token), BBO_OK);
    *after = (int64_t)time(NULL);
    bbo_free(code);
    return token;
}

static bbo_token *login(fixture *f)
{
    bbo_authorization *auth = NULL;
    bbo_token *token;
    int64_t before, after;

    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    token = login_with(f, auth, &before, &after);
    bbo_authorization_free(auth);
    return token;
}

static void assert_default_scopes(const bbo_token *token)
{
    const bbo_scopes *scopes = bbo_token_scopes(token);

    assert_int_equal(bbo_scopes_count(scopes), 3);
    assert_int_equal(bbo_scopes_has(scopes, "account"), 1);
    assert_int_equal(bbo_scopes_has(scopes, "pullrequest:write"), 1);
    assert_int_equal(bbo_scopes_has(scopes, "repository:write"), 1);
}

/* What every code exchange must look like, on both sides. */
static void check_code_exchange(const bbo_token *token, int64_t before, int64_t after,
                                const char *form_keys)
{
    assert_int_equal(strlen(bbo_token_access(token)), 2600);
    assert_non_null(bbo_token_refresh(token));
    assert_string_equal(bbo_token_type(token), "bearer");
    assert_default_scopes(token);
    assert_in_range(bbo_token_expires_at(token), before + 7200 - 2, after + 7200 + 2);

    assert_int_equal(mock_stat_long("grants.authorization_code"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    assert_stat_string("last_token_request.path", TOKEN_PATH);
    assert_stat_string("last_token_request.query", "");
    assert_stat_string("last_token_request.client_auth", "basic");
    assert_stat_string("last_token_request.headers.authorization", "Basic [redacted]");
    assert_stat_string("last_token_request.headers.content-type",
                       "application/x-www-form-urlencoded");
    assert_stat_string("last_token_request.headers.accept", "application/json");
    assert_stat_string("last_token_request.headers.user-agent", "bboauth/" BBO_VERSION);
    assert_stat_string("last_token_request.grant_type", "authorization_code");
    assert_stat_string("last_token_request.form_keys", form_keys);
}

/* 1. authorization code, redirect_uri = the consumer's callback URL */
static void test_code_flow(void **state)
{
    fixture *f = *state;
    bbo_authorization *auth = NULL;
    int64_t before, after;

    mock_reset();
    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    assert_non_null(strstr(bbo_authorization_url(auth),
                           "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback"));
    f->token = login_with(f, auth, &before, &after);
    check_code_exchange(f->token, before, after, "code,code_verifier,grant_type,redirect_uri");
    bbo_authorization_free(auth);
}

/* 1b. no callback URL on our side: no redirect_uri anywhere */
static void test_code_flow_no_callback(void **state)
{
    fixture *f = *state;
    bbo_authorization *auth = NULL;
    int64_t before, after;
    char *location;

    mock_reset();
    assert_rc(bbo_consumer_set_callback_url(f->consumer, NULL), BBO_OK);
    new_client(f);
    assert_rc(bbo_authorization_begin(&auth, f->consumer), BBO_OK);
    assert_null(strstr(bbo_authorization_url(auth), "redirect_uri"));
    /* the mock redirects to its registered callback */
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_int_equal(strncmp(location, "http://127.0.0.1/callback?", 26), 0);
    free(location);
    f->token = login_with(f, auth, &before, &after);
    check_code_exchange(f->token, before, after, "code,code_verifier,grant_type");
    bbo_authorization_free(auth);
}

/* 1c. a loopback redirect_uri with a port (RFC 8252) */
static void test_code_flow_loopback_port(void **state)
{
    static const char redirect[] = "http://127.0.0.1:53682/callback";
    fixture *f = *state;
    bbo_authorization *auth = NULL;
    int64_t before, after;
    char *location;

    mock_reset();
    assert_rc(bbo_authorization_begin_ex(&auth, f->consumer, redirect, 0), BBO_OK);
    assert_string_equal(bbo_authorization_redirect_uri(auth), redirect);
    assert_non_null(strstr(bbo_authorization_url(auth),
                           "redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback"));
    location = mock_authorize(bbo_authorization_url(auth));
    assert_non_null(location);
    assert_int_equal(strncmp(location, "http://127.0.0.1:53682/callback?", 32), 0);
    free(location);
    f->token = login_with(f, auth, &before, &after);
    check_code_exchange(f->token, before, after, "code,code_verifier,grant_type,redirect_uri");
    bbo_authorization_free(auth);
}

/* 2. the pre-2026-05-04 answer names the scopes "scopes" */
static void test_legacy_scopes(void **state)
{
    fixture *f = *state;
    bbo_token *token = NULL;

    mock_reset();
    mock_config("{\"legacy_scopes\": true}");
    f->token = login(f);
    assert_default_scopes(f->token);
    /* legacy client credentials came with a refresh token */
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_OK);
    assert_default_scopes(token);
    assert_non_null(bbo_token_refresh(token));
    bbo_token_free(token);
}

/* 3. refresh tokens rotate; the old one is dead (and its replay revokes) */
static void test_refresh_rotates(void **state)
{
    fixture *f = *state;
    bbo_token *fresh = NULL, *again = NULL;
    const bbo_error *err;

    mock_reset();
    f->token = login(f);
    assert_rc(bbo_client_refresh(f->client, f->token, &fresh), BBO_OK);
    assert_non_null(bbo_token_refresh(fresh));
    assert_true(strcmp(bbo_token_refresh(fresh), bbo_token_refresh(f->token)) != 0);
    assert_true(strcmp(bbo_token_access(fresh), bbo_token_access(f->token)) != 0);
    assert_int_equal(strlen(bbo_token_access(fresh)), 2600);
    assert_default_scopes(fresh);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_stat_string("last_token_request.form_keys", "grant_type,refresh_token");

    assert_rc(bbo_client_refresh(f->client, f->token, &again), BBO_EOAUTH);
    assert_null(again);
    err = bbo_error_last();
    assert_int_equal(bbo_error_code(err), BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(err), "invalid_grant");
    assert_int_equal(bbo_error_http_status(err), 400);
    assert_int_equal(mock_stat_long("refresh_replays"), 1);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    bbo_token_free(fresh);
}

/* 4. client credentials: a private consumer, no refresh token */
static void test_client_credentials(void **state)
{
    fixture *f = *state;

    mock_reset();
    assert_rc(bbo_client_client_credentials(f->client, &f->token), BBO_OK);
    assert_null(bbo_token_refresh(f->token));
    assert_int_equal(strlen(bbo_token_access(f->token)), 2600);
    assert_default_scopes(f->token);
    assert_int_equal(mock_stat_long("grants.client_credentials"), 1);
    assert_stat_string("last_token_request.client_auth", "basic");
    assert_stat_string("last_token_request.form_keys", "grant_type");
}

/* 4b. the Connect JWT grant, with the right and a wrong shared secret */
static void test_jwt_grant(void **state)
{
    fixture *f = *state;
    const char *token_url = bbo_consumer_token_url(f->consumer);
    bbo_token *token = NULL;
    char *jwt = NULL;
    const bbo_error *err;

    mock_reset();
    assert_rc(bbo_jwt_connect_token(&jwt, "bbo-test-key", "bbo-connect-shared-secret", "POST",
                                    token_url, (int64_t)time(NULL), 180),
              BBO_OK);
    assert_rc(bbo_client_jwt_grant(f->client, jwt, &f->token), BBO_OK);
    bbo_free(jwt);
    assert_null(bbo_token_refresh(f->token));
    assert_int_equal(strlen(bbo_token_access(f->token)), 2600);
    assert_int_equal(mock_stat_long("grants.jwt"), 1);
    assert_stat_string("last_token_request.client_auth", "jwt");
    assert_stat_string("last_token_request.headers.authorization", "JWT [redacted]");
    assert_stat_string("last_token_request.form_keys", "grant_type");

    jwt = NULL;
    assert_rc(bbo_jwt_connect_token(&jwt, "bbo-test-key", "not-the-shared-secret", "POST",
                                    token_url, (int64_t)time(NULL), 180),
              BBO_OK);
    assert_rc(bbo_client_jwt_grant(f->client, jwt, &token), BBO_EOAUTH);
    bbo_free(jwt);
    assert_null(token);
    err = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(err), "unauthorized_client");
    assert_int_equal(bbo_error_http_status(err), 401);
    assert_int_equal(mock_stat_long("grants.jwt"), 1);
}

/* 4c. client_id/client_secret in the form instead of Basic */
static void test_form_client_auth(void **state)
{
    fixture *f = *state;

    mock_reset();
    assert_rc(bbo_consumer_set_client_auth(f->consumer, BBO_CLIENT_AUTH_FORM), BBO_OK);
    new_client(f);
    assert_rc(bbo_client_client_credentials(f->client, &f->token), BBO_OK);
    assert_int_equal(mock_stat_long("grants.client_credentials"), 1);
    assert_stat_string("last_token_request.client_auth", "form");
    assert_stat_string("last_token_request.form_keys", "client_id,client_secret,grant_type");
    assert_null(mock_stat_string("last_token_request.headers.authorization"));
}

/* 5. one client keeps one connection: exchange + refresh + refresh */
static void test_connection_reuse(void **state)
{
    fixture *f = *state;
    bbo_token *first = NULL, *second = NULL;

    mock_reset();
    f->token = login(f);
    assert_rc(bbo_client_refresh(f->client, f->token, &first), BBO_OK);
    assert_rc(bbo_client_refresh(f->client, first, &second), BBO_OK);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 2);
    assert_int_equal(mock_stat_long("connections"), 1);
    bbo_token_free(first);
    bbo_token_free(second);
}

/* 6. the server dropped the idle connection: a new one, one refresh */
static void test_idle_close(void **state)
{
    fixture *f = *state;
    bbo_token *fresh = NULL;

    mock_reset();
    mock_config("{\"idle_close_ms\": 200}");
    f->token = login(f);
    sleep_ms(600);
    assert_rc(bbo_client_refresh(f->client, f->token, &fresh), BBO_OK);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("connections"), 2);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    bbo_token_free(fresh);
}

/*
 * 7. faults on the token endpoint during a refresh. fault_begin logs in (a
 * kept-alive connection) and arms the fault; fault_end clears it and
 * refreshes again with the SAME token: that works unless the fault let the
 * mock process the request (the refresh token rotated, its answer lost).
 */
static void fault_begin(fixture *f, const char *fault_json)
{
    mock_reset();
    f->token = login(f);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    mock_fault(fault_json);
}

static void fault_end(fixture *f, int expected)
{
    bbo_token *token = NULL;

    mock_fault_clear();
    assert_rc(bbo_client_refresh(f->client, f->token, &token), expected);
    if (expected == BBO_OK) {
        assert_non_null(token);
        assert_true(strcmp(bbo_token_refresh(token), bbo_token_refresh(f->token)) != 0);
    } else {
        assert_null(token);
        assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_grant");
    }
    bbo_token_free(token);
}

/* Refresh under the armed fault, expecting `expected`. */
static void fault_refresh(fixture *f, int expected)
{
    bbo_token *token = NULL;

    assert_rc(bbo_client_refresh(f->client, f->token, &token), expected);
    if (expected == BBO_OK)
        assert_non_null(token);
    else
        assert_null(token);
    bbo_token_free(token);
}

static void test_fault_html502(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"html502\""));
    fault_refresh(f, BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 502);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_OK);
}

static void test_fault_error200(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"error200\""));
    fault_refresh(f, BBO_EOAUTH);
    assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_grant");
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    fault_end(f, BBO_OK);
}

/*
 * truncated: the head announces the full Content-Length, half the body
 * arrives, the connection closes. libcurl (7.88) reports CURLE_PARTIAL_FILE
 * (18, "transfer closed with N bytes remaining to read"), which the
 * transport maps to BBO_ETRANSPORT ("transfer failed after the request was
 * sent"). The mock processed the refresh: the token's refresh token is
 * dead, exactly why the library does not retry.
 */
static void test_fault_truncated(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"truncated\""));
    fault_refresh(f, BBO_ETRANSPORT);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "transfer closed with"));
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_EOAUTH);
}

/* huge: 10 MiB; the transport stops reading at the 4 MiB default limit */
static void test_fault_huge(void **state)
{
    fixture *f = *state;
    double start;

    fault_begin(f, FAULT("\"name\": \"huge\""));
    start = monotonic_s();
    fault_refresh(f, BBO_EPROTOCOL);
    assert_true(monotonic_s() - start < 3.0);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_OK);
}

/* slow: a timeout after the request was sent is never retried */
static void test_fault_slow(void **state)
{
    fixture *f = *state;
    double start;
    int i;

    fault_begin(f, FAULT("\"name\": \"slow\", \"seconds\": 3"));
    assert_rc(bbo_client_set_timeouts(f->client, 0, 1000), BBO_OK);
    start = monotonic_s();
    fault_refresh(f, BBO_ETIMEOUT);
    assert_true(monotonic_s() - start < 2.5);
    assert_waits(&f->rec, 0, 0, 0);
    /* the mock processes the request after its 3 s: wait for that */
    for (i = 0; i < 100 && mock_stat_long("token_requests") < 2; i++)
        sleep_ms(100);
    sleep_ms(300);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    fault_end(f, BBO_EOAUTH);
}

/* reset (not processed) on the kept-alive connection: one attempt only */
static void test_fault_reset(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"reset\", \"times\": -1"));
    fault_refresh(f, BBO_ETRANSPORT);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("resets"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_OK);
}

/*
 * reset_after_processing on a fresh connection: the refresh happened, its
 * answer was lost. The old refresh token is now dead on the server: a
 * retry could only replay it (and get the grant revoked), which is why
 * the library never retries once a request may have been processed.
 */
static void test_fault_reset_after_processing(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"reset_after_processing\""));
    new_client(f); /* a fresh connection */
    fault_refresh(f, BBO_ETRANSPORT);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_EOAUTH);
    assert_int_equal(mock_stat_long("refresh_replays"), 1);
}

/*
 * The same on the kept-alive connection of the login: libcurl resends a
 * request on a new connection when a reused one dies before any answer
 * byte; for a refresh that replays the rotated token. The transport must
 * stop that resend (BBO_ETRANSPORT, no replay).
 */
static void test_fault_reset_after_processing_reused(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"reset_after_processing\""));
    fault_refresh(f, BBO_ETRANSPORT);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    assert_int_equal(mock_stat_long("refresh_replays"), 0);
    assert_int_equal(mock_stat_long("revoked_grants"), 0);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_EOAUTH);
}

static void test_fault_rate429_retry_after_1(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"rate429\", \"retry_after\": 1"));
    fault_refresh(f, BBO_OK);
    assert_waits(&f->rec, 1, 1, 0);
    /* two token requests: the refused one and the processed one */
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    assert_int_equal(mock_stat_long("grants.refresh_token"), 1);
    /* that refresh rotated the token: the same input is now dead */
    fault_end(f, BBO_EOAUTH);
}

static void test_fault_rate429_no_retry_after(void **state)
{
    fixture *f = *state;
    const bbo_error *err;

    fault_begin(f, FAULT("\"name\": \"rate429\", \"times\": -1"));
    fault_refresh(f, BBO_ERATELIMIT);
    err = bbo_error_last();
    assert_int_equal(bbo_error_http_status(err), 429);
    assert_int_equal(bbo_error_retry_after(err), -1);
    assert_waits(&f->rec, 2, 1, 2);
    assert_int_equal(mock_stat_long("faults_hit"), 3);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    fault_end(f, BBO_OK);
}

static void test_fault_rate429_retry_after_120(void **state)
{
    fixture *f = *state;
    const bbo_error *err;

    fault_begin(f, FAULT("\"name\": \"rate429\", \"retry_after\": 120, \"times\": -1"));
    fault_refresh(f, BBO_ERATELIMIT);
    err = bbo_error_last();
    assert_int_equal(bbo_error_http_status(err), 429);
    assert_int_equal(bbo_error_retry_after(err), 120);
    assert_waits(&f->rec, 0, 0, 0);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    fault_end(f, BBO_OK);
}

static void test_fault_unavailable503(void **state)
{
    fixture *f = *state;

    fault_begin(f, FAULT("\"name\": \"unavailable503\""));
    fault_refresh(f, BBO_OK);
    assert_waits(&f->rec, 1, 1, 0);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("token_requests"), 2);
    fault_end(f, BBO_EOAUTH);
}

/* redirect: reported, not followed (the target would count an API request) */
static void test_fault_redirect(void **state)
{
    fixture *f = *state;
    char fault[512];

    snprintf(fault, sizeof(fault), FAULT("\"name\": \"redirect\", \"redirect_to\": \"%s/2.0/user\""),
             mock_base());
    fault_begin(f, fault);
    fault_refresh(f, BBO_EHTTP);
    assert_int_equal(bbo_error_http_status(bbo_error_last()), 302);
    assert_int_equal(mock_stat_long("faults_hit"), 1);
    assert_int_equal(mock_stat_long("api_requests"), 0);
    assert_int_equal(mock_stat_long("token_requests"), 1);
    assert_waits(&f->rec, 0, 0, 0);
    fault_end(f, BBO_OK);
}

/* 8. TLS: a certificate for another host; an unknown CA; plain loopback */
static void test_tls_wrong_host(void **state)
{
    fixture *f = *state;
    bbo_token *token = NULL;

    mock_reset();
    use_consumer(f, mock_consumer_at(mock_wrong_base()));
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_ETLS);
    assert_null(token);
    /* a certificate that does not verify will not verify on a second try:
     * nothing was sent, and nothing is retried */
    assert_waits(&f->rec, 0, 0, 0);
    assert_int_equal(mock_stat_long("token_requests"), 0);
}

static void test_tls_system_ca(void **state)
{
    fixture *f = *state;
    bbo_token *token = NULL;

    mock_reset();
    bbo_client_free(f->client);
    f->client = NULL;
    assert_rc(bbo_client_new(&f->client, f->consumer), BBO_OK);
    assert_rc(bbo_client_set_proxy(f->client, ""), BBO_OK);
    assert_rc(bbo_client_set_retry(f->client, 1, 0), BBO_OK);
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_ETLS);
    assert_null(token);
    assert_int_equal(mock_stat_long("token_requests"), 0);
}

static void test_plain_http_loopback(void **state)
{
    fixture *f = *state;
    bbo_token *token = NULL;

    mock_reset();
    use_consumer(f, mock_consumer_at(mock_plain_base()));
    f->token = login(f);
    assert_rc(bbo_client_refresh(f->client, f->token, &token), BBO_OK);
    bbo_token_free(token);
    token = NULL;
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_OK);
    bbo_token_free(token);
    assert_int_equal(mock_stat_long("token_requests"), 3);
    assert_int_equal(mock_stat_long("connections"), 1);
}

/* 9. nothing listens: a connect failure is retried (never sent), 1 s, 2 s */
static int dead_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void test_dead_server(void **state)
{
    fixture *f = *state;
    bbo_token *token = NULL;
    char base[64];

    mock_reset();
    snprintf(base, sizeof(base), "https://127.0.0.1:%d", dead_port());
    use_consumer(f, mock_consumer_at(base));
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_ETRANSPORT);
    assert_null(token);
    assert_waits(&f->rec, 2, 1, 2);

    f->rec.count = 0;
    assert_rc(bbo_client_set_retry(f->client, 1, 0), BBO_OK);
    assert_rc(bbo_client_client_credentials(f->client, &token), BBO_ETRANSPORT);
    assert_null(token);
    assert_waits(&f->rec, 0, 0, 0);
}

/* 10. an API call with the token; then the token expires on the server */
static bbo_http_response *get_user(fixture *f)
{
    bbo_http_request *req = NULL;
    bbo_http_response *resp = NULL;
    char url[256];
    char *bearer;
    size_t len;

    snprintf(url, sizeof(url), "%s/user", bbo_consumer_api_base_url(f->consumer));
    assert_rc(bbo_http_request_new(&req, "GET", url), BBO_OK);
    len = strlen("Bearer ") + strlen(bbo_token_access(f->token)) + 1;
    bearer = malloc(len);
    assert_non_null(bearer);
    snprintf(bearer, len, "Bearer %s", bbo_token_access(f->token));
    assert_rc(bbo_http_request_add_header(req, "Authorization", bearer), BBO_OK);
    free(bearer);
    assert_rc(bbo_client_send(f->client, req, &resp), BBO_OK);
    bbo_http_request_free(req);
    return resp;
}

static void test_api_call(void **state)
{
    fixture *f = *state;
    bbo_http_response *resp;
    const char *body;
    size_t len;

    mock_reset();
    f->token = login(f);
    resp = get_user(f);
    assert_int_equal(bbo_http_response_status(resp), 200);
    body = bbo_http_response_body(resp, &len);
    assert_non_null(strstr(body, "\"bbo-tester\""));
    assert_string_equal(bbo_http_response_header(resp, "X-OAuth-Scopes"),
                        "account, pullrequest:write, repository:write");
    bbo_http_response_free(resp);

    assert_int_equal(mock_expire(), 1);
    resp = get_user(f);
    assert_int_equal(bbo_http_response_status(resp), 401);
    body = bbo_http_response_body(resp, &len);
    assert_non_null(strstr(body, "Access token expired"));
    bbo_http_response_free(resp);
    assert_int_equal(mock_stat_long("api_requests"), 2);
    assert_int_equal(mock_stat_long("connections"), 1);
}

/* 11. one client shared by 8 threads, 5 grants each */
#define THREADS 8
#define GRANTS_PER_THREAD 5

typedef struct worker {
    pthread_t thread;
    bbo_client *client;
    int ok;
    int first_error;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    int i, rc;

    for (i = 0; i < GRANTS_PER_THREAD; i++) {
        bbo_token *token = NULL;

        rc = bbo_client_client_credentials(w->client, &token);
        if (rc == BBO_OK && token && strlen(bbo_token_access(token)) == 2600)
            w->ok++;
        else if (!w->first_error)
            w->first_error = rc ? rc : -1000;
        bbo_token_free(token);
    }
    return NULL;
}

static void test_threads(void **state)
{
    fixture *f = *state;
    worker workers[THREADS];
    int i;

    mock_reset();
    memset(workers, 0, sizeof(workers));
    for (i = 0; i < THREADS; i++) {
        workers[i].client = f->client;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, work, &workers[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(workers[i].first_error, 0);
        assert_int_equal(workers[i].ok, GRANTS_PER_THREAD);
    }
    assert_int_equal(mock_stat_long("grants.client_credentials"), THREADS * GRANTS_PER_THREAD);
    assert_int_equal(mock_stat_long("token_requests"), THREADS * GRANTS_PER_THREAD);
    /* the mutex-guarded easy handle keeps its one connection */
    assert_int_equal(mock_stat_long("connections"), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_code_flow),
        T(test_code_flow_no_callback),
        T(test_code_flow_loopback_port),
        T(test_legacy_scopes),
        T(test_refresh_rotates),
        T(test_client_credentials),
        T(test_jwt_grant),
        T(test_form_client_auth),
        T(test_connection_reuse),
        T(test_idle_close),
        T(test_fault_html502),
        T(test_fault_error200),
        T(test_fault_truncated),
        T(test_fault_huge),
        T(test_fault_slow),
        T(test_fault_reset),
        T(test_fault_reset_after_processing),
        T(test_fault_reset_after_processing_reused),
        T(test_fault_rate429_retry_after_1),
        T(test_fault_rate429_no_retry_after),
        T(test_fault_rate429_retry_after_120),
        T(test_fault_unavailable503),
        T(test_fault_redirect),
        T(test_tls_wrong_host),
        T(test_tls_system_ca),
        T(test_plain_http_loopback),
        T(test_dead_server),
        T(test_api_call),
        T(test_threads),
    };

    /* fail early and clearly when not run under with_mock.py */
    if (!getenv("BBMOCK_CONTROL")) {
        fprintf(stderr, "run under tests/mock/with_mock.py: BBMOCK_* is not set\n");
        return 1;
    }
    return cmocka_run_group_tests_name("client-curl", tests, NULL, NULL);
}
