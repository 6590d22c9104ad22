/*
 * bboauth: scope sets.
 * SPDX-License-Identifier: MIT
 *
 * A scope set knows both vocabularies: Bitbucket Cloud (lowercase,
 * "repository:write") and Data Center ("REPO_WRITE"), with their
 * implications built in: a set "has" a scope when the scope was granted or
 * is implied by one that was (pullrequest:write implies pullrequest,
 * repository:write and repository; REPO_WRITE implies REPO_READ implies
 * PUBLIC_REPOS). Unknown scopes are kept as they are and imply nothing.
 *
 * Thread rules: a set may be read from many threads at once; changing it
 * (bbo_scopes_add) needs the caller's exclusion.
 */
#ifndef BBOAUTH_SCOPES_H
#define BBOAUTH_SCOPES_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * Parse a scope list separated by spaces and/or commas ("account
 * repository:write", "account,pullrequest"). Duplicates are folded;
 * an empty or all-blank text gives an empty set.
 *
 * @param out   receives the new set; untouched on failure
 * @param text  the list; NUL-terminated
 * @return 0, or BBO_EINVAL (NULL argument, a scope with a character
 *         outside RFC 6749's scope-token set: control characters, quote,
 *         backslash, non-ASCII), BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_parse(bbo_scopes **out, const char *text);

/**
 * Create an empty set.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_new(bbo_scopes **out);

/**
 * Copy a set.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_dup(bbo_scopes **out, const bbo_scopes *scopes);

/**
 * Add one scope (a single word; adding one already there is a no-op).
 * @return 0, or BBO_EINVAL (NULL, empty, or a separator inside), BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_add(bbo_scopes *scopes, const char *scope);

/**
 * @return 1 when `scope` was granted or is implied by a granted scope,
 *         0 otherwise (and for NULL arguments)
 */
BBO_EXTERN int bbo_scopes_has(const bbo_scopes *scopes, const char *scope);

/**
 * @return 1 when every scope of `required` is in `granted` (directly or
 *         implied), else 0. An empty `required` is covered. NULL gives 0.
 */
BBO_EXTERN int bbo_scopes_covers(const bbo_scopes *granted, const bbo_scopes *required);

/**
 * The scopes of `required` that `granted` lacks, as a new set.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_missing(const bbo_scopes *granted, const bbo_scopes *required,
                                  bbo_scopes **out);

/**
 * The set as one space-separated string in canonical (byte-wise sorted)
 * order; "" for an empty set. Free with bbo_free.
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_to_string(const bbo_scopes *scopes, char **out);

/** Number of scopes in the set (as granted, implications not expanded). */
BBO_EXTERN size_t bbo_scopes_count(const bbo_scopes *scopes);

/** The i-th scope in canonical order, or NULL when out of range. */
BBO_EXTERN const char *bbo_scopes_at(const bbo_scopes *scopes, size_t index);

/**
 * @return 1 when `scope` belongs to the Cloud or Data Center vocabulary
 *         the library knows, else 0.
 */
BBO_EXTERN int bbo_scope_is_known(const char *scope);

/**
 * The permissions a person ticks on Bitbucket for these scopes, in the
 * words and order of the form: Cloud's OAuth consumer form ("Account:
 * Read, Pull requests: Write") or, with `data_center`, Data Center's
 * incoming application link ("Repositories: Write"). One line joined by
 * ", " (split on ", " for a list; no permission name holds one). A scope
 * implied by another one of the set is left out, since granting that one
 * gives it ("pullrequest:write repository:write" gives "Pull requests:
 * Write"); a scope the form does not know is named as it is, last. An
 * empty set gives "". For setup pages and error messages.
 *
 * @param scopes       the set (Cloud or Data Center scopes)
 * @param data_center  0: Cloud words; 1: Data Center words
 * @param out          receives the text; free with bbo_free
 * @return 0, or BBO_EINVAL (NULL argument), BBO_ENOMEM
 */
BBO_EXTERN int bbo_scopes_to_permissions(const bbo_scopes *scopes, int data_center, char **out);

/** Free a set. NULL is a no-op. */
BBO_EXTERN void bbo_scopes_free(bbo_scopes *scopes);

BBO_END_DECLS

#endif
