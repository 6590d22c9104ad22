/*
 * Library version.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"

const char *bbo_version(void)
{
    return BBO_VERSION;
}
