/*
 * Unit tests: token stores (src/io/store.c, src/io/store_file.c): the file store's
 * round trip, permissions, refusals, encryption at rest and tampering,
 * atomic saves under kill -9, locking between threads, custom stores, and
 * out-of-memory torture.
 *
 * Every test works in its own directory under /tmp (mkdtemp), removed by
 * the teardown. Tokens are fake but distinctive; they are compared with
 * strcmp and never printed.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/store.h"
#include "internal/store_file.h"

#define ACCESS_OLD "OldAccessSecret-0123456789_abc.def~ghi+jkl/mno=="
#define REFRESH_OLD "OldRefreshSecret-9876543210"
#define ACCESS_NEW "NewAccessSecret-ABCDEFGHIJ_xyz.uvw~rst+qpo/nml=="
#define REFRESH_NEW "NewRefreshSecret-0246813579"
#define EXPIRES_OLD INT64_C(4000000000)
#define EXPIRES_NEW INT64_C(4000007200)
#define SCOPES "account pullrequest:write repository:write"
#define TWO_MIB (2 * 1024 * 1024)
#define MAGIC_LEN 8
#define GEN_LEN 8
#define NONCE_LEN 12
#define HEADER_LEN (MAGIC_LEN + GEN_LEN + NONCE_LEN)
#define TAG_LEN 16

static const unsigned char KEY[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const unsigned char WRONG_KEY[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1e,
};

/* Sentinel for outputs that must stay untouched on failure. */
#define UNTOUCHED ((bbo_token *)(uintptr_t)0x1)
#define UNTOUCHED_STORE ((bbo_store *)(uintptr_t)0x1)

typedef struct fixture {
    char dir[64];
    char path[128]; /* dir/token.json */
} fixture;

/* ---- helpers ------------------------------------------------------------ */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->dir, "/tmp/bbo-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/token.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    bbo__file_store_fault_hook = NULL;
    bbo_test_remove_tree(f->dir);
    free(f);
    return 0;
}

static bbo_token *make_token(const char *access, const char *refresh, int64_t expires_at)
{
    bbo_scopes *scopes = NULL;
    bbo_token *token = NULL;

    assert_rc(bbo_scopes_parse(&scopes, SCOPES), BBO_OK);
    assert_rc(bbo_token_new(&token, access, refresh, NULL, expires_at, scopes), BBO_OK);
    bbo_scopes_free(scopes);
    return token;
}

/* Made once, before the counting allocator, so that every copy has the
 * same obtained_at even when a second ticks between two tests' copies. */
static bbo_token *the_old_token, *the_new_token;

static bbo_token *copy_of(const bbo_token *token)
{
    bbo_token *copy = NULL;

    assert_rc(bbo_token_dup(&copy, token), BBO_OK);
    return copy;
}

static bbo_token *old_token(void)
{
    return copy_of(the_old_token);
}

static bbo_token *new_token(void)
{
    return copy_of(the_new_token);
}

/* The two tokens carry the same fields; secrets compared without printing. */
static void assert_same_token(const bbo_token *got, const bbo_token *want)
{
    char *got_scopes = NULL, *want_scopes = NULL;

    assert_non_null(got);
    if (strcmp(bbo_token_access(got), bbo_token_access(want)) != 0)
        fail_msg("access token differs (lengths %zu and %zu)", strlen(bbo_token_access(got)),
                 strlen(bbo_token_access(want)));
    if (!bbo_token_refresh(want)) {
        assert_null(bbo_token_refresh(got));
    } else {
        assert_non_null(bbo_token_refresh(got));
        if (strcmp(bbo_token_refresh(got), bbo_token_refresh(want)) != 0)
            fail_msg("refresh token differs");
    }
    assert_string_equal(bbo_token_type(got), bbo_token_type(want));
    assert_int_equal(bbo_token_expires_at(got), bbo_token_expires_at(want));
    assert_int_equal(bbo_token_obtained_at(got), bbo_token_obtained_at(want));
    assert_rc(bbo_scopes_to_string(bbo_token_scopes(got), &got_scopes), BBO_OK);
    assert_rc(bbo_scopes_to_string(bbo_token_scopes(want), &want_scopes), BBO_OK);
    assert_string_equal(got_scopes, want_scopes);
    bbo_free(got_scopes);
    bbo_free(want_scopes);
}

static bbo_store *file_store(const char *path, const unsigned char *key)
{
    bbo_store *store = NULL;

    assert_rc(bbo_file_store_new(&store, path, key), BBO_OK);
    assert_non_null(store);
    return store;
}

static void save_token(const char *path, const unsigned char *key, const bbo_token *token)
{
    bbo_store *store = file_store(path, key);

    assert_rc(bbo_store_save(store, token), BBO_OK);
    bbo_store_free(store);
}

/* Load through a fresh store object and check the result equals `want`. */
static void expect_stored(const char *path, const unsigned char *key, const bbo_token *want)
{
    bbo_store *store = file_store(path, key);
    bbo_token *got = NULL;

    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_same_token(got, want);
    bbo_token_free(got);
    bbo_store_free(store);
}

/* Load through `store` (which keeps what it saw) and compare with `want`. */
static void expect_holds(bbo_store *store, const bbo_token *want)
{
    bbo_token *got = NULL;

    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_same_token(got, want);
    bbo_token_free(got);
}

/* Load must fail with `code`, leave the output alone and leak nothing. */
static void expect_load_error(const char *path, const unsigned char *key, int code)
{
    bbo_store *store = file_store(path, key);
    bbo_token *got = UNTOUCHED;
    long base = bbo_test_alloc_live();

    assert_rc(bbo_store_load(store, &got), code);
    assert_int_equal(bbo_error_code(bbo_error_last()), code);
    assert_ptr_equal(got, UNTOUCHED);
    assert_int_equal(bbo_test_alloc_live(), base);
    bbo_store_free(store);
}

/* The last error's message must not contain any of the tokens' secrets. */
static void assert_message_clean(void)
{
    const char *msg = bbo_error_message(bbo_error_last());

    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    assert_null(strstr(msg, ACCESS_OLD));
    assert_null(strstr(msg, REFRESH_OLD));
    assert_null(strstr(msg, ACCESS_NEW));
    assert_null(strstr(msg, REFRESH_NEW));
}

/* cmocka's skip() counts as a failure in this meson's TAP: a comment. */
static void skip_because(const char *why)
{
    printf("# skipped: %s\n", why);
    fflush(stdout);
}

static void write_file(const char *path, const void *data, size_t len)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);

    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0600), 0);
    while (len) {
        ssize_t n = write(fd, p, len);

        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
    assert_int_equal(close(fd), 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    unsigned char *data = (unsigned char *)bbo_test_read_file(path, len);

    assert_non_null(data);
    return data;
}

static const void *find_bytes(const void *hay, size_t hay_len, const void *needle, size_t len)
{
    const unsigned char *h = hay;
    size_t i;

    for (i = 0; len <= hay_len && i <= hay_len - len; i++)
        if (memcmp(h + i, needle, len) == 0)
            return h + i;
    return NULL;
}

/* Entries of `dir` (without . and ..), and how many are temporary files. */
static void list_dir(const char *dir, int *total, int *temps)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    *total = 0;
    *temps = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        (*total)++;
        if (strstr(e->d_name, ".tmp."))
            (*temps)++;
    }
    closedir(d);
}

/* Only the token file (and maybe its .lock) remains: no temporary file. */
static void assert_no_temp_files(const char *dir)
{
    int total, temps;

    list_dir(dir, &total, &temps);
    assert_int_equal(temps, 0);
}

/* The big-endian generation of an encrypted file's header. */
static uint64_t generation_of(const unsigned char *bytes)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < GEN_LEN; i++)
        v = (v << 8) | bytes[MAGIC_LEN + i];
    return v;
}

static int file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return (int)(st.st_mode & 07777);
}

/* ---- the file store: round trip ---------------------------------------- */

static void round_trip(fixture *f, const unsigned char *key)
{
    bbo_store *store = file_store(f->path, key);
    bbo_token *old = old_token(), *fresh = new_token(), *got = UNTOUCHED;
    int total, temps;
    mode_t mask;

    /* nothing stored yet: OK and NULL, and loading creates nothing */
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_null(got);
    list_dir(f->dir, &total, &temps);
    assert_int_equal(total, 0);

    /* even with a permissive umask the file is 0600 */
    mask = umask(0);
    assert_rc(bbo_store_save(store, old), BBO_OK);
    umask(mask);
    assert_int_equal(file_mode(f->path), 0600);
    list_dir(f->dir, &total, &temps);
    assert_int_equal(total, 1);
    assert_int_equal(temps, 0);

    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_same_token(got, old);
    bbo_token_free(got);
    expect_stored(f->path, key, old); /* another store object reads it too */

    /* saving again replaces */
    assert_rc(bbo_store_save(store, fresh), BBO_OK);
    assert_int_equal(file_mode(f->path), 0600);
    list_dir(f->dir, &total, &temps);
    assert_int_equal(total, 1);
    assert_int_equal(temps, 0);
    expect_holds(store, fresh);

    /* clear deletes the file; loading then finds nothing */
    assert_rc(bbo_store_clear(store), BBO_OK);
    assert_int_equal(access(f->path, F_OK), -1);
    got = UNTOUCHED;
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_null(got);
    assert_rc(bbo_store_clear(store), BBO_OK); /* nothing to delete is fine */

    bbo_token_free(old);
    bbo_token_free(fresh);
    bbo_store_free(store);
}

static void test_round_trip_plain(void **state)
{
    long base = bbo_test_alloc_live();

    round_trip(*state, NULL);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_round_trip_encrypted(void **state)
{
    long base = bbo_test_alloc_live();

    round_trip(*state, KEY);
    assert_int_equal(bbo_test_alloc_live(), base);
}

/* A token as the server gave it: obtained_at, long secrets, no refresh. */
static void test_round_trip_parsed_token(void **state)
{
    fixture *f = *state;
    static const char prefix[] = "{\"access_token\":\"";
    static const char suffix[] = "\",\"scope\":\"account\",\"expires_in\":7200,"
                                 "\"token_type\":\"bearer\"}";
    char *json = malloc(sizeof(prefix) + 3000 + sizeof(suffix));
    bbo_token *token = NULL;
    size_t i, len;

    assert_non_null(json);
    strcpy(json, prefix);
    len = strlen(json);
    for (i = 0; i < 3000; i++)
        json[len + i] = "abcdefghijklmnopqrstuvwxyz0123456789-_"[i % 38];
    strcpy(json + len + 3000, suffix);
    assert_rc(bbo_token_parse(&token, json, strlen(json), INT64_C(1700000000)), BBO_OK);
    free(json);
    assert_int_equal(bbo_token_obtained_at(token), INT64_C(1700000000));
    save_token(f->path, NULL, token);
    expect_stored(f->path, NULL, token);
    save_token(f->path, KEY, token);
    expect_stored(f->path, KEY, token);
    bbo_token_free(token);
}

static void test_file_store_new_arguments(void **state)
{
    bbo_store *store = (bbo_store *)(uintptr_t)0x1;
    long base = bbo_test_alloc_live();

    (void)state;
    assert_rc(bbo_file_store_new(NULL, "/tmp/x", NULL), BBO_EINVAL);
    assert_rc(bbo_file_store_new(&store, NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_file_store_new(&store, "", NULL), BBO_EINVAL);
    assert_rc(bbo_file_store_new(&store, "/tmp/dir/", KEY), BBO_EINVAL);
    assert_ptr_equal(store, (bbo_store *)(uintptr_t)0x1);
    assert_int_equal(bbo_test_alloc_live(), base);
    assert_rc(bbo_store_load(NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_store_save(NULL, NULL), BBO_EINVAL);
    assert_rc(bbo_store_clear(NULL), BBO_EINVAL);
    bbo_store_free(NULL);
}

/* ---- the file store: refusals ----------------------------------------- */

static void test_unsafe_modes(void **state)
{
    static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0620, 0602, 0606, 0700 };
    fixture *f = *state;
    bbo_token *old = old_token();
    size_t i;

    save_token(f->path, NULL, old);
    for (i = 0; i < BBO_ARRAY_SIZE(modes); i++) {
        assert_int_equal(chmod(f->path, modes[i]), 0);
        if (modes[i] == 0700) {
            /* owner-only bits are not a leak: still loads */
            expect_stored(f->path, NULL, old);
            continue;
        }
        expect_load_error(f->path, NULL, BBO_EIO);
        if (!strstr(bbo_error_message(bbo_error_last()), "chmod 600"))
            fail_msg("mode %03o: message names no chmod: %s", (unsigned)modes[i],
                     bbo_error_message(bbo_error_last()));
        assert_message_clean();
        /* the same with a key: the permission check comes first */
        expect_load_error(f->path, KEY, BBO_EIO);
    }
    /* a save fixes the mode (the new file is 0600) */
    assert_int_equal(chmod(f->path, 0644), 0);
    save_token(f->path, NULL, old);
    assert_int_equal(file_mode(f->path), 0600);
    expect_stored(f->path, NULL, old);
    bbo_token_free(old);
}

static void test_symlink_refused(void **state)
{
    fixture *f = *state;
    char real[160];
    bbo_token *old = old_token();

    snprintf(real, sizeof(real), "%s/real.json", f->dir);
    save_token(real, NULL, old);
    expect_stored(real, NULL, old);
    assert_int_equal(symlink(real, f->path), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), f->path));
    assert_message_clean();
    /* a dangling symlink is not "nothing stored" either */
    assert_int_equal(unlink(real), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    bbo_token_free(old);
}

static void test_too_large(void **state)
{
    fixture *f = *state;
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, TWO_MIB + 1), 0);
    assert_int_equal(close(fd), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "too large"));
    expect_load_error(f->path, KEY, BBO_EIO);
    /* far beyond any token too: the check is on the size, not on reading it */
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, TWO_MIB * 2), 0);
    assert_int_equal(close(fd), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
}

static void test_garbage(void **state)
{
    static const char *const garbage[] = {
        "not a token at all",
        "{}",
        "{\"token_type\":\"bearer\"}",
        "[\"access_token\"]",
        "{\"access_token\":\"abc\"",
        "",
        "BBOENC1", /* the magic without its NUL, read without a key */
    };
    fixture *f = *state;
    size_t i;

    for (i = 0; i < BBO_ARRAY_SIZE(garbage); i++) {
        write_file(f->path, garbage[i], strlen(garbage[i]));
        expect_load_error(f->path, NULL, BBO_EPROTOCOL);
    }
    write_file(f->path, "\0\0\0\xff\xfe", 5);
    expect_load_error(f->path, NULL, BBO_EPROTOCOL);
}

static void test_directory_at_path(void **state)
{
    fixture *f = *state;

    assert_int_equal(mkdir(f->path, 0700), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "not a regular file"));
}

/* ---- the file store: encryption at rest ------------------------------- */

static void test_encrypted_format(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token();
    unsigned char *bytes;
    char *json = NULL;
    size_t len;

    save_token(f->path, KEY, old);
    assert_int_equal(file_mode(f->path), 0600);
    bytes = read_file(f->path, &len);
    assert_memory_equal(bytes, "BBOENC2\0", MAGIC_LEN);
    assert_rc(bbo_token_to_json(old, &json), BBO_OK);
    /* magic, generation, nonce, the JSON's length of ciphertext, tag */
    assert_int_equal(len, HEADER_LEN + strlen(json) + TAG_LEN);
    assert_true(generation_of(bytes) > 0);
    assert_null(find_bytes(bytes, len, ACCESS_OLD, strlen(ACCESS_OLD)));
    assert_null(find_bytes(bytes, len, REFRESH_OLD, strlen(REFRESH_OLD)));
    assert_null(find_bytes(bytes, len, "access_token", strlen("access_token")));
    bbo_free(json);
    free(bytes);

    expect_stored(f->path, KEY, old);
    expect_load_error(f->path, WRONG_KEY, BBO_ECRYPTO);
    assert_message_clean();
    bbo_token_free(old);
}

/* Flip every byte of a small token's file, two ways: never a token. */
static void test_encrypted_tamper_every_byte(void **state)
{
    fixture *f = *state;
    bbo_token *token = make_token("a", "r", 0);
    unsigned char *bytes;
    size_t len, i, tried = 0;
    int m;

    save_token(f->path, KEY, token);
    bytes = read_file(f->path, &len);
    assert_true(len > HEADER_LEN + TAG_LEN);
    for (i = 0; i < len; i++) {
        for (m = 0; m < 2; m++) {
            unsigned char mask = m == 0 ? 0x01 : 0x80;

            bytes[i] ^= mask;
            write_file(f->path, bytes, len);
            expect_load_error(f->path, KEY, BBO_ECRYPTO);
            bytes[i] ^= mask;
            tried++;
        }
    }
    assert_int_equal(tried, 2 * len);
    /* and the untouched bytes still load */
    write_file(f->path, bytes, len);
    expect_stored(f->path, KEY, token);
    free(bytes);
    bbo_token_free(token);
}

/* A realistic token: a sample of 200 positions spread over the file. */
static void test_encrypted_tamper_sample(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token();
    unsigned char *bytes;
    size_t len, i;

    save_token(f->path, KEY, old);
    bytes = read_file(f->path, &len);
    for (i = 0; i < 200; i++) {
        size_t pos = i < 40 ? i : (i * 7919u) % len; /* header, then spread */

        bytes[pos] ^= 0x5a;
        write_file(f->path, bytes, len);
        expect_load_error(f->path, KEY, BBO_ECRYPTO);
        bytes[pos] ^= 0x5a;
    }
    free(bytes);
    bbo_token_free(old);
}

static void test_encrypted_truncated(void **state)
{
    fixture *f = *state;
    bbo_token *token = make_token("a", "r", 0);
    unsigned char *bytes, *longer;
    size_t len, cut;

    save_token(f->path, KEY, token);
    bytes = read_file(f->path, &len);
    for (cut = 0; cut < len; cut++) {
        write_file(f->path, bytes, cut);
        expect_load_error(f->path, KEY, BBO_ECRYPTO);
    }
    /* one byte too many (kept outside the tag) */
    longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    write_file(f->path, longer, len + 1);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    free(longer);
    free(bytes);
    bbo_token_free(token);
}

static void test_no_downgrade(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token();

    /* encrypted file, store without a key */
    save_token(f->path, KEY, old);
    expect_load_error(f->path, NULL, BBO_ECRYPTO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "key"));
    assert_message_clean();
    /* plain file, store with a key: refused, never read as a token */
    save_token(f->path, NULL, old);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    assert_message_clean();
    bbo_token_free(old);
}

static void test_fresh_nonce(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token();
    bbo_store *store = file_store(f->path, KEY);
    unsigned char *first, *second;
    size_t len1, len2;

    assert_rc(bbo_store_save(store, old), BBO_OK);
    first = read_file(f->path, &len1);
    assert_rc(bbo_store_save(store, old), BBO_OK);
    second = read_file(f->path, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(first, second, MAGIC_LEN);
    /* each save counts up */
    assert_true(generation_of(second) > generation_of(first));
    assert_memory_not_equal(first + MAGIC_LEN + GEN_LEN, second + MAGIC_LEN + GEN_LEN,
                            NONCE_LEN);
    assert_memory_not_equal(first + HEADER_LEN, second + HEADER_LEN, len1 - HEADER_LEN);
    expect_stored(f->path, KEY, old);
    free(first);
    free(second);
    bbo_store_free(store);
    bbo_token_free(old);
}

/* ---- binding to the store, rollback ------------------------------------ */

static void copy_file(const char *from, const char *to)
{
    size_t len;
    unsigned char *bytes = read_file(from, &len);

    write_file(to, bytes, len);
    free(bytes);
}

static bbo_store *file_store_id(const char *path, const unsigned char *key, const char *id)
{
    bbo_store *store = NULL;

    assert_rc(bbo_file_store_new_ex(&store, path, key, id), BBO_OK);
    return store;
}

/* A file copied from another store with the same key does not load. */
static void test_bound_copied_file(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token();
    char other[160];

    snprintf(other, sizeof(other), "%s/other.json", f->dir);
    save_token(other, KEY, old);
    expect_stored(other, KEY, old);
    copy_file(other, f->path);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "another store"));
    assert_message_clean();
    /* the original still loads where it was written */
    expect_stored(other, KEY, old);
    bbo_token_free(old);
}

/* Two stores' files swapped: neither loads; swapped back, both do. */
static void test_bound_swapped_files(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token();
    char other[160], aside[160];

    snprintf(other, sizeof(other), "%s/other.json", f->dir);
    snprintf(aside, sizeof(aside), "%s/aside", f->dir);
    save_token(f->path, KEY, old);
    save_token(other, KEY, fresh);
    assert_int_equal(rename(f->path, aside), 0);
    assert_int_equal(rename(other, f->path), 0);
    assert_int_equal(rename(aside, other), 0);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    expect_load_error(other, KEY, BBO_ECRYPTO);
    assert_int_equal(rename(f->path, aside), 0);
    assert_int_equal(rename(other, f->path), 0);
    assert_int_equal(rename(aside, other), 0);
    expect_stored(f->path, KEY, old);
    expect_stored(other, KEY, fresh);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* The default id is the canonical path: other spellings of the same file
 * read it; an explicit id travels with the file and nothing else. */
static void test_bound_store_id(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *got = NULL;
    bbo_store *store;
    char spelling[192], link[160], via_link[192], other[160];

    save_token(f->path, KEY, old);
    snprintf(spelling, sizeof(spelling), "%s/./../%s/token.json", f->dir, strrchr(f->dir, '/') + 1);
    expect_stored(spelling, KEY, old);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    assert_int_equal(symlink(".", link), 0);
    snprintf(via_link, sizeof(via_link), "%s/token.json", link);
    expect_stored(via_link, KEY, old);

    /* explicit ids: same id loads a copy, another id (or the path) does not */
    store = file_store_id(f->path, KEY, "work laptop");
    assert_rc(bbo_store_save(store, old), BBO_OK);
    bbo_store_free(store);
    snprintf(other, sizeof(other), "%s/moved.json", f->dir);
    copy_file(f->path, other);
    store = file_store_id(other, KEY, "work laptop");
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_same_token(got, old);
    bbo_token_free(got);
    bbo_store_free(store);
    store = file_store_id(other, KEY, "work laptop 2");
    got = UNTOUCHED;
    assert_rc(bbo_store_load(store, &got), BBO_ECRYPTO);
    assert_ptr_equal(got, UNTOUCHED);
    bbo_store_free(store);
    expect_load_error(f->path, KEY, BBO_ECRYPTO); /* the default id is the path */

    /* arguments; without a key the id changes nothing */
    store = UNTOUCHED_STORE;
    assert_rc(bbo_file_store_new_ex(&store, f->path, KEY, ""), BBO_EINVAL);
    assert_rc(bbo_file_store_new_ex(NULL, f->path, KEY, "x"), BBO_EINVAL);
    assert_ptr_equal(store, UNTOUCHED_STORE);
    store = file_store_id(other, NULL, "ignored");
    assert_rc(bbo_store_save(store, old), BBO_OK);
    bbo_store_free(store);
    expect_stored(other, NULL, old);
    bbo_token_free(old);
}

/* An older copy of the file put back under a living store is refused. */
static void test_rollback_refused(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token(), *got = NULL;
    bbo_store *store = file_store(f->path, KEY), *later;
    char aside[160];

    snprintf(aside, sizeof(aside), "%s/aside", f->dir);
    assert_rc(bbo_store_save(store, old), BBO_OK);
    copy_file(f->path, aside);
    assert_rc(bbo_store_save(store, fresh), BBO_OK);
    copy_file(aside, f->path);
    got = UNTOUCHED;
    assert_rc(bbo_store_load(store, &got), BBO_ECRYPTO);
    assert_ptr_equal(got, UNTOUCHED);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "rolled back"));
    assert_message_clean();

    /* saved without the lock, so nothing recorded: a new store object
     * trusts the first file it reads (documented) */
    expect_stored(f->path, KEY, old);

    /* another object that saw the rolled-back file and saves again: the
     * first sees a newer generation and loads it */
    later = file_store(f->path, KEY);
    assert_rc(bbo_store_load(later, &got), BBO_OK);
    bbo_token_free(got);
    assert_rc(bbo_store_save(later, fresh), BBO_OK);
    expect_holds(store, fresh);
    bbo_store_free(later);

    /* a logout and a fresh login by another object still count up */
    later = file_store(f->path, KEY);
    assert_rc(bbo_store_clear(later), BBO_OK);
    assert_rc(bbo_store_save(later, old), BBO_OK);
    expect_holds(store, old);
    bbo_store_free(later);
    bbo_store_free(store);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* Saves under the lock leave their generation in the lock file: a new
 * store object (a new process) refuses an older copy too. A record that
 * does not verify is ignored, and a logout does not stop a new login. */
static void test_rollback_recorded(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token();
    bbo_store *store = file_store(f->path, KEY);
    char aside[160], lock[160];
    unsigned char *record;
    size_t len;

    snprintf(aside, sizeof(aside), "%s/aside", f->dir);
    snprintf(lock, sizeof(lock), "%s.lock", f->path);
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_rc(bbo_store_save(store, old), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    copy_file(f->path, aside);
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_rc(bbo_store_save(store, fresh), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    bbo_store_free(store);
    copy_file(aside, f->path);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "rolled back"));
    assert_message_clean();

    /* the record is authenticated: one flipped bit and it counts for nothing */
    record = read_file(lock, &len);
    assert_int_equal(len, MAGIC_LEN + GEN_LEN + 32);
    assert_memory_equal(record, "BBOGEN1", MAGIC_LEN);
    record[MAGIC_LEN + GEN_LEN - 1] ^= 1;
    write_file(lock, record, len);
    expect_stored(f->path, KEY, old);
    record[MAGIC_LEN + GEN_LEN - 1] ^= 1;
    write_file(lock, record, len);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    free(record);

    /* logout, then a new login under the lock: loads */
    store = file_store(f->path, KEY);
    assert_rc(bbo_store_clear(store), BBO_OK);
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_rc(bbo_store_save(store, old), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    bbo_store_free(store);
    expect_stored(f->path, KEY, old);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* A load that opened the token file while another process saves (the
 * rename, then the lock file's record of the new generation) reads the
 * file it opened: not a rollback. */
static bbo_store *racing_saver;
static bbo_token *racing_token;
static int racing_saves;

static void save_when_opened(const char *stage)
{
    if (strcmp(stage, "opened") != 0 || !racing_saver)
        return;
    bbo__file_store_fault_hook = NULL; /* the save's own stages */
    assert_rc(bbo__store_lock(racing_saver), BBO_OK);
    assert_rc(bbo_store_save(racing_saver, racing_token), BBO_OK);
    assert_rc(bbo__store_unlock(racing_saver), BBO_OK);
    racing_saves++;
}

static void test_load_races_save(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token(), *got = NULL;
    bbo_store *reader = file_store(f->path, KEY);

    racing_saver = file_store(f->path, KEY);
    racing_token = fresh;
    assert_rc(bbo__store_lock(racing_saver), BBO_OK);
    assert_rc(bbo_store_save(racing_saver, old), BBO_OK);
    assert_rc(bbo__store_unlock(racing_saver), BBO_OK);
    bbo__file_store_fault_hook = save_when_opened;
    assert_rc(bbo_store_load(reader, &got), BBO_OK);
    bbo__file_store_fault_hook = NULL;
    assert_int_equal(racing_saves, 1);
    assert_non_null(got);
    assert_string_equal(bbo_token_access(got), bbo_token_access(old)); /* what it opened */
    bbo_token_free(got);
    got = NULL;
    assert_rc(bbo_store_load(reader, &got), BBO_OK); /* and the new one next */
    assert_string_equal(bbo_token_access(got), bbo_token_access(fresh));
    bbo_token_free(got);
    bbo_store_free(reader);
    bbo_store_free(racing_saver);
    racing_saver = NULL;
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* A file (validly) written at `generation` for the store id "gen". */
static void write_generation(const char *path, const bbo_token *token, uint64_t generation)
{
    char *json = NULL;
    bbo_buf bytes = BBO_BUF_INIT;

    assert_rc(bbo_token_to_json(token, &json), BBO_OK);
    assert_rc(bbo__store_file_encode(&bytes, json, KEY, "gen", generation), BBO_OK);
    write_file(path, bytes.ptr, bytes.size);
    bbo__buf_dispose(&bytes);
    bbo_free(json);
}

static uint64_t file_generation(const char *path)
{
    size_t len;
    unsigned char *bytes = read_file(path, &len);
    uint64_t generation;

    assert_true(len >= HEADER_LEN);
    generation = generation_of(bytes);
    free(bytes);
    return generation;
}

/* Saves continue from the file on disk: a store that saw a file from
 * ahead of its clock (a clock stepped back) is not made to refuse the
 * next one as rolled back; a header absurdly far ahead is ignored. */
static void test_generation_continues(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token(), *got = NULL;
    bbo_store *reader = file_store_id(f->path, KEY, "gen"), *writer;
    uint64_t now = (uint64_t)time(NULL) * 1000000, ahead = now + UINT64_C(3600) * 1000000;
    uint64_t far = now + UINT64_C(20) * 366 * 24 * 3600 * 1000000;

    write_generation(f->path, old, ahead);
    assert_rc(bbo_store_load(reader, &got), BBO_OK);
    bbo_token_free(got);
    writer = file_store_id(f->path, KEY, "gen"); /* saw nothing */
    assert_rc(bbo_store_save(writer, fresh), BBO_OK);
    bbo_store_free(writer);
    assert_true(file_generation(f->path) > ahead);
    expect_holds(reader, fresh);
    bbo_store_free(reader);

    write_generation(f->path, old, far);
    writer = file_store_id(f->path, KEY, "gen");
    assert_rc(bbo_store_save(writer, fresh), BBO_OK);
    bbo_store_free(writer);
    assert_true(file_generation(f->path) < ahead);
    reader = file_store_id(f->path, KEY, "gen");
    expect_holds(reader, fresh);
    bbo_store_free(reader);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* A file in the format of bboauth 0.1 (BBOENC1: magic | nonce | text |
 * tag, bound to nothing) is refused with a way out. */
static void test_v1_refused(void **state)
{
    fixture *f = *state;
    unsigned char file[MAGIC_LEN + NONCE_LEN + 64 + TAG_LEN];
    const char *json = "{\"access_token\":\"a\",\"token_type\":\"bearer\"}";
    size_t len = strlen(json);

    memcpy(file, "BBOENC1", MAGIC_LEN);
    memset(file + MAGIC_LEN, 7, NONCE_LEN);
    assert_true(len <= 64);
    assert_rc(bbo__gcm_seal(KEY, file + MAGIC_LEN, file, MAGIC_LEN + NONCE_LEN, json, len,
                            file + MAGIC_LEN + NONCE_LEN, file + MAGIC_LEN + NONCE_LEN + len),
              BBO_OK);
    write_file(f->path, file, MAGIC_LEN + NONCE_LEN + len + TAG_LEN);
    expect_load_error(f->path, KEY, BBO_ECRYPTO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "log in again"));
    expect_load_error(f->path, NULL, BBO_ECRYPTO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "key"));
}

/* ---- the directory, the lock file, FIFOs -------------------------------- */

static void expect_lock_error(const char *path, int code, const char *words)
{
    bbo_store *store = file_store(path, NULL);

    assert_rc(bbo__store_lock(store), code);
    if (words && !strstr(bbo_error_message(bbo_error_last()), words))
        fail_msg("no \"%s\" in: %s", words, bbo_error_message(bbo_error_last()));
    if (code == BBO_OK)
        assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_rc(bbo__store_try_lock(store), code);
    if (code == BBO_OK)
        assert_rc(bbo__store_unlock(store), BBO_OK);
    bbo_store_free(store);
}

static void expect_save_error(const char *path, int code)
{
    bbo_store *store = file_store(path, NULL);
    bbo_token *old = old_token();

    assert_rc(bbo_store_save(store, old), code);
    bbo_store_free(store);
    bbo_token_free(old);
}

/* A FIFO at the token or lock path fails at once, never blocks. */
static void test_fifo_refused(void **state)
{
    fixture *f = *state;
    char lock[160];

    assert_int_equal(mkfifo(f->path, 0600), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "not a regular file"));
    expect_load_error(f->path, KEY, BBO_EIO);
    assert_int_equal(unlink(f->path), 0);

    snprintf(lock, sizeof(lock), "%s.lock", f->path);
    assert_int_equal(mkfifo(lock, 0600), 0);
    expect_lock_error(f->path, BBO_EIO, "not a regular file");
    assert_int_equal(unlink(lock), 0);
    /* a symlink at the lock path is refused too */
    assert_int_equal(symlink("/dev/null", lock), 0);
    expect_lock_error(f->path, BBO_EIO, "symbolic link");
}

/* A lock file another user made (and could hold forever) is refused. */
static void test_lock_file_checked(void **state)
{
    fixture *f = *state;
    char lock[160];
    int fd;

    snprintf(lock, sizeof(lock), "%s.lock", f->path);
    fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(lock, 0644), 0); /* others could take a read lock */
    expect_lock_error(f->path, BBO_EIO, "chmod 600");
    assert_int_equal(chmod(lock, 0600), 0);
    if (geteuid() != 0) {
        skip_because("not root: cannot give a lock file to another user");
        return;
    }
    assert_int_equal(chown(lock, 65534, 65534), 0);
    assert_int_equal(chmod(lock, 0666), 0);
    expect_lock_error(f->path, BBO_EIO, "belongs to another user");
    assert_int_equal(unlink(lock), 0);
    /* removed: the lock works again */
    expect_lock_error(f->path, BBO_OK, NULL);
}

/* 0777, 0770 and 0720 directories are refused, a sticky one is not. */
static void test_directory_checked(void **state)
{
    static const mode_t unsafe[] = { 0777, 0770, 0720, 0702, 0775 };
    fixture *f = *state;
    bbo_token *old = old_token();
    size_t i;

    save_token(f->path, NULL, old);
    for (i = 0; i < BBO_ARRAY_SIZE(unsafe); i++) {
        assert_int_equal(chmod(f->dir, unsafe[i]), 0);
        expect_load_error(f->path, NULL, BBO_EIO);
        if (!strstr(bbo_error_message(bbo_error_last()), "writable by group or others"))
            fail_msg("mode %03o: %s", (unsigned)unsafe[i], bbo_error_message(bbo_error_last()));
        expect_load_error(f->path, KEY, BBO_EIO);
        expect_save_error(f->path, BBO_EIO);
        expect_lock_error(f->path, BBO_EIO, "chmod go-w");
    }
    /* sticky, like /tmp: others may add files, not replace ours */
    assert_int_equal(chmod(f->dir, 01777), 0);
    expect_stored(f->path, NULL, old);
    save_token(f->path, NULL, old);
    expect_lock_error(f->path, BBO_OK, NULL);
    expect_stored(f->path, NULL, old);
    assert_int_equal(chmod(f->dir, 0700), 0);
    expect_stored(f->path, NULL, old);
    if (geteuid() != 0) {
        skip_because("not root: cannot give files to another user");
        bbo_token_free(old);
        return;
    }
    /* in a sticky directory, a token file of another user is refused */
    assert_int_equal(chmod(f->dir, 01777), 0);
    assert_int_equal(chown(f->path, 65534, 65534), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "belongs to another user"));
    assert_int_equal(chown(f->path, 0, 0), 0);
    /* a directory of another user (but root) is refused */
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    expect_load_error(f->path, NULL, BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "belongs to another user"));
    expect_save_error(f->path, BBO_EIO);
    assert_int_equal(chown(f->dir, 0, 0), 0);
    assert_int_equal(chmod(f->dir, 0700), 0);
    expect_stored(f->path, NULL, old);
    bbo_token_free(old);
}

/* The message of a corrupt file names it once, without a doubled prefix. */
static void test_corrupt_message(void **state)
{
    fixture *f = *state;
    const char *msg;

    write_file(f->path, "{\"access_token\":", 16);
    expect_load_error(f->path, NULL, BBO_EPROTOCOL);
    msg = bbo_error_message(bbo_error_last());
    assert_non_null(strstr(msg, f->path));
    assert_null(strstr(msg, "token store: token store"));
    assert_int_equal(strncmp(msg, "token file ", 11), 0);
    assert_non_null(strstr(msg, "is corrupt: "));
    assert_null(strstr(msg + 1, "token file "));
}

/* No descriptor of the store survives an exec. */
static int fds_without_cloexec(const char *part)
{
    char link[64], target[256];
    int fd, count = 0;
    ssize_t n;

    for (fd = 0; fd < 1024; fd++) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
            continue;
        target[n] = '\0';
        if (strstr(target, part) && !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            count++;
    }
    return count;
}

static int open_temp_files_checked;

static void check_temp_cloexec(const char *stage)
{
    if (strcmp(stage, "written") == 0) {
        assert_int_equal(fds_without_cloexec(".tmp."), 0);
        open_temp_files_checked++;
    }
}

static void test_descriptors_cloexec(void **state)
{
    fixture *f = *state;
    bbo_store *store = file_store(f->path, KEY);
    bbo_token *old = old_token();

    bbo__file_store_fault_hook = check_temp_cloexec;
    assert_rc(bbo_store_save(store, old), BBO_OK);
    assert_int_equal(open_temp_files_checked, 1);
    bbo__file_store_fault_hook = NULL;
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_int_equal(fds_without_cloexec(".lock"), 0);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    bbo_store_free(store);
    bbo_token_free(old);
}

/* try_lock: BBO_EBUSY while held by another store object, another
 * spelling (the kernel lock) or another process; taken once free. */
static void test_try_lock(void **state)
{
    fixture *f = *state;
    bbo_store *holder = file_store(f->path, NULL), *other = file_store(f->path, NULL), *spelled;
    char spelling[160];
    int status;
    pid_t pid;

    snprintf(spelling, sizeof(spelling), "%s/./token.json", f->dir);
    spelled = file_store(spelling, NULL);
    assert_rc(bbo__store_try_lock(holder), BBO_OK);
    bbo_error_clear();
    assert_rc(bbo__store_try_lock(other), BBO_EBUSY);
    assert_rc(bbo__store_try_lock(spelled), BBO_EBUSY);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_OK); /* not an error to report */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bbo_store *mine = NULL;
        int rc = bbo_file_store_new(&mine, f->path, NULL);

        rc = rc == BBO_OK ? bbo__store_try_lock(mine) : rc;
        bbo_store_free(mine);
        /* the parent's copies: the lock stays, held by the parent's open file */
        bbo_store_free(holder);
        bbo_store_free(other);
        bbo_store_free(spelled);
        _exit(rc == BBO_EBUSY ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_rc(bbo__store_try_lock(spelled), BBO_OK);
    assert_rc(bbo__store_try_lock(holder), BBO_EBUSY);
    assert_rc(bbo__store_unlock(spelled), BBO_OK);
    assert_rc(bbo__store_try_lock(other), BBO_OK);
    assert_rc(bbo__store_unlock(other), BBO_OK);
    bbo_store_free(holder);
    bbo_store_free(other);
    bbo_store_free(spelled);
}

/* ---- atomic saves: kill -9 in the middle ------------------------------ */

static const char *kill_stage;
static int kill_fd = -1;

/* In the child: at the chosen stage, tell the parent and wait for the kill. */
static void stop_at_stage(const char *stage)
{
    if (strcmp(stage, kill_stage) != 0)
        return;
    if (write(kill_fd, "!", 1) != 1)
        _exit(4);
    for (;;)
        pause();
}

/* Save NEW in a child killed at `stage`; returns how many temp files remain. */
static int save_killed_at(fixture *f, const unsigned char *key, const char *stage)
{
    bbo_store *store = file_store(f->path, key);
    bbo_token *fresh = new_token();
    struct pollfd pfd;
    int fds[2], status, total, temps;
    char byte = 0;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        kill_stage = stage;
        kill_fd = fds[1];
        bbo__file_store_fault_hook = stop_at_stage;
        bbo_store_save(store, fresh);
        _exit(3); /* the hook never fired: the parent sees EOF */
    }
    close(fds[1]);
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 60000), 1);
    assert_int_equal(read(fds[0], &byte, 1), 1);
    assert_int_equal(byte, '!');
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    close(fds[0]);
    bbo_token_free(fresh);
    bbo_store_free(store);
    list_dir(f->dir, &total, &temps);
    return temps;
}

static void killed_before_rename(fixture *f, const unsigned char *key, const char *stage)
{
    bbo_token *old = old_token(), *fresh = new_token();

    save_token(f->path, key, old);
    /* the temporary file was written (and maybe synced), never renamed */
    assert_int_equal(save_killed_at(f, key, stage), 1);
    expect_stored(f->path, key, old);
    assert_int_equal(file_mode(f->path), 0600);
    /* the stray temporary file disturbs neither loads nor the next save */
    save_token(f->path, key, fresh);
    expect_stored(f->path, key, fresh);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

static void test_kill_after_written(void **state)
{
    killed_before_rename(*state, NULL, "written");
}

static void test_kill_after_synced(void **state)
{
    killed_before_rename(*state, NULL, "synced");
}

static void test_kill_after_written_encrypted(void **state)
{
    killed_before_rename(*state, KEY, "written");
}

static void test_kill_after_renamed(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token();

    save_token(f->path, NULL, old);
    assert_int_equal(save_killed_at(f, NULL, "renamed"), 0);
    assert_no_temp_files(f->dir);
    expect_stored(f->path, NULL, fresh);
    assert_int_equal(file_mode(f->path), 0600);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* Killed before any token was ever stored: still "nothing stored". */
static void test_kill_first_save(void **state)
{
    fixture *f = *state;
    bbo_store *store;
    bbo_token *got = UNTOUCHED;

    assert_int_equal(save_killed_at(f, NULL, "synced"), 1);
    store = file_store(f->path, NULL);
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_null(got);
    bbo_store_free(store);
}

/* ---- save failures ---------------------------------------------------- */

static void test_save_into_missing_directory(void **state)
{
    fixture *f = *state;
    char path[192];
    bbo_token *old = old_token();
    bbo_store *store;

    snprintf(path, sizeof(path), "%s/missing/token.json", f->dir);
    store = file_store(path, NULL);
    assert_rc(bbo_store_save(store, old), BBO_EIO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "cannot create a temporary file"));
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), path));
    assert_message_clean();
    assert_no_temp_files(f->dir);
    bbo_store_free(store);
    bbo_token_free(old);
}

/* Can we create files in a 0500 directory? (root and CAP_DAC_OVERRIDE can) */
static int permissions_enforced(const char *dir)
{
    char probe[192];
    int fd;

    snprintf(probe, sizeof(probe), "%s/probe", dir);
    if ((fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        return 1;
    close(fd);
    unlink(probe);
    return 0;
}

static void test_save_read_only_directory(void **state)
{
    fixture *f = *state;
    bbo_token *old = old_token(), *fresh = new_token();
    bbo_store *store = file_store(f->path, NULL);
    int total, temps;

    assert_rc(bbo_store_save(store, old), BBO_OK);
    assert_int_equal(chmod(f->dir, 0500), 0);
    if (!permissions_enforced(f->dir)) {
        /* running as root: a missing directory makes the save fail instead
         * (not skip(): cmocka 1.1.5 reports a skip as "not ok" in TAP) */
        assert_int_equal(chmod(f->dir, 0700), 0);
        bbo_store_free(store);
        bbo_token_free(old);
        bbo_token_free(fresh);
        test_save_into_missing_directory(state);
        return;
    }
    assert_rc(bbo_store_save(store, fresh), BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "cannot create a temporary file"));
    assert_message_clean();
    /* the old token is still there, whole, and nothing else */
    expect_stored(f->path, NULL, old);
    assert_int_equal(chmod(f->dir, 0700), 0);
    list_dir(f->dir, &total, &temps);
    assert_int_equal(total, 1);
    bbo_store_free(store);
    bbo_token_free(old);
    bbo_token_free(fresh);
}

/* ---- custom stores ---------------------------------------------------- */

typedef struct custom {
    int load_rc, save_rc, clear_rc, lock_rc;
    bool load_gives_token; /* load sets *out even when failing */
    int loads, saves, clears, locks, unlocks, destroys;
    const bbo_token *saved;
} custom;

static int custom_load(bbo_token **out, void *payload)
{
    custom *c = payload;

    c->loads++;
    if (c->load_gives_token)
        *out = old_token();
    return c->load_rc;
}

static int custom_save(const bbo_token *token, void *payload)
{
    custom *c = payload;

    c->saves++;
    c->saved = token;
    return c->save_rc;
}

static int custom_clear(void *payload)
{
    custom *c = payload;

    c->clears++;
    return c->clear_rc;
}

static int custom_lock(void *payload)
{
    custom *c = payload;

    c->locks++;
    return c->lock_rc;
}

static int custom_unlock(void *payload)
{
    custom *c = payload;

    c->unlocks++;
    return BBO_OK;
}

static void custom_destroy(void *payload)
{
    custom *c = payload;

    c->destroys++;
}

static bbo_store_callbacks custom_table(custom *c)
{
    bbo_store_callbacks cb = { BBO_STORE_VERSION, custom_load, custom_save, custom_clear,
                               custom_lock, custom_unlock, custom_destroy, NULL, NULL };

    cb.payload = c;
    return cb;
}

static void expect_store_new_einval(const bbo_store_callbacks *cb, const custom *c)
{
    bbo_store *store = (bbo_store *)(uintptr_t)0x1;
    long base = bbo_test_alloc_live();

    assert_rc(bbo_store_new(&store, cb), BBO_EINVAL);
    assert_ptr_equal(store, (bbo_store *)(uintptr_t)0x1);
    assert_int_equal(c->destroys, 0);
    assert_int_equal(bbo_test_alloc_live(), base);
}

static void test_custom_validation(void **state)
{
    custom c;
    bbo_store_callbacks cb;
    bbo_store *store = NULL;

    (void)state;
    memset(&c, 0, sizeof(c));
    cb = custom_table(&c);
    cb.version = BBO_STORE_VERSION + 1;
    expect_store_new_einval(&cb, &c);
    cb.version = 0;
    expect_store_new_einval(&cb, &c);
    cb = custom_table(&c);
    cb.load = NULL;
    expect_store_new_einval(&cb, &c);
    cb = custom_table(&c);
    cb.save = NULL;
    expect_store_new_einval(&cb, &c);
    cb = custom_table(&c);
    cb.unlock = NULL;
    expect_store_new_einval(&cb, &c);
    cb = custom_table(&c);
    cb.lock = NULL;
    expect_store_new_einval(&cb, &c);
    expect_store_new_einval(NULL, &c);
    cb = custom_table(&c);
    assert_rc(bbo_store_new(NULL, &cb), BBO_EINVAL);
    assert_int_equal(c.destroys, 0);

    /* the minimal table: load and save only */
    cb = custom_table(&c);
    cb.clear = NULL;
    cb.lock = NULL;
    cb.unlock = NULL;
    cb.destroy = NULL;
    assert_rc(bbo_store_new(&store, &cb), BBO_OK);
    assert_false(bbo__store_can_lock(store));
    assert_rc(bbo__store_lock(store), BBO_OK); /* no-ops */
    assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_rc(bbo_store_clear(store), BBO_EINVAL);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "cannot clear"));
    bbo_store_free(store);
    assert_int_equal(c.destroys, 0);
    assert_int_equal(c.loads + c.saves + c.clears + c.locks + c.unlocks, 0);
}

static void test_custom_table_is_copied(void **state)
{
    custom c;
    bbo_store_callbacks cb;
    bbo_store *store = NULL;
    bbo_token *got = UNTOUCHED;

    (void)state;
    memset(&c, 0, sizeof(c));
    cb = custom_table(&c);
    assert_rc(bbo_store_new(&store, &cb), BBO_OK);
    memset(&cb, 0, sizeof(cb)); /* the store must not look at it again */
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_null(got);
    assert_int_equal(c.loads, 1);
    bbo_store_free(store);
    assert_int_equal(c.destroys, 1);
}

/* Load returning `rc` must give `expected`, with a usable message. */
static void expect_custom_load(int rc, int expected, bool gives_token)
{
    custom c;
    bbo_store_callbacks cb;
    bbo_store *store = NULL;
    bbo_token *got = UNTOUCHED;
    long base;

    memset(&c, 0, sizeof(c));
    c.load_rc = rc;
    c.load_gives_token = gives_token;
    cb = custom_table(&c);
    assert_rc(bbo_store_new(&store, &cb), BBO_OK);
    base = bbo_test_alloc_live();
    assert_rc(bbo_store_load(store, &got), expected);
    assert_int_equal(c.loads, 1);
    assert_int_equal(bbo_error_code(bbo_error_last()), expected);
    assert_non_null(bbo_error_message(bbo_error_last()));
    assert_true(bbo_error_message(bbo_error_last())[0] != '\0');
    assert_ptr_equal(got, UNTOUCHED);
    assert_int_equal(bbo_test_alloc_live(), base); /* a token set on failure is freed */
    bbo_store_free(store);
    assert_int_equal(c.destroys, 1);
}

static void test_custom_load_codes(void **state)
{
    char code[16];

    (void)state;
    /* codes that are not ours become BBO_EIO naming the code */
    expect_custom_load(-999, BBO_EIO, false);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "-999"));
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "load"));
    expect_custom_load(BBO_ECONFLICT - 1, BBO_EIO, false);
    snprintf(code, sizeof(code), "%d", BBO_ECONFLICT - 1);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), code));
    expect_custom_load(INT32_MIN, BBO_EIO, true);
    /* a positive code is not success */
    expect_custom_load(1, BBO_EIO, false);
    expect_custom_load(42, BBO_EIO, true);
    /* our codes pass through, with a message even though none was set */
    expect_custom_load(BBO_EUSER, BBO_EUSER, false);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "load"));
    expect_custom_load(BBO_EIO, BBO_EIO, true);
    expect_custom_load(BBO_ECRYPTO, BBO_ECRYPTO, false);
    expect_custom_load(BBO_ENOMEM, BBO_ENOMEM, false);
}

static void test_custom_forwarding(void **state)
{
    custom c;
    bbo_store_callbacks cb;
    bbo_store *store = NULL;
    bbo_token *old = old_token(), *got = NULL;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.load_gives_token = true;
    cb = custom_table(&c);
    assert_rc(bbo_store_new(&store, &cb), BBO_OK);

    assert_rc(bbo_store_load(store, &got), BBO_OK);
    assert_same_token(got, old);
    bbo_token_free(got);
    got = UNTOUCHED;
    assert_rc(bbo_store_load(store, &got), BBO_OK);
    bbo_token_free(got);

    assert_rc(bbo_store_save(store, old), BBO_OK);
    assert_ptr_equal(c.saved, old);
    assert_rc(bbo_store_save(store, NULL), BBO_EINVAL);
    assert_int_equal(c.saves, 1);
    c.save_rc = -12345;
    assert_rc(bbo_store_save(store, old), BBO_EIO);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "save"));
    c.save_rc = BBO_EUSER;
    assert_rc(bbo_store_save(store, old), BBO_EUSER);
    assert_non_null(strstr(bbo_error_message(bbo_error_last()), "save"));
    assert_int_equal(c.saves, 3);

    assert_rc(bbo_store_clear(store), BBO_OK);
    c.clear_rc = BBO_EIO;
    assert_rc(bbo_store_clear(store), BBO_EIO);
    c.clear_rc = 7;
    assert_rc(bbo_store_clear(store), BBO_EIO);
    assert_int_equal(c.clears, 3);
    /* each clear under the store's lock, released also when it failed */
    assert_int_equal(c.locks, 3);
    assert_int_equal(c.unlocks, 3);

    assert_true(bbo__store_can_lock(store));
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    c.lock_rc = -77;
    assert_rc(bbo__store_lock(store), BBO_EIO);
    assert_int_equal(c.locks, 5);
    assert_int_equal(c.unlocks, 4);
    /* no lock, no clear */
    c.clear_rc = 0;
    assert_rc(bbo_store_clear(store), BBO_EIO);
    assert_int_equal(c.clears, 3);
    assert_int_equal(c.unlocks, 4);

    assert_int_equal(c.destroys, 0);
    bbo_store_free(store);
    assert_int_equal(c.destroys, 1);
    assert_int_equal(c.loads, 2);
    bbo_token_free(old);
}

/* ---- locking ---------------------------------------------------------- */

typedef struct lock_race {
    const char *path;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int phase;   /* 1: the second thread is about to lock */
    int counter; /* the holder of the file lock bumps it */
    int seen;    /* what the second thread saw once it got the lock */
    int rc;
    bool clear;  /* the second thread calls bbo_store_clear (which locks) */
} lock_race;

static void *second_locker(void *arg)
{
    lock_race *r = arg;
    bbo_store *store = NULL;

    if ((r->rc = bbo_file_store_new(&store, r->path, NULL)) < 0)
        return NULL;
    pthread_mutex_lock(&r->mutex);
    r->phase = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mutex);
    if (r->clear) {
        r->rc = bbo_store_clear(store);
        pthread_mutex_lock(&r->mutex);
        r->seen = r->counter;
        pthread_mutex_unlock(&r->mutex);
    } else if ((r->rc = bbo__store_lock(store)) == BBO_OK) {
        pthread_mutex_lock(&r->mutex);
        r->seen = r->counter;
        r->counter++;
        pthread_mutex_unlock(&r->mutex);
        r->rc = bbo__store_unlock(store);
    }
    bbo_store_free(store);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * `holder` takes the lock; a thread with its own store of `other_path`
 * then tries to. While we hold the lock we bump the counter 5 times,
 * giving the thread every chance to slip in; it must see 5, i.e. get the
 * lock only after our unlock.
 */
/* Lock `holder`, start second_locker on `r` (for `path`), and bump the counter 5
 * times while it waits for the lock. */
static void hold_and_race(lock_race *r, bbo_store *holder, const char *path, bool clear,
                          pthread_t *thread)
{
    int i;

    memset(r, 0, sizeof(*r));
    r->path = path;
    r->clear = clear;
    pthread_mutex_init(&r->mutex, NULL);
    pthread_cond_init(&r->cond, NULL);
    assert_rc(bbo__store_lock(holder), BBO_OK);
    assert_int_equal(pthread_create(thread, NULL, second_locker, r), 0);
    pthread_mutex_lock(&r->mutex);
    while (r->phase == 0)
        pthread_cond_wait(&r->cond, &r->mutex);
    pthread_mutex_unlock(&r->mutex);
    for (i = 0; i < 5; i++) {
        sleep_ms(20);
        pthread_mutex_lock(&r->mutex);
        r->counter++;
        pthread_mutex_unlock(&r->mutex);
    }
}

static void hold_while_other_waits(bbo_store *holder, const char *other_path)
{
    lock_race r;
    pthread_t thread;

    hold_and_race(&r, holder, other_path, false, &thread);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_rc(r.rc, BBO_OK);
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.counter, 6);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.mutex);
}

/* Two store objects for one path in two threads: the second waits. */
static void test_lock_two_threads(void **state)
{
    fixture *f = *state;
    bbo_store *store = file_store(f->path, NULL);

    assert_true(bbo__store_can_lock(store));
    hold_while_other_waits(store, f->path);
    /* the lock can be taken again */
    assert_rc(bbo__store_lock(store), BBO_OK);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    bbo_store_free(store);
}

/* A plain clear waits for the store's lock: a refresh in flight elsewhere
 * (here: the lock holder saving a new token) cannot save after it. */
static void test_clear_takes_lock(void **state)
{
    fixture *f = *state;
    bbo_store *holder = file_store(f->path, NULL);
    bbo_token *tok = old_token(), *loaded = NULL;
    pthread_t thread;
    lock_race r;

    assert_rc(bbo_store_save(holder, tok), BBO_OK);
    bbo_token_free(tok);
    hold_and_race(&r, holder, f->path, true, &thread);
    /* the refresh in flight saves its token, then lets go */
    tok = new_token();
    assert_rc(bbo_store_save(holder, tok), BBO_OK);
    bbo_token_free(tok);
    assert_rc(bbo__store_unlock(holder), BBO_OK);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_rc(r.rc, BBO_OK);
    assert_int_equal(r.seen, 5);
    /* cleared after the save, not before */
    assert_rc(bbo_store_load(holder, &loaded), BBO_OK);
    assert_null(loaded);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.mutex);
    bbo_store_free(holder);
}

/* valgrind (3.19 at least) does not let other threads run while one
 * blocks in F_OFD_SETLKW: a lock held by a thread of the same process then
 * never gets released. */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");

    return preload && strstr(preload, "vgpreload") != NULL;
}

/* Two spellings of one path share no mutex in the process: the kernel's
 * open-file-description lock must still make the second thread wait. */
static void test_lock_two_spellings(void **state)
{
    fixture *f = *state;
    bbo_store *store = file_store(f->path, NULL), *other;
    char spelling[160];

    snprintf(spelling, sizeof(spelling), "%s/./token.json", f->dir);
    if (!under_valgrind()) {
        hold_while_other_waits(store, spelling);
    } else {
        /* at least: both take and release the lock in turn */
        other = file_store(spelling, NULL);
        assert_rc(bbo__store_lock(store), BBO_OK);
        assert_rc(bbo__store_unlock(store), BBO_OK);
        assert_rc(bbo__store_lock(other), BBO_OK);
        assert_rc(bbo__store_unlock(other), BBO_OK);
        bbo_store_free(other);
    }
    bbo_store_free(store);
}

#define RACERS 4
#define ROUNDS 25

typedef struct racer {
    const char *path;
    bbo_store *shared; /* NULL: a store object of its own */
    volatile int *counter;
    int rc;
} racer;

/* Non-atomic read, pause, write under the store lock: lost updates show
 * any lack of exclusion. */
static void *race(void *arg)
{
    racer *r = arg;
    bbo_store *store = r->shared;
    int i, value;

    if (!store && (r->rc = bbo_file_store_new(&store, r->path, NULL)) < 0)
        return NULL;
    for (i = 0; i < ROUNDS && r->rc == BBO_OK; i++) {
        if ((r->rc = bbo__store_lock(store)) < 0)
            break;
        value = *r->counter;
        sleep_ms(1);
        *r->counter = value + 1;
        r->rc = bbo__store_unlock(store);
    }
    if (!r->shared)
        bbo_store_free(store);
    return NULL;
}

static void run_racers(const char *path, bbo_store *shared)
{
    pthread_t threads[RACERS];
    racer racers[RACERS];
    volatile int counter = 0;
    int i;

    for (i = 0; i < RACERS; i++) {
        racers[i].path = path;
        racers[i].shared = shared;
        racers[i].counter = &counter;
        racers[i].rc = BBO_OK;
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_rc(racers[i].rc, BBO_OK);
    }
    assert_int_equal(counter, RACERS * ROUNDS);
}

static void test_lock_many_threads(void **state)
{
    fixture *f = *state;
    bbo_store *store = file_store(f->path, NULL);

    run_racers(f->path, NULL);  /* each thread its own store object */
    run_racers(f->path, store); /* all threads one store object */
    bbo_store_free(store);
}

/* The lock excludes another process too (the child's object is its own). */
static void test_lock_other_process(void **state)
{
    fixture *f = *state;
    bbo_store *store = file_store(f->path, NULL);
    int ready[2], done[2], status;
    struct pollfd pfd;
    char byte = 0;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    assert_rc(bbo__store_lock(store), BBO_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bbo_store *mine = NULL;
        int ok;

        close(ready[0]);
        close(done[0]);
        /* the parent's copy: its lock stays, held by the parent's open file */
        bbo_store_free(store);
        ok = bbo_file_store_new(&mine, f->path, NULL) == BBO_OK;
        ok = ok && write(ready[1], "r", 1) == 1;
        ok = ok && bbo__store_lock(mine) == BBO_OK;
        ok = ok && write(done[1], "l", 1) == 1;
        ok = ok && bbo__store_unlock(mine) == BBO_OK;
        bbo_store_free(mine);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(done[1]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    /* the child is (or soon will be) waiting for the lock we hold */
    pfd.fd = done[0];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 300), 0);
    assert_rc(bbo__store_unlock(store), BBO_OK);
    assert_int_equal(read(done[0], &byte, 1), 1);
    assert_int_equal(byte, 'l');
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(done[0]);
    bbo_store_free(store);
}

/* ---- out of memory ---------------------------------------------------- */

typedef struct oom_ctx {
    const char *path;
    const unsigned char *key;
    bbo_store *store;
    bbo_token *token;
    bbo_token *loaded;
    bbo_store_callbacks table;
} oom_ctx;

static int op_file_store_new(void *arg)
{
    oom_ctx *c = arg;

    return bbo_file_store_new(&c->store, c->path, c->key);
}

static void free_store(void *arg)
{
    oom_ctx *c = arg;

    bbo_store_free(c->store);
    c->store = NULL;
}

static int op_store_new(void *arg)
{
    oom_ctx *c = arg;

    return bbo_store_new(&c->store, &c->table);
}

static int op_load(void *arg)
{
    oom_ctx *c = arg;

    return bbo_store_load(c->store, &c->loaded);
}

static void free_loaded(void *arg)
{
    oom_ctx *c = arg;

    bbo_token_free(c->loaded);
    c->loaded = NULL;
}

static int op_save(void *arg)
{
    oom_ctx *c = arg;

    return bbo_store_save(c->store, c->token);
}

static void test_oom_file_store_new(void **state)
{
    fixture *f = *state;
    oom_ctx c;
    custom cu;

    memset(&c, 0, sizeof(c));
    c.path = f->path;
    bbo_test_oom_torture(op_file_store_new, free_store, &c);
    c.key = KEY;
    bbo_test_oom_torture(op_file_store_new, free_store, &c);
    c.path = "relative-token.json";
    bbo_test_oom_torture(op_file_store_new, free_store, &c);

    memset(&cu, 0, sizeof(cu));
    c.table = custom_table(&cu);
    bbo_test_oom_torture(op_store_new, free_store, &c);
    assert_int_equal(cu.destroys, 1); /* only the successful one's free */
}

static void oom_load_save(fixture *f, const unsigned char *key)
{
    oom_ctx c;
    bbo_token *old = old_token();
    int total, temps;

    memset(&c, 0, sizeof(c));
    c.store = file_store(f->path, key);
    c.token = new_token();
    assert_rc(bbo_store_save(c.store, old), BBO_OK); /* warm up (DRBG seeding) */

    /* a failed save leaves the old token whole and no temporary file */
    bbo_test_oom_torture(op_save, NULL, &c);
    list_dir(f->dir, &total, &temps);
    assert_int_equal(total, 1);
    assert_int_equal(temps, 0);
    expect_stored(f->path, key, c.token);

    bbo_test_oom_torture(op_load, free_loaded, &c);
    bbo_store_free(c.store);
    bbo_token_free(c.token);
    bbo_token_free(old);
}

static void test_oom_load_save_plain(void **state)
{
    oom_load_save(*state, NULL);
}

static void test_oom_load_save_encrypted(void **state)
{
    oom_load_save(*state, KEY);
}

/* Each failing save must leave the previous token in place. */
static int op_save_check(void *arg)
{
    oom_ctx *c = arg;
    bbo_token *got = NULL;
    int rc = bbo_store_save(c->store, c->token), load_rc;

    if (rc == BBO_ENOMEM) {
        bbo_test_alloc_fail_after(-1);
        load_rc = bbo_store_load(c->store, &got);
        if (load_rc != BBO_OK || !got || strcmp(bbo_token_access(got), ACCESS_OLD) != 0)
            fail_msg("a save failing for memory damaged the stored token (%d)", load_rc);
        bbo_token_free(got);
        bbo__error_set(BBO_ENOMEM, "restored"); /* what the torture checks */
    }
    return rc;
}

/* The same with paths whose temporary-file name makes the buffer grow at
 * every length around the allocator's first size: a failed append must
 * never leave the token file's own name to be unlinked. */
static void test_oom_save_keeps_old_long_paths(void **state)
{
    fixture *f = *state;
    char path[256];
    size_t len;

    for (len = strlen(f->dir) + 2; len < 140; len++) {
        oom_ctx c;
        bbo_token *old = old_token();
        size_t name = len - strlen(f->dir) - 1;

        snprintf(path, sizeof(path), "%s/%.*s", f->dir, (int)name,
                 "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
                 "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt");
        memset(&c, 0, sizeof(c));
        c.store = file_store(path, NULL);
        c.token = new_token();
        assert_rc(bbo_store_save(c.store, old), BBO_OK);
        bbo_test_oom_torture(op_save_check, NULL, &c);
        bbo_store_free(c.store);
        bbo_token_free(c.token);
        bbo_token_free(old);
        unlink(path);
    }
}

static void test_oom_save_keeps_old(void **state)
{
    fixture *f = *state;
    oom_ctx c;
    bbo_token *old = old_token();

    memset(&c, 0, sizeof(c));
    c.store = file_store(f->path, KEY);
    c.token = new_token();
    assert_rc(bbo_store_save(c.store, old), BBO_OK);
    bbo_test_oom_torture(op_save_check, NULL, &c);
    expect_stored(f->path, KEY, c.token);
    bbo_store_free(c.store);
    bbo_token_free(c.token);
    bbo_token_free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_round_trip_plain),
        T(test_round_trip_encrypted),
        T(test_round_trip_parsed_token),
        T(test_file_store_new_arguments),
        T(test_unsafe_modes),
        T(test_symlink_refused),
        T(test_too_large),
        T(test_garbage),
        T(test_directory_at_path),
        T(test_encrypted_format),
        T(test_encrypted_tamper_every_byte),
        T(test_encrypted_tamper_sample),
        T(test_encrypted_truncated),
        T(test_no_downgrade),
        T(test_fresh_nonce),
        T(test_bound_copied_file),
        T(test_bound_swapped_files),
        T(test_bound_store_id),
        T(test_rollback_refused),
        T(test_generation_continues),
        T(test_rollback_recorded),
        T(test_load_races_save),
        T(test_v1_refused),
        T(test_fifo_refused),
        T(test_lock_file_checked),
        T(test_directory_checked),
        T(test_corrupt_message),
        T(test_descriptors_cloexec),
        T(test_try_lock),
        T(test_kill_after_written),
        T(test_kill_after_synced),
        T(test_kill_after_written_encrypted),
        T(test_kill_after_renamed),
        T(test_kill_first_save),
        T(test_save_into_missing_directory),
        T(test_save_read_only_directory),
        T(test_custom_validation),
        T(test_custom_table_is_copied),
        T(test_custom_load_codes),
        T(test_custom_forwarding),
        T(test_lock_two_threads),
        T(test_clear_takes_lock),
        T(test_lock_many_threads),
        T(test_lock_two_spellings),
        T(test_lock_other_process),
        T(test_oom_file_store_new),
        T(test_oom_load_save_plain),
        T(test_oom_load_save_encrypted),
        T(test_oom_save_keeps_old),
        T(test_oom_save_keeps_old_long_paths),
#undef T
    };

    the_old_token = make_token(ACCESS_OLD, REFRESH_OLD, EXPIRES_OLD);
    the_new_token = make_token(ACCESS_NEW, REFRESH_NEW, EXPIRES_NEW);
    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
