/*
 * bbo-webapp: an example web application that connects its users' Bitbucket
 * accounts with bboauth (see docs/webapp.md). Shared declarations.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 */
#ifndef BBO_WEBAPP_H
#define BBO_WEBAPP_H

#include <bboauth.h>

#include <stddef.h>
#include <stdint.h>

#ifdef WEBAPP_HAVE_PG
#include <bboauth/pg.h>
#endif

#define WEBAPP_KEY_LEN 32
#define WEBAPP_TENANT_MAX 32 /* characters of a tenant name */

/* ---- text buffers (util.c) ---- */

/* A growing string; `failed` is set once an allocation failed (then every
 * later append is a no-op and wbuf_take returns NULL). Freed with wiping. */
typedef struct wbuf {
    char *data;
    size_t len, cap;
    int failed;
} wbuf;

void wbuf_add(wbuf *b, const char *s);
void wbuf_addn(wbuf *b, const char *s, size_t n);
void wbuf_printf(wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* HTML text or attribute value: & < > " ' escaped, control characters dropped. */
void wbuf_html(wbuf *b, const char *s);
/* A URL query component: everything but unreserved characters percent-encoded. */
void wbuf_url(wbuf *b, const char *s);
/* A JSON string literal with its quotes. */
void wbuf_json(wbuf *b, const char *s);
/* The text (NUL-terminated, malloc'd; the caller frees) or NULL. */
char *wbuf_take(wbuf *b);
void wbuf_free(wbuf *b);

/* Overwrite and free a string that held a secret. NULL is a no-op. */
void wipe_free(char *s);

/* ---- crypto (util.c): mbedTLS HMAC-SHA-256 and the kernel's random ---- */

int random_bytes(unsigned char *out, size_t len);
/* HMAC-SHA-256 of label NUL a NUL b (b may be NULL). */
void mac3(const unsigned char key[WEBAPP_KEY_LEN], const char *label, const char *a,
          const char *b, unsigned char out[32]);
/* base64url without padding; `out` holds 4 * ceil(len / 3) + 1 bytes. */
void b64url(const unsigned char *in, size_t len, char *out);
/* Constant-time comparison of two strings. */
int equal_secret(const char *a, const char *b);

/* ---- the application (webapp.c) ---- */

typedef struct tenant {
    char name[WEBAPP_TENANT_MAX + 1]; /* "" for the platform's own consumer */
    char prefix[WEBAPP_TENANT_MAX + 4]; /* "" or "/t/NAME" */
    char login_cookie[WEBAPP_TENANT_MAX + 16]; /* bbo_login or bbo_login_NAME */
    bbo_consumer *consumer;
} tenant;

typedef struct webapp {
    tenant *tenants; /* [0]: the platform's consumer */
    size_t tenant_count;
    unsigned char seal_key[WEBAPP_KEY_LEN];  /* bbo_authorization_seal */
    unsigned char mac_key[WEBAPP_KEY_LEN];   /* cookies, CSRF tokens, grant ids */
    unsigned char store_key[WEBAPP_KEY_LEN]; /* the file store's encryption */
    const char *store_dir;                   /* or NULL with PostgreSQL */
#ifdef WEBAPP_HAVE_PG
    bbo_pg *pg;
#endif
    const char *ca_file;          /* NULL: the system's CAs */
    const char *bitbucket;        /* shown in messages */
    bbo_scopes *required;         /* --require-scopes (possibly empty) */
    int secure_cookies;           /* the public URL is https */
    int64_t clock_offset;         /* BBO_WEBAPP_CLOCK_OFFSET (tests only) */
} webapp;

int64_t webapp_now(const webapp *app);

/* One HTTP answer, built by a handler and sent by server.c. */
#define REPLY_MAX_COOKIES 3
typedef struct reply {
    int status;
    wbuf body;            /* HTML */
    char *location;       /* redirect target (malloc'd) or NULL */
    char *cookies[REPLY_MAX_COOKIES]; /* Set-Cookie values (malloc'd) */
} reply;

/* What a handler knows about the request. Strings are borrowed. */
typedef struct request {
    const char *method;
    const char *path;      /* within the tenant: "/", "/connect", ... */
    const char *query;     /* raw query string (without '?'), "" if none */
    const char *sid;       /* the app session cookie, NULL if none */
    const char *login;     /* the tenant's login cookie, NULL if none */
    /* query or form fields */
    const char *(*field)(void *payload, const char *name);
    void *payload;
} request;

void webapp_handle(webapp *app, const tenant *t, const request *req, reply *out);
void reply_add_cookie(reply *r, const char *value);
void reply_redirect(reply *r, int status, const char *location);

/* ---- pages (pages.c) ---- */

void page_begin(wbuf *b, const tenant *t, const char *title);
void page_end(wbuf *b);
/* An error page: what happened (reason: a stable word for tests and logs),
 * what to do; `detail` (library message, escaped) may be NULL. */
void page_error(reply *r, const tenant *t, int status, const char *reason, const char *title,
                const char *what, const char *todo, const char *detail);
/* The same for missing scopes, named as Bitbucket's consumer form does;
 * exact: `scopes` are the missing ones, else all those required. */
void page_missing_scopes(reply *r, const tenant *t, const char *scopes, int exact,
                         const char *detail);
/* Scope list -> "Account: Read, Pull requests: Write" (malloc'd) */
char *permission_names(const char *scopes);

#endif
