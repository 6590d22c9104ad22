/*
 * The library's allocator: size-prefixed blocks, wiped on free.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"

#include <stdlib.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include <mbedtls/platform_util.h>

/* Room in front of each block for its size, keeping max alignment. */
#define HEADER_SIZE 16

static void *default_alloc(size_t size, void *payload)
{
    (void)payload;
    return malloc(size);
}

static void default_release(void *ptr, void *payload)
{
    (void)payload;
    free(ptr);
}

static bbo_allocator allocator = {
    BBO_ALLOCATOR_VERSION, default_alloc, default_release, NULL
};

int bbo_global_set_allocator(const bbo_allocator *a)
{
    if (!a) {
        allocator.alloc = default_alloc;
        allocator.release = default_release;
        allocator.payload = NULL;
        return BBO_OK;
    }
    if (a->version != BBO_ALLOCATOR_VERSION || !a->alloc || !a->release)
        return bbo__error_set(BBO_EINVAL,
                              "bbo_global_set_allocator: wrong version or NULL function");
    allocator = *a;
    return BBO_OK;
}

#if defined(__SSE2__) && defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define WIPE_AVX2 1

/* 128 bytes a round with 32-byte stores; what is left under 128 bytes. */
__attribute__((target("avx2"))) static size_t wipe_avx2(unsigned char *p, size_t len)
{
    const __m256i zero = _mm256_setzero_si256();
    size_t i = 0;

    for (; len - i >= 128; i += 128) {
        _mm256_storeu_si256((__m256i *)(void *)(p + i), zero);
        _mm256_storeu_si256((__m256i *)(void *)(p + i + 32), zero);
        _mm256_storeu_si256((__m256i *)(void *)(p + i + 64), zero);
        _mm256_storeu_si256((__m256i *)(void *)(p + i + 96), zero);
    }
    return i;
}
#endif

void bbo__wipe(void *ptr, size_t len)
{
    if (!ptr || !len)
        return;
#if defined(__SSE2__) && defined(__GNUC__)
    {
        /* 64 bytes a store round, then the tail; the barrier below makes the
         * compiler assume the zeros are read, so no store is elided */
        unsigned char *p = ptr, *end = p + len;
        const __m128i zero = _mm_setzero_si128();

#ifdef WIPE_AVX2
        /* a token-sized block: the wider stores pay for the check */
        if (len >= 512 && __builtin_cpu_supports("avx2"))
            p += wipe_avx2(p, len);
#endif

        for (; end - p >= 64; p += 64) {
            _mm_storeu_si128((__m128i *)(void *)p, zero);
            _mm_storeu_si128((__m128i *)(void *)(p + 16), zero);
            _mm_storeu_si128((__m128i *)(void *)(p + 32), zero);
            _mm_storeu_si128((__m128i *)(void *)(p + 48), zero);
        }
        for (; end - p >= 16; p += 16)
            _mm_storeu_si128((__m128i *)(void *)p, zero);
        if (p < end && len >= 16) /* the tail: one store overlapping the last one */
            _mm_storeu_si128((__m128i *)(void *)(end - 16), zero);
        else if (p < end)
            memset(p, 0, (size_t)(end - p));
        __asm__ __volatile__("" : : "r"(ptr) : "memory");
    }
#elif defined(__GNUC__)
    memset(ptr, 0, len);
    __asm__ __volatile__("" : : "r"(ptr) : "memory");
#else
    mbedtls_platform_zeroize(ptr, len);
#endif
}

void *bbo__malloc(size_t size)
{
    unsigned char *block;

    if (size > SIZE_MAX - HEADER_SIZE)
        return NULL;
    block = allocator.alloc(size + HEADER_SIZE, allocator.payload);
    if (!block)
        return NULL;
    memcpy(block, &size, sizeof(size));
    return block + HEADER_SIZE;
}

void *bbo__calloc(size_t count, size_t size)
{
    void *ptr;

    if (size && count > SIZE_MAX / size)
        return NULL;
    if ((ptr = bbo__malloc(count * size)) != NULL)
        memset(ptr, 0, count * size);
    return ptr;
}

static size_t block_size(const void *ptr)
{
    size_t size;

    memcpy(&size, (const unsigned char *)ptr - HEADER_SIZE, sizeof(size));
    return size;
}

void bbo__free(void *ptr)
{
    unsigned char *block;

    if (!ptr)
        return;
    block = (unsigned char *)ptr - HEADER_SIZE;
    bbo__wipe(block, block_size(ptr) + HEADER_SIZE);
    allocator.release(block, allocator.payload);
}

void *bbo__realloc(void *ptr, size_t size)
{
    void *fresh;
    size_t old;

    if (!ptr)
        return bbo__malloc(size);
    old = block_size(ptr);
    if ((fresh = bbo__malloc(size)) == NULL)
        return NULL;
    memcpy(fresh, ptr, old < size ? old : size);
    bbo__free(ptr);
    return fresh;
}

char *bbo__strndup(const char *s, size_t len)
{
    char *copy = bbo__malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

char *bbo__strdup(const char *s)
{
    return bbo__strndup(s, strlen(s));
}

void bbo__free_str(char **s)
{
    bbo__free(*s);
    *s = NULL;
}

void bbo_free(void *ptr)
{
    bbo__free(ptr);
}
