/*
 * The one allocator every module (and yajl) goes through.
 * SPDX-License-Identifier: MIT
 *
 * Every block remembers its size so bbo__free can wipe it: a token that
 * passed through a yajl buffer or a grown bbo_buf leaves no copy behind.
 * bbo__realloc never uses the system realloc for the same reason.
 */
#ifndef BBO_INTERNAL_ALLOC_H
#define BBO_INTERNAL_ALLOC_H

#include <stddef.h>

void *bbo__malloc(size_t size);
void *bbo__calloc(size_t count, size_t size);
void *bbo__realloc(void *ptr, size_t size);
void bbo__free(void *ptr);
/* bbo__free for a block of which only the first `used` bytes were ever
 * written since it was allocated (or last wiped): only those are wiped
 * (a large reserved room that held a small answer). */
void bbo__free_used(void *ptr, size_t used);
char *bbo__strdup(const char *s);
char *bbo__strndup(const char *s, size_t len);

/* bbo__free for a string that is NULL or owned: wipes and sets it NULL */
void bbo__free_str(char **s);

/*
 * A reserve: room taken from the allocator before an operation that must
 * not fail halfway for lack of memory (a refresh whose request has left:
 * the old refresh token may already be dead). While it is active on a
 * thread, an allocation of that thread the allocator refuses is served
 * from the reserve instead (blocks are freed with bbo__free as usual, on
 * any thread). bbo__reserve_end deactivates it; its room goes back to the
 * allocator once the last block taken from it is freed.
 */
typedef struct bbo__reserve bbo__reserve;

/* Take `size` bytes: BBO_ENOMEM (error set) when the allocator refuses. */
int bbo__reserve_new(bbo__reserve **out, size_t size);
/* Serve this thread's refused allocations from `r` (nests). */
void bbo__reserve_activate(bbo__reserve *r);
/* Deactivate (when active on this thread) and let go; NULL is a no-op. */
void bbo__reserve_end(bbo__reserve *r);
/* Bytes handed out so far (tests). */
size_t bbo__reserve_used(const bbo__reserve *r);

/* Overwrite memory in a way the compiler may not elide. */
void bbo__wipe(void *ptr, size_t len);

#endif
