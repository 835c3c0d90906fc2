/* weft/check.h — Check integration: run one test body under many simulated
 * seeds and fail with the line that replays the first failure.
 *
 *   START_TEST(transfers_conserve_money)
 *   {
 *       WEFT_CK_EXPLORE(bank_test, NULL, 1000, NULL);
 *   }
 *   END_TEST
 *
 * The environment steers it, so a failure printed by CI is one command away:
 * WEFT_SEED=<n> runs only that seed, WEFT_SEEDS=<n> changes how many,
 * WEFT_SCHEDULE=<s> replays a (shrunk) schedule, WEFT_STRATEGY=pct:<d> or
 * exhaustive changes the search, WEFT_WORKERS=<n> the virtual workers. The
 * first seed is run twice and the traces compared (a determinism check).
 * Include <check.h> and <weft.h> first; not included by weft.h.
 */
#ifndef WEFT_CHECK_H
#define WEFT_CHECK_H

#include <check.h>
#include <weft.h>

/* fn: the body (a weft_fn run as the root task of each run); arg: its
 * argument; seeds: how many seeds by default; cfg: a const weft_config * for
 * workers and budgets, or NULL (2 virtual workers). */
#define WEFT_CK_EXPLORE(fn, arg, seeds, cfg)                                                               \
    do {                                                                                                   \
        char weft_ck_msg_[4096];                                                                           \
        weft_config weft_ck_cfg_ = {0};                                                                    \
        const weft_config *weft_ck_base_ = (cfg);                                                          \
        if (weft_ck_base_)                                                                                 \
            weft_ck_cfg_ = *weft_ck_base_;                                                                 \
        else                                                                                               \
            weft_ck_cfg_.workers = 2;                                                                      \
        int weft_ck_r_ = weft_check_seeds(&weft_ck_cfg_, (fn), (arg), (seeds), weft_ck_msg_,               \
                                          sizeof weft_ck_msg_);                                            \
        ck_assert_msg(weft_ck_r_ == 0, "%s", weft_ck_msg_);                                                \
    } while (0)

#endif /* WEFT_CHECK_H */
