/*
 * Test helpers: the counting, failing allocator.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long live_blocks;
static long fail_after = -1;
static long fail_only = -1; /* fail just this one allocation (counted down) */
static int refused;

static void *test_alloc(size_t size, void *payload)
{
    void *p;

    (void)payload;
    if (fail_after == 0) {
        refused = 1;
        return NULL;
    }
    if (fail_after > 0)
        fail_after--;
    if (fail_only == 0) {
        fail_only = -1;
        refused = 1;
        return NULL;
    }
    if (fail_only > 0)
        fail_only--;
    if ((p = malloc(size)) != NULL)
        live_blocks++;
    return p;
}

static void test_release(void *ptr, void *payload)
{
    (void)payload;
    if (ptr)
        live_blocks--;
    free(ptr);
}

void bbo_test_alloc_install(void)
{
    bbo_allocator a = { BBO_ALLOCATOR_VERSION, test_alloc, test_release, NULL };

    if (bbo_global_set_allocator(&a) != BBO_OK)
        abort();
}

void bbo_test_alloc_fail_after(long n)
{
    fail_after = n;
    fail_only = -1;
    refused = 0;
}

void bbo_test_alloc_fail_only(long n)
{
    fail_after = -1;
    fail_only = n;
    refused = 0;
}

long bbo_test_alloc_live(void)
{
    return live_blocks;
}

int bbo_test_alloc_failed(void)
{
    return refused;
}

void bbo_test_oom_torture(bbo_test_op op, void (*cleanup)(void *ctx), void *ctx)
{
    long n, baseline = bbo_test_alloc_live();
    int rc;

    for (n = 0; n < 100000; n++) {
        bbo_test_alloc_fail_after(n);
        rc = op(ctx);
        bbo_test_alloc_fail_after(-1);
        if (rc == BBO_OK) {
            if (cleanup)
                cleanup(ctx);
            assert_int_equal(bbo_test_alloc_live(), baseline);
            assert_true(n > 0); /* the op must allocate something */
            return;
        }
        if (rc != BBO_ENOMEM)
            fail_msg("allocation %ld failing gave %d (%s), not BBO_ENOMEM", n, rc,
                     bbo_error_message(bbo_error_last()));
        assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ENOMEM);
        assert_int_equal(bbo_test_alloc_live(), baseline);
    }
    fail_msg("operation never succeeded");
}

char *bbo_test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)size + 1)) != NULL) {
        if (fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        } else {
            data[size] = '\0';
            if (len_out)
                *len_out = (size_t)size;
        }
    }
    fclose(f);
    return data;
}

void bbo_test_remove_tree(const char *path)
{
    struct stat st;
    struct dirent *e;
    char child[PATH_MAX];
    DIR *d;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700); /* a test may have made it read-only */
    if ((d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            bbo_test_remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}
