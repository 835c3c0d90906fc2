/* check.c — the engine of the Check helper (weft/check.h): a test body
 * explored under many seeds with the whole bug-finding workflow on failure —
 * the replay line, the shrunk schedule and its line, the timeline of the
 * shrunk run — steered by the environment.
 *
 * The run-shaping variables (WEFT_SEED, WEFT_SCHEDULE, WEFT_WORKERS,
 * WEFT_STRATEGY, the fault knobs, WEFT_MODE, WEFT_TRACE, WEFT_SEEDS…) steer
 * every helper, unless WEFT_TEST names one: then only the helper of that name
 * follows them and every other test runs as its code says, so replaying one
 * test's printed line leaves the others alone. The campaign's variables
 * (shards, results files, budgets) apply to every helper.
 */
#define _GNU_SOURCE
#include "explore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Shrinking after a failure is bounded in wall time by default: a big test
 * can take seconds a run, and the failure found must not wait for long. */
#define DEFAULT_SHRINK_SECONDS 10.0

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A non-negative number of seconds, or an error naming the variable. */
static int env_seconds(const char *name, double *out, char *msg, size_t msglen)
{
    const char *v = env(name);
    if (!v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= 0) || d > 1e9) {
        snprintf(msg, msglen, "weft: %s=\"%s\" is not valid: expected a number of seconds", name, v);
        return WEFT_EINVAL;
    }
    *out = d;
    return 0;
}

/* WEFT_JOBS for a test that runs its seeds on `jobs` threads (jobs > 0):
 * how many, 1 to WEFT_EXPLORE_MAX_JOBS, or an error naming the variable. A
 * test that did not opt in stays on one thread whatever it says. */
static int env_jobs(unsigned *jobs, char *msg, size_t msglen)
{
    const char *v = env("WEFT_JOBS");
    if (!v || !*jobs)
        return 0;
    uint64_t n;
    if (weft__parse_u64(v, &n) < 0 || n == 0 || n > WEFT_EXPLORE_MAX_JOBS) {
        snprintf(msg, msglen, "weft: WEFT_JOBS=\"%s\" is not valid: expected 1 to %u threads", v,
                 WEFT_EXPLORE_MAX_JOBS);
        return WEFT_EINVAL;
    }
    *jobs = (unsigned)n;
    return 0;
}

/* Make a directory and its parents (what `mkdir -p` does); errors show
 * later, when the timeline cannot be written there. */
static void make_dirs(const char *dir)
{
    char path[3000];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(path, 0777);
        *p = '/';
    }
    mkdir(path, 0777);
}

/* Where a test's timeline goes: <dir>/<name> for a directory (existing, or
 * written with a trailing '/', and then made if missing), else the path
 * without its extension; the files are <stem>.json and <stem>.html. False
 * when nowhere. */
static bool timeline_stem(const char *dest, const char *name, char *buf, size_t len)
{
    char safe[200];
    size_t n = 0;
    for (const char *p = name ? name : "weft-timeline"; *p && n + 1 < sizeof safe; p++)
        safe[n++] = (*p == '/' || *p == ' ' || *p == '\\') ? '_' : *p;
    safe[n] = 0;
    if (!dest) {
        if (!name)
            return false;
        const char *tmp = env("TMPDIR");
        snprintf(buf, len, "%s/weft-%s", tmp ? tmp : "/tmp", safe);
        return true;
    }
    size_t dl = strlen(dest);
    struct stat st;
    if (dest[dl - 1] == '/' || (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))) {
        if (dest[dl - 1] == '/')
            make_dirs(dest);
        snprintf(buf, len, "%.*s/%s", (int)(dest[dl - 1] == '/' ? dl - 1 : dl), dest, safe);
        return true;
    }
    static const char *const exts[] = {".json", ".html", ".txt"};
    for (size_t i = 0; i < 3; i++) {
        size_t el = strlen(exts[i]);
        if (dl > el && !strcmp(dest + dl - el, exts[i])) {
            snprintf(buf, len, "%.*s", (int)(dl - el), dest);
            return true;
        }
    }
    snprintf(buf, len, "%s", dest);
    return true;
}

/* WEFT_SCHEDULE: one exact run. */
static int replay_schedule(const weft_config *cfg, const char *name, const char *schedule, const char *stem,
                           weft_fn test, void *arg, char *msg, size_t msglen)
{
    /* Decode first, for the reason a schedule is refused. */
    weft_rt *tmp;
    weft_config tc;
    memset(&tc, 0, sizeof tc);
    tc.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    int r = weft_rt_new(&tmp, &tc);
    if (r < 0)
        return r;
    weft__decisions dec;
    char why[256];
    r = weft__schedule_decode(tmp, schedule, &dec, why, sizeof why);
    weft__decisions_free(tmp, &dec);
    weft_rt_free(tmp);
    if (r < 0) {
        snprintf(msg, msglen, "weft: WEFT_SCHEDULE could not be used: %s", r == WEFT_EINVAL ? why : weft_strerror(r));
        return r;
    }
    weft_config c = *cfg;
    c.mode = WEFT_MODE_SIM;
    c.schedule = schedule;
    c.trace_path = NULL;
    c.flags |= WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    if (stem)
        c.sim.record_trace = 1;
    weft_rt *rt;
    if ((r = weft_rt_new(&rt, &c)) < 0) {
        snprintf(msg, msglen, "weft: WEFT_SCHEDULE could not be used: %s", weft_strerror(r));
        return r;
    }
    weft__sim *s = weft__sim_of(rt);
    s->test_name = name;
    r = weft_rt_block_on(rt, test, arg, NULL);
    if (r == 0 && s->replay_pos < s->replay.len) {
        /* The whole run is one block_on here: decisions left over mean the
         * schedule was recorded from a different program. */
        r = WEFT_ESCHEDULE;
        snprintf(s->message, sizeof s->message,
                 "the schedule does not fit this program: it ran to the end with %zu of its %zu decisions unused — "
                 "was it recorded from a different program or configuration?",
                 s->replay.len - s->replay_pos, s->replay.len);
    }
    if (weft__is_failure(r)) {
        char line[4096];
        /* A refused schedule replays nothing: no line for it. */
        if (r != WEFT_ESCHEDULE)
            weft__replay_line(cfg, name, 0, NULL, 0, schedule, line, sizeof line);
        else
            line[0] = 0;
        snprintf(msg, msglen, "%s%s%s", s->message, line[0] ? "\n" : "", line);
    }
    if (stem && r != WEFT_ESCHEDULE) {
        char json[4096], html[4096];
        snprintf(json, sizeof json, "%s.json", stem);
        weft__html_path(json, html, sizeof html);
        int w = weft_rt_trace_write_json(rt, json);
        if (w == 0)
            w = weft_rt_trace_write_html(rt, html);
        if (w == 0)
            weft__appendf(msg, msglen, "%sweft: timeline: %s (open in a browser), %s (for https://ui.perfetto.dev)",
                          msg[0] ? "\n" : "", html, json);
    }
    weft_rt_free(rt);
    return weft__is_failure(r) ? r : 0;
}

int weft_check_run(const weft_check_opts *co, weft_fn test, void *arg, char *msg, size_t msglen)
{
    char scratch[64];
    if (!msg || !msglen) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    msg[0] = 0;
    if (!test)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_check_run: NULL test");
    weft_check_opts d;
    if (co)
        d = *co;
    else
        memset(&d, 0, sizeof d);
    weft_config cfg;
    if (d.cfg) {
        cfg = *d.cfg;
    } else {
        memset(&cfg, 0, sizeof cfg);
        cfg.workers = 2;
    }
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.name = d.name;
    /* In a process re-executed for another's cross-process check, only that
     * exploration runs (weft_explore knows which): everything else here takes
     * the same path as in the first process, so that the explorations are
     * counted alike, but runs and writes nothing. */
    bool child = weft__selfcheck_child_mode();
    const char *only = env("WEFT_TEST");
    bool mine = !only || (d.name && !strcmp(only, d.name));
    uint64_t seeds = d.seeds ? d.seeds : 1000;
    double shrink_s = d.shrink_time_s > 0 ? d.shrink_time_s : DEFAULT_SHRINK_SECONDS;
    const char *dest = d.timeline;
    bool has_seed = false, has_seeds = false;
    weft_config envcfg = cfg;
    int r;
    if (mine) {
        /* The environment decides here, once, the way weft_rt_new would for
         * a single run. */
        envcfg.schedule = NULL;
        envcfg.trace_path = NULL;
        if ((r = weft__env_apply(&envcfg, 1, msg, msglen)) < 0)
            return r;
        cfg.mode = envcfg.mode;
        cfg.workers = envcfg.workers;
        cfg.sim = envcfg.sim;
        has_seed = env("WEFT_SEED") != NULL;
        const char *v = env("WEFT_SEEDS");
        if (v) {
            has_seeds = true;
            if (weft__parse_u64(v, &seeds) < 0) {
                snprintf(msg, msglen, "weft: WEFT_SEEDS=\"%s\" is not valid: expected an unsigned 64-bit integer", v);
                return WEFT_EINVAL;
            }
        }
        if ((r = env_seconds("WEFT_SHRINK_SECONDS", &shrink_s, msg, msglen)) < 0)
            return r;
        if (!dest)
            dest = envcfg.trace_path;
    }
    if ((r = env_seconds("WEFT_TIME_BUDGET", &o.time_budget_s, msg, msglen)) < 0 ||
        (r = env_seconds("WEFT_RUN_TIMEOUT", &o.run_timeout_s, msg, msglen)) < 0)
        return r;
    char stem[3000];
    bool timeline = timeline_stem(dest, d.name, stem, sizeof stem);
    if (cfg.mode == WEFT_MODE_THREADED && child)
        return 0;
    if (cfg.mode == WEFT_MODE_THREADED) {
        /* The body once on the real backend: a failed WEFT_ASSERT aborts
         * there, so what comes back is the body's own error, if any. */
        weft_config tc = cfg;
        tc.flags |= WEFT_CFG_NO_ENV;
        tc.schedule = NULL;
        tc.trace_path = NULL;
        weft_rt *rt;
        if ((r = weft_rt_new(&rt, &tc)) == 0) {
            r = weft_rt_block_on(rt, test, arg, NULL);
            weft_rt_free(rt);
        }
        if (r < 0)
            snprintf(msg, msglen, "weft: the run on the real backend (WEFT_MODE=threaded) returned %d (%s)", r,
                     weft_strerror(r));
        return r;
    }
    if (mine && envcfg.schedule && child)
        return 0;
    if (mine && envcfg.schedule)
        return replay_schedule(&cfg, d.name, envcfg.schedule, mine && env("WEFT_TRACE") ? stem : NULL, test, arg,
                               msg, msglen);
    o.cfg = cfg;
    o.seed_start = has_seed ? envcfg.seed : 0;
    o.seeds = has_seed && !has_seeds ? 1 : seeds;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_SHRINK | WEFT_EXPLORE_PROGRESS | WEFT_EXPLORE_CHECK_DETERMINISM;
    const char *check = env("WEFT_CHECK_DETERMINISM");
    if (check && !strcmp(check, "process"))
        o.flags |= WEFT_EXPLORE_CHECK_PROCESS;
    else if (check && !strcmp(check, "0"))
        o.flags &= ~WEFT_EXPLORE_CHECK_DETERMINISM;
    else if (check && strcmp(check, "1")) {
        snprintf(msg, msglen, "weft: WEFT_CHECK_DETERMINISM=\"%s\" is not valid: expected 0, 1 or process", check);
        return WEFT_EINVAL;
    }
    const char *keep = env("WEFT_KEEP_GOING");
    if (keep && !strcmp(keep, "1"))
        o.flags |= WEFT_EXPLORE_KEEP_GOING;
    o.jobs = d.jobs;
    if ((r = env_jobs(&o.jobs, msg, msglen)) < 0)
        return r;
    if (o.cfg.sim.strategy == WEFT_STRATEGY_EXHAUSTIVE)
        o.preemption_bound = 2;
    o.shrink_budget = d.shrink_budget;
    o.shrink_time_s = shrink_s;
    if (shrink_s == 0 && env("WEFT_SHRINK_SECONDS"))
        o.flags &= ~WEFT_EXPLORE_SHRINK; /* WEFT_SHRINK_SECONDS=0: do not shrink */
    /* One seed asked for is a replay: it runs whatever shard this is. */
    weft__shard shard = {0, 1, "unsharded"};
    if (!(has_seed && !has_seeds) && (r = weft__shard_resolve(0, 0, true, &shard, msg, msglen)) < 0)
        return r;
    o.shard_index = shard.index;
    o.shard_count = shard.count;
    o.results_path = env("WEFT_RESULTS");
    o.junit_path = env("XML_OUTPUT_FILE");
    char json[3100];
    if (timeline) {
        snprintf(json, sizeof json, "%s.json", stem);
        o.timeline_path = json;
    }
    weft_explore_result res;
    r = weft_explore(&o, test, arg, &res);
    if (r < 0) {
        if (res.message[0])
            snprintf(msg, msglen, "%s", res.message);
        else
            snprintf(msg, msglen, "weft: exploration could not run: %s", weft_strerror(r));
        return r;
    }
    if (res.failures) {
        snprintf(msg, msglen, "%s", res.message);
        r = res.status;
    } else if (mine && has_seed && !has_seeds && env("WEFT_TRACE") && timeline && !child) {
        /* One seed asked for with WEFT_TRACE: its timeline, failing or not. */
        weft__write_timelines(&o.cfg, test, arg, o.seed_start, NULL, json, msg, msglen);
        memmove(msg, msg + (msg[0] == '\n'), strlen(msg + (msg[0] == '\n')) + 1);
    }
    weft_explore_result_free(&res);
    return r;
}

int weft_check_seeds(const weft_config *base, weft_fn test, void *arg, uint64_t default_seeds, char *msg,
                     size_t msglen)
{
    weft_config zero;
    memset(&zero, 0, sizeof zero);
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = base ? base : &zero;
    o.seeds = default_seeds;
    return weft_check_run(&o, test, arg, msg, msglen);
}
