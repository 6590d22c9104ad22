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
char *bbo__strdup(const char *s);
char *bbo__strndup(const char *s, size_t len);

/* bbo__free for a string that is NULL or owned: wipes and sets it NULL */
void bbo__free_str(char **s);

/* Overwrite memory in a way the compiler may not elide. */
void bbo__wipe(void *ptr, size_t len);

#endif
