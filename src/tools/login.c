/*
 * bbo login: browser, loopback redirect (or a pasted address), code
 * exchange, tokens and consumer secret saved, one API call to check.
 * SPDX-License-Identifier: MIT
 */
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char login_help[] =
    "usage: bbo login [options]\n"
    "\n"
    "Log in to Bitbucket in the browser and keep the tokens for bbo, scripts and git.\n"
    "\n"
    "  --profile NAME       the login to make or renew (default: $BBO_PROFILE or \"default\")\n"
    "  --key KEY            the OAuth consumer's key (or BBO_CONSUMER_KEY)\n"
    "  --secret-file FILE   read the consumer's secret from FILE (first line); else from\n"
    "                       BBO_CONSUMER_SECRET, else from standard input (asked for, without\n"
    "                       echo, at a terminal). Never on the command line: --secret is refused\n"
    "  --scopes \"A B\"       scopes to ask for (default: the consumer's own)\n"
    "  --bitbucket URL      a Cloud-shaped server: URL/site/oauth2/... and the API at URL/2.0\n"
    "                       (default https://bitbucket.org, API https://api.bitbucket.org/2.0)\n"
    "  --data-center URL    a Bitbucket Data Center server\n"
    "  --no-browser         do not start a browser: open the printed address anywhere, then\n"
    "                       paste the address the browser ends on (for SSH sessions)\n"
    "  --port N             receive the redirect on this local port (e.g. forwarded with ssh -L)\n"
    "  --callback URL       the consumer's callback (default http://127.0.0.1/callback)\n"
    "  --ca-file FILE       trust this CA bundle for this profile (or BBO_CA_FILE)\n"
    "  --git-host HOST      answer git for this host[:port] (default: the server's)\n"
    "  --store KIND         where tokens go: auto (default), keyring, file\n"
    "  --timeout SECONDS    how long to wait for the browser (default 300)\n"
    "  -h, --help           this text\n"
    "\n"
    "Progress goes to standard error, the result to standard output. Exit codes: 0 logged in,\n"
    "2 usage, 3 not logged in, 4 network, 5 denied, 6 scope, 1 anything else.\n";

typedef struct login_opts {
    const char *profile, *key, *secret_file, *scopes, *bitbucket, *data_center, *callback;
    const char *ca_file, *git_host, *store;
    int no_browser;
    long port, timeout_s;
} login_opts;

/* ---- the wait: loopback receiver in a thread, pasted addresses here ---- */

typedef struct waiter {
    bbo_loopback *lb;
    bbo_authorization *auth;
    int timeout_ms;
    char *code;
    int rc;
    char message[512];
    atomic_int done;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;

    w->rc = bbo_loopback_wait(w->lb, w->auth, w->timeout_ms, &w->code);
    if (w->rc < 0)
        snprintf(w->message, sizeof(w->message), "%s", bbo_error_message(bbo_error_last()));
    atomic_store(&w->done, 1);
    return NULL;
}

/* Hand a pasted address to our own receiver, which checks it as it checks
 * a browser's redirect. 1 accepted, 0 refused, -1 not an address. */
static int forward_paste(const char *redirect_uri, int port, const char *line)
{
    const char *query = strchr(line, '?'), *path = strchr(redirect_uri + 7, '/');
    struct sockaddr_in sa;
    char answer[64];
    tool_buf req = { 0 };
    size_t qlen;
    ssize_t n;
    int fd, accepted = 0;

    if (query)
        query++;
    else if (strncmp(line, "code=", 5) == 0 || strstr(line, "&code=") || strstr(line, "error="))
        query = line;
    else
        return -1;
    qlen = strcspn(query, "# \t");
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    tool_buf_puts(&req, "GET ");
    tool_buf_add(&req, path ? path : "/", path ? strcspn(path, "?#") : 1);
    tool_buf_add(&req, "?", 1);
    tool_buf_add(&req, query, qlen);
    tool_buf_puts(&req, " HTTP/1.1\r\nHost: ");
    snprintf(answer, sizeof(answer), "127.0.0.1:%d", port); /* as the redirect_uri names it */
    tool_buf_puts(&req, answer);
    tool_buf_puts(&req, "\r\nConnection: close\r\n\r\n");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, req.ptr, req.len, MSG_NOSIGNAL) == (ssize_t)req.len &&
        (n = recv(fd, answer, sizeof(answer) - 1, MSG_WAITALL)) > 12) {
        answer[n] = 0;
        accepted = strncmp(answer + 8, " 200", 4) == 0;
    }
    close(fd);
    tool_buf_dispose(&req);
    return accepted;
}

static int wait_for_code(bbo_loopback *lb, bbo_authorization *auth, int timeout_ms, int paste,
                         char **code)
{
    waiter w;
    pthread_t thread;
    int eof = !paste;

    memset(&w, 0, sizeof(w));
    w.lb = lb;
    w.auth = auth;
    w.timeout_ms = timeout_ms;
    atomic_init(&w.done, 0);
    if (pthread_create(&thread, NULL, wait_thread, &w) != 0)
        return bbo_error_set(BBO_EIO, "cannot start the redirect receiver");
    while (!eof && !atomic_load(&w.done)) {
        struct pollfd pfd = { 0, POLLIN, 0 };
        char *line;
        int r;

        if (poll(&pfd, 1, 200) <= 0)
            continue;
        if ((line = tool_read_line_fd(0, 8192, &eof)) == NULL)
            continue;
        r = *line ? forward_paste(bbo_loopback_redirect_uri(lb), bbo_loopback_port(lb), line)
                  : 1;
        tool_free_secret(line);
        if (r == 1)
            break; /* accepted (or an empty line): the receiver finishes */
        fprintf(stderr, r < 0 ? "      that is not the address the browser ended on (it "
                                "holds ?code=...&state=...): paste it again\n"
                              : "      that address was not accepted (another login's, or "
                                "damaged): paste it again\n");
    }
    pthread_join(thread, NULL);
    if (w.rc < 0)
        return bbo_error_set(w.rc, w.message);
    *code = w.code;
    return BBO_OK;
}

/* ---- options and the secret ---- */

static int parse(int argc, char **argv, login_opts *o)
{
    const char *v;
    int i, r;

    memset(o, 0, sizeof(*o));
    o->timeout_s = 300;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];

#define OPT(name, field)                                                                       \
    if ((r = tool_option(argc, argv, &i, name, &v)) != 0) {                                   \
        if (r < 0)                                                                             \
            return TOOL_EXIT_USAGE;                                                            \
        o->field = v;                                                                          \
        continue;                                                                              \
    }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(login_help, stdout);
            return -1;
        }
        if (strcmp(a, "--secret") == 0 || strncmp(a, "--secret=", 9) == 0) {
            fprintf(stderr, "bbo login: --secret is refused: a secret on the command line can "
                            "be read by every user of this machine (ps, /proc).\n"
                            "Give it with --secret-file FILE, the BBO_CONSUMER_SECRET "
                            "variable, or on standard input.\n");
            return TOOL_EXIT_USAGE;
        }
        if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = 1;
            continue;
        }
        OPT("--profile", profile)
        OPT("--key", key)
        OPT("--secret-file", secret_file)
        OPT("--scopes", scopes)
        OPT("--bitbucket", bitbucket)
        OPT("--data-center", data_center)
        OPT("--callback", callback)
        OPT("--ca-file", ca_file)
        OPT("--git-host", git_host)
        OPT("--store", store)
        if ((r = tool_int_option(argc, argv, &i, "--port", 1, 65535, &o->port)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            continue;
        }
        if ((r = tool_int_option(argc, argv, &i, "--timeout", 1, 86400, &o->timeout_s)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            continue;
        }
#undef OPT
        if (a[0] == '-')
            return tool_unknown_option("login", a);
        fprintf(stderr, "bbo login: unexpected argument \"%s\" (see bbo login --help)\n", a);
        return TOOL_EXIT_USAGE;
    }
    if (o->bitbucket && o->data_center) {
        fprintf(stderr, "bbo login: --bitbucket and --data-center exclude each other\n");
        return TOOL_EXIT_USAGE;
    }
    if (o->store && strcmp(o->store, "auto") != 0 && strcmp(o->store, "file") != 0 &&
        strcmp(o->store, "keyring") != 0) {
        fprintf(stderr, "bbo login: --store wants auto, keyring or file, not \"%s\"\n",
                o->store);
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

static int check_url(const char *option, const char *url, char *host, size_t host_size)
{
    char scheme[16];

    if (tool_url_host(url, scheme, sizeof(scheme), host, host_size) != 0 ||
        strchr(url + strlen(scheme) + 3, '?')) {
        fprintf(stderr, "bbo login: %s wants an https:// server address, not \"%s\"\n",
                option, url);
        return -1;
    }
    if (strcmp(scheme, "http") == 0 && !tool_is_loopback_host(host)) {
        fprintf(stderr, "bbo login: %s: plain http is only allowed on this machine "
                        "(127.0.0.1); use https://\n", option);
        return -1;
    }
    return 0;
}

/* The server address without a trailing slash. */
static char *base_url(const char *url)
{
    char *s = tool_strdup(url);
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/')
        s[--n] = 0;
    return s;
}

/* Apply the options to the profile (kept settings stay unless overridden). */
static int apply(const login_opts *o, tool_profile *p)
{
    char host[512];
    const char *env_key = getenv("BBO_CONSUMER_KEY");

    if (o->bitbucket) {
        char *b;

        if (check_url("--bitbucket", o->bitbucket, host, sizeof(host)) != 0)
            return -1;
        b = base_url(o->bitbucket);
        tool_set(&p->kind, "cloud");
        tool_set(&p->bitbucket, b);
        tool_set(&p->git_host, host);
        free(b);
    } else if (o->data_center) {
        char *b;

        if (check_url("--data-center", o->data_center, host, sizeof(host)) != 0)
            return -1;
        b = base_url(o->data_center);
        tool_set(&p->kind, "data-center");
        tool_set(&p->bitbucket, b);
        tool_set(&p->git_host, host);
        free(b);
    } else if (!p->bitbucket) {
        tool_set(&p->kind, "cloud");
        tool_set(&p->bitbucket, "https://bitbucket.org");
        tool_set(&p->git_host, "bitbucket.org");
    }
    if (o->git_host) {
        char *url = tool_printf("https://%s", o->git_host), scheme[16];
        int bad = strpbrk(o->git_host, "/?#@ ") != NULL ||
                  tool_url_host(url, scheme, sizeof(scheme), host, sizeof(host)) != 0;

        free(url);
        if (bad) {
            fprintf(stderr, "bbo login: --git-host wants HOST or HOST:PORT, not \"%s\"\n",
                    o->git_host);
            return -1;
        }
        tool_set(&p->git_host, host);
    }
    if (o->key)
        tool_set(&p->key, o->key);
    else if (env_key && *env_key)
        tool_set(&p->key, env_key);
    if (!p->key) {
        fprintf(stderr, "bbo login: no consumer key: give --key KEY or set BBO_CONSUMER_KEY "
                        "(the Key of your OAuth consumer: Bitbucket > Workspace settings > "
                        "OAuth consumers)\n");
        return -1;
    }
    if (o->scopes) {
        bbo_scopes *s = NULL;

        if (bbo_scopes_parse(&s, o->scopes) < 0) {
            fprintf(stderr, "bbo login: --scopes: %s\n", bbo_error_message(bbo_error_last()));
            return -1;
        }
        bbo_scopes_free(s);
        tool_set(&p->scopes, *o->scopes ? o->scopes : NULL);
    }
    if (o->callback)
        tool_set(&p->callback, o->callback);
    if (o->ca_file) {
        char *abs = realpath(o->ca_file, NULL);

        if (!abs) {
            fprintf(stderr, "bbo login: --ca-file %s: %s\n", o->ca_file, strerror(errno));
            return -1;
        }
        tool_set(&p->ca_file, abs);
        free(abs);
    }
    return 0;
}

/* The callback with --port's port. */
static char *callback_with_port(const tool_profile *p, long port)
{
    const char *cb = p->callback ? p->callback : "http://127.0.0.1/callback";
    const char *host, *rest;

    if (!port)
        return tool_strdup(cb);
    if (strncmp(cb, "http://", 7) != 0)
        return NULL;
    host = cb + 7;
    rest = host + strcspn(host, "/");
    if (*host == '[') /* [::1]:port */
        return tool_printf("http://[::1]:%ld%s", port, rest);
    return tool_printf("http://%.*s:%ld%s", (int)strcspn(host, ":/"), host, port, rest);
}

static char *read_secret(const login_opts *o, const tool_profile *p, int key_changed)
{
    char *secret = NULL, *stored = NULL;

    if (o->secret_file) {
        size_t len;

        if ((secret = tool_read_file(o->secret_file, 4096, &len)) == NULL) {
            fprintf(stderr, "bbo login: cannot read --secret-file %s: %s\n", o->secret_file,
                    strerror(errno));
            return NULL;
        }
        secret[strcspn(secret, "\r\n")] = 0;
    } else if (tool_env_secret) {
        secret = tool_strdup(tool_env_secret);
        return secret;
    } else if (!key_changed && tool_secret_load(p, &stored) == 0 && stored) {
        fprintf(stderr, "      using the consumer secret kept from the last login\n");
        return stored;
    } else if (isatty(0)) {
        secret = tool_read_secret_tty("Consumer secret (not shown): ");
    } else {
        int eof;

        secret = tool_read_line_fd(0, 4096, &eof);
    }
    if (!secret || !*secret) {
        tool_free_secret(secret);
        fprintf(stderr, "bbo login: no consumer secret: give --secret-file FILE, set "
                        "BBO_CONSUMER_SECRET, or write it on standard input\n");
        return NULL;
    }
    return secret;
}

/* ---- the store: keyring when asked or available, else the encrypted file ---- */

static void choose_store(const login_opts *o, tool_profile *p)
{
    char why[256] = "";
    const char *want = o->store ? o->store : (p->store ? p->store : "auto");

    if (strcmp(want, "file") == 0) {
        tool_set(&p->store, "file");
        return;
    }
    if (tool_keyring_available(why, sizeof(why))) {
        tool_set(&p->store, "keyring");
        return;
    }
    tool_set(&p->store, "file");
    if (strcmp(want, "keyring") == 0 || tool_keyring_compiled())
        fprintf(stderr, "      notice: the desktop keyring cannot be used (%s): the tokens go "
                        "to an encrypted file instead\n", why);
}

static void store_label(const tool_profile *p, char *buf, size_t size)
{
    char *path = tool_token_path(p);

    if (p->store && strcmp(p->store, "keyring") == 0)
        snprintf(buf, size, "desktop keyring (Secret Service)");
    else
        snprintf(buf, size, "encrypted file %s (AES-256-GCM)", path ? path : "?");
    free(path);
}

/* Keep the secret and the token (taken); the keyring falls back to the
 * file, and the profile, saved last, says where they went. */
static int save_login(tool_profile *p, const char *secret, bbo_client *client, bbo_token *token,
                      bbo_session **out)
{
    bbo_session *s = NULL;
    bbo_store *store = NULL;
    int rc;

    if (tool_secret_save(p, secret) != 0) {
        if (strcmp(p->store, "keyring") != 0) {
            bbo_token_free(token);
            return TOOL_EXIT_FAIL;
        }
        fprintf(stderr, "      notice: the desktop keyring refused the secret (%s): the "
                        "tokens go to an encrypted file instead\n",
                bbo_error_message(bbo_error_last()));
        tool_set(&p->store, "file");
        if (tool_secret_save(p, secret) != 0) {
            bbo_token_free(token);
            return TOOL_EXIT_FAIL;
        }
    }
    if (tool_store_open(p, 1, &store) != 0) {
        bbo_token_free(token);
        return TOOL_EXIT_FAIL;
    }
    if ((rc = bbo_session_new(&s, client, NULL)) < 0) {
        bbo_token_free(token);
        bbo_store_free(store);
        return tool_fail(p->name, "session", rc);
    }
    /* an earlier login's token may be unreadable (a new key file): the
     * new one replaces it whatever it was */
    (void)bbo_session_set_store(s, store);
    bbo_error_clear();
    /* taken; a failed save still answers 0 and leaves its error behind */
    if ((rc = bbo_session_set_token(s, token)) < 0 ||
        (rc = bbo_error_code(bbo_error_last())) < 0) {
        bbo_session_free(s);
        return tool_fail(p->name, "saving the tokens", rc);
    }
    if (tool_profile_save(p) != 0) {
        bbo_session_free(s);
        return TOOL_EXIT_FAIL;
    }
    *out = s;
    return TOOL_EXIT_OK;
}

int bbo_cmd_login(int argc, char **argv)
{
    login_opts o;
    tool_profile p;
    bbo_consumer *consumer = NULL;
    bbo_client *client = NULL;
    bbo_loopback *lb = NULL;
    bbo_authorization *auth = NULL;
    bbo_session *session = NULL;
    bbo_token *token = NULL;
    char *secret = NULL, *code = NULL, *callback = NULL, *user = NULL, *scopes = NULL;
    char *old_key = NULL, *launch = NULL, label[4200], when[32];
    const char *ca, *url;
    int rc, paste;

    if ((rc = parse(argc, argv, &o)) != 0)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if (tool_profile_load(&p, o.profile ? o.profile : tool_default_profile()) < 0)
        return TOOL_EXIT_USAGE; /* absent is fine: a new profile */
    old_key = p.key ? tool_strdup(p.key) : NULL;
    if (apply(&o, &p) != 0) {
        rc = TOOL_EXIT_USAGE;
        goto done;
    }
    if ((callback = callback_with_port(&p, o.port)) == NULL) {
        fprintf(stderr, "bbo login: --port needs an http://127.0.0.1 callback\n");
        rc = TOOL_EXIT_USAGE;
        goto done;
    }
    if ((secret = read_secret(&o, &p, !old_key || strcmp(old_key, p.key) != 0)) == NULL) {
        rc = TOOL_EXIT_USAGE;
        goto done;
    }
    fprintf(stderr, "bbo login: profile %s, %s at %s\n", p.name, tool_profile_kind_label(&p),
            p.bitbucket);
    ca = tool_ca_file(&p);
    if ((rc = tool_consumer_new(&p, secret, &consumer)) < 0 ||
        (rc = bbo_client_new(&client, consumer)) < 0 ||
        (ca && (rc = bbo_client_set_ca(client, ca, NULL)) < 0)) {
        rc = tool_fail(p.name, "setup", rc);
        goto done;
    }
    if ((rc = bbo_loopback_new(&lb, callback)) < 0) {
        rc = tool_fail(p.name, "the local redirect receiver", rc);
        if (o.port)
            fprintf(stderr, "bbo login: is port %ld in use? pick another with --port\n",
                    o.port);
        goto done;
    }
    if ((rc = bbo_authorization_begin_ex(&auth, consumer, bbo_loopback_redirect_uri(lb), 0)) < 0) {
        rc = tool_fail(p.name, "authorization", rc);
        goto done;
    }
    url = bbo_authorization_url(auth);
    paste = o.no_browser;
    if (o.no_browser) {
        /* the person opens it anywhere: the terminal is theirs alone */
        fprintf(stderr, "[1/4] open this address in a browser (on any machine) and grant "
                        "access:\n\n    %s\n\n", url);
    } else if ((rc = bbo_loopback_launch_url(lb, auth, &launch)) < 0) {
        rc = tool_fail(p.name, "authorization", rc);
        goto done;
    } else {
        /* the browser's command line is readable by every local user: it
         * gets a one-time local address, never the state or the challenge */
        fprintf(stderr, "[1/4] log in and grant access in the browser; if none opens, open "
                        "this address on this machine (it works once):\n\n    %s\n\n",
                launch);
        if (bbo_browser_open(launch) < 0) {
            fprintf(stderr, "      no browser could be started (%s); from another machine, "
                            "open this address instead, then paste where the browser ended "
                            "here:\n\n    %s\n\n", bbo_error_message(bbo_error_last()), url);
            paste = 1;
        } else {
            fprintf(stderr, "      (a browser was started for it)\n");
        }
    }
    fprintf(stderr, "[2/4] waiting for the browser to come back to %s\n",
            bbo_loopback_redirect_uri(lb));
    if (paste)
        fprintf(stderr, "      if the browser runs on another machine, paste the address it "
                        "ended on (it starts with %s) here and press Enter:\n",
                bbo_loopback_redirect_uri(lb));
    if ((rc = wait_for_code(lb, auth, (int)o.timeout_s * 1000, paste, &code)) == BBO_ETIMEOUT) {
        fprintf(stderr, "bbo login: no browser came back within %ld s: run `bbo login` again "
                        "(--timeout SECONDS to wait longer; --no-browser to paste the address "
                        "from another machine)\n", o.timeout_s);
        rc = TOOL_EXIT_FAIL;
        goto done;
    } else if (rc < 0) {
        rc = tool_fail(p.name, "login", rc);
        goto done;
    }
    fprintf(stderr, "[3/4] exchanging the authorization code for tokens\n");
    if ((rc = bbo_client_exchange_code(client, auth, code, &token)) < 0) {
        rc = tool_fail(p.name, "code exchange", rc);
        if (rc == TOOL_EXIT_LOGIN)
            rc = TOOL_EXIT_DENIED;
        goto done;
    }
    choose_store(&o, &p);
    tool_set(&p.user, NULL);
    tool_set(&p.logged_in, NULL);
    rc = save_login(&p, secret, client, token, &session);
    token = NULL; /* taken */
    if (rc != TOOL_EXIT_OK)
        goto done;
    tool_rejected_clear(&p);
    store_label(&p, label, sizeof(label));
    fprintf(stderr, "[4/4] checking the login with one API call\n");
    if ((rc = bbo_session_user(session, &user)) < 0) {
        rc = tool_fail(p.name, "the check after the login", rc);
        fprintf(stderr, "bbo login: the tokens were kept (%s); `bbo status --check` repeats "
                        "the check\n", label);
        goto done;
    }
    if (bbo_session_token(session, &token) == 0)
        bbo_scopes_to_string(bbo_token_scopes(token), &scopes);
    tool_set(&p.user, user);
    tool_format_time((int64_t)time(NULL), when, sizeof(when));
    tool_set(&p.logged_in, when);
    if (tool_profile_save(&p) != 0) {
        rc = TOOL_EXIT_FAIL;
        goto done;
    }
    printf("Logged in to %s (%s) as %s.\n", tool_profile_kind_label(&p), p.bitbucket, user);
    printf("  profile:  %s\n", p.name);
    printf("  scopes:   %s\n", scopes && *scopes ? scopes : "(none reported)");
    printf("  tokens:   %s\n", label);
    printf("  git:      git config --global credential.%s://%s.helper bboauth\n",
           strncmp(p.bitbucket, "http://", 7) == 0 ? "http" : "https", p.git_host);
    rc = TOOL_EXIT_OK;
done:
    bbo_free(code);
    bbo_free(launch);
    bbo_free(user);
    bbo_free(scopes);
    bbo_token_free(token);
    bbo_session_free(session);
    bbo_authorization_free(auth);
    bbo_loopback_free(lb);
    bbo_client_free(client);
    bbo_consumer_free(consumer);
    tool_free_secret(secret);
    free(callback);
    free(old_key);
    tool_profile_dispose(&p);
    return rc;
}
