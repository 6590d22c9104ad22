/*
 * The in-memory test transport (see fake_transport.h).
 * SPDX-License-Identifier: MIT
 */
#include "fake_transport.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct step {
    int rc;            /* returned after the answer (if any) was written */
    int answer;        /* 1: write status, headers and body */
    int not_sent;
    int status;        /* 0: set none */
    size_t header_count;
    char **header_names;
    char **header_values;
    char *body;        /* NULL: no body */
    size_t body_len;
    size_t chunk;      /* 0: one append */
} step;

struct bbo_fake {
    pthread_mutex_t lock;
    step *steps;
    size_t step_count, step_cap, next_step;
    bbo_fake_request *requests;
    int *results;
    size_t request_count, request_cap;
    size_t unexpected;
    int repeat_last;
    int free_on_destroy;
    unsigned destroy_count;
    bbo_fake_clock *clock;
    int64_t clock_advance;
    bbo_fake_hook hook;
    void *hook_payload;
};

static void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p) {
        fprintf(stderr, "fake_transport: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (!p) {
        fprintf(stderr, "fake_transport: out of memory\n");
        abort();
    }
    return p;
}

static char *xmemdup(const void *data, size_t len)
{
    char *p = xmalloc(len + 1);

    if (len)
        memcpy(p, data, len);
    p[len] = '\0';
    return p;
}

static char *xstrdup(const char *s)
{
    return s ? xmemdup(s, strlen(s)) : NULL;
}

static void free_strings(char **list, size_t count)
{
    size_t i;

    for (i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}

static void step_dispose(step *s)
{
    free_strings(s->header_names, s->header_count);
    free_strings(s->header_values, s->header_count);
    free(s->body);
    memset(s, 0, sizeof(*s));
}

static void request_dispose(bbo_fake_request *r)
{
    free(r->method);
    free(r->url);
    free_strings(r->header_names, r->header_count);
    free_strings(r->header_values, r->header_count);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int64_t bbo_fake_clock_now(void *payload)
{
    bbo_fake_clock *clock = payload;

    return clock->now;
}

void bbo_fake_clock_sleep(int64_t seconds, void *payload)
{
    bbo_fake_clock *clock = payload;

    if (clock->sleep_count < BBO_FAKE_MAX_SLEEPS)
        clock->sleeps[clock->sleep_count] = seconds;
    clock->sleep_count++;
    if (clock->advance_on_sleep)
        clock->now += seconds;
}

bbo_fake *bbo_fake_new(void)
{
    bbo_fake *fake = xmalloc(sizeof(*fake));

    memset(fake, 0, sizeof(*fake));
    if (pthread_mutex_init(&fake->lock, NULL) != 0)
        abort();
    return fake;
}

static void forget(bbo_fake *fake)
{
    size_t i;

    for (i = 0; i < fake->step_count; i++)
        step_dispose(&fake->steps[i]);
    for (i = 0; i < fake->request_count; i++)
        request_dispose(&fake->requests[i]);
    free(fake->steps);
    free(fake->requests);
    free(fake->results);
    fake->steps = NULL;
    fake->requests = NULL;
    fake->results = NULL;
    fake->step_count = fake->step_cap = fake->next_step = 0;
    fake->request_count = fake->request_cap = 0;
    fake->unexpected = 0;
}

void bbo_fake_free(bbo_fake *fake)
{
    if (!fake)
        return;
    forget(fake);
    pthread_mutex_destroy(&fake->lock);
    free(fake);
}

void bbo_fake_reset(bbo_fake *fake)
{
    pthread_mutex_lock(&fake->lock);
    forget(fake);
    pthread_mutex_unlock(&fake->lock);
}

/* Record `req` (called with the lock held); returns its index. */
static size_t record(bbo_fake *fake, const bbo_http_request *req)
{
    bbo_fake_request *r;
    const char *body;
    size_t i, len;

    if (fake->request_count == fake->request_cap) {
        fake->request_cap = fake->request_cap ? fake->request_cap * 2 : 8;
        fake->requests = xrealloc(fake->requests, fake->request_cap * sizeof(*fake->requests));
        fake->results = xrealloc(fake->results, fake->request_cap * sizeof(*fake->results));
    }
    r = &fake->requests[fake->request_count];
    memset(r, 0, sizeof(*r));
    r->method = xstrdup(bbo_http_request_method(req));
    r->url = xstrdup(bbo_http_request_url(req));
    r->header_count = bbo_http_request_header_count(req);
    r->header_names = xmalloc(r->header_count * sizeof(char *));
    r->header_values = xmalloc(r->header_count * sizeof(char *));
    for (i = 0; i < r->header_count; i++) {
        r->header_names[i] = xstrdup(bbo_http_request_header_name(req, i));
        r->header_values[i] = xstrdup(bbo_http_request_header_value(req, i));
    }
    body = bbo_http_request_body(req, &len);
    r->body = xmemdup(body, len);
    r->body_len = len;
    r->timeout_ms = bbo_http_request_timeout_ms(req);
    r->sent_at = fake->clock ? fake->clock->now : 0;
    fake->results[fake->request_count] = 0;
    return fake->request_count++;
}

/* Write the step's answer into `resp`; the first failure is returned, as
 * a transport must stop reading when a setter refuses. */
static int play(const step *s, bbo_http_response *resp)
{
    size_t i, off, piece;
    int error;

    if (s->status && (error = bbo_http_response_set_status(resp, s->status)) < 0)
        return error;
    for (i = 0; i < s->header_count; i++)
        if ((error = bbo_http_response_add_header(resp, s->header_names[i],
                                                  s->header_values[i])) < 0)
            return error;
    if (!s->body)
        return 0;
    off = 0;
    do {
        piece = s->body_len - off;
        if (s->chunk && piece > s->chunk)
            piece = s->chunk;
        if ((error = bbo_http_response_append_body(resp, s->body + off, piece)) < 0)
            return error;
        off += piece;
    } while (off < s->body_len);
    return 0;
}

static void set_result(bbo_fake *fake, size_t index, int rc)
{
    pthread_mutex_lock(&fake->lock);
    fake->results[index] = rc;
    pthread_mutex_unlock(&fake->lock);
}

static int fake_send(const bbo_http_request *req, bbo_http_response *resp, void *payload)
{
    bbo_fake *fake = payload;
    step current;
    size_t index;
    int rc, have_step = 1;

    pthread_mutex_lock(&fake->lock);
    index = record(fake, req);
    if (fake->clock)
        fake->clock->now += fake->clock_advance;
    pthread_mutex_unlock(&fake->lock);

    /* the hook runs unlocked (it may call back into the fake) and before
     * a step is taken: failing here consumes none */
    if (fake->hook && (rc = fake->hook(fake, index, req, resp, fake->hook_payload)) != 0) {
        set_result(fake, index, rc);
        return rc;
    }

    memset(&current, 0, sizeof(current));
    pthread_mutex_lock(&fake->lock);
    if (fake->next_step < fake->step_count)
        current = fake->steps[fake->next_step++];
    else if (fake->repeat_last && fake->step_count)
        current = fake->steps[fake->step_count - 1];
    else
        have_step = 0;
    if (!have_step)
        fake->unexpected++;
    pthread_mutex_unlock(&fake->lock);

    /* the step's strings stay valid until a reset, which a test does not
     * run while a send is in flight */
    if (!have_step) {
        rc = BBO_ETRANSPORT;
    } else {
        /* a setter that refuses (body limit, memory) stops the answer and
         * its code is returned, as a transport must */
        if (!current.answer || (rc = play(&current, resp)) == 0)
            rc = current.rc;
        if (current.not_sent)
            bbo_http_response_set_not_sent(resp);
    }
    set_result(fake, index, rc);
    return rc;
}

static void fake_destroy(void *payload)
{
    bbo_fake *fake = payload;

    pthread_mutex_lock(&fake->lock);
    fake->destroy_count++;
    pthread_mutex_unlock(&fake->lock);
    if (fake->free_on_destroy)
        bbo_fake_free(fake);
}

void bbo_fake_transport(bbo_fake *fake, bbo_transport *out)
{
    memset(out, 0, sizeof(*out));
    out->version = BBO_TRANSPORT_VERSION;
    out->send = fake_send;
    out->destroy = fake_destroy;
    out->payload = fake;
}

void bbo_fake_set_free_on_destroy(bbo_fake *fake, int on)
{
    fake->free_on_destroy = on;
}

unsigned bbo_fake_destroy_count(const bbo_fake *fake)
{
    return fake->destroy_count;
}

void bbo_fake_set_clock(bbo_fake *fake, bbo_fake_clock *clock, int64_t advance_s)
{
    fake->clock = clock;
    fake->clock_advance = advance_s;
}

void bbo_fake_set_hook(bbo_fake *fake, bbo_fake_hook hook, void *payload)
{
    fake->hook = hook;
    fake->hook_payload = payload;
}

static step *new_step(bbo_fake *fake)
{
    step *s;

    pthread_mutex_lock(&fake->lock);
    if (fake->step_count == fake->step_cap) {
        fake->step_cap = fake->step_cap ? fake->step_cap * 2 : 8;
        fake->steps = xrealloc(fake->steps, fake->step_cap * sizeof(*fake->steps));
    }
    s = &fake->steps[fake->step_count++];
    memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&fake->lock);
    return s;
}

static step *last_step(bbo_fake *fake)
{
    if (fake->step_count == 0) {
        fprintf(stderr, "fake_transport: no step pushed yet\n");
        abort();
    }
    return &fake->steps[fake->step_count - 1];
}

void bbo_fake_push(bbo_fake *fake, int status, const char *body)
{
    step *s = new_step(fake);

    s->answer = 1;
    s->status = status;
    if (body) {
        s->body = xstrdup(body);
        s->body_len = strlen(body);
    }
}

void bbo_fake_push_json(bbo_fake *fake, int status, const char *json)
{
    bbo_fake_push(fake, status, json);
    bbo_fake_push_header(fake, "Content-Type", "application/json");
}

void bbo_fake_push_header(bbo_fake *fake, const char *name, const char *value)
{
    step *s = last_step(fake);

    s->header_names = xrealloc(s->header_names, (s->header_count + 1) * sizeof(char *));
    s->header_values = xrealloc(s->header_values, (s->header_count + 1) * sizeof(char *));
    s->header_names[s->header_count] = xstrdup(name);
    s->header_values[s->header_count] = xstrdup(value);
    s->header_count++;
}

void bbo_fake_push_body(bbo_fake *fake, const void *data, size_t len)
{
    step *s = last_step(fake);

    free(s->body);
    s->body = xmemdup(data, len);
    s->body_len = len;
}

void bbo_fake_push_chunk(bbo_fake *fake, size_t chunk)
{
    last_step(fake)->chunk = chunk;
}

void bbo_fake_push_not_sent(bbo_fake *fake)
{
    last_step(fake)->not_sent = 1;
}

void bbo_fake_push_return(bbo_fake *fake, int rc)
{
    last_step(fake)->rc = rc;
}

void bbo_fake_push_error(bbo_fake *fake, int rc, int not_sent)
{
    step *s = new_step(fake);

    s->rc = rc;
    s->not_sent = not_sent;
}

void bbo_fake_set_repeat_last(bbo_fake *fake, int on)
{
    fake->repeat_last = on;
}

size_t bbo_fake_remaining(const bbo_fake *fake)
{
    return fake->step_count - fake->next_step;
}

size_t bbo_fake_unexpected(const bbo_fake *fake)
{
    return fake->unexpected;
}

int bbo_fake_result_at(const bbo_fake *fake, size_t index)
{
    return index < fake->request_count ? fake->results[index] : 0;
}

size_t bbo_fake_request_count(const bbo_fake *fake)
{
    return fake->request_count;
}

const bbo_fake_request *bbo_fake_request_at(const bbo_fake *fake, size_t index)
{
    return index < fake->request_count ? &fake->requests[index] : NULL;
}

const bbo_fake_request *bbo_fake_last_request(const bbo_fake *fake)
{
    return fake->request_count ? &fake->requests[fake->request_count - 1] : NULL;
}

const char *bbo_fake_request_header(const bbo_fake_request *req, const char *name)
{
    size_t i;

    for (i = 0; req && i < req->header_count; i++)
        if (strcasecmp(req->header_names[i], name) == 0)
            return req->header_values[i];
    return NULL;
}

size_t bbo_fake_request_header_occurrences(const bbo_fake_request *req, const char *name)
{
    size_t i, n = 0;

    for (i = 0; req && i < req->header_count; i++)
        if (strcasecmp(req->header_names[i], name) == 0)
            n++;
    return n;
}
