/*
 * Sessions: fresh access tokens (single flight, in process and across
 * processes through the store), durable tokens, API calls.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/consumer.h"
#include "internal/crypto.h"
#include "internal/encode.h"
#include "internal/http_error.h"
#include "internal/json.h"
#include "internal/store.h"
#include "internal/url.h"

#include <pthread.h>
#include <stdio.h>

#define DEFAULT_MARGIN_S 60
#define MAX_CALLBACKS 8

typedef struct callback {
    bbo_token_cb cb;
    void *payload;
} callback;

struct bbo_session {
    bbo_client *client;          /* borrowed */
    pthread_mutex_t lock;
    pthread_cond_t refreshed;    /* broadcast when a refresh completes */
    bbo_token *token;            /* NULL: logged out */
    bbo_store *store;
    int64_t margin_s;
    bool refreshing;             /* a refresh is in flight (its leader runs it) */
    uint64_t generation;         /* completed refreshes */
    int last_rc;                 /* the latest refresh's outcome, for its waiters */
    bbo_error *last_error;       /* and its error (NULL when out of memory) */
    bbo_error *logout_error;     /* set once invalid_grant logged us out */
    bool save_pending;           /* the token in memory is newer than the store */
    bool notify_pending;         /* the callbacks still have to hear of the token */
    /* SHA-256 of the last refresh token that invalid_grant or a logout
     * killed: a store that could not be cleared may still hold it, and it
     * must never be adopted (and sent) again */
    unsigned char dead_refresh[BBO_SHA256_LEN];
    bool has_dead_refresh;
    callback callbacks[MAX_CALLBACKS];
    size_t callback_count;
};

struct bbo_response {
    bbo_http_response *http;
};

/* ---- token bookkeeping ---------------------------------------------- */

static void remember_dead(bbo_session *s, const bbo_token *token)
{
    const char *refresh = token ? bbo_token_refresh(token) : NULL;

    if (refresh && bbo__sha256(refresh, strlen(refresh), s->dead_refresh) == BBO_OK)
        s->has_dead_refresh = true;
}

/* A token carrying the refresh token we know to be dead. */
static bool is_dead(const bbo_session *s, const bbo_token *token)
{
    unsigned char digest[BBO_SHA256_LEN];
    const char *refresh = bbo_token_refresh(token);

    return s->has_dead_refresh && refresh &&
           bbo__sha256(refresh, strlen(refresh), digest) == BBO_OK &&
           memcmp(digest, s->dead_refresh, sizeof(digest)) == 0;
}

static void replace_token(bbo_session *s, bbo_token *token)
{
    bbo_token_free(s->token);
    s->token = token;
}

/* The stored token is the later one (a refresh elsewhere, a new login). */
static bool is_newer(const bbo_token *candidate, const bbo_token *current)
{
    if (!current)
        return true;
    if (bbo_token_obtained_at(candidate) != bbo_token_obtained_at(current))
        return bbo_token_obtained_at(candidate) > bbo_token_obtained_at(current);
    return strcmp(bbo_token_access(candidate), bbo_token_access(current)) != 0 &&
           bbo_token_expires_at(candidate) > bbo_token_expires_at(current);
}

static bool same_token(const bbo_token *a, const bbo_token *b)
{
    return a && b && strcmp(bbo_token_access(a), bbo_token_access(b)) == 0;
}

/* Save under the store's lock. Returns the save's code (error set). */
static int save_locked(bbo_store *store, const bbo_token *token)
{
    int rc, unlock_rc;

    if ((rc = bbo__store_lock(store)) < 0)
        return rc;
    rc = bbo_store_save(store, token);
    unlock_rc = bbo__store_unlock(store);
    return rc < 0 ? rc : unlock_rc;
}

static void run_callbacks(const callback *cbs, size_t count, const bbo_token *token,
                          int save_error)
{
    size_t i;

    for (i = 0; i < count; i++)
        cbs[i].cb(token, save_error, cbs[i].payload);
}

/* ---- the refresh itself (run by one leader, outside the session lock) -- */

typedef struct flight {
    bbo_token *current;     /* in: the session's token (a copy) */
    bool prefer_memory;     /* in: our token is newer than the store's */
    bbo_token *result;      /* out: the new token */
    bool adopted;           /* out: taken from the store, no request sent */
    int save_error;         /* out: 0, or why the new token was not saved */
    bool store_cleared;     /* out: the store was emptied elsewhere */
} flight;

static bool is_invalid_grant(int rc)
{
    const char *oauth = bbo_error_oauth_code(bbo_error_last());

    return rc == BBO_EOAUTH && oauth && strcmp(oauth, "invalid_grant") == 0;
}

/* After invalid_grant: a store still holding the rejected token would hand
 * it to the next process, which would send the dead refresh token again.
 * Called with the store locked (when it can lock); keeps the error. */
static void forget_rejected(bbo_store *store, const bbo_token *rejected)
{
    bbo_error *kept = bbo__error_snapshot();
    bbo_token *stored = NULL;

    if (bbo_store_load(store, &stored) == BBO_OK && stored && same_token(stored, rejected))
        bbo_store_clear(store);
    bbo_token_free(stored);
    if (kept) {
        bbo__error_restore(kept);
        bbo__free(kept);
    }
}

static int fly(bbo_session *s, flight *f)
{
    bbo_token *stored = NULL;
    bool locked = false;
    int rc = BBO_OK;

    if (s->store && bbo__store_can_lock(s->store)) {
        if ((rc = bbo__store_lock(s->store)) < 0)
            return rc;
        locked = true;
        /* another process may have refreshed while we waited for the lock:
         * its token is the live one, ours may already be spent */
        if ((rc = bbo_store_load(s->store, &stored)) < 0)
            goto done;
        if (stored && is_dead(s, stored)) {
            bbo_token_free(stored);
            stored = NULL;
        }
        /* our token went to the store when we got it: an empty store means
         * another session logged out, or lost the grant (invalid_grant);
         * refreshing anyway would undo the logout or replay a dead token */
        if (!stored && !f->prefer_memory) {
            rc = bbo__error_set(BBO_EEXPIRED, "logged out: the token store was cleared (a "
                                              "logout, or the grant was revoked); log in again");
            f->store_cleared = true;
            goto done;
        }
        if (stored && !f->prefer_memory && !same_token(stored, f->current)) {
            int64_t now = bbo__client_now(s->client);

            /* just refreshed elsewhere: use it even inside the margin (when
             * tokens live shorter than the margin, refreshing again would
             * gain nothing and spend a refresh per process) */
            if (!bbo_token_is_expired(stored, now, 0)) {
                f->result = stored;
                f->adopted = true;
                stored = NULL;
                goto done;
            }
            bbo_token_free(f->current);
            f->current = stored;
            stored = NULL;
        }
    }
    if (!bbo_token_refresh(f->current)) {
        rc = bbo__error_set(BBO_EEXPIRED, "the access token expired and there is no refresh "
                                          "token: log in again");
        goto done;
    }
    if ((rc = bbo_client_refresh(s->client, f->current, &f->result)) < 0) {
        if (s->store && is_invalid_grant(rc))
            forget_rejected(s->store, f->current);
        goto done;
    }
    /* persist before anyone sees the new token: the old refresh token is dead */
    if (s->store) {
        int save = locked ? bbo_store_save(s->store, f->result) : save_locked(s->store, f->result);

        if (save < 0)
            f->save_error = save;
    }
done:
    bbo_token_free(stored);
    if (locked) {
        bbo_error *kept = f->save_error || rc < 0 ? bbo__error_snapshot() : NULL;

        bbo__store_unlock(s->store);
        if (kept) {
            bbo__error_restore(kept);
            bbo__free(kept);
        }
    }
    return rc;
}

/* Turn invalid_grant into a lasting logout (never retry that token). */
static int log_out_after(bbo_session *s, int rc)
{
    const bbo_error *e = bbo_error_last();
    char oauth[64], description[512];
    int status = bbo_error_http_status(e);

    snprintf(oauth, sizeof(oauth), "%s", bbo_error_oauth_code(e));
    snprintf(description, sizeof(description), "%s",
             bbo_error_description(e) ? bbo_error_description(e) : "");
    bbo__error_set(BBO_EEXPIRED, "logged out: the server rejected the refresh token "
                                 "(invalid_grant%s%.300s); log in again",
                   description[0] ? ": " : "", description);
    bbo__error_set_http_status(status ? status : 400);
    bbo__error_set_oauth(oauth, description[0] ? description : NULL);
    bbo__free(s->logout_error);
    s->logout_error = bbo__error_snapshot();
    replace_token(s, NULL);
    (void)rc;
    return BBO_EEXPIRED;
}

static int not_logged_in(bbo_session *s)
{
    if (s->logout_error)
        return bbo__error_restore(s->logout_error);
    return bbo__error_set(BBO_EEXPIRED, "not logged in: the session has no token");
}

typedef enum need_kind {
    NEED_DUE,      /* refresh if the token is due */
    NEED_FORCE,    /* refresh unless one completed since the call began */
    NEED_REPLACE   /* refresh if the token is still `stale` (it got a 401) */
} need_kind;

/*
 * Make sure the session's token is usable. One thread leads a refresh;
 * the others wait for it and take its outcome. Called and returns with
 * s->lock held (the leader drops it while refreshing).
 */
static int ensure_fresh(bbo_session *s, need_kind kind, const char *stale, int *save_error_out,
                        bool *notify)
{
    uint64_t start = s->generation;
    flight f;
    int rc;

    for (;;) {
        bool need;

        if (!s->token)
            return not_logged_in(s);
        if (kind == NEED_FORCE)
            need = s->generation == start;
        else if (kind == NEED_REPLACE)
            need = strcmp(bbo_token_access(s->token), stale) == 0;
        else
            need = bbo_token_is_expired(s->token, bbo__client_now(s->client), s->margin_s);
        if (!need)
            return BBO_OK;
        if (s->refreshing) {
            uint64_t seen = s->generation;

            while (s->refreshing && s->generation == seen)
                pthread_cond_wait(&s->refreshed, &s->lock);
            if (s->last_rc < 0)
                return s->last_error ? bbo__error_restore(s->last_error)
                                     : bbo__error_set(s->last_rc, "the refresh failed: %s",
                                                      bbo_strerror(s->last_rc));
            if (s->token)
                return BBO_OK; /* the flight we waited for is our result */
            continue;
        }
        break;
    }
    memset(&f, 0, sizeof(f));
    f.prefer_memory = s->save_pending;
    if ((rc = bbo_token_dup(&f.current, s->token)) < 0)
        return rc;
    s->refreshing = true;
    pthread_mutex_unlock(&s->lock);
    rc = fly(s, &f);
    pthread_mutex_lock(&s->lock);
    if (rc == BBO_OK) {
        replace_token(s, f.result);
        f.result = NULL;
        s->save_pending = f.save_error != 0;
        bbo__free(s->last_error);
        s->last_error = NULL;
        *save_error_out = f.save_error;
        *notify = true;
    } else {
        if (is_invalid_grant(rc)) {
            remember_dead(s, f.current);
            rc = log_out_after(s, rc);
        } else if (f.store_cleared) {
            bbo__free(s->logout_error);
            s->logout_error = bbo__error_snapshot();
            replace_token(s, NULL);
        }
        bbo__free(s->last_error);
        s->last_error = bbo__error_snapshot();
    }
    s->last_rc = rc;
    s->generation++;
    s->refreshing = false;
    pthread_cond_broadcast(&s->refreshed);
    bbo_token_free(f.current);
    bbo_token_free(f.result);
    return rc;
}

/* Called with s->lock held and no token: take a token another process
 * stored (the store was cleared when ours was rejected, so whatever is
 * there now is a new login). Load errors leave the session logged out. */
static void adopt_stored_login(bbo_session *s)
{
    bbo_error *kept = bbo__error_snapshot();
    bbo_token *stored = NULL;

    if (bbo_store_load(s->store, &stored) == BBO_OK && stored && !is_dead(s, stored)) {
        replace_token(s, stored);
        stored = NULL;
        bbo__free(s->logout_error);
        s->logout_error = NULL;
        s->save_pending = false;
    }
    bbo_token_free(stored);
    if (kept) {
        bbo__error_restore(kept);
        bbo__free(kept);
    }
}

/*
 * Run ensure_fresh, then the callbacks outside the lock, and optionally
 * copy out the access token. A failed save is reported through the
 * per-thread error while the call succeeds.
 */
static int fresh_token(bbo_session *s, need_kind kind, const char *stale, char **access_out)
{
    callback cbs[MAX_CALLBACKS];
    size_t count = 0;
    bbo_token *snapshot = NULL;
    bbo_error *save_failure = NULL;
    int save_error = 0, rc;
    bool notify = false;

    pthread_mutex_lock(&s->lock);
    /* logged out here, but another process may have logged in since */
    if (!s->token && s->store && !s->refreshing)
        adopt_stored_login(s);
    /* a save that failed earlier is retried before anything else */
    if (s->save_pending && s->store && s->token && !s->refreshing) {
        if ((save_error = save_locked(s->store, s->token)) == BBO_OK)
            s->save_pending = false;
        else
            save_failure = bbo__error_snapshot();
    }
    rc = ensure_fresh(s, kind, stale, &save_error, &notify);
    if (notify) {
        /* the refresh's own save is what counts, not an earlier retry's */
        bbo__free(save_failure);
        save_failure = save_error ? bbo__error_snapshot() : NULL;
    }
    if ((notify || s->notify_pending) && s->token && s->callback_count) {
        /* the callbacks must hear of every token (an app may persist it
         * there): when the copy fails, this call fails and the next tells */
        if (bbo_token_dup(&snapshot, s->token) == BBO_OK) {
            count = s->callback_count;
            memcpy(cbs, s->callbacks, count * sizeof(callback));
            s->notify_pending = false;
        } else {
            s->notify_pending = true;
            rc = BBO_ENOMEM;
        }
    }
    if (rc == BBO_OK && access_out && (*access_out = bbo__strdup(bbo_token_access(s->token))) == NULL)
        rc = bbo__error_oom();
    pthread_mutex_unlock(&s->lock);
    if (snapshot)
        run_callbacks(cbs, count, snapshot, save_error);
    bbo_token_free(snapshot);
    if (save_failure) {
        if (rc == BBO_OK)
            bbo__error_restore(save_failure);
        bbo__free(save_failure);
    }
    return rc;
}

/* ---- public session API ---------------------------------------------- */

/* Let a refresh in flight finish before the token or the store changes
 * under it (called with s->lock held). */
static void wait_for_flight(bbo_session *s)
{
    while (s->refreshing)
        pthread_cond_wait(&s->refreshed, &s->lock);
}

int bbo_session_new(bbo_session **out, bbo_client *client, bbo_token *initial)
{
    bbo_session *s;

    if (!out || !client) {
        bbo_token_free(initial);
        return bbo__error_set(BBO_EINVAL, "bbo_session_new: NULL argument");
    }
    if ((s = bbo__calloc(1, sizeof(*s))) == NULL) {
        bbo_token_free(initial);
        return bbo__error_oom();
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        bbo__free(s);
        bbo_token_free(initial);
        return bbo__error_set(BBO_ENOMEM, "cannot create a mutex");
    }
    if (pthread_cond_init(&s->refreshed, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        bbo__free(s);
        bbo_token_free(initial);
        return bbo__error_set(BBO_ENOMEM, "cannot create a condition variable");
    }
    s->client = client;
    s->token = initial;
    s->margin_s = DEFAULT_MARGIN_S;
    *out = s;
    return BBO_OK;
}

int bbo_session_set_store(bbo_session *s, bbo_store *store)
{
    bbo_token *stored = NULL;
    int rc;

    if (!s || !store) {
        bbo_store_free(store);
        return bbo__error_set(BBO_EINVAL, "bbo_session_set_store: NULL argument");
    }
    pthread_mutex_lock(&s->lock);
    wait_for_flight(s);
    bbo_store_free(s->store);
    s->store = store;
    rc = bbo_store_load(store, &stored);
    if (rc == BBO_OK && stored && !is_dead(s, stored) && is_newer(stored, s->token)) {
        replace_token(s, stored);
        stored = NULL;
        bbo__free(s->logout_error);
        s->logout_error = NULL;
        s->save_pending = false;
    } else if (rc == BBO_OK && s->token) {
        /* ours is newer (or nothing was stored): the store must have it */
        if ((rc = save_locked(store, s->token)) < 0)
            s->save_pending = true;
    }
    pthread_mutex_unlock(&s->lock);
    bbo_token_free(stored);
    return rc;
}

int bbo_session_on_token(bbo_session *s, bbo_token_cb cb, void *payload)
{
    int rc = BBO_OK;

    if (!s || !cb)
        return bbo__error_set(BBO_EINVAL, "bbo_session_on_token: NULL argument");
    pthread_mutex_lock(&s->lock);
    if (s->callback_count == MAX_CALLBACKS) {
        rc = bbo__error_set(BBO_EINVAL, "bbo_session_on_token: at most %d callbacks",
                            MAX_CALLBACKS);
    } else {
        s->callbacks[s->callback_count].cb = cb;
        s->callbacks[s->callback_count].payload = payload;
        s->callback_count++;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int bbo_session_set_refresh_margin(bbo_session *s, int64_t seconds)
{
    if (!s || seconds < 0 || seconds > 86400)
        return bbo__error_set(BBO_EINVAL, "bbo_session_set_refresh_margin: 0 to 86400 seconds");
    pthread_mutex_lock(&s->lock);
    s->margin_s = seconds;
    pthread_mutex_unlock(&s->lock);
    return BBO_OK;
}

int bbo_session_access_token(bbo_session *s, char **out)
{
    if (!s || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_session_access_token: NULL argument");
    return fresh_token(s, NEED_DUE, NULL, out);
}

int bbo_session_refresh(bbo_session *s)
{
    if (!s)
        return bbo__error_set(BBO_EINVAL, "bbo_session_refresh: NULL argument");
    return fresh_token(s, NEED_FORCE, NULL, NULL);
}

int bbo_session_token(bbo_session *s, bbo_token **out)
{
    int rc;

    if (!s || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_session_token: NULL argument");
    pthread_mutex_lock(&s->lock);
    rc = s->token ? bbo_token_dup(out, s->token) : not_logged_in(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int bbo_session_set_token(bbo_session *s, bbo_token *token)
{
    int rc = BBO_OK;

    if (!s || !token) {
        bbo_token_free(token);
        return bbo__error_set(BBO_EINVAL, "bbo_session_set_token: NULL argument");
    }
    pthread_mutex_lock(&s->lock);
    wait_for_flight(s);
    replace_token(s, token);
    bbo__free(s->logout_error);
    s->logout_error = NULL;
    s->save_pending = false;
    if (s->store && (rc = save_locked(s->store, token)) < 0) {
        s->save_pending = true;
        rc = BBO_OK; /* kept in memory; bbo_error_last tells the save error */
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int bbo_session_logout(bbo_session *s)
{
    int rc = BBO_OK;

    if (!s)
        return bbo__error_set(BBO_EINVAL, "bbo_session_logout: NULL argument");
    pthread_mutex_lock(&s->lock);
    wait_for_flight(s);
    remember_dead(s, s->token); /* in case the store cannot forget it */
    replace_token(s, NULL);
    s->save_pending = false;
    if (s->store) {
        if ((rc = bbo__store_lock(s->store)) == BBO_OK) {
            rc = bbo_store_clear(s->store);
            bbo__store_unlock(s->store);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void bbo_session_free(bbo_session *s)
{
    if (!s)
        return;
    bbo_token_free(s->token);
    bbo_store_free(s->store);
    bbo__free(s->last_error);
    bbo__free(s->logout_error);
    pthread_cond_destroy(&s->refreshed);
    pthread_mutex_destroy(&s->lock);
    bbo__free(s);
}

/* ---- API calls ---------------------------------------------------------- */

/* The absolute URL for `path_or_url`, refusing any other origin. */
static int resolve_url(bbo_session *s, const char *path_or_url, bbo_buf *url)
{
    const char *base = bbo_consumer_api_base_url(bbo_client_consumer(s->client));
    bbo_url want = { NULL, NULL, 0, NULL, NULL }, got = { NULL, NULL, 0, NULL, NULL };
    size_t i;
    int rc;

    for (i = 0; path_or_url[i]; i++)
        if ((unsigned char)path_or_url[i] <= 0x20 || path_or_url[i] == 0x7f)
            return bbo__error_set(BBO_EINVAL, "API path has a blank or control character");
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

/* A 403 explained by the scope headers Bitbucket sends. */
static int scope_error(const bbo_http_response *resp)
{
    const char *granted_text = bbo_http_response_header(resp, "X-OAuth-Scopes");
    const char *accepted_text = bbo_http_response_header(resp, "X-Accepted-OAuth-Scopes");
    bbo_scopes *granted = NULL, *accepted = NULL, *missing = NULL;
    char *missing_text = NULL;
    int rc = BBO_OK;

    if (!accepted_text)
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

int bbo_session_request(bbo_session *s, const char *method, const char *path_or_url,
                        const char *body, size_t body_len, bbo_response **out)
{
    bbo_buf url = BBO_BUF_INIT;
    bbo_http_response *resp = NULL;
    bbo_response *wrapped = NULL;
    char *access = NULL;
    int rc, attempt, status = 0;

    if (!s || !method || !path_or_url || !out || (!body && body_len))
        return bbo__error_set(BBO_EINVAL, "bbo_session_request: NULL argument");
    if ((rc = resolve_url(s, path_or_url, &url)) < 0 || (rc = bbo_http_response_new(&resp)) < 0)
        goto done;
    for (attempt = 0; attempt < 2; attempt++) {
        if (attempt == 1) {
            /* a 401: refresh (unless another thread already did) and retry once */
            if ((rc = fresh_token(s, NEED_REPLACE, access, NULL)) < 0)
                goto done;
        }
        bbo__free_str(&access);
        if ((rc = fresh_token(s, NEED_DUE, NULL, &access)) < 0 ||
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
    return rc;
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

void bbo_response_free(bbo_response *resp)
{
    if (!resp)
        return;
    bbo_http_response_free(resp->http);
    bbo__free(resp);
}
