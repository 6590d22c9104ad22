/*
 * git-credential-bboauth: git's credential protocol (git-credential(1))
 * answered from bbo's logins.
 * SPDX-License-Identifier: MIT
 *
 *   git config --global credential.https://bitbucket.org.helper bboauth
 *
 * get        username=x-token-auth, password=<a fresh access token> and
 *            password_expiry_utc, for the profile whose git host matches;
 *            with `capability[]=authtype` from git, also a Bearer credential
 *            marked ephemeral. Never a refresh token, never a browser.
 * store      nothing: bboauth owns its tokens
 * erase      git says the access token was rejected: the next get refreshes
 *            (the grant itself stays)
 * capability what this helper understands
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: git-credential-bboauth [--profile NAME] get|store|erase|capability\n"
    "\n"
    "A git credential helper for the logins of `bbo login`. Configure it with\n"
    "\n"
    "    git config --global credential.https://bitbucket.org.helper bboauth\n"
    "\n"
    "and git gets username x-token-auth and a fresh OAuth access token for the\n"
    "profile whose git host matches the remote (bitbucket.org, a Data Center host,\n"
    "or the host:port of `bbo login --bitbucket URL`). When several profiles match,\n"
    "git's username (https://USER@host/...) picks the one logged in as USER or named\n"
    "USER, else the profile \"default\", else the first by name; --profile NAME fixes\n"
    "it. store does nothing; erase only makes the next get refresh the access token.\n"
    "It never opens a browser: when nothing is logged in it says to run `bbo login`.\n";

typedef struct request {
    char *protocol, *host, *username, *password;
    int authtype;
} request;

static void read_request(request *r)
{
    char line[65536];

    memset(r, 0, sizeof(*r));
    while (fgets(line, sizeof(line), stdin)) {
        char *eq;

        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            break;
        if ((eq = strchr(line, '=')) == NULL)
            continue;
        *eq = 0;
        if (strcmp(line, "protocol") == 0)
            tool_set(&r->protocol, eq + 1);
        else if (strcmp(line, "host") == 0)
            tool_set(&r->host, eq + 1);
        else if (strcmp(line, "username") == 0)
            tool_set(&r->username, eq + 1);
        else if (strcmp(line, "password") == 0) {
            tool_free_secret(r->password);
            r->password = tool_strdup(eq + 1);
        } else if (strcmp(line, "capability[]") == 0 && strcmp(eq + 1, "authtype") == 0)
            r->authtype = 1;
    }
    tool_wipe(line, sizeof(line));
}

static void request_free(request *r)
{
    free(r->protocol);
    free(r->host);
    free(r->username);
    tool_free_secret(r->password);
}

/* git's host in the form profiles keep it: lowercase, without a default port. */
static int normalized_host(const request *r, char *host, size_t size)
{
    char scheme[16], *url;
    int rc;

    if (!r->protocol || !r->host)
        return -1;
    if (strcmp(r->protocol, "https") != 0 && strcmp(r->protocol, "http") != 0)
        return -1;
    url = tool_printf("%s://%s/", r->protocol, r->host);
    rc = tool_url_host(url, scheme, sizeof(scheme), host, size);
    free(url);
    /* a token never travels in clear text, except on this machine */
    if (rc == 0 && strcmp(scheme, "http") == 0 && !tool_is_loopback_host(host))
        return -1;
    return rc;
}

/* The profile for the request: 0 found, 1 none. */
static int find_profile(const request *r, const char *only, tool_profile *out)
{
    char host[512], **names;
    size_t count, i;
    int best = -1, score, best_score = -1;
    const char *user = r->username && strcmp(r->username, "x-token-auth") != 0 ? r->username
                                                                                : NULL;

    if (normalized_host(r, host, sizeof(host)) != 0)
        return 1;
    if (only) {
        names = calloc(1, sizeof(*names));
        names[0] = tool_strdup(only);
        count = 1;
    } else {
        names = tool_profile_names(&count);
    }
    for (i = 0; i < count; i++) {
        tool_profile p;

        if (tool_profile_load(&p, names[i]) != 0) {
            tool_profile_dispose(&p);
            continue;
        }
        if (p.git_host && strcmp(p.git_host, host) == 0) {
            score = 1;
            if (user && ((p.user && strcmp(p.user, user) == 0) || strcmp(p.name, user) == 0))
                score = 3;
            else if (user)
                score = 0; /* another account's */
            else if (strcmp(p.name, "default") == 0)
                score = 2;
            if (score > best_score) {
                best_score = score;
                best = (int)i;
            }
        }
        tool_profile_dispose(&p);
    }
    if (best >= 0 && (best_score > 0 || !user))
        tool_profile_load(out, names[best]);
    else
        best = -1;
    tool_names_free(names, count);
    return best >= 0 ? 0 : 1;
}

static int cmd_get(const char *only)
{
    request r;
    tool_profile p;
    tool_login l;
    bbo_token *token = NULL;
    char *access = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    read_request(&r);
    if (find_profile(&r, only, &p) != 0) {
        request_free(&r);
        return TOOL_EXIT_OK; /* not ours: git asks its other helpers */
    }
    if ((rc = tool_login_open(&p, &l)) != TOOL_EXIT_OK)
        goto done;
    if ((rc = bbo_session_access_token(l.session, &access)) < 0) {
        rc = tool_fail(p.name, "token", rc);
        goto done;
    }
    if (tool_rejected_is(&p, access)) {
        /* git said the server refused this one: get another */
        tool_wipe(access, strlen(access));
        bbo_free(access);
        access = NULL;
        if ((rc = bbo_session_refresh(l.session)) < 0) {
            rc = tool_fail(p.name, "refresh", rc);
            goto done;
        }
        tool_rejected_clear(&p);
    }
    if ((rc = bbo_session_token(l.session, &token)) < 0) {
        rc = tool_fail(p.name, "token", rc);
        goto done;
    }
    if (r.authtype)
        printf("capability[]=authtype\nauthtype=Bearer\ncredential=%s\nephemeral=1\n",
               bbo_token_access(token));
    printf("username=x-token-auth\npassword=%s\n", bbo_token_access(token));
    if (bbo_token_expires_at(token) > 0)
        printf("password_expiry_utc=%lld\n", (long long)bbo_token_expires_at(token));
    fflush(stdout);
    rc = TOOL_EXIT_OK;
done:
    if (access) {
        tool_wipe(access, strlen(access));
        bbo_free(access);
    }
    bbo_token_free(token);
    tool_login_close(&l);
    tool_profile_dispose(&p);
    request_free(&r);
    return rc;
}

static int cmd_erase(const char *only)
{
    request r;
    tool_profile p;

    read_request(&r);
    if (r.password && find_profile(&r, only, &p) == 0) {
        /* only a digest is kept; a get compares it with the current token */
        tool_rejected_mark(&p, r.password);
        tool_profile_dispose(&p);
    }
    request_free(&r);
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *only = NULL, *action = NULL, *v;
    int i, r;

    tool_prog = "git-credential-bboauth";
    /* not needed here (the secret is kept with the tokens): out of sight */
    tool_free_secret(tool_take_env_secret("BBO_CONSUMER_SECRET"));
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return TOOL_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("git-credential-bboauth %s (bboauth %s)\n", BBO_TOOLS_VERSION, bbo_version());
            return TOOL_EXIT_OK;
        }
        if ((r = tool_option(argc, argv, &i, "--profile", &v)) != 0) {
            if (r < 0)
                return TOOL_EXIT_USAGE;
            if (!tool_profile_name_ok(v)) {
                fprintf(stderr, "git-credential-bboauth: \"%s\" is not a profile name\n", v);
                return TOOL_EXIT_USAGE;
            }
            only = v;
        } else if (argv[i][0] == '-') {
            return tool_unknown_option("", argv[i]);
        } else if (action) {
            fprintf(stderr, "git-credential-bboauth: one action only (see --help)\n");
            return TOOL_EXIT_USAGE;
        } else {
            action = argv[i];
        }
    }
    if (!action) {
        fputs(help, stderr);
        return TOOL_EXIT_USAGE;
    }
    if (strcmp(action, "get") == 0)
        return cmd_get(only);
    if (strcmp(action, "erase") == 0)
        return cmd_erase(only);
    if (strcmp(action, "capability") == 0) {
        printf("version 0\ncapability authtype\n");
        return TOOL_EXIT_OK;
    }
    if (strcmp(action, "store") == 0) {
        request req;

        read_request(&req); /* bboauth keeps its own tokens */
        request_free(&req);
    }
    /* git-credential(1): a helper ignores actions it does not know */
    return TOOL_EXIT_OK;
}
