/*
 * The client: grants run through a transport, with a careful retry policy.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/consumer.h"
#include "internal/http.h"
#include "internal/http_error.h"
#include "internal/transport_curl.h"

#include <stdio.h>
#include <time.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_MAX_WAIT_S 30

struct bbo_client {
    bbo_consumer *consumer;
    bbo_transport transport;
    bool default_transport;
    int connect_timeout_ms;
    int request_timeout_ms;
    char *ca_file;
    char *ca_dir;
    char *proxy;
    int max_attempts;
    int max_wait_s;
    size_t body_limit;
    bbo_clock_fn now_fn;
    bbo_sleep_fn sleep_fn;
    void *clock_payload;
};

BBO__HOT
static int64_t system_now(void *payload)
{
    (void)payload;
    return (int64_t)time(NULL);
}

static void system_sleep(int64_t seconds, void *payload)
{
    struct timespec ts;

    (void)payload;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = 0;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void curl_config(const bbo_client *client, bbo_curl_config *config)
{
    config->connect_timeout_ms = client->connect_timeout_ms;
    config->ca_file = client->ca_file;
    config->ca_dir = client->ca_dir;
    config->proxy = client->proxy;
}

static void drop_transport(bbo_client *client)
{
    if (client->transport.destroy)
        client->transport.destroy(client->transport.payload);
    memset(&client->transport, 0, sizeof(client->transport));
}

int bbo_client_new(bbo_client **out, const bbo_consumer *consumer)
{
    bbo_client *client;
    bbo_curl_config config;
    int error;

    if (!out || !consumer)
        return bbo__error_set(BBO_EINVAL, "bbo_client_new: NULL argument");
    if ((client = bbo__calloc(1, sizeof(*client))) == NULL)
        return bbo__error_oom();
    client->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    client->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    client->max_attempts = DEFAULT_MAX_ATTEMPTS;
    client->max_wait_s = DEFAULT_MAX_WAIT_S;
    client->body_limit = BBO_HTTP_DEFAULT_BODY_LIMIT;
    client->now_fn = system_now;
    client->sleep_fn = system_sleep;
    curl_config(client, &config);
    if ((error = bbo_consumer_dup(&client->consumer, consumer)) < 0 ||
        (error = bbo__curl_transport_new(&client->transport, &config)) < 0) {
        bbo_client_free(client);
        return error;
    }
    client->default_transport = true;
    *out = client;
    return BBO_OK;
}

int bbo_client_set_transport(bbo_client *client, const bbo_transport *transport)
{
    bbo_transport fresh;
    bbo_curl_config config;
    int error;

    if (!client)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_transport: NULL client");
    if (transport && (transport->version != BBO_TRANSPORT_VERSION || !transport->send))
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_transport: wrong version (%u, this "
                                          "library speaks %d) or NULL send",
                              transport->version, BBO_TRANSPORT_VERSION);
    if (transport) {
        fresh = *transport;
    } else {
        curl_config(client, &config);
        if ((error = bbo__curl_transport_new(&fresh, &config)) < 0)
            return error;
    }
    /* the same payload again (a table updated in place) must not be
     * destroyed while it stays in use */
    if (transport && transport->payload == client->transport.payload)
        memset(&client->transport, 0, sizeof(client->transport));
    drop_transport(client);
    client->transport = fresh;
    client->default_transport = transport == NULL;
    return BBO_OK;
}

/* Give the libcurl transport (when it is the one in use) a changed
 * configuration before the client records it, so a failure changes
 * nothing. */
static int apply_curl(bbo_client *client, const bbo_curl_config *config)
{
    return client->default_transport
               ? bbo__curl_transport_configure(client->transport.payload, config)
               : BBO_OK;
}

static void swap_string(char **a, char **b)
{
    char *tmp = *a;

    *a = *b;
    *b = tmp;
}

int bbo_client_set_timeouts(bbo_client *client, int connect_timeout_ms, int request_timeout_ms)
{
    bbo_curl_config config;
    int error;

    if (!client || connect_timeout_ms < 0 || request_timeout_ms < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_timeouts: invalid argument");
    curl_config(client, &config);
    if (connect_timeout_ms)
        config.connect_timeout_ms = connect_timeout_ms;
    if ((error = apply_curl(client, &config)) < 0)
        return error;
    client->connect_timeout_ms = config.connect_timeout_ms;
    if (request_timeout_ms)
        client->request_timeout_ms = request_timeout_ms;
    return BBO_OK;
}

int bbo_client_set_ca(bbo_client *client, const char *ca_file, const char *ca_dir)
{
    bbo_curl_config config;
    char *file = NULL, *dir = NULL;
    int error;

    if (!client)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_ca: NULL client");
    if (!client->default_transport)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_ca: a custom transport is in use");
    if ((ca_file && (file = bbo__strdup(ca_file)) == NULL) ||
        (ca_dir && (dir = bbo__strdup(ca_dir)) == NULL)) {
        error = bbo__error_oom();
        goto done;
    }
    curl_config(client, &config);
    config.ca_file = file;
    config.ca_dir = dir;
    if ((error = apply_curl(client, &config)) < 0)
        goto done;
    swap_string(&client->ca_file, &file);
    swap_string(&client->ca_dir, &dir);
done:
    bbo__free(file);
    bbo__free(dir);
    return error;
}

int bbo_client_set_proxy(bbo_client *client, const char *proxy)
{
    bbo_curl_config config;
    char *copy = NULL;
    int error;

    if (!client)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_proxy: NULL client");
    if (!client->default_transport)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_proxy: a custom transport is in use");
    if (proxy && (copy = bbo__strdup(proxy)) == NULL)
        return bbo__error_oom();
    curl_config(client, &config);
    config.proxy = copy;
    if ((error = apply_curl(client, &config)) == BBO_OK)
        swap_string(&client->proxy, &copy);
    bbo__free(copy);
    return error;
}

int bbo_client_set_retry(bbo_client *client, int max_attempts, int max_wait_s)
{
    if (!client || max_attempts < 1 || max_attempts > 10 || max_wait_s < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_retry: attempts must be 1..10 and "
                                          "the wait not negative");
    client->max_attempts = max_attempts;
    client->max_wait_s = max_wait_s;
    return BBO_OK;
}

int bbo_client_set_body_limit(bbo_client *client, size_t limit)
{
    if (!client || limit == 0)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_body_limit: invalid argument");
    client->body_limit = limit;
    return BBO_OK;
}

int bbo_client_set_clock(bbo_client *client, bbo_clock_fn now, bbo_sleep_fn sleep, void *payload)
{
    if (!client)
        return bbo__error_set(BBO_EINVAL, "bbo_client_set_clock: NULL client");
    client->now_fn = now ? now : system_now;
    client->sleep_fn = sleep ? sleep : system_sleep;
    client->clock_payload = payload;
    return BBO_OK;
}

BBO__HOT
const bbo_consumer *bbo_client_consumer(const bbo_client *client)
{
    return client ? client->consumer : NULL;
}

BBO__HOT
int64_t bbo__client_now(bbo_client *client)
{
    return client->now_fn(client->clock_payload);
}

static bool known_transport_code(int rc)
{
    return rc == BBO_ETRANSPORT || rc == BBO_ETLS || rc == BBO_ETIMEOUT ||
           rc == BBO_EPROTOCOL || rc == BBO_EUSER || rc == BBO_ENOMEM || rc == BBO_EINVAL;
}

/* One send through the transport, normalizing what a custom transport
 * may get wrong (odd codes, no message, no status). */
static int send_once(bbo_client *client, const bbo_http_request *req, bbo_http_response *resp)
{
    uint64_t serial = bbo__error_serial();
    int rc;

    bbo_http_response_reset(resp);
    rc = client->transport.send(req, resp, client->transport.payload);
    if (rc != 0) {
        /* a positive code is no success: it is a transport that broke the contract */
        if (rc > 0 || !known_transport_code(rc))
            return bbo__error_set(BBO_ETRANSPORT, "the transport failed with code %d", rc);
        if (bbo__error_serial() == serial || bbo__error_current() != rc)
            return bbo__error_set(rc, "the transport failed: %s", bbo_strerror(rc));
        return rc;
    }
    if (bbo_http_response_status(resp) == 0)
        return bbo__error_set(BBO_EPROTOCOL, "the transport returned no HTTP status");
    return BBO_OK;
}

BBO__HOT
int bbo__client_send(bbo_client *client, bbo_http_request *req, bbo_http_response *resp,
                     int64_t *sent_at)
{
    int attempt, rc, error;

    if (bbo_http_request_timeout_ms(req) == 0 &&
        (error = bbo_http_request_set_timeout_ms(req, client->request_timeout_ms)) < 0)
        return error;
    if ((error = bbo_http_response_set_body_limit(resp, client->body_limit)) < 0)
        return error;
    for (attempt = 1;; attempt++) {
        int64_t wait = (int64_t)1 << (attempt - 1), retry_after;
        int status;

        *sent_at = bbo__client_now(client);
        rc = send_once(client, req, resp);
        if (attempt >= client->max_attempts)
            return rc;
        if (rc < 0) {
            /* only a request that provably never left may go again */
            if (!bbo_http_response_not_sent(resp) ||
                (rc != BBO_ETRANSPORT && rc != BBO_ETLS && rc != BBO_ETIMEOUT))
                return rc;
        } else {
            status = bbo_http_response_status(resp);
            if (status != 429 && status != 503)
                return BBO_OK;
            /* the server refused before doing anything: safe to ask again */
            if ((retry_after = bbo__retry_after(resp, *sent_at)) >= 0)
                wait = retry_after;
        }
        if (wait > client->max_wait_s)
            return rc;
        if (wait > 0)
            client->sleep_fn(wait, client->clock_payload);
    }
}

int bbo_client_send(bbo_client *client, bbo_http_request *req, bbo_http_response **out)
{
    bbo_http_response *resp = NULL;
    int64_t sent_at;
    int error;

    if (!client || !req || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_client_send: NULL argument");
    if ((error = bbo_http_response_new(&resp)) < 0)
        return error;
    if ((error = bbo__client_send(client, req, resp, &sent_at)) < 0) {
        bbo_http_response_free(resp);
        return error;
    }
    *out = resp;
    return BBO_OK;
}

/* invalid_scope from the token endpoint: name the permissions the consumer
 * must have; the HTTP status stays. */
static int explain_invalid_scope(const bbo_client *client, int rc)
{
    const bbo_error *e = bbo_error_last();
    const char *oauth = bbo_error_oauth_code(e);
    int status = bbo_error_http_status(e);
    char description[256];

    if (rc != BBO_EOAUTH || !oauth || strcmp(oauth, "invalid_scope") != 0)
        return rc;
    /* the error is about to be replaced: copy the server's text first */
    snprintf(description, sizeof(description), "%s",
             bbo_error_description(e) ? bbo_error_description(e) : "");
    rc = bbo__invalid_scope_error(client->consumer->scopes, client->consumer->data_center,
                                  description[0] ? description : NULL);
    if (rc == BBO_EOAUTH)
        bbo__error_set_http_status(status);
    return rc;
}

/* The consumer's required scopes against the granted ones. An answer that
 * names no scopes granted those of the previous token (a refresh) or those
 * asked for (RFC 6749 5.1, 6). */
static int check_required(const bbo_client *client, const bbo_token *token,
                          const bbo_token *previous)
{
    const bbo_scopes *required = client->consumer->required;
    const bbo_scopes *granted = bbo_token_scopes(token);
    bbo_scopes *missing = NULL;
    int error;

    if (!required)
        return BBO_OK;
    if (!bbo_scopes_count(granted) && previous)
        granted = bbo_token_scopes(previous);
    if (!bbo_scopes_count(granted))
        granted = client->consumer->scopes;
    if (bbo_scopes_covers(granted, required))
        return BBO_OK;
    if ((error = bbo_scopes_missing(granted, required, &missing)) == BBO_OK)
        error = bbo__scope_error(BBO_ESCOPE, "Bitbucket granted this login without permissions "
                                             "the app requires", missing,
                                 client->consumer->data_center);
    bbo_scopes_free(missing);
    return error;
}

BBO__HOT
int bbo__client_token_answer(bbo_client *client, const bbo_http_response *resp, int64_t sent_at,
                             const bbo_token *previous, bool keep_on_escope, bbo_token **out)
{
    bbo_token *token = NULL;
    int error;

    if ((error = bbo_grant_parse_response(&token, resp, sent_at, previous)) < 0)
        error = explain_invalid_scope(client, error);
    /* out of memory naming the missing scopes must not lose a refreshed grant */
    if (error == BBO_OK && (error = check_required(client, token, previous)) == BBO_ENOMEM &&
        keep_on_escope)
        error = bbo__error_set(BBO_ESCOPE, "Bitbucket granted this login without permissions "
                                           "the app requires (out of memory naming them); add "
                                           "them on Bitbucket, then log in again");
    if (error == BBO_OK || (error == BBO_ESCOPE && keep_on_escope)) {
        *out = token;
        token = NULL;
    }
    bbo_token_free(token);
    return error;
}

int bbo__client_new_answer(bbo_http_response **out)
{
    return bbo__http_response_new_reserved(out, BBO__ANSWER_BODY_RESERVE,
                                           BBO__ANSWER_HEADERS_RESERVE,
                                           BBO__ANSWER_HEADER_BYTES_RESERVE);
}

/* Send a token request (owned; freed here) and parse the answer. A grant
 * that lacks a required scope is BBO_ESCOPE; *out still gets the token of a
 * refresh then (keep_on_escope), as the old refresh token may be spent.
 * For a refresh, the room the answer and its parse need is taken before
 * sending: once the request has left, a refused allocation is served from
 * the reserve, so the rotated token is not lost to it. */
BBO__HOT
static int run_grant(bbo_client *client, bbo_http_request *req, const bbo_token *previous,
                     bool keep_on_escope, bbo_token **out)
{
    bbo_http_response *resp = NULL;
    bbo__reserve *reserve = NULL;
    int64_t sent_at = 0;
    int error;

    if ((error = keep_on_escope ? bbo__client_new_answer(&resp) : bbo_http_response_new(&resp)) <
            0 ||
        (keep_on_escope && (error = bbo__reserve_new(&reserve, BBO__ANSWER_PARSE_RESERVE)) < 0))
        goto done;
    if ((error = bbo__client_send(client, req, resp, &sent_at)) < 0)
        goto done;
    if (reserve)
        bbo__reserve_activate(reserve);
    error = bbo__client_token_answer(client, resp, sent_at, previous, keep_on_escope, out);
done:
    bbo__reserve_end(reserve);
    bbo_http_response_free(resp);
    bbo_http_request_free(req);
    return error;
}

int bbo_client_exchange_code(bbo_client *client, const bbo_authorization *auth, const char *code,
                             bbo_token **out)
{
    bbo_http_request *req = NULL;
    int error;

    if (!client || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_client_exchange_code: NULL argument");
    if ((error = bbo_grant_authorization_code_request(&req, client->consumer, auth, code)) < 0)
        return error;
    return run_grant(client, req, NULL, false, out);
}

BBO__HOT
int bbo_client_refresh(bbo_client *client, const bbo_token *token, bbo_token **out)
{
    bbo_http_request *req = NULL;
    int error;

    if (!client || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_client_refresh: NULL argument");
    if ((error = bbo_grant_refresh_request(&req, client->consumer, token)) < 0)
        return error;
    return run_grant(client, req, token, true, out);
}

int bbo_client_client_credentials(bbo_client *client, bbo_token **out)
{
    bbo_http_request *req = NULL;
    int error;

    if (!client || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_client_client_credentials: NULL argument");
    if ((error = bbo_grant_client_credentials_request(&req, client->consumer)) < 0)
        return error;
    return run_grant(client, req, NULL, false, out);
}

int bbo_client_jwt_grant(bbo_client *client, const char *jwt, bbo_token **out)
{
    bbo_http_request *req = NULL;
    int error;

    if (!client || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_client_jwt_grant: NULL argument");
    if ((error = bbo_grant_jwt_request(&req, client->consumer, jwt)) < 0)
        return error;
    return run_grant(client, req, NULL, false, out);
}

void bbo_client_free(bbo_client *client)
{
    if (!client)
        return;
    drop_transport(client);
    bbo_consumer_free(client->consumer);
    bbo__free(client->ca_file);
    bbo__free(client->ca_dir);
    bbo__free(client->proxy);
    bbo__free(client);
}
