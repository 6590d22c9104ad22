// The public headers must be includable from C++.
#include <bboauth.h>
// not in the umbrella header: libbboauth-pg is a library of its own
#include <bboauth/pg.h>

int main()
{
    const char *v = bbo_version();
    bbo_scopes *s = nullptr;
    int rc = bbo_scopes_parse(&s, "account");
    bbo_scopes_free(s);
    return (v[0] == '\0' || rc != BBO_OK) ? 1 : 0;
}
