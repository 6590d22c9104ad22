/* A separate program built against an installed bboauth through pkg-config:
 * the RFC 7636 appendix B vector and the version, nothing else. */
#include <bboauth.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char *challenge = NULL;
    int ok;

    if (bbo_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &challenge) != BBO_OK)
        return 1;
    ok = strcmp(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") == 0 &&
         strcmp(bbo_version(), BBO_VERSION) == 0;
    bbo_free(challenge);
    printf("installed bboauth %s: %s\n", bbo_version(), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
