/*
 * Randomness and crypto primitives over mbedTLS (2.28 and 3.x alike: only
 * APIs common to both are used).
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/encode.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

static pthread_mutex_t drbg_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static bool drbg_ready;
static pid_t drbg_pid;

/* Called with drbg_lock held. A forked child shares the parent's DRBG
 * state byte for byte: without a reseed both would produce the same
 * "random" state and verifiers. */
static int drbg_prepare(void)
{
    static const char personalization[] = "bboauth drbg";
    pid_t pid = getpid();

    if (drbg_ready && pid == drbg_pid)
        return BBO_OK;
    if (drbg_ready) {
        struct { pid_t pid; time_t when; } extra;

        memset(&extra, 0, sizeof(extra));
        extra.pid = pid;
        extra.when = time(NULL);
        if (mbedtls_ctr_drbg_reseed(&drbg, (const unsigned char *)&extra, sizeof(extra)) != 0)
            return bbo__error_set(BBO_ECRYPTO, "cannot reseed the random generator after fork");
        drbg_pid = pid;
        return BBO_OK;
    }
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                              (const unsigned char *)personalization,
                              sizeof(personalization) - 1) != 0) {
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&entropy);
        return bbo__error_set(BBO_ECRYPTO, "cannot seed the random generator from the OS");
    }
    drbg_ready = true;
    drbg_pid = pid;
    return BBO_OK;
}

/* A fork while another thread holds drbg_lock would leave the child's copy
 * locked forever: hold it across fork so both sides start unlocked. */
static void drbg_before_fork(void)
{
    pthread_mutex_lock(&drbg_lock);
}

static void drbg_after_fork(void)
{
    pthread_mutex_unlock(&drbg_lock);
}

/* In the child: reseed on next use even if the pid was reused. */
static void drbg_after_fork_child(void)
{
    drbg_pid = 0;
    pthread_mutex_unlock(&drbg_lock);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    pthread_atfork(drbg_before_fork, drbg_after_fork, drbg_after_fork_child);
}

int bbo__random_bytes(unsigned char *out, size_t len)
{
    int error;

    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&drbg_lock);
    if ((error = drbg_prepare()) == BBO_OK) {
        while (len) {
            size_t chunk = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;

            if (mbedtls_ctr_drbg_random(&drbg, out, chunk) != 0) {
                error = bbo__error_set(BBO_ECRYPTO, "the random generator failed");
                break;
            }
            out += chunk;
            len -= chunk;
        }
    }
    pthread_mutex_unlock(&drbg_lock);
    return error;
}

int bbo__random_token(char **out, size_t nbytes)
{
    unsigned char raw[64];
    bbo_buf text = BBO_BUF_INIT;
    int error;

    if (nbytes > sizeof(raw))
        return bbo__error_set(BBO_EINVAL, "random token too long");
    if ((error = bbo__random_bytes(raw, nbytes)) == BBO_OK &&
        (error = bbo__base64_encode(&text, raw, nbytes, true)) == BBO_OK) {
        *out = text.ptr;
        text.ptr = NULL;
    }
    bbo__wipe(raw, sizeof(raw));
    bbo__buf_dispose(&text);
    return error;
}

int bbo__sha256(const void *data, size_t len, unsigned char out[BBO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (!md || mbedtls_md(md, data, len, out) != 0)
        return bbo__error_set(BBO_ECRYPTO, "SHA-256 failed");
    return BBO_OK;
}

int bbo__hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[BBO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (!md || mbedtls_md_hmac(md, key, key_len, data, len, out) != 0)
        return bbo__error_set(BBO_ECRYPTO, "HMAC-SHA-256 failed");
    return BBO_OK;
}

int bbo__gcm_seal(const unsigned char key[BBO_GCM_KEY_LEN],
                  const unsigned char nonce[BBO_GCM_NONCE_LEN], const void *aad, size_t aad_len,
                  const void *in, size_t len, unsigned char *out,
                  unsigned char tag[BBO_GCM_TAG_LEN])
{
    mbedtls_gcm_context gcm;
    int error = BBO_OK;

    mbedtls_gcm_init(&gcm);
    if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, BBO_GCM_KEY_LEN * 8) != 0 ||
        mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, BBO_GCM_NONCE_LEN,
                                  aad, aad_len, in, out, BBO_GCM_TAG_LEN, tag) != 0)
        error = bbo__error_set(BBO_ECRYPTO, "AES-256-GCM encryption failed");
    mbedtls_gcm_free(&gcm);
    return error;
}

int bbo__gcm_open(const unsigned char key[BBO_GCM_KEY_LEN],
                  const unsigned char nonce[BBO_GCM_NONCE_LEN], const void *aad, size_t aad_len,
                  const void *in, size_t len, const unsigned char tag[BBO_GCM_TAG_LEN],
                  unsigned char *out)
{
    mbedtls_gcm_context gcm;
    int error = BBO_OK;

    mbedtls_gcm_init(&gcm);
    if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, BBO_GCM_KEY_LEN * 8) != 0 ||
        mbedtls_gcm_auth_decrypt(&gcm, len, nonce, BBO_GCM_NONCE_LEN, aad, aad_len, tag,
                                 BBO_GCM_TAG_LEN, in, out) != 0) {
        bbo__wipe(out, len);
        error = bbo__error_set(BBO_ECRYPTO,
                               "cannot decrypt: wrong key, or the data was tampered with");
    }
    mbedtls_gcm_free(&gcm);
    return error;
}

bool bbo__secure_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char diff = (unsigned char)(la != lb);

    /* compare over the shorter length, so the loop's time depends only on
     * the lengths; the length difference was folded in above */
    for (i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
