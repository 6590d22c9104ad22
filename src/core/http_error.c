/*
 * Error mapping for HTTP answers (token endpoint and REST API alike).
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/encode.h"
#include "internal/http_error.h"
#include "internal/json.h"

#include <stdio.h>

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm):
 * timegm() is not in POSIX and mktime() depends on the local zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" to epoch seconds, or -1. */
static int64_t parse_http_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, year, hour, min, sec, month;
    char mon[4];
    const char *found;

    if (strlen(s) != 29 || s[3] != ',' || strcmp(s + 25, " GMT") != 0)
        return -1;
    if (sscanf(s + 5, "%2d %3s %4d %2d:%2d:%2d", &day, mon, &year, &hour, &min, &sec) != 6)
        return -1;
    if ((found = strstr(months, mon)) == NULL || (found - months) % 3 != 0 || strlen(mon) != 3)
        return -1;
    month = (int)((found - months) / 3) + 1;
    if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || year < 1970)
        return -1;
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
}

int64_t bbo__retry_after(const bbo_http_response *resp, int64_t now)
{
    const char *value = bbo_http_response_header(resp, "Retry-After");
    int64_t seconds = 0, when;
    size_t i;

    if (!value || !*value)
        return -1;
    for (i = 0; value[i] >= '0' && value[i] <= '9' && i < 10; i++)
        seconds = seconds * 10 + (value[i] - '0');
    if (i > 0 && value[i] == '\0')
        return seconds;
    if ((when = parse_http_date(value)) < 0)
        return -1;
    return when > now ? when - now : 0;
}

static bool is_json(const bbo_http_response *resp)
{
    const char *type = bbo_http_response_header(resp, "Content-Type");
    const char *body;
    size_t len;

    if (type && bbo__strncasecmp(type, "application/json", 16) == 0)
        return true;
    /* some servers mislabel JSON: look at the first byte */
    body = bbo_http_response_body(resp, &len);
    while (len && (*body == ' ' || *body == '\n' || *body == '\r' || *body == '\t')) {
        body++;
        len--;
    }
    return len && *body == '{';
}

static const char *content_kind(const bbo_http_response *resp)
{
    const char *type = bbo_http_response_header(resp, "Content-Type");
    size_t len;

    bbo_http_response_body(resp, &len);
    if (len == 0)
        return "an empty body";
    if (type && bbo__strncasecmp(type, "text/html", 9) == 0)
        return "an HTML page";
    if (type && bbo__strncasecmp(type, "text/plain", 10) == 0)
        return "a text body";
    return "a body that is not JSON";
}

/* A text/plain body is usually one sentence worth showing ("Rate limit
 * for this resource has been exceeded"); keep its first line. */
static void plain_description(const bbo_http_response *resp, char *dst, size_t cap)
{
    const char *type = bbo_http_response_header(resp, "Content-Type");
    const char *body;
    size_t len, i;

    dst[0] = '\0';
    if (!type || bbo__strncasecmp(type, "text/plain", 10) != 0)
        return;
    body = bbo_http_response_body(resp, &len);
    for (i = 0; i < len && i + 1 < cap && body[i] != '\n' && body[i] != '\r'; i++)
        dst[i] = body[i];
    dst[i] = '\0';
}

int bbo__http_error(const bbo_http_response *resp, const char *what, int64_t now)
{
    bbo_json_field f[] = {
        { "error", 0, NULL, 0 }, { "error_description", 0, NULL, 0 },
        { "error.message", 0, NULL, 0 },
    };
    int status = bbo_http_response_status(resp);
    int64_t retry_after = bbo__retry_after(resp, now);
    const char *oauth = NULL, *desc = NULL;
    char plain[160];
    int code = status == 429 ? BBO_ERATELIMIT : BBO_EHTTP, parsed;

    /* an unparsable error body is not worth reporting: the status speaks */
    if (is_json(resp)) {
        size_t len;
        const char *body = bbo_http_response_body(resp, &len);

        /* but out of memory is reported as such, not as a lesser error */
        if ((parsed = bbo__json_extract(body, len, f, BBO_ARRAY_SIZE(f), what)) == BBO_ENOMEM)
            return BBO_ENOMEM;
        if (parsed == BBO_OK) {
            if (f[0].kind == BBO_JSON_STRING) {
                oauth = f[0].text;
                desc = f[1].kind == BBO_JSON_STRING ? f[1].text : NULL;
                if (code != BBO_ERATELIMIT)
                    code = BBO_EOAUTH;
            } else if (f[2].kind == BBO_JSON_STRING) {
                desc = f[2].text;
            }
        }
    }
    if (!desc) {
        plain_description(resp, plain, sizeof(plain));
        if (plain[0])
            desc = plain;
    }
    if (oauth)
        bbo__error_set(code, "%s answered HTTP %d: %.64s%s%.300s", what, status, oauth,
                       desc ? ": " : "", desc ? desc : "");
    else if (status >= 300 && status < 400)
        bbo__error_set(code, "%s answered HTTP %d (a redirect); redirects are never followed "
                             "for OAuth and API requests", what, status);
    else if (desc)
        bbo__error_set(code, "%s answered HTTP %d: %.300s", what, status, desc);
    else
        bbo__error_set(code, "%s answered HTTP %d with %s", what, status, content_kind(resp));
    bbo__error_set_http_status(status);
    bbo__error_set_oauth(oauth, desc);
    bbo__error_set_retry_after(retry_after);
    bbo__json_fields_dispose(f, BBO_ARRAY_SIZE(f));
    return code;
}
