/* replay.c — the one builder of the "weft: reproduce with …" line, used by
 * a failed run's report, the crash handler and exploration alike, so the
 * three can never disagree. Signal-safe: no allocation, no stdio. */
#include "sim.h"

/* The line for a run of cfg: by schedule when one is given (as text, or as
 * n recorded decisions), else by seed. Returns its length (buf is always
 * NUL-terminated; a schedule too long for buf is named, not cut). */
size_t weft__replay_line(const weft_config *cfg, uint64_t seed, const weft__decision *d, size_t n,
                         const char *schedule, char *buf, size_t len)
{
    size_t at = 0;
    weft__fmt_str(buf, len, &at, "weft: reproduce with ");
    unsigned workers = cfg->workers ? cfg->workers : 1;
    if (workers != 1) {
        weft__fmt_str(buf, len, &at, "WEFT_WORKERS=");
        weft__fmt_u64(buf, len, &at, workers);
        weft__fmt_str(buf, len, &at, " ");
    }
    if (schedule || d) {
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
    if (cfg->sim.strategy == WEFT_STRATEGY_PCT) {
        weft__fmt_str(buf, len, &at, "WEFT_STRATEGY=pct:");
        weft__fmt_u64(buf, len, &at, cfg->sim.pct_depth ? cfg->sim.pct_depth : WEFT__PCT_DEPTH_DEFAULT);
        weft__fmt_str(buf, len, &at, ":");
        weft__fmt_u64(buf, len, &at, cfg->sim.pct_steps ? cfg->sim.pct_steps : WEFT__PCT_STEPS_DEFAULT);
        weft__fmt_str(buf, len, &at, " ");
    }
    weft__fmt_str(buf, len, &at, "WEFT_SEED=");
    weft__fmt_u64(buf, len, &at, seed);
    return at;
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
        n = weft__replay_line(&c, s->seed, NULL, 0, NULL, line, sizeof line - 1);
    else if (!s->rec_truncated)
        n = weft__replay_line(&c, 0, s->rec.v, s->rec.len, NULL, line, sizeof line - 1);
    else
        return;
    line[n++] = '\n';
    weft__write_all(fd, line, n);
}
