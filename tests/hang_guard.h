/* hang_guard.h — the Check suite's one bound on a test's wall-clock time. It
 * is a hang detector, not a speed check: a test that deadlocks is killed and
 * reported by name instead of holding CI until CI's own limit. It sits far
 * above the slowest honest run (under two minutes for the slowest test under
 * TSan on two shared vCPUs, before simulated seeds were capped there), so no
 * sanitizer or slow machine comes near it; how fast anything runs is measured
 * in tests/bench, never here. Check enforces it in fork mode only (valgrind's
 * CK_FORK=no run has none). A user's CK_DEFAULT_TIMEOUT (or
 * CK_TIMEOUT_MULTIPLIER) still wins, as Check documents. The model's runner
 * has no bound at all: its budgets are counts, and a soak may run for hours.
 *
 * setenv is POSIX: the including file defines _POSIX_C_SOURCE (or
 * _GNU_SOURCE) before its first system header. */
#ifndef WEFT_TEST_HANG_GUARD_H
#define WEFT_TEST_HANG_GUARD_H

#include <stdlib.h>

#define WEFT_TEST_HANG_GUARD_SECONDS "1800"

/* Call before any tcase_create: Check reads the default there. */
static inline void hang_guard_install(void)
{
    setenv("CK_DEFAULT_TIMEOUT", WEFT_TEST_HANG_GUARD_SECONDS, 0);
}

#endif
