/* harness.h — what the model's tests share: running a test body (the root of
 * a simulated run that opens a model session) under the random and PCT
 * strategies and the bounded exhaustive search, with a line per strategy
 * saying how many executions ran and whether the space was exhausted. */
#ifndef WEFT_MODEL_HARNESS_H
#define WEFT_MODEL_HARNESS_H

#include "../../sim/model.h"

#include <check.h>

/* Seeds per strategy: the floor. WEFT_MODEL_SEEDS overrides it (for
 * a longer soak; never lower in CI). */
#define MODEL_SEEDS 10000u

typedef struct model_budget {
    uint64_t seeds;          /* random and PCT each; 0: MODEL_SEEDS */
    uint64_t max_schedules;  /* exhaustive; 0: no exhaustive run (the space does not fit) */
} model_budget;

/* Run body under every strategy of budget; fail the Check test with the
 * replay line on the first failing run. */
void model_explore(const char *name, weft_fn body, void *arg, model_budget budget);

/* Run body with `strategy` until it fails, at most `limit` runs (seeds, or
 * schedules for the exhaustive search with preemption bound 2). Returns the
 * number of runs it took, 0 if none failed (pct_depth: PCT's d, 0 for 2); *why gets the first failure's
 * message (with its replay line). */
uint64_t model_runs_to_fail(weft_fn body, void *arg, int strategy, unsigned pct_depth, uint64_t limit, char *why,
                            size_t whylen);

/* Fail the model run (from a simulated thread or the root) when !cond. */
#define MODEL_CHECK(cond) weft__model_check((cond), #cond)

#endif
