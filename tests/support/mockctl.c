/*
 * Test helpers: the mock's control API and consumers pointed at the mock.
 * SPDX-License-Identifier: MIT
 */
#include "mockctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define MAX_PATH_PARTS 8

typedef struct membuf {
    char *ptr;
    size_t len;
} membuf;

const char *mock_env(const char *name)
{
    const char *value = getenv(name);

    if (!value || !*value)
        fail_msg("%s is not set: run this test under tests/mock/with_mock.py", name);
    return value;
}

const char *mock_base(void)
{
    return mock_env("BBMOCK_BASE");
}

static const char *base_for(char *buf, size_t cap, const char *scheme, const char *port_var)
{
    snprintf(buf, cap, "%s://127.0.0.1:%s", scheme, mock_env(port_var));
    return buf;
}

const char *mock_wrong_base(void)
{
    static char buf[64];

    return base_for(buf, sizeof(buf), "https", "BBMOCK_WRONG_PORT");
}

const char *mock_plain_base(void)
{
    static char buf[64];

    return base_for(buf, sizeof(buf), "http", "BBMOCK_PLAIN_PORT");
}

const char *mock_ca(void)
{
    return mock_env("BBMOCK_CA");
}

static size_t collect(char *data, size_t size, size_t count, void *userdata)
{
    membuf *buf = userdata;
    size_t len = size * count;
    char *grown;

    if ((grown = realloc(buf->ptr, buf->len + len + 1)) == NULL)
        return 0;
    memcpy(grown + buf->len, data, len);
    buf->len += len;
    grown[buf->len] = '\0';
    buf->ptr = grown;
    return len;
}

/* One control request; returns the body (free()) of a 200 answer. */
static char *control(const char *method, const char *path, const char *json)
{
    char url[256], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    membuf body = { NULL, 0 };
    long status = 0;
    CURL *easy;
    CURLcode rc;

    snprintf(url, sizeof(url), "%s%s", mock_env("BBMOCK_CONTROL"), path);
    if ((easy = curl_easy_init()) == NULL)
        fail_msg("curl_easy_init failed");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, json ? json : "{}");
    }
    rc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        free(body.ptr);
        fail_msg("mock control %s %s: %s", method, path,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (status != 200) {
        /* control answers hold no secrets: show the mock's complaint */
        print_error("mock control %s %s: status %ld: %s\n", method, path, status,
                    body.ptr ? body.ptr : "");
        free(body.ptr);
        fail_msg("mock control request refused");
    }
    return body.ptr ? body.ptr : calloc(1, 1);
}

static yajl_val control_json(const char *method, const char *path, const char *json)
{
    char *text = control(method, path, json), errbuf[128] = "";
    yajl_val tree = yajl_tree_parse(text, errbuf, sizeof(errbuf));

    free(text);
    if (!tree)
        fail_msg("mock control %s %s: not JSON: %s", method, path, errbuf);
    return tree;
}

static void control_ok(const char *method, const char *path, const char *json)
{
    yajl_tree_free(control_json(method, path, json));
}

void mock_reset(void)
{
    control_ok("POST", "/reset", NULL);
}

void mock_config(const char *json)
{
    control_ok("POST", "/config", json);
}

void mock_fault(const char *json)
{
    control_ok("POST", "/fault", json);
}

void mock_fault_clear(void)
{
    control_ok("POST", "/fault/clear", NULL);
}

long mock_expire(void)
{
    static const char *path[] = { "expired", NULL };
    yajl_val tree = control_json("POST", "/expire", NULL);
    yajl_val n = yajl_tree_get(tree, path, yajl_t_number);
    long count;

    if (!YAJL_IS_INTEGER(n)) {
        yajl_tree_free(tree);
        fail_msg("mock /expire answered no count");
    }
    count = (long)YAJL_GET_INTEGER(n);
    yajl_tree_free(tree);
    return count;
}

/* Look up a dotted path in a fresh GET /stats; *tree_out must be freed. */
static yajl_val stat_node(const char *dotted, yajl_val *tree_out)
{
    const char *parts[MAX_PATH_PARTS + 1];
    char copy[128], *p, *save = NULL;
    size_t n = 0;
    yajl_val tree;

    if (strlen(dotted) >= sizeof(copy))
        fail_msg("stat path too long: %s", dotted);
    strcpy(copy, dotted);
    for (p = strtok_r(copy, ".", &save); p && n < MAX_PATH_PARTS; p = strtok_r(NULL, ".", &save))
        parts[n++] = p;
    parts[n] = NULL;
    tree = control_json("GET", "/stats", NULL);
    *tree_out = tree;
    return yajl_tree_get(tree, parts, yajl_t_any);
}

long mock_stat_long(const char *path)
{
    yajl_val tree, node = stat_node(path, &tree);
    long value;

    if (!YAJL_IS_INTEGER(node)) {
        yajl_tree_free(tree);
        fail_msg("mock stats: %s is not an integer", path);
    }
    value = (long)YAJL_GET_INTEGER(node);
    yajl_tree_free(tree);
    return value;
}

char *mock_stat_string(const char *path)
{
    yajl_val tree, node = stat_node(path, &tree);
    char *result = NULL;
    size_t i, len = 1;

    if (YAJL_IS_STRING(node)) {
        result = strdup(node->u.string);
    } else if (YAJL_IS_ARRAY(node)) {
        for (i = 0; i < node->u.array.len; i++) {
            if (!YAJL_IS_STRING(node->u.array.values[i])) {
                yajl_tree_free(tree);
                fail_msg("mock stats: %s holds a non-string", path);
            }
            len += strlen(node->u.array.values[i]->u.string) + 1;
        }
        if ((result = calloc(1, len)) != NULL) {
            for (i = 0; i < node->u.array.len; i++) {
                if (i)
                    strcat(result, ",");
                strcat(result, node->u.array.values[i]->u.string);
            }
        }
    } else if (node && !YAJL_IS_NULL(node)) {
        yajl_tree_free(tree);
        fail_msg("mock stats: %s is not a string, array or null", path);
    } else {
        yajl_tree_free(tree);
        return NULL;
    }
    yajl_tree_free(tree);
    if (!result)
        fail_msg("out of memory");
    return result;
}

char *mock_authorize(const char *url)
{
    static const char *location_path[] = { "location", NULL };
    const unsigned char *json;
    size_t json_len;
    yajl_gen gen;
    yajl_val tree, location;
    char *body, *result = NULL;

    /* yajl_gen escapes the URL for us */
    if ((gen = yajl_gen_alloc(NULL)) == NULL)
        fail_msg("yajl_gen_alloc failed");
    yajl_gen_map_open(gen);
    yajl_gen_string(gen, (const unsigned char *)"url", 3);
    yajl_gen_string(gen, (const unsigned char *)url, strlen(url));
    yajl_gen_map_close(gen);
    yajl_gen_get_buf(gen, &json, &json_len);
    body = strndup((const char *)json, json_len);
    yajl_gen_free(gen);
    if (!body)
        fail_msg("out of memory");
    tree = control_json("POST", "/authorize", body);
    free(body);
    location = yajl_tree_get(tree, location_path, yajl_t_any);
    if (YAJL_IS_STRING(location) && (result = strdup(location->u.string)) == NULL) {
        yajl_tree_free(tree);
        fail_msg("out of memory");
    }
    yajl_tree_free(tree);
    return result;
}

bbo_consumer *mock_consumer_at(const char *base)
{
    char authorize[256], token[256], api[256];
    bbo_consumer *consumer = NULL;
    int rc;

    snprintf(authorize, sizeof(authorize), "%s/site/oauth2/authorize", base);
    snprintf(token, sizeof(token), "%s/site/oauth2/access_token", base);
    snprintf(api, sizeof(api), "%s/2.0", base);
    if ((rc = bbo_consumer_new(&consumer, mock_env("BBMOCK_KEY"), mock_env("BBMOCK_SECRET"))) <
            0 ||
        (rc = bbo_consumer_set_callback_url(consumer, "http://127.0.0.1/callback")) < 0 ||
        (rc = bbo_consumer_set_endpoints(consumer, authorize, token, api)) < 0) {
        bbo_consumer_free(consumer);
        fail_msg("mock consumer: %d (%s)", rc, bbo_error_message(bbo_error_last()));
    }
    return consumer;
}

bbo_consumer *mock_consumer(void)
{
    return mock_consumer_at(mock_base());
}

bbo_client *mock_client(const bbo_consumer *consumer)
{
    bbo_client *client = NULL;
    int rc;

    if ((rc = bbo_client_new(&client, consumer)) < 0 ||
        (rc = bbo_client_set_ca(client, mock_ca(), NULL)) < 0 ||
        (rc = bbo_client_set_proxy(client, "")) < 0) {
        bbo_client_free(client);
        fail_msg("mock client: %d (%s)", rc, bbo_error_message(bbo_error_last()));
    }
    return client;
}

bbo_token *mock_token_aged(bbo_token *token, int64_t age)
{
    static const char key[] = "\"obtained_at\":";
    bbo_token *aged = NULL;
    char *json = NULL, *at, *rest, *text;
    long long obtained;
    size_t size;
    int rc;

    if ((rc = bbo_token_to_json(token, &json)) < 0 || !(at = strstr(json, key)))
        fail_msg("mock_token_aged: no obtained_at (%d)", rc);
    obtained = strtoll(at + strlen(key), &rest, 10);
    size = strlen(json) + 32;
    text = malloc(size);
    assert_non_null(text);
    snprintf(text, size, "%.*s%s%lld%s", (int)(at - json), json, key, obtained - (long long)age,
             rest);
    rc = bbo_token_parse(&aged, text, strlen(text), obtained - age);
    memset(text, 0, size); /* secrets */
    free(text);
    memset(json, 0, strlen(json));
    bbo_free(json);
    bbo_token_free(token);
    if (rc < 0)
        fail_msg("mock_token_aged: %d (%s)", rc, bbo_error_message(bbo_error_last()));
    return aged;
}
