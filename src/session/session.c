/*
 * Sessions: lifecycle, the login state and its transitions, settings,
 * token callbacks, logout. Refreshing is in refresh.c, the store in
 * store_sync.c, API calls in api.c.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/session.h"
#include "internal/token.h"

#include <stdio.h>

#define DEFAULT_MARGIN_S 60

/* ---- the login state ---------------------------------------------------- */

static void note_newest(bbo_session *s, const bbo_token *token)
{
    if (bbo_token_obtained_at(token) > s->newest_obtained ||
        (bbo_token_obtained_at(token) == s->newest_obtained &&
         bbo_token_expires_at(token) > s->newest_expires)) {
        s->newest_obtained = bbo_token_obtained_at(token);
        s->newest_expires = bbo_token_expires_at(token);
    }
}

BBO__HOT
void bbo__session_log_in(bbo_session *s, bbo_token *token)
{
    if (token != s->token)
        bbo_token_free(s->token);
    s->token = token;
    s->state = BBO__LOGGED_IN;
    s->has_logout_error = false;
    note_newest(s, token);
}

void bbo__session_log_out(bbo_session *s, const bbo_error *why)
{
    bbo_token_free(s->token);
    s->token = NULL;
    s->state = BBO__LOGGED_OUT;
    s->save_pending = false;
    if ((s->has_logout_error = why != NULL))
        s->logout_error = *why;
}

int bbo__session_revoke(bbo_session *s, const bbo_token *rejected)
{
    const bbo_error *e = bbo_error_last();
    char oauth[64], description[512];
    int status = bbo_error_http_status(e);

    snprintf(oauth, sizeof(oauth), "%s",
             bbo_error_oauth_code(e) ? bbo_error_oauth_code(e) : "invalid_grant");
    snprintf(description, sizeof(description), "%s",
             bbo_error_description(e) ? bbo_error_description(e) : "");
    bbo__error_set(BBO_EEXPIRED, "logged out: the server rejected the refresh token "
                                 "(invalid_grant%s%.300s); log in again",
                   description[0] ? ": " : "", description);
    bbo__error_set_http_status(status ? status : 400);
    bbo__error_set_oauth(oauth, description[0] ? description : NULL);
    bbo__sync_remember_dead(s, rejected);
    bbo__session_log_out(s, bbo_error_last());
    s->state = BBO__REVOKED;
    return BBO_EEXPIRED;
}

int bbo__session_not_logged_in(const bbo_session *s)
{
    if (s->has_logout_error)
        return bbo__error_restore(&s->logout_error);
    return bbo__error_set(BBO_EEXPIRED, "not logged in: the session has no token");
}

bool bbo__session_is_stale(const bbo_session *s, const bbo_token *token)
{
    int64_t obtained = bbo_token_obtained_at(token);

    return obtained < s->newest_obtained ||
           (obtained == s->newest_obtained && bbo_token_expires_at(token) < s->newest_expires);
}

void bbo__session_wait_for_flight(bbo_session *s)
{
    while (s->refreshing)
        pthread_cond_wait(&s->refreshed, &s->lock);
}

BBO__HOT
int bbo__session_result(int rc, const bbo_error *kept)
{
    if (rc == BBO_OK) {
        bbo__error_restore(kept);
        return BBO_OK;
    }
    if (bbo__error_current() != rc)
        bbo__error_set(rc, "%s", bbo_strerror(rc));
    return rc;
}

/* ---- token callbacks ---------------------------------------------------- */

BBO__HOT
int bbo__session_take_callbacks(bbo_session *s, bool fresh, bbo__notice *n)
{
    n->count = 0;
    n->token = NULL;
    n->save_error = s->save_error;
    if ((!fresh && !s->notify_pending) || s->state != BBO__LOGGED_IN || !s->callback_count)
        return BBO_OK;
    /* the callbacks must hear of every token (an app may persist it there) */
    if (bbo_token_dup(&n->token, s->token) < 0) {
        s->notify_pending = true;
        return BBO_ENOMEM;
    }
    n->count = s->callback_count;
    memcpy(n->cbs, s->callbacks, n->count * sizeof(n->cbs[0]));
    s->notify_pending = false;
    return BBO_OK;
}

BBO__HOT
void bbo__session_run_callbacks(bbo__notice *n)
{
    size_t i;

    for (i = 0; i < n->count; i++)
        n->cbs[i].cb(n->token, n->save_error, n->cbs[i].payload);
    bbo_token_free(n->token);
    n->token = NULL;
}

/* ---- lifecycle and settings --------------------------------------------- */

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
    s->margin_s = DEFAULT_MARGIN_S;
    s->state = BBO__LOGGED_OUT;
    if (initial)
        bbo__session_log_in(s, initial);
    *out = s;
    return BBO_OK;
}

int bbo_session_set_store(bbo_session *s, bbo_store *store)
{
    bbo_error kept;
    int rc;

    bbo__error_keep(&kept);
    if (!s || !store) {
        bbo__sync_discard(store); /* taken, even on error */
        return bbo__error_set(BBO_EINVAL, "bbo_session_set_store: NULL argument");
    }
    pthread_mutex_lock(&s->lock);
    bbo__session_wait_for_flight(s);
    rc = bbo__sync_set_store(s, store);
    pthread_mutex_unlock(&s->lock);
    return bbo__session_result(rc, &kept);
}

int bbo_session_on_token(bbo_session *s, bbo_token_cb cb, void *payload)
{
    int rc = BBO_OK;

    if (!s || !cb)
        return bbo__error_set(BBO_EINVAL, "bbo_session_on_token: NULL argument");
    pthread_mutex_lock(&s->lock);
    if (s->callback_count == BBO__SESSION_MAX_CALLBACKS) {
        rc = bbo__error_set(BBO_EINVAL, "bbo_session_on_token: at most %d callbacks",
                            BBO__SESSION_MAX_CALLBACKS);
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

/*
 * The common case of bbo_session_access_token: logged in, the token not
 * due, nothing pending (no save or removal to retry, no callback to run, no
 * answer to finish). The full path would then only copy the token: this
 * does that without saving and restoring the thread's error (a large
 * copy). 1: done, 0: take the full path, <0: out of memory.
 */
static int access_token_fast(bbo_session *s, char **out)
{
    const char *access;
    size_t len;
    char *copy;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    /* while a refresh flies, its leader owns answer_pending (written
     * without the lock): the slow path waits for it or serves the token */
    if (s->state == BBO__LOGGED_IN && !s->refreshing && !s->answer_pending &&
        !s->notify_pending &&
        !s->save_pending && !s->forget_pending &&
        !bbo_token_is_expired(s->token, bbo__client_now(s->client),
                              bbo__session_margin(s->margin_s, s->token))) {
        access = bbo_token_access(s->token);
        len = bbo__token_access_len(s->token);
        if ((copy = bbo__malloc(len + 1)) == NULL) {
            rc = bbo__error_oom();
        } else {
            memcpy(copy, access, len + 1);
            *out = copy;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int bbo_session_access_token(bbo_session *s, char **out)
{
    bbo_error kept;
    int rc;

    if (!s || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_session_access_token: NULL argument");
    if ((rc = access_token_fast(s, out)) != 0)
        return rc < 0 ? rc : BBO_OK;
    bbo__error_keep(&kept);
    return bbo__session_result(bbo__session_fresh_token(s, BBO__NEED_DUE, NULL, out), &kept);
}

BBO__HOT
int bbo_session_refresh(bbo_session *s)
{
    bbo_error kept;

    bbo__error_keep(&kept);
    if (!s)
        return bbo__error_set(BBO_EINVAL, "bbo_session_refresh: NULL argument");
    return bbo__session_result(bbo__session_fresh_token(s, BBO__NEED_FORCE, NULL, NULL), &kept);
}

int bbo_session_token(bbo_session *s, bbo_token **out)
{
    int rc;

    if (!s || !out)
        return bbo__error_set(BBO_EINVAL, "bbo_session_token: NULL argument");
    pthread_mutex_lock(&s->lock);
    rc = s->state == BBO__LOGGED_IN ? bbo_token_dup(out, s->token)
                                    : bbo__session_not_logged_in(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int bbo_session_save_error(const bbo_session *s)
{
    bbo_session *mutable_s = (bbo_session *)s;
    int rc;

    if (!s)
        return BBO_EINVAL;
    pthread_mutex_lock(&mutable_s->lock);
    rc = s->save_error;
    pthread_mutex_unlock(&mutable_s->lock);
    return rc;
}

int bbo_session_set_token(bbo_session *s, bbo_token *token)
{
    bbo_error kept;

    bbo__error_keep(&kept);
    if (!s || !token) {
        bbo_token_free(token);
        return bbo__error_set(BBO_EINVAL, "bbo_session_set_token: NULL argument");
    }
    pthread_mutex_lock(&s->lock);
    bbo__session_wait_for_flight(s);
    bbo__session_drop_answer(s); /* an answer for the old grant */
    /* a new login: whatever this session saw before does not count */
    s->newest_obtained = 0;
    s->newest_expires = 0;
    bbo__session_log_in(s, token);
    bbo__sync_save_login(s);
    pthread_mutex_unlock(&s->lock);
    return bbo__session_result(BBO_OK, &kept);
}

int bbo_session_logout(bbo_session *s)
{
    bbo_error kept;
    int rc;

    bbo__error_keep(&kept);
    if (!s)
        return bbo__error_set(BBO_EINVAL, "bbo_session_logout: NULL argument");
    pthread_mutex_lock(&s->lock);
    bbo__session_wait_for_flight(s);
    bbo__session_drop_answer(s);
    bbo__sync_remember_dead(s, s->token); /* in case the store cannot forget it */
    bbo__session_log_out(s, NULL);
    rc = bbo__sync_clear(s);
    pthread_mutex_unlock(&s->lock);
    return bbo__session_result(rc, &kept);
}

void bbo_session_free(bbo_session *s)
{
    bbo_error kept;

    bbo__error_keep(&kept);
    if (!s)
        return;
    bbo__session_flush(s);
    bbo__error_restore(&kept);
    bbo_token_free(s->token);
    bbo__session_drop_answer(s);
    bbo__sync_dispose(s);
    pthread_cond_destroy(&s->refreshed);
    pthread_mutex_destroy(&s->lock);
    bbo__free(s);
}
