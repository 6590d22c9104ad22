/*
 * Benchmarks. Each operation is timed against a baseline measured in the
 * same process on the same data, and reported as a ratio (how many times
 * the baseline's cost), so results compare across machines. No limits are
 * asserted: this reports, it does not judge.
 *
 *   meson test -C build --benchmark --verbose     (or run build/tests/bench/bench)
 */
#include <bboauth.h>
#include "testutil.h" /* bbo_test_remove_tree */

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef void (*op_fn)(void *ctx);

/* Seconds per call, running `op` for at least 0.2 s. */
static double per_call(op_fn op, void *ctx)
{
    long n = 0, batch = 16;
    double start = now_s(), elapsed;

    do {
        long i;

        for (i = 0; i < batch; i++)
            op(ctx);
        n += batch;
        batch *= 2;
        elapsed = now_s() - start;
    } while (elapsed < 0.2);
    return elapsed / (double)n;
}

static void report(const char *name, op_fn op, op_fn baseline, const char *baseline_name,
                   void *ctx)
{
    double base = per_call(baseline, ctx), t = per_call(op, ctx);

    printf("%-38s %9.2f us/call  %6.2fx %s\n", name, t * 1e6, t / base, baseline_name);
}

/* Like report, in nanoseconds, with the baseline on its own context. */
static void report_ns(const char *name, op_fn op, op_fn baseline, const char *baseline_name,
                      void *ctx, void *baseline_ctx)
{
    double base = per_call(baseline, baseline_ctx), t = per_call(op, ctx);

    printf("  %-42s %7.0f ns/call  %6.2fx %s (%.0f ns)\n", name, t * 1e9, t / base,
           baseline_name, base * 1e9);
}

static int compare_seconds(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Seconds per call of `op` and `base` (medians) and the median ratio of
 * adjacent blocks of `n` calls over 51 rounds, the order alternating, so
 * load that comes and goes on the machine hits both alike. */
static double alternating(op_fn op, void *ctx, op_fn base, void *base_ctx, long n,
                          double *op_s, double *base_s)
{
    enum { ROUNDS = 51 };
    double t_op[ROUNDS], t_base[ROUNDS], ratio[ROUNDS], start;
    long i;
    int r, k;

    for (i = 0; i < n; i++) { /* warm */
        op(ctx);
        base(base_ctx);
    }
    for (r = 0; r < ROUNDS; r++) {
        for (k = 0; k < 2; k++) {
            bool do_op = (r + k) % 2 == 0;

            start = now_s();
            for (i = 0; i < n; i++) {
                if (do_op)
                    op(ctx);
                else
                    base(base_ctx);
            }
            *(do_op ? &t_op[r] : &t_base[r]) = (now_s() - start) / (double)n;
        }
        ratio[r] = t_op[r] / t_base[r];
    }
    qsort(t_op, ROUNDS, sizeof(double), compare_seconds);
    qsort(t_base, ROUNDS, sizeof(double), compare_seconds);
    qsort(ratio, ROUNDS, sizeof(double), compare_seconds);
    *op_s = t_op[ROUNDS / 2];
    *base_s = t_base[ROUNDS / 2];
    return ratio[ROUNDS / 2];
}

/* ---- token answer parsing vs yajl's tree parser on the same body ------ */

typedef struct parse_ctx {
    char json[8192];
    size_t len;
} parse_ctx;

static void op_token_parse(void *c)
{
    parse_ctx *p = c;
    bbo_token *t = NULL;

    if (bbo_token_parse(&t, p->json, p->len, 1000) != BBO_OK)
        abort();
    bbo_token_free(t);
}

static void base_yajl_tree(void *c)
{
    parse_ctx *p = c;
    char err[128];
    yajl_val v = yajl_tree_parse(p->json, err, sizeof(err)); /* needs NUL: json is */

    if (!v)
        abort();
    yajl_tree_free(v);
}

/* ---- scope checks vs strcmp over the same words ------------------------ */

typedef struct scope_ctx {
    bbo_scopes *granted, *required;
} scope_ctx;

static void op_scopes_covers(void *c)
{
    scope_ctx *s = c;

    if (!bbo_scopes_covers(s->granted, s->required))
        abort();
}

static volatile int sink;

static void base_strcmp(void *c)
{
    scope_ctx *s = c;
    size_t i, j;
    int hits = 0;

    for (i = 0; i < bbo_scopes_count(s->required); i++)
        for (j = 0; j < bbo_scopes_count(s->granted); j++)
            hits += strcmp(bbo_scopes_at(s->required, i), bbo_scopes_at(s->granted, j)) == 0;
    sink = hits;
}

/* ---- authorization begin vs one PKCE challenge ------------------------- */

static void op_authorization_begin(void *c)
{
    bbo_authorization *a = NULL;

    if (bbo_authorization_begin(&a, c) != BBO_OK)
        abort();
    bbo_authorization_free(a);
}

static void base_pkce(void *c)
{
    char *ch = NULL;

    (void)c;
    if (bbo_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &ch) != BBO_OK)
        abort();
    bbo_free(ch);
}

/* ---- session access_token (cached, not due) vs bbo_token_dup ----------- */

typedef struct session_ctx {
    bbo_session *session;
    bbo_token *token;
} session_ctx;

static void op_access_token(void *c)
{
    session_ctx *s = c;
    char *a = NULL;

    if (bbo_session_access_token(s->session, &a) != BBO_OK)
        abort();
    bbo_free(a);
}

static void base_token_dup(void *c)
{
    session_ctx *s = c;
    bbo_token *t = NULL;

    if (bbo_token_dup(&t, s->token) != BBO_OK)
        abort();
    bbo_token_free(t);
}


/* ---- access_token from 1 and 32 threads vs mutex+strdup ---------------- */

#define BATCH 2000

typedef struct thread_arg {
    op_fn op;
    void *ctx;
    int batches;
    pthread_barrier_t *start;
} thread_arg;

static void *thread_run(void *p)
{
    thread_arg *a = p;
    int b, i;

    pthread_barrier_wait(a->start);
    for (b = 0; b < a->batches; b++)
        for (i = 0; i < BATCH; i++)
            a->op(a->ctx);
    return NULL;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Wall nanoseconds per call with `threads` threads calling `op` at once
 * (all calls of all threads over the elapsed time): median of 7 runs. */
static double threaded_ns(op_fn op, void *ctx, int threads, int batches)
{
    pthread_t tid[64];
    thread_arg arg;
    pthread_barrier_t start;
    double runs[7];
    int r, t;

    for (r = 0; r < 7; r++) {
        double t0;

        pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
        arg.op = op;
        arg.ctx = ctx;
        arg.batches = batches;
        arg.start = &start;
        for (t = 0; t < threads; t++)
            if (pthread_create(&tid[t], NULL, thread_run, &arg) != 0)
                abort();
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        runs[r] = (now_s() - t0) * 1e9 / ((double)threads * batches * BATCH);
        pthread_barrier_destroy(&start);
    }
    qsort(runs, 7, sizeof(double), compare_double);
    return runs[3];
}

/* ---- many grants per process: memory per idle session, cached access
 * token cost against a mutex + strdup, independence from the count ------ */

#define GRANTS 10000

/* Every allocation the library makes, counted (single-threaded here). */
static size_t live_bytes, live_blocks, heap_bytes;

static void *count_alloc(size_t size, void *payload)
{
    size_t *block = malloc(size + 16);

    (void)payload;
    if (!block)
        return NULL;
    block[0] = size;
    live_bytes += size;
    live_blocks++;
    heap_bytes += malloc_usable_size(block) + sizeof(size_t); /* glibc chunk header */
    return (char *)block + 16;
}

static void count_release(void *ptr, void *payload)
{
    size_t *block = (size_t *)((char *)ptr - 16);

    (void)payload;
    live_bytes -= block[0];
    live_blocks--;
    heap_bytes -= malloc_usable_size(block) + sizeof(size_t);
    free(block);
}

typedef struct baseline_ctx {
    pthread_mutex_t lock;
    const char *access;
} baseline_ctx;

/* What a cache of one string costs at the least: lock, copy, unlock, free. */
static void base_mutex_strdup(void *c)
{
    baseline_ctx *b = c;
    char *copy;

    pthread_mutex_lock(&b->lock);
    copy = strdup(b->access);
    pthread_mutex_unlock(&b->lock);
    if (!copy)
        abort();
    sink = copy[0];
    free(copy);
}

typedef struct many_ctx {
    bbo_session *sessions[GRANTS];
    size_t next;
} many_ctx;

/* The baseline of the cold case: mutex+strdup over 10,000 separate copies
 * of a token, in turn, so both miss the caches alike. */
typedef struct many_baseline {
    pthread_mutex_t lock;
    char *copies[GRANTS];
    size_t next;
} many_baseline;

static void base_mutex_strdup_many(void *c)
{
    many_baseline *b = c;
    char *copy;

    pthread_mutex_lock(&b->lock);
    copy = strdup(b->copies[b->next]);
    pthread_mutex_unlock(&b->lock);
    if (!copy)
        abort();
    b->next = (b->next + 1) % GRANTS;
    sink = copy[0];
    free(copy);
}

/* access_token on each of the 10,000 sessions in turn (cold caches). */
static void op_access_token_many(void *c)
{
    many_ctx *m = c;
    char *a = NULL;

    if (bbo_session_access_token(m->sessions[m->next], &a) != BBO_OK)
        abort();
    m->next = (m->next + 1) % GRANTS;
    bbo_free(a);
}

static void op_access_token_one(void *c)
{
    many_ctx *m = c;
    char *a = NULL;

    if (bbo_session_access_token(m->sessions[0], &a) != BBO_OK)
        abort();
    bbo_free(a);
}

/* 10,000 sessions, each with its token (`access_len` characters) and a
 * file store of its own, sharing one client. Returns 0 or 1. */
static int many_sessions(size_t access_len, int timings)
{
    static many_ctx m;
    static many_baseline mb;
    bbo_allocator counting = { BBO_ALLOCATOR_VERSION, count_alloc, count_release, NULL };
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_scopes *scopes = NULL;
    char dir[256], path[512], *text = malloc(access_len + 1);
    size_t bytes0, blocks0, heap0, i;
    double first = 0, last = 0, free_first = 0, free_last = 0;
    baseline_ctx b;
    int rc = 1;

    if (!text || access_len < 12 || bbo_global_set_allocator(&counting) != BBO_OK)
        return 1;
    memset(text, 'A', access_len);
    text[access_len] = '\0';
    snprintf(dir, sizeof(dir), "%s/bbo-bench-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"); /* tmpfs: no fsync cost */
    if (!mkdtemp(dir) ||
        bbo_scopes_parse(&scopes, "account pullrequest:write") != BBO_OK ||
        bbo_consumer_new(&consumer, "bench-key", "bench-secret") != BBO_OK ||
        bbo_client_new(&client, consumer) != BBO_OK)
        goto done;
    bytes0 = live_bytes;
    blocks0 = live_blocks;
    heap0 = heap_bytes;
    memset(&m, 0, sizeof(m));
    for (i = 0; i < GRANTS; i++) {
        bbo_token *token = NULL;
        bbo_store *store = NULL;
        double start = now_s();

        char number[16];

        snprintf(number, sizeof(number), "%011zu", i); /* a distinct token each */
        memcpy(text, number, 11);
        snprintf(path, sizeof(path), "%s/grant-%05zu.token", dir, i);
        if (bbo_token_new(&token, text, "r3fr35h-token-of-this-grant", "bearer",
                          (int64_t)time(NULL) + 7200, scopes) != BBO_OK ||
            bbo_session_new(&m.sessions[i], client, token) != BBO_OK ||
            bbo_file_store_new(&store, path, NULL) != BBO_OK ||
            bbo_session_set_store(m.sessions[i], store) != BBO_OK) {
            fprintf(stderr, "session %zu: %s\n", i, bbo_error_message(bbo_error_last()));
            goto done;
        }
        if (i < 1000)
            first += now_s() - start;
        else if (i >= GRANTS - 1000)
            last += now_s() - start;
    }
    printf("%zu idle sessions (access token %zu chars, file store each, one shared client):\n",
           (size_t)GRANTS, access_len);
    printf("  %8.0f bytes and %.1f blocks per session asked of the allocator; %.0f bytes of "
           "heap (malloc_usable_size)\n",
           (double)(live_bytes - bytes0) / GRANTS, (double)(live_blocks - blocks0) / GRANTS,
           (double)(heap_bytes - heap0) / GRANTS);
    if (timings) {
        printf("  creating session + file store: %.1f us each for the first 1000, %.1f us for "
               "the last 1000\n", first * 1e6 / 1000, last * 1e6 / 1000);
        pthread_mutex_init(&b.lock, NULL);
        pthread_mutex_init(&mb.lock, NULL);
        b.access = text;
        m.next = 0;
        for (i = 0; i < GRANTS; i++)
            if ((mb.copies[i] = strdup(text)) == NULL)
                abort();
        report_ns("session access_token, 1 of 10,000 in turn", op_access_token_many,
                  base_mutex_strdup_many, "mutex+strdup, 1 of 10,000", &m, &mb);
        for (i = 0; i < GRANTS; i++)
            free(mb.copies[i]);
        pthread_mutex_destroy(&mb.lock);
        report_ns("session access_token, always the same one", op_access_token_one,
                  base_mutex_strdup, "mutex+strdup", &m, &b);
        pthread_mutex_destroy(&b.lock);
    }
    rc = 0;
done:
    for (i = 0; i < GRANTS; i++) {
        double start = now_s();

        bbo_session_free(m.sessions[i]);
        m.sessions[i] = NULL;
        if (i < 1000)
            free_first += now_s() - start;
        else if (i >= GRANTS - 1000)
            free_last += now_s() - start;
    }
    if (timings && rc == 0)
        printf("  freeing: %.1f us each for the first 1000, %.1f us for the last 1000\n",
               free_first * 1e6 / 1000, free_last * 1e6 / 1000);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    bbo_scopes_free(scopes);
    if (live_blocks != 0) {
        fprintf(stderr, "%zu blocks still allocated\n", live_blocks);
        rc = 1;
    }
    bbo_global_set_allocator(NULL);
    bbo_test_remove_tree(dir);
    free(text);
    return rc;
}

int main(void)
{
    parse_ctx p;
    scope_ctx s;
    session_ctx ss;
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_token *token = NULL;
    char access[2601];

    memset(access, 'A', sizeof(access) - 1);
    access[sizeof(access) - 1] = '\0';
    p.len = (size_t)snprintf(p.json, sizeof(p.json),
                             "{\"access_token\":\"%s\",\"scope\":\"repository account "
                             "pullrequest:write\",\"expires_in\":7200,\"token_type\":\"bearer\","
                             "\"state\":\"refresh_token\",\"refresh_token\":\"r3fr35h\"}", access);
    if (bbo_scopes_parse(&s.granted, "account pullrequest:write project:admin issue:write "
                                     "snippet:write pipeline:write") != BBO_OK ||
        bbo_scopes_parse(&s.required, "account repository pullrequest issue snippet") != BBO_OK ||
        bbo_consumer_new(&consumer, "bench-key", "bench-secret") != BBO_OK ||
        bbo_consumer_set_callback_url(consumer, "http://127.0.0.1/callback") != BBO_OK ||
        bbo_consumer_set_scopes(consumer, s.required) != BBO_OK ||
        bbo_client_new(&client, consumer) != BBO_OK ||
        bbo_token_new(&token, access, "r3fr35h", "bearer", (int64_t)time(NULL) + 7200,
                      s.granted) != BBO_OK ||
        bbo_token_dup(&ss.token, token) != BBO_OK ||
        bbo_session_new(&ss.session, client, token) != BBO_OK) {
        fprintf(stderr, "bench setup failed: %s\n", bbo_error_message(bbo_error_last()));
        return 1;
    }
    printf("bboauth %s benchmarks (ratio = cost / baseline's cost, same process)\n",
           bbo_version());
    {
        double t, base, ratio = alternating(op_token_parse, &p, base_yajl_tree, &p, 200, &t, &base);

        printf("%-38s %9.2f us/call  %6.2fx %s\n", "token parse (2.6 KB answer)", t * 1e6,
               ratio, "yajl_tree_parse");
        printf("ROW parse | token answer parse (2.8 KB) | %.2f us | yajl_tree_parse: %.2f us | "
               "%.2f faster | >= 1.5 faster\n", t * 1e6, base * 1e6, 1 / ratio);
    }
    report("scopes covers (with implications)", op_scopes_covers, base_strcmp,
           "plain strcmp matrix", &s);
    {
        double t, base,
            ratio = alternating(op_authorization_begin, consumer, base_pkce, NULL, 200, &t, &base);

        printf("%-38s %9.2f us/call  %6.2fx %s\n", "authorization begin (state+PKCE+URL)",
               t * 1e6, ratio, "one PKCE challenge");
        printf("ROW authorize | bbo_authorization_begin | %.2f us | one PKCE challenge: %.2f us | "
               "%.2f | < 10 us\n", t * 1e6, base * 1e6, ratio);
    }
    report("session access_token (not due)", op_access_token, base_token_dup, "bbo_token_dup",
           &ss);
    {
        baseline_ctx b;
        int threads[2] = { 1, 32 }, i, batches = getenv("BENCH_SMOKE") &&
                                                   strcmp(getenv("BENCH_SMOKE"), "1") == 0 ? 1 : 20;

        pthread_mutex_init(&b.lock, NULL);
        b.access = access;
        for (i = 0; i < 2; i++) {
            double t, base, ratio;

            if (threads[i] == 1) {
                ratio = alternating(op_access_token, &ss, base_mutex_strdup, &b, 20000, &t, &base);
                t *= 1e9;
                base *= 1e9;
            } else {
                t = threaded_ns(op_access_token, &ss, threads[i], batches);
                base = threaded_ns(base_mutex_strdup, &b, threads[i], batches);
                ratio = t / base;
            }

            printf("session access_token, %2d threads: %.0f ns/call (all threads), mutex+strdup "
                   "%.0f ns\n", threads[i], t, base);
            printf("ROW access-%d | bbo_session_access_token, fresh 2.6 KB token, %d thread%s "
                   "(wall ns per call) | %.0f ns | mutex+strdup+free: %.0f ns | %.2f | %s\n",
                   threads[i], threads[i], threads[i] > 1 ? "s" : "", t, base, ratio,
                   threads[i] == 1 ? "<= 100 ns" : "no global lock");
        }
        pthread_mutex_destroy(&b.lock);
    }
    bbo_session_free(ss.session);
    bbo_token_free(ss.token);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    bbo_scopes_free(s.granted);
    bbo_scopes_free(s.required);
    /* the counting allocator goes in while nothing of the library is alive */
    if (many_sessions(2600, 1) != 0 || many_sessions(200, 0) != 0) {
        fprintf(stderr, "many-sessions bench failed\n");
        return 1;
    }
    return 0;
}
