/* replay.c — the one builder of the "weft: reproduce with …" line, used by
 * a failed run's report, the crash handler, exploration, the Check helper and
 * the results files alike, so they can never disagree. Signal-safe: no
 * allocation, no stdio.
 *
 * The line names everything that shapes a run and that the environment can
 * set: the test it belongs to (WEFT_TEST, for the Check helper), the virtual
 * workers, the strategy with the parameters it ran with, the fault knobs, the
 * step cost and budget, then the seed or the schedule. A knob at its default
 * is left out, so the common line stays short; a knob that is set is always
 * there, so the line replays with nothing else in the environment.
 */
#include "sim.h"

static void var_u64(char *buf, size_t len, size_t *at, const char *name, uint64_t v)
{
    weft__fmt_str(buf, len, at, name);
    weft__fmt_str(buf, len, at, "=");
    weft__fmt_u64(buf, len, at, v);
    weft__fmt_str(buf, len, at, " ");
}

size_t weft__replay_vars(const weft_config *cfg, const char *test, uint64_t seed, const weft__decision *d, size_t n,
                         const char *schedule, char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = 0;
    if (test && *test) {
        weft__fmt_str(buf, len, &at, "WEFT_TEST=");
        weft__fmt_str(buf, len, &at, test);
        weft__fmt_str(buf, len, &at, " ");
    }
    unsigned workers = cfg->workers ? cfg->workers : 1;
    if (workers != 1)
        var_u64(buf, len, &at, "WEFT_WORKERS", workers);
    bool by_schedule = schedule || d;
    /* A schedule is exact: the strategy that found it no longer matters.
     * PCT's change points depend on its step estimate, so a seed line names
     * both of its parameters as they were used. */
    if (!by_schedule && cfg->sim.strategy == WEFT_STRATEGY_PCT) {
        weft__fmt_str(buf, len, &at, "WEFT_STRATEGY=pct:");
        weft__fmt_u64(buf, len, &at, cfg->sim.pct_depth ? cfg->sim.pct_depth : WEFT__PCT_DEPTH_DEFAULT);
        weft__fmt_str(buf, len, &at, ":");
        weft__fmt_u64(buf, len, &at, cfg->sim.pct_steps ? cfg->sim.pct_steps : WEFT__PCT_STEPS_DEFAULT);
        weft__fmt_str(buf, len, &at, " ");
    }
    /* Fault draws are recorded in a schedule, but what they mean (fire or
     * not) depends on the chances: those go in either kind of line. */
    if (cfg->sim.buggify_permille)
        var_u64(buf, len, &at, "WEFT_BUGGIFY_PERMILLE", cfg->sim.buggify_permille);
    if (cfg->sim.fail_alloc_nth)
        var_u64(buf, len, &at, "WEFT_FAIL_ALLOC_NTH", cfg->sim.fail_alloc_nth);
    if (cfg->sim.fail_alloc_permille)
        var_u64(buf, len, &at, "WEFT_FAIL_ALLOC_PERMILLE", cfg->sim.fail_alloc_permille);
    if (cfg->sim.step_cost_ns)
        var_u64(buf, len, &at, "WEFT_STEP_COST_NS", cfg->sim.step_cost_ns);
    if (cfg->sim.step_budget)
        var_u64(buf, len, &at, "WEFT_STEP_BUDGET", cfg->sim.step_budget);
    if (by_schedule) {
        weft__fmt_str(buf, len, &at, "WEFT_SCHEDULE=");
        if (schedule) {
            weft__fmt_str(buf, len, &at, schedule);
        } else {
            size_t w = at + 1 < len ? weft__schedule_encode_into(d, n, buf + at, len - at) : 0;
            if (w)
                at += w;
            else
                weft__fmt_str(buf, len, &at, "(too long to print here: see weft_rt_schedule)");
        }
        return at;
    }
    weft__fmt_str(buf, len, &at, "WEFT_SEED=");
    weft__fmt_u64(buf, len, &at, seed);
    return at;
}

size_t weft__replay_line(const weft_config *cfg, const char *test, uint64_t seed, const weft__decision *d, size_t n,
                         const char *schedule, char *buf, size_t len)
{
    size_t at = 0;
    weft__fmt_str(buf, len, &at, "weft: reproduce with ");
    return at + weft__replay_vars(cfg, test, seed, d, n, schedule, buf + at, len > at ? len - at : 0);
}

void weft__sim_crash_report(weft_rt *rt, int fd)
{
    const weft__sim *s = weft__sim_of(rt);
    if (!s)
        return;
    weft_config c = rt->cfg;
    c.workers = rt->nworkers;
    c.sim.pct_depth = s->pct_depth;
    c.sim.pct_steps = (unsigned)s->pct_steps;
    char line[4096];
    size_t n;
    if (s->source == WEFT__SRC_SEED)
        n = weft__replay_line(&c, s->test_name, s->seed, NULL, 0, NULL, line, sizeof line - 1);
    else if (!s->rec_truncated)
        n = weft__replay_line(&c, s->test_name, 0, s->rec.v, s->rec.len, NULL, line, sizeof line - 1);
    else
        return;
    line[n++] = '\n';
    weft__write_all(fd, line, n);
}
