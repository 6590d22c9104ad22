/*
 * bboauth: one authorization transaction (RFC 6749 section 4.1, RFC 7636).
 * SPDX-License-Identifier: MIT
 *
 * bbo_authorization_begin makes a fresh `state` (256 bits) and PKCE S256
 * pair from the library's DRBG and builds the URL to send the user to.
 * bbo_authorization_complete checks the redirect that comes back and
 * yields the code, once. The code verifier never leaves the object except
 * in the token request it builds (bbo_grant_authorization_code_request).
 *
 * Thread rules: one transaction belongs to one thread at a time.
 */
#ifndef BBOAUTH_AUTHORIZATION_H
#define BBOAUTH_AUTHORIZATION_H

#include "common.h"

BBO_BEGIN_DECLS

/** Flags for bbo_authorization_begin_ex. */
enum {
    /**
     * Implicit grant (response_type=token): the token comes back in the
     * URL fragment. Discouraged (RFC 9700): the token passes through the
     * browser and cannot be refreshed. Use only where a code exchange is
     * impossible; complete it with bbo_authorization_complete_implicit.
     */
    BBO_AUTHORIZATION_IMPLICIT = 1
};

/**
 * Begin a transaction for the authorization-code grant with PKCE.
 * The URL carries client_id, response_type=code, state, redirect_uri (when
 * the consumer has a callback URL), scope (when it has scopes),
 * code_challenge and code_challenge_method=S256.
 *
 * @param out       receives the transaction; untouched on failure
 * @param consumer  the consumer (copied from; may be freed afterwards)
 * @return 0, or BBO_EINVAL, BBO_ENOMEM, BBO_ECRYPTO (DRBG failure)
 */
BBO_EXTERN int bbo_authorization_begin(bbo_authorization **out, const bbo_consumer *consumer);

/**
 * Like bbo_authorization_begin, with a redirect_uri of this transaction's
 * own (a loopback receiver's ephemeral port: "http://127.0.0.1:53127/cb")
 * and flags.
 *
 * @param redirect_uri  NULL: the consumer's callback URL (if any)
 * @param flags         0 or BBO_AUTHORIZATION_IMPLICIT
 * @return 0, or BBO_EINVAL (bad URL or flags), BBO_ENOMEM, BBO_ECRYPTO
 */
BBO_EXTERN int bbo_authorization_begin_ex(bbo_authorization **out, const bbo_consumer *consumer,
                                          const char *redirect_uri, int flags);

/** The URL to open in the user's browser. */
BBO_EXTERN const char *bbo_authorization_url(const bbo_authorization *auth);

/** The state value (URL-safe, 43 characters). */
BBO_EXTERN const char *bbo_authorization_state(const bbo_authorization *auth);

/** The redirect_uri sent to authorize, or NULL when none was sent. */
BBO_EXTERN const char *bbo_authorization_redirect_uri(const bbo_authorization *auth);

/**
 * Check the redirect the browser came back with and take the code.
 *
 * @param callback  the full redirect URL, or its query ("code=..&state=..",
 *                  with or without "?")
 * @param code_out  receives the code; free with bbo_free
 * @return 0, or
 *         BBO_EINVAL    NULL argument, or an implicit transaction;
 *         BBO_ESTATE    state missing, repeated, different, or the
 *                       transaction was already completed; iss repeated,
 *                       or (when the consumer names its issuer,
 *                       bbo_consumer_set_issuer) iss missing or different
 *                       (RFC 9207); the transaction stays open;
 *         BBO_EDENIED   error=access_denied (the user said no);
 *         BBO_EOAUTH    another error= (see bbo_error_oauth_code and
 *                       bbo_error_description);
 *         BBO_EPROTOCOL code missing, repeated or empty, malformed query;
 *         BBO_ENOMEM
 */
BBO_EXTERN int bbo_authorization_complete(bbo_authorization *auth, const char *callback,
                                          char **code_out);

/**
 * Complete an implicit-grant transaction from the redirect URL whose
 * fragment holds access_token, token_type, expires_in, scope and state.
 *
 * @param now  seconds since the epoch, to turn expires_in into expires_at
 * @return 0, or the codes of bbo_authorization_complete (BBO_EINVAL for a
 *         code-flow transaction)
 */
BBO_EXTERN int bbo_authorization_complete_implicit(bbo_authorization *auth, const char *callback,
                                                   int64_t now, bbo_token **out);

/** Free a transaction, wiping state and verifier. NULL is a no-op. */
BBO_EXTERN void bbo_authorization_free(bbo_authorization *auth);

/**
 * RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding.
 * @param verifier  43 to 128 characters of [A-Za-z0-9-._~]
 * @return 0, or BBO_EINVAL (not a valid verifier), BBO_ENOMEM, BBO_ECRYPTO
 */
BBO_EXTERN int bbo_pkce_challenge(const char *verifier, char **challenge_out);

/**
 * Seal a begun authorization into text a web app may keep in a cookie or
 * its database, so that another request (on another worker or host, or
 * after a restart) can complete the login with bbo_authorization_unseal.
 *
 * The text is base64url (cookie-safe, no padding), at most 1024
 * characters: AES-256-GCM under `key` of a version byte, the seal time,
 * the state, the PKCE verifier, the redirect_uri, the consumer key and
 * whether the flow is implicit. Nothing in it is readable without the key;
 * any change to it makes bbo_authorization_unseal fail. Each call uses a
 * fresh random nonce, so two seals of one authorization differ.
 *
 * The sealed text is a bearer secret for ten minutes: keep it where only
 * the browser that began the login sends it back (an HttpOnly, Secure,
 * SameSite=Lax cookie), and delete it once the callback arrived.
 *
 * @param auth  a transaction from bbo_authorization_begin(_ex) or
 *              bbo_authorization_unseal that was not completed
 * @param key   the app's 32-byte secret key (the same on every worker)
 * @param now   seconds since the epoch (the seal time)
 * @param out   receives the text; free with bbo_free
 * @return 0, or
 *         BBO_EINVAL   NULL argument, a completed transaction, or the text
 *                      would exceed 1024 characters (a redirect_uri or
 *                      consumer key of several hundred characters; the
 *                      message gives their lengths);
 *         BBO_ENOMEM;
 *         BBO_ECRYPTO  the random generator failed
 */
BBO_EXTERN int bbo_authorization_seal(const bbo_authorization *auth, const unsigned char *key,
                                      int64_t now, char **out);

/**
 * Turn a text made by bbo_authorization_seal back into the transaction,
 * ready for bbo_authorization_complete (or _complete_implicit) and
 * bbo_client_exchange_code. Its URL (bbo_authorization_url) is rebuilt
 * from `consumer`. A text can be unsealed more than once: completing one
 * login twice is stopped by Bitbucket (a code is single-use) and by the
 * app deleting the cookie.
 *
 * @param out       receives the transaction; untouched on failure
 * @param consumer  the consumer the login was begun with (same key)
 * @param key       the app's 32-byte key the text was sealed under
 * @param sealed    the text, NUL-terminated
 * @param now       seconds since the epoch
 * @return 0, or
 *         BBO_EINVAL    NULL argument, or the text was sealed for another
 *                       consumer key;
 *         BBO_ECRYPTO   wrong key, or the text was altered, cut short, is
 *                       not base64url, or comes from an unknown version;
 *         BBO_EEXPIRED  sealed more than 600 s before `now`, or more than
 *                       60 s after it (clocks out of step);
 *         BBO_ENOMEM
 */
BBO_EXTERN int bbo_authorization_unseal(bbo_authorization **out, const bbo_consumer *consumer,
                                        const unsigned char *key, const char *sealed,
                                        int64_t now);

BBO_END_DECLS

#endif
