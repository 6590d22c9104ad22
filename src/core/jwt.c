/*
 * HS256 JWTs for the (legacy) Atlassian Connect JWT grant.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/crypto.h"
#include "internal/encode.h"
#include "internal/url.h"

#include <stdio.h>

/* Connect's qsh: hex SHA-256 of "METHOD&path&" (no query on the token URL). */
static int query_string_hash(const char *method, const char *path, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[BBO_SHA256_LEN];
    bbo_buf canonical = BBO_BUF_INIT;
    size_t i;
    int error;

    if ((error = bbo__buf_puts(&canonical, method)) == BBO_OK &&
        (error = bbo__buf_putc(&canonical, '&')) == BBO_OK &&
        (error = bbo__buf_puts(&canonical, *path ? path : "/")) == BBO_OK &&
        (error = bbo__buf_putc(&canonical, '&')) == BBO_OK &&
        (error = bbo__sha256(canonical.ptr, canonical.size, digest)) == BBO_OK) {
        for (i = 0; i < BBO_SHA256_LEN; i++) {
            hex[2 * i] = digits[digest[i] >> 4];
            hex[2 * i + 1] = digits[digest[i] & 15];
        }
        hex[64] = '\0';
    }
    bbo__buf_dispose(&canonical);
    return error;
}

/* JSON string body for the key: Connect client keys are printable ASCII;
 * anything needing escapes is refused rather than escaped by hand. */
static bool json_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Connect canonicalizes the method to uppercase; anything but letters
 * (an '&' above all) would make the signed qsh ambiguous. */
static bool valid_method(const char *method)
{
    const char *p;

    for (p = method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return false;
    return p != method;
}

int bbo_jwt_connect_token(char **out, const char *client_key, const char *shared_secret,
                          const char *method, const char *url, int64_t now, int64_t lifetime_s)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[BBO_SHA256_LEN];
    bbo_buf claims = BBO_BUF_INIT, jwt = BBO_BUF_INIT;
    bbo_url parsed = { NULL, NULL, 0, NULL, NULL };
    char qsh[65], numbers[64];
    int error;

    if (!out || !client_key || !shared_secret || !method || !url)
        return bbo__error_set(BBO_EINVAL, "bbo_jwt_connect_token: NULL argument");
    if (!*client_key || !json_safe(client_key) || !*shared_secret)
        return bbo__error_set(BBO_EINVAL, "bbo_jwt_connect_token: empty or unprintable key");
    if (!valid_method(method))
        return bbo__error_set(BBO_EINVAL, "bbo_jwt_connect_token: the method must be uppercase "
                                          "letters (\"POST\")");
    if (lifetime_s < 1 || lifetime_s > 3600)
        return bbo__error_set(BBO_EINVAL, "bbo_jwt_connect_token: lifetime must be 1..3600 s");
    if (now < 0 || now > INT64_MAX - lifetime_s)
        return bbo__error_set(BBO_EINVAL, "bbo_jwt_connect_token: `now` is out of range");
    if ((error = bbo__url_parse(&parsed, url, "JWT URL")) < 0)
        return error;
    if ((error = query_string_hash(method, parsed.path, qsh)) < 0)
        goto done;
    snprintf(numbers, sizeof(numbers), "\"iat\":%lld,\"exp\":%lld,", (long long)now,
             (long long)(now + lifetime_s));
    if ((error = bbo__buf_puts(&claims, "{\"iss\":\"")) < 0 ||
        (error = bbo__buf_puts(&claims, client_key)) < 0 ||
        (error = bbo__buf_puts(&claims, "\",")) < 0 ||
        (error = bbo__buf_puts(&claims, numbers)) < 0 ||
        (error = bbo__buf_puts(&claims, "\"qsh\":\"")) < 0 ||
        (error = bbo__buf_puts(&claims, qsh)) < 0 ||
        (error = bbo__buf_puts(&claims, "\"}")) < 0 ||
        (error = bbo__base64_encode(&jwt, (const unsigned char *)header, sizeof(header) - 1,
                                    true)) < 0 ||
        (error = bbo__buf_putc(&jwt, '.')) < 0 ||
        (error = bbo__base64_encode(&jwt, (const unsigned char *)claims.ptr, claims.size,
                                    true)) < 0 ||
        (error = bbo__hmac_sha256(shared_secret, strlen(shared_secret), jwt.ptr, jwt.size,
                                  mac)) < 0 ||
        (error = bbo__buf_putc(&jwt, '.')) < 0 ||
        (error = bbo__base64_encode(&jwt, mac, sizeof(mac), true)) < 0)
        goto done;
    *out = jwt.ptr;
    jwt.ptr = NULL;
done:
    bbo__wipe(mac, sizeof(mac));
    bbo__url_dispose(&parsed);
    bbo__buf_dispose(&claims);
    bbo__buf_dispose(&jwt);
    return error;
}
