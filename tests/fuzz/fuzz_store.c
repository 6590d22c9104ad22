/*
 * Fuzz target for the file store's decoder (src/io/store_file.c): the
 * input is a token file's bytes, read plain and with a key; then the
 * input, taken as token JSON, is encrypted and must decode back to the
 * same token and generation, and any flipped byte must be refused.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_targets.h"

#include "internal/store_file.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char fuzz_key[32] = "0123456789abcdef0123456789abcdef";

int bbo_fuzz_store_file(const uint8_t *data, size_t size)
{
    bbo_token *plain = NULL, *keyed = NULL, *again = NULL;
    uint64_t generation = 1, got = 0;
    bbo_buf file = BBO_BUF_INIT;
    char *json;

    /* the bytes as a file: plain, then keyed (a forged file never opens) */
    bbo__store_file_decode(&plain, &generation, data, size, NULL, "id", "fuzz", 1700000000);
    if (bbo__store_file_decode(&keyed, &got, data, size, fuzz_key, "id", "fuzz", 1700000000) ==
        BBO_OK)
        abort();
    if (!plain)
        return 0;
    /* the bytes as JSON, sealed: it opens to the same token, and only so */
    generation = size ? (uint64_t)data[0] << 40 | size : 0;
    if ((json = malloc(size + 1)) == NULL)
        abort();
    memcpy(json, data, size);
    json[size] = '\0';
    if (strlen(json) == size &&
        bbo__store_file_encode(&file, json, fuzz_key, "id", generation) == BBO_OK) {
        if (bbo__store_file_decode(&again, &got, file.ptr, file.size, fuzz_key, "id", "fuzz",
                                   1700000000) != BBO_OK ||
            got != generation || strcmp(bbo_token_access(again), bbo_token_access(plain)) != 0)
            abort();
        bbo_token_free(again);
        again = NULL;
        if (bbo__store_file_decode(&again, &got, file.ptr, file.size, fuzz_key, "other id",
                                   "fuzz", 1700000000) == BBO_OK)
            abort();
        file.ptr[(size * 7919u) % file.size] ^= 0x20;
        if (bbo__store_file_decode(&again, &got, file.ptr, file.size, fuzz_key, "id", "fuzz",
                                   1700000000) == BBO_OK)
            abort();
    }
    bbo__buf_dispose(&file);
    free(json);
    bbo_token_free(plain);
    return 0;
}
