/*
 * The default transport (libcurl); only the client creates it.
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_TRANSPORT_CURL_H
#define BBO_INTERNAL_TRANSPORT_CURL_H

#include "common.h"

typedef struct bbo_curl_config {
    int connect_timeout_ms;
    const char *ca_file;  /* NULL: system default */
    const char *ca_dir;
    const char *proxy;    /* NULL: environment; "": none */
} bbo_curl_config;

/* Fill `out` with a libcurl transport configured by `config` (copied). */
int bbo__curl_transport_new(bbo_transport *out, const bbo_curl_config *config);

/* Reconfigure a transport made by bbo__curl_transport_new. */
int bbo__curl_transport_configure(void *payload, const bbo_curl_config *config);

#endif
