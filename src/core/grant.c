/*
 * Token requests and answers without I/O.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/authorization.h"
#include "internal/consumer.h"
#include "internal/encode.h"
#include "internal/http.h"
#include "internal/http_error.h"
#include "internal/token.h"

/* A string literal and its length. */
#define LITERAL(s) s, sizeof(s) - 1

/* Who we are: HTTP Basic into `header` by default, form fields when the
 * consumer asks for them, only client_id for a public client. */
static int client_authentication(const bbo_consumer *consumer, bbo_buf *form,
                                 const char **header)
{
    int error;

    if (!consumer->secret)
        return bbo__form_append(form, "client_id", consumer->key);
    if (consumer->client_auth == BBO_CLIENT_AUTH_BASIC) {
        *header = consumer->basic_auth;
        return BBO_OK;
    }
    if ((error = bbo__form_append(form, "client_id", consumer->key)) < 0)
        return error;
    return bbo__form_append(form, "client_secret", consumer->secret);
}

/* The consumer's Basic credentials were made by the library (base64 after
 * "Basic "): stored as they are. Another header (the JWT grant's) is
 * checked like any other. */
static int add_authorization(bbo_http_request *req, const bbo_consumer *consumer,
                             const char *authorization)
{
    if (authorization == consumer->basic_auth)
        return bbo__http_request_add_header_checked(req, LITERAL("Authorization"), authorization,
                                                    strlen(authorization));
    return bbo_http_request_add_header(req, "Authorization", authorization);
}

/*
 * The POST every grant makes. `form` already holds the grant's fields;
 * client authentication is added here unless `authorization` (the JWT
 * grant's own header) is given.
 */
BBO__HOT
static int token_request(bbo_http_request **out, const bbo_consumer *consumer, bbo_buf *form,
                         const char *authorization)
{
    bbo_http_request *req = NULL;
    int error;

    if (!authorization && (error = client_authentication(consumer, form, &authorization)) < 0)
        goto done;
    /* the token endpoint was checked when it was set */
    if ((error = bbo__http_request_new_checked(&req, "POST", consumer->token_url)) < 0 ||
        (authorization && (error = add_authorization(req, consumer, authorization)) < 0) ||
        (error = bbo__http_request_add_header_checked(
             req, LITERAL("Content-Type"), LITERAL("application/x-www-form-urlencoded"))) < 0 ||
        (error = bbo__http_request_add_header_checked(req, LITERAL("Accept"),
                                                      LITERAL("application/json"))) < 0)
        goto done;
    bbo__http_request_take_body(req, form); /* the form is not copied */
    *out = req;
    req = NULL;
done:
    bbo_http_request_free(req);
    return error;
}

static int add_scope(bbo_buf *form, const bbo_consumer *consumer)
{
    char *scope = NULL;
    int error;

    if (bbo_scopes_count(consumer->scopes) == 0)
        return BBO_OK;
    if ((error = bbo_scopes_to_string(consumer->scopes, &scope)) == BBO_OK)
        error = bbo__form_append(form, "scope", scope);
    bbo__free(scope);
    return error;
}

int bbo_grant_authorization_code_request(bbo_http_request **out, const bbo_consumer *consumer,
                                         const bbo_authorization *auth, const char *code)
{
    bbo_buf form = BBO_BUF_INIT;
    int error;

    if (!out || !consumer || !auth || !code)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_authorization_code_request: NULL argument");
    if (!*code)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_authorization_code_request: empty code");
    if (auth->implicit)
        return bbo__error_set(BBO_EINVAL, "an implicit-grant transaction has no code to exchange");
    if ((error = bbo__form_append(&form, "grant_type", "authorization_code")) == BBO_OK &&
        (error = bbo__form_append(&form, "code", code)) == BBO_OK &&
        (!auth->redirect_uri ||
         (error = bbo__form_append(&form, "redirect_uri", auth->redirect_uri)) == BBO_OK) &&
        (error = bbo__form_append(&form, "code_verifier", auth->verifier)) == BBO_OK)
        error = token_request(out, consumer, &form, NULL);
    bbo__buf_dispose(&form);
    return error;
}

BBO__HOT
int bbo_grant_refresh_request(bbo_http_request **out, const bbo_consumer *consumer,
                              const bbo_token *token)
{
    bbo_buf form = BBO_BUF_INIT;
    int error;

    if (!out || !consumer || !token)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_refresh_request: NULL argument");
    if (!bbo_token_refresh(token))
        return bbo__error_set(BBO_EEXPIRED, "the token has no refresh token; log in again");
    /* the whole form in one allocation */
    if ((error = bbo__buf_grow(&form, 40 + strlen(bbo_token_refresh(token)) * 3)) == BBO_OK &&
        (error = bbo__buf_put(&form, LITERAL("grant_type=refresh_token&refresh_token="))) ==
            BBO_OK &&
        (error = bbo__url_encode(&form, bbo_token_refresh(token), strlen(bbo_token_refresh(token)),
                                 true)) == BBO_OK)
        error = token_request(out, consumer, &form, NULL);
    bbo__buf_dispose(&form);
    return error;
}

int bbo_grant_client_credentials_request(bbo_http_request **out, const bbo_consumer *consumer)
{
    bbo_buf form = BBO_BUF_INIT;
    int error;

    if (!out || !consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_client_credentials_request: NULL argument");
    if (!consumer->secret)
        return bbo__error_set(BBO_EINVAL, "the client credentials grant needs a consumer secret");
    if ((error = bbo__form_append(&form, "grant_type", "client_credentials")) == BBO_OK &&
        (error = add_scope(&form, consumer)) == BBO_OK)
        error = token_request(out, consumer, &form, NULL);
    bbo__buf_dispose(&form);
    return error;
}

/* Three non-empty base64url parts: an empty signature ("alg":"none") or
 * header is never a valid HS256 JWT. */
static bool valid_jwt(const char *jwt)
{
    size_t i, dots = 0, part = 0;

    for (i = 0; jwt[i]; i++) {
        if (jwt[i] == '.') {
            if (part == 0)
                return false;
            dots++;
            part = 0;
        } else if (!bbo__is_unreserved((unsigned char)jwt[i]) || jwt[i] == '~') {
            return false;
        } else {
            part++;
        }
    }
    return part > 0 && dots == 2;
}

int bbo_grant_jwt_request(bbo_http_request **out, const bbo_consumer *consumer, const char *jwt)
{
    bbo_buf form = BBO_BUF_INIT, header = BBO_BUF_INIT;
    int error;

    if (!out || !consumer || !jwt)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_jwt_request: NULL argument");
    if (!valid_jwt(jwt))
        return bbo__error_set(BBO_EINVAL, "bbo_grant_jwt_request: not a compact JWT "
                                          "(three base64url parts)");
    /* the scheme is case-sensitive on Bitbucket's side: exactly "JWT" */
    if ((error = bbo__buf_puts(&header, "JWT ")) == BBO_OK &&
        (error = bbo__buf_puts(&header, jwt)) == BBO_OK &&
        (error = bbo__form_append(&form, "grant_type", "urn:bitbucket:oauth2:jwt")) == BBO_OK &&
        (error = add_scope(&form, consumer)) == BBO_OK)
        error = token_request(out, consumer, &form, header.ptr);
    bbo__buf_dispose(&form);
    bbo__buf_dispose(&header);
    return error;
}

BBO__HOT
int bbo_grant_parse_response(bbo_token **out, const bbo_http_response *resp, int64_t sent_at,
                             const bbo_token *previous)
{
    bbo_token *token = NULL;
    const char *body;
    size_t len;
    int status, error;

    if (!out || !resp)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_parse_response: NULL argument");
    status = bbo_http_response_status(resp);
    if (status == 0)
        return bbo__error_set(BBO_EINVAL, "bbo_grant_parse_response: the response has no status");
    if (status < 200 || status > 299)
        return bbo__http_error(resp, "token endpoint", sent_at);
    body = bbo_http_response_body(resp, &len);
    if ((error = bbo__token_from_json(&token, body, len, sent_at, "token endpoint answer")) < 0) {
        bbo__error_set_http_status(status);
        return error;
    }
    /* no refresh token in the answer: the old one stays valid */
    if (previous && !bbo_token_refresh(token) && bbo_token_refresh(previous) &&
        (error = bbo__token_set_refresh(token, bbo_token_refresh(previous))) < 0) {
        bbo_token_free(token);
        return error;
    }
    *out = token;
    return BBO_OK;
}
