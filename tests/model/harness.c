/* harness.c — running the model's test bodies under each strategy and
 * reporting the executions (see harness.h). */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t seeds_for(model_budget b)
{
    const char *env = getenv("WEFT_MODEL_SEEDS");
    uint64_t n = b.seeds ? b.seeds : MODEL_SEEDS;
    if (env && *env) {
        uint64_t e = strtoull(env, NULL, 10);
        if (e > n)
            n = e;
    }
    return n;
}

static void run(const char *name, const char *label, weft_fn body, void *arg, int strategy, uint64_t seeds,
                uint64_t max_schedules)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    weft__model_config(&o.cfg);
    o.cfg.sim.strategy = strategy;
    o.seeds = seeds;
    o.preemption_bound = 2;
    o.max_schedules = max_schedules;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_CHECK_DETERMINISM;
    weft_explore_result res;
    int r = weft_explore(&o, body, arg, &res);
    ck_assert_msg(r == 0, "%s: exploration could not run: %s", name, weft_strerror(r));
    if (strategy == WEFT_STRATEGY_EXHAUSTIVE)
        printf("model %-16s %-10s %8" PRIu64 " schedules, %s, %" PRIu64 " distinct traces, %.1f s\n", name, label,
               res.runs, res.exhausted ? "space exhausted" : "space NOT exhausted (budget)", res.distinct_traces,
               res.elapsed_s);
    else
        printf("model %-16s %-10s %8" PRIu64 " executions, %" PRIu64 " distinct traces, %.1f s\n", name, label,
               res.runs, res.distinct_traces, res.elapsed_s);
    fflush(stdout);
    ck_assert_msg(res.failures == 0, "%s under %s: %s\n(to replay: WEFT_MODEL_CASE=%s and that line's variables, then %s)",
                  name, label, res.message, name, "the model_tests binary");
    ck_assert_msg(strategy == WEFT_STRATEGY_EXHAUSTIVE || res.runs == seeds, "%s: %" PRIu64 " of %" PRIu64 " runs",
                  name, res.runs, seeds);
    weft_explore_result_free(&res);
}

/* A replay (WEFT_SCHEDULE, or WEFT_SEED with WEFT_STRATEGY) of the case
 * WEFT_MODEL_CASE names: the line a failure or fuzz_model printed. */
static bool replay(const char *name, weft_fn body, void *arg)
{
    const char *only = getenv("WEFT_MODEL_CASE");
    if (only && *only && strcmp(only, name) != 0)
        return true; /* another case is being replayed */
    const char *sched = getenv("WEFT_SCHEDULE"), *seed = getenv("WEFT_SEED");
    if (!(sched && *sched) && !(seed && *seed))
        return false;
    weft_config c;
    weft__model_config(&c);
    c.flags &= ~WEFT_CFG_NO_ENV;
    char msg[4096];
    int r = weft_check_seeds(&c, body, arg, 1, msg, sizeof msg);
    printf("model %-16s replayed: %s\n", name, r == 0 ? "passes" : "fails");
    ck_assert_msg(r == 0, "%s: %s", name, msg);
    return true;
}

void model_explore(const char *name, weft_fn body, void *arg, model_budget budget)
{
    if (replay(name, body, arg))
        return;
    uint64_t seeds = seeds_for(budget);
    run(name, "random", body, arg, WEFT_STRATEGY_RANDOM, seeds, 0);
    run(name, "pct", body, arg, WEFT_STRATEGY_PCT, seeds, 0);
    if (budget.max_schedules)
        run(name, "exhaustive", body, arg, WEFT_STRATEGY_EXHAUSTIVE, 0, budget.max_schedules);
}

uint64_t model_runs_to_fail(weft_fn body, void *arg, int strategy, unsigned pct_depth, uint64_t limit, char *why,
                            size_t whylen)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    weft__model_config(&o.cfg);
    o.cfg.sim.strategy = strategy;
    o.cfg.sim.pct_depth = pct_depth;
    o.seeds = limit;
    o.preemption_bound = 2;
    o.max_schedules = limit;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result res;
    if (weft_explore(&o, body, arg, &res) < 0)
        return 0;
    uint64_t n = res.failures ? res.runs : 0;
    snprintf(why, whylen, "%s", res.message);
    weft_explore_result_free(&res);
    return n;
}
