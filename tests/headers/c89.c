/* The public headers must compile as C89 with -pedantic -Werror. */
#include <bboauth.h>
/* not in the umbrella header: libbboauth-pg is a library of its own */
#include <bboauth/pg.h>

int main(void)
{
    const char *v = bbo_version();
    return v[0] == '\0';
}
