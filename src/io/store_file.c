/*
 * The built-in file store: atomic saves, 0600, fcntl locking, optional
 * AES-256-GCM at rest bound to the store's identity.
 * SPDX-License-Identifier: MIT
 */
/* F_OFD_SETLKW and mkostemp are declared only with _GNU_SOURCE */
#define _GNU_SOURCE 1

#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/store.h"
#include "internal/store_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC BBO_STORE_FILE_MAGIC
#define MAGIC_V1 BBO_STORE_FILE_MAGIC_V1
#define MAGIC_LEN BBO_STORE_FILE_MAGIC_LEN
#define GENERATION_LEN BBO_STORE_FILE_GENERATION_LEN
#define HEADER_LEN (MAGIC_LEN + GENERATION_LEN + BBO_GCM_NONCE_LEN)
/* the header, then SHA-256 of the store id */
#define AAD_LEN (HEADER_LEN + BBO_SHA256_LEN)
/* a token file is a few kilobytes; anything far bigger is not ours */
#define FILE_MAX (BBO_JSON_MAX_BYTES + HEADER_LEN + BBO_GCM_TAG_LEN)
#define TEN_YEARS_US (UINT64_C(10) * 366 * 24 * 3600 * 1000000)

void (*bbo__file_store_fault_hook)(const char *stage);

/* One mutex per lock file path for the whole process, shared by every
 * store of that path and held from lock to unlock: threads then exclude
 * each other without the kernel, which process-associated fcntl locks
 * (no F_OFD_SETLKW) cannot do, and which valgrind cannot run (it does not
 * release a thread blocked in F_OFD_SETLKW). A child after fork makes its
 * own: the parent's may be held by a thread the child does not have. */
typedef struct path_mutex {
    char *lock_path;
    pid_t pid;
    size_t users;
    pthread_mutex_t mutex;
    struct path_mutex *next, **prev; /* prev: the pointer that points here */
} path_mutex;

/* Hashed by path, so that a server holding thousands of stores finds (and
 * drops) its own in constant time, whatever the number of others. */
#define PATH_MUTEX_BUCKETS 1024
static pthread_mutex_t path_mutexes_lock = PTHREAD_MUTEX_INITIALIZER;
static path_mutex *path_mutexes[PATH_MUTEX_BUCKETS];

static size_t path_bucket(const char *path)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *path; path++)
        h = (h ^ (unsigned char)*path) * 16777619u;
    return h % PATH_MUTEX_BUCKETS;
}

typedef struct file_store {
    char *path;
    char *lock_path;
    char *dir;
    char *store_id;          /* keyed stores: bound into every file; NULL until known */
    unsigned char key[BBO_GCM_KEY_LEN];
    bool encrypted;
    uint64_t generation;     /* the newest this object loaded or saved (keyed) */
    int lock_fd;             /* -1 when not locked */
    path_mutex *mutex;       /* held from lock to unlock */
} file_store;

/* The one place the file store reads the clock: tokens are parsed at
 * "now", and generations are wall-clock microseconds (see next_generation). */
static int64_t clock_now_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (int64_t)time(NULL) * 1000000;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int io_error(const char *what, const char *path)
{
    return bbo__error_set(BBO_EIO, "cannot %s %s: %s", what, path, strerror(errno));
}

static void fault_point(const char *stage)
{
    if (bbo__file_store_fault_hook)
        bbo__file_store_fault_hook(stage);
}

/* ---- the format ---------------------------------------------------------- */

static void put_u64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* header | SHA-256(store id): what the tag authenticates besides the text */
static int make_aad(unsigned char aad[AAD_LEN], const unsigned char *header, const char *store_id)
{
    memcpy(aad, header, HEADER_LEN);
    return bbo__sha256(store_id, strlen(store_id), aad + HEADER_LEN);
}

static bool has_magic(const unsigned char *p, size_t len, const char *magic)
{
    return len >= MAGIC_LEN && memcmp(p, magic, MAGIC_LEN) == 0;
}

/* The file's text as JSON (decrypted when keyed); `*plain` is NUL-terminated. */
static int decode_text(unsigned char **plain, size_t *plain_len, uint64_t *generation,
                       const unsigned char *p, size_t len, const unsigned char *key,
                       const char *store_id, const char *path)
{
    unsigned char aad[AAD_LEN];
    unsigned char *text;
    size_t clen;
    int error;

    *generation = 0;
    if (!key) {
        if (has_magic(p, len, MAGIC) || has_magic(p, len, MAGIC_V1))
            return bbo__error_set(BBO_ECRYPTO, "token file %s is encrypted; a key is needed",
                                  path);
        /* an empty file may come with a NULL pointer, which memcpy must not see */
        if ((text = (unsigned char *)bbo__strndup(len ? (const char *)p : "", len)) == NULL)
            return bbo__error_oom();
        *plain = text;
        *plain_len = len;
        return BBO_OK;
    }
    if (has_magic(p, len, MAGIC_V1))
        return bbo__error_set(BBO_ECRYPTO, "token file %s was written by bboauth 0.1 (BBOENC1), "
                                           "whose files are bound to no store and are no longer "
                                           "read: delete it and log in again", path);
    /* a keyed store never accepts a plain file: that would let anyone who
     * can write the file downgrade it to a token of their choosing */
    if (!has_magic(p, len, MAGIC) || len < HEADER_LEN + BBO_GCM_TAG_LEN)
        return bbo__error_set(BBO_ECRYPTO, "token file %s is not an encrypted token file", path);
    clen = len - HEADER_LEN - BBO_GCM_TAG_LEN;
    if ((error = make_aad(aad, p, store_id)) < 0)
        return error;
    if ((text = bbo__malloc(clen + 1)) == NULL)
        return bbo__error_oom();
    if (bbo__gcm_open(key, p + MAGIC_LEN + GENERATION_LEN, aad, AAD_LEN, p + HEADER_LEN, clen,
                      p + HEADER_LEN + clen, text) < 0) {
        bbo__free(text);
        return bbo__error_set(BBO_ECRYPTO, "cannot decrypt token file %s: wrong key, a file "
                                           "copied from another store, or tampered with", path);
    }
    text[clen] = '\0';
    *plain = text;
    *plain_len = clen;
    *generation = get_u64(p + MAGIC_LEN);
    return BBO_OK;
}

int bbo__store_file_decode(bbo_token **out, uint64_t *generation, const void *data, size_t len,
                           const unsigned char *key, const char *store_id, const char *path,
                           int64_t now)
{
    unsigned char *json = NULL;
    size_t json_len = 0;
    uint64_t gen = 0;
    bbo_token *token = NULL;
    char prefix[320];
    int error;

    if ((error = decode_text(&json, &json_len, &gen, data, len, key, store_id, path)) < 0)
        return error;
    if ((error = bbo_token_parse(&token, (const char *)json, json_len, now)) < 0) {
        snprintf(prefix, sizeof(prefix), "token file %s is corrupt", path);
        bbo__error_prefix(prefix);
    } else {
        *out = token;
        *generation = gen;
    }
    bbo__free(json);
    return error;
}

int bbo__store_file_encode(bbo_buf *out, const char *json, const unsigned char *key,
                           const char *store_id, uint64_t generation)
{
    unsigned char header[HEADER_LEN], aad[AAD_LEN], tag[BBO_GCM_TAG_LEN];
    size_t len = strlen(json);
    int error;

    if (!key)
        return bbo__buf_put(out, json, len);
    memcpy(header, MAGIC, MAGIC_LEN);
    put_u64(header + MAGIC_LEN, generation);
    if ((error = bbo__random_bytes(header + MAGIC_LEN + GENERATION_LEN, BBO_GCM_NONCE_LEN)) < 0 ||
        (error = make_aad(aad, header, store_id)) < 0 ||
        (error = bbo__buf_put(out, (const char *)header, HEADER_LEN)) < 0 ||
        (error = bbo__buf_grow(out, len + BBO_GCM_TAG_LEN)) < 0 ||
        (error = bbo__gcm_seal(key, header + MAGIC_LEN + GENERATION_LEN, aad, AAD_LEN, json,
                               len, (unsigned char *)out->ptr + out->size, tag)) < 0)
        return error;
    out->size += len;
    return bbo__buf_put(out, (const char *)tag, BBO_GCM_TAG_LEN);
}

/* ---- the directory and the files ---------------------------------------- */

/* The token file's directory decides who may replace it: only we (or
 * root), unless the directory is sticky, where others may add files but
 * not replace ours (the files themselves are checked to be ours). A
 * missing directory passes: the open that follows says so. */
static int check_dir(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) != 0)
        return errno == ENOENT ? BBO_OK : io_error("check the directory", dir);
    if (!S_ISDIR(st.st_mode))
        return bbo__error_set(BBO_EIO, "%s is not a directory", dir);
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return bbo__error_set(BBO_EIO, "the token file's directory %s belongs to another user "
                                       "(uid %u), who could replace the file; keep it in a "
                                       "directory of yours", dir, (unsigned)st.st_uid);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return bbo__error_set(BBO_EIO, "the token file's directory %s is writable by group or "
                                       "others (mode %03o), who could replace the file; run: "
                                       "chmod go-w %s", dir, (unsigned)(st.st_mode & 0777), dir);
    return BBO_OK;
}

/* A file we open must be a regular file of ours that no one else may open:
 * `what` names it in messages ("token file", "lock file"). */
static int check_file(int fd, const char *what, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return io_error("stat", path);
    if (!S_ISREG(st.st_mode))
        return bbo__error_set(BBO_EIO, "%s %s is not a regular file", what, path);
    if (st.st_uid != geteuid())
        return bbo__error_set(BBO_EIO, "%s %s belongs to another user (uid %u); remove it",
                              what, path, (unsigned)st.st_uid);
    if (st.st_mode & 077)
        return bbo__error_set(BBO_EIO, "%s %s is accessible by group or others (mode %03o); "
                                       "run: chmod 600 %s",
                              what, path, (unsigned)(st.st_mode & 0777), path);
    if (st.st_size > FILE_MAX)
        return bbo__error_set(BBO_EIO, "%s %s is too large to be ours", what, path);
    return BBO_OK;
}

/* Open without following a symlink or waiting on a FIFO or device, then
 * check what was opened. `*fd` is -1 when the file does not exist and
 * `flags` cannot create it. */
static int open_checked(int *fd_out, const char *what, const char *path, int flags)
{
    struct stat st;
    int fd, error;

    *fd_out = -1;
    fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0) {
        if (errno == ENOENT && !(flags & O_CREAT))
            return BBO_OK;
        if (errno == ELOOP)
            return bbo__error_set(BBO_EIO, "%s %s is a symbolic link; it must be a regular "
                                           "file", what, path);
        /* a file of another user we may not open: say whose */
        if (errno == EACCES && lstat(path, &st) == 0 && st.st_uid != geteuid())
            return bbo__error_set(BBO_EIO, "%s %s belongs to another user (uid %u); remove it",
                                  what, path, (unsigned)st.st_uid);
        return io_error(flags & O_CREAT ? "create" : "open", path);
    }
    if ((error = check_file(fd, what, path)) < 0) {
        close(fd);
        return error;
    }
    *fd_out = fd;
    return BBO_OK;
}

static int read_all(int fd, bbo_buf *out, const char *path)
{
    char chunk[4096];
    ssize_t n;
    int error;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bbo__wipe(chunk, sizeof(chunk));
            return io_error("read", path);
        }
        if (out->size + (size_t)n > FILE_MAX) {
            bbo__wipe(chunk, sizeof(chunk));
            return bbo__error_set(BBO_EIO, "token file %s is too large", path);
        }
        if ((error = bbo__buf_put(out, chunk, (size_t)n)) < 0) {
            bbo__wipe(chunk, sizeof(chunk));
            return error;
        }
    }
    bbo__wipe(chunk, sizeof(chunk));
    return BBO_OK;
}

/* "dir/name" with dir resolved: one file, one id, however it is spelled. */
static char *canonical_path(const char *dir, const char *path)
{
    char resolved[PATH_MAX];
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    bbo_buf buf = BBO_BUF_INIT;

    if (!realpath(dir, resolved))
        return NULL;
    if (bbo__buf_puts(&buf, resolved) < 0 ||
        (strcmp(resolved, "/") != 0 && bbo__buf_puts(&buf, "/") < 0) ||
        bbo__buf_puts(&buf, name) < 0) {
        bbo__buf_dispose(&buf);
        errno = ENOMEM;
        return NULL;
    }
    return buf.ptr;
}

/* A keyed store made before its directory existed learns its id now. */
static int ensure_store_id(file_store *fs)
{
    if (!fs->encrypted || fs->store_id)
        return BBO_OK;
    if ((fs->store_id = canonical_path(fs->dir, fs->path)) == NULL)
        return errno == ENOMEM ? bbo__error_oom() : io_error("resolve the directory", fs->dir);
    return BBO_OK;
}

/* The lock file remembers the newest generation saved under the lock, so
 * that a new store object (a new process) also refuses an older copy put
 * back: RECORD_MAGIC | generation | HMAC-SHA256 over both and the store
 * id, keyed from the file key (only a holder of the key can raise it). */
#define RECORD_MAGIC "BBOGEN1"
#define RECORD_LEN (MAGIC_LEN + GENERATION_LEN + BBO_SHA256_LEN)

static int record_mac(const file_store *fs, const unsigned char *head,
                      unsigned char mac[BBO_SHA256_LEN])
{
    static const char label[] = "bboauth lock-file generation record";
    unsigned char mac_key[BBO_SHA256_LEN], data[MAGIC_LEN + GENERATION_LEN + BBO_SHA256_LEN];
    int error;

    memcpy(data, head, MAGIC_LEN + GENERATION_LEN);
    if ((error = bbo__hmac_sha256(fs->key, sizeof(fs->key), label, sizeof(label) - 1,
                                  mac_key)) == BBO_OK &&
        (error = bbo__sha256(fs->store_id, strlen(fs->store_id),
                             data + MAGIC_LEN + GENERATION_LEN)) == BBO_OK)
        error = bbo__hmac_sha256(mac_key, sizeof(mac_key), data, sizeof(data), mac);
    bbo__wipe(mac_key, sizeof(mac_key));
    return error;
}

/* In constant time. */
static bool same_mac(const unsigned char *a, const unsigned char *b)
{
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < BBO_SHA256_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* The generation the lock file vouches for, or 0 (none, not ours, forged). */
static uint64_t recorded_generation(const file_store *fs)
{
    unsigned char rec[RECORD_LEN], mac[BBO_SHA256_LEN];
    struct stat st;
    ssize_t n = -1;
    int fd = fs->lock_fd;

    if (!fs->encrypted || !fs->store_id)
        return 0;
    if (fd < 0 && (fd = open(fs->lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                                                O_NOCTTY)) < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        !(st.st_mode & 077))
        n = pread(fd, rec, sizeof(rec), 0);
    if (fd != fs->lock_fd)
        close(fd);
    if (n != (ssize_t)sizeof(rec) || !has_magic(rec, sizeof(rec), RECORD_MAGIC) ||
        record_mac(fs, rec, mac) < 0 ||
        !same_mac(mac, rec + MAGIC_LEN + GENERATION_LEN))
        return 0;
    return get_u64(rec + MAGIC_LEN);
}

/* Best effort, under the lock only: saves that race without it could
 * otherwise record a generation above the file that ends up on disk. */
static void record_generation(const file_store *fs, uint64_t generation)
{
    unsigned char rec[RECORD_LEN];

    if (!fs->encrypted || fs->lock_fd < 0)
        return;
    memcpy(rec, RECORD_MAGIC, MAGIC_LEN);
    put_u64(rec + MAGIC_LEN, generation);
    if (record_mac(fs, rec, rec + MAGIC_LEN + GENERATION_LEN) == BBO_OK &&
        pwrite(fs->lock_fd, rec, sizeof(rec), 0) == (ssize_t)sizeof(rec))
        (void)ftruncate(fs->lock_fd, sizeof(rec));
}

/* The generation the current file claims, or 0: unauthenticated, so only
 * ever used to count further up, and ignored when implausibly far ahead
 * (more than ten years: a forged header must not exhaust the counter). */
static uint64_t claimed_generation(const char *path, uint64_t now)
{
    unsigned char head[MAGIC_LEN + GENERATION_LEN];
    uint64_t generation;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

    if (fd < 0)
        return 0;
    n = read(fd, head, sizeof(head));
    close(fd);
    if (n != (ssize_t)sizeof(head) || !has_magic(head, sizeof(head), MAGIC))
        return 0;
    generation = get_u64(head + MAGIC_LEN);
    if (generation > now && generation - now > TEN_YEARS_US)
        return 0;
    return generation;
}

/* Strictly after everything this object saw, the lock file records and
 * the file now on disk claims; otherwise the wall clock, so that a fresh login after a logout
 * (no file to continue from) still counts up. */
static uint64_t next_generation(const file_store *fs)
{
    uint64_t now = (uint64_t)clock_now_us(), next = now;
    uint64_t seen = fs->generation, claimed = claimed_generation(fs->path, now);
    uint64_t recorded = recorded_generation(fs);

    if (recorded > seen)
        seen = recorded;

    if (seen >= next)
        next = seen == UINT64_MAX ? seen : seen + 1;
    if (claimed >= next)
        next = claimed == UINT64_MAX ? claimed : claimed + 1;
    return next;
}

/* ---- the callbacks ------------------------------------------------------- */

static int file_load(bbo_token **out, void *payload)
{
    file_store *fs = payload;
    bbo_buf raw = BBO_BUF_INIT;
    bbo_token *token = NULL;
    uint64_t generation = 0, recorded;
    int fd = -1, error;

    *out = NULL;
    /* the lock file's record before the token file: a save renames its
     * file into place, then records its generation, so a record read
     * after opening the file could already vouch for the next one (a
     * concurrent save seen as a rollback) */
    if ((error = check_dir(fs->dir)) < 0 || (error = ensure_store_id(fs)) < 0)
        return error;
    recorded = recorded_generation(fs);
    if ((error = open_checked(&fd, "token file", fs->path, O_RDONLY)) < 0 || fd < 0)
        return error; /* no file: nothing stored yet */
    fault_point("opened");
    if ((error = read_all(fd, &raw, fs->path)) < 0 ||
        (error = bbo__store_file_decode(&token, &generation, raw.ptr, raw.size,
                                        fs->encrypted ? fs->key : NULL, fs->store_id, fs->path,
                                        clock_now_us() / 1000000)) < 0)
        goto done;
    if (generation < fs->generation || generation < recorded) {
        error = bbo__error_set(BBO_ECRYPTO, "token file %s was rolled back: it is older than "
                                            "one this store read or saved before", fs->path);
        goto done;
    }
    fs->generation = generation;
    *out = token;
    token = NULL;
done:
    close(fd);
    bbo_token_free(token);
    bbo__buf_dispose(&raw);
    return error;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return io_error("open directory", dir);
    rc = fsync(fd);
    close(fd);
    return rc == 0 ? BBO_OK : io_error("fsync directory", dir);
}

static int file_save(const bbo_token *token, void *payload)
{
    file_store *fs = payload;
    bbo_buf bytes = BBO_BUF_INIT, tmp = BBO_BUF_INIT;
    uint64_t generation = fs->encrypted ? next_generation(fs) : 0;
    char *json = NULL;
    bool temp_exists = false; /* only a file we created may be unlinked */
    int fd = -1, error;

    if ((error = check_dir(fs->dir)) < 0 || (error = bbo_token_to_json(token, &json)) < 0 ||
        (error = bbo__buf_puts(&tmp, fs->path)) < 0 ||
        (error = bbo__buf_puts(&tmp, ".tmp.XXXXXX")) < 0)
        goto done;
    /* mkostemp creates the file 0600 and O_EXCL; no child inherits it */
    if ((fd = mkostemp(tmp.ptr, O_CLOEXEC)) < 0) {
        error = io_error("create a temporary file next to", fs->path);
        goto done;
    }
    temp_exists = true;
    if ((error = ensure_store_id(fs)) < 0 ||
        (error = bbo__store_file_encode(&bytes, json, fs->encrypted ? fs->key : NULL,
                                        fs->store_id, generation)) < 0)
        goto done;
    if (fchmod(fd, 0600) != 0 || write_all(fd, bytes.ptr, bytes.size) != 0) {
        error = io_error("write", tmp.ptr);
        goto done;
    }
    fault_point("written");
    if (fsync(fd) != 0) {
        error = io_error("fsync", tmp.ptr);
        goto done;
    }
    close(fd);
    fd = -1;
    fault_point("synced");
    if (rename(tmp.ptr, fs->path) != 0) {
        error = io_error("rename over", fs->path);
        goto done;
    }
    temp_exists = false; /* renamed: nothing to unlink */
    if (fs->encrypted) {
        fs->generation = generation;
        record_generation(fs, generation);
    }
    fault_point("renamed");
    error = fsync_dir(fs->dir);
done:
    if (fd >= 0)
        close(fd);
    if (temp_exists)
        unlink(tmp.ptr);
    bbo__free(json);
    bbo__buf_dispose(&bytes);
    bbo__buf_dispose(&tmp);
    return error;
}

static int file_clear(void *payload)
{
    file_store *fs = payload;

    if (unlink(fs->path) != 0 && errno != ENOENT)
        return io_error("delete", fs->path);
    return fsync_dir(fs->dir);
}

/* ---- locking ------------------------------------------------------------- */

static int path_mutex_get(path_mutex **out, const char *lock_path)
{
    path_mutex **bucket = &path_mutexes[path_bucket(lock_path)];
    path_mutex *pm;
    pid_t pid = getpid();
    int error = BBO_OK;

    pthread_mutex_lock(&path_mutexes_lock);
    for (pm = *bucket; pm && (pm->pid != pid || strcmp(pm->lock_path, lock_path) != 0);
         pm = pm->next)
        ;
    if (!pm) {
        if ((pm = bbo__calloc(1, sizeof(*pm))) == NULL ||
            (pm->lock_path = bbo__strdup(lock_path)) == NULL) {
            error = bbo__error_oom();
        } else if (pthread_mutex_init(&pm->mutex, NULL) != 0) {
            error = bbo__error_set(BBO_ENOMEM, "cannot create a mutex");
        } else {
            pm->pid = pid;
            pm->next = *bucket;
            pm->prev = bucket;
            if (*bucket)
                (*bucket)->prev = &pm->next;
            *bucket = pm;
        }
        if (error < 0 && pm) {
            bbo__free(pm->lock_path);
            bbo__free(pm);
        }
    }
    if (error == BBO_OK) {
        pm->users++;
        *out = pm;
    }
    pthread_mutex_unlock(&path_mutexes_lock);
    return error;
}

static void path_mutex_put(path_mutex *pm)
{
    pthread_mutex_lock(&path_mutexes_lock);
    if (--pm->users == 0) {
        *pm->prev = pm->next;
        if (pm->next)
            pm->next->prev = pm->prev;
        pthread_mutex_destroy(&pm->mutex);
        bbo__free(pm->lock_path);
        bbo__free(pm);
    }
    pthread_mutex_unlock(&path_mutexes_lock);
}

/* Open-file-description locks belong to the open file, not the process:
 * stores naming one file by different paths exclude each other too.
 * Without `wait`, -1 with EAGAIN or EACCES when held elsewhere. */
static int set_lock(int fd, short type, bool wait)
{
    struct flock fl;
    int rc;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLKW
    while ((rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) != 0 && errno == EINTR)
        ;
    if (rc == 0 || errno != EINVAL)
        return rc;
#endif
    while ((rc = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl)) != 0 && errno == EINTR)
        ;
    return rc;
}

/* Threads are ordered by the path's mutex first, the kernel lock second
 * (valgrind cannot run threads contending in F_OFD_SETLKW). Without
 * `wait`, BBO_EBUSY when either is held. */
static int take_lock(file_store *fs, bool wait)
{
    int fd = -1, error;

    /* a store made before fork: the parent's mutex may be held by a thread
     * this child does not have; use the child's own */
    if (fs->mutex->pid != getpid()) {
        path_mutex *mine = NULL;

        if ((error = path_mutex_get(&mine, fs->lock_path)) < 0)
            return error;
        fs->mutex = mine; /* the parent's stays the parent's */
    }
    if (wait)
        pthread_mutex_lock(&fs->mutex->mutex);
    else if (pthread_mutex_trylock(&fs->mutex->mutex) != 0)
        return BBO_EBUSY;
    if ((error = check_dir(fs->dir)) < 0 ||
        (error = open_checked(&fd, "lock file", fs->lock_path, O_RDWR | O_CREAT)) < 0)
        goto fail;
    if (set_lock(fd, F_WRLCK, wait) != 0) {
        error = !wait && (errno == EAGAIN || errno == EACCES) ? BBO_EBUSY
                                                               : io_error("lock", fs->lock_path);
        goto fail;
    }
    fs->lock_fd = fd;
    return BBO_OK;
fail:
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&fs->mutex->mutex);
    return error;
}

static int file_lock(void *payload)
{
    return take_lock(payload, true);
}

static int file_try_lock(void *payload)
{
    return take_lock(payload, false);
}

static int file_unlock(void *payload)
{
    file_store *fs = payload;

    if (fs->lock_fd >= 0) {
        set_lock(fs->lock_fd, F_UNLCK, false);
        close(fs->lock_fd); /* closing drops the lock in any case */
        fs->lock_fd = -1;
    }
    pthread_mutex_unlock(&fs->mutex->mutex);
    return BBO_OK;
}

static void file_destroy(void *payload)
{
    file_store *fs = payload;

    if (!fs)
        return;
    if (fs->lock_fd >= 0)
        close(fs->lock_fd);
    if (fs->mutex)
        path_mutex_put(fs->mutex);
    bbo__wipe(fs->key, sizeof(fs->key));
    bbo__free(fs->path);
    bbo__free(fs->lock_path);
    bbo__free(fs->dir);
    bbo__free(fs->store_id);
    bbo__free(fs);
}

int bbo_file_store_new_ex(bbo_store **out, const char *path, const unsigned char *key,
                          const char *store_id)
{
    bbo_store_callbacks cb = { BBO_STORE_VERSION, file_load, file_save, file_clear,
                               file_lock, file_unlock, file_destroy, NULL, file_try_lock };
    file_store *fs;
    const char *slash;
    bbo_buf lock_path = BBO_BUF_INIT;
    int error;

    if (!out || !path)
        return bbo__error_set(BBO_EINVAL, "bbo_file_store_new: NULL argument");
    if (!*path || path[strlen(path) - 1] == '/')
        return bbo__error_set(BBO_EINVAL, "bbo_file_store_new: path names no file");
    if (store_id && !*store_id)
        return bbo__error_set(BBO_EINVAL, "bbo_file_store_new_ex: empty store id");
    if ((fs = bbo__calloc(1, sizeof(*fs))) == NULL)
        return bbo__error_oom();
    fs->lock_fd = -1;
    if (key) {
        memcpy(fs->key, key, BBO_GCM_KEY_LEN);
        fs->encrypted = true;
    }
    slash = strrchr(path, '/');
    if ((fs->path = bbo__strdup(path)) == NULL ||
        (fs->dir = slash ? bbo__strndup(path, slash == path ? 1 : (size_t)(slash - path))
                         : bbo__strdup(".")) == NULL ||
        (error = bbo__buf_puts(&lock_path, path)) < 0 ||
        (error = bbo__buf_puts(&lock_path, ".lock")) < 0) {
        error = bbo__error_oom();
        goto fail;
    }
    fs->lock_path = lock_path.ptr;
    lock_path.ptr = NULL;
    /* the id, now if the directory exists (else at first use) */
    if (key && store_id && (fs->store_id = bbo__strdup(store_id)) == NULL) {
        error = bbo__error_oom();
        goto fail;
    }
    if (key && !store_id && (fs->store_id = canonical_path(fs->dir, fs->path)) == NULL &&
        errno == ENOMEM) {
        error = bbo__error_oom();
        goto fail;
    }
    if ((error = path_mutex_get(&fs->mutex, fs->lock_path)) < 0)
        goto fail;
    cb.payload = fs;
    if ((error = bbo_store_new(out, &cb)) < 0)
        goto fail;
    return BBO_OK;
fail:
    bbo__buf_dispose(&lock_path);
    file_destroy(fs);
    return error;
}

int bbo_file_store_new(bbo_store **out, const char *path, const unsigned char *key)
{
    return bbo_file_store_new_ex(out, path, key, NULL);
}
