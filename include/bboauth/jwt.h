/*
 * bboauth: the HS256 JWT of the (legacy) Atlassian Connect JWT grant.
 * SPDX-License-Identifier: MIT
 *
 * Connect is being retired (no new apps since 2026-02-02); this stays for
 * apps that exist.
 */
#ifndef BBOAUTH_JWT_H
#define BBOAUTH_JWT_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * Build a JWT signed with HMAC-SHA256: header {"alg":"HS256","typ":"JWT"},
 * claims iss (the app's client key), iat (now), exp (now + lifetime_s) and
 * qsh (Connect's query string hash of "METHOD&path&" for `method` and the
 * path of `url`).
 *
 * @param client_key     the Connect app's client key (iss)
 * @param shared_secret  the shared secret from installation (HMAC key)
 * @param method         "POST" for the token endpoint
 * @param url            the URL the JWT is for (the token endpoint)
 * @param now            seconds since the epoch
 * @param lifetime_s     1 to 3600 seconds (180 is usual)
 * @param out            receives the JWT; free with bbo_free
 * @return 0, or BBO_EINVAL, BBO_ENOMEM, BBO_ECRYPTO
 */
BBO_EXTERN int bbo_jwt_connect_token(char **out, const char *client_key,
                                     const char *shared_secret, const char *method,
                                     const char *url, int64_t now, int64_t lifetime_s);

BBO_END_DECLS

#endif
