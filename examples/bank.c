/* bank.c — the weft demo: find, replay, shrink and draw two concurrency
 * bugs of a small bank (bank.h), then run the fixed code on the real
 * backend.
 *
 *   bank --demo [--out DIR]   the guided tour (what `scons demo` runs)
 *   bank                      one run of the fixed bank, in the mode the
 *                             environment picks (WEFT_MODE=sim|threaded)
 */
#include "bank.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* The fixed bank, many transfers both ways: money is conserved. */
typedef struct busy_bank {
    bank b;
    transfer t[200];
} busy_bank;

static void *fixed_bank(void *arg)
{
    busy_bank *bb = arg;
    int r = bank_open(&bb->b);
    if (r < 0)
        return (void *)(intptr_t)r;
    for (int i = 0; i < 200; i++)
        bb->t[i] = (transfer){&bb->b, i % 2, (i + 1) % 2, (int64_t)(weft_rand() % 7), NULL};
    r = bank_run(&bb->b, bb->t, 200, transfer_fixed);
    int closed = bank_close(&bb->b);
    return (void *)(intptr_t)(r < 0 ? r : closed);
}

/* One run of the fixed bank under cfg: 0 if it ran and conserved money,
 * else the runtime's error, the bank's own, or WEFT_EFAILED (money lost). */
static int run_fixed(const weft_config *cfg, busy_bank *bb)
{
    weft_rt *rt;
    int r = weft_rt_new(&rt, cfg);
    if (r < 0)
        return r;
    void *res = NULL;
    r = weft_rt_block_on(rt, fixed_bank, bb, &res);
    weft_rt_free(rt);
    if (r == 0)
        r = (int)(intptr_t)res;
    if (r == 0 && bank_total(&bb->b) != BANK_OPENING * BANK_ACCOUNTS)
        r = WEFT_EFAILED;
    return r;
}

/* The same in the mode and on the workers the demo picks, whatever the
 * environment says. */
static int run_fixed_in(weft_mode mode, unsigned workers)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.workers = workers;
    c.flags = WEFT_CFG_NO_ENV;
    static busy_bank bb;
    return run_fixed(&c, &bb);
}

typedef struct found {
    int ok;
    uint64_t runs;
    uint64_t seed; /* the first failing seed */
} found;

static found hunt(const char *title, weft_fn test, weft_strategy strategy, uint64_t seeds, const char *timeline,
                  int shrink)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.cfg.sim.strategy = strategy;
    o.cfg.sim.pct_depth = 2;
    o.seeds = seeds;
    o.flags = WEFT_EXPLORE_QUIET | (shrink ? WEFT_EXPLORE_SHRINK : 0);
    o.timeline_path = timeline;
    weft_explore_result r;
    found f = {0, 0, UINT64_MAX};
    int e = weft_explore(&o, test, NULL, &r);
    if (e != 0) {
        say("    %s: exploration could not run: %s\n", title, weft_strerror(e));
        return f;
    }
    f.runs = r.runs;
    if (!r.failures) {
        say("    %s: no failure in %" PRIu64 " runs\n", title, r.runs);
        weft_explore_result_free(&r);
        return f;
    }
    f.ok = 1;
    f.seed = r.failing_seed;
    say("    %s: run %" PRIu64 " fails (%.3f s): %s\n", title, r.runs, r.elapsed_s, weft_strerror(r.status));
    /* The message is the failure, then the replay lines. */
    char *line = strtok(r.message, "\n");
    while (line) {
        say("      %s\n", line);
        line = strtok(NULL, "\n");
    }
    if (shrink && r.shrunk)
        say("    shrinking kept the failure (%s) and cut the schedule from %zu to %zu decisions\n", r.signature,
            r.schedule_len, r.shrunk_len);
    weft_explore_result_free(&r);
    return f;
}

static int replay_twice(weft_fn test, uint64_t seed)
{
    uint64_t h[2];
    int status[2];
    for (int i = 0; i < 2; i++) {
        weft_config c;
        memset(&c, 0, sizeof c);
        c.workers = 2;
        c.seed = seed;
        c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
        weft_rt *rt;
        int r = weft_rt_new(&rt, &c);
        if (r != 0) {
            say("    replay of seed %" PRIu64 " could not start: %s\n", seed, weft_strerror(r));
            return 0;
        }
        status[i] = weft_rt_block_on(rt, test, NULL, NULL);
        h[i] = weft_rt_trace_hash(rt);
        weft_rt_free(rt);
    }
    say("    replayed seed %" PRIu64 " twice: %s both times, trace hash %016" PRIx64 " and %016" PRIx64 "\n", seed,
        weft_strerror(status[0]), h[0], h[1]);
    return status[0] != 0 && status[0] == status[1] && h[0] == h[1];
}

static int demo(const char *out)
{
    char lost_json[1024], dead_json[1024];
    snprintf(lost_json, sizeof lost_json, "%s/bank-lost-update.json", out);
    snprintf(dead_json, sizeof dead_json, "%s/bank-deadlock.json", out);
    /* (weft_explore writes the HTML timeline beside each: x.json -> x.html) */
    int ok = 1;

    say("weft demo: a bank with two concurrency bugs, found by seed, replayed, shrunk and drawn.\n\n");
    say("[1] Lost update. A transfer reads a balance in one critical section and writes it in\n"
        "    another; two transfers from one account can both read the old balance. On one worker\n"
        "    nothing goes wrong. Exploring seeds with 2 virtual workers (random walk):\n");
    found f = hunt("random walk", bank_lost_update_test, WEFT_STRATEGY_RANDOM, 1000, lost_json, 1);
    ok &= f.ok;
    say("    the timeline of the shrunk run shows the two transfers out of account a interleaving\n\n");

    say("[2] A seed is a reproduction: the same seed runs the same interleaving, bit for bit.\n");
    ok &= f.ok && replay_twice(bank_lost_update_test, f.seed);

    say("\n[3] PCT (priority-based, depth 2) finds it too, with a bound on the chance of missing it:\n");
    found p = hunt("PCT d=2", bank_lost_update_test, WEFT_STRATEGY_PCT, 100, NULL, 0);
    ok &= p.ok;

    say("\n[4] Deadlock. Transfers both ways each hold both locks, taken in transfer order.\n"
        "    Every task blocked with nothing to wake it is reported as a deadlock, not a hang:\n");
    found d = hunt("random walk", bank_deadlock_test, WEFT_STRATEGY_RANDOM, 1000, dead_json, 1);
    ok &= d.ok;
    say("\n");

    say("[5] The fixed bank, same source, on the real single-thread backend and in simulation:\n");
    int rt1 = run_fixed_in(WEFT_MODE_THREADED, 1), rt2 = run_fixed_in(WEFT_MODE_SIM, 4);
    say("    threaded: %s; simulated on 4 workers: %s\n\n", rt1 ? weft_strerror(rt1) : "money conserved",
        rt2 ? weft_strerror(rt2) : "money conserved");
    ok &= rt1 == 0 && rt2 == 0;

    say(ok ? "demo: every step behaved as described.\n" : "demo: SOMETHING DID NOT BEHAVE AS DESCRIBED.\n");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *out = ".";
    int want_demo = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--demo"))
            want_demo = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--demo [--out DIR]]\n", argv[0]);
            return 2;
        }
    }
    if (want_demo)
        return demo(out);
    /* A plain run honours WEFT_MODE, WEFT_SEED, WEFT_WORKERS. */
    weft_config c;
    memset(&c, 0, sizeof c);
    static busy_bank bb;
    int r = run_fixed(&c, &bb);
    printf("bank: %s, balances %" PRId64 " and %" PRId64 "\n", r ? weft_strerror(r) : "ok", bb.b.balance[0],
           bb.b.balance[1]);
    return r != 0;
}
