/* Fuzz targets (see fuzz_targets.c). */
#ifndef BBO_FUZZ_TARGETS_H
#define BBO_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

int bbo_fuzz_token(const uint8_t *data, size_t size);
int bbo_fuzz_callback(const uint8_t *data, size_t size);
int bbo_fuzz_response(const uint8_t *data, size_t size);
int bbo_fuzz_scopes(const uint8_t *data, size_t size);
int bbo_fuzz_sealed(const uint8_t *data, size_t size);
int bbo_fuzz_loopback(const uint8_t *data, size_t size);
int bbo_fuzz_store_file(const uint8_t *data, size_t size);
int bbo_fuzz_json_diff(const uint8_t *data, size_t size);

#endif
