/*
 * The file store's on-disk format, shared with its fuzz target.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_STORE_FILE_H
#define BBO_INTERNAL_STORE_FILE_H

#include "common.h"

/* Encrypted files: MAGIC (with its NUL) | generation (8 bytes, big-endian)
 * | nonce | ciphertext | tag; the associated data is the header followed
 * by SHA-256 of the store id. "BBOENC1" files (bboauth 0.1: no
 * generation, nothing bound) are refused. */
#define BBO_STORE_FILE_MAGIC "BBOENC2"
#define BBO_STORE_FILE_MAGIC_V1 "BBOENC1"
#define BBO_STORE_FILE_MAGIC_LEN 8
#define BBO_STORE_FILE_GENERATION_LEN 8

/* Decode a token file's bytes: token JSON when `key` is NULL, else an
 * encrypted file bound to `store_id`. `path` only names the file in
 * messages; `now` is passed to bbo_token_parse. `*generation` receives the
 * file's generation (0 for a plain file). Sets the error: BBO_ECRYPTO,
 * BBO_EPROTOCOL, BBO_ENOMEM. */
int bbo__store_file_decode(bbo_token **out, uint64_t *generation, const void *data, size_t len,
                           const unsigned char *key, const char *store_id, const char *path,
                           int64_t now);

/* Append the file's bytes for token JSON `json` to `out`: the JSON itself
 * when `key` is NULL, else the encrypted file of `generation` bound to
 * `store_id`. */
int bbo__store_file_encode(bbo_buf *out, const char *json, const unsigned char *key,
                           const char *store_id, uint64_t generation);

#endif
