/*
 * bboauth: common definitions shared by every public header.
 * SPDX-License-Identifier: MIT
 *
 * Headers are C89-clean and C++-includable. Every function returns 0
 * (BBO_OK) or a negative bbo_code; results come through a first `out`
 * parameter; strings returned through `char **out` are freed with bbo_free.
 */
#ifndef BBOAUTH_COMMON_H
#define BBOAUTH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(BBO_BUILDING_LIBRARY)
#  define BBO_EXTERN __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define BBO_EXTERN __attribute__((visibility("default")))
#else
#  define BBO_EXTERN
#endif

#ifdef __cplusplus
#  define BBO_BEGIN_DECLS extern "C" {
#  define BBO_END_DECLS }
#else
#  define BBO_BEGIN_DECLS
#  define BBO_END_DECLS
#endif

BBO_BEGIN_DECLS

/* Opaque objects: created by the library, freed by bbo_<object>_free. */
typedef struct bbo_scopes bbo_scopes;
typedef struct bbo_consumer bbo_consumer;
typedef struct bbo_authorization bbo_authorization;
typedef struct bbo_token bbo_token;
typedef struct bbo_http_request bbo_http_request;
typedef struct bbo_http_response bbo_http_response;
typedef struct bbo_client bbo_client;
typedef struct bbo_session bbo_session;
typedef struct bbo_response bbo_response;
typedef struct bbo_store bbo_store;
typedef struct bbo_loopback bbo_loopback;
typedef struct bbo_error bbo_error;

/**
 * Free memory the library returned through a `char **out` parameter.
 * The memory is wiped before it is released. NULL is a no-op.
 * Thread rules: any thread.
 */
BBO_EXTERN void bbo_free(void *ptr);

/**
 * The library's version as "MAJOR.MINOR.PATCH". Static storage.
 */
BBO_EXTERN const char *bbo_version(void);

/** Version of the bbo_allocator table this header describes. */
#define BBO_ALLOCATOR_VERSION 1

/**
 * Memory functions for every allocation the library makes (yajl's included).
 * `alloc` returns NULL on failure; `release` takes what `alloc` returned.
 * The library wipes every block before releasing it.
 */
typedef struct bbo_allocator {
    unsigned int version;                          /* BBO_ALLOCATOR_VERSION */
    void *(*alloc)(size_t size, void *payload);
    void (*release)(void *ptr, void *payload);
    void *payload;
} bbo_allocator;

/**
 * Replace the allocator (NULL restores malloc/free). Call it before any
 * other bbo_ function, or while no bbo object or returned string is alive.
 *
 * @return 0, or BBO_EINVAL (wrong version or a NULL function)
 * Thread rules: not thread-safe; call at start-up.
 */
BBO_EXTERN int bbo_global_set_allocator(const bbo_allocator *allocator);

BBO_END_DECLS

#endif
