/*
 * The OAuth consumer: credentials, callback, scopes and endpoints.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/consumer.h"
#include "internal/encode.h"
#include "internal/url.h"

#include <stdio.h>

#define CLOUD_AUTHORIZE_URL "https://bitbucket.org/site/oauth2/authorize"
#define CLOUD_TOKEN_URL "https://bitbucket.org/site/oauth2/access_token"
#define CLOUD_API_BASE_URL "https://api.bitbucket.org/2.0"

/* Keys and secrets go into headers and form bodies: refuse what could
 * break out of them rather than encode it silently. */
static int check_credential(const char *value, const char *what)
{
    size_t i;

    if (!*value)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_new: empty %s", what);
    for (i = 0; value[i]; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return bbo__error_set(BBO_EINVAL, "bbo_consumer_new: %s has a control character",
                                  what);
    return BBO_OK;
}

/* Replace *slot with a copy of `value` (NULL clears it). */
static int replace_string(char **slot, const char *value)
{
    char *copy = NULL;

    if (value && (copy = bbo__strdup(value)) == NULL)
        return bbo__error_oom();
    bbo__free(*slot);
    *slot = copy;
    return BBO_OK;
}

/* RFC 6749 2.3.1: key and secret are form-encoded, then joined and
 * base64-encoded. Made once here: every token request sends it. */
static int basic_credentials(bbo_consumer *consumer)
{
    bbo_buf pair = BBO_BUF_INIT, header = BBO_BUF_INIT;
    size_t key_len = strlen(consumer->key), secret_len = strlen(consumer->secret);
    int error;

    /* each buffer allocated once, at its largest */
    if ((error = bbo__buf_grow(&pair, (key_len + secret_len) * 3 + 1)) == BBO_OK &&
        (error = bbo__buf_grow(&header, 6 + ((key_len + secret_len) * 3 + 3) / 3 * 4)) ==
            BBO_OK &&
        (error = bbo__url_encode(&pair, consumer->key, key_len, true)) == BBO_OK &&
        (error = bbo__buf_putc(&pair, ':')) == BBO_OK &&
        (error = bbo__url_encode(&pair, consumer->secret, secret_len, true)) == BBO_OK &&
        (error = bbo__buf_puts(&header, "Basic ")) == BBO_OK &&
        (error = bbo__base64_encode(&header, (const unsigned char *)pair.ptr, pair.size,
                                    false)) == BBO_OK) {
        consumer->basic_auth = header.ptr;
        header.ptr = NULL;
    }
    bbo__buf_dispose(&pair);
    bbo__buf_dispose(&header);
    return error;
}

int bbo_consumer_new(bbo_consumer **out, const char *key, const char *secret)
{
    bbo_consumer *consumer = NULL;
    int error;

    if (!out || !key)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_new: NULL argument");
    if ((error = check_credential(key, "key")) < 0 ||
        (secret && (error = check_credential(secret, "secret")) < 0))
        return error;
    if ((consumer = bbo__calloc(1, sizeof(*consumer))) == NULL)
        return bbo__error_oom();
    consumer->client_auth = BBO_CLIENT_AUTH_BASIC;
    if ((consumer->key = bbo__strdup(key)) == NULL ||
        (secret && (consumer->secret = bbo__strdup(secret)) == NULL) ||
        (consumer->authorize_url = bbo__strdup(CLOUD_AUTHORIZE_URL)) == NULL ||
        (consumer->token_url = bbo__strdup(CLOUD_TOKEN_URL)) == NULL ||
        (consumer->api_base_url = bbo__strdup(CLOUD_API_BASE_URL)) == NULL) {
        error = bbo__error_oom();
        goto done;
    }
    if ((error = bbo_scopes_new(&consumer->scopes)) < 0 ||
        (secret && (error = basic_credentials(consumer)) < 0))
        goto done;
    *out = consumer;
    consumer = NULL;
done:
    bbo_consumer_free(consumer);
    return error;
}

int bbo_consumer_set_callback_url(bbo_consumer *consumer, const char *url)
{
    int error;

    if (!consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_set_callback_url: NULL consumer");
    if (url && (error = bbo__url_check_callback(url, "callback URL")) < 0)
        return error;
    return replace_string(&consumer->callback_url, url);
}

int bbo_consumer_set_scopes(bbo_consumer *consumer, const bbo_scopes *scopes)
{
    bbo_scopes *copy = NULL;
    int error;

    if (!consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_set_scopes: NULL consumer");
    if ((error = scopes ? bbo_scopes_dup(&copy, scopes) : bbo_scopes_new(&copy)) < 0)
        return error;
    bbo_scopes_free(consumer->scopes);
    consumer->scopes = copy;
    return BBO_OK;
}

/* Replace the three endpoints at once, or none of them. */
static int set_all_endpoints(bbo_consumer *consumer, const char *authorize_url,
                             const char *token_url, const char *api_base_url, size_t api_len)
{
    char *a = bbo__strdup(authorize_url), *t = bbo__strdup(token_url);
    char *b = bbo__strndup(api_base_url, api_len);

    if (!a || !t || !b) {
        bbo__free(a);
        bbo__free(t);
        bbo__free(b);
        return bbo__error_oom();
    }
    bbo__free(consumer->authorize_url);
    bbo__free(consumer->token_url);
    bbo__free(consumer->api_base_url);
    consumer->authorize_url = a;
    consumer->token_url = t;
    consumer->api_base_url = b;
    return BBO_OK;
}

int bbo_consumer_use_data_center(bbo_consumer *consumer, const char *base_url)
{
    bbo_buf authorize = BBO_BUF_INIT, token = BBO_BUF_INIT, api = BBO_BUF_INIT;
    size_t len;
    int error;

    if (!consumer || !base_url)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_use_data_center: NULL argument");
    if ((error = bbo__url_check_endpoint(base_url, "Data Center base URL")) < 0)
        return error;
    if (strchr(base_url, '?'))
        return bbo__error_set(BBO_EINVAL, "Data Center base URL may not have a query");
    len = strlen(base_url);
    while (len && base_url[len - 1] == '/')
        len--;
    if ((error = bbo__buf_put(&authorize, base_url, len)) < 0 ||
        (error = bbo__buf_puts(&authorize, "/rest/oauth2/latest/authorize")) < 0 ||
        (error = bbo__buf_put(&token, base_url, len)) < 0 ||
        (error = bbo__buf_puts(&token, "/rest/oauth2/latest/token")) < 0 ||
        (error = bbo__buf_put(&api, base_url, len)) < 0 ||
        (error = bbo__buf_puts(&api, "/rest/api/latest")) < 0 ||
        (error = set_all_endpoints(consumer, authorize.ptr, token.ptr, api.ptr, api.size)) < 0)
        goto done;
    consumer->data_center = true;
done:
    bbo__buf_dispose(&authorize);
    bbo__buf_dispose(&token);
    bbo__buf_dispose(&api);
    return error;
}

int bbo_consumer_set_endpoints(bbo_consumer *consumer, const char *authorize_url,
                               const char *token_url, const char *api_base_url)
{
    const char *api;
    size_t api_len;
    int error;

    if (!consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_set_endpoints: NULL consumer");
    if ((authorize_url && (error = bbo__url_check_endpoint(authorize_url, "authorize URL")) < 0) ||
        (token_url && (error = bbo__url_check_endpoint(token_url, "token URL")) < 0) ||
        (api_base_url && (error = bbo__url_check_endpoint(api_base_url, "API base URL")) < 0))
        return error;
    if (api_base_url && strchr(api_base_url, '?'))
        return bbo__error_set(BBO_EINVAL, "API base URL may not have a query");
    api = api_base_url ? api_base_url : consumer->api_base_url;
    api_len = strlen(api);
    while (api_len && api[api_len - 1] == '/')
        api_len--;
    return set_all_endpoints(consumer, authorize_url ? authorize_url : consumer->authorize_url,
                             token_url ? token_url : consumer->token_url, api, api_len);
}

int bbo_consumer_set_client_auth(bbo_consumer *consumer, int auth)
{
    if (!consumer || (auth != BBO_CLIENT_AUTH_BASIC && auth != BBO_CLIENT_AUTH_FORM))
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_set_client_auth: invalid argument");
    consumer->client_auth = (bbo_client_auth)auth;
    return BBO_OK;
}

int bbo_consumer_set_issuer(bbo_consumer *consumer, const char *issuer)
{
    int error;

    if (!consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_set_issuer: NULL consumer");
    if (issuer && (error = bbo__url_check_endpoint(issuer, "issuer")) < 0)
        return error;
    if (issuer && strchr(issuer, '?'))
        return bbo__error_set(BBO_EINVAL, "an issuer identifier may not have a query "
                                          "(RFC 9207)");
    return replace_string(&consumer->issuer, issuer);
}

const char *bbo_consumer_issuer(const bbo_consumer *c)
{
    return c ? c->issuer : NULL;
}

const char *bbo_consumer_key(const bbo_consumer *c)
{
    return c ? c->key : NULL;
}

const char *bbo_consumer_callback_url(const bbo_consumer *c)
{
    return c ? c->callback_url : NULL;
}

const char *bbo_consumer_authorize_url(const bbo_consumer *c)
{
    return c ? c->authorize_url : NULL;
}

const char *bbo_consumer_token_url(const bbo_consumer *c)
{
    return c ? c->token_url : NULL;
}

BBO__HOT
const char *bbo_consumer_api_base_url(const bbo_consumer *c)
{
    return c ? c->api_base_url : NULL;
}

const bbo_scopes *bbo_consumer_scopes(const bbo_consumer *c)
{
    return c ? c->scopes : NULL;
}

int bbo_consumer_is_data_center(const bbo_consumer *c)
{
    return c && c->data_center;
}

void bbo_consumer_free(bbo_consumer *consumer)
{
    if (!consumer)
        return;
    bbo__free(consumer->key);
    bbo__free(consumer->secret); /* bbo__free wipes */
    bbo__free(consumer->basic_auth);
    bbo__free(consumer->callback_url);
    bbo_scopes_free(consumer->scopes);
    bbo_scopes_free(consumer->required);
    bbo__free(consumer->authorize_url);
    bbo__free(consumer->token_url);
    bbo__free(consumer->api_base_url);
    bbo__free(consumer->issuer);
    bbo__free(consumer);
}

int bbo_consumer_dup(bbo_consumer **out, const bbo_consumer *consumer)
{
    bbo_consumer *copy = NULL;
    int error;

    if (!out || !consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_dup: NULL argument");
    if ((error = bbo_consumer_new(&copy, consumer->key, consumer->secret)) < 0)
        return error;
    copy->data_center = consumer->data_center;
    copy->client_auth = consumer->client_auth;
    if ((error = replace_string(&copy->callback_url, consumer->callback_url)) < 0 ||
        (error = replace_string(&copy->issuer, consumer->issuer)) < 0 ||
        (error = bbo_consumer_set_scopes(copy, consumer->scopes)) < 0 ||
        (error = bbo_consumer_require_scopes(copy, consumer->required)) < 0 ||
        (error = set_all_endpoints(copy, consumer->authorize_url, consumer->token_url,
                                   consumer->api_base_url, strlen(consumer->api_base_url))) < 0)
        goto done;
    *out = copy;
    copy = NULL;
done:
    bbo_consumer_free(copy);
    return error;
}

int bbo_consumer_require_scopes(bbo_consumer *consumer, const bbo_scopes *required)
{
    bbo_scopes *copy = NULL;
    int error;

    if (!consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_consumer_require_scopes: NULL consumer");
    if (required && bbo_scopes_count(required) &&
        (error = bbo_scopes_dup(&copy, required)) < 0)
        return error;
    bbo_scopes_free(consumer->required);
    consumer->required = copy;
    return BBO_OK;
}

const bbo_scopes *bbo_consumer_required_scopes(const bbo_consumer *consumer)
{
    return consumer ? consumer->required : NULL;
}

#define CLOUD_WHERE "Tick them in the OAuth consumer's permissions on Bitbucket (Workspace " \
                    "settings > OAuth consumers > the consumer > Edit > Permissions)"
#define DC_WHERE "Tick them in the scopes of the incoming application link on Bitbucket " \
                 "(Administration > Application links > the link > Edit)"

int bbo__scope_error(int code, const char *lead, const bbo_scopes *scopes, bool data_center)
{
    char *words = NULL, *names = NULL;
    int error;

    if ((error = bbo_scopes_to_permissions(scopes, data_center, &words)) < 0 ||
        (error = bbo_scopes_to_string(scopes, &names)) < 0)
        goto done;
    if (*words)
        error = bbo__error_set(code, "%s: %s [%s]. %s, then log in again: a login keeps the "
                               "permissions it was given", lead, words, names,
                               data_center ? DC_WHERE : CLOUD_WHERE);
    else
        error = bbo__error_set(code, "%s. Check the permissions on Bitbucket (%s), then log in "
                               "again", lead, data_center ? "Administration > Application links"
                                                          : "Workspace settings > OAuth consumers");
done:
    bbo__free(words);
    bbo__free(names);
    return error;
}

int bbo__invalid_scope_error(const bbo_scopes *asked, bool data_center, const char *description)
{
    char lead[400];
    int rc;

    snprintf(lead, sizeof(lead), "Bitbucket refused the scopes this app asks for "
             "(invalid_scope%s%.250s); the %s needs", description ? ": " : "",
             description ? description : "",
             data_center ? "application link" : "OAuth consumer");
    if ((rc = bbo__scope_error(BBO_EOAUTH, lead, asked, data_center)) == BBO_EOAUTH)
        bbo__error_set_oauth("invalid_scope", description);
    return rc;
}
