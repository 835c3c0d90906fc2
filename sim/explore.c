/* explore.c — running a test under many schedules: seeds (random walk or
 * PCT) and bounded exhaustive search of the choice tree, split across shards;
 * the determinism self-check under every strategy; the progress line; and
 * what a failure leaves behind (replay lines, the shrunk schedule, the
 * timeline, the results files).
 *
 * Each run is a fresh simulated runtime and depends only on its seed (or
 * schedule) and the configuration, never on which runs came before it or on
 * which shard runs it: that is what lets shards split the work and still
 * report exactly what one unsharded exploration would. Wall-clock time is
 * read here only for budgets, timeouts and the progress line.
 */
#define _GNU_SOURCE
#include "explore.h"

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
/* Exhaustive search is split between shards by the first decisions of a
 * schedule: every subtree below this depth belongs to one shard. Deep enough
 * that a bounded tree has many more subtrees than a campaign has shards. */
#define EXHAUSTIVE_SPLIT_DEPTH 8u
/* The progress line is redrawn at most this often (seconds). */
#define PROGRESS_EVERY_S 0.25

double weft__wall_now(void)
{
    return (double)weft__real_monotonic_ns() / 1e9;
}

int weft__decisions_copy(weft__decisions *dst, const weft__decisions *src)
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

void weft__decisions_release(weft__decisions *d)
{
    free(d->v);
    memset(d, 0, sizeof *d);
}

void weft__appendf(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

bool weft__is_failure(int status)
{
    return status == WEFT_EFAILED || status == WEFT_EDEADLK || status == WEFT_ELIVELOCK || status == WEFT_ESCHEDULE ||
           status == WEFT_ETIMEDOUT;
}

int weft__run_once(const weft__run_spec *sp, weft__outcome *out)
{
    out->status = 0;
    out->hash = 0;
    out->interleave_decisions = 0;
    out->message[0] = 0;
    memset(&out->rec, 0, sizeof out->rec);
    weft_config cfg = *sp->cfg;
    cfg.mode = WEFT_MODE_SIM;
    cfg.flags |= WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    cfg.trace_path = NULL;
    if (sp->prefix || sp->guide)
        cfg.schedule = NULL;
    if (sp->record_trace)
        cfg.sim.record_trace = 1;
    weft_rt *rt = NULL;
    int r;
    /* A runtime left by an earlier run (the spare, or one the caller kept
     * and hands back) is reset for this one when the configuration allows
     * (weft_rt_reset says when it does not). */
    bool reuse = sp->reuse && !sp->keep_rt;
    weft_rt **old = sp->keep_rt && *sp->keep_rt ? sp->keep_rt : reuse && *sp->reuse ? sp->reuse : NULL;
    if (old) {
        rt = *old;
        *old = NULL;
        if (weft_rt_reset(rt, &cfg) < 0) {
            weft_rt_free(rt);
            rt = NULL;
        }
    }
    if (!rt && (r = weft_rt_new(&rt, &cfg)) < 0)
        return r;
    weft__sim *s = weft__sim_of(rt);
    s->test_name = sp->name;
    if (sp->timeout_s > 0)
        s->wall_deadline = (uint64_t)((weft__wall_now() + sp->timeout_s) * 1e9);
    if (sp->guide) {
        s->source = WEFT__SRC_GUIDE;
        s->guide = sp->guide;
        s->guide_ctx = sp->guide_ctx;
    } else if (sp->prefix) {
        s->source = WEFT__SRC_PREFIX;
        for (size_t i = 0; i < sp->prefix->len; i++)
            if (weft__decisions_push(rt, &s->replay, &sp->prefix->v[i]) < 0) {
                weft_rt_free(rt);
                return WEFT_ENOMEM;
            }
    }
    out->status = weft_rt_block_on(rt, sp->test, sp->arg, NULL);
    out->hash = s->th.hash;
    if (s->message[0]) /* out->message is empty already */
        snprintf(out->message, sizeof out->message, "%s", s->message);
    for (size_t i = 0; i < s->rec.len; i++)
        out->interleave_decisions += s->rec.v[i].stream == WEFT__S_INTERLEAVE;
    bool keep = sp->keep == WEFT__KEEP_ALWAYS || (sp->keep == WEFT__KEEP_FAILED && weft__is_failure(out->status));
    if (keep && (s->rec_truncated || weft__decisions_copy(&out->rec, &s->rec) < 0)) {
        weft_rt_free(rt);
        return WEFT_ENOMEM;
    }
    if (sp->keep_rt)
        *sp->keep_rt = rt;
    else if (reuse) {
        /* Shut down and close what the run left open now, as weft_rt_free
         * would: cancelled tasks and closing sockets may still draw
         * decisions from this run's source (a guide whose context is the
         * caller's frame). The next run resets the rest. */
        weft_rt_shutdown(rt);
        weft__io_free(rt);
        *sp->reuse = rt;
    }
    else
        weft_rt_free(rt);
    return 0;
}

/* ---- failure signatures ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "  task 3 (a->b) waits on a mutex held by task 4 (b->a)" →
 * "(a->b) waits on a mutex held by (b->a)": ids depend on spawn order. */
static void drop_task_ids(const char *in, size_t n, char *out, size_t len)
{
    size_t o = 0;
    while (n && *in == ' ')
        in++, n--;
    for (size_t i = 0; i < n && o + 1 < len;) {
        if (!strncmp(in + i, "task ", 5) && i + 5 < n && in[i + 5] >= '0' && in[i + 5] <= '9') {
            i += 5;
            while (i < n && in[i] >= '0' && in[i] <= '9')
                i++;
            while (i < n && in[i] == ' ')
                i++;
            continue;
        }
        out[o++] = in[i++];
    }
    out[o] = 0;
}

void weft__signature(int status, const char *message, char *buf, size_t len)
{
    const char *nl = strchr(message, '\n');
    size_t first = nl ? (size_t)(nl - message) : strlen(message);
    switch (status) {
    case WEFT_EFAILED:
        if (!strncmp(message, "nondeterminism", 14)) {
            snprintf(buf, len, "nondeterminism");
        } else if (!strncmp(message, "assertion failed: ", 18)) {
            snprintf(buf, len, "assert: %.*s", (int)(first - 18), message + 18);
        } else {
            /* weft_fail messages often carry values: blank the numbers so
             * one bug with different values is one signature. */
            size_t o = 0;
            o += (size_t)snprintf(buf, len, "fail: ");
            for (size_t i = 0; i < first && o + 1 < len; i++) {
                bool digit = message[i] >= '0' && message[i] <= '9';
                if (digit && o && buf[o - 1] == '#')
                    continue;
                buf[o++] = digit ? '#' : message[i];
            }
            buf[o < len ? o : len - 1] = 0;
        }
        break;
    case WEFT_EDEADLK: {
        /* One line per blocked task after the first: sort them, so the shape
         * does not depend on which task was found first. */
        char *lines[64];
        size_t n = 0;
        const char *p = nl ? nl + 1 : "";
        while (*p && n < 64) {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            char tmp[512];
            drop_task_ids(p, l, tmp, sizeof tmp);
            if (tmp[0] && (lines[n] = strdup(tmp)) != NULL)
                n++;
            p += l + (e ? 1 : 0);
        }
        qsort(lines, n, sizeof *lines, cmp_str);
        size_t o = (size_t)snprintf(buf, len, "deadlock:");
        for (size_t i = 0; i < n; i++) {
            if (o < len)
                o += (size_t)snprintf(buf + o, len - o, "%s %s", i ? ";" : "", lines[i]);
            free(lines[i]);
        }
        break;
    }
    case WEFT_ELIVELOCK: snprintf(buf, len, "livelock"); break;
    case WEFT_ETIMEDOUT: snprintf(buf, len, "timeout"); break;
    case WEFT_ESCHEDULE: snprintf(buf, len, "schedule does not fit"); break;
    default: snprintf(buf, len, "error %d (%s)", status, weft_strerror(status));
    }
}

/* ---- timelines ---- */

void weft__html_path(const char *json_path, char *buf, size_t len)
{
    size_t n = strlen(json_path);
    if (n > 5 && !strcmp(json_path + n - 5, ".json"))
        snprintf(buf, len, "%.*s.html", (int)(n - 5), json_path);
    else
        snprintf(buf, len, "%s.html", json_path);
}

int weft__write_timelines(const weft_config *cfg, weft_fn test, void *arg, uint64_t seed, const char *schedule,
                          const char *json_path, char *msg, size_t msglen)
{
    weft_config tc = *cfg;
    tc.seed = seed; /* the failing run's, so the timeline names it */
    tc.schedule = schedule;
    tc.flags |= WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    tc.trace_path = NULL;
    tc.sim.record_trace = 1;
    char html[4096];
    weft__html_path(json_path, html, sizeof html);
    weft_rt *rt;
    int r = weft_rt_new(&rt, &tc);
    if (r == 0) {
        weft_rt_block_on(rt, test, arg, NULL);
        r = weft_rt_trace_write_json(rt, json_path);
        if (r == 0)
            r = weft_rt_trace_write_html(rt, html);
        weft_rt_free(rt);
    }
    if (r == 0)
        weft__appendf(msg, msglen, "\nweft: timeline: %s (open in a browser), %s (for https://ui.perfetto.dev)", html,
                      json_path);
    else
        weft__appendf(msg, msglen, "\nweft: could not write the timeline to %s: %s", json_path, weft_strerror(r));
    return r;
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

/* ---- one exploration ---- */

#define MAX_SIGNATURES 64

typedef struct campaign {
    const weft_explore_opts *o;
    weft_config cfg; /* as the runs use it (PCT's step estimate settled) */
    weft__run_spec base;
    weft_explore_result *res;
    hashset hs;
    weft__shard shard;
    weft__results *out;
    double t0, next_draw;
    bool draw;
    const char *stopped;
    uint64_t target; /* runs this shard means to make, for the time left (0: unknown) */
    char *sigs[MAX_SIGNATURES];
    size_t nsigs;
    weft__decisions first_rec; /* the first failure's decisions */
    bool have_first;
    char self_key[256];
    weft_rt *spare; /* the runtime the next run resets and runs on */
    /* Seeds on several jobs (explore_jobs): what the jobs share. */
    unsigned jobs;
    weft__a64 first_failed; /* the lowest seed index k that failed (UINT64_MAX: none) */
    weft__a64 runs_done;    /* for the progress line */
    weft__a32 halted;       /* a job saw the time budget run out (HALT_TIME) or an error (HALT_ERROR) */
} campaign;

enum { HALT_TIME = 1, HALT_ERROR = 2 };

/* The progress line, with runs made so far (a job's count while jobs run,
 * else the result's). */
static void progress_at(campaign *c, uint64_t runs, bool final)
{
    if (!c->draw)
        return;
    double now = weft__wall_now();
    if (!final && now < c->next_draw)
        return;
    c->next_draw = now + PROGRESS_EVERY_S;
    const weft_explore_result *res = c->res;
    double dt = now - c->t0, rate = dt > 0 ? (double)runs / dt : 0;
    char shard[48] = "", left[48] = "";
    if (c->shard.count > 1)
        snprintf(shard, sizeof shard, " [shard %u/%u]", c->shard.index, c->shard.count);
    double rest = -1;
    if (c->target && rate > 0 && runs < c->target)
        rest = (double)(c->target - runs) / rate;
    if (c->o->time_budget_s > 0 && (rest < 0 || c->o->time_budget_s - dt < rest))
        rest = c->o->time_budget_s - dt;
    if (!final && rest >= 0)
        snprintf(left, sizeof left, ", %.0f s left", rest < 0 ? 0 : rest);
    fprintf(stderr, "\rweft: explore%s%s%s: %" PRIu64 " runs, %.0f runs/s, %" PRIu64 " failure(s)%s\033[K%s",
            c->o->name ? " " : "", c->o->name ? c->o->name : "", shard, runs, rate, res->failures, left,
            final ? "\n" : "");
}

static void progress(campaign *c, bool final)
{
    progress_at(c, c->res->runs, final);
}

static bool over_time(const campaign *c)
{
    return c->o->time_budget_s > 0 && weft__wall_now() - c->t0 > c->o->time_budget_s;
}

static void strategy_name(const weft_config *cfg, char *buf, size_t len)
{
    switch (cfg->sim.strategy) {
    case WEFT_STRATEGY_PCT:
        snprintf(buf, len, "pct:%u:%u", cfg->sim.pct_depth ? cfg->sim.pct_depth : WEFT__PCT_DEPTH_DEFAULT,
                 cfg->sim.pct_steps ? cfg->sim.pct_steps : WEFT__PCT_STEPS_DEFAULT);
        break;
    case WEFT_STRATEGY_EXHAUSTIVE: snprintf(buf, len, "exhaustive"); break;
    default: snprintf(buf, len, "random"); break;
    }
}

/* Count one run; true when exploration should stop (a failure, unless
 * KEEP_GOING). The first failure's decisions and message are kept. */
static bool account_failure(campaign *c, weft__outcome *out, uint64_t seed, bool by_schedule);

/* One more run, of trace hash `hash`. */
static void count_run(campaign *c, uint64_t hash)
{
    c->res->runs++;
    hashset_add(&c->hs, hash);
}

static bool account(campaign *c, weft__outcome *out, uint64_t seed, bool by_schedule)
{
    count_run(c, out->hash);
    return weft__is_failure(out->status) && account_failure(c, out, seed, by_schedule);
}

static bool account_failure(campaign *c, weft__outcome *out, uint64_t seed, bool by_schedule)
{
    weft_explore_result *res = c->res;
    if (out->status == WEFT_ETIMEDOUT)
        res->timeouts++;
    char sig[256];
    weft__signature(out->status, out->message, sig, sizeof sig);
    bool seen = false;
    for (size_t i = 0; i < c->nsigs && !seen; i++)
        seen = !strcmp(c->sigs[i], sig);
    /* (Past MAX_SIGNATURES distinct ones, new ones are no longer told
     * apart here: the count stops; the results files carry them all.) */
    if (!seen && c->nsigs < MAX_SIGNATURES && (c->sigs[c->nsigs] = strdup(sig)) != NULL) {
        c->nsigs++;
        res->distinct_failures++;
    }
    char *sched = NULL;
    if (by_schedule)
        weft__schedule_encode(out->rec.v, out->rec.len, &sched);
    if (++res->failures == 1) {
        res->status = out->status;
        res->failing_seed = seed;
        snprintf(res->message, sizeof res->message, "%s", out->message);
        snprintf(res->signature, sizeof res->signature, "%s", sig);
        /* A copy: exhaustive search still backtracks from the run's own.
         * (A run with no decisions at all has an empty schedule: "S2.") */
        c->have_first = weft__decisions_copy(&c->first_rec, &out->rec) == 0;
        if (weft__schedule_encode(c->first_rec.v, c->first_rec.len, &res->schedule) == 0)
            res->schedule_len = c->first_rec.len;
    }
    if (c->out) {
        size_t len = (sched ? strlen(sched) : 0) + 1024;
        char *vars = malloc(len);
        if (vars) {
            weft__replay_vars(&c->cfg, c->o->name, seed, NULL, 0, by_schedule ? (sched ? sched : "?") : NULL, vars,
                              len);
            weft__results_failure(c->out, seed, by_schedule, out->status, sig, out->message, vars);
        }
        free(vars);
    }
    free(sched);
    if (!(c->o->flags & WEFT_EXPLORE_KEEP_GOING)) {
        c->stopped = "first_failure";
        return true;
    }
    return false;
}

/* The owner of a schedule's subtree: a hash of its first decisions. */
static unsigned subtree_owner(const weft__decisions *d, unsigned count)
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < EXHAUSTIVE_SPLIT_DEPTH; i++) {
        h ^= i < d->len ? d->v[i].value + 1 : 0;
        h *= 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return (unsigned)(h % count);
}

/* Exhaustive search's decision source: the prefix, then defaults (as the
 * PREFIX source), noting the trace hash before each decision, so that a
 * replayed prefix can be checked to run as it did. */
typedef struct prefix_guide {
    const weft__decisions *prefix;
    size_t at;
    uint64_t *hash;
    size_t n, cap;
    bool oom;
} prefix_guide;

static uint64_t prefix_cb(void *ctx, weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    (void)stream;
    (void)preempt;
    prefix_guide *g = ctx;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        uint64_t *h = realloc(g->hash, cap * sizeof *h);
        if (h) {
            g->hash = h;
            g->cap = cap;
        } else {
            g->oom = true;
        }
    }
    if (g->n < g->cap)
        g->hash[g->n++] = s->th.hash;
    uint64_t v = g->at < g->prefix->len ? g->prefix->v[g->at].value : 0;
    g->at++;
    return bound && v >= bound ? bound - 1 : v;
}

static int explore_exhaustive(campaign *c)
{
    const weft_explore_opts *o = c->o;
    unsigned bound = o->preemption_bound ? o->preemption_bound : DEFAULT_PREEMPTIONS;
    uint64_t max = o->max_schedules ? o->max_schedules : DEFAULT_MAX_SCHEDULES;
    weft__decisions prefix = {0};
    size_t *pre = NULL;
    uint64_t *prev_hash = NULL; /* the trace hash before each decision of the run prefix came from */
    int r = 0;
    for (;;) {
        prefix_guide g = {&prefix, 0, NULL, 0, 0, false};
        weft__run_spec sp = c->base;
        sp.guide = prefix_cb;
        sp.guide_ctx = &g;
        sp.keep = WEFT__KEEP_ALWAYS;
        weft__outcome out;
        if ((r = weft__run_once(&sp, &out)) < 0 || g.oom) {
            free(g.hash);
            weft__decisions_release(&out.rec);
            r = r < 0 ? r : WEFT_ENOMEM;
            break;
        }
        /* The prefix must replay as it ran: the same events before each of
         * its decisions, and the same number of choices at each. If not,
         * the tree itself moved (the test depends on an address, a global,
         * real time…), and "exhausted" would be a lie. */
        for (size_t i = 0; i < prefix.len && i < out.rec.len && i < g.n; i++) {
            if (out.rec.v[i].bound == prefix.v[i].bound && g.hash[i] == prev_hash[i])
                continue;
            out.status = WEFT_EFAILED;
            if (out.rec.v[i].bound != prefix.v[i].bound)
                snprintf(out.message, sizeof out.message,
                         "nondeterminism: exhaustive search replayed a schedule's first %zu decisions and decision "
                         "%zu now offers %u choice(s) where it offered %u: the choice tree depends on something "
                         "outside the simulator (an address, a global, rand(), the process id, real time)",
                         prefix.len, i + 1, out.rec.v[i].bound, prefix.v[i].bound);
            else
                snprintf(out.message, sizeof out.message,
                         "nondeterminism: exhaustive search replayed a schedule's first %zu decisions and the run "
                         "before decision %zu is not the one it replayed: the choice tree depends on something "
                         "outside the simulator (an address, a global, rand(), the process id, real time)",
                         prefix.len, i + 1);
            break;
        }
        free(prev_hash);
        prev_hash = g.hash;
        bool ours = c->shard.count == 1 || subtree_owner(&out.rec, c->shard.count) == c->shard.index;
        bool stop = false;
        if (ours || !strncmp(out.message, "nondeterminism", 14))
            stop = account(c, &out, 0, true);
        if (stop) {
            weft__decisions_release(&out.rec);
            break;
        }
        /* Backtrack: the deepest choice that can still be raised within the
         * preemption bound; everything after it starts over at 0. Another
         * shard's subtree is left at once: only its first decisions are
         * walked, to reach the subtrees after it. */
        size_t n = out.rec.len;
        free(pre);
        pre = malloc((n + 1) * sizeof *pre);
        if (!pre) {
            weft__decisions_release(&out.rec);
            r = WEFT_ENOMEM;
            break;
        }
        pre[0] = 0;
        for (size_t i = 0; i < n; i++)
            pre[i + 1] = pre[i] + (out.rec.v[i].preempt && out.rec.v[i].value > 0);
        size_t i = ours ? n : (n < EXHAUSTIVE_SPLIT_DEPTH ? n : EXHAUSTIVE_SPLIT_DEPTH);
        while (i-- > 0) {
            const weft__decision *d = &out.rec.v[i];
            if (d->bound == 0 || d->value + 1 >= d->bound)
                continue;
            if (pre[i] + (d->preempt ? 1 : 0) > bound)
                continue;
            break;
        }
        if (i == (size_t)-1) {
            c->res->exhausted = 1;
            c->stopped = "exhausted";
            weft__decisions_release(&out.rec);
            break;
        }
        weft__decisions_release(&prefix);
        prefix = out.rec;
        prefix.len = i + 1;
        prefix.v[i].value++;
        if (ours)
            progress(c, false);
        if (c->res->runs >= max) {
            c->stopped = "max_schedules";
            break;
        }
        if (over_time(c)) {
            c->stopped = "time_budget";
            break;
        }
    }
    free(pre);
    free(prev_hash);
    weft__decisions_release(&prefix);
    return r;
}

/* A campaign's runs follow each other on this thread: it holds the guard's
 * signal stack and the watchdog's timer between them, so that a run pays
 * no system call for either (six per seed before: 16% of a short one). */
static void campaign_hold(void)
{
    weft__guard_hold();
    weft__watchdog_hold();
}

static void campaign_release(void)
{
    weft__watchdog_release();
    weft__guard_release();
}

/* Run seed index k of the range (the seed is seed_start + k) on *spare. */
static int run_seed(campaign *c, uint64_t k, weft_rt **spare, weft__outcome *out)
{
    weft_config cfg = c->cfg;
    cfg.seed = c->o->seed_start + k;
    weft__run_spec sp = c->base;
    sp.cfg = &cfg;
    sp.keep = WEFT__KEEP_FAILED;
    sp.reuse = spare;
    return weft__run_once(&sp, out);
}

static uint64_t seed_count(const campaign *c)
{
    return c->o->seeds ? c->o->seeds : DEFAULT_SEEDS;
}

/* The seeds of the range this shard runs. */
static uint64_t shard_seeds(const campaign *c)
{
    uint64_t seeds = seed_count(c);
    return seeds / c->shard.count + (c->shard.index < seeds % c->shard.count);
}

static int explore_seeds(campaign *c)
{
    uint64_t seeds = seed_count(c);
    int r = 0;
    /* Shard i of n runs seeds i, i + n, i + 2n, … of the range: together
     * the shards run each seed once, and a time budget leaves each shard's
     * earliest seeds done. */
    for (uint64_t k = c->shard.index; k < seeds; k += c->shard.count) {
        weft__outcome out;
        if ((r = run_seed(c, k, &c->spare, &out)) < 0)
            break;
        bool stop = account(c, &out, c->o->seed_start + k, false);
        weft__decisions_release(&out.rec);
        if (stop)
            break;
        progress(c, false);
        if (over_time(c)) {
            c->stopped = "time_budget";
            break;
        }
    }
    return r;
}

/* ---- seeds on several OS threads ----
 * Job j of J runs the shard's seeds j, j + J, j + 2J, … (counted within the
 * shard), each on its own runtime, and keeps every run's trace hash in seed
 * order and its failing runs whole. Once a seed fails (without KEEP_GOING)
 * no job starts a later seed; runs of later seeds a job made before it heard
 * are then left out. The merge accounts for the runs in seed order, as one
 * job would have, so the result does not depend on how the jobs raced. */

typedef struct failed_run {
    uint64_t k;
    weft__outcome out;
} failed_run;

typedef struct job {
    campaign *c;
    unsigned index;
    weft__thread thread;
    weft_rt *spare;
    uint64_t *hashes; /* of the job's runs, in seed order */
    size_t runs, cap;
    failed_run *failed; /* in seed order */
    size_t nfailed, failed_cap;
    int r;
} job;

/* v (n elements of `size`, room for *cap) with room for one more: v itself,
 * or its grown copy; NULL (v left as it was) when memory runs out. */
static void *room_for_one(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t grown = *cap ? *cap * 2 : 64;
    void *p = realloc(v, grown * size);
    if (p)
        *cap = grown;
    return p;
}

static int job_keep(job *jb, uint64_t k, weft__outcome *out)
{
    uint64_t *hashes = room_for_one(jb->hashes, &jb->cap, jb->runs, sizeof *hashes);
    if (!hashes)
        return WEFT_ENOMEM;
    jb->hashes = hashes;
    if (weft__is_failure(out->status)) {
        failed_run *failed = room_for_one(jb->failed, &jb->failed_cap, jb->nfailed, sizeof *failed);
        if (!failed)
            return WEFT_ENOMEM;
        jb->failed = failed;
        jb->failed[jb->nfailed].k = k;
        jb->failed[jb->nfailed++].out = *out; /* its decisions move with it */
    } else {
        weft__decisions_release(&out->rec);
    }
    jb->hashes[jb->runs++] = out->hash;
    return 0;
}

/* The lowest failing seed index wins, whichever job finds it first. */
static void note_failed(campaign *c, uint64_t k)
{
    uint64_t cur = weft__ld(&c->first_failed, WEFT__RELAXED);
    while (k < cur && !weft__cas(&c->first_failed, &cur, k, WEFT__RELEASE, WEFT__RELAXED))
        ;
}

static void *job_main(void *arg)
{
    job *jb = arg;
    campaign *c = jb->c;
    uint64_t seeds = seed_count(c), stride = (uint64_t)c->shard.count * c->jobs;
    bool keep_going = c->o->flags & WEFT_EXPLORE_KEEP_GOING;
    if (jb->index)
        campaign_hold(); /* the calling thread holds its own already */
    for (uint64_t k = c->shard.index + (uint64_t)jb->index * c->shard.count; k < seeds; k += stride) {
        if (k > weft__ld(&c->first_failed, WEFT__ACQUIRE) || weft__ld(&c->halted, WEFT__RELAXED))
            break;
        weft__outcome out;
        if ((jb->r = run_seed(c, k, jb->index ? &jb->spare : &c->spare, &out)) < 0) {
            weft__st(&c->halted, HALT_ERROR, WEFT__RELAXED);
            break;
        }
        bool failed = weft__is_failure(out.status);
        if ((jb->r = job_keep(jb, k, &out)) < 0) {
            weft__decisions_release(&out.rec);
            weft__st(&c->halted, HALT_ERROR, WEFT__RELAXED);
            break;
        }
        uint64_t done = weft__fetch_add(&c->runs_done, 1u, WEFT__RELAXED) + 1;
        if (failed && !keep_going) {
            note_failed(c, k);
            break;
        }
        if (!jb->index)
            progress_at(c, done, false);
        if (over_time(c)) {
            weft__st(&c->halted, HALT_TIME, WEFT__RELAXED);
            break;
        }
    }
    if (jb->index)
        campaign_release();
    return NULL;
}

/* Account for the jobs' runs in seed order, up to the first failure that
 * stops exploring. */
static void merge_jobs(campaign *c, job *jobs)
{
    size_t next_failed[WEFT_EXPLORE_MAX_JOBS] = {0};
    uint64_t seeds = seed_count(c), i = 0;
    for (uint64_t k = c->shard.index; k < seeds; k += c->shard.count, i++) {
        job *jb = &jobs[i % c->jobs];
        size_t at = (size_t)(i / c->jobs);
        if (at >= jb->runs)
            continue; /* not run: past a failure, or the time ran out */
        size_t *f = &next_failed[i % c->jobs];
        if (*f < jb->nfailed && jb->failed[*f].k == k) {
            if (account(c, &jb->failed[(*f)++].out, c->o->seed_start + k, false))
                return;
        } else {
            count_run(c, jb->hashes[at]);
        }
    }
}

static int explore_jobs(campaign *c)
{
    job *jobs = calloc(c->jobs, sizeof *jobs);
    if (!jobs)
        return WEFT_ENOMEM;
    weft__st(&c->first_failed, UINT64_MAX, WEFT__RELAXED);
    unsigned started = 1;
    for (unsigned j = 0; j < c->jobs; j++) {
        jobs[j].c = c;
        jobs[j].index = j;
    }
    /* A job whose thread cannot start runs here after job 0: the result is
     * the same, only later. */
    while (started < c->jobs && weft__thread_start(&jobs[started].thread, job_main, &jobs[started]) == 0)
        started++;
    job_main(&jobs[0]);
    for (unsigned j = started; j < c->jobs; j++)
        job_main(&jobs[j]);
    for (unsigned j = 1; j < started; j++)
        weft__thread_join(&jobs[j].thread, NULL);
    int r = 0;
    for (unsigned j = 0; j < c->jobs && r == 0; j++)
        r = jobs[j].r;
    if (r == 0) {
        merge_jobs(c, jobs);
        if (weft__ld(&c->halted, WEFT__RELAXED) == HALT_TIME && strcmp(c->stopped, "first_failure"))
            c->stopped = "time_budget";
    }
    for (unsigned j = 0; j < c->jobs; j++) {
        for (size_t f = 0; f < jobs[j].nfailed; f++)
            weft__decisions_release(&jobs[j].failed[f].out.rec);
        free(jobs[j].failed);
        free(jobs[j].hashes);
        weft_rt_free(jobs[j].spare);
    }
    free(jobs);
    return r;
}

/* Run the first seed (or the all-default schedule) twice here, and, when
 * asked, once more in a fresh process: the traces must agree event by event.
 * 0, WEFT_EFAILED (res says why, with the runs it made), or an error. */
static int determinism_check(campaign *c, bool by_schedule, bool cross_process)
{
    weft_config cfg = c->cfg;
    cfg.seed = c->o->seed_start + (by_schedule ? 0 : c->shard.index);
    weft__decisions none = {0};
    weft_rt *a = NULL, *b = NULL;
    weft__run_spec sp = c->base;
    sp.cfg = &cfg;
    sp.record_trace = true;
    sp.keep_rt = &a;
    if (by_schedule)
        sp.prefix = &none;
    weft__outcome oa, ob;
    int r = weft__run_once(&sp, &oa);
    if (r < 0)
        return r;
    sp.keep_rt = &b;
    if ((r = weft__run_once(&sp, &ob)) < 0) {
        weft_rt_free(a);
        return r;
    }
    weft_explore_result *res = c->res;
    res->runs = 2;
    char ea[512] = "", eb[512] = "";
    int64_t at = weft_trace_diff(a, b, ea, sizeof ea, eb, sizeof eb);
    char what[64];
    if (by_schedule)
        snprintf(what, sizeof what, "the first schedule");
    else
        snprintf(what, sizeof what, "seed %" PRIu64, cfg.seed);
    if (at >= 0) {
        weft_rt_free(a);
        weft_rt_free(b);
        snprintf(res->message, sizeof res->message,
                 "nondeterminism: %s ran twice in this process and the traces part at event %" PRId64 ":\n"
                 "  first run:  %s\n  second run: %s\n"
                 "(the test depends on something outside the simulator: state left by an earlier run, rand(), "
                 "an address, real time)",
                 what, at, ea, eb);
        return WEFT_EFAILED;
    }
    if (at != -1) {
        weft_rt_free(a);
        weft_rt_free(b);
        return (int)at;
    }
    /* Once more on the second runtime, reset, as exploration runs seeds: a
     * difference here is weft's to fix, not the test's. */
    if ((r = weft__run_once(&sp, &ob)) < 0) {
        weft_rt_free(b);
        weft_rt_free(a);
        return r;
    }
    res->runs = 3;
    at = weft_trace_diff(a, b, ea, sizeof ea, eb, sizeof eb);
    weft_rt_free(b);
    if (at != -1) {
        weft_rt_free(a);
        if (at < 0)
            return (int)at;
        snprintf(res->message, sizeof res->message,
                 "nondeterminism: %s ran on a new runtime and on a reset one (weft_rt_reset) and the traces part "
                 "at event %" PRId64 ":\n  new:   %s\n  reset: %s\n(a defect in weft: please report it)",
                 what, at, ea, eb);
        return WEFT_EFAILED;
    }
    if (cross_process) {
        char why[2048] = "";
        r = weft__selfcheck_process(c->self_key, a, why, sizeof why);
        if (r == 0) {
            res->runs = 4;
        } else if (r == WEFT_EFAILED) {
            res->runs = 4;
            snprintf(res->message, sizeof res->message, "nondeterminism: %s ran in this process and in a fresh one, "
                     "and the traces part %s\n(the test depends on something that differs between processes: the "
                     "process id, addresses, rand() seeded from them, the environment)",
                     what, why);
        } else {
            snprintf(res->message, sizeof res->message, "weft: the cross-process determinism check could not run: %s",
                     why);
        }
    }
    weft_rt_free(a);
    return r;
}

/* PCT's change points are spread over its estimate of a run's steps (the
 * paper's k: the longest run). When the configuration leaves it 0, the
 * first PCT_CALIBRATION seeds of the whole range measure it — the same on
 * every shard — so that every seed's run depends only on the seed and the
 * configuration, never on which seeds ran before it. */
#define PCT_CALIBRATION 16u

static int pct_calibrate(campaign *c)
{
    uint64_t k = 1;
    for (unsigned i = 0; i < PCT_CALIBRATION; i++) {
        weft_config cfg = c->cfg;
        cfg.seed = c->o->seed_start + i;
        weft__run_spec sp = c->base;
        sp.cfg = &cfg;
        weft__outcome out;
        int r = weft__run_once(&sp, &out);
        if (r < 0)
            return r;
        if (out.interleave_decisions > k)
            k = out.interleave_decisions;
    }
    c->cfg.sim.pct_steps = (unsigned)(k > UINT32_MAX ? UINT32_MAX : k);
    return 0;
}

static bool env_on(const weft_config *cfg, const char *name, const char **value)
{
    if (cfg->flags & WEFT_CFG_NO_ENV)
        return false;
    const char *v = getenv(name);
    if (!v || !*v)
        return false;
    if (value)
        *value = v;
    return true;
}

/* A schedule this long is not printed into a message (it would be cut, and
 * a cut schedule replays nothing): the result and the results file have it
 * whole. */
#define PRINTABLE_SCHEDULE 2000u

static void finish_message(campaign *c, weft_fn test, void *arg)
{
    const weft_explore_opts *o = c->o;
    weft_explore_result *res = c->res;
    bool by_schedule = c->cfg.sim.strategy == WEFT_STRATEGY_EXHAUSTIVE || !strncmp(res->message, "nondeterminism", 14);
    char line[4096];
    weft_config fail_cfg = c->cfg;
    if (!strncmp(res->message, "nondeterminism", 14) || !strncmp(res->message, "weft: the cross", 15))
        return; /* the self-check's message says it all; no schedule replays it */
    if (by_schedule && res->schedule && strlen(res->schedule) > PRINTABLE_SCHEDULE)
        snprintf(line, sizeof line, "weft: the failing schedule (%zu decisions) is too long to print here: see "
                 "weft_explore_result.schedule or the results file (WEFT_RESULTS)", res->schedule_len);
    else if (by_schedule)
        weft__replay_line(&fail_cfg, o->name, 0, NULL, 0, res->schedule ? res->schedule : "?", line, sizeof line);
    else
        weft__replay_line(&fail_cfg, o->name, res->failing_seed, NULL, 0, NULL, line, sizeof line);
    weft__appendf(res->message, sizeof res->message, "%s%s", res->message[0] ? "\n" : "", line);
    if (res->failures > 1)
        weft__appendf(res->message, sizeof res->message,
                      "\nweft: %" PRIu64 " of %" PRIu64 " runs failed (%" PRIu64 " distinct failure(s)); the one above "
                      "is the first",
                      res->failures, res->runs, res->distinct_failures);
    /* Shrinking and the timeline are extras: the failure found stands even
     * if they cannot be had, and the message says why. */
    if ((o->flags & WEFT_EXPLORE_SHRINK) && c->have_first && res->status != WEFT_ETIMEDOUT) {
        weft__decisions shrunk;
        weft__run_spec sp = c->base;
        int r = weft__shrink(&sp, &c->first_rec, o->shrink_budget ? o->shrink_budget : DEFAULT_SHRINK_BUDGET,
                             o->shrink_time_s, &shrunk);
        if (r == 0)
            r = weft__schedule_encode(shrunk.v, shrunk.len, &res->shrunk);
        if (r == 0) {
            res->shrunk_len = shrunk.len;
            if (strlen(res->shrunk) > PRINTABLE_SCHEDULE)
                snprintf(line, sizeof line, "weft: its schedule is too long to print here: see "
                         "weft_explore_result.shrunk or the results file (WEFT_RESULTS)");
            else
                weft__replay_line(&fail_cfg, o->name, 0, NULL, 0, res->shrunk, line, sizeof line);
            weft__appendf(res->message, sizeof res->message,
                          "\nweft: shrunk from %zu to %zu decisions (%zu of them choices): %s", res->schedule_len,
                          res->shrunk_len, weft__choices(&shrunk), line + strlen("weft: "));
            size_t len = strlen(res->shrunk) + 1024;
            char *vars = c->out ? malloc(len) : NULL;
            if (vars) {
                weft__replay_vars(&fail_cfg, o->name, 0, NULL, 0, res->shrunk, vars, len);
                weft__results_shrunk(c->out, res->failing_seed, res->signature, res->schedule_len, res->shrunk_len,
                                     vars);
            }
            free(vars);
        } else {
            weft__appendf(res->message, sizeof res->message, "\nweft: could not shrink: %s", weft_strerror(r));
        }
        weft__decisions_release(&shrunk);
    }
    if (o->timeline_path && res->status != WEFT_ETIMEDOUT) {
        const char *sched = res->shrunk ? res->shrunk : res->schedule;
        if (sched)
            weft__write_timelines(&fail_cfg, test, arg, res->failing_seed, sched, o->timeline_path, res->message,
                                  sizeof res->message);
    }
}

static int explore(const weft_explore_opts *o, weft_fn test, void *arg, weft_explore_result *res);

int weft_explore(const weft_explore_opts *o, weft_fn test, void *arg, weft_explore_result *res)
{
    if (!o || !test || !res)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_explore: NULL argument");
    campaign_hold();
    int r = explore(o, test, arg, res);
    campaign_release();
    return r;
}

static int explore(const weft_explore_opts *o, weft_fn test, void *arg, weft_explore_result *res)
{
    memset(res, 0, sizeof *res);
    campaign c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.res = res;
    c.t0 = weft__wall_now();
    c.cfg = o->cfg;
    c.cfg.mode = WEFT_MODE_SIM;
    c.base = (weft__run_spec){.cfg = &c.cfg, .test = test, .arg = arg, .name = o->name, .timeout_s = o->run_timeout_s,
                              .reuse = &c.spare};
    c.stopped = "complete";
    weft__selfcheck_key(o->name, c.self_key, sizeof c.self_key);
    bool by_schedule = c.cfg.sim.strategy == WEFT_STRATEGY_EXHAUSTIVE;
    /* In a process re-executed for the cross-process check, only the one
     * exploration asked about runs (and the process ends there). */
    if (weft__selfcheck_child_mode()) {
        weft_config cfg = c.cfg;
        weft__decisions none = {0};
        weft__run_spec sp = c.base;
        sp.cfg = &cfg;
        sp.reuse = NULL;
        if (by_schedule) {
            sp.prefix = &none;
        } else {
            weft__shard sh;
            char why[256];
            bool use_env = !(c.cfg.flags & WEFT_CFG_NO_ENV);
            if (weft__shard_resolve(o->shard_index, o->shard_count, use_env, &sh, why, sizeof why) == 0)
                cfg.seed = o->seed_start + sh.index;
        }
        if (c.cfg.sim.strategy == WEFT_STRATEGY_PCT && !c.cfg.sim.pct_steps && pct_calibrate(&c) == 0)
            cfg.sim.pct_steps = c.cfg.sim.pct_steps;
        weft__selfcheck_child_run(c.self_key, &sp);
        weft_rt_free(c.spare); /* PCT's calibration ran on it */
        return 0;
    }
    char why[512];
    int r = weft__shard_resolve(o->shard_index, o->shard_count, !(c.cfg.flags & WEFT_CFG_NO_ENV), &c.shard, why,
                                sizeof why);
    if (r < 0) {
        snprintf(res->message, sizeof res->message, "%s", why);
        return r;
    }
    res->shard_index = c.shard.index;
    res->shard_count = c.shard.count;
    if (o->jobs > WEFT_EXPLORE_MAX_JOBS) {
        snprintf(res->message, sizeof res->message, "weft: explore: %u jobs asked for, at most %u", o->jobs,
                 WEFT_EXPLORE_MAX_JOBS);
        return WEFT_MISUSE(WEFT_EINVAL, "weft_explore: too many jobs");
    }
    c.jobs = o->jobs ? o->jobs : 1;
    const char *check = NULL;
    bool self_check = (o->flags & (WEFT_EXPLORE_CHECK_DETERMINISM | WEFT_EXPLORE_CHECK_PROCESS)) ||
                      env_on(&c.cfg, "WEFT_CHECK_DETERMINISM", &check);
    bool cross_process = (o->flags & WEFT_EXPLORE_CHECK_PROCESS) || (check && !strcmp(check, "process"));
    if (check && strcmp(check, "1") && strcmp(check, "process") && strcmp(check, "0")) {
        snprintf(res->message, sizeof res->message,
                 "weft: WEFT_CHECK_DETERMINISM=\"%s\" is not valid: expected 0, 1 or process", check);
        return WEFT_EINVAL;
    }
    if (check && !strcmp(check, "0") && !(o->flags & (WEFT_EXPLORE_CHECK_DETERMINISM | WEFT_EXPLORE_CHECK_PROCESS)))
        self_check = false;
    const char *results = o->results_path, *junit = o->junit_path;
    if (!results)
        env_on(&c.cfg, "WEFT_RESULTS", &results);
    if (!junit)
        env_on(&c.cfg, "XML_OUTPUT_FILE", &junit);
    c.draw = (o->flags & WEFT_EXPLORE_PROGRESS) && isatty(2);
    if (!by_schedule && c.cfg.sim.strategy == WEFT_STRATEGY_PCT && !c.cfg.sim.pct_steps && (r = pct_calibrate(&c)) < 0) {
        weft_rt_free(c.spare);
        return r;
    }
    c.base.cfg = &c.cfg;
    if (results || junit)
        c.out = weft__results_open(results, junit, o, &c.cfg, &c.shard);
    if (self_check) {
        r = determinism_check(&c, by_schedule, cross_process);
        if (r == WEFT_EFAILED) {
            res->status = r;
            res->failures = 1;
            res->distinct_failures = 1;
            res->failing_seed = by_schedule ? 0 : o->seed_start + c.shard.index;
            weft__signature(r, res->message, res->signature, sizeof res->signature);
            if (c.out)
                weft__results_failure(c.out, res->failing_seed, false, r, res->signature, res->message, "");
            c.stopped = "self_check";
        } else if (r < 0) {
            weft_rt_free(c.spare);
            weft__results_close(c.out, res, "", "error");
            return r;
        } else {
            res->runs = 0; /* the check's runs are not exploring's; a failed one reports them */
        }
    }
    if (r == 0) {
        if (!by_schedule) {
            c.target = shard_seeds(&c);
            if (c.jobs > c.target) /* a job with no seed would start a thread for nothing */
                c.jobs = c.target ? (unsigned)c.target : 1;
        }
        r = by_schedule ? explore_exhaustive(&c) : c.jobs > 1 ? explore_jobs(&c) : explore_seeds(&c);
    }

    res->distinct_traces = c.hs.n;
    free(c.hs.v);
    for (size_t i = 0; i < c.nsigs; i++)
        free(c.sigs[i]);
    if (r < 0 && r != WEFT_EFAILED) {
        weft_rt_free(c.spare);
        weft__decisions_release(&c.first_rec);
        weft__results_close(c.out, res, "", "error");
        return r;
    }
    progress(&c, true);
    if (res->failures) {
        finish_message(&c, test, arg);
        if (!(o->flags & WEFT_EXPLORE_QUIET)) {
            if (res->failures > 1 || (o->flags & WEFT_EXPLORE_KEEP_GOING))
                fprintf(stderr, "weft: %s %" PRIu64 " failed (the first of %" PRIu64 " failing runs in %" PRIu64 "):\n%s\n",
                        by_schedule ? "schedule" : "seed", res->failing_seed, res->failures, res->runs, res->message);
            else
                fprintf(stderr, "weft: %s %" PRIu64 " failed:\n%s\n", by_schedule ? "schedule" : "seed",
                        res->failing_seed, res->message);
        }
    }
    weft_rt_free(c.spare); /* shrinking above ran on it too */
    weft__decisions_release(&c.first_rec);
    res->elapsed_s = weft__wall_now() - c.t0;
    char strategy[64];
    strategy_name(&c.cfg, strategy, sizeof strategy);
    weft__results_close(c.out, res, strategy, c.stopped);
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

/* ---- shrinking a printed schedule ---- */

static int shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule, unsigned budget, char **out,
                  size_t *out_len);

int weft_shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule, unsigned budget, char **out,
                size_t *out_len)
{
    if (!test || !schedule || !out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_shrink: NULL argument");
    campaign_hold();
    int r = shrink(cfg, test, arg, schedule, budget, out, out_len);
    campaign_release();
    return r;
}

static int shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule, unsigned budget, char **out,
                  size_t *out_len)
{
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
        r = weft__decisions_copy(&cur, &dec);
    weft__decisions_free(tmp, &dec);
    weft_rt_free(tmp);
    if (r < 0)
        return r == WEFT_EINVAL ? WEFT_MISUSE(WEFT_EINVAL, "weft_shrink: %s", why) : r;
    /* The recorded decisions carry streams and the worker order: run the
     * schedule once to have them. */
    weft__run_spec sp = {.cfg = &base, .test = test, .arg = arg, .prefix = &cur, .keep = WEFT__KEEP_ALWAYS};
    weft__outcome o;
    r = weft__run_once(&sp, &o);
    weft__decisions_release(&cur);
    if (r < 0)
        return r;
    if (!weft__is_failure(o.status)) {
        weft__decisions_release(&o.rec);
        return WEFT_MISUSE(WEFT_EINVAL, "weft_shrink: the schedule does not fail");
    }
    sp.prefix = NULL;
    weft__decisions shrunk;
    r = weft__shrink(&sp, &o.rec, budget ? budget : DEFAULT_SHRINK_BUDGET, 0, &shrunk);
    weft__decisions_release(&o.rec);
    if (r == 0)
        r = weft__schedule_encode(shrunk.v, shrunk.len, out);
    if (out_len)
        *out_len = shrunk.len;
    weft__decisions_release(&shrunk);
    return r;
}
