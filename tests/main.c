/* main.c — the Check runner: every suite of suites.h in one binary, a process
 * per test (Check's fork mode) unless CK_FORK=no (valgrind runs that way).
 * CK_RUN_SUITE / CK_RUN_CASE select a part, as Check documents. */
#include "suites.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = NULL;
#define WEFT_ADD_SUITE(name)                   \
    if (!sr)                                   \
        sr = srunner_create(suite_##name());   \
    else                                       \
        srunner_add_suite(sr, suite_##name());
    WEFT_SUITES(WEFT_ADD_SUITE)
#undef WEFT_ADD_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
