/* A program built against an installed libbboauth-pg with pkg-config only. */
#include <bboauth.h>
#include <bboauth/pg.h>
#include <stdio.h>

int main(void)
{
    bbo_pg *pg = NULL;
    bbo_store *store = NULL;
    int rc;

    /* nothing connects before the first store operation */
    if ((rc = bbo_pg_new(&pg, "host=/nonexistent dbname=app", NULL)) != BBO_OK ||
        (rc = bbo_pg_store_new(&store, pg, "grant")) != BBO_OK) {
        fprintf(stderr, "failed: %s\n", bbo_error_message(bbo_error_last()));
        return 1;
    }
    bbo_store_free(store);
    bbo_pg_free(pg);
    printf("bboauth %s with libbboauth-pg\n", bbo_version());
    return 0;
}
