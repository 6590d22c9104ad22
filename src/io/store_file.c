/*
 * The built-in file store: atomic saves, 0600, fcntl locking, optional
 * AES-256-GCM at rest.
 * SPDX-License-Identifier: MIT
 */
/* F_OFD_SETLKW is declared only with _GNU_SOURCE */
#define _GNU_SOURCE 1

#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "BBOENC1"
#define MAGIC_LEN 8 /* with its NUL */
#define HEADER_LEN (MAGIC_LEN + BBO_GCM_NONCE_LEN)
/* a token file is a few kilobytes; anything far bigger is not ours */
#define FILE_MAX (BBO_JSON_MAX_BYTES + HEADER_LEN + BBO_GCM_TAG_LEN)

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
    struct path_mutex *next;
} path_mutex;

static pthread_mutex_t path_mutexes_lock = PTHREAD_MUTEX_INITIALIZER;
static path_mutex *path_mutexes;

typedef struct file_store {
    char *path;
    char *lock_path;
    char *dir;
    unsigned char key[BBO_GCM_KEY_LEN];
    bool encrypted;
    int lock_fd;             /* -1 when not locked */
    path_mutex *mutex;       /* held from lock to unlock */
} file_store;

static int io_error(const char *what, const char *path)
{
    return bbo__error_set(BBO_EIO, "token store: cannot %s %s: %s", what, path, strerror(errno));
}

static void fault_point(const char *stage)
{
    if (bbo__file_store_fault_hook)
        bbo__file_store_fault_hook(stage);
}

/* Refuse a token file others could read or replace. */
static int check_file(int fd, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return io_error("stat", path);
    if (!S_ISREG(st.st_mode))
        return bbo__error_set(BBO_EIO, "token store: %s is not a regular file", path);
    if (st.st_uid != geteuid())
        return bbo__error_set(BBO_EIO, "token store: %s belongs to another user", path);
    if (st.st_mode & 077)
        return bbo__error_set(BBO_EIO, "token store: %s is accessible by group or others "
                                       "(mode %03o); run: chmod 600 %s",
                              path, (unsigned)(st.st_mode & 0777), path);
    if (st.st_size > FILE_MAX)
        return bbo__error_set(BBO_EIO, "token store: %s is too large to be a token file", path);
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
            return bbo__error_set(BBO_EIO, "token store: %s is too large", path);
        }
        if ((error = bbo__buf_put(out, chunk, (size_t)n)) < 0) {
            bbo__wipe(chunk, sizeof(chunk));
            return error;
        }
    }
    bbo__wipe(chunk, sizeof(chunk));
    return BBO_OK;
}

/* Turn the file's bytes into token JSON (decrypting when keyed). */
static int decode_file(file_store *fs, const bbo_buf *raw, unsigned char **json, size_t *len)
{
    bool looks_encrypted = raw->size >= MAGIC_LEN && memcmp(raw->ptr, MAGIC, MAGIC_LEN) == 0;
    const unsigned char *p = (const unsigned char *)raw->ptr;
    size_t clen;
    unsigned char *plain;
    int error;

    if (!fs->encrypted) {
        if (looks_encrypted)
            return bbo__error_set(BBO_ECRYPTO, "token store: %s is encrypted; a key is needed",
                                  fs->path);
        /* an empty file leaves raw->ptr NULL, which memcpy must not see */
        plain = (unsigned char *)bbo__strndup(raw->size ? raw->ptr : "", raw->size);
        if (!plain)
            return bbo__error_oom();
        *json = plain;
        *len = raw->size;
        return BBO_OK;
    }
    /* a keyed store never accepts a plain file: that would let anyone who
     * can write the file downgrade it to a token of their choosing */
    if (!looks_encrypted || raw->size < HEADER_LEN + BBO_GCM_TAG_LEN)
        return bbo__error_set(BBO_ECRYPTO, "token store: %s is not an encrypted token file",
                              fs->path);
    clen = raw->size - HEADER_LEN - BBO_GCM_TAG_LEN;
    if ((plain = bbo__malloc(clen + 1)) == NULL)
        return bbo__error_oom();
    if ((error = bbo__gcm_open(fs->key, p + MAGIC_LEN, p, HEADER_LEN, p + HEADER_LEN, clen,
                               p + HEADER_LEN + clen, plain)) < 0) {
        bbo__free(plain);
        return bbo__error_set(BBO_ECRYPTO, "token store: cannot decrypt %s: wrong key, or the "
                                           "file was tampered with", fs->path);
    }
    plain[clen] = '\0';
    *json = plain;
    *len = clen;
    return BBO_OK;
}

static int file_load(bbo_token **out, void *payload)
{
    file_store *fs = payload;
    bbo_buf raw = BBO_BUF_INIT;
    unsigned char *json = NULL;
    size_t len = 0;
    int fd, error;

    *out = NULL;
    if ((fd = open(fs->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        if (errno == ENOENT)
            return BBO_OK; /* nothing stored yet */
        return io_error("open", fs->path);
    }
    if ((error = check_file(fd, fs->path)) == BBO_OK &&
        (error = read_all(fd, &raw, fs->path)) == BBO_OK &&
        (error = decode_file(fs, &raw, &json, &len)) == BBO_OK &&
        (error = bbo_token_parse(out, (const char *)json, len, (int64_t)time(NULL))) < 0)
        bbo__error_prefix("token store");
    close(fd);
    bbo__buf_dispose(&raw);
    bbo__free(json);
    return error;
}

/* The bytes to write: the JSON, or MAGIC | nonce | ciphertext | tag. */
static int encode_file(file_store *fs, const char *json, bbo_buf *out)
{
    unsigned char header[HEADER_LEN], tag[BBO_GCM_TAG_LEN];
    size_t len = strlen(json);
    int error;

    if (!fs->encrypted)
        return bbo__buf_put(out, json, len);
    memcpy(header, MAGIC, MAGIC_LEN);
    if ((error = bbo__random_bytes(header + MAGIC_LEN, BBO_GCM_NONCE_LEN)) < 0 ||
        (error = bbo__buf_put(out, (const char *)header, HEADER_LEN)) < 0 ||
        (error = bbo__buf_grow(out, len + BBO_GCM_TAG_LEN)) < 0 ||
        (error = bbo__gcm_seal(fs->key, header + MAGIC_LEN, header, HEADER_LEN, json, len,
                               (unsigned char *)out->ptr + HEADER_LEN, tag)) < 0)
        return error;
    out->size += len;
    return bbo__buf_put(out, (const char *)tag, BBO_GCM_TAG_LEN);
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
    char *json = NULL;
    bool temp_exists = false; /* only a file we created may be unlinked */
    int fd = -1, error;

    if ((error = bbo_token_to_json(token, &json)) < 0 ||
        (error = encode_file(fs, json, &bytes)) < 0 ||
        (error = bbo__buf_puts(&tmp, fs->path)) < 0 ||
        (error = bbo__buf_puts(&tmp, ".tmp.XXXXXX")) < 0)
        goto done;
    /* mkstemp creates the file 0600 and O_EXCL */
    if ((fd = mkstemp(tmp.ptr)) < 0) {
        error = io_error("create a temporary file next to", fs->path);
        goto done;
    }
    temp_exists = true;
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

static int path_mutex_get(path_mutex **out, const char *lock_path)
{
    path_mutex *pm;
    pid_t pid = getpid();
    int error = BBO_OK;

    pthread_mutex_lock(&path_mutexes_lock);
    for (pm = path_mutexes; pm && (pm->pid != pid || strcmp(pm->lock_path, lock_path) != 0);
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
            pm->next = path_mutexes;
            path_mutexes = pm;
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
    path_mutex **p;

    pthread_mutex_lock(&path_mutexes_lock);
    if (--pm->users == 0) {
        for (p = &path_mutexes; *p != pm; p = &(*p)->next)
            ;
        *p = pm->next;
        pthread_mutex_destroy(&pm->mutex);
        bbo__free(pm->lock_path);
        bbo__free(pm);
    }
    pthread_mutex_unlock(&path_mutexes_lock);
}

/* Open-file-description locks belong to the open file, not the process:
 * stores naming one file by different paths exclude each other too. */
static int set_lock(int fd, short type)
{
    struct flock fl;
    int rc;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLKW
    while ((rc = fcntl(fd, F_OFD_SETLKW, &fl)) != 0 && errno == EINTR)
        ;
    if (rc == 0 || errno != EINVAL)
        return rc;
#endif
    while ((rc = fcntl(fd, F_SETLKW, &fl)) != 0 && errno == EINTR)
        ;
    return rc;
}

static int file_lock(void *payload)
{
    file_store *fs = payload;
    int fd, error;

    /* a store made before fork: the parent's mutex may be held by a thread
     * this child does not have; use the child's own */
    if (fs->mutex->pid != getpid()) {
        path_mutex *mine = NULL;

        if ((error = path_mutex_get(&mine, fs->lock_path)) < 0)
            return error;
        fs->mutex = mine; /* the parent's stays the parent's */
    }
    pthread_mutex_lock(&fs->mutex->mutex);
    if ((fd = open(fs->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        pthread_mutex_unlock(&fs->mutex->mutex);
        return io_error("open lock file", fs->lock_path);
    }
    if (set_lock(fd, F_WRLCK) != 0) {
        error = io_error("lock", fs->lock_path);
        close(fd);
        pthread_mutex_unlock(&fs->mutex->mutex);
        return error;
    }
    fs->lock_fd = fd;
    return BBO_OK;
}

static int file_unlock(void *payload)
{
    file_store *fs = payload;

    if (fs->lock_fd >= 0) {
        set_lock(fs->lock_fd, F_UNLCK);
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
    bbo__free(fs);
}

int bbo_file_store_new(bbo_store **out, const char *path, const unsigned char *key)
{
    bbo_store_callbacks cb = { BBO_STORE_VERSION, file_load, file_save, file_clear,
                               file_lock, file_unlock, file_destroy, NULL };
    file_store *fs;
    const char *slash;
    bbo_buf lock_path = BBO_BUF_INIT;
    int error;

    if (!out || !path)
        return bbo__error_set(BBO_EINVAL, "bbo_file_store_new: NULL argument");
    if (!*path || path[strlen(path) - 1] == '/')
        return bbo__error_set(BBO_EINVAL, "bbo_file_store_new: path names no file");
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
