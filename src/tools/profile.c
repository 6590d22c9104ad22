/*
 * bbo tools: XDG folders and profiles ($XDG_CONFIG_HOME/bboauth/NAME.conf).
 * SPDX-License-Identifier: MIT
 *
 * A profile file holds plain settings only, one "name = value" a line;
 * secrets never go there (they are kept with the tokens: store.c).
 */
#include "tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLOUD_URL "https://bitbucket.org"
#define CLOUD_API "https://api.bitbucket.org/2.0"

static const struct field {
    const char *name;
    size_t offset;
} fields[] = {
    { "kind", offsetof(tool_profile, kind) },
    { "bitbucket", offsetof(tool_profile, bitbucket) },
    { "key", offsetof(tool_profile, key) },
    { "scopes", offsetof(tool_profile, scopes) },
    { "callback", offsetof(tool_profile, callback) },
    { "git_host", offsetof(tool_profile, git_host) },
    { "ca_file", offsetof(tool_profile, ca_file) },
    { "store", offsetof(tool_profile, store) },
    { "user", offsetof(tool_profile, user) },
    { "logged_in", offsetof(tool_profile, logged_in) },
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static char **field_of(tool_profile *p, size_t i)
{
    return (char **)(void *)((char *)p + fields[i].offset);
}

/* $VAR/bboauth, or $HOME/FALLBACK/bboauth. */
static int xdg_dir(const char *var, const char *fallback, char *buf, size_t size)
{
    const char *base = getenv(var), *home = getenv("HOME");
    int n;

    if (base && base[0] == '/')
        n = snprintf(buf, size, "%s/bboauth", base);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/%s/bboauth", home, fallback);
    else
        return -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int tool_config_dir(char *buf, size_t size)
{
    return xdg_dir("XDG_CONFIG_HOME", ".config", buf, size);
}

int tool_state_dir(char *buf, size_t size)
{
    return xdg_dir("XDG_STATE_HOME", ".local/state", buf, size);
}

int tool_make_private_dir(const char *path)
{
    char *copy = tool_strdup(path), *slash;
    struct stat st;
    int rc = 0;

    /* parents as the user's umask wants them, our own folder 0700 */
    for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            rc = -1;
        *slash = '/';
    }
    if (mkdir(copy, 0700) != 0 && errno != EEXIST)
        rc = -1;
    else if (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = -1;
    else if (st.st_uid != getuid())
        rc = -1, errno = EPERM;
    else if ((st.st_mode & 077) != 0 && chmod(copy, 0700) != 0)
        rc = -1;
    else
        rc = 0;
    if (rc != 0)
        fprintf(stderr, "%s: cannot use the folder %s: %s\n", tool_prog, path, strerror(errno));
    free(copy);
    return rc;
}

int tool_profile_name_ok(const char *name)
{
    size_t i, n = name ? strlen(name) : 0;

    if (n == 0 || n > TOOL_NAME_MAX || name[0] == '.' || name[0] == '-')
        return 0;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return 0;
    return 1;
}

const char *tool_default_profile(void)
{
    const char *name = getenv("BBO_PROFILE");

    return name && *name ? name : "default";
}

static char *profile_path(const char *name)
{
    char dir[4096];

    if (tool_config_dir(dir, sizeof(dir)) != 0)
        return NULL;
    return tool_printf("%s/%s.conf", dir, name);
}

void tool_profile_dispose(tool_profile *p)
{
    size_t i;

    for (i = 0; i < FIELD_COUNT; i++) {
        free(*field_of(p, i));
        *field_of(p, i) = NULL;
    }
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

int tool_profile_load(tool_profile *p, const char *name)
{
    char *path, line[4096];
    FILE *f;
    size_t i;

    memset(p, 0, sizeof(*p));
    if (!tool_profile_name_ok(name)) {
        fprintf(stderr, "%s: \"%s\" is not a profile name (letters, digits, '.', '_', '-'; "
                        "at most %d)\n", tool_prog, name ? name : "", TOOL_NAME_MAX);
        return -1;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    if ((path = profile_path(name)) == NULL) {
        fprintf(stderr, "%s: neither XDG_CONFIG_HOME nor HOME is set\n", tool_prog);
        return -1;
    }
    if ((f = fopen(path, "r")) == NULL) {
        int absent = errno == ENOENT;

        if (!absent)
            fprintf(stderr, "%s: cannot read %s: %s\n", tool_prog, path, strerror(errno));
        free(path);
        return absent ? 1 : -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *eq, *k, *v;

        if ((eq = strchr(line, '=')) == NULL || line[0] == '#')
            continue;
        *eq = 0;
        k = trim(line);
        v = trim(eq + 1);
        for (i = 0; i < FIELD_COUNT; i++)
            if (strcmp(k, fields[i].name) == 0)
                tool_set(field_of(p, i), *v ? v : NULL);
    }
    fclose(f);
    free(path);
    if (!p->kind)
        p->kind = tool_strdup("cloud");
    if (!p->store)
        p->store = tool_strdup("file");
    return 0;
}

int tool_profile_save(const tool_profile *p)
{
    char dir[4096], *path = NULL, *tmp = NULL;
    FILE *f = NULL;
    size_t i;
    int fd = -1, rc = -1;

    if (tool_config_dir(dir, sizeof(dir)) != 0 || tool_make_private_dir(dir) != 0)
        goto done;
    path = profile_path(p->name);
    tmp = tool_printf("%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        (f = fdopen(fd, "w")) == NULL)
        goto done;
    fd = -1;
    fprintf(f, "# bboauth profile \"%s\", written by bbo login.\n"
               "# Plain settings only: the tokens and the consumer secret are kept in the\n"
               "# encrypted token store or the desktop keyring (see bbo status).\n", p->name);
    for (i = 0; i < FIELD_COUNT; i++) {
        const char *v = *field_of((tool_profile *)p, i);

        if (v && !strchr(v, '\n'))
            fprintf(f, "%s = %s\n", fields[i].name, v);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        goto done;
    if (fclose(f) != 0) {
        f = NULL;
        goto done;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && path)
        fprintf(stderr, "%s: cannot write %s: %s\n", tool_prog, path, strerror(errno));
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

int tool_profile_remove(const char *name)
{
    char *path = profile_path(name);
    int rc = path && (unlink(path) == 0 || errno == ENOENT) ? 0 : -1;

    free(path);
    return rc;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **tool_profile_names(size_t *count)
{
    char dir[4096], **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *d;
    DIR *dh;

    *count = 0;
    if (tool_config_dir(dir, sizeof(dir)) != 0 || (dh = opendir(dir)) == NULL)
        return NULL;
    while ((d = readdir(dh)) != NULL) {
        size_t len = strlen(d->d_name);
        char name[TOOL_NAME_MAX + 1];

        if (len <= 5 || strcmp(d->d_name + len - 5, ".conf") != 0 || len - 5 > TOOL_NAME_MAX)
            continue;
        memcpy(name, d->d_name, len - 5);
        name[len - 5] = 0;
        if (!tool_profile_name_ok(name))
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof(*names));

            if (!grown) {
                tool_names_free(names, n);
                closedir(dh);
                return NULL;
            }
            names = grown;
        }
        names[n++] = tool_strdup(name);
    }
    closedir(dh);
    if (n)
        qsort(names, n, sizeof(*names), compare_names);
    *count = n;
    return names;
}

void tool_names_free(char **names, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

const char *tool_profile_kind_label(const tool_profile *p)
{
    return p->kind && strcmp(p->kind, "data-center") == 0 ? "Bitbucket Data Center"
                                                           : "Bitbucket Cloud";
}

char *tool_profile_api(const tool_profile *p)
{
    if (p->kind && strcmp(p->kind, "data-center") == 0)
        return tool_printf("%s/rest/api/latest", p->bitbucket ? p->bitbucket : "");
    if (!p->bitbucket || strcmp(p->bitbucket, CLOUD_URL) == 0)
        return tool_strdup(CLOUD_API);
    return tool_printf("%s/2.0", p->bitbucket);
}
