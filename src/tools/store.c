/*
 * bbo tools: where a profile's tokens and consumer secret are kept, and
 * opening its session.
 * SPDX-License-Identifier: MIT
 *
 * $XDG_STATE_HOME/bboauth/ (0700):
 *   key           32 random bytes (0600): the AES-256-GCM key of the files below
 *   NAME.token    the token (bboauth's encrypted file store; NAME.token.lock)
 *   NAME.secret   the consumer secret, in the same encrypted format (it is
 *                 needed for every refresh, so it is kept like the tokens)
 *   NAME.rejected SHA-256 of an access token git reported as rejected
 * or, with store = keyring, the token and the secret in the desktop keyring
 * (NAME.lock then serializes refreshes across processes).
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/md.h>

#define SECRET_EXPIRES 4102444800 /* 2100-01-01: the secret does not expire */

static char *state_file(const tool_profile *p, const char *suffix)
{
    char dir[4096];

    if (tool_state_dir(dir, sizeof(dir)) != 0)
        return NULL;
    return tool_printf("%s/%s%s", dir, p->name, suffix);
}

char *tool_token_path(const tool_profile *p)
{
    return state_file(p, ".token");
}

char *tool_secret_path(const tool_profile *p)
{
    return state_file(p, ".secret");
}

static int is_keyring(const tool_profile *p)
{
    return p->store && strcmp(p->store, "keyring") == 0;
}

/* A new key file, published whole: written under a temporary name, then
 * linked into place (which fails if another process was first). 0 made,
 * 1 another process's is there, -1 failed. */
static int create_key(const char *path)
{
    unsigned char key[32];
    char *tmp = tool_printf("%s.%ld.tmp", path, (long)getpid());
    int fd, rc = -1;

    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0) {
        if (getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key) &&
            write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) && fsync(fd) == 0)
            rc = link(tmp, path) == 0 ? 0 : errno == EEXIST ? 1 : -1;
        close(fd);
        unlink(tmp);
    }
    if (rc < 0)
        fprintf(stderr, "%s: cannot create the key file %s: %s\n", tool_prog, path,
                strerror(errno));
    tool_wipe(key, sizeof(key));
    free(tmp);
    return rc;
}

/* Read the key file; with `create`, make it first (32 random bytes, 0600)
 * if absent. */
static int load_key(unsigned char key[32], int create)
{
    char dir[4096], *path = NULL;
    struct stat st;
    int fd = -1, rc = -1;

    if (tool_state_dir(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "%s: neither XDG_STATE_HOME nor HOME is set\n", tool_prog);
        return -1;
    }
    if (create && tool_make_private_dir(dir) != 0)
        return -1;
    path = tool_printf("%s/key", dir);
    if (create && access(path, F_OK) != 0 && create_key(path) < 0)
        goto done;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        fprintf(stderr, "%s: cannot open the key file %s: %s (without it the stored logins "
                        "cannot be read: run `bbo login` again)\n", tool_prog, path,
                strerror(errno));
        goto done;
    }
    if (fstat(fd, &st) != 0 || st.st_uid != getuid() || (st.st_mode & 077) != 0) {
        fprintf(stderr, "%s: the key file %s must be yours and private (chmod 600)\n",
                tool_prog, path);
        goto done;
    }
    if (read(fd, key, 32) != 32) {
        fprintf(stderr, "%s: the key file %s is damaged (it must hold 32 bytes)\n", tool_prog,
                path);
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

static int file_store(const tool_profile *p, const char *suffix, int create, bbo_store **out)
{
    unsigned char key[32];
    char *path = state_file(p, suffix);
    int rc = -1;

    if (path && load_key(key, create) == 0) {
        if (bbo_file_store_new(out, path, key) < 0)
            tool_fail(p->name, "token store", bbo_error_code(bbo_error_last()));
        else
            rc = 0;
    }
    tool_wipe(key, sizeof(key));
    free(path);
    return rc;
}

int tool_store_open(const tool_profile *p, int create, bbo_store **out)
{
    if (is_keyring(p)) {
        char *lock = state_file(p, ".lock");
        char dir[4096];
        int rc = -1;

        if (lock && tool_state_dir(dir, sizeof(dir)) == 0 && tool_make_private_dir(dir) == 0)
            rc = tool_keyring_store_new(p, lock, out);
        free(lock);
        return rc;
    }
    return file_store(p, ".token", create, out);
}

static int hex_digit(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tool_secret_load(const tool_profile *p, char **out)
{
    bbo_store *store = NULL;
    bbo_token *token = NULL;
    const char *hex;
    char *secret = NULL;
    size_t i, n = 0;
    int rc = -1;

    *out = NULL;
    if (is_keyring(p))
        return tool_keyring_secret_load(p, out);
    if ((secret = tool_secret_path(p)) == NULL)
        return -1;
    n = access(secret, F_OK) == 0;
    free(secret);
    secret = NULL;
    if (!n)
        return 0; /* logged out */
    if (file_store(p, ".secret", 0, &store) != 0)
        return -1;
    if (bbo_store_load(store, &token) < 0) {
        tool_fail(p->name, "consumer secret", bbo_error_code(bbo_error_last()));
        goto done;
    }
    rc = 0;
    if (!token)
        goto done;
    /* kept hex-encoded: a bearer token's alphabet cannot hold every secret */
    hex = bbo_token_access(token);
    n = strlen(hex) / 2;
    if ((secret = calloc(1, n + 1)) == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            fprintf(stderr, "%s: the stored consumer secret is damaged: run `bbo login`\n",
                    tool_prog);
            rc = -1;
            goto done;
        }
        secret[i] = (char)(hi * 16 + lo);
    }
    *out = secret;
    secret = NULL;
done:
    if (secret)
        tool_wipe(secret, n);
    free(secret);
    bbo_token_free(token);
    bbo_store_free(store);
    return rc;
}

int tool_secret_save(const tool_profile *p, const char *secret)
{
    static const char digits[] = "0123456789abcdef";
    bbo_store *store = NULL;
    bbo_token *token = NULL;
    size_t i, n = strlen(secret);
    char *hex;
    int rc = -1;

    if (is_keyring(p))
        return tool_keyring_secret_save(p, secret);
    if ((hex = calloc(1, 2 * n + 1)) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        hex[2 * i] = digits[(unsigned char)secret[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)secret[i] & 15];
    }
    if (file_store(p, ".secret", 1, &store) == 0) {
        if (bbo_token_new(&token, hex, NULL, NULL, SECRET_EXPIRES, NULL) < 0 ||
            bbo_store_save(store, token) < 0)
            tool_fail(p->name, "saving the consumer secret", bbo_error_code(bbo_error_last()));
        else
            rc = 0;
    }
    tool_wipe(hex, 2 * n);
    free(hex);
    bbo_token_free(token);
    bbo_store_free(store);
    return rc;
}

int tool_secret_clear(const tool_profile *p)
{
    char *path = tool_secret_path(p);
    int rc = path && (unlink(path) == 0 || errno == ENOENT) ? 0 : -1;

    free(path);
    return rc;
}

const char *tool_ca_file(const tool_profile *p)
{
    /* then the variables curl and OpenSSL programs honour */
    static const char *const vars[] = { "BBO_CA_FILE", "CURL_CA_BUNDLE", "SSL_CERT_FILE" };
    size_t i;

    if (p && p->ca_file)
        return p->ca_file;
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);

        if (v && *v)
            return v;
    }
    return NULL;
}

int tool_consumer_new(const tool_profile *p, const char *secret, bbo_consumer **out)
{
    bbo_consumer *c = NULL;
    bbo_scopes *scopes = NULL;
    char *authorize = NULL, *token = NULL, *api = NULL;
    int rc;

    if ((rc = bbo_consumer_new(&c, p->key, secret)) < 0 ||
        (rc = bbo_consumer_set_callback_url(c, p->callback ? p->callback
                                                           : "http://127.0.0.1/callback")) < 0)
        goto done;
    if (p->kind && strcmp(p->kind, "data-center") == 0) {
        if ((rc = bbo_consumer_use_data_center(c, p->bitbucket)) < 0)
            goto done;
    } else if (p->bitbucket && strcmp(p->bitbucket, "https://bitbucket.org") != 0) {
        authorize = tool_printf("%s/site/oauth2/authorize", p->bitbucket);
        token = tool_printf("%s/site/oauth2/access_token", p->bitbucket);
        api = tool_profile_api(p);
        if ((rc = bbo_consumer_set_endpoints(c, authorize, token, api)) < 0)
            goto done;
    }
    if (p->scopes && ((rc = bbo_scopes_parse(&scopes, p->scopes)) < 0 ||
                      (rc = bbo_consumer_set_scopes(c, scopes)) < 0))
        goto done;
    *out = c;
    c = NULL;
done:
    free(authorize);
    free(token);
    free(api);
    bbo_scopes_free(scopes);
    bbo_consumer_free(c);
    return rc;
}

static void on_token(const bbo_token *token, int save_error, void *payload)
{
    const tool_profile *p = payload;

    (void)token;
    if (save_error)
        fprintf(stderr, "%s: the refreshed token could not be saved (%s): profile %s may need "
                        "`bbo login` again if this persists\n", tool_prog,
                bbo_strerror(save_error), p->name);
}

int tool_login_open(const tool_profile *p, tool_login *l)
{
    bbo_store *store = NULL;
    char *secret = NULL;
    const char *ca = tool_ca_file(p);
    int rc;

    memset(l, 0, sizeof(*l));
    if (!p->key) {
        fprintf(stderr, "%s: profile %s has no consumer key\n", tool_prog, p->name);
        tool_hint(TOOL_EXIT_LOGIN, p->name);
        return TOOL_EXIT_LOGIN;
    }
    if (tool_secret_load(p, &secret) != 0)
        return TOOL_EXIT_FAIL;
    if (!secret) {
        fprintf(stderr, "%s: profile %s is logged out\n", tool_prog, p->name);
        tool_hint(TOOL_EXIT_LOGIN, p->name);
        return TOOL_EXIT_LOGIN;
    }
    if ((rc = tool_consumer_new(p, secret, &l->consumer)) < 0 ||
        (rc = bbo_client_new(&l->client, l->consumer)) < 0 ||
        (ca && (rc = bbo_client_set_ca(l->client, ca, NULL)) < 0) ||
        (rc = bbo_session_new(&l->session, l->client, NULL)) < 0 ||
        (rc = bbo_session_on_token(l->session, on_token, (void *)p)) < 0) {
        tool_free_secret(secret);
        rc = tool_fail(p->name, "setup", rc);
        tool_login_close(l);
        return rc;
    }
    tool_free_secret(secret);
    if (tool_store_open(p, 0, &store) != 0) {
        tool_login_close(l);
        return TOOL_EXIT_FAIL;
    }
    if ((rc = bbo_session_set_store(l->session, store)) < 0) { /* taken */
        rc = tool_fail(p->name, "token store", rc);
        tool_login_close(l);
        return rc;
    }
    return TOOL_EXIT_OK;
}

void tool_login_close(tool_login *l)
{
    bbo_session_free(l->session);
    bbo_client_free(l->client);
    bbo_consumer_free(l->consumer);
    memset(l, 0, sizeof(*l));
}

/* ---- the access token git rejected (git-credential-bboauth erase) ---- */

static void digest_hex(const char *access, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[32];
    int i;

    memset(d, 0, sizeof(d));
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)access,
               strlen(access), d);
    for (i = 0; i < 32; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[64] = 0;
}

int tool_rejected_mark(const tool_profile *p, const char *access)
{
    char *path = state_file(p, ".rejected"), hex[65];
    int fd, rc = -1;

    if (!path)
        return -1;
    digest_hex(access, hex);
    hex[64] = '\n';
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0) {
        rc = write(fd, hex, 65) == 65 ? 0 : -1;
        close(fd);
    }
    free(path);
    return rc;
}

int tool_rejected_is(const tool_profile *p, const char *access)
{
    char *path = state_file(p, ".rejected"), *text, hex[65];
    int yes = 0;

    if (path && (text = tool_read_file(path, 128, NULL)) != NULL) {
        digest_hex(access, hex);
        yes = strncmp(text, hex, 64) == 0;
        free(text);
    }
    free(path);
    return yes;
}

void tool_rejected_clear(const tool_profile *p)
{
    char *path = state_file(p, ".rejected");

    if (path)
        unlink(path);
    free(path);
}
