/*
 * libbboauth-pg: what the token column holds. Without a key, the byte 0
 * then the token JSON. With one, the byte 1, a fresh 12-byte nonce, the
 * AES-256-GCM encryption of the JSON and its 16-byte tag; the leading byte
 * and the grant id are authenticated, so a row copied to another grant id
 * does not open.
 * SPDX-License-Identifier: MIT
 */
#include "pg_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#define FORMAT_PLAIN 0x00
#define FORMAT_SEALED 0x01
#define NONCE_LEN 12
#define TAG_LEN 16
#define AD_PREFIX "bboauth-pg token\0"
#define AD_PREFIX_LEN (sizeof(AD_PREFIX) - 1)
#define GRANT_ID_MAX 200

static int random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);

        if (n < 0)
            return BBO_ECRYPTO;
        got += (size_t)n;
    }
    return BBO_OK;
}

/* format byte, prefix, grant id: what the tag covers besides the text */
static size_t make_ad(unsigned char *ad, unsigned char format, const char *grant_id)
{
    size_t n = strlen(grant_id);

    ad[0] = format;
    memcpy(ad + 1, AD_PREFIX, AD_PREFIX_LEN);
    memcpy(ad + 1 + AD_PREFIX_LEN, grant_id, n);
    return 1 + AD_PREFIX_LEN + n;
}

int bbo__pg_seal(const bbo_pg *pg, const char *grant_id, const unsigned char *plain, size_t len,
                 unsigned char **out, size_t *out_len)
{
    unsigned char ad[1 + AD_PREFIX_LEN + GRANT_ID_MAX], *buf;
    mbedtls_gcm_context gcm;
    size_t total, ad_len;
    int rc = BBO_OK;

    if (!pg->has_key) {
        if ((buf = malloc(len + 1)) == NULL)
            return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
        buf[0] = FORMAT_PLAIN;
        memcpy(buf + 1, plain, len);
        *out = buf;
        *out_len = len + 1;
        return BBO_OK;
    }
    total = 1 + NONCE_LEN + len + TAG_LEN;
    if ((buf = malloc(total)) == NULL)
        return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    buf[0] = FORMAT_SEALED;
    if (random_bytes(buf + 1, NONCE_LEN) < 0) {
        free(buf);
        return bbo__pg_error(pg, BBO_ECRYPTO, "no random bytes for a nonce (getrandom failed)",
                             NULL);
    }
    ad_len = make_ad(ad, FORMAT_SEALED, grant_id);
    mbedtls_gcm_init(&gcm);
    if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, pg->key, BBO_PG_KEY_LEN * 8) != 0 ||
        mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, buf + 1, NONCE_LEN, ad, ad_len,
                                  plain, buf + 1 + NONCE_LEN, TAG_LEN,
                                  buf + 1 + NONCE_LEN + len) != 0) {
        bbo__pg_free_secret(buf, total);
        rc = bbo__pg_error(pg, BBO_ECRYPTO, "AES-256-GCM sealing failed", NULL);
    } else {
        *out = buf;
        *out_len = total;
    }
    mbedtls_gcm_free(&gcm);
    return rc;
}

int bbo__pg_unseal(const bbo_pg *pg, const char *grant_id, const unsigned char *sealed,
                   size_t len, char **out, size_t *out_len)
{
    unsigned char ad[1 + AD_PREFIX_LEN + GRANT_ID_MAX];
    mbedtls_gcm_context gcm;
    size_t text_len, ad_len;
    char *text;
    int rc = BBO_OK;

    if (len < 1 || (sealed[0] != FORMAT_PLAIN && sealed[0] != FORMAT_SEALED))
        return bbo__pg_error(pg, BBO_ECRYPTO, "the stored token is in no format this library "
                                              "knows (written by a newer version?)",
                             NULL);
    if (sealed[0] == FORMAT_PLAIN && pg->has_key)
        return bbo__pg_error(pg, BBO_ECRYPTO, "the stored token is not sealed but a key was "
                                              "given: refusing an unsealed token",
                             NULL);
    if (sealed[0] == FORMAT_SEALED && !pg->has_key)
        return bbo__pg_error(pg, BBO_ECRYPTO, "the stored token is sealed: give its key to "
                                              "bbo_pg_new",
                             NULL);
    if (sealed[0] == FORMAT_SEALED && len < 1 + NONCE_LEN + TAG_LEN)
        return bbo__pg_error(pg, BBO_ECRYPTO, "the stored token is cut short", NULL);
    text_len = sealed[0] == FORMAT_PLAIN ? len - 1 : len - 1 - NONCE_LEN - TAG_LEN;
    if ((text = malloc(text_len + 1)) == NULL)
        return bbo__pg_error(pg, BBO_ENOMEM, "out of memory", NULL);
    if (sealed[0] == FORMAT_PLAIN) {
        memcpy(text, sealed + 1, text_len);
    } else {
        ad_len = make_ad(ad, FORMAT_SEALED, grant_id);
        mbedtls_gcm_init(&gcm);
        if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, pg->key, BBO_PG_KEY_LEN * 8) != 0 ||
            mbedtls_gcm_auth_decrypt(&gcm, text_len, sealed + 1, NONCE_LEN, ad, ad_len,
                                     sealed + 1 + NONCE_LEN + text_len, TAG_LEN,
                                     sealed + 1 + NONCE_LEN, (unsigned char *)text) != 0)
            rc = bbo__pg_error(pg, BBO_ECRYPTO, "the stored token does not open with this key "
                                                "(a wrong key, a row of another grant id, or "
                                                "tampered bytes)",
                               NULL);
        mbedtls_gcm_free(&gcm);
    }
    if (rc < 0) {
        bbo__pg_free_secret(text, text_len + 1);
        return rc;
    }
    text[text_len] = '\0';
    *out = text;
    *out_len = text_len;
    return BBO_OK;
}
