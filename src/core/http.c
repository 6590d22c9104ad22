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

/* Room for header names and values: blocks that never move, so the
 * pointers handed out stay valid while more headers arrive. */
typedef struct text_block {
    struct text_block *next;
    size_t size;
    size_t used;
    char data[];
} text_block;

#define TEXT_BLOCK_MIN 1024
#define HEADERS_INLINE 8

typedef struct header_list {
    header *items;       /* inline_items or block_items until more are needed */
    size_t count;
    size_t capacity;
    header inline_items[HEADERS_INLINE];
    text_block *blocks;  /* in order of allocation */
    text_block *current; /* the block being filled */
    text_block *inline_block; /* the first block when it lies in the owner's
                               * own allocation (not freed on its own) */
    header *block_items; /* a larger first array in the owner's allocation */
} header_list;

/* A request's first room for header text, in the request's own block:
 * what a token request or an API call sends (a 2.6 KB bearer token goes
 * to a block of its own). */
#define REQUEST_TEXT_INLINE 256

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
    bool body_inline; /* body.ptr is room in the response's own block */
};

static text_block *text_block_new(size_t size)
{
    text_block *block = bbo__malloc(sizeof(*block) + size);

    if (block) {
        block->next = NULL;
        block->size = size;
        block->used = 0;
    }
    return block;
}

/* Room for `len` bytes: in the block being filled, a later (emptied) one,
 * or a new one. */
static char *header_room(header_list *list, size_t len)
{
    text_block *block = list->current, *last = NULL, *fresh;
    char *p;

    for (; block; last = block, block = block->next) {
        if (block->size - block->used >= len) {
            list->current = block;
            p = block->data + block->used;
            block->used += len;
            return p;
        }
    }
    if (!last)
        last = list->blocks;
    while (last && last->next)
        last = last->next;
    fresh = text_block_new(len > TEXT_BLOCK_MIN ? len : TEXT_BLOCK_MIN);
    if (!fresh)
        return NULL;
    if (last)
        last->next = fresh;
    else
        list->blocks = fresh;
    list->current = fresh;
    fresh->used = len;
    return fresh->data;
}

static void headers_clear(header_list *list)
{
    text_block *block;

    list->count = 0;
    for (block = list->blocks; block; block = block->next) {
        bbo__wipe(block->data, block->used);
        block->used = 0;
    }
    list->current = list->blocks;
}

static void headers_dispose(header_list *list)
{
    text_block *block, *next;

    list->count = 0;
    if (list->items != list->inline_items && list->items != list->block_items)
        bbo__free(list->items);
    list->items = list->block_items = NULL;
    list->capacity = 0;
    for (block = list->blocks; block; block = next) {
        next = block->next;
        /* wipes what was written: a clear wiped what came before */
        if (block == list->inline_block)
            bbo__wipe(block->data, block->used);
        else
            bbo__free_used(block, sizeof(*block) + block->used);
    }
    list->blocks = list->current = list->inline_block = NULL;
}

/* RFC 9110 token characters, for header names. */
#define T4(x) x, x, x, x
#define T16(x) T4(x), T4(x), T4(x), T4(x)
static const unsigned char tchar[256] = {
    T16(0), T16(0),
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20: ! # $ % & ' * + - . */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30: 0-9 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40: A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50: P-Z ^ _ */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60: ` a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 0x70: p-z | ~ */
    T16(0), T16(0), T16(0), T16(0), T16(0), T16(0), T16(0), T16(0),
};

static bool valid_name(const char *name, size_t len)
{
    size_t i;

    if (len == 0)
        return false;
    for (i = 0; i < len; i++)
        if (!tchar[(unsigned char)name[i]])
            return false;
    return true;
}

/* Room for `capacity` headers (more than the list has). */
static int headers_resize(header_list *list, size_t capacity)
{
    header *items = bbo__malloc(capacity * sizeof(header));

    if (!items)
        return bbo__error_oom();
    if (list->count)
        memcpy(items, list->items, list->count * sizeof(header));
    if (list->items != list->inline_items && list->items != list->block_items)
        bbo__free(list->items);
    list->items = items;
    list->capacity = capacity;
    return BBO_OK;
}

/* Store a header whose name and value are known to be valid and trimmed. */
BBO__HOT
static int headers_store(header_list *list, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    header h;
    int error;

    if (!list->items) {
        list->items = list->inline_items;
        list->capacity = HEADERS_INLINE;
    }
    if (list->count == list->capacity && (error = headers_resize(list, list->capacity * 2)) < 0)
        return error;
    /* name and value side by side: one copy */
    if ((h.name = header_room(list, name_len + value_len + 2)) == NULL)
        return bbo__error_oom();
    memcpy(h.name, name, name_len);
    h.name[name_len] = '\0';
    h.value = h.name + name_len + 1;
    memcpy(h.value, value, value_len);
    h.value[value_len] = '\0';
    list->items[list->count++] = h;
    return BBO_OK;
}

BBO__HOT
static int headers_add(header_list *list, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    if (!valid_name(name, name_len))
        return bbo__error_set(BBO_EINVAL, "invalid HTTP header name");
    /* memchr is vectorized: a 2.6 KB bearer token costs little */
    if (memchr(value, '\r', value_len) || memchr(value, '\n', value_len) ||
        memchr(value, '\0', value_len))
        return bbo__error_set(BBO_EINVAL, "HTTP header value has CR, LF or NUL");
    /* trim optional whitespace around the value (RFC 9110 5.5) */
    while (value_len && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    return headers_store(list, name, name_len, value, value_len);
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

/* A request for a method and URL already checked: one block with the
 * method, the URL and the first room for header text. */
BBO__HOT
static int request_alloc(bbo_http_request **out, const char *method, const char *url)
{
    bbo_http_request *req;
    text_block *room;
    size_t method_len = strlen(method) + 1, url_len = strlen(url) + 1;
    size_t room_size = (sizeof(text_block) + REQUEST_TEXT_INLINE + 15) & ~(size_t)15;
    size_t head = (sizeof(*req) + 15) & ~(size_t)15;

    if (url_len > SIZE_MAX - head - room_size - method_len ||
        (req = bbo__malloc(head + room_size + method_len + url_len)) == NULL)
        return bbo__error_oom();
    memset(req, 0, sizeof(*req));
    room = (text_block *)(void *)((char *)req + head);
    room->next = NULL;
    room->size = REQUEST_TEXT_INLINE;
    room->used = 0;
    req->headers.blocks = req->headers.current = req->headers.inline_block = room;
    req->method = (char *)room + room_size;
    memcpy(req->method, method, method_len);
    req->url = req->method + method_len;
    memcpy(req->url, url, url_len);
    *out = req;
    return BBO_OK;
}

BBO__HOT
int bbo_http_request_new(bbo_http_request **out, const char *method, const char *url)
{
    size_t i;
    int error;

    if (!out || !method || !url)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_new: NULL argument");
    for (i = 0; method[i]; i++)
        if (method[i] < 'A' || method[i] > 'Z')
            break;
    if (i == 0 || method[i])
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_new: method must be uppercase letters");
    if ((error = bbo__url_parse(NULL, url, "request URL")) < 0)
        return error;
    return request_alloc(out, method, url);
}

BBO__HOT
int bbo__http_request_new_checked(bbo_http_request **out, const char *method, const char *url)
{
    return request_alloc(out, method, url);
}

BBO__HOT
int bbo_http_request_add_header(bbo_http_request *req, const char *name, const char *value)
{
    if (!req || !name || !value)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_add_header: NULL argument");
    return headers_add(&req->headers, name, strlen(name), value, strlen(value));
}

BBO__HOT
int bbo__http_request_add_header_checked(bbo_http_request *req, const char *name,
                                         size_t name_len, const char *value, size_t value_len)
{
    return headers_store(&req->headers, name, name_len, value, value_len);
}

int bbo_http_request_set_body(bbo_http_request *req, const char *data, size_t len)
{
    if (!req || (!data && len))
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_set_body: NULL argument");
    bbo__buf_clear(&req->body);
    return bbo__buf_put(&req->body, data ? data : "", len);
}

BBO__HOT
void bbo__http_request_take_body(bbo_http_request *req, bbo_buf *body)
{
    bbo__buf_dispose(&req->body);
    req->body = *body;
    body->ptr = NULL;
    body->size = body->asize = 0;
}

BBO__HOT
int bbo_http_request_set_timeout_ms(bbo_http_request *req, int timeout_ms)
{
    if (!req || timeout_ms < 0)
        return bbo__error_set(BBO_EINVAL, "bbo_http_request_set_timeout_ms: invalid argument");
    req->timeout_ms = timeout_ms;
    return BBO_OK;
}

BBO__HOT
const char *bbo_http_request_method(const bbo_http_request *req)
{
    return req ? req->method : NULL;
}

BBO__HOT
const char *bbo_http_request_url(const bbo_http_request *req)
{
    return req ? req->url : NULL;
}

BBO__HOT
size_t bbo_http_request_header_count(const bbo_http_request *req)
{
    return req ? req->headers.count : 0;
}

BBO__HOT
const char *bbo_http_request_header_name(const bbo_http_request *req, size_t index)
{
    return req && index < req->headers.count ? req->headers.items[index].name : NULL;
}

BBO__HOT
const char *bbo_http_request_header_value(const bbo_http_request *req, size_t index)
{
    return req && index < req->headers.count ? req->headers.items[index].value : NULL;
}

const char *bbo_http_request_header(const bbo_http_request *req, const char *name)
{
    return req ? headers_find(&req->headers, name) : NULL;
}

BBO__HOT
const char *bbo_http_request_body(const bbo_http_request *req, size_t *len_out)
{
    if (len_out)
        *len_out = req ? req->body.size : 0;
    return req && req->body.ptr ? req->body.ptr : "";
}

BBO__HOT
int bbo_http_request_timeout_ms(const bbo_http_request *req)
{
    return req ? req->timeout_ms : 0;
}

BBO__HOT
void bbo_http_request_free(bbo_http_request *req)
{
    if (!req)
        return;
    headers_dispose(&req->headers);
    bbo__buf_dispose(&req->body);
    /* the header room in the block was wiped by headers_dispose */
    bbo__free(req);
}

BBO__HOT
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

BBO__HOT
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

/* Room for the body a Content-Length announces (within the limit and
 * BODY_RESERVE_MAX): one block instead of growing by copies. */
#define BODY_RESERVE_MAX (256 * 1024)

/* Room for `extra` more body bytes. A body in the response's own block
 * that outgrows it moves to a block of its own (the old room is wiped). */
static int body_room(bbo_http_response *resp, size_t extra)
{
    bbo_buf *body = &resp->body;
    size_t asize;
    char *fresh;

    if (!resp->body_inline)
        return bbo__buf_grow(body, extra);
    if (extra <= body->asize - body->size - 1)
        return BBO_OK;
    if (extra > SIZE_MAX / 2 - body->size - 1)
        return bbo__error_oom();
    asize = body->asize * 2 > body->size + extra + 1 ? body->asize * 2 : body->size + extra + 1;
    if ((fresh = bbo__malloc(asize)) == NULL)
        return bbo__error_oom();
    memcpy(fresh, body->ptr, body->size + 1);
    bbo__wipe(body->ptr, body->size + 1);
    body->ptr = fresh;
    body->asize = asize;
    resp->body_inline = false;
    return BBO_OK;
}

static int reserve_body(bbo_http_response *resp, const char *value)
{
    size_t length = 0, i;

    for (i = 0; value[i]; i++) {
        if (value[i] < '0' || value[i] > '9' || i >= 7)
            return BBO_OK; /* not a length worth reserving for */
        length = length * 10 + (size_t)(value[i] - '0');
    }
    if (i == 0 || length > resp->body_limit || length > BODY_RESERVE_MAX ||
        resp->body.size > length)
        return BBO_OK;
    if (!resp->body.ptr) { /* exactly what comes: less to wipe when freed */
        if ((resp->body.ptr = bbo__malloc(length + 1)) == NULL)
            return bbo__error_oom();
        resp->body.ptr[0] = '\0';
        resp->body.asize = length + 1;
        return BBO_OK;
    }
    return body_room(resp, length - resp->body.size);
}

BBO__HOT
int bbo_http_response_add_header_line(bbo_http_response *resp, const char *line, size_t len)
{
    const char *colon;
    int status, error;

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
    if ((error = headers_add(&resp->headers, line, (size_t)(colon - line), colon + 1,
                             len - (size_t)(colon - line) - 1)) < 0)
        return error;
    if (colon - line == 14 && bbo__strncasecmp(line, "Content-Length", 14) == 0)
        return reserve_body(resp, resp->headers.items[resp->headers.count - 1].value);
    return BBO_OK;
}

BBO__HOT
int bbo_http_response_append_body(bbo_http_response *resp, const char *data, size_t len)
{
    int error;

    if (!resp || (!data && len))
        return bbo__error_set(BBO_EINVAL, "bbo_http_response_append_body: NULL argument");
    /* the limit may have been lowered below what is held */
    if (resp->over_limit || resp->body.size > resp->body_limit ||
        len > resp->body_limit - resp->body.size) {
        resp->over_limit = true;
        return bbo__error_set(BBO_EPROTOCOL, "response body is larger than the limit of %zu bytes",
                              resp->body_limit);
    }
    if ((error = body_room(resp, len)) < 0)
        return error;
    return bbo__buf_put(&resp->body, data ? data : "", len); /* fits: no growth */
}

BBO__HOT
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

BBO__HOT
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

BBO__HOT
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

    if ((error = body_room(resp, body)) < 0)
        return error;
    if (!list->items) {
        list->items = list->inline_items;
        list->capacity = HEADERS_INLINE;
    }
    if (list->capacity < headers && (error = headers_resize(list, headers)) < 0)
        return error;
    if (!list->blocks && header_bytes) {
        if ((list->blocks = text_block_new(header_bytes)) == NULL)
            return bbo__error_oom();
        list->current = list->blocks;
    }
    return BBO_OK;
}

BBO__HOT
int bbo__http_response_new_reserved(bbo_http_response **out, size_t body, size_t headers,
                                    size_t header_bytes)
{
    bbo_http_response *resp;
    text_block *room;
    size_t head = (sizeof(*resp) + 15) & ~(size_t)15, items = headers * sizeof(header);
    size_t body_at = (head + items + sizeof(text_block) + header_bytes + 15) & ~(size_t)15;

    /* one block: the response, its header slots, its header room, then
     * its body room */
    if (headers > SIZE_MAX / sizeof(header) / 4 || header_bytes == 0 ||
        header_bytes > SIZE_MAX / 4 || body > SIZE_MAX / 4 ||
        (resp = bbo__malloc(body_at + body + 1)) == NULL)
        return bbo__error_oom();
    memset(resp, 0, sizeof(*resp));
    resp->body_limit = BBO_HTTP_DEFAULT_BODY_LIMIT;
    if (headers > HEADERS_INLINE) {
        resp->headers.items = resp->headers.block_items = (header *)(void *)((char *)resp + head);
        resp->headers.capacity = headers;
    } else {
        resp->headers.items = resp->headers.inline_items;
        resp->headers.capacity = HEADERS_INLINE;
    }
    room = (text_block *)(void *)((char *)resp + head + items);
    room->next = NULL;
    room->size = header_bytes;
    room->used = 0;
    resp->headers.blocks = resp->headers.current = resp->headers.inline_block = room;
    resp->body.ptr = (char *)resp + body_at;
    resp->body.ptr[0] = '\0';
    resp->body.asize = body + 1;
    resp->body_inline = true;
    *out = resp;
    return BBO_OK;
}

BBO__HOT
void bbo_http_response_reset(bbo_http_response *resp)
{
    if (!resp)
        return;
    resp->status = 0;
    resp->not_sent = false;
    resp->over_limit = false;
    headers_clear(&resp->headers);
    /* a body is only ever appended to: the bytes past its end were never
     * written (a reserved 16 KB room need not be wiped whole each time) */
    if (resp->body.ptr) {
        bbo__wipe(resp->body.ptr, resp->body.size + 1);
        resp->body.size = 0;
    }
}

BBO__HOT
void bbo_http_response_free(bbo_http_response *resp)
{
    if (!resp)
        return;
    headers_dispose(&resp->headers);
    /* a body is only appended to: past its end nothing of ours was written
     * (a reserved 16 KB room need not be wiped whole) */
    if (resp->body_inline)
        bbo__wipe(resp->body.ptr, resp->body.size + 1);
    else
        bbo__free_used(resp->body.ptr, resp->body.size + 1);
    /* header texts and the body in the block were wiped above; the rest of
     * a reserved block holds pointers */
    bbo__free_used(resp, sizeof(*resp));
}
