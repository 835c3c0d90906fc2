/* env.c — the WEFT_* environment overrides, read once in weft_rt_new. A
 * malformed value is refused with a message naming the variable: a typo in
 * WEFT_SEED must not silently run a different seed. */
#include "core.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static int bad(const char *var, const char *value, const char *want, int quiet, char *why, size_t whylen)
{
    char msg[256];
    snprintf(msg, sizeof msg, "weft: %s=\"%s\" is not valid: expected %s", var, value, want);
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
    if (!quiet)
        fprintf(stderr, "%s\n", msg);
    return WEFT_EINVAL;
}

int weft__parse_u64(const char *s, uint64_t *out)
{
    /* strtoull would also take leading blanks, a sign, and wrap "-1". */
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* "pct", "pct:<depth>" or "pct:<depth>:<steps>" (the form explore prints,
 * since PCT's change points depend on its step estimate). */
static int parse_pct(const char *v, weft_sim_config *sim)
{
    char buf[64];
    if (strncasecmp(v, "pct", 3) || (v[3] && v[3] != ':') || strlen(v) >= sizeof buf)
        return -1;
    strcpy(buf, v);
    char *depth = v[3] ? buf + 4 : NULL;
    char *steps = depth ? strchr(depth, ':') : NULL;
    if (steps)
        *steps++ = '\0';
    uint64_t d = 0, k = 0;
    if (depth && (weft__parse_u64(depth, &d) < 0 || d < 1 || d > 64))
        return -1;
    if (steps && (weft__parse_u64(steps, &k) < 0 || k < 1 || k > UINT32_MAX))
        return -1;
    sim->strategy = WEFT_STRATEGY_PCT;
    if (d)
        sim->pct_depth = (unsigned)d;
    if (k)
        sim->pct_steps = (unsigned)k;
    return 0;
}

int weft__env_apply(weft_config *cfg, int quiet, char *why, size_t whylen)
{
    const char *v;
    if ((v = getenv("WEFT_MODE")) && *v) {
        if (!strcasecmp(v, "sim") || !strcasecmp(v, "simulation"))
            cfg->mode = WEFT_MODE_SIM;
        else if (!strcasecmp(v, "threaded") || !strcasecmp(v, "real"))
            cfg->mode = WEFT_MODE_THREADED;
        else
            return bad("WEFT_MODE", v, "sim or threaded", quiet, why, whylen);
    }
    if ((v = getenv("WEFT_SEED")) && *v) {
        uint64_t seed;
        if (weft__parse_u64(v, &seed) < 0)
            return bad("WEFT_SEED", v, "an unsigned 64-bit integer (decimal or 0x hex)", quiet, why, whylen);
        cfg->seed = seed;
    }
    if ((v = getenv("WEFT_WORKERS")) && *v) {
        uint64_t n;
        if (weft__parse_u64(v, &n) < 0 || n == 0 || n > WEFT_WORKERS_MAX)
            return bad("WEFT_WORKERS", v, "a worker count from 1 to 64", quiet, why, whylen);
        cfg->workers = (unsigned)n;
    }
    if ((v = getenv("WEFT_STRATEGY")) && *v) {
        if (!strcasecmp(v, "random"))
            cfg->sim.strategy = WEFT_STRATEGY_RANDOM;
        else if (!strcasecmp(v, "exhaustive"))
            cfg->sim.strategy = WEFT_STRATEGY_EXHAUSTIVE;
        else if (parse_pct(v, &cfg->sim) < 0)
            return bad("WEFT_STRATEGY", v, "random, pct, pct:<depth 1-64>[:<steps>] or exhaustive", quiet, why,
                       whylen);
    }
    if ((v = getenv("WEFT_WATCHDOG_MS")) && *v) {
        uint64_t ms;
        if (weft__parse_u64(v, &ms) < 0 || ms == 0 || ms > UINT32_MAX)
            return bad("WEFT_WATCHDOG_MS", v, "a number of milliseconds from 1 to 4294967295", quiet, why, whylen);
        cfg->sim.watchdog_ms = (unsigned)ms;
    }
    /* The fault and cost knobs: every one that shapes a run is in its
     * replay line, so each must be settable from the environment. */
    static const struct {
        const char *name;
        uint64_t min, max;
        const char *want;
    } knobs[] = {
        {"WEFT_BUGGIFY_PERMILLE", 1, 1000, "a chance in permille from 1 to 1000"},
        {"WEFT_FAIL_ALLOC_NTH", 1, UINT64_MAX, "the allocation to fail, counting from 1"},
        {"WEFT_FAIL_ALLOC_PERMILLE", 1, 1000, "a chance in permille from 1 to 1000"},
        {"WEFT_STEP_COST_NS", 0, UINT64_MAX, "virtual nanoseconds per scheduling step"},
        {"WEFT_STEP_BUDGET", 1, UINT64_MAX, "a number of steps, at least 1"},
    };
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        uint64_t x;
        if (!(v = getenv(knobs[i].name)) || !*v)
            continue;
        if (weft__parse_u64(v, &x) < 0 || x < knobs[i].min || x > knobs[i].max)
            return bad(knobs[i].name, v, knobs[i].want, quiet, why, whylen);
        switch (i) {
        case 0: cfg->sim.buggify_permille = (unsigned)x; break;
        case 1: cfg->sim.fail_alloc_nth = x; break;
        case 2: cfg->sim.fail_alloc_permille = (unsigned)x; break;
        case 3: cfg->sim.step_cost_ns = x; break;
        default: cfg->sim.step_budget = x; break;
        }
    }
    if ((v = getenv("WEFT_REACTOR")) && *v) {
        if (!strcasecmp(v, "epoll"))
            cfg->reactor = WEFT_REACTOR_EPOLL;
        else if (!strcasecmp(v, "uring") || !strcasecmp(v, "io_uring"))
            cfg->reactor = WEFT_REACTOR_URING;
        else if (!strcasecmp(v, "poll"))
            cfg->reactor = WEFT_REACTOR_POLL;
        else
            return bad("WEFT_REACTOR", v, "epoll, uring or poll", quiet, why, whylen);
    }
    if ((v = getenv("WEFT_SCHEDULE")) && *v)
        cfg->schedule = v; /* checked when the simulator decodes it */
    if ((v = getenv("WEFT_TRACE")) && *v)
        cfg->trace_path = v;
    return 0;
}
