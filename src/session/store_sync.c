/*
 * Sessions and their store: lock, load, adopt, save, forget dead tokens.
 * The only code of the session that calls bbo_store_* and bbo__store_*.
 *
 * Rules: a token whose refresh token invalid_grant or a logout killed is
 * never adopted (nor sent) again; neither is a token older than the
 * newest this session held (a rolled-back store); a token newer than the
 * session's is adopted; a save the store refuses because it holds a later
 * token (BBO_ECONFLICT) hands that token over instead.
 * SPDX-License-Identifier: MIT
 */
#include "internal/common.h"
#include "internal/client.h"
#include "internal/session.h"
#include "internal/store.h"

/* ---- token bookkeeping ---------------------------------------------- */

void bbo__sync_remember_dead(bbo_session *s, const bbo_token *token)
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

/* A stored token this session must never take. */
static bool is_unusable(const bbo_session *s, const bbo_token *token)
{
    return is_dead(s, token) || bbo__session_is_stale(s, token);
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

/* Unlock without touching the thread's error (it tells the caller's outcome). */
static void unlock_store(bbo_session *s)
{
    bbo_error kept;

    bbo__error_keep(&kept);
    bbo__store_unlock(s->store);
    bbo__error_restore(&kept);
}

/*
 * Save `token` (taking the store's lock unless `locked`). When the store
 * holds a later token (BBO_ECONFLICT), that one is loaded into *later and
 * the save counts as done. Returns the save's code (error set).
 */
static int save(bbo_session *s, const bbo_token *token, bool locked, bbo_token **later)
{
    bbo_token *stored = NULL;
    int rc;

    *later = NULL;
    if (!locked && (rc = bbo__store_lock(s->store)) < 0)
        return rc;
    rc = bbo_store_save(s->store, token);
    if (rc == BBO_ECONFLICT) {
        int load = bbo_store_load(s->store, &stored);

        if (load < 0)
            rc = load;
        else if (stored && !is_unusable(s, stored) && is_newer(stored, token)) {
            *later = stored;
            stored = NULL;
            rc = BBO_OK;
        }
    }
    bbo_token_free(stored);
    if (!locked)
        unlock_store(s);
    return rc;
}

/* Save the session's token, adopting a later one the store holds
 * (with s->lock held). */
static void save_current(bbo_session *s)
{
    bbo_token *later = NULL;

    s->save_error = save(s, s->token, false, &later);
    s->save_pending = s->save_error < 0;
    if (later) {
        bbo__session_log_in(s, later);
        s->notify_pending = true;
    }
}

/* ---- around a refresh (the leader, outside s->lock) ------------------ */

BBO__HOT
int bbo__sync_begin(bbo_session *s, bbo__flight *f)
{
    bbo_token *stored = NULL;
    bool ignored = false;
    int rc;

    if (!s->store || !bbo__store_can_lock(s->store))
        return BBO_OK;
    if (f->may_skip && bbo__store_can_try_lock(s->store)) {
        /* due but still valid: if another worker is refreshing, keep
         * serving this token rather than wait for it */
        if ((rc = bbo__store_try_lock(s->store)) == BBO_EBUSY) {
            f->skipped = true;
            return BBO_OK;
        }
    } else {
        rc = bbo__store_lock(s->store);
    }
    if (rc < 0)
        return rc;
    f->locked = true;
    /* our token is newer than the store's (a save to retry, an answer to
     * finish): nothing there to take */
    if (f->prefer_memory)
        return BBO_OK;
    /* another process may have refreshed while we waited for the lock:
     * its token is the live one, ours may already be spent */
    if ((rc = bbo_store_load(s->store, &stored)) < 0)
        return rc;
    f->store_known = true;
    if (stored && is_unusable(s, stored)) {
        bbo_token_free(stored);
        stored = NULL;
        ignored = true;
    }
    /* our token went to the store when we got it: an empty store means
     * another session logged out, or lost the grant (invalid_grant);
     * refreshing anyway would undo the logout or replay a dead token */
    if (!stored && !ignored) {
        f->store_cleared = true;
        return bbo__error_set(BBO_EEXPIRED, "logged out: the token store was cleared (a "
                                            "logout, or the grant was revoked); log in again");
    }
    if (stored && !same_token(stored, f->current)) {
        /* just refreshed elsewhere: use it even inside the margin (when
         * tokens live shorter than the margin, refreshing again would
         * gain nothing and spend a refresh per process) */
        if (!bbo_token_is_expired(stored, bbo__client_now(s->client), 0)) {
            f->result = stored;
            f->adopted = true;
            return BBO_OK;
        }
        bbo_token_free(f->current);
        f->current = stored;
        stored = NULL;
    }
    bbo_token_free(stored);
    return BBO_OK;
}

BBO__HOT
void bbo__sync_save_result(bbo_session *s, bbo__flight *f)
{
    bbo_token *later = NULL;

    if (!s->store)
        return;
    f->save_error = save(s, f->result, f->locked, &later);
    if (later) {
        bbo_token_free(f->result);
        f->result = later;
    }
}

/* Take a dead token out of the store (locking it unless `locked`):
 * load, compare, clear. 0 when the store no longer holds it. */
static int forget_dead(bbo_session *s, bool locked)
{
    bbo_token *stored = NULL;
    int rc;

    if (!locked && (rc = bbo__store_lock(s->store)) < 0)
        return rc;
    if ((rc = bbo_store_load(s->store, &stored)) == BBO_OK && stored && is_dead(s, stored))
        rc = bbo__store_clear(s->store);
    bbo_token_free(stored);
    if (!locked)
        unlock_store(s);
    return rc;
}

void bbo__sync_forget(bbo_session *s, bbo__flight *f)
{
    bbo_error kept;
    int rc;

    bbo__error_keep(&kept); /* the invalid_grant, for the caller */
    if (!s->store)
        return;
    /* read under this very lock: the store holds the rejected token (or a
     * token we refused to use), so clearing needs no allocation */
    if (f->locked && f->store_known)
        rc = bbo__store_clear(s->store);
    else
        rc = forget_dead(s, f->locked);
    s->forget_pending = rc < 0;
    bbo__error_restore(&kept);
}

BBO__HOT
void bbo__sync_end(bbo_session *s, bbo__flight *f)
{
    if (f->locked) {
        unlock_store(s);
        f->locked = false;
    }
}

/* ---- between refreshes (with s->lock held) ----------------------------- */

void bbo__sync_retry(bbo_session *s)
{
    if (s->forget_pending && s->has_dead_refresh)
        s->forget_pending = forget_dead(s, false) < 0;
    if (s->save_pending && s->state == BBO__LOGGED_IN)
        save_current(s);
}

void bbo__sync_adopt_login(bbo_session *s)
{
    bbo_token *stored = NULL;

    if (bbo_store_load(s->store, &stored) == BBO_OK && stored && !is_unusable(s, stored)) {
        bbo__session_log_in(s, stored);
        stored = NULL;
        s->save_pending = false;
        s->save_error = 0;
    } else if (stored && is_dead(s, stored)) {
        s->forget_pending = true; /* the next call takes it out */
    }
    bbo_token_free(stored);
}

int bbo__sync_set_store(bbo_session *s, bbo_store *store)
{
    bbo_token *stored = NULL;
    int rc;

    bbo_store_free(s->store);
    s->store = store;
    s->forget_pending = false;
    s->save_pending = false;
    rc = bbo_store_load(store, &stored);
    if (rc == BBO_OK && stored && !is_unusable(s, stored) &&
        (s->state != BBO__LOGGED_IN || is_newer(stored, s->token))) {
        bbo__session_log_in(s, stored);
        stored = NULL;
        s->save_error = 0;
    } else if (rc == BBO_OK && s->state == BBO__LOGGED_IN) {
        /* ours is newer (or nothing usable was stored): the store must have it */
        save_current(s);
        rc = s->save_error;
    } else if (stored && is_dead(s, stored)) {
        s->forget_pending = true; /* the next call takes it out */
    }
    bbo_token_free(stored);
    return rc;
}

void bbo__sync_save_login(bbo_session *s)
{
    s->save_pending = false;
    s->save_error = 0;
    if (s->store)
        save_current(s);
}

int bbo__sync_clear(bbo_session *s)
{
    int rc;

    s->forget_pending = false;
    if (!s->store)
        return BBO_OK;
    if ((rc = bbo__store_lock(s->store)) == BBO_OK) {
        rc = bbo__store_clear(s->store);
        unlock_store(s);
    }
    /* the token was remembered dead: later calls (and bbo_session_free)
     * take it out when it is still there */
    s->forget_pending = rc < 0 && s->has_dead_refresh;
    return rc;
}

void bbo__sync_discard(bbo_store *store)
{
    bbo_store_free(store);
}

void bbo__sync_dispose(bbo_session *s)
{
    bbo_store_free(s->store);
    s->store = NULL;
}
