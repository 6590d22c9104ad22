/*
 * Sessions: REST API calls with the session's token (the same-origin and
 * base-path rule, one retry after a 401, 403 scope explanations, 429),
 * pagination, the user check, and bbo_response.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/encode.h"
#include "internal/http_error.h"
#include "internal/json.h"
#include "internal/session.h"
#include "internal/url.h"

/* More scopes than this in a header is not a real answer: no explanation
 * is worth the quadratic comparison. */
#define MAX_HEADER_SCOPES 256

struct bbo_response {
    bbo_http_response *http;
};

/* A path that steps out of where it is put: a "." or ".." segment, also
 * percent-encoded (the server would resolve it). The query is not looked at. */
static bool has_dot_segment(const char *path)
{
    size_t i = 0;

    while (path[i] && path[i] != '?' && path[i] != '#') {
        size_t start, dots = 0, len;

        while (path[i] == '/')
            i++;
        start = i;
        while (path[i] && path[i] != '/' && path[i] != '?' && path[i] != '#')
            i++;
        len = i - start;
        for (size_t k = start; k < i;) {
            if (path[k] == '.') {
                dots++;
                k++;
            } else if (path[k] == '%' && path[k + 1] == '2' && (path[k + 2] | 0x20) == 'e') {
                dots++;
                k += 3;
            } else {
                dots = 0;
                break;
            }
        }
        if (len && (dots == 1 || dots == 2))
            return true;
    }
    return false;
}

/* `path` is the base path or below it ("/2.0" holds "/2.0" and "/2.0/x",
 * not "/2.0x"); an empty base path holds everything. */
static bool under_base(const char *base, const char *path)
{
    size_t n = strlen(base);

    while (n && base[n - 1] == '/')
        n--;
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The absolute URL for `path_or_url`, refusing any other origin and any
 * path outside the API base (a server shared with other applications). */
static int resolve_url(bbo_session *s, const char *path_or_url, bbo_buf *url)
{
    const char *base = bbo_consumer_api_base_url(bbo_client_consumer(s->client));
    bbo_url want = { NULL, NULL, 0, NULL, NULL }, got = { NULL, NULL, 0, NULL, NULL };
    size_t i;
    int rc;

    for (i = 0; path_or_url[i]; i++)
        if ((unsigned char)path_or_url[i] <= 0x20 || path_or_url[i] == 0x7f ||
            path_or_url[i] == '\\')
            return bbo__error_set(BBO_EINVAL, "API path has a blank, a backslash or a control "
                                              "character");
    if (has_dot_segment(path_or_url))
        return bbo__error_set(BBO_EINVAL, "API path has a \".\" or \"..\" segment: refusing "
                                          "to leave the API's base path");
    if (bbo__strncasecmp(path_or_url, "https://", 8) != 0 &&
        bbo__strncasecmp(path_or_url, "http://", 7) != 0) {
        if ((rc = bbo__buf_puts(url, base)) < 0 ||
            (path_or_url[0] != '/' && (rc = bbo__buf_putc(url, '/')) < 0) ||
            (rc = bbo__buf_puts(url, path_or_url)) < 0)
            return rc;
        return BBO_OK;
    }
    if ((rc = bbo__url_parse(&want, base, "API base URL")) == BBO_OK &&
        (rc = bbo__url_parse(&got, path_or_url, "API URL")) == BBO_OK) {
        if (!bbo__url_same_origin(&want, &got))
            rc = bbo__error_set(BBO_EINVAL, "refusing to send the access token to %s://%s:%d: "
                                            "not the API's origin", got.scheme, got.host,
                                got.port);
        else if (!under_base(want.path, got.path))
            rc = bbo__error_set(BBO_EINVAL, "refusing to send the access token to a path "
                                            "outside the API's base path %.200s", want.path);
        else
            rc = bbo__buf_puts(url, path_or_url);
    }
    bbo__url_dispose(&want);
    bbo__url_dispose(&got);
    return rc;
}

static int send_with_token(bbo_session *s, const char *method, const char *url,
                           const char *access, const char *body, size_t body_len,
                           bbo_http_response *resp)
{
    bbo_http_request *req = NULL;
    bbo_buf auth = BBO_BUF_INIT;
    int64_t sent_at;
    int rc;

    if ((rc = bbo__buf_puts(&auth, "Bearer ")) == BBO_OK &&
        (rc = bbo__buf_puts(&auth, access)) == BBO_OK &&
        (rc = bbo_http_request_new(&req, method, url)) == BBO_OK &&
        (rc = bbo_http_request_add_header(req, "Authorization", auth.ptr)) == BBO_OK &&
        (rc = bbo_http_request_add_header(req, "Accept", "application/json")) == BBO_OK &&
        (!body || ((rc = bbo_http_request_add_header(req, "Content-Type",
                                                     "application/json")) == BBO_OK &&
                   (rc = bbo_http_request_set_body(req, body, body_len)) == BBO_OK)))
        rc = bbo__client_send(s->client, req, resp, &sent_at);
    bbo_http_request_free(req);
    bbo__buf_dispose(&auth);
    return rc;
}

/* At most MAX_HEADER_SCOPES scopes in a header. */
static bool few_scopes(const char *text)
{
    size_t count = 0, i;
    bool in_word = false;

    for (i = 0; text[i]; i++) {
        bool sep = text[i] == ' ' || text[i] == ',' || text[i] == '\t';

        if (!sep && !in_word && ++count > MAX_HEADER_SCOPES)
            return false;
        in_word = !sep;
    }
    return true;
}

/* A 403 explained by the scope headers Bitbucket sends (headers with too
 * many scopes are malformed: the 403 is then returned as it is). */
static int scope_error(const bbo_http_response *resp)
{
    const char *granted_text = bbo_http_response_header(resp, "X-OAuth-Scopes");
    const char *accepted_text = bbo_http_response_header(resp, "X-Accepted-OAuth-Scopes");
    bbo_scopes *granted = NULL, *accepted = NULL, *missing = NULL;
    char *missing_text = NULL;
    int rc = BBO_OK;

    if (!accepted_text || !few_scopes(accepted_text) || (granted_text && !few_scopes(granted_text)))
        return BBO_OK;
    if (bbo_scopes_parse(&granted, granted_text ? granted_text : "") == BBO_OK &&
        bbo_scopes_parse(&accepted, accepted_text) == BBO_OK &&
        bbo_scopes_missing(granted, accepted, &missing) == BBO_OK &&
        bbo_scopes_count(missing) > 0 && bbo_scopes_to_string(missing, &missing_text) == BBO_OK) {
        rc = bbo__error_set(BBO_ESCOPE, "the token lacks the scope(s) this call needs: %.200s "
                                        "(granted: %.200s)", missing_text,
                            granted_text && *granted_text ? granted_text : "none");
        bbo__error_set_http_status(403);
    }
    bbo__free(missing_text);
    bbo_scopes_free(granted);
    bbo_scopes_free(accepted);
    bbo_scopes_free(missing);
    return rc;
}

BBO__HOT
int bbo_session_request(bbo_session *s, const char *method, const char *path_or_url,
                        const char *body, size_t body_len, bbo_response **out)
{
    bbo_buf url = BBO_BUF_INIT;
    bbo_http_response *resp = NULL;
    bbo_response *wrapped = NULL;
    bbo_error kept;
    char *access = NULL;
    int rc, attempt, status = 0;

    bbo__error_keep(&kept);
    if (!s || !method || !path_or_url || !out || (!body && body_len))
        return bbo__error_set(BBO_EINVAL, "bbo_session_request: NULL argument");
    if ((rc = resolve_url(s, path_or_url, &url)) < 0 || (rc = bbo_http_response_new(&resp)) < 0)
        goto done;
    for (attempt = 0; attempt < 2; attempt++) {
        if (attempt == 1) {
            /* a 401: refresh (unless another thread already did) and retry once */
            if ((rc = bbo__session_fresh_token(s, BBO__NEED_REPLACE, access, NULL)) < 0)
                goto done;
        }
        bbo__free_str(&access);
        if ((rc = bbo__session_fresh_token(s, BBO__NEED_DUE, NULL, &access)) < 0 ||
            (rc = send_with_token(s, method, url.ptr, access, body, body_len, resp)) < 0)
            goto done;
        if ((status = bbo_http_response_status(resp)) != 401)
            break;
    }
    if (status == 401) {
        bbo__http_error(resp, "Bitbucket API", bbo__client_now(s->client));
        bbo__error_prefix("the API rejected the token even after a refresh");
        rc = bbo__error_set_code(BBO_EEXPIRED);
        goto done;
    }
    if (status == 403 && (rc = scope_error(resp)) < 0)
        goto done;
    if (status == 429) {
        rc = bbo__http_error(resp, "Bitbucket API", bbo__client_now(s->client));
        goto done;
    }
    if ((wrapped = bbo__calloc(1, sizeof(*wrapped))) == NULL) {
        rc = bbo__error_oom();
        goto done;
    }
    wrapped->http = resp;
    resp = NULL;
    *out = wrapped;
done:
    bbo__free(access);
    bbo__buf_dispose(&url);
    bbo_http_response_free(resp);
    return bbo__session_result(rc, &kept);
}

/* The "next" link of a page, or NULL (copied into *next). */
static int next_link(const bbo_response *page, char **next)
{
    bbo_json_field f[] = { { "next", 0, NULL, 0 } };
    size_t len;
    const char *body = bbo_http_response_body(page->http, &len);
    int rc;

    *next = NULL;
    if ((rc = bbo__json_extract(body, len, f, 1, "API page")) < 0)
        return rc;
    if (f[0].kind == BBO_JSON_STRING) {
        *next = f[0].text;
        f[0].text = NULL;
    } else if (f[0].kind != BBO_JSON_ABSENT && f[0].kind != BBO_JSON_OTHER) {
        rc = bbo__error_set(BBO_EPROTOCOL, "API page has a \"next\" that is not a string");
    }
    bbo__json_fields_dispose(f, 1);
    return rc;
}

int bbo_session_foreach_page(bbo_session *s, const char *path_or_url, int max_pages,
                             bbo_page_cb cb, void *payload)
{
    char *url = NULL, *next = NULL;
    bbo_response *page = NULL;
    int pages, rc = BBO_OK;

    if (!s || !path_or_url || !cb || max_pages < 1)
        return bbo__error_set(BBO_EINVAL, "bbo_session_foreach_page: invalid argument");
    if ((url = bbo__strdup(path_or_url)) == NULL)
        return bbo__error_oom();
    for (pages = 0; url && pages < max_pages; pages++) {
        if ((rc = bbo_session_request(s, "GET", url, NULL, 0, &page)) < 0)
            break;
        if (bbo_response_status(page) != 200) {
            rc = bbo__http_error(page->http, "Bitbucket API", bbo__client_now(s->client));
            break;
        }
        if ((rc = next_link(page, &next)) < 0)
            break;
        if (cb(page, payload) != 0) {
            rc = bbo__error_set(BBO_EUSER, "the page callback stopped the listing");
            break;
        }
        bbo_response_free(page);
        page = NULL;
        bbo__free(url);
        url = next;
        next = NULL;
    }
    bbo_response_free(page);
    bbo__free(url);
    bbo__free(next);
    return rc;
}

int bbo_session_user(bbo_session *s, char **out)
{
    bbo_json_field f[] = { { "username", 0, NULL, 0 }, { "nickname", 0, NULL, 0 },
                           { "account_id", 0, NULL, 0 } };
    bbo_response *resp = NULL;
    const char *name = NULL;
    bool dc;
    size_t i, len;
    int rc;

    if (!s || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_session_user: NULL argument");
    dc = bbo_consumer_is_data_center(bbo_client_consumer(s->client));
    if ((rc = bbo_session_request(s, "GET", dc ? "/application-properties" : "/user", NULL, 0,
                                  &resp)) < 0)
        return rc;
    if (bbo_response_status(resp) != 200) {
        rc = bbo__http_error(resp->http, "Bitbucket API", bbo__client_now(s->client));
        goto done;
    }
    if (dc) {
        name = bbo_response_header(resp, "X-AUSERNAME");
    } else {
        const char *body = bbo_response_body(resp, &len);

        if ((rc = bbo__json_extract(body, len, f, BBO_ARRAY_SIZE(f), "user answer")) < 0)
            goto done;
        for (i = 0; i < BBO_ARRAY_SIZE(f) && !name; i++)
            if (f[i].kind == BBO_JSON_STRING && f[i].length)
                name = f[i].text;
    }
    if (!name || !*name) {
        rc = bbo__error_set(BBO_EPROTOCOL, "the user check answered without a user name");
        goto done;
    }
    if ((*out = bbo__strdup(name)) == NULL)
        rc = bbo__error_oom();
done:
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));
    bbo_response_free(resp);
    return rc;
}

/* ---- responses ---------------------------------------------------------- */

BBO__HOT
int bbo_response_status(const bbo_response *resp)
{
    return resp ? bbo_http_response_status(resp->http) : 0;
}

const char *bbo_response_header(const bbo_response *resp, const char *name)
{
    return resp ? bbo_http_response_header(resp->http, name) : NULL;
}

const char *bbo_response_body(const bbo_response *resp, size_t *len_out)
{
    if (!resp) {
        if (len_out)
            *len_out = 0;
        return "";
    }
    return bbo_http_response_body(resp->http, len_out);
}

BBO__HOT
void bbo_response_free(bbo_response *resp)
{
    if (!resp)
        return;
    bbo_http_response_free(resp->http);
    bbo__free(resp);
}
