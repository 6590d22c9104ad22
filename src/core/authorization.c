/*
 * Authorization transactions: URL with state and PKCE, callback checks.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/authorization.h"
#include "internal/consumer.h"
#include "internal/crypto.h"
#include "internal/encode.h"
#include "internal/url.h"

/* 32 random bytes: 256 bits of state, a 43-character PKCE verifier. */
#define RANDOM_BYTES 32

static int remember_consumer(bbo_authorization *auth, const bbo_consumer *consumer);
static int explain_invalid_scope(const bbo_authorization *auth, const char *desc);

static bool valid_verifier(const char *v)
{
    size_t i, len = strlen(v);

    if (len < 43 || len > 128)
        return false;
    for (i = 0; i < len; i++)
        if (!bbo__is_unreserved((unsigned char)v[i]))
            return false;
    return true;
}

int bbo_pkce_challenge(const char *verifier, char **challenge_out)
{
    unsigned char digest[BBO_SHA256_LEN];
    bbo_buf text = BBO_BUF_INIT;
    int error;

    if (!verifier || !challenge_out)
        return bbo__error_set(BBO_EINVAL, "bbo_pkce_challenge: NULL argument");
    if (!valid_verifier(verifier))
        return bbo__error_set(BBO_EINVAL, "bbo_pkce_challenge: a verifier is 43 to 128 "
                                          "characters of A-Z a-z 0-9 - . _ ~");
    if ((error = bbo__sha256(verifier, strlen(verifier), digest)) == BBO_OK &&
        (error = bbo__base64_encode(&text, digest, sizeof(digest), true)) == BBO_OK) {
        *challenge_out = text.ptr;
        text.ptr = NULL;
    }
    bbo__buf_dispose(&text);
    return error;
}

static int add_param(bbo_buf *url, const char *name, const char *value)
{
    int error;

    if ((error = bbo__buf_putc(url, '&')) < 0 || (error = bbo__buf_puts(url, name)) < 0 ||
        (error = bbo__buf_putc(url, '=')) < 0 ||
        (error = bbo__url_encode(url, value, strlen(value), false)) < 0)
        return error;
    return BBO_OK;
}

static int build_url(bbo_authorization *auth, const bbo_consumer *consumer)
{
    bbo_buf url = BBO_BUF_INIT;
    char *scope = NULL, *challenge = NULL;
    int error;

    if ((error = bbo__buf_puts(&url, consumer->authorize_url)) < 0 ||
        (error = bbo__buf_puts(&url, strchr(consumer->authorize_url, '?') ? "&" : "?")) < 0 ||
        (error = bbo__buf_puts(&url, "client_id=")) < 0 ||
        (error = bbo__url_encode(&url, consumer->key, strlen(consumer->key), false)) < 0 ||
        (error = add_param(&url, "response_type", auth->implicit ? "token" : "code")) < 0 ||
        (error = add_param(&url, "state", auth->state)) < 0)
        goto done;
    if (auth->redirect_uri && (error = add_param(&url, "redirect_uri", auth->redirect_uri)) < 0)
        goto done;
    if (bbo_scopes_count(consumer->scopes) &&
        ((error = bbo_scopes_to_string(consumer->scopes, &scope)) < 0 ||
         (error = add_param(&url, "scope", scope)) < 0))
        goto done;
    if (auth->verifier &&
        ((error = bbo_pkce_challenge(auth->verifier, &challenge)) < 0 ||
         (error = add_param(&url, "code_challenge", challenge)) < 0 ||
         (error = add_param(&url, "code_challenge_method", "S256")) < 0))
        goto done;
    auth->url = url.ptr;
    url.ptr = NULL;
done:
    bbo__free(scope);
    bbo__free(challenge);
    bbo__buf_dispose(&url);
    return error;
}

int bbo_authorization_begin_ex(bbo_authorization **out, const bbo_consumer *consumer,
                               const char *redirect_uri, int flags)
{
    bbo_authorization *auth = NULL;
    const char *redirect;
    int error;

    if (!out || !consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_begin: NULL argument");
    if (flags & ~BBO_AUTHORIZATION_IMPLICIT)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_begin_ex: unknown flags");
    redirect = redirect_uri ? redirect_uri : consumer->callback_url;
    if (redirect_uri && (error = bbo__url_check_callback(redirect_uri, "redirect_uri")) < 0)
        return error;
    if ((auth = bbo__calloc(1, sizeof(*auth))) == NULL)
        return bbo__error_oom();
    auth->implicit = (flags & BBO_AUTHORIZATION_IMPLICIT) != 0;
    if ((auth->consumer_key = bbo__strdup(consumer->key)) == NULL ||
        (redirect && (auth->redirect_uri = bbo__strdup(redirect)) == NULL)) {
        error = bbo__error_oom();
        goto done;
    }
    if ((error = remember_consumer(auth, consumer)) < 0 ||
        (error = bbo__random_token(&auth->state, RANDOM_BYTES)) < 0 ||
        (!auth->implicit && (error = bbo__random_token(&auth->verifier, RANDOM_BYTES)) < 0) ||
        (error = build_url(auth, consumer)) < 0)
        goto done;
    *out = auth;
    auth = NULL;
done:
    bbo_authorization_free(auth);
    return error;
}

int bbo_authorization_begin(bbo_authorization **out, const bbo_consumer *consumer)
{
    return bbo_authorization_begin_ex(out, consumer, NULL, 0);
}

const char *bbo_authorization_url(const bbo_authorization *auth)
{
    return auth ? auth->url : NULL;
}

const char *bbo_authorization_state(const bbo_authorization *auth)
{
    return auth ? auth->state : NULL;
}

const char *bbo_authorization_redirect_uri(const bbo_authorization *auth)
{
    return auth ? auth->redirect_uri : NULL;
}

/* The parameters of a callback: the query of a URL, the fragment for the
 * implicit grant, or the text itself when it is just a query. */
static int callback_params(bbo_params *params, const char *callback, bool fragment)
{
    const char *start, *end;
    bool is_url = bbo__strncasecmp(callback, "http://", 7) == 0 ||
                  bbo__strncasecmp(callback, "https://", 8) == 0;

    if (fragment) {
        if ((start = strchr(callback, '#')) == NULL)
            return bbo__error_set(BBO_EPROTOCOL, "callback has no URL fragment");
        start++;
        end = start + strlen(start);
    } else {
        /* a '?' inside the fragment does not start a query */
        end = strchr(callback, '#');
        if ((start = strchr(callback, '?')) != NULL && (!end || start < end))
            start++;
        else if (is_url)
            return bbo__error_set(BBO_EPROTOCOL, "callback URL has no query");
        else
            start = callback;
        end = strchr(start, '#');
        if (!end)
            end = start + strlen(start);
    }
    return bbo__params_parse(params, start, (size_t)(end - start));
}

/* RFC 9207 (mix-up attacks): an answer names its server in `iss`. Two of
 * them is a redirect put together by someone, refused whether or not an
 * issuer is expected; with one expected, iss must be present and equal it
 * (simple string comparison). BBO_ESTATE: like a foreign state, the
 * redirect does not belong to this transaction, which stays open. */
static int check_issuer(const bbo_authorization *auth, const bbo_params *params)
{
    size_t count;
    const char *iss = bbo__params_get(params, "iss", &count);

    if (count > 1)
        return bbo__error_set(BBO_ESTATE, "callback has the iss parameter more than once");
    if (!auth->issuer)
        return BBO_OK;
    if (!iss)
        return bbo__error_set(BBO_ESTATE, "callback has no iss parameter, but the consumer "
                                          "expects its issuer to send one (RFC 9207)");
    if (strcmp(iss, auth->issuer) != 0)
        return bbo__error_set(BBO_ESTATE, "callback comes from another server: its iss is not "
                                          "the consumer's issuer (a mix-up attack?)");
    return BBO_OK;
}

/* State first, then the server's error, as RFC 6749 10.12 asks: an error
 * redirect with a foreign or no state is an attack, not a denial, and must
 * not end the transaction. */
static int check_callback(bbo_authorization *auth, const bbo_params *params)
{
    const char *state, *err, *desc;
    size_t state_count, err_count;
    int error;

    if (auth->completed)
        return bbo__error_set(BBO_ESTATE, "this authorization was already completed; "
                                          "begin a new one");
    state = bbo__params_get(params, "state", &state_count);
    err = bbo__params_get(params, "error", &err_count);
    desc = bbo__params_get(params, "error_description", NULL);
    if (state_count > 1)
        return bbo__error_set(BBO_ESTATE, "callback has the state parameter more than once");
    if (!state)
        return bbo__error_set(BBO_ESTATE, "callback has no state parameter");
    if (!bbo__secure_streq(state, auth->state))
        return bbo__error_set(BBO_ESTATE, "callback state does not match this authorization "
                                          "(a forged or stale redirect)");
    if ((error = check_issuer(auth, params)) < 0)
        return error;
    if (err) {
        auth->completed = true;
        if (err_count > 1)
            return bbo__error_set(BBO_EPROTOCOL, "callback has the error parameter more than once");
        /* bbo__error_set makes the server's text printable */
        if (strcmp(err, "access_denied") == 0) {
            bbo__error_set(BBO_EDENIED, "the user denied access%s%.300s", desc ? ": " : "",
                           desc ? desc : "");
            bbo__error_set_oauth(err, desc);
            return BBO_EDENIED;
        }
        if (strcmp(err, "invalid_scope") == 0)
            return explain_invalid_scope(auth, desc);
        bbo__error_set(BBO_EOAUTH, "authorization failed: %.64s%s%.300s", err, desc ? ": " : "",
                       desc ? desc : "");
        bbo__error_set_oauth(err, desc);
        return BBO_EOAUTH;
    }
    return BBO_OK;
}

int bbo_authorization_complete(bbo_authorization *auth, const char *callback, char **code_out)
{
    bbo_params params = { NULL, 0 };
    const char *code;
    size_t code_count;
    char *copy;
    int error;

    if (!auth || !callback || !code_out)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_complete: NULL argument");
    if (auth->implicit)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_complete: this is an implicit-grant "
                                          "transaction; use bbo_authorization_complete_implicit");
    if ((error = callback_params(&params, callback, false)) < 0 ||
        (error = check_callback(auth, &params)) < 0)
        goto done;
    code = bbo__params_get(&params, "code", &code_count);
    if (code_count > 1) {
        error = bbo__error_set(BBO_EPROTOCOL, "callback has the code parameter more than once");
        goto done;
    }
    if (!code || !*code) {
        error = bbo__error_set(BBO_EPROTOCOL, "callback has no authorization code");
        goto done;
    }
    if ((copy = bbo__strdup(code)) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    auth->completed = true;
    *code_out = copy;
done:
    bbo__params_dispose(&params);
    return error;
}

int bbo_authorization_complete_implicit(bbo_authorization *auth, const char *callback,
                                        int64_t now, bbo_token **out)
{
    bbo_params params = { NULL, 0 };
    const char *access, *type, *expires, *scope;
    bbo_scopes *scopes = NULL;
    bbo_token *token = NULL;
    int64_t expires_in = 0;
    size_t count, i;
    int error;

    if (!auth || !callback || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_complete_implicit: NULL argument");
    if (!auth->implicit)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_complete_implicit: this is a "
                                          "code-flow transaction");
    /* an error comes back in the query, a token in the fragment */
    if ((error = callback_params(&params, callback, strchr(callback, '#') != NULL)) < 0 ||
        (error = check_callback(auth, &params)) < 0)
        goto done;
    access = bbo__params_get(&params, "access_token", &count);
    type = bbo__params_get(&params, "token_type", NULL);
    expires = bbo__params_get(&params, "expires_in", NULL);
    scope = bbo__params_get(&params, "scope", NULL);
    if (!access || count != 1) {
        error = bbo__error_set(BBO_EPROTOCOL, "callback fragment has no (single) access_token");
        goto done;
    }
    for (i = 0; expires && expires[i]; i++) {
        if (expires[i] < '0' || expires[i] > '9' || i > 9)
            break;
        expires_in = expires_in * 10 + (expires[i] - '0');
    }
    if (expires && (expires[i] || expires_in < 1)) {
        error = bbo__error_set(BBO_EPROTOCOL, "callback fragment has an invalid expires_in");
        goto done;
    }
    if ((error = bbo_scopes_parse(&scopes, scope ? scope : "")) < 0 ||
        (error = bbo_token_new(&token, access, NULL, type, expires ? now + expires_in : 0,
                               scopes)) < 0) {
        if (error == BBO_EINVAL)
            error = bbo__error_set(BBO_EPROTOCOL, "callback fragment holds a malformed token");
        goto done;
    }
    auth->completed = true;
    *out = token;
done:
    bbo_scopes_free(scopes);
    bbo__params_dispose(&params);
    return error;
}

void bbo_authorization_free(bbo_authorization *auth)
{
    if (!auth)
        return;
    bbo__free(auth->url);
    bbo__free(auth->state);     /* bbo__free wipes */
    bbo__free(auth->verifier);
    bbo__free(auth->redirect_uri);
    bbo__free(auth->consumer_key);
    bbo_scopes_free(auth->asked);
    bbo__free(auth->issuer);
    bbo__free(auth);
}

/*
 * Sealed authorizations (a login begun by one request, completed by another).
 *
 * Text: base64url (no padding) of
 *   version (1 byte, SEAL_VERSION) | nonce (12) | ciphertext | GCM tag (16)
 * with the label and the version byte as associated data. The plaintext is
 *   sealed_at (8 bytes, big-endian two's complement) | flags (1 byte)
 *   then fields: tag (1 byte) | length (2 bytes, big-endian) | bytes
 * Unknown tags or flags are refused: they come from a newer library.
 */
#define SEAL_VERSION 1
#define SEAL_MAX_TEXT 1024
#define SEAL_MAX_BYTES (SEAL_MAX_TEXT / 4 * 3)
#define SEAL_HEADER (1 + BBO_GCM_NONCE_LEN)
#define SEAL_FIXED 9 /* sealed_at and flags */
#define SEAL_MAX_AGE 600
#define SEAL_MAX_AHEAD 60
#define SEAL_FLAG_IMPLICIT 1

enum { SEAL_CONSUMER_KEY = 1, SEAL_STATE = 2, SEAL_VERIFIER = 3, SEAL_REDIRECT_URI = 4 };

static const char seal_label[] = "bboauth sealed authorization";

static void seal_aad(unsigned char aad[sizeof(seal_label)], unsigned char version)
{
    memcpy(aad, seal_label, sizeof(seal_label) - 1);
    aad[sizeof(seal_label) - 1] = version;
}

static size_t seal_field_size(const char *value)
{
    return value ? 3 + strlen(value) : 0;
}

static unsigned char *seal_put_field(unsigned char *p, int tag, const char *value)
{
    size_t len;

    if (!value)
        return p;
    len = strlen(value);
    *p++ = (unsigned char)tag;
    *p++ = (unsigned char)(len >> 8);
    *p++ = (unsigned char)len;
    memcpy(p, value, len);
    return p + len;
}

int bbo_authorization_seal(const bbo_authorization *auth, const unsigned char *key, int64_t now,
                           char **out)
{
    unsigned char aad[sizeof(seal_label)], *plain = NULL, *sealed = NULL, *p;
    bbo_buf text = BBO_BUF_INIT;
    size_t plain_len, total, i;
    uint64_t when = (uint64_t)now;
    int error;

    if (!auth || !key || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_seal: NULL argument");
    if (auth->completed)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_seal: this authorization was "
                                          "already completed; seal it before the redirect");
    if (!auth->consumer_key || !auth->state)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_seal: not a begun authorization");
    plain_len = SEAL_FIXED + seal_field_size(auth->consumer_key) + seal_field_size(auth->state) +
                seal_field_size(auth->verifier) + seal_field_size(auth->redirect_uri);
    total = SEAL_HEADER + plain_len + BBO_GCM_TAG_LEN;
    if (total > SEAL_MAX_BYTES)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_seal: the sealed text would be %zu "
                              "characters, more than %d (what fits a cookie); shorten the "
                              "redirect URI (%zu characters) or the consumer key (%zu)",
                              (total * 4 + 2) / 3, SEAL_MAX_TEXT,
                              auth->redirect_uri ? strlen(auth->redirect_uri) : (size_t)0,
                              strlen(auth->consumer_key));
    if ((plain = bbo__malloc(plain_len)) == NULL || (sealed = bbo__malloc(total)) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    for (i = 0; i < 8; i++)
        plain[i] = (unsigned char)(when >> (56 - 8 * i));
    plain[8] = auth->implicit ? SEAL_FLAG_IMPLICIT : 0;
    p = seal_put_field(plain + SEAL_FIXED, SEAL_CONSUMER_KEY, auth->consumer_key);
    p = seal_put_field(p, SEAL_STATE, auth->state);
    p = seal_put_field(p, SEAL_VERIFIER, auth->verifier);
    seal_put_field(p, SEAL_REDIRECT_URI, auth->redirect_uri);
    sealed[0] = SEAL_VERSION;
    seal_aad(aad, SEAL_VERSION);
    if ((error = bbo__random_bytes(sealed + 1, BBO_GCM_NONCE_LEN)) < 0 ||
        (error = bbo__gcm_seal(key, sealed + 1, aad, sizeof(aad), plain, plain_len,
                               sealed + SEAL_HEADER, sealed + SEAL_HEADER + plain_len)) < 0 ||
        (error = bbo__base64_encode(&text, sealed, total, true)) < 0)
        goto done;
    *out = text.ptr;
    text.ptr = NULL;
done:
    bbo__free(plain); /* wipes state and verifier */
    bbo__free(sealed);
    bbo__buf_dispose(&text);
    return error;
}

static int seal_refused(void)
{
    return bbo__error_set(BBO_ECRYPTO, "bbo_authorization_unseal: not a sealed authorization "
                                       "of this app: altered, cut short, or sealed under "
                                       "another key");
}

/* Decode the text into version | nonce | ciphertext | tag; only the
 * canonical encoding is accepted, so no two texts unseal alike. */
static int seal_decode(unsigned char **out, size_t *out_len, const char *text)
{
    unsigned char *bin = NULL;
    bbo_buf again = BBO_BUF_INIT;
    size_t len = strlen(text), bin_len = 0;
    int error;

    if (len > SEAL_MAX_TEXT)
        return seal_refused();
    if ((error = bbo__base64url_decode(&bin, &bin_len, text, len)) < 0)
        return error == BBO_ENOMEM ? error : seal_refused();
    if ((error = bbo__base64_encode(&again, bin, bin_len, true)) < 0)
        goto done;
    if (again.size != len || memcmp(again.ptr, text, len) != 0 ||
        bin_len < SEAL_HEADER + SEAL_FIXED + BBO_GCM_TAG_LEN) {
        error = seal_refused();
        goto done;
    }
    if (bin[0] != SEAL_VERSION) {
        error = bbo__error_set(BBO_ECRYPTO, "bbo_authorization_unseal: unknown format %u "
                               "(altered, or sealed by another version of bboauth)", bin[0]);
        goto done;
    }
    *out = bin;
    *out_len = bin_len;
    bin = NULL;
done:
    bbo__free(bin);
    bbo__buf_dispose(&again);
    return error;
}

/* Fill `auth` from a verified plaintext; *sealed_at gets the seal time. */
static int seal_parse(bbo_authorization *auth, int64_t *sealed_at, const unsigned char *plain,
                      size_t len)
{
    uint64_t when = 0;
    size_t i, pos = SEAL_FIXED;

    for (i = 0; i < 8; i++)
        when = when << 8 | plain[i];
    *sealed_at = (int64_t)when;
    if (plain[8] & ~SEAL_FLAG_IMPLICIT)
        goto newer;
    auth->implicit = (plain[8] & SEAL_FLAG_IMPLICIT) != 0;
    while (pos < len) {
        size_t field_len;
        char **slot;

        if (len - pos < 3 || (field_len = (size_t)plain[pos + 1] << 8 | plain[pos + 2]) >
                                 len - pos - 3)
            goto newer;
        switch (plain[pos]) {
        case SEAL_CONSUMER_KEY: slot = &auth->consumer_key; break;
        case SEAL_STATE: slot = &auth->state; break;
        case SEAL_VERIFIER: slot = &auth->verifier; break;
        case SEAL_REDIRECT_URI: slot = &auth->redirect_uri; break;
        default: goto newer;
        }
        if (*slot || memchr(plain + pos + 3, '\0', field_len))
            goto newer;
        if ((*slot = bbo__strndup((const char *)plain + pos + 3, field_len)) == NULL)
            return bbo__error_oom();
        pos += 3 + field_len;
    }
    if (!auth->consumer_key || !auth->state || (!auth->implicit && !auth->verifier))
        goto newer;
    return BBO_OK;
newer:
    return bbo__error_set(BBO_ECRYPTO, "bbo_authorization_unseal: the sealed authorization "
                                       "has fields this version of bboauth does not know");
}

static int seal_check_time(int64_t sealed_at, int64_t now)
{
    uint64_t diff;

    if (sealed_at <= now) {
        diff = (uint64_t)now - (uint64_t)sealed_at;
        if (diff > SEAL_MAX_AGE)
            return bbo__error_set(BBO_EEXPIRED, "bbo_authorization_unseal: this login was begun "
                                  "%llu s ago, more than %d s: begin a new one",
                                  (unsigned long long)diff, SEAL_MAX_AGE);
    } else {
        diff = (uint64_t)sealed_at - (uint64_t)now;
        if (diff > SEAL_MAX_AHEAD)
            return bbo__error_set(BBO_EEXPIRED, "bbo_authorization_unseal: this login was sealed "
                                  "%llu s in the future, more than %d s: are the clocks of "
                                  "the servers in step?", (unsigned long long)diff,
                                  SEAL_MAX_AHEAD);
    }
    return BBO_OK;
}

int bbo_authorization_unseal(bbo_authorization **out, const bbo_consumer *consumer,
                             const unsigned char *key, const char *sealed, int64_t now)
{
    unsigned char aad[sizeof(seal_label)], *bin = NULL, *plain = NULL;
    bbo_authorization *auth = NULL;
    size_t bin_len = 0, plain_len;
    int64_t sealed_at = 0;
    int error;

    if (!out || !consumer || !key || !sealed)
        return bbo__error_set(BBO_EINVAL, "bbo_authorization_unseal: NULL argument");
    if ((error = seal_decode(&bin, &bin_len, sealed)) < 0)
        goto done;
    plain_len = bin_len - SEAL_HEADER - BBO_GCM_TAG_LEN;
    seal_aad(aad, bin[0]);
    if ((plain = bbo__malloc(plain_len)) == NULL ||
        (auth = bbo__calloc(1, sizeof(*auth))) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    if (bbo__gcm_open(key, bin + 1, aad, sizeof(aad), bin + SEAL_HEADER, plain_len,
                      bin + SEAL_HEADER + plain_len, plain) < 0) {
        error = seal_refused();
        goto done;
    }
    if ((error = seal_parse(auth, &sealed_at, plain, plain_len)) < 0)
        goto done;
    if (strcmp(auth->consumer_key, consumer->key) != 0) {
        error = bbo__error_set(BBO_EINVAL, "bbo_authorization_unseal: this login was begun for "
                                           "another consumer (another client id); complete it "
                                           "with the consumer that began it");
        goto done;
    }
    if ((error = seal_check_time(sealed_at, now)) < 0 ||
        (error = remember_consumer(auth, consumer)) < 0 || (error = build_url(auth, consumer)) < 0)
        goto done;
    *out = auth;
    auth = NULL;
done:
    bbo_authorization_free(auth);
    bbo__free(plain); /* wipes */
    bbo__free(bin);
    return error;
}

/* What an invalid_scope answer is explained with, and the issuer a
 * callback's iss must name (RFC 9207). */
static int remember_consumer(bbo_authorization *auth, const bbo_consumer *consumer)
{
    auth->data_center = consumer->data_center;
    if (consumer->issuer && (auth->issuer = bbo__strdup(consumer->issuer)) == NULL)
        return bbo__error_oom();
    return bbo_scopes_dup(&auth->asked, consumer->scopes);
}

/* invalid_scope from the authorize redirect: name the permissions the
 * consumer must have. */
static int explain_invalid_scope(const bbo_authorization *auth, const char *desc)
{
    return bbo__invalid_scope_error(auth->asked, auth->data_center, desc);
}
