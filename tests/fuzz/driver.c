/*
 * Deterministic fuzz smoke run for the test suite: each target gets its
 * seed inputs, then many mutations of them (bit flips, truncations,
 * insertions of JSON/URL punctuation, splices) from a fixed-seed PRNG.
 * Under the sanitizer build any memory error aborts the test. It prints a
 * TAP line per target; a crash is a failure.
 */
#include "fuzz_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*target_fn)(const uint8_t *, size_t);

static const char *token_seeds[] = {
    "{\"access_token\":\"abc\",\"scope\":\"repository account\",\"expires_in\":7200,"
    "\"token_type\":\"bearer\",\"state\":\"authorization_code\",\"refresh_token\":\"r1\"}",
    "{\"access_token\":\"abc\",\"scopes\":\"repository\",\"expires_in\":\"3600\"}",
    "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh_token\"}",
    "{\"type\":\"error\",\"error\":{\"message\":\"Access token expired.\"}}",
    "{\"access_token\":\"a\",\"token_type\":\"bearer\",\"expires_at\":1700007200,"
    "\"obtained_at\":1700000000,\"scope\":\"\"}",
    "[1,2,{\"a\":[{\"b\":null}]}]",
};

static const char *callback_seeds[] = {
    "http://127.0.0.1:5000/cb?code=abc&state=xyz",
    "?code=a%2Fb&state=s&state=t",
    "code=&error=access_denied&error_description=no+way",
    "http://127.0.0.1/cb#access_token=t&token_type=bearer&expires_in=60&state=s",
    "https://x/cb?error=invalid_scope&state=%00%zz",
};

static const char *response_seeds[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"access_token\":\"t\"}",
    "HTTP/1.1 429 Too Many\r\nRetry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n\r\nslow down",
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html>502</html>",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad\r\nContent-Type: application/json\r\n\r\n"
    "{\"error\":\"invalid_request\"}",
    "HTTP/1.1 302 Found\r\nLocation: https://evil.invalid/\r\n\r\n",
};

static const char *scope_seeds[] = {
    "account repository:write", "pullrequest:write,project:write , issue:write",
    "REPO_WRITE SYSTEM_ADMIN ACCOUNT_WRITE", "  \t\n ", "a\"b c\\d",
};

static const char *sealed_seeds[] = {
    "Ad-M7mx67kTX3-xyCfqKXFxHZlmHA3PZWxL4aivWoxusRyhsOugcYPmQfcAZQeaOPj9_hv-VallgIlCLMblvn41Z"
    "3xh47JLcVQOhx_2xWFsEtL7fPVL3N3QpSp3bduWp28Qn2_4YBfu6sKDbNIw6J-cMyacQZoYbOamkfEigS0YIOI5k"
    "oMWtdthBrcJ9mUeiAcOg2oC8t5QppcWh372a76uJkQ",
    "Ad3QlVeH5xh0vDomNTV-YbewQELQY_NcjjqEVXCnjQGY4yoUpjHq-K17fWZDuDws_LesH_V5LvsomH4kWhsQS9EP"
    "yMX5Nwk8fC0pocCks89jmIh-SifpJN-Zf4i3SClmNe95PaIuiSPVyWe1MzPKKSoxG7rqWolRWFXaMp7XKS_lCrDF"
    "r7RMTtkZ",
};

static const char *loopback_seeds[] = {
    "GET /callback?code=abc&state=xyz HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: x\r\n"
    "Accept: text/html\r\nConnection: keep-alive\r\n\r\n",
    "GET /L4unch-Path_x HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n",
    "GET /favicon.ico HTTP/1.0\r\nhost:127.0.0.1:5000 \r\n\r\n",
    "POST /callback HTTP/1.1\r\nHost: evil.example:5000\r\nHost: 127.0.0.1:5000\r\n\r\nbody",
    "GET /callback?error=access_denied&state=s HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
};

static const char *store_file_seeds[] = {
    "{\"access_token\":\"a\",\"token_type\":\"bearer\",\"expires_at\":1700007200,"
    "\"obtained_at\":1700000000,\"scope\":\"account\",\"refresh_token\":\"r\"}",
    "{\"access_token\":\"abc\",\"scopes\":\"repository\",\"expires_in\":3600}",
    "BBOENC2",
    "BBOENC1",
};

static const char *json_diff_seeds[] = {
    "{\"access_token\":\"abc\",\"scope\":\"repository account\",\"expires_in\":7200,"
    "\"token_type\":\"bearer\",\"refresh_token\":\"r\\u00e9\\n1\"}",
    "{\"type\":\"error\",\"error\":{\"message\":\"Access token expired.\",\"detail\":null}}",
    "{\"error\":\"invalid_grant\",\"error_description\":\"caf\xc3\xa9 \\ud83d\\ude00\"}",
    "{\"values\":[{\"a\":1},[2],\"x\"],\"next\":\"https://api.example/2.0/x?page=2\","
    "\"a\":{\"b\":-1.5e+3,\"b\\u002e\":true},\"scopes\":\"\\/\\\"\"}",
    " {\"acc\\u0065ss_token\":\"t\",\"expires_in\":\"3600\",\"a\":{}}\t\n",
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char punctuation[] = "{}[]\":,\\\x00\xff\xc3\xa9%&=?#+ \r\n0123456789.e-";

static size_t mutate(uint8_t *buf, size_t len, size_t cap, const char *other)
{
    int rounds = 1 + (int)(next_random() % 4);

    while (rounds--) {
        size_t at = len ? (size_t)(next_random() % len) : 0;

        switch (next_random() % 5) {
        case 0: /* flip a bit */
            if (len)
                buf[at] ^= (uint8_t)(1u << (next_random() % 8));
            break;
        case 1: /* truncate */
            len = at;
            break;
        case 2: /* insert punctuation */
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)punctuation[next_random() % (sizeof(punctuation) - 1)];
                len++;
            }
            break;
        case 3: /* splice in part of another seed */
        {
            size_t olen = strlen(other), from = olen ? (size_t)(next_random() % olen) : 0;
            size_t n = olen - from;

            if (n > cap - at)
                n = cap - at;
            memcpy(buf + at, other + from, n);
            len = at + n > len ? at + n : len;
            break;
        }
        default: /* duplicate a chunk */
            if (len && len * 2 <= cap) {
                memcpy(buf + len, buf, len);
                len *= 2;
            }
            break;
        }
    }
    return len;
}

static int run(const char *name, target_fn fn, const char **seeds, size_t nseeds, int iterations)
{
    static uint8_t buf[16384];
    size_t i;
    int n;

    for (i = 0; i < nseeds; i++)
        fn((const uint8_t *)seeds[i], strlen(seeds[i]));
    for (n = 0; n < iterations; n++) {
        const char *seed = seeds[next_random() % nseeds];
        size_t len = strlen(seed);

        memcpy(buf, seed, len);
        len = mutate(buf, len, sizeof(buf), seeds[next_random() % nseeds]);
        fn(buf, len);
    }
    printf("ok - %s: %zu seeds, %d mutations\n", name, nseeds, iterations);
    return 0;
}

#define RUN(name, fn, seeds, iters) run(name, fn, seeds, sizeof(seeds) / sizeof(seeds[0]), iters)

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 5000;

    printf("1..8\n");
    fflush(stdout);
    RUN("token", bbo_fuzz_token, token_seeds, iterations);
    RUN("callback", bbo_fuzz_callback, callback_seeds, iterations);
    RUN("response", bbo_fuzz_response, response_seeds, iterations);
    RUN("scopes", bbo_fuzz_scopes, scope_seeds, iterations);
    RUN("sealed", bbo_fuzz_sealed, sealed_seeds, iterations);
    RUN("loopback", bbo_fuzz_loopback, loopback_seeds, iterations);
    RUN("store_file", bbo_fuzz_store_file, store_file_seeds, iterations);
    RUN("json_diff", bbo_fuzz_json_diff, json_diff_seeds, iterations);
    return 0;
}
