/* hang_guard.h — the suites' one wall-clock bound. It is a hang detector, not
 * a speed check: a test that deadlocks is killed and reported by name instead
 * of holding CI until its own limit. It is set far above the slowest honest
 * run (the 10,000-seed reset test takes under two minutes under TSan on two
 * shared vCPUs), so no sanitizer, valgrind or slow machine comes near it; how
 * fast anything runs is measured in tests/bench, never here. A user may still
 * set CK_DEFAULT_TIMEOUT (or CK_TIMEOUT_MULTIPLIER) as Check documents. */
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
