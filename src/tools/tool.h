/*
 * bbo and git-credential-bboauth: what their source files share.
 * SPDX-License-Identifier: MIT
 *
 * The tools use only bboauth's public API (they link the installed
 * library like any other program). A profile is one login: its plain
 * settings live in $XDG_CONFIG_HOME/bboauth/NAME.conf (never a secret),
 * its tokens and the consumer secret in $XDG_STATE_HOME/bboauth/ (an
 * encrypted file store) or in the desktop keyring.
 */
#ifndef BBO_TOOL_H
#define BBO_TOOL_H

#include <bboauth.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (documented in bbo(1) and git-credential-bboauth(1)). */
enum {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_FAIL = 1,    /* anything else: I/O, the server's answer, HTTP errors */
    TOOL_EXIT_USAGE = 2,   /* bad command line */
    TOOL_EXIT_LOGIN = 3,   /* not logged in, or the login expired or was revoked */
    TOOL_EXIT_NETWORK = 4, /* network, TLS, timeout, rate limit */
    TOOL_EXIT_DENIED = 5,  /* access denied (by the person, or the consumer was refused) */
    TOOL_EXIT_SCOPE = 6    /* the grant lacks a scope the request needs */
};

#define TOOL_NAME_MAX 64

/* A profile's plain settings (every field NULL or a malloc'd string). */
typedef struct tool_profile {
    char name[TOOL_NAME_MAX + 1];
    char *kind;      /* "cloud" or "data-center" */
    char *bitbucket; /* Cloud: https://bitbucket.org or a --bitbucket URL; DC: the server */
    char *key;       /* consumer key (not a secret) */
    char *scopes;    /* scopes asked for, or NULL: the consumer's own */
    char *callback;  /* loopback callback, default http://127.0.0.1/callback */
    char *git_host;  /* host[:port] git credentials are answered for */
    char *ca_file;   /* CA bundle to trust instead of the system's */
    char *store;     /* "file" or "keyring" */
    char *user;      /* who logged in (for status without the network) */
    char *logged_in; /* when, ISO 8601 UTC */
} tool_profile;

/* ---- util.c ---- */
extern const char *tool_prog; /* "bbo" or "git-credential-bboauth", for messages */

void tool_wipe(void *p, size_t n);
void tool_free_secret(char *s);              /* wipe, then free */
char *tool_strdup(const char *s);            /* exits on out of memory */
char *tool_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_set(char **field, const char *value); /* replace a malloc'd string */
int tool_exit_code(int bbo_code);            /* from a bbo_code and bbo_error_last */
/* "PROG: WHAT: message (code)" and a next-step hint on stderr; returns the exit code */
int tool_fail(const char *profile, const char *what, int bbo_code);
void tool_hint(int exit_code, const char *profile);
int tool_parse_int(const char *text, long min, long max, long *out);
char *tool_read_file(const char *path, size_t max, size_t *len_out); /* NULL + errno */
char *tool_read_line_fd(int fd, size_t max, int *eof); /* unbuffered, no newline */
char *tool_read_secret_tty(const char *prompt);         /* no echo; NULL without a tty */
void tool_format_time(int64_t t, char *buf, size_t size); /* ISO 8601 UTC */
int tool_url_host(const char *url, char *scheme, size_t scheme_size, char *host,
                  size_t host_size); /* host[:port] without the default port, lowercase */
int tool_is_loopback_host(const char *hostport);
/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 matched (i advanced),
 * 0 not this option, -1 value missing (message printed) */
int tool_option(int argc, char **argv, int *i, const char *name, const char **value);
/* The same for a number in [min, max] (-1 also for a bad number, message printed). */
int tool_int_option(int argc, char **argv, int *i, const char *name, long min, long max,
                    long *out);
int tool_unknown_option(const char *command, const char *arg); /* prints; usage exit code */
/* A secret from the environment: copied, then wiped and unset there. */
char *tool_take_env_secret(const char *name);
/* BBO_CONSUMER_SECRET, taken out of the environment first thing by main()
 * (so no child, a browser included, inherits it); NULL when unset. */
extern char *tool_env_secret;

/* A growing text buffer; out of memory exits. */
typedef struct tool_buf {
    char *ptr;
    size_t len, cap;
} tool_buf;
void tool_buf_add(tool_buf *b, const char *data, size_t len);
void tool_buf_puts(tool_buf *b, const char *s);
void tool_buf_json_string(tool_buf *b, const char *s); /* quoted and escaped; NULL: null */
void tool_buf_dispose(tool_buf *b);                    /* wipes */

/* Minimal JSON reading: the span of a top-level member's value. */
int tool_json_member(const char *json, size_t len, const char *name, const char **value,
                     size_t *value_len);
/* The elements of an array value, each as a span; calls cb per element. */
int tool_json_array_each(const char *array, size_t len,
                         void (*cb)(const char *elem, size_t elem_len, void *payload),
                         void *payload);
/* The string value of a member (unescaped, malloc'd), or NULL. */
char *tool_json_string_member(const char *json, size_t len, const char *name);

/* ---- profile.c ---- */
int tool_config_dir(char *buf, size_t size);  /* $XDG_CONFIG_HOME/bboauth */
int tool_state_dir(char *buf, size_t size);   /* $XDG_STATE_HOME/bboauth */
int tool_make_private_dir(const char *path);  /* mkdir -p, last level 0700 */
int tool_profile_name_ok(const char *name);
const char *tool_default_profile(void);        /* $BBO_PROFILE or "default" */
int tool_profile_load(tool_profile *p, const char *name); /* 0, 1 absent, -1 error */
int tool_profile_save(const tool_profile *p);
int tool_profile_remove(const char *name);
void tool_profile_dispose(tool_profile *p);
/* Names of every profile, sorted; free with tool_names_free. */
char **tool_profile_names(size_t *count);
void tool_names_free(char **names, size_t count);
const char *tool_profile_kind_label(const tool_profile *p);
/* The API base URL for a profile (malloc'd). */
char *tool_profile_api(const tool_profile *p);

/* ---- store.c ---- */
/* Paths of a profile's state files. */
char *tool_token_path(const tool_profile *p);
char *tool_secret_path(const tool_profile *p);
/* The profile's token store (file or keyring); message printed on failure.
 * create: make the state folder and the key file when missing (bbo login). */
int tool_store_open(const tool_profile *p, int create, bbo_store **out);
/* The stored consumer secret (malloc'd, wipe it) or NULL when none. */
int tool_secret_load(const tool_profile *p, char **out);
int tool_secret_save(const tool_profile *p, const char *secret);
int tool_secret_clear(const tool_profile *p);
/* Consumer for the profile (secret may be NULL: then the stored one). */
int tool_consumer_new(const tool_profile *p, const char *secret, bbo_consumer **out);
/* The CA bundle to use: --ca-file of the profile, else $BBO_CA_FILE. */
const char *tool_ca_file(const tool_profile *p);

/* A profile's login: consumer, client, session over its store. */
typedef struct tool_login {
    bbo_consumer *consumer;
    bbo_client *client;
    bbo_session *session;
} tool_login;
/* Open the profile's session (the consumer secret from the store). Prints
 * the failure and returns an exit code (0 on success). */
int tool_login_open(const tool_profile *p, tool_login *out);
void tool_login_close(tool_login *l);
/* The rejected-token marker of git-credential-bboauth erase. */
int tool_rejected_mark(const tool_profile *p, const char *access);
int tool_rejected_is(const tool_profile *p, const char *access);
void tool_rejected_clear(const tool_profile *p);

/* ---- keyring.c (libsecret; stubs that fail when built without it) ---- */
int tool_keyring_compiled(void);
int tool_keyring_available(char *why, size_t why_size);
int tool_keyring_store_new(const tool_profile *p, const char *lock_path, bbo_store **out);
int tool_keyring_secret_load(const tool_profile *p, char **out);
int tool_keyring_secret_save(const tool_profile *p, const char *secret);
int tool_keyring_clear(const tool_profile *p); /* token and secret */

/* ---- login.c ---- */
int bbo_cmd_login(int argc, char **argv);

#endif
