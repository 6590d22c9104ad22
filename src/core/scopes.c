/*
 * Scope sets with Bitbucket's implication rules.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"

struct bbo_scopes {
    char **items; /* sorted byte-wise, no duplicates */
    size_t count;
    size_t capacity;
    /* A parsed or copied set lives in one block: this struct, then its
     * items array (items_inline), then its texts [text, text_end). Scopes
     * added later, and an items array grown later, are blocks of their own. */
    bool items_inline;
    const char *text, *text_end;
};

/* "granting `scope` directly gives each of `implies`". A chain (REPO_WRITE
 * implies REPO_READ implies PUBLIC_REPOS) is followed transitively. */
typedef struct implication {
    const char *scope;
    const char *implies[3];
} implication;

static const implication rules[] = {
    /* Bitbucket Cloud */
    { "repository", { NULL } },
    { "repository:write", { "repository", NULL } },
    { "repository:admin", { NULL } },
    { "repository:delete", { NULL } },
    { "pullrequest", { "repository", NULL } },
    { "pullrequest:write", { "pullrequest", "repository:write", NULL } },
    { "project", { "repository", NULL } },
    { "project:admin", { "project:write", NULL } },
    /* deprecated alias of project:admin: each stands for the other */
    { "project:write", { "project:admin", NULL } },
    { "issue", { NULL } },
    { "issue:write", { "issue", NULL } },
    { "snippet", { NULL } },
    { "snippet:write", { "snippet", NULL } },
    { "account", { NULL } },
    { "account:write", { "account", NULL } },
    { "team", { NULL } },
    { "team:write", { "team", NULL } },
    { "pipeline", { NULL } },
    { "pipeline:write", { "pipeline", NULL } },
    { "pipeline:variable", { NULL } },
    { "runner", { NULL } },
    { "runner:write", { "runner", NULL } },
    { "wiki", { NULL } },
    { "webhook", { NULL } },
    { "email", { NULL } },
    /* Bitbucket Data Center: each tier implies the one below it. The order
     * of the three admin tiers is not confirmed by Atlassian's docs. */
    { "PUBLIC_REPOS", { NULL } },
    { "REPO_READ", { "PUBLIC_REPOS", NULL } },
    { "REPO_WRITE", { "REPO_READ", NULL } },
    { "REPO_ADMIN", { "REPO_WRITE", NULL } },
    { "PROJECT_ADMIN", { "REPO_ADMIN", NULL } },
    { "ACCOUNT_WRITE", { NULL } },
    { "ADMIN_WRITE", { "PROJECT_ADMIN", "ACCOUNT_WRITE", NULL } },
    { "SYSTEM_ADMIN", { "ADMIN_WRITE", NULL } },
};

static const implication *find_rule(const char *scope)
{
    size_t i;

    for (i = 0; i < BBO_ARRAY_SIZE(rules); i++)
        if (strcmp(rules[i].scope, scope) == 0)
            return &rules[i];
    return NULL;
}

int bbo_scope_is_known(const char *scope)
{
    return scope && find_rule(scope) != NULL;
}

/* Does granting `granted` give `wanted`? The depth bound stops the alias
 * cycle (project:admin <-> project:write); real chains are 6 long at most. */
static bool implies(const char *granted, const char *wanted, int depth)
{
    const implication *rule;
    size_t i;

    if (strcmp(granted, wanted) == 0)
        return true;
    if (depth > 8 || (rule = find_rule(granted)) == NULL)
        return false;
    for (i = 0; rule->implies[i]; i++)
        if (implies(rule->implies[i], wanted, depth + 1))
            return true;
    return false;
}

/* RFC 6749 3.3 scope-token: %x21 / %x23-5B / %x5D-7E */
static bool is_scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* Binary search: index of `scope`, or where it would go (*found false). */
static size_t locate(const bbo_scopes *set, const char *scope, size_t len, bool *found)
{
    size_t lo = 0, hi = set->count;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strncmp(set->items[mid], scope, len);

        if (cmp == 0 && set->items[mid][len] != '\0')
            cmp = 1;
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int insert_scope(bbo_scopes *set, const char *scope, size_t len)
{
    size_t at, i;
    bool found;
    char *copy;

    for (i = 0; i < len; i++)
        if (!is_scope_char((unsigned char)scope[i]))
            return bbo__error_set(BBO_EINVAL, "scope has a character not allowed in a scope "
                                              "(RFC 6749 section 3.3)");
    at = locate(set, scope, len, &found);
    if (found)
        return BBO_OK;
    if (set->count == set->capacity) {
        size_t capacity = set->capacity ? set->capacity * 2 : 8;
        char **items;

        if (set->items_inline) { /* the array in the set's block stays put */
            if ((items = bbo__malloc(capacity * sizeof(char *))) == NULL)
                return bbo__error_oom();
            memcpy(items, set->items, set->count * sizeof(char *));
            set->items_inline = false;
        } else if ((items = bbo__realloc(set->items, capacity * sizeof(char *))) == NULL) {
            return bbo__error_oom();
        }
        set->items = items;
        set->capacity = capacity;
    }
    if ((copy = bbo__strndup(scope, len)) == NULL)
        return bbo__error_oom();
    memmove(set->items + at + 1, set->items + at, (set->count - at) * sizeof(char *));
    set->items[at] = copy;
    set->count++;
    return BBO_OK;
}

int bbo_scopes_new(bbo_scopes **out)
{
    bbo_scopes *set;

    if (!out)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_new: NULL argument");
    if ((set = bbo__calloc(1, sizeof(*set))) == NULL)
        return bbo__error_oom();
    *out = set;
    return BBO_OK;
}

/* A set in one block with room for `count` items and `text_len` bytes of
 * texts (NULs included); *texts is where they go. */
static bbo_scopes *set_block(size_t count, size_t text_len, char **texts)
{
    bbo_scopes *set;

    if (count > (SIZE_MAX - sizeof(*set) - text_len) / sizeof(char *) ||
        (set = bbo__malloc(sizeof(*set) + count * sizeof(char *) + text_len)) == NULL)
        return NULL;
    memset(set, 0, sizeof(*set));
    set->items = (char **)(void *)(set + 1);
    set->capacity = count;
    set->items_inline = true;
    *texts = (char *)(set->items + count);
    set->text = *texts;
    set->text_end = *texts + text_len;
    return set;
}

/* What bytes of a scope list are: a scope-token character, a separator,
 * the end, or a character that may not appear. Separators: blank, tab,
 * CR, LF and ',' (a scope-token character, but a separator here). */
enum { S_BAD = 0, S_SCOPE, S_SEP, S_END };

#define S4(x) x, x, x, x
#define S16(x) S4(x), S4(x), S4(x), S4(x)
static const unsigned char scope_class[256] = {
    S_END, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, S_BAD, /* 0x00 */
    S_BAD, S_SEP, S_SEP, S_BAD, S_BAD, S_SEP, S_BAD, S_BAD, /* 0x08: \t \n \r */
    S16(S_BAD),
    S_SEP, S_SCOPE, S_BAD, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, /* 0x20: ' ' ! " */
    S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SEP, S_SCOPE, S_SCOPE, S_SCOPE, /* 0x28: ',' */
    S16(S_SCOPE), S16(S_SCOPE), /* 0x30-0x4f */
    S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, /* 0x50 */
    S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_BAD, S_SCOPE, S_SCOPE, S_SCOPE, /* 0x58: \\ */
    S16(S_SCOPE), /* 0x60-0x6f */
    S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, /* 0x70 */
    S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_SCOPE, S_BAD, /* 0x78: DEL */
    S16(S_BAD), S16(S_BAD), S16(S_BAD), S16(S_BAD),
    S16(S_BAD), S16(S_BAD), S16(S_BAD), S16(S_BAD),
};

BBO__HOT
int bbo_scopes_parse(bbo_scopes **out, const char *text)
{
    const unsigned char *t = (const unsigned char *)text;
    bbo_scopes *set;
    size_t i = 0, count = 0, bytes = 0;
    char *texts;

    if (!out || !text)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_parse: NULL argument");
    /* one pass to check and size, one to copy: a single allocation */
    for (;;) {
        size_t start = i;

        while (scope_class[t[i]] == S_SCOPE)
            i++;
        if (i > start) {
            count++;
            bytes += i - start + 1;
        }
        if (scope_class[t[i]] == S_END)
            break;
        if (scope_class[t[i]] == S_BAD)
            return bbo__error_set(BBO_EINVAL, "scope has a character not allowed in a scope "
                                              "(RFC 6749 section 3.3)");
        i++; /* a separator */
    }
    if (count == 0)
        return bbo_scopes_new(out);
    if ((set = set_block(count, bytes, &texts)) == NULL)
        return bbo__error_oom();
    for (i = 0; t[i];) {
        size_t start = i, len, at;
        bool found;

        while (scope_class[t[i]] == S_SCOPE)
            i++;
        if ((len = i - start) == 0) {
            i++; /* a separator */
            continue;
        }
        at = locate(set, text + start, len, &found);
        if (found)
            continue;
        memcpy(texts, text + start, len);
        texts[len] = '\0';
        memmove(set->items + at + 1, set->items + at, (set->count - at) * sizeof(char *));
        set->items[at] = texts;
        set->count++;
        texts += len + 1;
    }
    *out = set;
    return BBO_OK;
}

int bbo_scopes_dup(bbo_scopes **out, const bbo_scopes *scopes)
{
    bbo_scopes *copy;
    size_t i, bytes = 0;
    char *texts;

    if (!out || !scopes)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_dup: NULL argument");
    if (scopes->count == 0)
        return bbo_scopes_new(out);
    for (i = 0; i < scopes->count; i++)
        bytes += strlen(scopes->items[i]) + 1;
    if ((copy = set_block(scopes->count, bytes, &texts)) == NULL)
        return bbo__error_oom();
    /* already checked, sorted and unique: copied in order */
    for (i = 0; i < scopes->count; i++) {
        size_t len = strlen(scopes->items[i]) + 1;

        memcpy(texts, scopes->items[i], len);
        copy->items[i] = texts;
        texts += len;
    }
    copy->count = scopes->count;
    *out = copy;
    return BBO_OK;
}

int bbo_scopes_add(bbo_scopes *scopes, const char *scope)
{
    if (!scopes || !scope)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_add: NULL argument");
    if (!*scope)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_add: empty scope");
    /* ',' is a scope-token character, but bbo_scopes_parse splits on it:
     * "a,b" would come back from bbo_scopes_to_string as two scopes */
    if (strchr(scope, ','))
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_add: one scope only, without a separator");
    return insert_scope(scopes, scope, strlen(scope));
}

int bbo_scopes_has(const bbo_scopes *scopes, const char *scope)
{
    size_t i;

    if (!scopes || !scope)
        return 0;
    for (i = 0; i < scopes->count; i++)
        if (implies(scopes->items[i], scope, 0))
            return 1;
    return 0;
}

int bbo_scopes_covers(const bbo_scopes *granted, const bbo_scopes *required)
{
    size_t i;

    if (!granted || !required)
        return 0;
    for (i = 0; i < required->count; i++)
        if (!bbo_scopes_has(granted, required->items[i]))
            return 0;
    return 1;
}

int bbo_scopes_missing(const bbo_scopes *granted, const bbo_scopes *required, bbo_scopes **out)
{
    bbo_scopes *missing = NULL;
    size_t i;
    int error;

    if (!granted || !required || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_missing: NULL argument");
    if ((error = bbo_scopes_new(&missing)) < 0)
        return error;
    for (i = 0; i < required->count; i++) {
        const char *scope = required->items[i];

        if (!bbo_scopes_has(granted, scope) &&
            (error = insert_scope(missing, scope, strlen(scope))) < 0)
            goto done;
    }
    *out = missing;
    missing = NULL;
done:
    bbo_scopes_free(missing);
    return error;
}

int bbo_scopes_to_string(const bbo_scopes *scopes, char **out)
{
    bbo_buf text = BBO_BUF_INIT;
    size_t i;
    int error = BBO_OK;
    char *result;

    if (!scopes || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_to_string: NULL argument");
    for (i = 0; i < scopes->count && error == BBO_OK; i++) {
        if (i)
            error = bbo__buf_putc(&text, ' ');
        if (error == BBO_OK)
            error = bbo__buf_puts(&text, scopes->items[i]);
    }
    if (error == BBO_OK) {
        if ((result = bbo__buf_detach(&text)) == NULL)
            error = BBO_ENOMEM;
        else
            *out = result;
    }
    bbo__buf_dispose(&text);
    return error;
}

size_t bbo_scopes_count(const bbo_scopes *scopes)
{
    return scopes ? scopes->count : 0;
}

const char *bbo_scopes_at(const bbo_scopes *scopes, size_t index)
{
    return scopes && index < scopes->count ? scopes->items[index] : NULL;
}

BBO__HOT
void bbo_scopes_free(bbo_scopes *scopes)
{
    size_t i;

    if (!scopes)
        return;
    for (i = 0; i < scopes->count; i++)
        if ((uintptr_t)scopes->items[i] - (uintptr_t)scopes->text >=
            (uintptr_t)scopes->text_end - (uintptr_t)scopes->text)
            bbo__free(scopes->items[i]); /* added after the set was made */
    if (!scopes->items_inline)
        bbo__free(scopes->items);
    bbo__free(scopes); /* the block, with what lies in it */
}

/* The words of Bitbucket's forms, in the forms' order: Cloud's OAuth
 * consumer form ("Permissions") and Data Center's incoming application link
 * ("Scopes"). */
typedef struct permission {
    const char *scope;
    const char *words;
} permission;

static const permission cloud_permissions[] = {
    { "email", "Account: Email" },
    { "account", "Account: Read" },
    { "account:write", "Account: Write" },
    { "team", "Workspace membership: Read" },
    { "team:write", "Workspace membership: Write" },
    { "project", "Projects: Read" },
    { "project:write", "Projects: Write" },
    { "project:admin", "Projects: Admin" },
    { "repository", "Repositories: Read" },
    { "repository:write", "Repositories: Write" },
    { "repository:admin", "Repositories: Admin" },
    { "repository:delete", "Repositories: Delete" },
    { "pullrequest", "Pull requests: Read" },
    { "pullrequest:write", "Pull requests: Write" },
    { "issue", "Issues: Read" },
    { "issue:write", "Issues: Write" },
    { "wiki", "Wikis: Read and write" },
    { "snippet", "Snippets: Read" },
    { "snippet:write", "Snippets: Write" },
    { "webhook", "Webhooks: Read and write" },
    { "pipeline", "Pipelines: Read" },
    { "pipeline:write", "Pipelines: Write" },
    { "pipeline:variable", "Pipelines: Edit variables" },
    { "runner", "Runners: Read" },
    { "runner:write", "Runners: Write" },
};

static const permission dc_permissions[] = {
    { "PUBLIC_REPOS", "Public repositories (no scope ticked)" },
    { "ACCOUNT_WRITE", "Account: Write" },
    { "REPO_READ", "Repositories: Read" },
    { "REPO_WRITE", "Repositories: Write" },
    { "REPO_ADMIN", "Repositories: Admin" },
    { "PROJECT_ADMIN", "Projects: Admin" },
    { "ADMIN_WRITE", "Admin: Write" },
    { "SYSTEM_ADMIN", "System admin" },
};

/* Another scope of the set implies this one, so naming it adds nothing
 * a person must tick; of two aliases the first one stays. */
static bool implied_by_other(const bbo_scopes *set, size_t i)
{
    size_t j;

    for (j = 0; j < set->count; j++)
        if (j != i && implies(set->items[j], set->items[i], 0) &&
            (!implies(set->items[i], set->items[j], 0) || j < i))
            return true;
    return false;
}

static int put_permission(bbo_buf *text, const char *words)
{
    int error;

    if (text->size && (error = bbo__buf_puts(text, ", ")) < 0)
        return error;
    return bbo__buf_puts(text, words);
}

int bbo_scopes_to_permissions(const bbo_scopes *scopes, int data_center, char **out)
{
    const permission *table = data_center ? dc_permissions : cloud_permissions;
    size_t n = data_center ? BBO_ARRAY_SIZE(dc_permissions) : BBO_ARRAY_SIZE(cloud_permissions);
    bbo_buf text = BBO_BUF_INIT;
    size_t i, k;
    bool found;
    int error = BBO_OK;

    if (!scopes || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_scopes_to_permissions: NULL argument");
    for (k = 0; k < n && error == BBO_OK; k++) {
        i = locate(scopes, table[k].scope, strlen(table[k].scope), &found);
        if (found && !implied_by_other(scopes, i))
            error = put_permission(&text, table[k].words);
    }
    /* scopes the form does not know: by their own name, after the others */
    for (i = 0; i < scopes->count && error == BBO_OK; i++) {
        for (k = 0; k < n && strcmp(table[k].scope, scopes->items[i]) != 0; k++)
            ;
        if (k == n && !implied_by_other(scopes, i))
            error = put_permission(&text, scopes->items[i]);
    }
    if (error == BBO_OK) {
        char *result = bbo__buf_detach(&text);

        if (result)
            *out = result;
        else
            error = BBO_ENOMEM;
    }
    bbo__buf_dispose(&text);
    return error;
}
