/*
 * HTTP request and response objects (no I/O here: transports fill them).
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/encode.h"
#include "internal/http.h"
#include "internal/url.h"

#include <stdlib.h>

typedef struct header {
    char *name;
    char *value;
} header;

typedef struct header_list {
    header *items;
    size_t count;
    size_t capacity;
    /* reserved room for names and values (bbo__http_response_reserve) */
    char *arena;
    size_t arena_size;
    size_t arena_used;
} header_list;

struct bbo_http_request {
    char *method;
    char *url;
    header_list headers;
    bbo_buf body;
    int timeout_ms;
};

struct bbo_http_response {
    int status;
    header_list headers;
    bbo_buf body;
    size_t body_limit;
    bool over_limit;  /* an append was refused: the body has a hole, keep no more */
    bool not_sent;
};

static bool in_arena(const header_list *list, const char *p)
{
    return list->arena && p >= list->arena && p < list->arena + list->arena_size;
}

static void header_text_free(header_list *list, char *p)
{
    if (!in_arena(list, p))
        bbo__free(p);
}

/* A copy of `len` bytes: from the reserved room when it fits. */
static char *header_text(header_list *list, const char *s, size_t len)
{
    char *p;

    if (list->arena && len < list->arena_size - list->arena_used) {
        p = list->arena + list->arena_used;
        memcpy(p, s, len);
        p[len] = '\0';
        list->arena_used += len + 1;
        return p;
    }
    return bbo__strndup(s, len);
}

static void headers_clear(header_list *list)
{
    size_t i;

    for (i = 0; i < list->count; i++) {
        header_text_free(list, list->items[i].name);
        header_text_free(list, list->items[i].value);
    }
    list->count = 0;
    if (list->arena)
        bbo__wipe(list->arena, list->arena_used);
    list->arena_used = 0;
}

static void headers_dispose(header_list *list)
{
    headers_clear(list);
    bbo__free(list->items);
    list->items = NULL;
    list->capacity = 0;
    bbo__free(list->arena);
    list->arena = NULL;
    list->arena_size = 0;
}

/* RFC 9110 token characters, for header names. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool valid_name(const char *name, size_t len)
{
    size_t i;

    if (len == 0)
        return false;
    for (i = 0; i < len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return false;
    return true;
}

static int headers_add(header_list *list, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    size_t i;
    header h;

    if (!valid_name(name, name_len))
        return bbo__error_set(BBO_EINVAL, "invalid HTTP header name");
    for (i = 0; i < value_len; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return bbo__error_set(BBO_EINVAL, "HTTP header value has CR, LF or NUL");
    /* trim optional whitespace around the value (RFC 9110 5.5) */
    while (value_len && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 8;
        header *items = bbo__realloc(list->items, capacity * sizeof(header));

        if (!items)
            return bbo__error_oom();
        list->items = items;
        list->capacity = capacity;
    }
    h.name = header_text(list, name, name_len);
    h.value = header_text(list, value, value_len);
    if (!h.name || !h.value) {
        if (h.name)
            header_text_free(list, h.name);
        if (h.value)
            header_text_free(list, h.value);
        return bbo__error_oom();
    }
    list->items[list->count++] = h;
    return BBO_OK;
}

static const char *headers_find(const header_list *list, const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < list->count; i++)
        if (bbo__strcasecmp(list->items[i].name, name) == 0)
            return list->items[i].value;
    return NULL;
}

int bbo_http_request_new(bbo_http_request **out, const char *method, const char *url)
{
    bbo_http_request *req;
    bbo_url parsed;
    size_t i;
    int error;

    if (!out || !method || !url)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_new: NULL argument");
    for (i = 0; method[i]; i++)
        if (method[i] < 'A' || method[i] > 'Z')
            break;
    if (i == 0 || method[i])
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_new: method must be uppercase letters");
    if ((error = bbo__url_parse(&parsed, url, "request URL")) < 0)
        return error;
    bbo__url_dispose(&parsed);
    if ((req = bbo__calloc(1, sizeof(*req))) == NULL)
        return bbo__error_oom();
    if ((req->method = bbo__strdup(method)) == NULL || (req->url = bbo__strdup(url)) == NULL) {
        bbo_http_request_free(req);
        return bbo__error_oom();
    }
    *out = req;
    return BBO_OK;
}

int bbo_http_request_add_header(bbo_http_request *req, const char *name, const char *value)
{
    if (!req || !name || !value)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_add_header: NULL argument");
    return headers_add(&req->headers, name, strlen(name), value, strlen(value));
}

int bbo_http_request_set_body(bbo_http_request *req, const char *data, size_t len)
{
    if (!req || (!data && len))
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_set_body: NULL argument");
    bbo__buf_clear(&req->body);
    return bbo__buf_put(&req->body, data ? data : "", len);
}

int bbo_http_request_set_timeout_ms(bbo_http_request *req, int timeout_ms)
{
    if (!req || timeout_ms < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_set_timeout_ms: invalid argument");
    req->timeout_ms = timeout_ms;
    return BBO_OK;
}

const char *bbo_http_request_method(const bbo_http_request *req)
{
    return req ? req->method : NULL;
}

const char *bbo_http_request_url(const bbo_http_request *req)
{
    return req ? req->url : NULL;
}

size_t bbo_http_request_header_count(const bbo_http_request *req)
{
    return req ? req->headers.count : 0;
}

const char *bbo_http_request_header_name(const bbo_http_request *req, size_t index)
{
    return req && index < req->headers.count ? req->headers.items[index].name : NULL;
}

const char *bbo_http_request_header_value(const bbo_http_request *req, size_t index)
{
    return req && index < req->headers.count ? req->headers.items[index].value : NULL;
}

const char *bbo_http_request_header(const bbo_http_request *req, const char *name)
{
    return req ? headers_find(&req->headers, name) : NULL;
}

const char *bbo_http_request_body(const bbo_http_request *req, size_t *len_out)
{
    if (len_out)
        *len_out = req ? req->body.size : 0;
    return req && req->body.ptr ? req->body.ptr : "";
}

int bbo_http_request_timeout_ms(const bbo_http_request *req)
{
    return req ? req->timeout_ms : 0;
}

void bbo_http_request_free(bbo_http_request *req)
{
    if (!req)
        return;
    bbo__free(req->method);
    bbo__free(req->url);
    headers_dispose(&req->headers);
    bbo__buf_dispose(&req->body);
    bbo__free(req);
}

int bbo_http_response_new(bbo_http_response **out)
{
    bbo_http_response *resp;

    if (!out)
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_new: NULL argument");
    if ((resp = bbo__calloc(1, sizeof(*resp))) == NULL)
        return bbo__error_oom();
    resp->body_limit = BBO_HTTP_DEFAULT_BODY_LIMIT;
    *out = resp;
    return BBO_OK;
}

int bbo_http_response_set_status(bbo_http_response *resp, int status)
{
    if (!resp || status < 100 || status > 599)
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_set_status: invalid status");
    resp->status = status;
    return BBO_OK;
}

int bbo_http_response_add_header(bbo_http_response *resp, const char *name, const char *value)
{
    if (!resp || !name || !value)
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_add_header: NULL argument");
    return headers_add(&resp->headers, name, strlen(name), value, strlen(value));
}

/* "HTTP/1.1 200 OK" or "HTTP/2 200": the status code, or -1. */
static int parse_status_line(const char *line, size_t len)
{
    size_t i = 5;
    int status = 0, digits = 0;

    if (len < 8 || memcmp(line, "HTTP/", 5) != 0)
        return -1;
    while (i < len && line[i] != ' ')
        i++;
    if (i == 5)
        return -1; /* no version */
    while (i < len && line[i] == ' ')
        i++;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && digits < 4; i++, digits++)
        status = status * 10 + (line[i] - '0');
    if (i < len && line[i] != ' ')
        return -1; /* "200OK" */
    return digits == 3 && status >= 100 && status <= 599 ? status : -1;
}

int bbo_http_response_add_header_line(bbo_http_response *resp, const char *line, size_t len)
{
    const char *colon;
    int status;

    if (!resp || !line)
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_add_header_line: NULL argument");
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0)
        return BBO_OK;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        if ((status = parse_status_line(line, len)) < 0)
            return bbo__error_set(BBO_EINVAL, "malformed HTTP status line");
        headers_clear(&resp->headers);
        resp->status = status;
        return BBO_OK;
    }
    if ((colon = memchr(line, ':', len)) == NULL)
        return bbo__error_set(BBO_EINVAL, "malformed HTTP header line");
    return headers_add(&resp->headers, line, (size_t)(colon - line), colon + 1,
                       len - (size_t)(colon - line) - 1);
}

int bbo_http_response_append_body(bbo_http_response *resp, const char *data, size_t len)
{
    if (!resp || (!data && len))
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_append_body: NULL argument");
    /* the limit may have been lowered below what is held */
    if (resp->over_limit || resp->body.size > resp->body_limit ||
        len > resp->body_limit - resp->body.size) {
        resp->over_limit = true;
        return bbo__error_set(BBO_EPROTOCOL, "response body is larger than the limit of %zu bytes",
                              resp->body_limit);
    }
    return bbo__buf_put(&resp->body, data ? data : "", len);
}

int bbo_http_response_set_body_limit(bbo_http_response *resp, size_t limit)
{
    if (!resp || limit == 0)
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_set_body_limit: invalid argument");
    resp->body_limit = limit;
    return BBO_OK;
}

size_t bbo_http_response_body_limit(const bbo_http_response *resp)
{
    return resp ? resp->body_limit : 0;
}

void bbo_http_response_set_not_sent(bbo_http_response *resp)
{
    if (resp)
        resp->not_sent = true;
}

int bbo_http_response_not_sent(const bbo_http_response *resp)
{
    return resp && resp->not_sent;
}

int bbo_http_response_status(const bbo_http_response *resp)
{
    return resp ? resp->status : 0;
}

const char *bbo_http_response_header(const bbo_http_response *resp, const char *name)
{
    return resp ? headers_find(&resp->headers, name) : NULL;
}

size_t bbo_http_response_header_count(const bbo_http_response *resp)
{
    return resp ? resp->headers.count : 0;
}

const char *bbo_http_response_header_name(const bbo_http_response *resp, size_t index)
{
    return resp && index < resp->headers.count ? resp->headers.items[index].name : NULL;
}

const char *bbo_http_response_header_value(const bbo_http_response *resp, size_t index)
{
    return resp && index < resp->headers.count ? resp->headers.items[index].value : NULL;
}

const char *bbo_http_response_body(const bbo_http_response *resp, size_t *len_out)
{
    if (len_out)
        *len_out = resp ? resp->body.size : 0;
    return resp && resp->body.ptr ? resp->body.ptr : "";
}

int bbo__http_response_reserve(bbo_http_response *resp, size_t body, size_t headers,
                               size_t header_bytes)
{
    header_list *list = &resp->headers;
    int error;

    if ((error = bbo__buf_grow(&resp->body, body)) < 0)
        return error;
    if (list->capacity < headers) {
        header *items = bbo__realloc(list->items, headers * sizeof(header));

        if (!items)
            return bbo__error_oom();
        list->items = items;
        list->capacity = headers;
    }
    if (!list->arena && header_bytes) {
        if ((list->arena = bbo__malloc(header_bytes)) == NULL)
            return bbo__error_oom();
        list->arena_size = header_bytes;
        list->arena_used = 0;
    }
    return BBO_OK;
}

void bbo_http_response_reset(bbo_http_response *resp)
{
    if (!resp)
        return;
    resp->status = 0;
    resp->not_sent = false;
    resp->over_limit = false;
    headers_clear(&resp->headers);
    bbo__buf_clear(&resp->body);
}

void bbo_http_response_free(bbo_http_response *resp)
{
    if (!resp)
        return;
    headers_dispose(&resp->headers);
    bbo__buf_dispose(&resp->body);
    bbo__free(resp);
}
