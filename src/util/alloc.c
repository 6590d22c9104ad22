/*
 * The library's allocator: size-prefixed blocks, wiped on free.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"

#include <stdatomic.h>
#include <stdlib.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include <mbedtls/platform_util.h>

/* Room in front of each block for its size and the reserve it came from
 * (NULL: the allocator), keeping max alignment. */
#define HEADER_SIZE 16
#define OWNER_OFFSET sizeof(size_t)

_Static_assert(sizeof(size_t) + sizeof(void *) <= HEADER_SIZE, "block header too small");

/* Room taken before an operation that must not fail later (see alloc.h).
 * `refs`: one for the reserve itself until bbo__reserve_end, one per
 * block handed out and not yet freed (those may be freed on any thread);
 * the room goes back to the allocator at zero. */
struct bbo__reserve {
    unsigned char *base;
    size_t size;
    size_t used;              /* taken only by the thread it is active on */
    atomic_size_t refs;
    void (*release)(void *ptr, void *payload);
    void *payload;
    struct bbo__reserve *outer; /* the thread's reserve before this one */
};

static _Thread_local bbo__reserve *thread_reserve;

BBO__HOT
static void *default_alloc(size_t size, void *payload)
{
    (void)payload;
    return malloc(size);
}

BBO__HOT
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
BBO__HOT
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

BBO__HOT
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

/* A block from the thread's active reserve, or NULL. */
static unsigned char *reserve_take(size_t total, bbo__reserve **owner)
{
    bbo__reserve *r = thread_reserve;
    size_t need;

    if (!r || total > SIZE_MAX - 15)
        return NULL;
    need = (total + 15) & ~(size_t)15;
    if (need > r->size - r->used)
        return NULL;
    r->used += need;
    atomic_fetch_add(&r->refs, 1);
    *owner = r;
    return r->base + r->used - need;
}

static void reserve_unref(bbo__reserve *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        void (*release)(void *ptr, void *payload) = r->release;
        void *payload = r->payload, *base = r->base;

        /* every block was wiped when freed; the headers between them too */
        bbo__wipe(base, r->used);
        bbo__wipe(r, sizeof(*r));
        release(base, payload);
        release(r, payload);
    }
}

BBO__HOT
void *bbo__malloc(size_t size)
{
    unsigned char *block;
    bbo__reserve *owner = NULL;

    if (size > SIZE_MAX - HEADER_SIZE)
        return NULL;
    block = allocator.alloc(size + HEADER_SIZE, allocator.payload);
    if (!block && (block = reserve_take(size + HEADER_SIZE, &owner)) == NULL)
        return NULL;
    memcpy(block, &size, sizeof(size));
    memcpy(block + OWNER_OFFSET, &owner, sizeof(owner));
    return block + HEADER_SIZE;
}

BBO__HOT
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

/* Wipe the header and the first `wipe` bytes of the block, release it. */
static void free_block(void *ptr, size_t wipe)
{
    unsigned char *block = (unsigned char *)ptr - HEADER_SIZE;
    bbo__reserve *owner;

    memcpy(&owner, block + OWNER_OFFSET, sizeof(owner));
    bbo__wipe(block, wipe + HEADER_SIZE);
    if (owner)
        reserve_unref(owner);
    else
        allocator.release(block, allocator.payload);
}

BBO__HOT
void bbo__free(void *ptr)
{
    if (ptr)
        free_block(ptr, block_size(ptr));
}

BBO__HOT
void bbo__free_used(void *ptr, size_t used)
{
    size_t size;

    if (!ptr)
        return;
    size = block_size(ptr);
    free_block(ptr, used < size ? used : size);
}

BBO__HOT
int bbo__reserve_new(bbo__reserve **out, size_t size)
{
    bbo__reserve *r = allocator.alloc(sizeof(*r), allocator.payload);

    if (!r)
        return bbo__error_oom();
    memset(r, 0, sizeof(*r));
    if ((r->base = allocator.alloc(size, allocator.payload)) == NULL) {
        allocator.release(r, allocator.payload);
        return bbo__error_oom();
    }
    r->size = size;
    atomic_init(&r->refs, 1);
    r->release = allocator.release;
    r->payload = allocator.payload;
    *out = r;
    return BBO_OK;
}

BBO__HOT
void bbo__reserve_activate(bbo__reserve *r)
{
    r->outer = thread_reserve;
    thread_reserve = r;
}

BBO__HOT
void bbo__reserve_end(bbo__reserve *r)
{
    if (!r)
        return;
    if (thread_reserve == r)
        thread_reserve = r->outer;
    reserve_unref(r);
}

size_t bbo__reserve_used(const bbo__reserve *r)
{
    return r->used;
}

BBO__HOT
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

BBO__HOT
char *bbo__strndup(const char *s, size_t len)
{
    char *copy = bbo__malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

BBO__HOT
char *bbo__strdup(const char *s)
{
    return bbo__strndup(s, strlen(s));
}

BBO__HOT
void bbo__free_str(char **s)
{
    bbo__free(*s);
    *s = NULL;
}

void bbo_free(void *ptr)
{
    bbo__free(ptr);
}
