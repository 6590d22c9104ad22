/*
 * Scope sets: parsing, canonical order, the Cloud and Data Center
 * implication tables of BITBUCKET.md, and torture.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BBO_TEST_ARRAY(a) (sizeof(a) / sizeof((a)[0]))

static bbo_scopes *parse_ok(const char *text)
{
    bbo_scopes *set = NULL;

    assert_int_equal(bbo_scopes_parse(&set, text), BBO_OK);
    assert_non_null(set);
    return set;
}

/* The canonical string of a parsed text. */
static void assert_canonical(const char *text, const char *expected)
{
    bbo_scopes *set = parse_ok(text);
    char *s = NULL;

    assert_int_equal(bbo_scopes_to_string(set, &s), BBO_OK);
    assert_string_equal(s, expected);
    bbo_free(s);
    bbo_scopes_free(set);
}

static void assert_parse_fails(const char *text, int code)
{
    bbo_scopes *sentinel = (bbo_scopes *)&sentinel, *set = sentinel;

    assert_int_equal(bbo_scopes_parse(&set, text), code);
    assert_ptr_equal(set, sentinel); /* untouched on failure */
    assert_int_equal(bbo_error_code(bbo_error_last()), code);
}

static void test_parse_separators(void **state)
{
    (void)state;
    assert_canonical("account repository:write", "account repository:write");
    assert_canonical("account,repository:write", "account repository:write");
    assert_canonical("account\trepository:write", "account repository:write");
    assert_canonical("account\nrepository:write\r\n", "account repository:write");
    assert_canonical("  account , ,\t repository:write,,  pullrequest  ",
                     "account pullrequest repository:write");
    assert_canonical(",account,", "account");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_duplicates_folded(void **state)
{
    bbo_scopes *set;

    (void)state;
    set = parse_ok("account account,account\taccount pullrequest account");
    assert_int_equal(bbo_scopes_count(set), 2);
    assert_string_equal(bbo_scopes_at(set, 0), "account");
    assert_string_equal(bbo_scopes_at(set, 1), "pullrequest");
    assert_null(bbo_scopes_at(set, 2));
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_empty_and_blank(void **state)
{
    const char *texts[] = { "", " ", ",", " , \t\r\n,, " };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        bbo_scopes *set = parse_ok(texts[i]);
        char *s = NULL;

        assert_int_equal(bbo_scopes_count(set), 0);
        assert_null(bbo_scopes_at(set, 0));
        assert_int_equal(bbo_scopes_to_string(set, &s), BBO_OK);
        assert_string_equal(s, "");
        bbo_free(s);
        bbo_scopes_free(set);
    }
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_invalid_characters(void **state)
{
    (void)state;
    assert_parse_fails("account \"repository\"", BBO_EINVAL);
    assert_parse_fails("account repo\\sitory", BBO_EINVAL);
    assert_parse_fails("account\x01", BBO_EINVAL);
    assert_parse_fails("acc\x1bount", BBO_EINVAL);
    assert_parse_fails("account\x7f", BBO_EINVAL);
    assert_parse_fails("caf\xc3\xa9", BBO_EINVAL);
    assert_parse_fails("account\vpullrequest", BBO_EINVAL); /* VT is no separator */
    /* a good scope before the bad one is not leaked */
    assert_parse_fails("account pullrequest repository:write \"", BBO_EINVAL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_edge_characters_allowed(void **state)
{
    bbo_scopes *set;

    (void)state;
    /* RFC 6749 3.3: %x21 / %x23-5B / %x5D-7E */
    set = parse_ok("! # [ ] ~ a:b/c");
    assert_int_equal(bbo_scopes_count(set), 6);
    assert_string_equal(bbo_scopes_at(set, 0), "!");
    assert_string_equal(bbo_scopes_at(set, 1), "#");
    assert_string_equal(bbo_scopes_at(set, 2), "[");
    assert_string_equal(bbo_scopes_at(set, 3), "]");
    assert_string_equal(bbo_scopes_at(set, 4), "a:b/c");
    assert_string_equal(bbo_scopes_at(set, 5), "~");
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_parse_null(void **state)
{
    bbo_scopes *set = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_parse(NULL, "account"), BBO_EINVAL);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EINVAL);
    assert_int_equal(bbo_scopes_parse(&set, NULL), BBO_EINVAL);
    assert_null(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_canonical_order(void **state)
{
    (void)state;
    /* byte-wise: uppercase before lowercase, a prefix before its extensions,
     * '-' (0x2d) before ':' (0x3a) before letters */
    assert_canonical("repository:write pullrequest account REPO_READ PUBLIC_REPOS",
                     "PUBLIC_REPOS REPO_READ account pullrequest repository:write");
    assert_canonical("ab a:b a-b a", "a a-b a:b ab");
    assert_canonical("pullrequest:write pullrequest", "pullrequest pullrequest:write");
    assert_canonical("b B a A", "A B a b");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_count_at(void **state)
{
    bbo_scopes *set;

    (void)state;
    set = parse_ok("webhook email wiki");
    assert_int_equal(bbo_scopes_count(set), 3);
    assert_string_equal(bbo_scopes_at(set, 0), "email");
    assert_string_equal(bbo_scopes_at(set, 1), "webhook");
    assert_string_equal(bbo_scopes_at(set, 2), "wiki");
    assert_null(bbo_scopes_at(set, 3));
    assert_null(bbo_scopes_at(set, (size_t)-1));
    assert_int_equal(bbo_scopes_count(NULL), 0);
    assert_null(bbo_scopes_at(NULL, 0));
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_add(void **state)
{
    bbo_scopes *set = NULL;
    char *s = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_new(&set), BBO_OK);
    assert_int_equal(bbo_scopes_count(set), 0);
    assert_int_equal(bbo_scopes_add(set, "repository"), BBO_OK);
    assert_int_equal(bbo_scopes_add(set, "account"), BBO_OK);
    assert_int_equal(bbo_scopes_add(set, "zz"), BBO_OK);
    assert_int_equal(bbo_scopes_add(set, "account"), BBO_OK); /* no-op */
    assert_int_equal(bbo_scopes_count(set), 3);
    assert_int_equal(bbo_scopes_add(set, ""), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(set, "a b"), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(set, "a,b"), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(set, "a\tb"), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(set, "\"a\""), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(set, NULL), BBO_EINVAL);
    assert_int_equal(bbo_scopes_add(NULL, "account"), BBO_EINVAL);
    assert_int_equal(bbo_scopes_count(set), 3);
    assert_int_equal(bbo_scopes_to_string(set, &s), BBO_OK);
    assert_string_equal(s, "account repository zz");
    bbo_free(s);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_add_many_keeps_sorted(void **state)
{
    bbo_scopes *set = NULL;
    char name[16];
    int i;

    (void)state;
    assert_int_equal(bbo_scopes_new(&set), BBO_OK);
    /* 100 names inserted in a scrambled order grow the array several times */
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "s%03d", (i * 37) % 100);
        assert_int_equal(bbo_scopes_add(set, name), BBO_OK);
    }
    assert_int_equal(bbo_scopes_count(set), 100);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "s%03d", i);
        assert_string_equal(bbo_scopes_at(set, (size_t)i), name);
        assert_int_equal(bbo_scopes_has(set, name), 1);
    }
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_dup(void **state)
{
    bbo_scopes *set = parse_ok("account pullrequest:write"), *copy = NULL;
    char *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_dup(&copy, set), BBO_OK);
    assert_ptr_not_equal(copy, set);
    assert_int_equal(bbo_scopes_add(set, "email"), BBO_OK);
    assert_int_equal(bbo_scopes_to_string(set, &a), BBO_OK);
    assert_int_equal(bbo_scopes_to_string(copy, &b), BBO_OK);
    assert_string_equal(a, "account email pullrequest:write");
    assert_string_equal(b, "account pullrequest:write");
    assert_int_equal(bbo_scopes_dup(NULL, set), BBO_EINVAL);
    assert_int_equal(bbo_scopes_dup(&copy, NULL), BBO_EINVAL);
    bbo_free(a);
    bbo_free(b);
    bbo_scopes_free(copy);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* Every scope of the Cloud table with what granting it gives (itself
 * included), straight from BITBUCKET.md. */
typedef struct closure {
    const char *scope;
    const char *gives; /* space-separated */
} closure;

static const closure cloud[] = {
    { "repository", "repository" },
    { "repository:write", "repository:write repository" },
    { "repository:admin", "repository:admin" },
    { "repository:delete", "repository:delete" },
    { "pullrequest", "pullrequest repository" },
    { "pullrequest:write", "pullrequest:write pullrequest repository:write repository" },
    { "project", "project repository" },
    { "project:admin", "project:admin project:write" },
    { "project:write", "project:write project:admin" },
    { "issue", "issue" },
    { "issue:write", "issue:write issue" },
    { "snippet", "snippet" },
    { "snippet:write", "snippet:write snippet" },
    { "account", "account" },
    { "account:write", "account:write account" },
    { "team", "team" },
    { "team:write", "team:write team" },
    { "pipeline", "pipeline" },
    { "pipeline:write", "pipeline:write pipeline" },
    { "pipeline:variable", "pipeline:variable" },
    { "runner", "runner" },
    { "runner:write", "runner:write runner" },
    { "wiki", "wiki" },
    { "webhook", "webhook" },
    { "email", "email" },
};

static const closure data_center[] = {
    { "PUBLIC_REPOS", "PUBLIC_REPOS" },
    { "REPO_READ", "REPO_READ PUBLIC_REPOS" },
    { "REPO_WRITE", "REPO_WRITE REPO_READ PUBLIC_REPOS" },
    { "REPO_ADMIN", "REPO_ADMIN REPO_WRITE REPO_READ PUBLIC_REPOS" },
    { "PROJECT_ADMIN", "PROJECT_ADMIN REPO_ADMIN REPO_WRITE REPO_READ PUBLIC_REPOS" },
    { "ACCOUNT_WRITE", "ACCOUNT_WRITE" },
    { "ADMIN_WRITE", "ADMIN_WRITE PROJECT_ADMIN ACCOUNT_WRITE REPO_ADMIN REPO_WRITE REPO_READ "
                     "PUBLIC_REPOS" },
    { "SYSTEM_ADMIN", "SYSTEM_ADMIN ADMIN_WRITE PROJECT_ADMIN ACCOUNT_WRITE REPO_ADMIN "
                      "REPO_WRITE REPO_READ PUBLIC_REPOS" },
};

static int gives(const char *list, const char *scope)
{
    size_t n = strlen(scope);
    const char *p = list;

    while ((p = strstr(p, scope)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

/* Grant each row's scope alone; ask for every scope of both vocabularies. */
static void check_matrix(const closure *rows, size_t nrows)
{
    size_t i, j;

    for (i = 0; i < nrows; i++) {
        bbo_scopes *set = parse_ok(rows[i].scope);

        assert_int_equal(bbo_scope_is_known(rows[i].scope), 1);
        for (j = 0; j < BBO_TEST_ARRAY(cloud); j++) {
            int want = rows == cloud && gives(rows[i].gives, cloud[j].scope);

            if (bbo_scopes_has(set, cloud[j].scope) != want)
                fail_msg("granting %s %s %s", rows[i].scope,
                         want ? "should give" : "must not give", cloud[j].scope);
        }
        for (j = 0; j < BBO_TEST_ARRAY(data_center); j++) {
            int want = rows == data_center && gives(rows[i].gives, data_center[j].scope);

            if (bbo_scopes_has(set, data_center[j].scope) != want)
                fail_msg("granting %s %s %s", rows[i].scope,
                         want ? "should give" : "must not give", data_center[j].scope);
        }
        /* nothing implies an unknown scope or another case of a known one */
        assert_int_equal(bbo_scopes_has(set, "custom:thing"), 0);
        assert_int_equal(bbo_scopes_has(set, "REPOSITORY"), 0);
        assert_int_equal(bbo_scopes_has(set, "repo_read"), 0);
        assert_int_equal(bbo_scopes_has(set, ""), 0);
        bbo_scopes_free(set);
    }
}

static void test_cloud_implications(void **state)
{
    (void)state;
    check_matrix(cloud, BBO_TEST_ARRAY(cloud));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_cloud_implication_examples(void **state)
{
    bbo_scopes *set;

    (void)state;
    set = parse_ok("repository:write");
    assert_int_equal(bbo_scopes_has(set, "repository"), 1);
    assert_int_equal(bbo_scopes_has(set, "pullrequest"), 0);
    assert_int_equal(bbo_scopes_has(set, "repository:admin"), 0);
    bbo_scopes_free(set);

    set = parse_ok("repository:admin");
    assert_int_equal(bbo_scopes_has(set, "repository"), 0);
    assert_int_equal(bbo_scopes_has(set, "repository:write"), 0);
    assert_int_equal(bbo_scopes_has(set, "repository:delete"), 0);
    bbo_scopes_free(set);

    set = parse_ok("pullrequest:write");
    assert_int_equal(bbo_scopes_has(set, "repository"), 1);
    assert_int_equal(bbo_scopes_has(set, "repository:write"), 1);
    assert_int_equal(bbo_scopes_has(set, "pullrequest"), 1);
    assert_int_equal(bbo_scopes_has(set, "repository:admin"), 0);
    bbo_scopes_free(set);

    set = parse_ok("project:write");
    assert_int_equal(bbo_scopes_has(set, "project:admin"), 1);
    assert_int_equal(bbo_scopes_has(set, "project"), 0);
    assert_int_equal(bbo_scopes_has(set, "repository"), 0);
    bbo_scopes_free(set);

    set = parse_ok("project:admin");
    assert_int_equal(bbo_scopes_has(set, "project:write"), 1);
    assert_int_equal(bbo_scopes_has(set, "project"), 0);
    bbo_scopes_free(set);

    set = parse_ok("pipeline:variable");
    assert_int_equal(bbo_scopes_has(set, "pipeline"), 0);
    assert_int_equal(bbo_scopes_has(set, "pipeline:write"), 0);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_data_center_implications(void **state)
{
    bbo_scopes *set;

    (void)state;
    check_matrix(data_center, BBO_TEST_ARRAY(data_center));

    set = parse_ok("REPO_WRITE");
    assert_int_equal(bbo_scopes_has(set, "REPO_READ"), 1);
    assert_int_equal(bbo_scopes_has(set, "PUBLIC_REPOS"), 1);
    assert_int_equal(bbo_scopes_has(set, "REPO_ADMIN"), 0);
    bbo_scopes_free(set);

    set = parse_ok("PUBLIC_REPOS");
    assert_int_equal(bbo_scopes_has(set, "REPO_READ"), 0);
    bbo_scopes_free(set);

    set = parse_ok("SYSTEM_ADMIN");
    for (size_t i = 0; i < BBO_TEST_ARRAY(data_center); i++)
        assert_int_equal(bbo_scopes_has(set, data_center[i].scope), 1);
    /* the vocabularies do not mix */
    assert_int_equal(bbo_scopes_has(set, "repository"), 0);
    assert_int_equal(bbo_scopes_has(set, "account"), 0);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_implications_of_a_mixed_set(void **state)
{
    bbo_scopes *set;

    (void)state;
    set = parse_ok("account issue:write REPO_READ");
    assert_int_equal(bbo_scopes_has(set, "account"), 1);
    assert_int_equal(bbo_scopes_has(set, "issue"), 1);
    assert_int_equal(bbo_scopes_has(set, "PUBLIC_REPOS"), 1);
    assert_int_equal(bbo_scopes_has(set, "account:write"), 0);
    assert_int_equal(bbo_scopes_has(set, "REPO_WRITE"), 0);
    /* has() expands, count() does not */
    assert_int_equal(bbo_scopes_count(set), 3);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_unknown_scopes(void **state)
{
    bbo_scopes *set;
    char *s = NULL;

    (void)state;
    set = parse_ok("custom:thing account x-y");
    assert_int_equal(bbo_scopes_count(set), 3);
    assert_int_equal(bbo_scopes_has(set, "custom:thing"), 1);
    assert_int_equal(bbo_scopes_has(set, "custom"), 0);
    assert_int_equal(bbo_scopes_has(set, "x-y"), 1);
    assert_int_equal(bbo_scopes_to_string(set, &s), BBO_OK);
    assert_string_equal(s, "account custom:thing x-y");
    bbo_free(s);
    bbo_scopes_free(set);

    assert_int_equal(bbo_scope_is_known("custom:thing"), 0);
    assert_int_equal(bbo_scope_is_known("Account"), 0);
    assert_int_equal(bbo_scope_is_known("repo_write"), 0);
    assert_int_equal(bbo_scope_is_known("repository:"), 0);
    assert_int_equal(bbo_scope_is_known("repositor"), 0);
    assert_int_equal(bbo_scope_is_known(""), 0);
    assert_int_equal(bbo_scope_is_known(NULL), 0);
    assert_int_equal(bbo_scope_is_known("account"), 1);
    assert_int_equal(bbo_scope_is_known("project:write"), 1);
    assert_int_equal(bbo_scope_is_known("REPO_WRITE"), 1);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_has_null(void **state)
{
    bbo_scopes *set = parse_ok("account");

    (void)state;
    assert_int_equal(bbo_scopes_has(NULL, "account"), 0);
    assert_int_equal(bbo_scopes_has(set, NULL), 0);
    bbo_scopes_free(set);
    bbo_scopes_free(NULL);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_covers(void **state)
{
    bbo_scopes *granted = parse_ok("pullrequest:write account");
    bbo_scopes *req1 = parse_ok("repository account pullrequest repository:write");
    bbo_scopes *req2 = parse_ok("repository account pullrequest issue");
    bbo_scopes *empty = parse_ok("");

    (void)state;
    assert_int_equal(bbo_scopes_covers(granted, req1), 1);
    assert_int_equal(bbo_scopes_covers(granted, req2), 0);
    assert_int_equal(bbo_scopes_covers(granted, empty), 1);
    assert_int_equal(bbo_scopes_covers(empty, empty), 1);
    assert_int_equal(bbo_scopes_covers(empty, req1), 0);
    assert_int_equal(bbo_scopes_covers(req1, granted), 0);
    assert_int_equal(bbo_scopes_covers(NULL, req1), 0);
    assert_int_equal(bbo_scopes_covers(granted, NULL), 0);
    assert_int_equal(bbo_scopes_covers(NULL, NULL), 0);
    bbo_scopes_free(granted);
    bbo_scopes_free(req1);
    bbo_scopes_free(req2);
    bbo_scopes_free(empty);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_missing(void **state)
{
    bbo_scopes *granted = parse_ok("pullrequest:write account");
    bbo_scopes *required = parse_ok("repository account issue pullrequest email custom");
    bbo_scopes *sentinel = (bbo_scopes *)&sentinel, *missing = NULL;
    char *s = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_missing(granted, required, &missing), BBO_OK);
    assert_int_equal(bbo_scopes_to_string(missing, &s), BBO_OK);
    assert_string_equal(s, "custom email issue");
    assert_int_equal(bbo_scopes_count(missing), 3);
    bbo_free(s);
    bbo_scopes_free(missing);

    /* the other way round: pullrequest:write is not implied by its parts */
    missing = NULL;
    assert_int_equal(bbo_scopes_missing(required, granted, &missing), BBO_OK);
    assert_int_equal(bbo_scopes_count(missing), 1);
    assert_string_equal(bbo_scopes_at(missing, 0), "pullrequest:write");
    bbo_scopes_free(missing);

    missing = sentinel;
    assert_int_equal(bbo_scopes_missing(NULL, required, &missing), BBO_EINVAL);
    assert_int_equal(bbo_scopes_missing(granted, NULL, &missing), BBO_EINVAL);
    assert_ptr_equal(missing, sentinel);
    assert_int_equal(bbo_scopes_missing(granted, required, NULL), BBO_EINVAL);
    bbo_scopes_free(granted);
    bbo_scopes_free(required);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_missing_none(void **state)
{
    bbo_scopes *granted = parse_ok("SYSTEM_ADMIN");
    bbo_scopes *required = parse_ok("REPO_READ PUBLIC_REPOS ACCOUNT_WRITE");
    bbo_scopes *missing = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_missing(granted, required, &missing), BBO_OK);
    assert_non_null(missing);
    assert_int_equal(bbo_scopes_count(missing), 0);
    bbo_scopes_free(missing);
    bbo_scopes_free(granted);
    bbo_scopes_free(required);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_to_string_null(void **state)
{
    bbo_scopes *set = parse_ok("account");
    char *s = NULL;

    (void)state;
    assert_int_equal(bbo_scopes_to_string(NULL, &s), BBO_EINVAL);
    assert_null(s);
    assert_int_equal(bbo_scopes_to_string(set, NULL), BBO_EINVAL);
    assert_int_equal(bbo_scopes_new(NULL), BBO_EINVAL);
    bbo_scopes_free(set);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

/* OOM torture */

typedef struct torture_ctx {
    bbo_scopes *a, *b, *result;
    char *text;
} torture_ctx;

static int op_parse(void *p)
{
    torture_ctx *ctx = p;

    return bbo_scopes_parse(&ctx->result,
                            "account pullrequest:write repository issue:write email wiki "
                            "webhook snippet team pipeline runner x1 x2 x3 REPO_READ");
}

static int op_missing(void *p)
{
    torture_ctx *ctx = p;

    return bbo_scopes_missing(ctx->a, ctx->b, &ctx->result);
}

static int op_to_string(void *p)
{
    torture_ctx *ctx = p;

    return bbo_scopes_to_string(ctx->a, &ctx->text);
}

static int op_dup(void *p)
{
    torture_ctx *ctx = p;

    return bbo_scopes_dup(&ctx->result, ctx->a);
}

static void cleanup_result(void *p)
{
    torture_ctx *ctx = p;

    assert_non_null(ctx->result);
    bbo_scopes_free(ctx->result);
    ctx->result = NULL;
}

static void cleanup_text(void *p)
{
    torture_ctx *ctx = p;

    assert_non_null(ctx->text);
    bbo_free(ctx->text);
    ctx->text = NULL;
}

static void test_oom_parse(void **state)
{
    torture_ctx ctx = { NULL, NULL, NULL, NULL };

    (void)state;
    bbo_test_oom_torture(op_parse, cleanup_result, &ctx);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_oom_missing(void **state)
{
    torture_ctx ctx = { NULL, NULL, NULL, NULL };

    (void)state;
    ctx.a = parse_ok("account");
    ctx.b = parse_ok("a b c d e f g h i j k l m n o p q r account");
    bbo_test_oom_torture(op_missing, cleanup_result, &ctx);
    bbo_test_oom_torture(op_dup, cleanup_result, &ctx);
    bbo_test_oom_torture(op_to_string, cleanup_text, &ctx);
    bbo_scopes_free(ctx.a);
    bbo_scopes_free(ctx.b);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_separators),
        cmocka_unit_test(test_parse_duplicates_folded),
        cmocka_unit_test(test_parse_empty_and_blank),
        cmocka_unit_test(test_parse_invalid_characters),
        cmocka_unit_test(test_parse_edge_characters_allowed),
        cmocka_unit_test(test_parse_null),
        cmocka_unit_test(test_canonical_order),
        cmocka_unit_test(test_count_at),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_add_many_keeps_sorted),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_cloud_implications),
        cmocka_unit_test(test_cloud_implication_examples),
        cmocka_unit_test(test_data_center_implications),
        cmocka_unit_test(test_implications_of_a_mixed_set),
        cmocka_unit_test(test_unknown_scopes),
        cmocka_unit_test(test_has_null),
        cmocka_unit_test(test_covers),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_missing_none),
        cmocka_unit_test(test_to_string_null),
        cmocka_unit_test(test_oom_parse),
        cmocka_unit_test(test_oom_missing),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("scopes", tests, NULL, NULL);
}
