/*
 * An in-memory bbo_transport for tests: it records every request it is
 * asked to send (method, URL, headers in order, body bytes, timeout, the
 * fake clock's time) and replays a script of answers or failures, one step
 * per send. Plus a fake clock/sleep pair for bbo_client_set_clock.
 * SPDX-License-Identifier: MIT
 *
 * Typical use:
 *
 *     bbo_fake *fake = bbo_fake_new();
 *     bbo_transport t;
 *     bbo_fake_push(fake, 200, "{\"access_token\":\"a\",\"token_type\":\"bearer\"}");
 *     bbo_fake_push_header(fake, "Content-Type", "application/json");
 *     bbo_fake_transport(fake, &t);
 *     bbo_client_set_transport(client, &t);
 *     ... run the call ...
 *     assert_int_equal(bbo_fake_request_count(fake), 1);
 *     assert_string_equal(bbo_fake_request_at(fake, 0)->method, "POST");
 *     bbo_client_free(client);          (calls the fake's destroy: counted)
 *     bbo_fake_free(fake);
 *
 * The fake's own bookkeeping uses the C library's malloc, not the library
 * allocator, so it never disturbs bbo_test_alloc_live() or OOM torture;
 * filling a bbo_http_response does go through the library (as a real
 * transport's would) and a failure there is returned from send, exactly as
 * a transport must. Out of memory in the fake itself aborts the test.
 *
 * `send` may run on several threads at once: a mutex guards the fake.
 */
#ifndef BBO_FAKE_TRANSPORT_H
#define BBO_FAKE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "bboauth.h"

/* A recorded request: deep copies, valid until bbo_fake_reset/free. */
typedef struct bbo_fake_request {
    char *method;
    char *url;
    size_t header_count;
    char **header_names;
    char **header_values;
    char *body;       /* NUL-terminated copy; may hold NULs: use body_len */
    size_t body_len;
    int timeout_ms;   /* bbo_http_request_timeout_ms at send time */
    int64_t sent_at;  /* the attached clock's time when send began, else 0 */
} bbo_fake_request;

/* A fake clock: hand bbo_fake_clock_now/bbo_fake_clock_sleep and the
 * clock itself (payload) to bbo_client_set_clock. */
#define BBO_FAKE_MAX_SLEEPS 64
typedef struct bbo_fake_clock {
    int64_t now;                        /* what the clock says */
    int advance_on_sleep;               /* 1: sleeping moves `now` forward */
    size_t sleep_count;                 /* sleeps so far (also past the array) */
    int64_t sleeps[BBO_FAKE_MAX_SLEEPS]; /* the first waits, in order */
} bbo_fake_clock;

int64_t bbo_fake_clock_now(void *clock);
void bbo_fake_clock_sleep(int64_t seconds, void *clock);

typedef struct bbo_fake bbo_fake;

/* Called at the start of every send, after the request is recorded and
 * before the scripted step is played (`index`: the request's number). A
 * non-zero return fails the send with that code, consuming no step. */
typedef int (*bbo_fake_hook)(bbo_fake *fake, size_t index, const bbo_http_request *req,
                             bbo_http_response *resp, void *payload);

bbo_fake *bbo_fake_new(void);
/* Free the fake (recordings and script). NULL is a no-op. Not while a
 * client still uses it, unless bbo_fake_set_free_on_destroy was used. */
void bbo_fake_free(bbo_fake *fake);
/* Forget script, recordings and the unexpected count (hook, clock,
 * options and the destroy count stay). */
void bbo_fake_reset(bbo_fake *fake);

/* Fill a transport table (version, send, destroy, payload) for this fake. */
void bbo_fake_transport(bbo_fake *fake, bbo_transport *out);
/* The table's destroy frees the fake as well (default: it only counts). */
void bbo_fake_set_free_on_destroy(bbo_fake *fake, int on);
/* Times the table's destroy was called. */
unsigned bbo_fake_destroy_count(const bbo_fake *fake);

/* Move `clock->now` forward by `advance_s` during every send (the answer
 * arrives later than the request left), and stamp requests with it. */
void bbo_fake_set_clock(bbo_fake *fake, bbo_fake_clock *clock, int64_t advance_s);
void bbo_fake_set_hook(bbo_fake *fake, bbo_fake_hook hook, void *payload);

/*
 * Script steps, played in order, one per send.
 * bbo_fake_push: answer `status` (0: set no status) with `body` (NULL: no
 * body). bbo_fake_push_header/_body/_chunk/_not_sent/_return change the
 * step pushed last.
 */
void bbo_fake_push(bbo_fake *fake, int status, const char *body);
/* A JSON answer: `status`, Content-Type: application/json, `json`. */
void bbo_fake_push_json(bbo_fake *fake, int status, const char *json);
void bbo_fake_push_header(bbo_fake *fake, const char *name, const char *value);
/* Replace the last step's body with `len` arbitrary bytes. */
void bbo_fake_push_body(bbo_fake *fake, const void *data, size_t len);
/* Append the body in pieces of at most `chunk` bytes (0: all at once). */
void bbo_fake_push_chunk(bbo_fake *fake, size_t chunk);
/* Call bbo_http_response_set_not_sent before returning. */
void bbo_fake_push_not_sent(bbo_fake *fake);
/* What send returns once the step's answer was written (default 0). */
void bbo_fake_push_return(bbo_fake *fake, int rc);
/* A failure: no answer, send returns `rc` (any int, for odd transports),
 * after marking the request not sent when `not_sent` is 1. */
void bbo_fake_push_error(bbo_fake *fake, int rc, int not_sent);
/* When the script runs out: replay the last step forever (1), or fail with
 * BBO_ETRANSPORT and count an unexpected send (0, the default). */
void bbo_fake_set_repeat_last(bbo_fake *fake, int on);

/* Steps not played yet. */
size_t bbo_fake_remaining(const bbo_fake *fake);
/* Sends that found the script empty (without repeat). */
size_t bbo_fake_unexpected(const bbo_fake *fake);
/* The result each send returned, by request index (0 if out of range). */
int bbo_fake_result_at(const bbo_fake *fake, size_t index);

size_t bbo_fake_request_count(const bbo_fake *fake);
/* NULL when out of range. */
const bbo_fake_request *bbo_fake_request_at(const bbo_fake *fake, size_t index);
/* The last request, or NULL. */
const bbo_fake_request *bbo_fake_last_request(const bbo_fake *fake);
/* First header value with this name (case-insensitive), or NULL. */
const char *bbo_fake_request_header(const bbo_fake_request *req, const char *name);
/* How many headers have this name (case-insensitive). */
size_t bbo_fake_request_header_occurrences(const bbo_fake_request *req, const char *name);

#endif
