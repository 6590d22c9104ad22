/*
 * bbo tools: a token store in the desktop keyring (Secret Service through
 * libsecret), built with the meson feature `keyring`.
 * SPDX-License-Identifier: MIT
 *
 * Two items per profile, attributes {profile, kind}: kind "token" holds the
 * token JSON (bbo_token_to_json), kind "consumer-secret" the consumer
 * secret. The keyring has no lock: a lock file in the state folder
 * (flock) keeps processes from refreshing one grant at once.
 */
#include "tool.h"

#include <string.h>

#if defined(BBO_TOOLS_KEYRING)

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <libsecret/secret.h>

static const SecretSchema schema = {
    "org.bboauth.Login", SECRET_SCHEMA_NONE,
    {
        { "profile", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { NULL, 0 },
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

typedef struct keyring_store {
    char profile[TOOL_NAME_MAX + 1];
    char *lock_path;
    int lock_fd;
} keyring_store;

int tool_keyring_compiled(void)
{
    return 1;
}

static int gerror_fail(GError *error, const char *what)
{
    char msg[400];

    snprintf(msg, sizeof(msg), "desktop keyring: %s: %s", what,
             error ? error->message : "failed");
    if (error)
        g_error_free(error);
    return bbo_error_set(BBO_EIO, msg);
}

int tool_keyring_available(char *why, size_t why_size)
{
    GDBusConnection *bus;
    GVariant *reply;
    GError *error = NULL;
    gboolean owned = FALSE;
    const char *address = getenv("DBUS_SESSION_BUS_ADDRESS");

    if (!address || !*address) {
        snprintf(why, why_size, "no desktop session bus (DBUS_SESSION_BUS_ADDRESS is not set)");
        return 0;
    }
    if ((bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error)) == NULL) {
        snprintf(why, why_size, "the session bus cannot be reached: %s", error->message);
        g_error_free(error);
        return 0;
    }
    /* only a keyring already running: activating one can block on a prompt */
    reply = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        g_variant_new("(s)", "org.freedesktop.secrets"),
                                        G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, 5000,
                                        NULL, &error);
    if (reply) {
        g_variant_get(reply, "(b)", &owned);
        g_variant_unref(reply);
    } else {
        g_error_free(error);
    }
    g_object_unref(bus);
    if (!owned)
        snprintf(why, why_size, "no Secret Service (desktop keyring) is running");
    return owned ? 1 : 0;
}

static int item_save(const char *profile, const char *kind, const char *value)
{
    GError *error = NULL;
    char label[128];

    snprintf(label, sizeof(label), "bboauth %s (%s)", kind, profile);
    if (!secret_password_store_sync(&schema, SECRET_COLLECTION_DEFAULT, label, value, NULL,
                                    &error, "profile", profile, "kind", kind, NULL))
        return gerror_fail(error, "cannot save");
    return BBO_OK;
}

static int item_load(const char *profile, const char *kind, char **out)
{
    GError *error = NULL;
    gchar *value;

    *out = NULL;
    value = secret_password_lookup_sync(&schema, NULL, &error, "profile", profile, "kind", kind,
                                        NULL);
    if (error)
        return gerror_fail(error, "cannot read");
    if (value) {
        *out = tool_strdup(value);
        secret_password_free(value); /* wipes */
    }
    return BBO_OK;
}

static int item_clear(const char *profile, const char *kind)
{
    GError *error = NULL;

    secret_password_clear_sync(&schema, NULL, &error, "profile", profile, "kind", kind, NULL);
    if (error)
        return gerror_fail(error, "cannot remove");
    return BBO_OK;
}

static int ks_load(bbo_token **out, void *payload)
{
    keyring_store *ks = payload;
    char *json = NULL;
    int rc;

    *out = NULL;
    if ((rc = item_load(ks->profile, "token", &json)) < 0 || !json)
        return rc;
    rc = bbo_token_parse(out, json, strlen(json), (int64_t)time(NULL));
    tool_free_secret(json);
    return rc;
}

static int ks_save(const bbo_token *token, void *payload)
{
    keyring_store *ks = payload;
    char *json = NULL;
    int rc;

    if ((rc = bbo_token_to_json(token, &json)) < 0)
        return rc;
    rc = item_save(ks->profile, "token", json);
    tool_wipe(json, strlen(json));
    bbo_free(json);
    return rc;
}

static int ks_clear(void *payload)
{
    keyring_store *ks = payload;

    return item_clear(ks->profile, "token");
}

static int ks_lock(void *payload)
{
    keyring_store *ks = payload;

    if ((ks->lock_fd = open(ks->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return bbo_error_set(BBO_EIO, "cannot open the keyring lock file");
    while (flock(ks->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(ks->lock_fd);
            ks->lock_fd = -1;
            return bbo_error_set(BBO_EIO, "cannot lock the keyring lock file");
        }
    }
    return BBO_OK;
}

static int ks_unlock(void *payload)
{
    keyring_store *ks = payload;

    if (ks->lock_fd >= 0) {
        flock(ks->lock_fd, LOCK_UN);
        close(ks->lock_fd);
        ks->lock_fd = -1;
    }
    return BBO_OK;
}

static void ks_destroy(void *payload)
{
    keyring_store *ks = payload;

    ks_unlock(ks);
    free(ks->lock_path);
    free(ks);
}

int tool_keyring_store_new(const tool_profile *p, const char *lock_path, bbo_store **out)
{
    bbo_store_callbacks cb;
    keyring_store *ks = calloc(1, sizeof(*ks));
    int rc;

    if (!ks)
        return -1;
    snprintf(ks->profile, sizeof(ks->profile), "%s", p->name);
    ks->lock_path = tool_strdup(lock_path);
    ks->lock_fd = -1;
    memset(&cb, 0, sizeof(cb));
    cb.version = 1; /* no try_lock */
    cb.load = ks_load;
    cb.save = ks_save;
    cb.clear = ks_clear;
    cb.lock = ks_lock;
    cb.unlock = ks_unlock;
    cb.destroy = ks_destroy;
    cb.payload = ks;
    if ((rc = bbo_store_new(out, &cb)) < 0) {
        ks_destroy(ks);
        tool_fail(p->name, "keyring store", rc);
        return -1;
    }
    return 0;
}

int tool_keyring_secret_load(const tool_profile *p, char **out)
{
    int rc = item_load(p->name, "consumer-secret", out);

    if (rc < 0)
        tool_fail(p->name, "consumer secret", rc);
    return rc < 0 ? -1 : 0;
}

int tool_keyring_secret_save(const tool_profile *p, const char *secret)
{
    return item_save(p->name, "consumer-secret", secret) < 0 ? -1 : 0;
}

int tool_keyring_clear(const tool_profile *p)
{
    int a = item_clear(p->name, "token"), b = item_clear(p->name, "consumer-secret");

    return a < 0 || b < 0 ? -1 : 0;
}

#else /* without libsecret */

int tool_keyring_compiled(void)
{
    return 0;
}

int tool_keyring_available(char *why, size_t why_size)
{
    snprintf(why, why_size, "this bbo was built without keyring support (meson -Dkeyring)");
    return 0;
}

static int not_built(void)
{
    fprintf(stderr, "%s: this profile keeps its tokens in the desktop keyring, but this bbo "
                    "was built without keyring support: run `bbo login --store file`\n",
            tool_prog);
    return -1;
}

int tool_keyring_store_new(const tool_profile *p, const char *lock_path, bbo_store **out)
{
    (void)p, (void)lock_path, (void)out;
    return not_built();
}

int tool_keyring_secret_load(const tool_profile *p, char **out)
{
    (void)p;
    *out = NULL;
    return not_built();
}

int tool_keyring_secret_save(const tool_profile *p, const char *secret)
{
    (void)p, (void)secret;
    return not_built();
}

int tool_keyring_clear(const tool_profile *p)
{
    (void)p;
    return not_built();
}

#endif
