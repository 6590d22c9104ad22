/*
 * The system clock, for the public calls documented to use "now" (the
 * core takes every time as a parameter and reads no clock itself).
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/token.h"

#include <time.h>

int bbo_token_new(bbo_token **out, const char *access, const char *refresh, const char *type,
                  int64_t expires_at, const bbo_scopes *scopes)
{
    return bbo__token_new_at(out, access, refresh, type, expires_at, scopes, (int64_t)time(NULL));
}
