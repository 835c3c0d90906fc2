/* rt.c — a runtime's life: validate the configuration and its engines, build
 * the workers, run a root task with block_on, and shut down so that every
 * task is accounted for (finished, cancelled and reported, or abandoned and
 * reported).
 */
#define _GNU_SOURCE
#include "core.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* Steps granted to cancelled tasks at shutdown to reach a cancellation point
 * and return; a task still running after that ignores cancellation and is
 * abandoned: reported, and its stack kept out of the pool until the runtime
 * is freed (other tasks may still point into its frames). */
#define WEFT__SHUTDOWN_STEPS 1000000u
/* ... and, on a real backend, the wall time they are granted: a task that
 * shields itself and sleeps must not hold the program's exit for hours. */
#define WEFT__SHUTDOWN_NS (5ull * 1000000000ull)
/* Real time is checked for due timers every this many steps when the run
 * queue never empties (tokio's event_interval is 61 for the same reason). */
#define WEFT__TIMER_POLL_MASK_REAL 63u
/* Longest engine thread-name prefix: Linux names hold 15 bytes, and a
 * worker's name adds "-" and up to two digits (a dedicated worker's "-d"
 * and two digits take a byte of the prefix: engine.c, apply_name). */
#define WEFT__THREAD_PREFIX_MAX 12u

#define KNOWN_FLAGS (WEFT_CFG_NO_ENV | WEFT_CFG_QUIET | WEFT_CFG_ATOMIC_SYNC)
#define KNOWN_ENGINE_FLAGS WEFT_ENGINE_WATCH_LIFO

static int validate_engine(const weft_config *c, const weft_engine_config *e, unsigned i)
{
    const char *name = e->name ? e->name : "default";
    if ((unsigned)e->policy > WEFT_POLICY_GLOBAL)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': policy %d is not a weft_policy", name,
                               (int)e->policy);
    if (e->flags & ~KNOWN_ENGINE_FLAGS)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': unknown flags 0x%x", name,
                               e->flags & ~KNOWN_ENGINE_FLAGS);
    if (e->thread_name && strlen(e->thread_name) > WEFT__THREAD_PREFIX_MAX)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': thread_name '%s' is longer than %u bytes",
                               name, e->thread_name, WEFT__THREAD_PREFIX_MAX);
    if (e->sched_policy != SCHED_OTHER && e->sched_policy != SCHED_FIFO && e->sched_policy != SCHED_RR)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': sched_policy %d is not SCHED_OTHER, "
                               "SCHED_FIFO or SCHED_RR", name, e->sched_policy);
    if (e->sched_policy == SCHED_OTHER && e->sched_priority != 0)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': sched_priority %d needs SCHED_FIFO or "
                               "SCHED_RR (use nice with SCHED_OTHER)", name, e->sched_priority);
    if (e->sched_policy != SCHED_OTHER) {
        int lo = sched_get_priority_min(e->sched_policy), hi = sched_get_priority_max(e->sched_policy);
        if (e->sched_priority < lo || e->sched_priority > hi)
            return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': sched_priority %d outside [%d, %d]",
                                   name, e->sched_priority, lo, hi);
        if (e->nice)
            return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': nice applies to SCHED_OTHER only",
                                   name);
    }
    if (e->nice < -20 || e->nice > 19)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': nice %d outside [-20, 19]", name, e->nice);
    if ((e->cpus == NULL) != (e->ncpus == 0))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': cpus and ncpus must be set together",
                               name);
    for (unsigned k = 0; k < e->ncpus; k++)
        if (e->cpus[k] < 0 || e->cpus[k] >= CPU_SETSIZE)
            return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engine '%s': cpus[%u] = %d is not a CPU number",
                                   name, k, e->cpus[k]);
    for (unsigned j = 0; j < i; j++) {
        const char *other = c->engines[j].name ? c->engines[j].name : "default";
        if (!strcmp(other, name))
            return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: two engines are named '%s'", name);
    }
    return 0;
}

static int validate(const weft_config *c)
{
    if (c->mode != WEFT_MODE_SIM && c->mode != WEFT_MODE_THREADED)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown mode %d", (int)c->mode);
    if (c->workers > WEFT_WORKERS_MAX)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: %u workers, at most %d", c->workers, WEFT_WORKERS_MAX);
    if (c->stack_size && (c->stack_size < WEFT_STACK_MIN || c->stack_size > WEFT_STACK_MAX))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: stack_size %zu outside [%u, %u]", c->stack_size,
                               WEFT_STACK_MIN, WEFT_STACK_MAX);
    if (c->flags & ~KNOWN_FLAGS)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown flags 0x%x", c->flags);
    const weft_runq_ops *q = c->runq;
    if (q && (!q->init || !q->push || !q->pop || !q->len || q->state_size == 0))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: run queue '%s' lacks init, push, pop, len or state_size",
                               q->name ? q->name : "?");
    if (c->allocator && (!c->allocator->alloc || !c->allocator->free))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: allocator needs both alloc and free");
    if ((unsigned)c->reactor > WEFT_REACTOR_POLL)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown reactor %d", (int)c->reactor);
    if ((unsigned)c->sim.strategy > WEFT_STRATEGY_BYTES)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown strategy %d", (int)c->sim.strategy);
    if (c->engines && c->nengines == 0)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: engines given but nengines is 0 (a runtime needs an "
                               "engine)");
    if (!c->engines && c->nengines)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: nengines is %u but engines is NULL", c->nengines);
    if (c->nengines > WEFT_ENGINES_MAX)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: %u engines, at most %d", c->nengines, WEFT_ENGINES_MAX);
    for (unsigned i = 0; i < c->nengines; i++) {
        int r = validate_engine(c, &c->engines[i], i);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The CPUs this process may run on (what a worker count of 0 means). */
static unsigned available_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    return 1;
}

static char *copy_string(weft_rt *rt, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = weft__alloc(rt, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void free_string(weft_rt *rt, const char *s)
{
    if (s)
        weft__free(rt, (void *)s, strlen(s) + 1);
}

/* ---- engines ---- */

static int engines_new(weft_rt *rt)
{
    const weft_config *c = &rt->cfg;
    weft_engine_config dflt = {0};
    dflt.workers = c->workers;
    const weft_engine_config *src = c->engines ? c->engines : &dflt;
    unsigned n = c->engines ? c->nengines : 1;
    rt->engines = weft__calloc(rt, n * sizeof *rt->engines);
    if (!rt->engines)
        return WEFT_ENOMEM;
    rt->nengines = n;
    unsigned total = 0;
    bool sim = (rt->caps & WEFT__CAP_VIRTUAL_TIME) != 0;
    for (unsigned i = 0; i < n; i++) {
        weft__engine *e = &rt->engines[i];
        e->rt = rt;
        e->index = i;
        e->cfg = src[i];
        e->cfg.cpus = NULL;
        e->name = copy_string(rt, src[i].name ? src[i].name : "default");
        e->cfg.thread_name = src[i].thread_name ? copy_string(rt, src[i].thread_name) : NULL;
        if (!e->name || (src[i].thread_name && !e->cfg.thread_name))
            return WEFT_ENOMEM;
        if (src[i].ncpus) {
            int *cpus = weft__alloc(rt, src[i].ncpus * sizeof *cpus);
            if (!cpus)
                return WEFT_ENOMEM;
            memcpy(cpus, src[i].cpus, src[i].ncpus * sizeof *cpus);
            e->cfg.cpus = cpus;
        }
        unsigned workers = src[i].workers ? src[i].workers : (sim ? 1 : available_cpus());
        /* WEFT_WORKERS (already in cfg.workers) sets the first engine's count. */
        if (i == 0 && c->engines && c->workers)
            workers = c->workers;
        e->cfg.workers = workers;
        e->first = total;
        e->nworkers = workers;
        e->first_dedicated = total + workers;
        e->ndedicated = src[i].dedicated;
        total += workers + src[i].dedicated;
        if (total > WEFT_WORKERS_MAX)
            return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_new: engine '%s' brings the workers to %u, at most %d",
                                  e->name, total, WEFT_WORKERS_MAX);
    }
    rt->nworkers = total;
    return 0;
}

static void engines_free(weft_rt *rt)
{
    if (!rt->engines)
        return;
    for (unsigned i = 0; i < rt->nengines; i++) {
        weft__engine *e = &rt->engines[i];
        free_string(rt, e->name);
        free_string(rt, e->cfg.thread_name);
        if (e->cfg.cpus)
            weft__free(rt, (void *)e->cfg.cpus, e->cfg.ncpus * sizeof *e->cfg.cpus);
    }
    weft__free(rt, rt->engines, rt->nengines * sizeof *rt->engines);
    rt->engines = NULL;
}

/* ---- workers ---- */

/* A kept worker's wheel slots are all empty (weft__wheel_clear unlinked
 * every timer): debug builds look at each. */
static bool wheel_slots_empty(const weft__wheel *wh)
{
    for (unsigned level = 0; level < WEFT__WHEEL_LEVELS; level++)
        for (unsigned slot = 0; slot < WEFT__WHEEL_SLOTS; slot++)
            if (wh->slots[level][slot].head || wh->slots[level][slot].tail)
                return false;
    return true;
}

/* Zero a kept worker as calloc would, but for its wheel's slots, which are
 * empty lists already: they are 11 KiB of its 14, and zeroing them again cost
 * a simulated seed about 5% of its instructions. */
static void worker_rezero(weft__worker *w)
{
    WEFT_INVARIANT(wheel_slots_empty(&w->wheel), "weft_rt_reset: a kept worker's wheel holds a timer");
    size_t slots = offsetof(weft__worker, wheel.slots);
    size_t after = offsetof(weft__worker, wheel.due);
    memset(w, 0, slots);
    memset((char *)w + after, 0, sizeof *w - after);
}

/* Zeroed workers: the previous life's (weft_rt_reset) when there are as
 * many, else new ones. */
static weft__worker *workers_alloc(weft_rt *rt)
{
    weft__worker *kept = rt->kept_workers;
    rt->kept_workers = NULL;
    if (!kept || rt->nkept_workers != rt->nworkers) {
        weft__free(rt, kept, rt->nkept_workers * sizeof *kept);
        return weft__calloc(rt, rt->nworkers * sizeof *rt->workers);
    }
    for (unsigned i = 0; i < rt->nworkers; i++)
        worker_rezero(&kept[i]);
    return kept;
}

static int workers_new(weft_rt *rt)
{
    rt->workers = workers_alloc(rt);
    if (!rt->workers)
        return WEFT_ENOMEM;
    for (unsigned ei = 0; ei < rt->nengines; ei++) {
        weft__engine *e = &rt->engines[ei];
        for (unsigned k = 0; k < e->nworkers + e->ndedicated; k++) {
            weft__worker *w = &rt->workers[e->first + k];
            w->rt = rt;
            w->engine = e;
            w->index = e->first + k;
            w->index_in_engine = k;
            w->dedicated = k >= e->nworkers;
            w->serial = rt->serial;
            w->sched_point = rt->backend->sched_point;
            w->until_housekeeping = 1;
            weft__xoshiro_seed(w->rng, 0x77656674ull + w->index);
            weft__wheel_init(&w->wheel, 0, rt->serial);
            int r = weft__sched_init(w, rt->cfg.runq, rt->cfg.runq_arg);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* keep: a reset's, which leaves rt->workers for weft_rt_reset to hand to
 * the next life (workers_alloc). */
static void workers_free(weft_rt *rt, bool keep)
{
    weft__free(rt, rt->kept_workers, rt->nkept_workers * sizeof *rt->kept_workers);
    rt->kept_workers = NULL;
    if (!rt->workers)
        return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *w = &rt->workers[i];
        weft__wheel_clear(&w->wheel); /* before the stacks holding some of them go */
        weft__stacks_flush(w);
        weft__sched_destroy(w);
    }
    if (keep)
        return;
    weft__free(rt, rt->workers, rt->nworkers * sizeof *rt->workers);
    rt->workers = NULL;
}

/* Everything a runtime holds except its record and, when keep, its stack
 * pools and workers (which weft_rt_reset hands to the runtime's next life). */
static void rt_teardown(weft_rt *rt, bool keep)
{
    /* A thread outside the runtime may still be inside the wake of a task
     * that has since finished: it leaves in a few instructions. */
    while (weft__ld(&rt->foreign_wakes, WEFT__ACQUIRE))
        weft__spin_hint();
    weft__io_free(rt); /* before the backend that holds the descriptors */
    if (rt->backend_state)
        rt->backend->destroy(rt);
    workers_free(rt, keep); /* clears the wheels first: scopes' timers are on them */
    weft__scopes_free(rt);
    weft__tasks_free(rt);
    if (!keep)
        weft__stacks_free(rt);
    weft__hooks_free(rt);
    engines_free(rt);
    free_string(rt, rt->schedule);
    free_string(rt, rt->trace_path);
}

static void rt_release(weft_rt *rt)
{
    rt_teardown(rt, false);
    if (rt->altstack)
        rt->os.munmap(rt->os.ctx, rt->altstack, rt->altstack_size);
    weft_allocator a = rt->base_alloc;
    a.free(a.ctx, rt, sizeof *rt);
}

/* What weft_rt_new and weft__rt_reset do to a configuration first. */
static int config_prepare(weft_config *c)
{
    int r;
    if (!(c->flags & WEFT_CFG_NO_ENV) && (r = weft__env_apply(c, c->flags & WEFT_CFG_QUIET, NULL, 0)) < 0)
        return r;
    if ((r = validate(c)) < 0)
        return r;
    c->stack_size = weft__stack_round(c->stack_size ? c->stack_size : WEFT_STACK_DEFAULT);
    if (!c->runq)
        c->runq = weft_runq_fifo();
    return 0;
}

/* Handles are (generation, slot), and every runtime has slot 5: without a
 * base of its own, another runtime's handle would name its task 5. A
 * simulated runtime's base follows from its seed, so that a replay in a new
 * process hands the program the same handle values. */
static uint32_t generation_base(const weft_rt *rt, const weft_config *c)
{
    static weft__a64 runtimes_made;
    uint64_t state = (rt->caps & WEFT__CAP_DETERMINISTIC) ? c->seed
                                                          : weft__fetch_add(&runtimes_made, 1u, WEFT__RELAXED) ^ 0x5EEDull << 40;
    uint32_t base = (uint32_t)weft__splitmix64(&state);
    return base ? base : 1u;
}

/* Build a runtime in rt, whose fields are all zero but the allocator's and,
 * after a reset, the stack pools. On failure the caller releases it. */
static int rt_build(weft_rt *rt, const weft_config *c)
{
    rt->cfg = *c;
    rt->quiet = (c->flags & WEFT_CFG_QUIET) != 0;
    weft__os_fill(&rt->os, c->os);
    rt->step_limit = UINT64_MAX;
    rt->time_limit = UINT64_MAX;
    rt->backend = weft__backend_for(c);
    rt->caps = rt->backend->caps;
    rt->gen_base = generation_base(rt, c);
    /* Virtual time stands still while tasks run, unless each step costs
     * some: only then can a timer fall due between two idle moments. */
    bool virtual_time = (rt->caps & WEFT__CAP_VIRTUAL_TIME) != 0;
    rt->timer_poll_mask = virtual_time && c->sim.step_cost_ns ? 0 : WEFT__TIMER_POLL_MASK_REAL;
    rt->schedule = copy_string(rt, c->schedule);
    rt->trace_path = copy_string(rt, c->trace_path);
    rt->cfg.schedule = rt->schedule;
    rt->cfg.trace_path = rt->trace_path;
    rt->cfg.engines = NULL; /* copied into rt->engines */
    int r = (c->schedule && !rt->schedule) || (c->trace_path && !rt->trace_path) ? WEFT_ENOMEM : 0;
    if (r == 0) {
        rt->cfg.engines = c->engines; /* read by engines_new only */
        r = engines_new(rt);
        rt->cfg.engines = NULL;
    }
    if (r == 0) {
        /* Rule 1: decided here, once. */
        rt->serial = (virtual_time || rt->nworkers == 1) && !(c->flags & WEFT_CFG_ATOMIC_SYNC);
        /* A lone real worker's idle mask stays atomic: foreign threads
         * hand it work (rule 9). A simulation takes none while it runs. */
        for (unsigned i = 0; i < rt->nengines; i++)
            rt->engines[i].idle_plain = rt->serial && virtual_time;
        r = workers_new(rt);
    }
    if (r == 0)
        r = rt->backend->create(rt);
    if (r < 0)
        return r;
    /* The clock is the backend's: the wheels start at its now. */
    uint64_t now = rt->backend->now(rt);
    for (unsigned i = 0; i < rt->nworkers; i++)
        rt->workers[i].wheel.elapsed = now;
    weft__guard_install(rt);
    return 0;
}

int weft_rt_new(weft_rt **out, const weft_config *cfg)
{
    if (!out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_rt_new: NULL output pointer");
    *out = NULL;
    weft_config c;
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    int r = config_prepare(&c);
    if (r < 0)
        return r;
    const weft_allocator *a = c.allocator ? c.allocator : &weft__malloc_allocator;
    weft_rt *rt = a->alloc(a->ctx, sizeof *rt);
    if (!rt)
        return WEFT_ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->alloc = *a;
    rt->base_alloc = *a;
    if ((r = rt_build(rt, &c)) < 0) {
        rt_release(rt);
        return r;
    }
    *out = rt;
    return 0;
}

weft__a32 weft__virtual_runs;

/* One thread at a time runs, shuts down or resets a runtime: it claims it
 * here, so two threads calling weft_rt_block_on at once get WEFT_EBUSY for
 * one of them rather than two sets of loops on the same workers. */
static bool claim(weft_rt *rt)
{
    uint32_t idle = 0;
    if (!weft__cas(&rt->running, &idle, 1u, WEFT__ACQ_REL, WEFT__ACQUIRE))
        return false;
    if (weft__virtual(rt)) {
        weft__fetch_add(&weft__virtual_runs, 1u, WEFT__RELAXED);
        /* A hand-in from another thread that looked before the claim ends
         * before the run starts (weft_rt_spawn: its count, a fence, then
         * `running`; here `running`, a fence, then the count). */
        weft__fence(WEFT__SEQ_CST);
        while (weft__ld(&rt->outsiders, WEFT__ACQUIRE))
            weft__spin_hint();
    }
    return true;
}

static void unclaim(weft_rt *rt)
{
    if (weft__virtual(rt))
        weft__fetch_sub(&weft__virtual_runs, 1u, WEFT__RELAXED);
    weft__st(&rt->running, 0u, WEFT__RELEASE);
}

static bool claimed(const weft_rt *rt)
{
    return weft__ld(&rt->running, WEFT__ACQUIRE) != 0;
}

static int shutdown_claimed(weft_rt *rt);
static int reset_claimed(weft_rt *rt, const weft_config *cfg);

int weft_rt_reset(weft_rt *rt, const weft_config *cfg)
{
    if (!rt || !cfg)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_reset: NULL %s", rt ? "configuration" : "runtime");
    if (weft__tls_worker || !claim(rt))
        return WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_reset: the runtime is running");
    int r = reset_claimed(rt, cfg);
    unclaim(rt);
    return r;
}

static int reset_claimed(weft_rt *rt, const weft_config *cfg)
{
    const weft_allocator *a = cfg->allocator ? cfg->allocator : &weft__malloc_allocator;
    if (a->alloc != rt->base_alloc.alloc || a->free != rt->base_alloc.free || a->ctx != rt->base_alloc.ctx)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_reset: a different allocator (make a new runtime)");
    /* The kept stacks were mapped through this table and go back through it. */
    if (cfg->os != rt->cfg.os)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_reset: a different weft_os table (make a new runtime)");
    weft_config c = *cfg;
    int r = config_prepare(&c);
    if (r < 0)
        return r;
    if (!(rt->caps & WEFT__CAP_DETERMINISTIC) || c.mode != WEFT_MODE_SIM)
        return WEFT_MISUSE_RT(rt, WEFT_ENOTSUP, "weft_rt_reset: only a simulated runtime is reset (make a new one)");
    if (c.sim.fail_alloc_nth || c.sim.fail_alloc_permille)
        return WEFT_MISUSE_RT(rt, WEFT_ENOTSUP, "weft_rt_reset: a configuration that injects allocation failures "
                              "needs a new runtime (its seed counts the new runtime's allocations)");
    shutdown_claimed(rt);
    /* An abandoned task's frames may still be pointed into: its stack cannot
     * go back to the pool, so this runtime cannot be reused. */
    if (rt->stats.shutdown_abandoned)
        return WEFT_EBUSY;
    rt_teardown(rt, true);
    weft__stack_pool pools[WEFT__STACK_CLASSES];
    memcpy(pools, rt->pools, sizeof pools);
    uint64_t mapped = rt->stacks_mapped;
    weft__worker *workers = rt->workers;
    unsigned nworkers = rt->nworkers;
    uint32_t life = rt->stack_life + 1;
    void *altstack = rt->altstack;
    size_t altstack_size = rt->altstack_size;
    memset(rt, 0, sizeof *rt);
    rt->alloc = *a;
    rt->base_alloc = *a;
    memcpy(rt->pools, pools, sizeof pools);
    rt->stacks_mapped = mapped;
    rt->kept_workers = workers;
    rt->nkept_workers = nworkers;
    rt->stack_life = life;
    rt->altstack = altstack;
    rt->altstack_size = altstack_size;
    r = rt_build(rt, &c);
    /* Half built: every entry refuses it as shut down (WEFT_ESHUTDOWN); it
     * can be freed, or reset again. */
    if (r < 0)
        weft__st(&rt->shut_down, 1u, WEFT__RELEASE);
    return r;
}

int weft_rt_block_on(weft_rt *rt, weft_fn fn, void *arg, void **result)
{
    if (!rt || !fn)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_block_on: NULL %s", rt ? "function" : "runtime");
    if (weft__tls_worker)
        return WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_block_on: called from inside a task (spawn and join instead)");
    if (!claim(rt))
        return WEFT_MISUSE_RT(rt, WEFT_EBUSY, "weft_rt_block_on: the runtime is already running");
    if (weft__ld(&rt->shut_down, WEFT__ACQUIRE)) {
        unclaim(rt);
        return WEFT_MISUSE_RT(rt, WEFT_ESHUTDOWN, "weft_rt_block_on: the runtime was shut down");
    }
    weft_spawn_opts o = {.name = "root", .worker = 0, .flags = WEFT_SPAWN_PINNED};
    weft__task *t;
    int r = weft__task_new(rt, NULL, fn, arg, &o, &t);
    if (r < 0) {
        unclaim(rt);
        return r;
    }
    t->flags |= WEFT__F_PINNED;
    t->pin = 0;
    /* No worker runs between runs: this thread counts the root itself. */
    weft__spawn_adopted(rt, NULL, t);
    rt->root = t;
    rt->root_result = NULL;
    weft__st(&rt->stop, 0u, WEFT__RELEASE);
    weft__st(&rt->status, 0u, WEFT__RELEASE);
    rt->stop_when = WEFT__STOP_ROOT;
    weft__schedule(rt, t, false); /* pinned to worker 0 */
    weft__guard_enter(rt);
    r = rt->backend->run(rt);
    weft__guard_leave(rt);
    rt->root = NULL;
    if (weft__task_get_state(t) == WEFT__T_FINISHED) {
        if (result)
            *result = t->result;
        if (r == 0)
            r = t->finish_status;
        weft__task_release(rt, t);
    } else {
        /* The run ended without the root (deadlock, failure): shutdown will
         * cancel and reap it like any other task. */
        t->join.v = WEFT__JOIN_DETACHED;
        if (result)
            *result = NULL;
    }
    if (rt->backend->end_run)
        rt->backend->end_run(rt);
    unclaim(rt);
    return r;
}

static void report(weft_rt *rt, const weft__task *t, const char *what)
{
    if (rt->quiet || !WEFT_DEBUG)
        return;
    fprintf(stderr, "weft: shutdown: task %llu (%s) %s\n", (unsigned long long)t->node.task_id,
            weft__task_label(t), what);
}

/* Move the workers' live counts into rt->live (no worker runs): with
 * stop_when ALL_DONE, every spawn and end counts there. */
/* The workers' live counts, summed modulo 2^64. */
static uint64_t workers_live(const weft_rt *rt)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += weft__ld(&rt->workers[i].live, WEFT__RELAXED);
    return n;
}

static void live_fold(weft_rt *rt)
{
    uint64_t n = workers_live(rt);
    /* Added before the workers' counts are cleared: a foreign thread's
     * weft_rt_stats_get in between counts too many, never too few. */
    weft__fetch_add(&rt->live, n, WEFT__ACQ_REL);
    for (unsigned i = 0; i < rt->nworkers; i++)
        weft__st(&rt->workers[i].live, 0u, WEFT__RELAXED);
}

/* Drive the runtime until every cancelled task has returned, within budget. */
static void drain(weft_rt *rt)
{
    live_fold(rt);
    if (!weft__ld(&rt->live, WEFT__ACQUIRE))
        return;
    rt->stop_when = WEFT__STOP_ALL_DONE;
    uint64_t steps = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        steps += weft__count_read(&rt->workers[i].stats.steps);
    rt->step_limit = steps + WEFT__SHUTDOWN_STEPS;
    if (!(rt->caps & WEFT__CAP_VIRTUAL_TIME))
        rt->time_limit = rt->backend->now(rt) + WEFT__SHUTDOWN_NS;
    weft__guard_enter(rt);
    while (weft__ld(&rt->live, WEFT__ACQUIRE)) {
        weft__st(&rt->stop, 0u, WEFT__RELEASE);
        weft__st(&rt->status, 0u, WEFT__RELEASE);
        if (rt->backend->run(rt) != 0 || weft__ld(&rt->live, WEFT__ACQUIRE) == 0)
            break;
        steps = 0;
        for (unsigned i = 0; i < rt->nworkers; i++)
            steps += weft__count_read(&rt->workers[i].stats.steps);
        if (steps >= rt->step_limit)
            break;
    }
    weft__guard_leave(rt);
    rt->step_limit = UINT64_MAX;
    rt->time_limit = UINT64_MAX;
}

/* A task that would not end: off whatever it waits on, out of the count. */
static void abandon(weft_rt *rt, weft__task *t)
{
    rt->stats.shutdown_abandoned++;
    report(rt, t, "ignored cancellation: abandoned (its stack is freed with the runtime)");
    weft__hook(rt, WEFT_HOOK_ERROR, NULL, t, WEFT_ESHUTDOWN, "abandoned at shutdown");
    /* Its waiter lives on its stack: take it off the object it waits on. */
    if (weft__task_get_state(t) == WEFT__T_PARKED && t->wait && t->wait->unlink)
        t->wait->unlink(t);
    weft__st(&t->state, (uint32_t)WEFT__T_ABANDONED, WEFT__RELEASE);
    weft__fetch_sub(&rt->live, 1u, WEFT__ACQ_REL);
}

int weft_rt_shutdown(weft_rt *rt)
{
    if (!rt)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_shutdown: NULL runtime");
    if (weft__tls_worker || !claim(rt))
        return WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_shutdown: the runtime is running (call it after block_on returns)");
    int r = shutdown_claimed(rt);
    unclaim(rt);
    return r;
}

static int shutdown_claimed(weft_rt *rt)
{
    if (weft__ld(&rt->shut_down, WEFT__ACQUIRE))
        return (int)rt->stats.shutdown_cancelled;
    weft__st(&rt->shut_down, 1u, WEFT__RELEASE);
    /* Only a record in use holds a task to cancel or report. With none, the
     * walks over every record ever made are skipped: after a burst of a
     * million tasks they were a cache miss each, a fifth of the process's
     * time (the "no per-task work at shutdown beyond what is live"). */
    if (weft__task_records_in_use(rt) == 0) {
        for (uint32_t i = 0; WEFT_DEBUG && i < weft__task_slots(rt); i++)
            WEFT_INVARIANT(weft__record_state(rt, weft__task_at(rt, i)) == WEFT__T_FREE,
                           "task record %u is in use, but the free lists count every record", i);
        drain(rt);
        return 0;
    }
    uint32_t slots = weft__task_slots(rt);
    for (uint32_t i = 0; i < slots; i++) {
        weft__task *t = weft__task_at(rt, i);
        unsigned s = weft__record_state(rt, t);
        if (s == WEFT__T_FREE || s == WEFT__T_FINISHED || s == WEFT__T_ABANDONED)
            continue;
        if (s == WEFT__T_NEW && !t->node.task_id) {
            /* Handed in from outside and never taken in by a worker (none
             * ran since): counted now, so the drain runs it to its
             * cancelled end like any other, in slot order. */
            weft__spawn_adopted(rt, NULL, t);
        }
        report(rt, t, s == WEFT__T_NEW ? "had not started: cancelled" : "was still running: cancelled");
        rt->stats.shutdown_cancelled++;
        weft__cancel_task(rt, t, WEFT_ESHUTDOWN);
    }
    drain(rt);
    slots = weft__task_slots(rt);
    for (uint32_t i = 0; i < slots; i++) {
        weft__task *t = weft__task_at(rt, i);
        unsigned s = weft__record_state(rt, t);
        if (s == WEFT__T_FINISHED) {
            rt->stats.shutdown_unjoined++;
            report(rt, t, "finished but was never joined");
        } else if (s == WEFT__T_ABANDONED) {
            /* Left behind by a failed simulated run; its stack stays out of
             * the pool until the runtime is freed. */
            rt->stats.shutdown_abandoned++;
            report(rt, t, "was abandoned by a failed run");
        } else if (s != WEFT__T_FREE) {
            abandon(rt, t);
        }
    }
    if (!rt->quiet && (rt->stats.shutdown_cancelled || rt->stats.shutdown_unjoined))
        fprintf(stderr, "weft: shutdown cancelled %llu task(s) (%llu abandoned), %llu finished task(s) never joined\n",
                (unsigned long long)rt->stats.shutdown_cancelled, (unsigned long long)rt->stats.shutdown_abandoned,
                (unsigned long long)rt->stats.shutdown_unjoined);
    return (int)rt->stats.shutdown_cancelled;
}

void weft_rt_free(weft_rt *rt)
{
    if (!rt)
        return;
    if (claimed(rt) || weft__tls_worker) {
        (void)WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_free: the runtime is running; not freed");
        return;
    }
    weft_rt_shutdown(rt);
    rt_release(rt);
}

weft_rt *weft_rt_current(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? w->rt : NULL;
}

int weft_rt_stats_get(const weft_rt *rt, weft_rt_stats *out)
{
    if (!rt || !out)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_stats_get: NULL argument");
    *out = rt->stats;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        const weft__worker_stats *s = &rt->workers[i].stats;
        out->spawned += weft__count_read(&s->spawned);
        out->finished += weft__count_read(&s->finished);
        out->cancelled += weft__count_read(&s->cancelled);
        uint64_t steps = weft__count_read(&s->steps);
        out->steps += steps;
        out->switches += steps - weft__count_read(&s->unswitched);
        out->steals += weft__count_read(&s->steals);
        out->parks += weft__count_read(&s->parks);
    }
    /* While workers run, a task's +1 and -1 are often on different workers
     * and the sum is read one worker at a time: it may be off by the spawns
     * and ends during the read (never below 0); exact between runs. */
    uint64_t live = weft__ld(&((weft_rt *)rt)->live, WEFT__RELAXED) + workers_live(rt);
    out->live_tasks = (int64_t)live < 0 ? 0 : live;
    out->stacks_cached = 0;
    weft_rt *m = (weft_rt *)rt;
    weft__spin_lock(&m->stacks_lock);
    for (unsigned i = 0; i < WEFT__STACK_CLASSES; i++)
        out->stacks_cached += rt->pools[i].nfree;
    for (unsigned i = 0; i < rt->nworkers; i++)
        out->stacks_cached += weft__ld(&rt->workers[i].nstacks, WEFT__RELAXED);
    out->stacks_mapped = rt->stacks_mapped;
    weft__spin_unlock(&m->stacks_lock);
    out->workers = rt->nworkers;
    return 0;
}
