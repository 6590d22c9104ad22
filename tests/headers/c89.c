/* The public headers must compile as C89 with -pedantic -Werror. */
#include <bboauth.h>

int main(void)
{
    const char *v = bbo_version();
    return v[0] == '\0';
}
