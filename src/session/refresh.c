/*
 * Sessions: when to refresh, the single flight (one thread refreshes, the
 * others wait for its outcome), and the refresh itself.
 *
 * Once a refresh request has left, the old refresh token may be dead: the
 * answer must become the session's token whatever allocation fails. The
 * answer is read into a response reserved before sending (no allocation
 * while it arrives); if turning it into a token fails for lack of memory,
 * it is kept and finished by the next call before anything else is sent.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/session.h"
#include "internal/token.h"

static bool is_invalid_grant(int rc)
{
    const char *oauth = bbo_error_oauth_code(bbo_error_last());

    return rc == BBO_EOAUTH && oauth && strcmp(oauth, "invalid_grant") == 0;
}

void bbo__session_drop_answer(bbo_session *s)
{
    bbo_http_response_free(s->answer);
    s->answer = NULL;
    s->answer_pending = false;
    bbo_token_free(s->answer_previous);
    s->answer_previous = NULL;
}

static int reserve_answer(bbo_session *s)
{
    return s->answer ? BBO_OK : bbo__client_new_answer(&s->answer);
}

/* Send the refresh for f->current; the answer lands in s->answer. */
static int send_refresh(bbo_session *s, bbo__flight *f)
{
    bbo_http_request *req = NULL;
    int rc;

    if (!bbo_token_refresh(f->current))
        return bbo__error_set(BBO_EEXPIRED, "the access token expired and there is no refresh "
                                            "token: log in again");
    if ((rc = reserve_answer(s)) < 0 ||
        (rc = bbo_grant_refresh_request(&req, bbo_client_consumer(s->client), f->current)) < 0)
        goto done;
    if ((rc = bbo__client_send(s->client, req, s->answer, &s->answer_sent_at)) < 0)
        goto done;
    /* from here on the answer must not be lost */
    s->answer_pending = true;
    s->answer_previous = f->current;
    f->current = NULL;
done:
    bbo_http_request_free(req);
    return rc;
}

/* Turn the pending answer into f->result, checked as the client checks
 * its grants (invalid_scope explained, required scopes): BBO_ESCOPE still
 * gives f->result. Out of memory keeps the answer pending. */
static int finish_answer(bbo_session *s, bbo__flight *f)
{
    int rc = bbo__client_token_answer(s->client, s->answer, s->answer_sent_at,
                                      s->answer_previous, true, &f->result);

    if (rc == BBO_ENOMEM)
        return rc;
    /* f->current is again the token whose refresh token was sent */
    bbo_token_free(f->current);
    f->current = s->answer_previous;
    s->answer_previous = NULL;
    s->answer_pending = false;
    bbo_http_response_reset(s->answer); /* wipes the answer, keeps the room */
    return rc;
}

/* The store could not be locked or read (a database restarting, a lock
 * that stayed held elsewhere) while the token is due but still valid:
 * serve it all the same, keep the store's error for
 * bbo_session_save_error, and let the next call try again. */
static bool serve_through_outage(bbo_session *s, bbo__flight *f, int rc)
{
    if (!f->may_skip || f->store_cleared || !f->current ||
        bbo_token_is_expired(f->current, bbo__client_now(s->client), 0))
        return false;
    f->store_error = rc;
    f->skipped = true;
    return true;
}

/* The refresh: run by the leader outside the session's lock. */
BBO__HOT
static int fly(bbo_session *s, bbo__flight *f)
{
    int rc;

    if ((rc = bbo__sync_begin(s, f)) < 0) {
        if (serve_through_outage(s, f, rc))
            rc = BBO_OK;
        goto done;
    }
    if (f->adopted || f->skipped)
        goto done;
    if (!s->answer_pending && (rc = send_refresh(s, f)) < 0)
        goto done;
    if ((rc = finish_answer(s, f)) < 0 && !f->result) {
        if (is_invalid_grant(rc)) {
            bbo__sync_remember_dead(s, f->current);
            bbo__sync_forget(s, f);
        }
        goto done;
    }
    /* persist before anyone sees the new token: the old refresh token is
     * dead, also when the new one lacks a required scope (BBO_ESCOPE) */
    if (rc == BBO_OK) {
        bbo__sync_save_result(s, f);
    } else {
        bbo_error escope;

        bbo__error_keep(&escope);
        bbo__sync_save_result(s, f);
        bbo__error_restore(&escope);
    }
done:
    bbo__sync_end(s, f);
    return rc;
}

int64_t bbo__session_margin(int64_t margin_s, const bbo_token *token)
{
    int64_t obtained = bbo_token_obtained_at(token);
    int64_t expires = bbo_token_expires_at(token);

    /* a token that lives less than twice the margin would be due before
     * half its life (at once when it lives less than the margin, and
     * every call would refresh): refresh it once, half-way through */
    if (obtained > 0 && expires > obtained && (expires - obtained) / 2 < margin_s)
        return (expires - obtained) / 2;
    return margin_s;
}

/* Is the session's token to be refreshed? (with s->lock held; the answer
 * belongs to the leader while a refresh is in flight) */
static bool is_due(bbo_session *s, bbo__need need, uint64_t start, const char *stale,
                   int64_t *now)
{
    if (!s->refreshing && s->answer_pending)
        return true;
    if (need == BBO__NEED_FORCE)
        return s->generation == start;
    if (need == BBO__NEED_REPLACE)
        return strcmp(bbo_token_access(s->token), stale) == 0;
    *now = bbo__client_now(s->client);
    return bbo_token_is_expired(s->token, *now, bbo__session_margin(s->margin_s, s->token)) != 0;
}

/* Take the leader's outcome (with s->lock held). */
static int land(bbo_session *s, bbo__flight *f, int rc, bool *notify)
{
    /* a token that lacks a required scope is the grant all the same */
    if ((rc == BBO_OK || rc == BBO_ESCOPE) && f->result) {
        bbo__session_log_in(s, f->result);
        f->result = NULL;
        s->save_error = f->save_error;
        s->save_pending = f->save_error != 0;
        *notify = true;
    } else if (rc < 0 && f->current && is_invalid_grant(rc)) {
        rc = bbo__session_revoke(s, f->current);
    } else if (rc < 0 && f->store_cleared) {
        bbo__session_log_out(s, bbo_error_last());
    } else if (rc == BBO_OK && f->store_error) {
        s->save_error = f->store_error; /* the current token was served */
    }
    return rc;
}

/*
 * Make sure the session's token is usable. One thread leads a refresh;
 * the others wait for it and take its outcome. Called and returns with
 * s->lock held (the leader drops it while refreshing).
 */
BBO__HOT
static int ensure_fresh(bbo_session *s, bbo__need need, const char *stale, bool *notify)
{
    uint64_t start = s->generation;
    int64_t now = 0;
    bbo__flight f;
    int rc;

    for (;;) {
        if (s->state != BBO__LOGGED_IN)
            return bbo__session_not_logged_in(s);
        if (!is_due(s, need, start, stale, &now))
            return BBO_OK;
        if (!s->refreshing)
            break;
        {
            uint64_t seen = s->generation;

            while (s->refreshing && s->generation == seen)
                pthread_cond_wait(&s->refreshed, &s->lock);
            if (s->last_rc < 0)
                return bbo__error_restore(&s->last_error);
            if (s->state == BBO__LOGGED_IN)
                return BBO_OK; /* the flight we waited for is our result */
        }
    }
    memset(&f, 0, sizeof(f));
    f.prefer_memory = s->save_pending || s->answer_pending;
    /* due (read the clock once: `now`) but still valid */
    f.may_skip = need == BBO__NEED_DUE && !s->answer_pending &&
                 !bbo_token_is_expired(s->token, now, 0);
    /* the leader's hold on the token, which others may replace meanwhile */
    if (!s->answer_pending)
        f.current = bbo__token_share(s->token);
    s->refreshing = true;
    pthread_mutex_unlock(&s->lock);
    rc = fly(s, &f);
    pthread_mutex_lock(&s->lock);
    rc = land(s, &f, rc, notify);
    s->last_rc = rc;
    if (rc < 0) /* what the threads that waited report (only a failure) */
        s->last_error = *bbo_error_last();
    s->generation++;
    s->refreshing = false;
    pthread_cond_broadcast(&s->refreshed);
    bbo_token_free(f.current);
    bbo_token_free(f.result);
    return rc;
}

BBO__HOT
int bbo__session_fresh_token(bbo_session *s, bbo__need need, const char *stale,
                             char **access_out)
{
    bbo__notice notice;
    bool fresh = false;
    int rc, notify_rc;

    pthread_mutex_lock(&s->lock);
    if (s->store && !s->refreshing) {
        /* a save or the removal of a dead token that failed earlier is
         * retried before anything else */
        bbo__sync_retry(s);
        /* logged out here, but another process may have logged in since */
        if (s->state != BBO__LOGGED_IN)
            bbo__sync_adopt_login(s);
    }
    rc = ensure_fresh(s, need, stale, &fresh);
    if (rc == BBO_ESCOPE) {
        /* the caller must hear of the scopes; the callbacks, if their copy
         * fails, hear of the token on the next call */
        bbo_error escope;

        bbo__error_keep(&escope);
        if (bbo__session_take_callbacks(s, fresh, &notice) < 0)
            bbo__error_restore(&escope);
    } else if ((notify_rc = bbo__session_take_callbacks(s, fresh, &notice)) < 0) {
        rc = notify_rc;
    }
    if (rc == BBO_OK && access_out &&
        (*access_out = bbo__strdup(bbo_token_access(s->token))) == NULL)
        rc = bbo__error_oom();
    pthread_mutex_unlock(&s->lock);
    bbo__session_run_callbacks(&notice);
    return rc;
}

void bbo__session_flush(bbo_session *s)
{
    bool fresh = false;

    pthread_mutex_lock(&s->lock);
    /* an answer that arrived is finished (nothing new is sent), then what
     * the store still lacks is saved or forgotten */
    if (s->answer_pending && s->state == BBO__LOGGED_IN)
        ensure_fresh(s, BBO__NEED_DUE, NULL, &fresh);
    if (s->store)
        bbo__sync_retry(s);
    pthread_mutex_unlock(&s->lock);
}
