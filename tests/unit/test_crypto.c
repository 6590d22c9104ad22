/*
 * Crypto primitives (src/internal/crypto.h): known-answer vectors, GCM
 * tamper detection, the DRBG.
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/common.h"
#include "internal/crypto.h"

/* Decode lowercase hex (test vectors) into `out`; returns the byte count. */
static size_t unhex(unsigned char *out, size_t cap, const char *hex)
{
    size_t n = 0;

    while (hex[0] && hex[1]) {
        unsigned int byte;

        assert_true(n < cap);
        assert_int_equal(sscanf(hex, "%2x", &byte), 1);
        out[n++] = (unsigned char)byte;
        hex += 2;
    }
    assert_int_equal(hex[0], '\0');
    return n;
}

static void assert_bytes_hex(const unsigned char *bytes, size_t len, const char *hex)
{
    unsigned char expected[256];
    size_t n = unhex(expected, sizeof(expected), hex);

    assert_int_equal(len, n);
    assert_memory_equal(bytes, expected, n);
}

static int all_zero(const unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_sha256(void **state)
{
    unsigned char d[BBO_SHA256_LEN];

    (void)state;
    /* FIPS 180-2 appendix B.1 */
    assert_int_equal(bbo__sha256("abc", 3, d), BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(bbo__sha256("", 0, d), BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* B.2: 448 bits */
    assert_int_equal(bbo__sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d),
                     BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_hmac_sha256_rfc4231(void **state)
{
    unsigned char key[131], d[BBO_SHA256_LEN];

    (void)state;
    /* RFC 4231 test case 2 */
    assert_int_equal(bbo__hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* test case 1 */
    memset(key, 0x0b, 20);
    assert_int_equal(bbo__hmac_sha256(key, 20, "Hi There", 8, d), BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* test case 6: a key longer than the block */
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(bbo__hmac_sha256(key, sizeof(key),
                                      "Test Using Larger Than Block-Size Key - Hash Key First",
                                      54, d),
                     BBO_OK);
    assert_bytes_hex(d, sizeof(d),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_gcm_vectors(void **state)
{
    unsigned char key[32], nonce[12], pt[64], aad[20], ct[64], tag[16], back[64];
    size_t n;

    (void)state;
    /* McGrew-Viega GCM spec, test case 13: empty plaintext, zero key */
    memset(key, 0, sizeof(key));
    memset(nonce, 0, sizeof(nonce));
    assert_int_equal(bbo__gcm_seal(key, nonce, NULL, 0, "", 0, ct, tag), BBO_OK);
    assert_bytes_hex(tag, 16, "530f8afbc74536b9a963b4f1c4cb738b");
    assert_int_equal(bbo__gcm_open(key, nonce, NULL, 0, "", 0, tag, back), BBO_OK);

    /* test case 14 */
    memset(pt, 0, 16);
    assert_int_equal(bbo__gcm_seal(key, nonce, NULL, 0, pt, 16, ct, tag), BBO_OK);
    assert_bytes_hex(ct, 16, "cea7403d4d606b6e074ec5d3baf39d18");
    assert_bytes_hex(tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");

    /* test case 16: with additional data */
    unhex(key, sizeof(key), "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    unhex(nonce, sizeof(nonce), "cafebabefacedbaddecaf888");
    n = unhex(pt, sizeof(pt),
              "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
              "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    assert_int_equal(n, 60);
    unhex(aad, sizeof(aad), "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    assert_int_equal(bbo__gcm_seal(key, nonce, aad, sizeof(aad), pt, n, ct, tag), BBO_OK);
    assert_bytes_hex(ct, n,
                     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
    assert_bytes_hex(tag, 16, "76fc6ece0f4e1768cddf8853bb2d551b");
    assert_int_equal(bbo__gcm_open(key, nonce, aad, sizeof(aad), ct, n, tag, back), BBO_OK);
    assert_memory_equal(back, pt, n);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

typedef struct sealed {
    unsigned char key[BBO_GCM_KEY_LEN];
    unsigned char nonce[BBO_GCM_NONCE_LEN];
    unsigned char ct[64];
    unsigned char tag[BBO_GCM_TAG_LEN];
    size_t len;
} sealed;

static const char plaintext[] = "{\"access_token\":\"AT-not-a-real-token\",\"expires_in\":7200}";
static const char aad_text[] = "bboauth-store-v1";

static void seal(sealed *s)
{
    s->len = sizeof(plaintext) - 1;
    assert_true(s->len <= sizeof(s->ct));
    assert_int_equal(bbo__random_bytes(s->key, sizeof(s->key)), BBO_OK);
    assert_int_equal(bbo__random_bytes(s->nonce, sizeof(s->nonce)), BBO_OK);
    assert_int_equal(bbo__gcm_seal(s->key, s->nonce, aad_text, strlen(aad_text), plaintext,
                                   s->len, s->ct, s->tag),
                     BBO_OK);
}

/* Open must fail with BBO_ECRYPTO and leave the output wiped. */
static void assert_open_fails(const unsigned char *key, const unsigned char *nonce,
                              const char *aad, const unsigned char *ct, size_t len,
                              const unsigned char *tag)
{
    unsigned char out[64];

    memset(out, 0xa5, sizeof(out));
    assert_int_equal(bbo__gcm_open(key, nonce, aad, strlen(aad), ct, len, tag, out),
                     BBO_ECRYPTO);
    assert_int_equal(bbo_error_code(bbo_error_last()), BBO_ECRYPTO);
    assert_true(all_zero(out, len));
    assert_int_equal(out[len], 0xa5); /* and nothing beyond it was written */
}

static void test_gcm_round_trip(void **state)
{
    sealed s;
    unsigned char out[64];

    (void)state;
    seal(&s);
    assert_memory_not_equal(s.ct, plaintext, s.len);
    memset(out, 0, sizeof(out));
    assert_int_equal(bbo__gcm_open(s.key, s.nonce, aad_text, strlen(aad_text), s.ct, s.len,
                                   s.tag, out),
                     BBO_OK);
    assert_memory_equal(out, plaintext, s.len);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_gcm_tampering(void **state)
{
    sealed s;
    unsigned char bad[64], badtag[16], badkey[32], badnonce[12];
    size_t i;

    (void)state;
    seal(&s);
    /* each bit position class of the ciphertext */
    for (i = 0; i < s.len; i += 7) {
        memcpy(bad, s.ct, s.len);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        assert_open_fails(s.key, s.nonce, aad_text, bad, s.len, s.tag);
    }
    for (i = 0; i < sizeof(badtag); i++) {
        memcpy(badtag, s.tag, sizeof(badtag));
        badtag[i] ^= 0x80;
        assert_open_fails(s.key, s.nonce, aad_text, s.ct, s.len, badtag);
    }
    assert_open_fails(s.key, s.nonce, "bboauth-store-v2", s.ct, s.len, s.tag);
    assert_open_fails(s.key, s.nonce, "", s.ct, s.len, s.tag);
    memcpy(badkey, s.key, sizeof(badkey));
    badkey[31] ^= 1;
    assert_open_fails(badkey, s.nonce, aad_text, s.ct, s.len, s.tag);
    memcpy(badnonce, s.nonce, sizeof(badnonce));
    badnonce[0] ^= 1;
    assert_open_fails(s.key, badnonce, aad_text, s.ct, s.len, s.tag);
    /* truncated ciphertext */
    assert_open_fails(s.key, s.nonce, aad_text, s.ct, s.len - 1, s.tag);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_secure_streq(void **state)
{
    (void)state;
    assert_true(bbo__secure_streq("", ""));
    assert_true(bbo__secure_streq("abc", "abc"));
    assert_false(bbo__secure_streq("abc", "abd"));
    assert_false(bbo__secure_streq("abc", "bbc"));
    assert_false(bbo__secure_streq("abc", "ab"));
    assert_false(bbo__secure_streq("ab", "abc"));
    assert_false(bbo__secure_streq("", "a"));
    assert_false(bbo__secure_streq("a", ""));
    assert_false(bbo__secure_streq("abc", "ABC"));
    assert_true(bbo__secure_streq("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_false(bbo__secure_streq("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_random_bytes(void **state)
{
    unsigned char a[32], b[32], big[5000];

    (void)state;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(bbo__random_bytes(a, sizeof(a)), BBO_OK);
    assert_int_equal(bbo__random_bytes(b, sizeof(b)), BBO_OK);
    assert_false(all_zero(a, sizeof(a)));
    assert_false(all_zero(b, sizeof(b)));
    assert_memory_not_equal(a, b, sizeof(a));
    /* more than one DRBG request (1024 bytes): every chunk is fresh */
    memset(big, 0, sizeof(big));
    assert_int_equal(bbo__random_bytes(big, sizeof(big)), BBO_OK);
    assert_memory_not_equal(big, big + 1024, 1024);
    assert_memory_not_equal(big + 1024, big + 2048, 1024);
    assert_memory_not_equal(big + 3072, big + 4096, 904);
    assert_false(all_zero(big + 4900, 100));
    assert_int_equal(bbo__random_bytes(a, 0), BBO_OK);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static void test_random_bytes_after_fork(void **state)
{
    unsigned char parent[32], child[32];
    int fds[2], status;
    pid_t pid;

    (void)state;
    assert_int_equal(bbo__random_bytes(parent, sizeof(parent)), BBO_OK); /* seeded */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char mine[32];
        int ok = bbo__random_bytes(mine, sizeof(mine)) == BBO_OK &&
                 write(fds[1], mine, sizeof(mine)) == (ssize_t)sizeof(mine);

        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* without a reseed the child would draw exactly the parent's next bytes */
    assert_int_equal(bbo__random_bytes(parent, sizeof(parent)), BBO_OK);
    assert_memory_not_equal(parent, child, sizeof(child));
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static int is_b64url(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           strlen(s);
}

static void test_random_token(void **state)
{
    static const size_t sizes[][2] = { { 32, 43 }, { 16, 22 }, { 1, 2 }, { 2, 3 },
                                       { 3, 4 },   { 64, 86 }, { 0, 0 } };
    char *a = NULL, *b = NULL, *sentinel = (char *)&sentinel, *c = sentinel;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(bbo__random_token(&a, sizes[i][0]), BBO_OK);
        assert_non_null(a);
        assert_int_equal(strlen(a), sizes[i][1]);
        assert_true(is_b64url(a));
        bbo_free(a);
        a = NULL;
    }
    assert_int_equal(bbo__random_token(&a, 32), BBO_OK);
    assert_int_equal(bbo__random_token(&b, 32), BBO_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(bbo__random_token(&c, 65), BBO_EINVAL);
    assert_ptr_equal(c, sentinel);
    bbo_free(a);
    bbo_free(b);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

static int op_token(void *p)
{
    return bbo__random_token((char **)p, 32);
}

static void cleanup_token(void *p)
{
    char **t = p;

    assert_int_equal(strlen(*t), 43);
    bbo_free(*t);
    *t = NULL;
}

static void test_oom(void **state)
{
    char *token = NULL;

    (void)state;
    bbo_test_oom_torture(op_token, cleanup_token, &token);
    assert_int_equal(bbo_test_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_gcm_vectors),
        cmocka_unit_test(test_gcm_round_trip),
        cmocka_unit_test(test_gcm_tampering),
        cmocka_unit_test(test_secure_streq),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_bytes_after_fork),
        cmocka_unit_test(test_random_token),
        cmocka_unit_test(test_oom),
    };

    bbo_test_alloc_install();
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
