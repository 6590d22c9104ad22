/*
 * Unit tests: the allocator hook, the internal allocator and buffers, and
 * grants that survive allocation failures (a session on the real file
 * store: refresh and save, invalid_grant, adoption from the store).
 * SPDX-License-Identifier: MIT
 */
#include "fake_transport.h"
#include "session_fixture.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/common.h"
#include "internal/http.h"

/* An allocator that remembers sizes, counts calls and checks that every
 * block it gets back was wiped. */
typedef struct spy {
    long allocs;
    long releases;
    long live;
    long dirty;       /* blocks released with a non-zero byte */
    long fail_after;  /* -1: never */
} spy;

#define SPY_HEADER 16

static void *spy_alloc(size_t size, void *payload)
{
    spy *s = payload;
    unsigned char *block;

    if (s->fail_after == 0)
        return NULL;
    if (s->fail_after > 0)
        s->fail_after--;
    if ((block = malloc(size + SPY_HEADER)) == NULL)
        return NULL;
    memcpy(block, &size, sizeof(size));
    memset(block + SPY_HEADER, 0xA5, size); /* garbage, as malloc may give */
    s->allocs++;
    s->live++;
    return block + SPY_HEADER;
}

static void spy_release(void *ptr, void *payload)
{
    spy *s = payload;
    unsigned char *block = (unsigned char *)ptr - SPY_HEADER;
    size_t size, i;

    memcpy(&size, block, sizeof(size));
    for (i = 0; i < size; i++) {
        if (((unsigned char *)ptr)[i] != 0) {
            s->dirty++;
            break;
        }
    }
    s->releases++;
    s->live--;
    free(block);
}

static void test_set_allocator_validation(void **state)
{
    spy s = { 0, 0, 0, 0, -1 };
    bbo_allocator a = { BBO_ALLOCATOR_VERSION, spy_alloc, spy_release, &s };
    long base = bbo_test_alloc_live();
    char *text = NULL;

    (void)state;
    a.version = 0;
    assert_int_equal(bbo_global_set_allocator(&a), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    a.version = BBO_ALLOCATOR_VERSION + 1;
    assert_int_equal(bbo_global_set_allocator(&a), BBO_EINVAL);
    a.version = BBO_ALLOCATOR_VERSION;
    a.alloc = NULL;
    assert_int_equal(bbo_global_set_allocator(&a), BBO_EINVAL);
    a.alloc = spy_alloc;
    a.release = NULL;
    assert_int_equal(bbo_global_set_allocator(&a), BBO_EINVAL);
    a.alloc = NULL;
    assert_int_equal(bbo_global_set_allocator(&a), BBO_EINVAL);

    /* the counting allocator is still the one in use */
    assert_int_equal(s.allocs, 0);
    text = bbo__strdup("still counted");
    assert_non_null(text);
    assert_int_equal(bbo_test_alloc_live(), base + 1);
    bbo_free(text);
    assert_int_equal(bbo_test_alloc_live(), base);
    assert_int_equal(s.allocs, 0);
}

static void test_null_restores_default(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_token *tok = NULL;
    char *json = NULL;

    (void)state;
    assert_int_equal(base, 0); /* switching needs nothing alive */
    assert_int_equal(bbo_global_set_allocator(NULL), BBO_OK);
    assert_int_equal(bbo_token_new(&tok, "a", "r", NULL, 5, NULL), BBO_OK);
    assert_int_equal(bbo_token_to_json(tok, &json), BBO_OK);
    /* malloc/free now: the counting allocator saw nothing */
    assert_int_equal(bbo_test_alloc_live(), 0);
    bbo_free(json);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), 0);
    /* and back */
    bbo_test_alloc_install();
    assert_int_equal(bbo_token_new(&tok, "a", NULL, NULL, 0, NULL), BBO_OK);
    assert_true(bbo_test_alloc_live() > 0);
    bbo_token_free(tok);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_custom_allocator_payload_and_wipe(void **state)
{
    static const char body[] = "{\"access_token\":\"secret-a\",\"refresh_token\":\"secret-r\","
                               "\"expires_in\":60,\"scope\":\"account\",\"x\":\"\\u00e9\"}";
    spy s = { 0, 0, 0, 0, -1 };
    bbo_allocator a = { BBO_ALLOCATOR_VERSION, spy_alloc, spy_release, &s };
    bbo_token *tok = NULL;
    char *json = NULL;
    int rc;

    (void)state;
    assert_int_equal(bbo_test_alloc_live(), 0);
    assert_int_equal(bbo_global_set_allocator(&a), BBO_OK);
    assert_int_equal(bbo_token_parse(&tok, body, strlen(body), 1000), BBO_OK);
    assert_int_equal(bbo_token_to_json(tok, &json), BBO_OK);
    assert_non_null(strstr(json, "secret-a"));
    bbo_free(json);
    bbo_token_free(tok);
    /* an allocation failure under the custom allocator is BBO_ENOMEM */
    s.fail_after = 0;
    tok = NULL;
    rc = bbo_token_new(&tok, "a", NULL, NULL, 0, NULL);
    s.fail_after = -1;
    bbo_test_alloc_install();

    assert_int_equal(rc, BBO_ENOMEM);
    assert_null(tok);
    assert_true(s.allocs > 5);
    assert_int_equal(s.releases, s.allocs);
    assert_int_equal(s.live, 0);
    assert_int_equal(s.dirty, 0); /* every block came back wiped */
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_free_null_and_returned_strings(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_scopes *scopes = NULL;
    char *text = NULL;

    (void)state;
    bbo_free(NULL);
    assert_int_equal(bbo_scopes_parse(&scopes, "account email"), BBO_OK);
    assert_int_equal(bbo_scopes_to_string(scopes, &text), BBO_OK);
    assert_string_equal(text, "account email");
    bbo_scopes_free(scopes);
    assert_int_equal(bbo_test_alloc_live(), base + 1);
    bbo_free(text);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_internal_allocator(void **state)
{
    long base = bbo_test_alloc_live();
    unsigned char *p, *q;
    char *s;
    size_t i;

    (void)state;
    assert_null(bbo__malloc(SIZE_MAX));
    assert_null(bbo__malloc(SIZE_MAX - 8));
    assert_null(bbo__calloc(SIZE_MAX / 2, 4));
    assert_null(bbo__calloc(4, SIZE_MAX / 2));
    assert_int_equal(bbo_test_alloc_live(), base);

    p = bbo__calloc(10, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    for (i = 0; i < 100; i++)
        assert_int_equal(p[i], 0);
    for (i = 0; i < 100; i++)
        p[i] = (unsigned char)i;
    q = bbo__realloc(p, 200);
    assert_non_null(q);
    for (i = 0; i < 100; i++)
        assert_int_equal(q[i], (unsigned char)i);
    q = bbo__realloc(q, 5);
    for (i = 0; i < 5; i++)
        assert_int_equal(q[i], (unsigned char)i);
    assert_int_equal(bbo_test_alloc_live(), base + 1);
    /* a failed realloc leaves the block alone */
    bbo_test_alloc_fail_after(0);
    assert_null(bbo__realloc(q, 1000));
    bbo_test_alloc_fail_after(-1);
    assert_int_equal(q[4], 4);
    bbo__free(q);
    bbo__free(NULL);
    assert_int_equal(bbo_test_alloc_live(), base);

    p = bbo__realloc(NULL, 3);
    assert_non_null(p);
    bbo__free(p);
    p = bbo__malloc(0);
    assert_non_null(p);
    bbo__free(p);

    s = bbo__strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    bbo__free_str(&s);
    assert_null(s);
    bbo__free_str(&s);
    s = bbo__strndup("a\0b", 3);
    assert_memory_equal(s, "a\0b", 4);
    bbo__free(s);
    s = bbo__strdup("");
    assert_string_equal(s, "");
    bbo__free(s);
    {
        char secret[8] = "secret!";

        bbo__wipe(secret, sizeof(secret));
        for (i = 0; i < sizeof(secret); i++)
            assert_int_equal(secret[i], 0);
        bbo__wipe(NULL, 5);
        bbo__wipe(secret, 0);
    }
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_buf(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_buf buf = BBO_BUF_INIT;
    char *out;
    size_t i;

    (void)state;
    /* an empty buffer detaches to "" */
    out = bbo__buf_detach(&buf);
    assert_string_equal(out, "");
    bbo_free(out);

    assert_int_equal(bbo__buf_puts(&buf, "abc"), BBO_OK);
    assert_int_equal(bbo__buf_putc(&buf, '-'), BBO_OK);
    assert_int_equal(bbo__buf_put(&buf, "x\0y", 3), BBO_OK);
    assert_int_equal(bbo__buf_put(&buf, NULL, 0), BBO_OK);
    assert_int_equal(buf.size, 7);
    assert_memory_equal(buf.ptr, "abc-x\0y", 8);
    for (i = 0; i < 1000; i++)
        assert_int_equal(bbo__buf_putc(&buf, 'z'), BBO_OK);
    assert_int_equal(buf.size, 1007);
    assert_true(buf.asize > buf.size);
    assert_int_equal(buf.ptr[buf.size], '\0');
    assert_int_equal(bbo_test_alloc_live(), base + 1);

    bbo__buf_clear(&buf);
    assert_int_equal(buf.size, 0);
    assert_string_equal(buf.ptr, "");
    for (i = 0; i < buf.asize; i++)
        assert_int_equal(buf.ptr[i], 0); /* wiped, not just truncated */
    assert_int_equal(bbo__buf_puts(&buf, "again"), BBO_OK);
    out = bbo__buf_detach(&buf);
    assert_string_equal(out, "again");
    assert_null(buf.ptr);
    assert_int_equal(buf.size, 0);
    assert_int_equal(buf.asize, 0);
    bbo_free(out);

    /* growth that cannot be represented */
    assert_int_equal(bbo__buf_puts(&buf, "x"), BBO_OK);
    assert_int_equal(bbo__buf_grow(&buf, SIZE_MAX), BBO_ENOMEM);
    assert_int_equal(bbo__buf_grow(&buf, SIZE_MAX - 1), BBO_ENOMEM);
    assert_string_equal(buf.ptr, "x");
    /* an allocation failure keeps the contents */
    bbo_test_alloc_fail_after(0);
    assert_int_equal(bbo__buf_grow(&buf, 100000), BBO_ENOMEM);
    bbo_test_alloc_fail_after(-1);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ENOMEM);
    assert_string_equal(buf.ptr, "x");
    assert_int_equal(buf.size, 1);
    bbo__buf_dispose(&buf);
    bbo__buf_dispose(&buf);
    assert_null(buf.ptr);

    /* detaching an empty buffer when "" cannot be allocated */
    bbo_test_alloc_fail_after(0);
    out = bbo__buf_detach(&buf);
    bbo_test_alloc_fail_after(-1);
    assert_null(out);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ENOMEM);
    bbo__buf_clear(&buf); /* on an empty buffer: a no-op */
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* A response with room reserved takes an answer without allocating. */
static void test_response_reserve(void **state)
{
    long base = bbo_test_alloc_live();
    bbo_http_response *resp = NULL;
    char body[4000];
    size_t total;
    int round;

    (void)state;
    memset(body, 'b', sizeof(body));
    assert_rc(bbo_http_response_new(&resp), BBO_OK);
    assert_rc(bbo__http_response_reserve(resp, 8192, 16, 2048), BBO_OK);
    for (round = 0; round < 2; round++) {
        bbo_test_alloc_fail_after(0);
        assert_rc(bbo_http_response_add_header_line(resp, "HTTP/1.1 200 OK\r\n", 17), BBO_OK);
        assert_rc(bbo_http_response_add_header(resp, "Content-Type", "application/json"),
                  BBO_OK);
        assert_rc(bbo_http_response_add_header_line(resp, "X-A: 1\r\n", 8), BBO_OK);
        for (total = 0; bbo_http_response_append_body(resp, body, sizeof(body)) == BBO_OK;)
            total += sizeof(body);
        bbo_test_alloc_fail_after(-1);
        /* at least the reserved room, then allocations again */
        assert_true(total >= 8192);
        assert_true(total < 64 * 1024);
        assert_string_equal(bbo_http_response_header(resp, "content-type"), "application/json");
        assert_string_equal(bbo_http_response_header(resp, "X-A"), "1");
        bbo_http_response_reset(resp); /* keeps the room */
    }
    bbo_http_response_free(resp);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* ---- grants survive allocation failures --------------------------------- */

#define ROTATED                                                                                   \
    "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":7200,"                  \
    "\"refresh_token\":\"rt-2\",\"scope\":\"account\"}"
#define REJECTED "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh_token\"}"

/* GRANT_ESCOPE: the app requires pullrequest:write, the refresh grants
 * only account (BBO_ESCOPE, the new token is the grant all the same) */
enum { GRANT_REFRESH, GRANT_INVALID, GRANT_ADOPT, GRANT_LOGOUT, GRANT_ESCOPE };

typedef struct grant_env {
    char dir[64];
    char path[96];
    const unsigned char *key;
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
    bbo_fake_clock clock;
    bbo_session *session;
} grant_env;

/* A consumer (requiring `required` when not NULL) and a client on `fake`
 * and `clock`. */
static void fake_client(bbo_consumer **consumer, bbo_client **client, bbo_fake *fake,
                        bbo_fake_clock *clock, const char *required)
{
    bbo_transport t;

    assert_rc(bbo_consumer_new(consumer, "key123", "secret456"), BBO_OK);
    if (required) {
        bbo_scopes *scopes = NULL;

        assert_rc(bbo_scopes_parse(&scopes, required), BBO_OK);
        assert_rc(bbo_consumer_require_scopes(*consumer, scopes), BBO_OK);
        bbo_scopes_free(scopes);
    }
    assert_rc(bbo_client_new(client, *consumer), BBO_OK);
    assert_rc(bbo_client_set_clock(*client, bbo_fake_clock_now, bbo_fake_clock_sleep, clock),
              BBO_OK);
    bbo_fake_transport(fake, &t);
    assert_rc(bbo_client_set_transport(*client, &t), BBO_OK);
}

static bbo_store *grant_store(const grant_env *e)
{
    bbo_store *store = NULL;

    assert_rc(bbo_file_store_new(&store, e->path, e->key), BBO_OK);
    return store;
}

/* What the token file holds now (read by a store of its own), or NULL. */
static bbo_token *grant_stored(const grant_env *e)
{
    bbo_store *store = grant_store(e);
    bbo_token *tok = NULL;

    assert_rc(bbo_store_load(store, &tok), BBO_OK);
    bbo_store_free(store);
    return tok;
}

static void grant_save(const grant_env *e, bbo_token *tok)
{
    bbo_store *store = grant_store(e);

    assert_rc(bbo_store_save(store, tok), BBO_OK);
    bbo_store_free(store);
    bbo_token_free(tok);
}

/* A session on the file store holding at-1 / rt-1, due for a refresh. */
static void grant_open(grant_env *e, int scenario, const unsigned char *key)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/bbo-alloc-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/token", e->dir);
    e->key = key;
    e->clock.now = T0;
    e->fake = bbo_fake_new();
    bbo_fake_set_free_on_destroy(e->fake, 0);
    if (scenario == GRANT_INVALID)
        bbo_fake_push_json(e->fake, 400, REJECTED);
    else
        bbo_fake_push_json(e->fake, 200, ROTATED);
    bbo_fake_set_repeat_last(e->fake, 1);
    fake_client(&e->consumer, &e->client, e->fake, &e->clock,
                scenario == GRANT_ESCOPE ? "account pullrequest:write" : NULL);
    grant_save(e, make_token("at-1", "rt-1", T0 + 30, T0 - 3600));
    assert_rc(bbo_session_new(&e->session, e->client, NULL), BBO_OK);
    assert_rc(bbo_session_set_store(e->session, grant_store(e)), BBO_OK);
    /* another process refreshed: its token is in the file */
    if (scenario == GRANT_ADOPT)
        grant_save(e, make_token("at-p", "rt-p", T0 + 7200, T0 - 10));
}

static void grant_close(grant_env *e)
{
    bbo_session_free(e->session);
    bbo_client_free(e->client);
    bbo_consumer_free(e->consumer);
    bbo_fake_free(e->fake);
    bbo_test_remove_tree(e->dir);
}

/* Requests that sent this refresh token. */
static size_t grant_sends(const grant_env *e, const char *refresh)
{
    char body[64];
    size_t i, count = 0;

    snprintf(body, sizeof(body), "grant_type=refresh_token&refresh_token=%s", refresh);
    for (i = 0; i < bbo_fake_request_count(e->fake); i++)
        if (strcmp(bbo_fake_request_at(e->fake, i)->body, body) == 0)
            count++;
    return count;
}

/* After the failing call: with allocations working again, the grant is
 * whole (scenario by scenario), no dead refresh token went out twice. */
static void grant_check(grant_env *e, int scenario, int restart)
{
    bbo_token *stored;
    bbo_session *other = NULL;
    char *access = NULL;

    if (restart) {
        /* the program ends right after the failure; the next run starts
         * from the store alone */
        bbo_session_free(e->session);
        e->session = NULL;
        assert_rc(bbo_session_new(&e->session, e->client, NULL), BBO_OK);
        assert_rc(bbo_session_set_store(e->session, grant_store(e)), BBO_OK);
    }
    if (scenario == GRANT_LOGOUT) {
        /* logged out for good, here and in the store */
        assert_rc(bbo_session_access_token(e->session, &access), BBO_EEXPIRED);
        stored = grant_stored(e);
        if (stored)
            fail_msg("the logged-out token stayed in the store");
        assert_int_equal(bbo_fake_request_count(e->fake), 0);
        return;
    }
    if (scenario == GRANT_INVALID) {
        assert_rc(bbo_session_access_token(e->session, &access), BBO_EEXPIRED);
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EEXPIRED);
        if (!restart)
            assert_string_equal(bbo_error_oauth_code(bbo_error_last()), "invalid_grant");
        stored = grant_stored(e);
        if (stored)
            fail_msg("the rejected token stayed in the store");
        /* a second session finds nothing to send */
        assert_rc(bbo_session_new(&other, e->client, NULL), BBO_OK);
        assert_rc(bbo_session_set_store(other, grant_store(e)), BBO_OK);
        assert_rc(bbo_session_access_token(other, &access), BBO_EEXPIRED);
        bbo_session_free(other);
        assert_int_equal(grant_sends(e, "rt-1"), 1);
        return;
    }
    if (scenario == GRANT_ESCOPE) {
        /* the refresh that failed before sending is made now */
        int rc = bbo_session_access_token(e->session, &access);

        if (rc == BBO_ESCOPE)
            assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ESCOPE);
        else
            assert_rc(rc, BBO_OK);
        bbo_free(access);
        access = NULL;
    }
    assert_rc(bbo_session_access_token(e->session, &access), BBO_OK);
    assert_string_equal(access, scenario == GRANT_ADOPT ? "at-p" : "at-2");
    bbo_free(access);
    stored = grant_stored(e);
    assert_non_null(stored);
    assert_string_equal(bbo_token_access(stored), scenario == GRANT_ADOPT ? "at-p" : "at-2");
    bbo_token_free(stored);
    if (scenario == GRANT_ADOPT) {
        assert_int_equal(bbo_fake_request_count(e->fake), 0);
    } else {
        assert_int_equal(grant_sends(e, "rt-1"), 1);
        assert_int_equal(bbo_fake_request_count(e->fake), 1);
    }
}

/* One run with allocation N failing; returns whether one was refused. */
static int grant_run(int scenario, const unsigned char *key, int only, long n, int restart)
{
    long base = bbo_test_alloc_live();
    grant_env e;
    char *access = NULL;
    int rc, refused;

    grant_open(&e, scenario, key);
    if (only)
        bbo_test_alloc_fail_only(n);
    else
        bbo_test_alloc_fail_after(n);
    rc = bbo_session_access_token(e.session, &access);
    refused = bbo_test_alloc_failed();
    bbo_test_alloc_fail_after(-1);
    if (rc < 0 && bbo_error_code(bbo_error_last()) != rc)
        fail_msg("allocation %ld: returned %d but bbo_error_last says %d (%s)", n, rc,
                 bbo_error_code(bbo_error_last()), bbo_error_message(bbo_error_last()));
    bbo_free(access);
    grant_check(&e, scenario, restart);
    grant_close(&e);
    assert_int_equal(bbo_test_alloc_live(), base);
    return refused;
}

/* Fail allocation N (alone, or N and every later one) inside one
 * bbo_session_access_token, for every N until the call needs no more;
 * then go on with the same session, or free it and start a new one on the
 * store (a program that ends right after the failure). */
static void grant_torture(int scenario, const unsigned char *key, int only)
{
    long n;

    for (n = 0; grant_run(scenario, key, only, n, 0); n++)
        grant_run(scenario, key, only, n, 1);
    assert_true(n > 5);
}

static const unsigned char grant_key[32] = "0123456789abcdef0123456789abcdef";

static void test_grant_refresh_survives(void **state)
{
    (void)state;
    grant_torture(GRANT_REFRESH, NULL, 1);
    grant_torture(GRANT_REFRESH, NULL, 0);
    grant_torture(GRANT_REFRESH, grant_key, 1);
    grant_torture(GRANT_REFRESH, grant_key, 0);
}

static void test_grant_lacking_scope_survives(void **state)
{
    (void)state;
    grant_torture(GRANT_ESCOPE, NULL, 1);
    grant_torture(GRANT_ESCOPE, NULL, 0);
    grant_torture(GRANT_ESCOPE, grant_key, 1);
    grant_torture(GRANT_ESCOPE, grant_key, 0);
}

static void test_grant_invalid_grant_forgotten(void **state)
{
    (void)state;
    grant_torture(GRANT_INVALID, NULL, 1);
    grant_torture(GRANT_INVALID, NULL, 0);
    grant_torture(GRANT_INVALID, grant_key, 1);
    grant_torture(GRANT_INVALID, grant_key, 0);
}

/* A logout on the file store needs no allocation at all: it cannot be
 * left half done by one. */
static void test_grant_logout_needs_no_memory(void **state)
{
    long base = bbo_test_alloc_live();
    grant_env e;
    int key;

    (void)state;
    for (key = 0; key < 2; key++) {
        grant_open(&e, GRANT_LOGOUT, key ? grant_key : NULL);
        bbo_test_alloc_fail_after(0);
        assert_rc(bbo_session_logout(e.session), BBO_OK);
        assert_false(bbo_test_alloc_failed());
        bbo_test_alloc_fail_after(-1);
        grant_check(&e, GRANT_LOGOUT, 0);
        grant_close(&e);
        assert_int_equal(bbo_test_alloc_live(), base);
    }
}

static void test_grant_adopted_from_store(void **state)
{
    (void)state;
    grant_torture(GRANT_ADOPT, NULL, 1);
    grant_torture(GRANT_ADOPT, NULL, 0);
    grant_torture(GRANT_ADOPT, grant_key, 1);
    grant_torture(GRANT_ADOPT, grant_key, 0);
}

/* bbo__wipe zeroes exactly the bytes asked, whatever the length and the
 * alignment (the wide store paths and their tails included). */
static void test_wipe_exact(void **state)
{
    static unsigned char area[4096 + 64];
    size_t len, off, i;

    (void)state;
    for (len = 0; len <= 4096; len += len < 300 ? 1 : 37) {
        for (off = 0; off < 3; off++) {
            memset(area, 0xaa, sizeof(area));
            bbo__wipe(area + 16 + off, len);
            for (i = 0; i < sizeof(area); i++) {
                unsigned char want = i >= 16 + off && i < 16 + off + len ? 0 : 0xaa;

                if (area[i] != want)
                    fail_msg("len %zu offset %zu: byte %zu is %u", len, off, i, area[i]);
            }
        }
    }
}

/* The reserve: refused allocations are served from it while it is active
 * on the thread; its room goes back once its last block is freed. */
static void test_reserve(void **state)
{
    long base = bbo_test_alloc_live();
    bbo__reserve *r = NULL, *inner = NULL;
    char *a, *b, *c, *d;

    (void)state;
    assert_rc(bbo__reserve_new(&r, 4096), BBO_OK);
    assert_int_equal(bbo_test_alloc_live(), base + 2);
    bbo_test_alloc_fail_after(0);
    assert_null(bbo__malloc(16)); /* not active yet */
    bbo__reserve_activate(r);
    a = bbo__strdup("from the reserve");
    b = bbo__malloc(1000);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(bbo__malloc(4096)); /* more than is left */
    assert_int_equal(bbo__reserve_used(r), 48 + 1024);
    b = bbo__realloc(b, 2000);
    assert_non_null(b);
    bbo__free(b);
    /* nested: the inner one first, then the outer one again */
    bbo_test_alloc_fail_after(-1);
    assert_rc(bbo__reserve_new(&inner, 64), BBO_OK);
    bbo_test_alloc_fail_after(0);
    bbo__reserve_activate(inner);
    c = bbo__malloc(32);
    assert_non_null(c);
    assert_int_equal(bbo__reserve_used(inner), 48);
    bbo__reserve_end(inner);
    d = bbo__malloc(32);
    assert_non_null(d);
    assert_int_equal(bbo__reserve_used(r), 48 + 1024 + 2016 + 48);
    bbo__reserve_end(r);
    assert_null(bbo__malloc(16)); /* ended */
    bbo_test_alloc_fail_after(-1);
    /* blocks outlive the reserve's end; the room goes with the last one */
    assert_string_equal(a, "from the reserve");
    assert_int_equal(bbo_test_alloc_live(), base + 4);
    bbo__free(c);
    assert_int_equal(bbo_test_alloc_live(), base + 2);
    bbo__free(a);
    bbo__free(d);
    assert_int_equal(bbo_test_alloc_live(), base);
    /* an allocator that refuses the room: BBO_ENOMEM, nothing held */
    bbo_test_alloc_fail_only(1);
    assert_rc(bbo__reserve_new(&r, 4096), BBO_ENOMEM);
    bbo_test_alloc_fail_after(-1);
    assert_int_equal(bbo_test_alloc_live(), base);
    bbo__reserve_end(NULL);
}

/* ---- bbo_client_refresh: the rotated token survives -------------------- */

typedef struct refresh_env {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
    bbo_fake_clock clock;
} refresh_env;

/* A client on the fake answering `answer`; `required`: scopes it requires. */
static void refresh_open(refresh_env *e, const char *answer, const char *required)
{
    memset(e, 0, sizeof(*e));
    e->clock.now = T0;
    e->fake = bbo_fake_new();
    bbo_fake_set_free_on_destroy(e->fake, 0);
    bbo_fake_push_json(e->fake, 200, answer);
    bbo_fake_set_repeat_last(e->fake, 1);
    fake_client(&e->consumer, &e->client, e->fake, &e->clock, required);
}

static void refresh_close(refresh_env *e)
{
    bbo_client_free(e->client);
    bbo_consumer_free(e->consumer);
    bbo_fake_free(e->fake);
}

/* One bbo_client_refresh with allocation N failing (alone, or from N on):
 * either nothing was sent, or the new token came back. Returns whether an
 * allocation was refused. */
static int refresh_run(int only, long n, const char *required, int expected)
{
    long base = bbo_test_alloc_live();
    refresh_env e;
    bbo_token *old, *tok = NULL;
    int rc, refused;

    refresh_open(&e, ROTATED, required);
    old = make_token("at-1", "rt-1", T0 + 30, T0 - 3600);
    if (only)
        bbo_test_alloc_fail_only(n);
    else
        bbo_test_alloc_fail_after(n);
    rc = bbo_client_refresh(e.client, old, &tok);
    refused = bbo_test_alloc_failed();
    bbo_test_alloc_fail_after(-1);
    if (rc < 0 && bbo_error_code(bbo_error_last()) != rc)
        fail_msg("allocation %ld: returned %d but bbo_error_last says %d (%s)", n, rc,
                 bbo_error_code(bbo_error_last()), bbo_error_message(bbo_error_last()));
    if (bbo_fake_request_count(e.fake) == 0) {
        if (rc >= 0)
            fail_msg("allocation %ld: nothing sent, yet %d", n, rc);
        assert_null(tok);
    } else {
        assert_int_equal(bbo_fake_request_count(e.fake), 1);
        if (rc != expected || !tok)
            fail_msg("allocation %ld (%s): the refresh was sent, then %d (%s): the rotated "
                     "token is lost",
                     n, only ? "only" : "from on", rc, bbo_error_message(bbo_error_last()));
        assert_string_equal(bbo_token_access(tok), "at-2");
        assert_string_equal(bbo_token_refresh(tok), "rt-2");
    }
    bbo_token_free(tok);
    bbo_token_free(old);
    refresh_close(&e);
    assert_int_equal(bbo_test_alloc_live(), base);
    return refused;
}

static void refresh_torture(int only, const char *required, int expected)
{
    long n;

    for (n = 0; refresh_run(only, n, required, expected); n++)
        ;
    assert_true(n > 3);
}

static void test_client_refresh_survives(void **state)
{
    (void)state;
    refresh_torture(1, NULL, BBO_OK);
    refresh_torture(0, NULL, BBO_OK);
    /* a required scope is missing: BBO_ESCOPE, still with the token */
    refresh_torture(1, "account pullrequest:write", BBO_ESCOPE);
    refresh_torture(0, "account pullrequest:write", BBO_ESCOPE);
}

/* The send's hook: from here on, the allocator refuses everything. */
static int refuse_from_send(bbo_fake *fake, size_t index, const bbo_http_request *req,
                            bbo_http_response *resp, void *payload)
{
    (void)fake, (void)index, (void)req, (void)resp, (void)payload;
    bbo_test_alloc_fail_after(0);
    return 0;
}

/* `head`, then `prefix` N `suffix` for N = 0, 1, ... (N in base 62: the
 * shortest distinct names) as long as the whole stays within 16 KiB, then
 * `tail`. */
static char *answer_of(const char *head, const char *prefix, const char *suffix,
                       const char *tail)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t cap = 16 * 1024, len;
    char *text = malloc(cap + 1);
    int i;

    assert_non_null(text);
    len = (size_t)snprintf(text, cap, "%s", head);
    for (i = 0;; i++) {
        char piece[64], name[8];
        size_t add, k = sizeof(name) - 1;
        int v = i;

        name[k] = '\0';
        do {
            name[--k] = digits[v % 62];
            v /= 62;
        } while (v);
        add = (size_t)snprintf(piece, sizeof(piece), "%s%s%s", prefix, name + k, suffix);

        if (len + add + strlen(tail) > cap)
            break;
        memcpy(text + len, piece, add);
        len += add;
    }
    memcpy(text + len, tail, strlen(tail) + 1);
    return text;
}

#define TOKEN_HEAD                                                                                \
    "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":7200,"                \
    "\"refresh_token\":\"rt-2\""

/* Answers of up to 16 KiB, however they are built, are parsed from the
 * reserve alone once the request has left. */
static void test_client_refresh_16k_from_reserve(void **state)
{
    char *answers[7];
    size_t i;

    (void)state;
    /* a long access token */
    answers[0] = answer_of("{\"token_type\":\"bearer\",\"expires_in\":7200,"
                           "\"refresh_token\":\"rt-2\",\"access_token\":\"at-2",
                           "x", "", "\"}");
    /* thousands of scopes, the shortest and longer ones */
    answers[1] = answer_of(TOKEN_HEAD ",\"scope\":\"a", " ", "", "\"}");
    answers[2] = answer_of(TOKEN_HEAD ",\"scope\":\"a", " repository:write:", "", "\"}");
    /* thousands of unknown fields */
    answers[3] = answer_of(TOKEN_HEAD, ",\"k", "\":0", "}");
    /* a long array, nested objects, escapes */
    answers[4] = answer_of(TOKEN_HEAD ",\"a\":[0", ",\"", "\"", "]}");
    answers[5] = answer_of(TOKEN_HEAD ",\"o\":{\"x\":0", ",\"k", "\":{}", "}}");
    answers[6] = answer_of(TOKEN_HEAD, ",\"u", "\":\"\\u00e9\\ud83d\\ude00\"", "}");
    for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        long base = bbo_test_alloc_live();
        refresh_env e;
        bbo_token *old = make_token("at-1", "rt-1", T0 + 30, T0 - 3600), *tok = NULL;
        int rc;

        assert_true(strlen(answers[i]) <= 16 * 1024);
        refresh_open(&e, answers[i], NULL);
        bbo_fake_set_hook(e.fake, refuse_from_send, NULL);
        rc = bbo_client_refresh(e.client, old, &tok);
        bbo_test_alloc_fail_after(-1);
        if (rc != BBO_OK)
            fail_msg("answer %zu (%zu bytes): %d (%s)", i, strlen(answers[i]), rc,
                     bbo_error_message(bbo_error_last()));
        assert_int_equal(bbo_fake_request_count(e.fake), 1);
        assert_string_equal(bbo_token_refresh(tok), "rt-2");
        bbo_token_free(tok);
        bbo_token_free(old);
        refresh_close(&e);
        assert_int_equal(bbo_test_alloc_live(), base);
        free(answers[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_allocator_validation),
        cmocka_unit_test(test_wipe_exact),
        cmocka_unit_test(test_null_restores_default),
        cmocka_unit_test(test_custom_allocator_payload_and_wipe),
        cmocka_unit_test(test_free_null_and_returned_strings),
        cmocka_unit_test(test_internal_allocator),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_response_reserve),
        cmocka_unit_test(test_grant_refresh_survives),
        cmocka_unit_test(test_grant_lacking_scope_survives),
        cmocka_unit_test(test_grant_invalid_grant_forgotten),
        cmocka_unit_test(test_grant_adopted_from_store),
        cmocka_unit_test(test_grant_logout_needs_no_memory),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_client_refresh_survives),
        cmocka_unit_test(test_client_refresh_16k_from_reserve),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
