/*
 * Randomness and crypto primitives (mbedTLS underneath).
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_CRYPTO_H
#define BBO_INTERNAL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define BBO_SHA256_LEN 32
#define BBO_GCM_KEY_LEN 32
#define BBO_GCM_NONCE_LEN 12
#define BBO_GCM_TAG_LEN 16

/* Random bytes from the process-wide CTR_DRBG: seeded on first use from the
 * OS entropy source, reseeded in a child after fork. BBO_ECRYPTO on failure. */
int bbo__random_bytes(unsigned char *out, size_t len);

/* `nbytes` random bytes as base64url text (state, PKCE verifier). */
int bbo__random_token(char **out, size_t nbytes);

int bbo__sha256(const void *data, size_t len, unsigned char out[BBO_SHA256_LEN]);
int bbo__hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[BBO_SHA256_LEN]);

/* AES-256-GCM. `out` has room for `len` bytes. Open fails with BBO_ECRYPTO
 * (and leaves `out` wiped) when the tag does not verify. */
int bbo__gcm_seal(const unsigned char key[BBO_GCM_KEY_LEN],
                  const unsigned char nonce[BBO_GCM_NONCE_LEN], const void *aad, size_t aad_len,
                  const void *in, size_t len, unsigned char *out,
                  unsigned char tag[BBO_GCM_TAG_LEN]);
int bbo__gcm_open(const unsigned char key[BBO_GCM_KEY_LEN],
                  const unsigned char nonce[BBO_GCM_NONCE_LEN], const void *aad, size_t aad_len,
                  const void *in, size_t len, const unsigned char tag[BBO_GCM_TAG_LEN],
                  unsigned char *out);

/* Constant-time comparison of two strings: true when equal. The time taken
 * depends only on the lengths, never on where they differ. */
bool bbo__secure_streq(const char *a, const char *b);

#endif
