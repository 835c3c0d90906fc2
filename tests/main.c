/* main.c — the Check runner: every suite of suites.h in one binary, a process
 * per test (Check's fork mode) unless CK_FORK=no (valgrind runs that way).
 * CK_RUN_SUITE / CK_RUN_CASE select a part, as Check documents; `--list`
 * prints the suites' names, one a line (run_tests.py runs them side by side). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The suite's one bound on a test's wall-clock time, set before any case is
 * made (Check reads it in tcase_create). It is a hang detector, not a speed
 * check: a test that deadlocks is killed and reported by name instead of
 * holding CI until CI's own limit. It sits far above the slowest honest run
 * (under two minutes for the slowest test under TSan on two shared vCPUs,
 * before simulated seeds were capped there), so no sanitizer or slow machine
 * comes near it; speed is measured in tests/bench. Check enforces it in fork
 * mode only (valgrind's CK_FORK=no run has a guard of its own in SConstruct),
 * and a user's own
 * CK_DEFAULT_TIMEOUT wins. The model's runner has no bound: its budgets are
 * counts, and a soak may run for hours. */
#define HANG_GUARD_SECONDS "1800"

static int list_suites(void)
{
#define WEFT_PRINT_SUITE(name) puts(#name);
    WEFT_SUITES(WEFT_PRINT_SUITE)
#undef WEFT_PRINT_SUITE
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0)
        return list_suites();
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--list]   (CK_RUN_SUITE / CK_RUN_CASE select tests)\n", argv[0]);
        return 2;
    }
    setenv("CK_DEFAULT_TIMEOUT", HANG_GUARD_SECONDS, 0);
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
