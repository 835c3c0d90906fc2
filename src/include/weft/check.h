/* weft/check.h — Check integration: run one test body under many simulated
 * seeds and, on failure, fail the test with everything needed to understand
 * the bug: the line that replays it, the shrunk schedule and its line, and
 * the timeline of the shrunk run (HTML and Perfetto JSON).
 *
 *   START_TEST(transfers_conserve_money)
 *   {
 *       WEFT_CK_EXPLORE(bank_lost_update_test, NULL, 1000, NULL);
 *   }
 *   END_TEST
 *
 * The environment steers it, so a failure printed by CI is one command away:
 * the printed line starts with WEFT_TEST=<the test's name>, so that its
 * variables (WEFT_SEED, WEFT_SCHEDULE, WEFT_WORKERS, WEFT_STRATEGY, the fault
 * knobs) replay that test and leave the binary's other tests alone.
 * WEFT_SEEDS=<n> changes how many seeds, WEFT_MODE=threaded runs the body once
 * on the real backend, WEFT_TRACE=<dir>/ says where timelines go (else
 * $TMPDIR/weft-<test>.html). Shards, results files and budgets: see
 * weft_check_run in weft/sim.h. The first seed is run twice and the traces
 * compared (a determinism check). One helper per test: its name is the key.
 * Include <check.h> and <weft.h> first; not included by weft.h.
 */
#ifndef WEFT_CHECK_H
#define WEFT_CHECK_H

#include <check.h>
#include <stdlib.h>
#include <weft.h>

/* The running Check test's name (Check 0.11 and later). */
#if CHECK_MAJOR_VERSION > 0 || CHECK_MINOR_VERSION >= 11
#define WEFT_CK_TEST_NAME() tcase_name()
#else
#define WEFT_CK_TEST_NAME() NULL
#endif

/* Shrinking must end well inside the test's own timeout, or Check kills the
 * test and the failure's report is lost with it: half of Check's default
 * timeout (CK_DEFAULT_TIMEOUT, 4 s unless set, times CK_TIMEOUT_MULTIPLIER),
 * at most weft's own 10 s. WEFT_SHRINK_SECONDS overrides it. */
static inline double weft_ck_shrink_seconds_(void)
{
    const char *t = getenv("CK_DEFAULT_TIMEOUT"), *m = getenv("CK_TIMEOUT_MULTIPLIER");
    double timeout = t && *t ? strtod(t, NULL) : 4.0, mult = m && *m ? strtod(m, NULL) : 1.0;
    double half = (timeout > 0 ? timeout : 4.0) * (mult > 0 ? mult : 1.0) / 2;
    return half < 10.0 ? half : 10.0;
}

/* fn: the body (a weft_fn run as the root task of each run); arg: its
 * argument; seeds: how many seeds by default; cfg: a const weft_config * for
 * workers and budgets, or NULL (2 virtual workers). */
#define WEFT_CK_EXPLORE(fn_, arg_, seeds_, cfg_)                                                               \
    do {                                                                                                   \
        char weft_ck_msg_[8192];                                                                           \
        weft_check_opts weft_ck_o_ = {0};                                                                  \
        weft_ck_o_.cfg = (cfg_);                                                                            \
        weft_ck_o_.name = WEFT_CK_TEST_NAME();                                                             \
        weft_ck_o_.seeds = (seeds_);                                                                        \
        weft_ck_o_.shrink_time_s = weft_ck_shrink_seconds_();                                               \
        int weft_ck_r_ = weft_check_run(&weft_ck_o_, (fn_), (arg_), weft_ck_msg_, sizeof weft_ck_msg_);     \
        ck_assert_msg(weft_ck_r_ == 0, "%s", weft_ck_msg_);                                                \
    } while (0)

#endif /* WEFT_CHECK_H */
