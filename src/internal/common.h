/*
 * Private definitions every module includes first.
 *
 * Rules for every function (docs/conventions.md): return 0 or a negative
 * bbo_code; constructors (_new, _parse, _begin, _dup) take their `out`
 * parameter first, methods take their object first and outputs last;
 * outputs are written only on success; a failure sets the per-thread
 * error, and a success leaves it alone.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_COMMON_H
#define BBO_INTERNAL_COMMON_H

#define BBO_BUILDING_LIBRARY 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bboauth.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

#define BBO_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#  define BBO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define BBO_PRINTF(f, a)
#endif

#endif
