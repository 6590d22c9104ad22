/*
 * Mandatory scopes and scope explanations: bbo_scopes_to_permissions,
 * bbo_consumer_require_scopes, the check on every grant of the client
 * (exchange, refresh: the token is kept; client credentials), and
 * invalid_scope from the token endpoint and the authorize redirect, all
 * through the fake transport.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "fake_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "key123"
#define SECRET "secret456"
#define CALLBACK "http://127.0.0.1/callback"
#define T0 1700000000

#define TOKEN_WITH(scopes)                                                                         \
    "{\"access_token\":\"at-new\",\"token_type\":\"bearer\",\"expires_in\":7200,"                \
    "\"refresh_token\":\"rt-new\",\"scope\":\"" scopes "\"}"
#define TOKEN_NO_SCOPE                                                                             \
    "{\"access_token\":\"at-new\",\"token_type\":\"bearer\",\"expires_in\":7200,"                \
    "\"refresh_token\":\"rt-new\"}"
#define INVALID_SCOPE                                                                              \
    "{\"error\":\"invalid_scope\",\"error_description\":\"These requested scopes are beyond "   \
    "the OAuth client's own scopes: team\"}"

static bbo_scopes *scopes(const char *text)
{
    bbo_scopes *s = NULL;

    assert_rc(bbo_scopes_parse(&s, text), BBO_OK);
    return s;
}

static void assert_permissions(const char *text, int data_center, const char *expected)
{
    bbo_scopes *s = scopes(text);
    char *out = NULL;

    assert_rc(bbo_scopes_to_permissions(s, data_center, &out), BBO_OK);
    if (strcmp(out, expected) != 0)
        fail_msg("\"%s\" (data_center %d): got \"%s\", expected \"%s\"", text, data_center, out,
                 expected);
    bbo_free(out);
    bbo_scopes_free(s);
}

static void assert_message_has(const char *needle)
{
    const char *msg = bbo_error_message(bbo_error_last());

    if (!strstr(msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

static void assert_message_clean(void)
{
    const char *msg = bbo_error_message(bbo_error_last());

    assert_null(strstr(msg, SECRET));
    assert_null(strstr(msg, "at-new"));
    assert_null(strstr(msg, "rt-new"));
    assert_null(strstr(msg, "rt-old"));
}

/* ------------------------------------------------------------------ */

static void test_permissions_cloud(void **state)
{
    (void)state;
    assert_permissions("", 0, "");
    assert_permissions("account pullrequest:write", 0, "Account: Read, Pull requests: Write");
    /* the form ticks what a permission implies: only the top ones */
    assert_permissions("pullrequest:write repository:write repository pullrequest account", 0,
                       "Account: Read, Pull requests: Write");
    assert_permissions("account:write account email", 0, "Account: Email, Account: Write");
    assert_permissions("project:write", 0, "Projects: Write");
    assert_permissions("project:write project:admin", 0, "Projects: Admin");
    assert_permissions("project repository", 0, "Projects: Read");
    assert_permissions("runner:write pipeline:variable webhook snippet:write wiki issue:write "
                       "repository:delete repository:admin team:write",
                       0,
                       "Workspace membership: Write, Repositories: Admin, Repositories: Delete, "
                       "Issues: Write, Wikis: Read and write, Snippets: Write, "
                       "Webhooks: Read and write, Pipelines: Edit variables, Runners: Write");
    assert_permissions("pipeline:write pipeline runner team snippet issue", 0,
                       "Workspace membership: Read, Issues: Read, Snippets: Read, "
                       "Pipelines: Write, Runners: Read");
    /* unknown scopes by name, last */
    assert_permissions("zzz account aaa", 0, "Account: Read, aaa, zzz");
    /* Data Center scopes are not on the Cloud form */
    assert_permissions("REPO_READ", 0, "REPO_READ");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_permissions_data_center(void **state)
{
    bbo_scopes *s = scopes("account");
    char *out = NULL;

    (void)state;
    assert_permissions("REPO_WRITE REPO_READ", 1, "Repositories: Write");
    assert_permissions("ACCOUNT_WRITE REPO_READ", 1, "Account: Write, Repositories: Read");
    assert_permissions("PROJECT_ADMIN REPO_WRITE", 1, "Projects: Admin");
    assert_permissions("SYSTEM_ADMIN", 1, "System admin");
    assert_permissions("ADMIN_WRITE", 1, "Admin: Write");
    assert_permissions("REPO_ADMIN", 1, "Repositories: Admin");
    assert_permissions("PUBLIC_REPOS", 1, "Public repositories (no scope ticked)");
    assert_permissions("account", 1, "account");
    assert_rc(bbo_scopes_to_permissions(NULL, 0, &out), BBO_EINVAL);
    assert_rc(bbo_scopes_to_permissions(s, 0, NULL), BBO_EINVAL);
    bbo_scopes_free(s);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_require_scopes_config(void **state)
{
    bbo_consumer *c = NULL, *copy = NULL;
    bbo_scopes *req = scopes("account pullrequest:write"), *empty = scopes("");
    char *text = NULL;

    (void)state;
    assert_rc(bbo_consumer_require_scopes(NULL, req), BBO_EINVAL);
    assert_rc(bbo_consumer_new(&c, KEY, SECRET), BBO_OK);
    assert_null(bbo_consumer_required_scopes(c));
    assert_null(bbo_consumer_required_scopes(NULL));
    assert_rc(bbo_consumer_require_scopes(c, req), BBO_OK);
    bbo_scopes_free(req); /* copied */
    assert_rc(bbo_scopes_to_string(bbo_consumer_required_scopes(c), &text), BBO_OK);
    assert_string_equal(text, "account pullrequest:write");
    bbo_free(text);
    assert_rc(bbo_consumer_dup(&copy, c), BBO_OK);
    assert_rc(bbo_scopes_to_string(bbo_consumer_required_scopes(copy), &text), BBO_OK);
    assert_string_equal(text, "account pullrequest:write");
    bbo_free(text);
    /* an empty set or NULL requires nothing */
    assert_rc(bbo_consumer_require_scopes(c, empty), BBO_OK);
    assert_null(bbo_consumer_required_scopes(c));
    assert_rc(bbo_consumer_require_scopes(copy, NULL), BBO_OK);
    assert_null(bbo_consumer_required_scopes(copy));
    bbo_scopes_free(empty);
    bbo_consumer_free(c);
    bbo_consumer_free(copy);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* ------------------------------------------------------------------ */

typedef struct fixture {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_fake *fake;
} fixture;

/* A consumer asking for `asked` (NULL: nothing) and requiring `required`
 * (NULL: nothing); `dc`: a Data Center consumer. */
static void fx_init(fixture *fx, const char *asked, const char *required, int dc)
{
    bbo_transport t;

    memset(fx, 0, sizeof(*fx));
    assert_rc(bbo_consumer_new(&fx->consumer, KEY, SECRET), BBO_OK);
    assert_rc(bbo_consumer_set_callback_url(fx->consumer, CALLBACK), BBO_OK);
    if (dc)
        assert_rc(bbo_consumer_use_data_center(fx->consumer, "https://bitbucket.example.com"),
                  BBO_OK);
    if (asked) {
        bbo_scopes *s = scopes(asked);

        assert_rc(bbo_consumer_set_scopes(fx->consumer, s), BBO_OK);
        bbo_scopes_free(s);
    }
    if (required) {
        bbo_scopes *s = scopes(required);

        assert_rc(bbo_consumer_require_scopes(fx->consumer, s), BBO_OK);
        bbo_scopes_free(s);
    }
    assert_rc(bbo_client_new(&fx->client, fx->consumer), BBO_OK);
    fx->fake = bbo_fake_new();
    bbo_fake_transport(fx->fake, &t);
    assert_rc(bbo_client_set_transport(fx->client, &t), BBO_OK);
}

static void fx_done(fixture *fx)
{
    bbo_client_free(fx->client);
    bbo_fake_free(fx->fake);
    bbo_consumer_free(fx->consumer);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* Exchange a code on a fresh transaction; returns the client's result. */
static int exchange(fixture *fx, bbo_token **out)
{
    bbo_authorization *auth = NULL;
    int rc;

    if ((rc = bbo_authorization_begin(&auth, fx->consumer)) < 0)
        return rc;
    rc = bbo_client_exchange_code(fx->client, auth, "the-code", out);
    bbo_authorization_free(auth);
    return rc;
}

static bbo_token *old_token(const char *granted)
{
    bbo_token *tok = NULL;
    bbo_scopes *s = scopes(granted);

    assert_rc(bbo_token_new(&tok, "at-old", "rt-old", NULL, T0 - 10, s), BBO_OK);
    bbo_scopes_free(s);
    return tok;
}

static void test_exchange_missing(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;

    (void)state;
    fx_init(&fx, NULL, "account pullrequest:write", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("account repository"));
    assert_rc(exchange(&fx, &tok), BBO_ESCOPE);
    assert_null(tok);
    assert_message_has("Pull requests: Write [pullrequest:write]");
    assert_message_has("Workspace settings > OAuth consumers > the consumer > Edit > Permissions");
    assert_message_has("log in again");
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Account: Read"));
    assert_message_clean();
    assert_int_equal(bbo_fake_request_count(fx.fake), 1);

    /* both missing: both named, in the form's order */
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("repository"));
    assert_rc(exchange(&fx, &tok), BBO_ESCOPE);
    assert_message_has("Account: Read, Pull requests: Write [account pullrequest:write]");
    fx_done(&fx);
}

static void test_exchange_covered(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;

    (void)state;
    /* implications count: pullrequest:write gives pullrequest and repository */
    fx_init(&fx, NULL, "account pullrequest repository:write", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("account pullrequest:write"));
    assert_rc(exchange(&fx, &tok), BBO_OK);
    assert_string_equal(bbo_token_access(tok), "at-new");
    bbo_token_free(tok);
    tok = NULL;
    /* the legacy "scopes" field counts as well */
    bbo_fake_push_json(fx.fake, 200,
                       "{\"access_token\":\"at-new\",\"token_type\":\"bearer\","
                       "\"scopes\":\"account pullrequest:write\"}");
    assert_rc(exchange(&fx, &tok), BBO_OK);
    bbo_token_free(tok);
    fx_done(&fx);

    /* nothing required: anything goes */
    fx_init(&fx, NULL, NULL, 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_NO_SCOPE);
    assert_rc(exchange(&fx, &tok), BBO_OK);
    bbo_token_free(tok);
    fx_done(&fx);
}

/* An answer without scope: what was asked for was granted (RFC 6749 5.1). */
static void test_exchange_no_scope_in_answer(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;

    (void)state;
    fx_init(&fx, "account pullrequest:write", "account", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_NO_SCOPE);
    assert_rc(exchange(&fx, &tok), BBO_OK);
    bbo_token_free(tok);
    tok = NULL;
    fx_done(&fx);

    fx_init(&fx, NULL, "account", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_NO_SCOPE);
    assert_rc(exchange(&fx, &tok), BBO_ESCOPE);
    assert_null(tok);
    assert_message_has("Account: Read [account]");
    fx_done(&fx);
}

static void test_exchange_data_center(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;

    (void)state;
    fx_init(&fx, "REPO_READ", "REPO_WRITE ACCOUNT_WRITE", 1);
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("REPO_READ ACCOUNT_WRITE"));
    assert_rc(exchange(&fx, &tok), BBO_ESCOPE);
    assert_null(tok);
    assert_message_has("Repositories: Write [REPO_WRITE]");
    assert_message_has("incoming application link");
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Workspace settings"));
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("REPO_ADMIN ACCOUNT_WRITE"));
    assert_rc(exchange(&fx, &tok), BBO_OK);
    bbo_token_free(tok);
    fx_done(&fx);
}

/* A refresh that lacks a scope still hands out the rotated token. */
static void test_refresh_missing_keeps_token(void **state)
{
    fixture fx;
    bbo_token *old = old_token("account pullrequest:write"), *tok = NULL;

    (void)state;
    fx_init(&fx, NULL, "account pullrequest:write", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("account"));
    assert_rc(bbo_client_refresh(fx.client, old, &tok), BBO_ESCOPE);
    assert_non_null(tok);
    assert_string_equal(bbo_token_access(tok), "at-new");
    assert_string_equal(bbo_token_refresh(tok), "rt-new");
    assert_message_has("Pull requests: Write [pullrequest:write]");
    assert_message_has("log in again");
    assert_message_clean();
    bbo_token_free(tok);
    tok = NULL;

    /* no scope in the answer: the previous token's scopes were kept */
    bbo_fake_push_json(fx.fake, 200, TOKEN_NO_SCOPE);
    assert_rc(bbo_client_refresh(fx.client, old, &tok), BBO_OK);
    bbo_token_free(tok);
    tok = NULL;
    bbo_token_free(old);
    old = old_token("account");
    bbo_fake_push_json(fx.fake, 200, TOKEN_NO_SCOPE);
    assert_rc(bbo_client_refresh(fx.client, old, &tok), BBO_ESCOPE);
    assert_non_null(tok);
    bbo_token_free(tok);
    tok = NULL;

    /* other failures still leave *out alone */
    bbo_fake_push_json(fx.fake, 400, "{\"error\":\"invalid_grant\"}");
    assert_rc(bbo_client_refresh(fx.client, old, &tok), BBO_EOAUTH);
    assert_null(tok);
    bbo_token_free(old);
    fx_done(&fx);
}

static void test_client_credentials_missing(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;

    (void)state;
    fx_init(&fx, NULL, "pullrequest:write", 0);
    bbo_fake_push_json(fx.fake, 200, TOKEN_WITH("pullrequest"));
    assert_rc(bbo_client_client_credentials(fx.client, &tok), BBO_ESCOPE);
    assert_null(tok);
    assert_message_has("Pull requests: Write");
    fx_done(&fx);
}

static void test_invalid_scope_token_endpoint(void **state)
{
    fixture fx;
    bbo_token *tok = NULL;
    const bbo_error *e;

    (void)state;
    fx_init(&fx, "account pullrequest:write team", NULL, 0);
    bbo_fake_push_json(fx.fake, 400, INVALID_SCOPE);
    assert_rc(bbo_client_client_credentials(fx.client, &tok), BBO_EOAUTH);
    assert_null(tok);
    e = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(e), "invalid_scope");
    assert_string_equal(bbo_error_description(e),
                        "These requested scopes are beyond the OAuth client's own scopes: team");
    assert_int_equal(bbo_error_http_status(e), 400);
    assert_message_has("invalid_scope: These requested scopes are beyond the OAuth client's "
                       "own scopes: team");
    assert_message_has("Account: Read, Workspace membership: Read, Pull requests: Write");
    assert_message_has("Workspace settings > OAuth consumers");
    assert_message_has("log in again");
    assert_message_clean();

    /* another OAuth error keeps its own message */
    bbo_fake_push_json(fx.fake, 400, "{\"error\":\"invalid_client\"}");
    assert_rc(bbo_client_client_credentials(fx.client, &tok), BBO_EOAUTH);
    assert_null(strstr(bbo_error_message(bbo_error_last()), "Workspace settings"));
    fx_done(&fx);
}

static void test_invalid_scope_redirect(void **state)
{
    bbo_consumer *c = NULL;
    bbo_authorization *a = NULL;
    bbo_scopes *s = scopes("account pullrequest:write");
    char callback[512], *code = NULL;
    const bbo_error *e;

    (void)state;
    assert_rc(bbo_consumer_new(&c, KEY, SECRET), BBO_OK);
    assert_rc(bbo_consumer_set_scopes(c, s), BBO_OK);
    assert_rc(bbo_authorization_begin(&a, c), BBO_OK);
    snprintf(callback, sizeof(callback),
             CALLBACK "?error=invalid_scope&error_description=beyond+the+consumer&state=%s",
             bbo_authorization_state(a));
    assert_rc(bbo_authorization_complete(a, callback, &code), BBO_EOAUTH);
    assert_null(code);
    e = bbo_error_last();
    assert_string_equal(bbo_error_oauth_code(e), "invalid_scope");
    assert_string_equal(bbo_error_description(e), "beyond the consumer");
    assert_message_has("(invalid_scope: beyond the consumer)");
    assert_message_has("Account: Read, Pull requests: Write [account pullrequest:write]");
    assert_message_has("Workspace settings > OAuth consumers > the consumer > Edit > Permissions");
    bbo_authorization_free(a);

    /* Data Center words and place */
    assert_rc(bbo_consumer_use_data_center(c, "https://bitbucket.example.com"), BBO_OK);
    bbo_scopes_free(s);
    s = scopes("REPO_WRITE");
    assert_rc(bbo_consumer_set_scopes(c, s), BBO_OK);
    assert_rc(bbo_authorization_begin(&a, c), BBO_OK);
    snprintf(callback, sizeof(callback), CALLBACK "?error=invalid_scope&state=%s",
             bbo_authorization_state(a));
    assert_rc(bbo_authorization_complete(a, callback, &code), BBO_EOAUTH);
    assert_message_has("Repositories: Write [REPO_WRITE]");
    assert_message_has("application link");
    assert_null(bbo_error_description(bbo_error_last()));
    bbo_authorization_free(a);
    bbo_scopes_free(s);
    bbo_consumer_free(c);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* ------------------------------------------------------------------ */

typedef struct torture_ctx {
    fixture fx;
    bbo_scopes *set;
    char *text;
    bbo_token *token;
} torture_ctx;

static int op_permissions(void *p)
{
    torture_ctx *ctx = p;

    return bbo_scopes_to_permissions(ctx->set, 0, &ctx->text);
}

static void cleanup_text(void *p)
{
    torture_ctx *ctx = p;

    bbo_free(ctx->text);
    ctx->text = NULL;
}

static int op_require(void *p)
{
    torture_ctx *ctx = p;

    return bbo_consumer_require_scopes(ctx->fx.consumer, ctx->set);
}

static void cleanup_require(void *p)
{
    torture_ctx *ctx = p;

    assert_rc(bbo_consumer_require_scopes(ctx->fx.consumer, NULL), BBO_OK);
}

/* The ESCOPE outcome is this op's success. */
static int op_exchange_escope(void *p)
{
    torture_ctx *ctx = p;
    int rc = exchange(&ctx->fx, &ctx->token);

    if (rc == BBO_ESCOPE) {
        assert_null(ctx->token);
        return BBO_OK;
    }
    return rc == BBO_OK ? BBO_EINVAL : rc;
}

static void test_oom(void **state)
{
    torture_ctx ctx;
    bbo_token *old;
    long n;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.set = scopes("pullrequest:write account repository zzz");
    bbo_test_oom_torture(op_permissions, cleanup_text, &ctx);

    fx_init(&ctx.fx, NULL, NULL, 0);
    bbo_test_oom_torture(op_require, cleanup_require, &ctx);
    bbo_scopes_free(ctx.set);
    fx_done(&ctx.fx);

    fx_init(&ctx.fx, NULL, "account pullrequest:write", 0);
    bbo_fake_set_repeat_last(ctx.fx.fake, 1);
    bbo_fake_push_json(ctx.fx.fake, 200, TOKEN_WITH("account"));
    bbo_test_oom_torture(op_exchange_escope, NULL, &ctx);

    /* a refresh: out of memory anywhere gives BBO_ENOMEM and no token, or
     * BBO_ESCOPE and the token (never the token lost after the answer) */
    old = old_token("account");
    for (n = 0;; n++) {
        int rc, failed;

        bbo_test_alloc_fail_after(n);
        rc = bbo_client_refresh(ctx.fx.client, old, &ctx.token);
        failed = bbo_test_alloc_failed();
        bbo_test_alloc_fail_after(-1);
        if (rc == BBO_ENOMEM) {
            assert_null(ctx.token);
            continue;
        }
        assert_int_equal(rc, BBO_ESCOPE);
        assert_non_null(ctx.token);
        assert_string_equal(bbo_token_refresh(ctx.token), "rt-new");
        bbo_token_free(ctx.token);
        ctx.token = NULL;
        if (!failed)
            break;
    }
    bbo_token_free(old);
    fx_done(&ctx.fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permissions_cloud),
        cmocka_unit_test(test_permissions_data_center),
        cmocka_unit_test(test_require_scopes_config),
        cmocka_unit_test(test_exchange_missing),
        cmocka_unit_test(test_exchange_covered),
        cmocka_unit_test(test_exchange_no_scope_in_answer),
        cmocka_unit_test(test_exchange_data_center),
        cmocka_unit_test(test_refresh_missing_keeps_token),
        cmocka_unit_test(test_client_credentials_missing),
        cmocka_unit_test(test_invalid_scope_token_endpoint),
        cmocka_unit_test(test_invalid_scope_redirect),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("required_scopes", tests, NULL, NULL);
}
