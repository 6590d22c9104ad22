/*
 * Benchmarks. Each operation is timed against a baseline measured in the
 * same process on the same data, and reported as a ratio (how many times
 * the baseline's cost), so results compare across machines. No limits are
 * asserted: this reports, it does not judge.
 *
 *   meson test -C build --benchmark --verbose     (or run build/tests/bench/bench)
 */
#include <bboauth.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    report("token parse (2.6 KB answer)", op_token_parse, base_yajl_tree, "yajl_tree_parse", &p);
    report("scopes covers (with implications)", op_scopes_covers, base_strcmp,
           "plain strcmp matrix", &s);
    report("authorization begin (state+PKCE+URL)", op_authorization_begin, base_pkce,
           "one PKCE challenge", consumer);
    report("session access_token (not due)", op_access_token, base_token_dup, "bbo_token_dup",
           &ss);
    bbo_session_free(ss.session);
    bbo_token_free(ss.token);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    bbo_scopes_free(s.granted);
    bbo_scopes_free(s.required);
    return 0;
}
