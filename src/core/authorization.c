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
    if (redirect_uri && (error = bbo__url_check_endpoint(redirect_uri, "redirect_uri")) < 0)
        return error;
    if ((auth = bbo__calloc(1, sizeof(*auth))) == NULL)
        return bbo__error_oom();
    auth->implicit = (flags & BBO_AUTHORIZATION_IMPLICIT) != 0;
    if ((redirect && (auth->redirect_uri = bbo__strdup(redirect)) == NULL) ||
        (consumer->issuer && (auth->issuer = bbo__strdup(consumer->issuer)) == NULL)) {
        error = bbo__error_oom();
        goto done;
    }
    if ((error = bbo__random_token(&auth->state, RANDOM_BYTES)) < 0 ||
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
    bbo__free(auth->issuer);
    bbo__free(auth);
}
