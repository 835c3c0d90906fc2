/* main.c — the Check runner: every suite of suites.h in one binary, a process
 * per test (Check's fork mode) unless CK_FORK=no (valgrind runs that way).
 * CK_RUN_SUITE / CK_RUN_CASE select a part, as Check documents. */
#define _POSIX_C_SOURCE 200809L /* setenv, for the hang guard */
#include "suites.h"

#include <stdlib.h>

#include "hang_guard.h"

int main(void)
{
    hang_guard_install();
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
