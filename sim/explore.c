/* explore.c — running a test under many schedules: seeds (random walk or
 * PCT), bounded exhaustive search of the choice tree, shrinking a failing
 * schedule, the determinism self-check, and the Check helper's entry point.
 *
 * Each run is a fresh simulated runtime. Wall-clock time is read here only for
 * the time budget and the progress line; it never reaches a run.
 */
#define _GNU_SOURCE
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SEEDS 1000u
#define DEFAULT_PREEMPTIONS 2u
#define DEFAULT_MAX_SCHEDULES 1000000u
#define DEFAULT_SHRINK_BUDGET 2000u

typedef struct outcome {
    int status;
    uint64_t hash;
    uint64_t interleave_decisions;
    char message[4096];
    weft__decisions rec; /* when keep_rec */
} outcome;

typedef struct run_spec {
    const weft_config *cfg;
    weft_fn test;
    void *arg;
    const weft__decisions *prefix; /* PREFIX source when non-NULL */
    bool keep_rec;
    bool record_trace;
    weft_rt **keep_rt; /* leave the runtime alive for the caller */
} run_spec;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int copy_decisions(weft__decisions *dst, const weft__decisions *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src->len)
        return 0;
    dst->v = malloc(src->len * sizeof *dst->v);
    if (!dst->v)
        return WEFT_ENOMEM;
    memcpy(dst->v, src->v, src->len * sizeof *dst->v);
    dst->len = dst->cap = src->len;
    return 0;
}

static void free_decisions(weft__decisions *d)
{
    free(d->v);
    memset(d, 0, sizeof *d);
}

static int run_once(const run_spec *sp, outcome *out)
{
    memset(out, 0, sizeof *out);
    weft_config cfg = *sp->cfg;
    cfg.mode = WEFT_MODE_SIM;
    cfg.flags |= WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    if (sp->prefix)
        cfg.schedule = NULL;
    if (sp->record_trace)
        cfg.sim.record_trace = 1;
    weft_rt *rt;
    int r = weft_rt_new(&rt, &cfg);
    if (r < 0)
        return r;
    weft__sim *s = weft__sim_of(rt);
    if (sp->prefix) {
        s->source = WEFT__SRC_PREFIX;
        for (size_t i = 0; i < sp->prefix->len; i++)
            if (weft__decisions_push(rt, &s->replay, &sp->prefix->v[i]) < 0) {
                weft_rt_free(rt);
                return WEFT_ENOMEM;
            }
    }
    out->status = weft_rt_block_on(rt, sp->test, sp->arg, NULL);
    out->hash = s->hash;
    snprintf(out->message, sizeof out->message, "%s", s->message);
    for (size_t i = 0; i < s->rec.len; i++)
        out->interleave_decisions += s->rec.v[i].stream == WEFT__S_INTERLEAVE;
    if (sp->keep_rec && copy_decisions(&out->rec, &s->rec) < 0) {
        weft_rt_free(rt);
        return WEFT_ENOMEM;
    }
    if (sp->keep_rt)
        *sp->keep_rt = rt;
    else
        weft_rt_free(rt);
    return 0;
}

static bool is_failure(int status)
{
    return status == WEFT_EFAILED || status == WEFT_EDEADLK || status == WEFT_ELIVELOCK || status == WEFT_ESCHEDULE;
}

/* ---- distinct trace hashes (open addressing; 0 marks empty) ---- */

typedef struct hashset {
    uint64_t *v;
    size_t cap, n;
} hashset;

static void hashset_add(hashset *h, uint64_t x)
{
    if (x == 0)
        x = 1;
    if ((h->n + 1) * 2 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        uint64_t *v = calloc(cap, sizeof *v);
        if (!v)
            return; /* the count is informative; a failed grow only undercounts */
        for (size_t i = 0; i < h->cap; i++) {
            if (!h->v[i])
                continue;
            size_t j = (size_t)(h->v[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = h->v[i];
        }
        free(h->v);
        h->v = v;
        h->cap = cap;
    }
    size_t j = (size_t)(x * 0x9E3779B97F4A7C15ull) & (h->cap - 1);
    while (h->v[j]) {
        if (h->v[j] == x)
            return;
        j = (j + 1) & (h->cap - 1);
    }
    h->v[j] = x;
    h->n++;
}

/* ---- shrinking ---- */

static void trim_defaults(weft__decisions *d)
{
    while (d->len && d->v[d->len - 1].value == 0)
        d->len--;
}

/* Does the run under cand fail with `status`? Then *cur becomes the decisions
 * it actually made, trimmed (an exact schedule, no longer than cand). */
static int try_candidate(const run_spec *base, const weft__decisions *cand, int status, weft__decisions *cur,
                         unsigned *budget)
{
    if (!*budget)
        return 0;
    (*budget)--;
    run_spec sp = *base;
    sp.prefix = cand;
    sp.keep_rec = true;
    outcome o;
    int r = run_once(&sp, &o);
    if (r < 0)
        return r;
    trim_defaults(&o.rec);
    /* (A longer record cannot happen — see shrink_decisions — but would
     * overrun the candidate buffer: refuse it rather than trust that.) */
    if (o.status != status || o.rec.len > cand->len) {
        free_decisions(&o.rec);
        return 0;
    }
    free_decisions(cur);
    *cur = o.rec;
    return 1;
}

/* cand = cur without its decisions [skip, skip + k), and with decision
 * `lower` (if < cur->len) set to 0. */
static void make_candidate(weft__decisions *cand, const weft__decisions *cur, size_t skip, size_t k, size_t lower)
{
    cand->len = 0;
    for (size_t j = 0; j < cur->len; j++)
        if (j < skip || j >= skip + k)
            cand->v[cand->len++] = cur->v[j];
    if (lower < cand->len)
        cand->v[lower].value = 0;
}

/* ddmin-style: delete chunks of halving size, then lower each choice to 0
 * (the default, the least surprising). A run under a prefix records one
 * decision per prefix entry, each no larger than the entry (later ones are
 * defaults, trimmed), so every accepted candidate is no longer than the one
 * tried and smaller in the sum of choices: cand's buffer never grows, and
 * the search ends even without its budget. */
static int shrink_decisions(const run_spec *base, weft__decisions *cur, int status, unsigned budget)
{
    trim_defaults(cur);
    weft__decisions cand = {0};
    cand.v = malloc((cur->len + 1) * sizeof *cand.v);
    if (!cand.v)
        return WEFT_ENOMEM;
    int r = 0;
    bool progress = true;
    while (progress && budget && r >= 0) {
        progress = false;
        for (size_t k = cur->len / 2 ? cur->len / 2 : 1; k >= 1 && budget && r >= 0; k /= 2) {
            for (size_t i = 0; i + k <= cur->len && budget;) {
                make_candidate(&cand, cur, i, k, SIZE_MAX);
                if ((r = try_candidate(base, &cand, status, cur, &budget)) < 0)
                    break;
                if (r)
                    progress = true; /* cur lost decisions at i: try i again */
                else
                    i += k;
            }
            if (k == 1)
                break;
        }
        for (size_t i = 0; i < cur->len && budget && r >= 0; i++) {
            if (!cur->v[i].value)
                continue;
            make_candidate(&cand, cur, 0, 0, i);
            if ((r = try_candidate(base, &cand, status, cur, &budget)) > 0)
                progress = true;
        }
    }
    free(cand.v);
    return r < 0 ? r : 0;
}

int weft_shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule, unsigned budget, char **out,
                size_t *out_len)
{
    if (!test || !schedule || !out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_shrink: NULL argument");
    *out = NULL;
    weft_config base = cfg ? *cfg : (weft_config){0};
    base.schedule = NULL;
    /* Decode through a throwaway runtime for its allocator. */
    weft_rt *tmp;
    weft_config tc = {0};
    tc.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    int r = weft_rt_new(&tmp, &tc);
    if (r < 0)
        return r;
    weft__decisions dec;
    char why[256];
    r = weft__schedule_decode(tmp, schedule, &dec, why, sizeof why);
    weft__decisions cur = {0};
    if (r == 0)
        r = copy_decisions(&cur, &dec);
    weft__decisions_free(tmp, &dec);
    weft_rt_free(tmp);
    if (r < 0)
        return r;
    run_spec sp = {.cfg = &base, .test = test, .arg = arg};
    sp.prefix = &cur;
    sp.keep_rec = true;
    outcome o;
    if ((r = run_once(&sp, &o)) < 0) {
        free_decisions(&cur);
        return r;
    }
    if (!is_failure(o.status)) {
        free_decisions(&cur);
        free_decisions(&o.rec);
        return WEFT_MISUSE(WEFT_EINVAL, "weft_shrink: the schedule does not fail");
    }
    free_decisions(&cur);
    cur = o.rec;
    sp.prefix = NULL;
    r = shrink_decisions(&sp, &cur, o.status, budget ? budget : DEFAULT_SHRINK_BUDGET);
    if (r == 0)
        r = weft__schedule_encode(cur.v, cur.len, out);
    if (out_len)
        *out_len = cur.len;
    free_decisions(&cur);
    return r;
}

/* ---- exploration ---- */

static void progress_line(const weft_explore_opts *o, const weft_explore_result *res, double t0, bool final)
{
    if (!(o->flags & WEFT_EXPLORE_PROGRESS) || (o->flags & WEFT_EXPLORE_QUIET) || !isatty(2))
        return;
    double dt = wall_now() - t0;
    fprintf(stderr, "\rweft: explore: %" PRIu64 " runs, %" PRIu64 " failure(s), %.0f runs/s%s", res->runs,
            res->failures, dt > 0 ? res->runs / dt : 0.0, final ? "\n" : "");
}

static void repro_line(const weft_config *cfg, bool by_schedule, uint64_t seed, const char *schedule, char *buf,
                       size_t len)
{
    weft__replay_line(cfg, seed, NULL, 0, by_schedule ? (schedule ? schedule : "?") : NULL, buf, len);
}

static int determinism_check(const weft_config *cfg, weft_fn test, void *arg, uint64_t seed, char *msg, size_t len)
{
    weft_config c = *cfg;
    c.seed = seed;
    weft_rt *a = NULL, *b = NULL;
    run_spec sp = {.cfg = &c, .test = test, .arg = arg, .record_trace = true, .keep_rt = &a};
    outcome oa, ob;
    int r = run_once(&sp, &oa);
    if (r < 0)
        return r;
    sp.keep_rt = &b;
    if ((r = run_once(&sp, &ob)) < 0) {
        weft_rt_free(a);
        return r;
    }
    char ea[256] = "", eb[256] = "";
    int64_t at = weft_trace_diff(a, b, ea, sizeof ea, eb, sizeof eb);
    weft_rt_free(a);
    weft_rt_free(b);
    if (at < 0)
        return at == -1 ? 0 : (int)at;
    snprintf(msg, len,
             "nondeterminism: seed %" PRIu64 " ran twice and the traces part at event %" PRId64 ":\n"
             "  first run:  %s\n  second run: %s\n"
             "(something in the test depends on wall-clock time, addresses, or state outside the runtime)",
             seed, at, ea, eb);
    return WEFT_EFAILED;
}

static void record_failure(weft_explore_result *res, const outcome *o, uint64_t seed)
{
    res->status = o->status;
    res->failing_seed = seed;
    char *sched = NULL;
    if (weft__schedule_encode(o->rec.v, o->rec.len, &sched) == 0) {
        res->schedule = sched;
        res->schedule_len = o->rec.len;
    }
    snprintf(res->message, sizeof res->message, "%s", o->message);
}

static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* Count one run; true when exploration should stop (a failure, unless
 * KEEP_GOING). The first failure's schedule and message are kept. */
static bool account(const weft_explore_opts *o, weft_explore_result *res, hashset *hs, const outcome *out,
                    uint64_t seed)
{
    res->runs++;
    hashset_add(hs, out->hash);
    if (!is_failure(out->status))
        return false;
    if (++res->failures == 1)
        record_failure(res, out, seed);
    return !(o->flags & WEFT_EXPLORE_KEEP_GOING);
}

/* Out of schedules or time? Also where the progress line is drawn. */
static bool budget_spent(const weft_explore_opts *o, const weft_explore_result *res, uint64_t max, double t0)
{
    if ((res->runs & 255) == 0)
        progress_line(o, res, t0, false);
    return res->runs >= max || (o->time_budget_s > 0 && wall_now() - t0 > o->time_budget_s);
}

static int explore_exhaustive(const weft_explore_opts *o, const run_spec *base, weft_explore_result *res,
                              hashset *hs, double t0)
{
    unsigned bound = o->preemption_bound ? o->preemption_bound : DEFAULT_PREEMPTIONS;
    uint64_t max = o->max_schedules ? o->max_schedules : DEFAULT_MAX_SCHEDULES;
    weft__decisions prefix = {0};
    size_t *pre = NULL;
    int r = 0;
    for (;;) {
        run_spec sp = *base;
        sp.prefix = &prefix;
        sp.keep_rec = true;
        outcome out;
        if ((r = run_once(&sp, &out)) < 0)
            break;
        if (account(o, res, hs, &out, 0)) {
            free_decisions(&out.rec);
            break;
        }
        /* Backtrack: the deepest choice that can still be raised within the
         * preemption bound; everything after it starts over at 0. */
        size_t n = out.rec.len;
        free(pre);
        pre = malloc((n + 1) * sizeof *pre);
        if (!pre) {
            free_decisions(&out.rec);
            r = WEFT_ENOMEM;
            break;
        }
        pre[0] = 0;
        for (size_t i = 0; i < n; i++)
            pre[i + 1] = pre[i] + (out.rec.v[i].preempt && out.rec.v[i].value > 0);
        size_t i = n;
        while (i-- > 0) {
            const weft__decision *d = &out.rec.v[i];
            if (d->bound == 0 || d->value + 1 >= d->bound)
                continue;
            if (pre[i] + (d->preempt ? 1 : 0) > bound)
                continue;
            break;
        }
        if (i == (size_t)-1) {
            res->exhausted = 1;
            free_decisions(&out.rec);
            break;
        }
        free_decisions(&prefix);
        prefix = out.rec;
        prefix.len = i + 1;
        prefix.v[i].value++;
        if (budget_spent(o, res, max, t0))
            break;
    }
    free(pre);
    free_decisions(&prefix);
    return r;
}

int weft_explore(const weft_explore_opts *o, weft_fn test, void *arg, weft_explore_result *res)
{
    if (!o || !test || !res)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_explore: NULL argument");
    memset(res, 0, sizeof *res);
    double t0 = wall_now();
    weft_config cfg = o->cfg;
    cfg.mode = WEFT_MODE_SIM;
    run_spec base = {.cfg = &cfg, .test = test, .arg = arg};
    hashset hs = {0};
    int r = 0;
    bool by_schedule = cfg.sim.strategy == WEFT_STRATEGY_EXHAUSTIVE;
    const char *check = getenv("WEFT_CHECK_DETERMINISM");
    bool self_check = (o->flags & WEFT_EXPLORE_CHECK_DETERMINISM) || (check && check[0] == '1');
    if (self_check && !by_schedule) {
        r = determinism_check(&cfg, test, arg, o->seed_start, res->message, sizeof res->message);
        if (r == WEFT_EFAILED) {
            res->status = r;
            res->failures = 1;
            res->failing_seed = o->seed_start;
            free(hs.v);
            return 0;
        }
        if (r < 0)
            return r;
    }
    weft_config fail_cfg = cfg; /* the failing run's, for its replay line */
    if (by_schedule) {
        r = explore_exhaustive(o, &base, res, &hs, t0);
    } else {
        uint64_t seeds = o->seeds ? o->seeds : DEFAULT_SEEDS;
        uint64_t max_steps = 0;
        for (uint64_t k = 0; k < seeds; k++) {
            cfg.seed = o->seed_start + k;
            /* PCT needs the number of steps of a run; learn it from the runs
             * so far (the paper's k), starting from the configured guess. */
            if (cfg.sim.strategy == WEFT_STRATEGY_PCT && max_steps)
                cfg.sim.pct_steps = (unsigned)(max_steps > UINT32_MAX ? UINT32_MAX : max_steps);
            outcome out;
            run_spec sp = base;
            sp.keep_rec = true;
            if ((r = run_once(&sp, &out)) < 0)
                break;
            if (out.interleave_decisions > max_steps)
                max_steps = out.interleave_decisions;
            if (is_failure(out.status) && !res->failures)
                fail_cfg = cfg;
            bool stop = account(o, res, &hs, &out, cfg.seed);
            free_decisions(&out.rec);
            if (stop || budget_spent(o, res, seeds, t0))
                break;
        }
    }
    res->distinct_traces = hs.n;
    free(hs.v);
    if (r < 0)
        return r;
    progress_line(o, res, t0, true);
    if (res->failures) {
        char line[1024];
        repro_line(&fail_cfg, by_schedule, res->failing_seed, res->schedule, line, sizeof line);
        append(res->message, sizeof res->message, "%s%s", res->message[0] ? "\n" : "", line);
        /* Shrinking and the timeline are extras: the failure found stands
         * even if they cannot be had, and the message says why. */
        if ((o->flags & WEFT_EXPLORE_SHRINK) && res->schedule) {
            r = weft_shrink(&cfg, test, arg, res->schedule, o->shrink_budget, &res->shrunk, &res->shrunk_len);
            if (r == 0)
                append(res->message, sizeof res->message,
                       "\nweft: shrunk from %zu to %zu decisions: WEFT_SCHEDULE=%s", res->schedule_len,
                       res->shrunk_len, res->shrunk);
            else
                append(res->message, sizeof res->message, "\nweft: could not shrink: %s", weft_strerror(r));
        }
        if (o->timeline_path) {
            weft_config tc = cfg;
            tc.schedule = res->shrunk ? res->shrunk : res->schedule;
            tc.flags |= WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
            tc.sim.record_trace = 1;
            weft_rt *rt;
            r = tc.schedule ? weft_rt_new(&rt, &tc) : WEFT_ENOMEM;
            if (r == 0) {
                weft_rt_block_on(rt, test, arg, NULL);
                r = weft_rt_trace_write_json(rt, o->timeline_path);
                weft_rt_free(rt);
            }
            if (r == 0)
                append(res->message, sizeof res->message, "\nweft: timeline written to %s", o->timeline_path);
            else
                append(res->message, sizeof res->message, "\nweft: could not write the timeline to %s: %s",
                       o->timeline_path, weft_strerror(r));
        }
        if (!(o->flags & WEFT_EXPLORE_QUIET))
            fprintf(stderr, "weft: run %" PRIu64 " failed:\n%s\n", res->runs, res->message);
    }
    res->elapsed_s = wall_now() - t0;
    return 0;
}

void weft_explore_result_free(weft_explore_result *res)
{
    if (!res)
        return;
    free(res->schedule);
    free(res->shrunk);
    res->schedule = res->shrunk = NULL;
}

/* ---- the Check helper's engine ---- */

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

int weft_check_seeds(const weft_config *base, weft_fn test, void *arg, uint64_t default_seeds, char *msg,
                     size_t msglen)
{
    char scratch[64];
    if (!msg || !msglen) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    msg[0] = 0;
    if (!test)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_check_seeds: NULL test");
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    if (base)
        o.cfg = *base;
    /* The environment decides the seeds, strategy and workers here, once,
     * the way weft_rt_new would for a single run. */
    weft_config envcfg = o.cfg;
    envcfg.schedule = NULL;
    int r = weft__env_apply(&envcfg, 1, msg, msglen);
    if (r < 0)
        return r;
    o.cfg.workers = envcfg.workers;
    o.cfg.sim.strategy = envcfg.sim.strategy;
    o.cfg.sim.pct_depth = envcfg.sim.pct_depth;
    o.cfg.sim.pct_steps = envcfg.sim.pct_steps;
    /* WEFT_SEED was parsed with the rest; WEFT_SEEDS is this helper's own. */
    bool has_seed = env_set("WEFT_SEED"), has_seeds = env_set("WEFT_SEEDS");
    uint64_t seeds = default_seeds;
    if (has_seeds && weft__parse_u64(getenv("WEFT_SEEDS"), &seeds) < 0) {
        snprintf(msg, msglen, "weft: WEFT_SEEDS=\"%s\" is not valid: expected an unsigned 64-bit integer", getenv("WEFT_SEEDS"));
        return WEFT_EINVAL;
    }
    if (envcfg.schedule) {
        weft_config c = o.cfg;
        c.schedule = envcfg.schedule;
        c.flags |= WEFT_CFG_NO_ENV;
        weft_rt *rt;
        if ((r = weft_rt_new(&rt, &c)) < 0) {
            snprintf(msg, msglen, "weft: WEFT_SCHEDULE could not be used: %s", weft_strerror(r));
            return r;
        }
        r = weft_rt_block_on(rt, test, arg, NULL);
        weft__sim *s = weft__sim_of(rt);
        if (r == 0 && s->replay_pos < s->replay.len) {
            /* The whole run is one block_on here: decisions left over mean the
             * schedule was recorded from a different program. */
            r = WEFT_ESCHEDULE;
            snprintf(s->message, sizeof s->message,
                     "the schedule does not fit this program: it ran to the end with %zu of its %zu decisions "
                     "unused — was it recorded from a different program or configuration?",
                     s->replay.len - s->replay_pos, s->replay.len);
        }
        if (is_failure(r)) {
            char line[1024];
            weft__replay_line(&c, 0, NULL, 0, envcfg.schedule, line, sizeof line);
            snprintf(msg, msglen, "%s\n%s", s->message, line);
        }
        weft_rt_free(rt);
        return is_failure(r) ? r : 0;
    }
    o.seed_start = has_seed ? envcfg.seed : 0;
    o.seeds = has_seed && !has_seeds ? 1 : seeds;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_CHECK_DETERMINISM;
    if (o.cfg.sim.strategy == WEFT_STRATEGY_EXHAUSTIVE)
        o.preemption_bound = 2;
    weft_explore_result res;
    r = weft_explore(&o, test, arg, &res);
    if (r < 0) {
        snprintf(msg, msglen, "weft: exploration could not run: %s", weft_strerror(r));
        return r;
    }
    if (res.failures) {
        snprintf(msg, msglen, "%s", res.message);
        r = res.status;
    }
    weft_explore_result_free(&res);
    return r;
}
