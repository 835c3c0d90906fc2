/* rt.c — a runtime's life: validate the configuration, build the workers,
 * run a root task with block_on, and shut down so that every task is
 * accounted for (finished, cancelled and reported, or abandoned and reported).
 */
#include "internal.h"

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

static int validate(const weft_config *c)
{
    if (c->mode != WEFT_MODE_SIM && c->mode != WEFT_MODE_THREADED)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown mode %d", (int)c->mode);
    if (c->workers > WEFT_WORKERS_MAX)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: %u workers, at most %d", c->workers, WEFT_WORKERS_MAX);
    if (c->mode == WEFT_MODE_THREADED && c->workers > 1)
        return WEFT_MISUSE_CFG(c, WEFT_ENOTSUP, "weft_rt_new: threaded mode runs one worker in this build (asked for %u)",
                           c->workers);
    if (c->stack_size && (c->stack_size < WEFT_STACK_MIN || c->stack_size > WEFT_STACK_MAX))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: stack_size %zu outside [%u, %u]", c->stack_size,
                           WEFT_STACK_MIN, WEFT_STACK_MAX);
    if (c->flags & ~(WEFT_CFG_NO_ENV | WEFT_CFG_QUIET | WEFT_CFG_ATOMIC_SYNC))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown flags 0x%x", c->flags);
    const weft_runq_ops *q = c->runq;
    if (q && (!q->init || !q->push || !q->pop || !q->len || q->state_size == 0))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: run queue '%s' lacks init, push, pop, len or state_size",
                           q->name ? q->name : "?");
    if (c->allocator && (!c->allocator->alloc || !c->allocator->free))
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: allocator needs both alloc and free");
    if ((unsigned)c->sim.strategy > WEFT_STRATEGY_BYTES)
        return WEFT_MISUSE_CFG(c, WEFT_EINVAL, "weft_rt_new: unknown strategy %d", (int)c->sim.strategy);
    return 0;
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

static void free_string(weft_rt *rt, char *s)
{
    if (s)
        weft__free(rt, s, strlen(s) + 1);
}

static int workers_new(weft_rt *rt)
{
    rt->workers = weft__calloc(rt, rt->nworkers * sizeof *rt->workers);
    if (!rt->workers)
        return WEFT_ENOMEM;
    const weft_runq_ops *q = rt->cfg.runq;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->rq_ops = q;
        w->rq_fifo = q == weft_runq_fifo();
        w->sched_point = rt->backend->sched_point;
        /* Every backend of this build runs a runtime's tasks on one OS
         * thread; a thread-pool backend sets this for its workers. */
        w->concurrent = (rt->cfg.flags & WEFT_CFG_ATOMIC_SYNC) != 0;
        w->countdown = 1;
        w->park_deadline = UINT64_MAX;
        w->nosteal_at = UINT64_MAX;
        w->vstate = WEFT__V_PARKED;
        w->rq = weft__calloc(rt, q->state_size);
        if (!w->rq)
            return WEFT_ENOMEM;
        int r = q->init(w->rq, rt->cfg.runq_arg);
        if (r < 0) {
            weft__free(rt, w->rq, q->state_size);
            w->rq = NULL;
            return r;
        }
    }
    return 0;
}

static void workers_free(weft_rt *rt)
{
    if (!rt->workers)
        return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *w = &rt->workers[i];
        weft__wheel_clear(&w->wheel); /* before the stacks holding some of them go */
        if (!w->rq)
            continue;
        if (w->rq_ops->destroy)
            w->rq_ops->destroy(w->rq);
        weft__free(rt, w->rq, w->rq_ops->state_size);
    }
    weft__free(rt, rt->workers, rt->nworkers * sizeof *rt->workers);
    rt->workers = NULL;
}

static void rt_release(weft_rt *rt)
{
    if (rt->sim)
        weft__sim_free(rt);
    workers_free(rt);
    weft__tasks_free(rt);
    weft__stacks_free(rt);
    weft__hooks_free(rt);
    free_string(rt, rt->schedule);
    free_string(rt, rt->trace_path);
    if (rt->altstack)
        rt->os.munmap(rt->os.ctx, rt->altstack, rt->altstack_size);
    weft_allocator a = rt->alloc;
    a.free(a.ctx, rt, sizeof *rt);
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
    int r;
    if (!(c.flags & WEFT_CFG_NO_ENV) && (r = weft__env_apply(&c, c.flags & WEFT_CFG_QUIET, NULL, 0)) < 0)
        return r;
    if ((r = validate(&c)) < 0)
        return r;
    if (!c.workers)
        c.workers = 1;
    c.stack_size = weft__stack_round(c.stack_size ? c.stack_size : WEFT_STACK_DEFAULT);
    if (!c.runq)
        c.runq = weft_runq_fifo();
    const weft_allocator *a = c.allocator ? c.allocator : &weft__malloc_allocator;
    weft_rt *rt = a->alloc(a->ctx, sizeof *rt);
    if (!rt)
        return WEFT_ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->cfg = c;
    rt->alloc = *a;
    rt->quiet = (c.flags & WEFT_CFG_QUIET) != 0;
    weft__os_fill(&rt->os, c.os);
    rt->nworkers = c.workers;
    rt->free_slot = UINT32_MAX;
    rt->step_limit = UINT64_MAX;
    rt->time_limit = UINT64_MAX;
    rt->backend = c.mode == WEFT_MODE_SIM ? &weft__backend_sim : &weft__backend_single;
    /* Virtual time stands still while tasks run, unless each step costs
     * some: only then can a timer fall due between two idle moments. */
    rt->timer_poll_mask = c.mode == WEFT_MODE_SIM && c.sim.step_cost_ns ? 0 : WEFT__TIMER_POLL_MASK_REAL;
    rt->schedule = copy_string(rt, c.schedule);
    rt->trace_path = copy_string(rt, c.trace_path);
    rt->cfg.schedule = rt->schedule;
    rt->cfg.trace_path = rt->trace_path;
    if ((c.schedule && !rt->schedule) || (c.trace_path && !rt->trace_path) || (r = workers_new(rt)) < 0 ||
        (r = rt->backend->init(rt)) < 0) {
        rt_release(rt);
        return r < 0 ? r : WEFT_ENOMEM;
    }
    uint64_t now = rt->backend->now(rt);
    for (unsigned i = 0; i < rt->nworkers; i++)
        weft__wheel_init(&rt->workers[i].wheel, now, &rt->workers[i]);
    weft__guard_install(rt);
    *out = rt;
    return 0;
}

int weft_rt_block_on(weft_rt *rt, weft_fn fn, void *arg, void **result)
{
    if (!rt || !fn)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_block_on: NULL %s", rt ? "function" : "runtime");
    if (weft__tls_worker)
        return WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_block_on: called from inside a task (spawn and join instead)");
    if (rt->running)
        return WEFT_MISUSE_RT(rt, WEFT_EBUSY, "weft_rt_block_on: the runtime is already running");
    if (rt->shut_down)
        return WEFT_MISUSE_RT(rt, WEFT_ESHUTDOWN, "weft_rt_block_on: the runtime was shut down");
    weft_spawn_opts o = {.name = "root", .worker = 0, .flags = WEFT_SPAWN_PINNED};
    weft__task *t;
    int r = weft__task_new(rt, fn, arg, &o, &t);
    if (r < 0)
        return r;
    t->flags |= WEFT__F_ROOT;
    rt->live++;
    rt->stats.spawned++;
    weft__hook(rt, WEFT_HOOK_SPAWN, NULL, t, 0, NULL);
    weft__make_runnable(rt, t); /* pinned to worker 0 */
    rt->root = t;
    rt->root_result = NULL;
    rt->stop = 0;
    rt->status = 0;
    rt->stop_when = WEFT__STOP_ROOT;
    rt->running = 1;
    weft__guard_enter(rt);
    r = rt->backend->run(rt);
    weft__guard_leave(rt);
    rt->running = 0;
    rt->root = NULL;
    if (t->state == WEFT__T_FINISHED) {
        if (result)
            *result = t->result;
        if (r == 0)
            r = t->finish_status;
        weft__task_release(rt, t);
    } else {
        /* The run ended without the root (deadlock, failure): shutdown will
         * cancel and reap it like any other task. */
        t->flags |= WEFT__F_DETACHED;
        if (result)
            *result = NULL;
    }
    if (rt->sim)
        weft__sim_after_run(rt);
    return r;
}

static void report(weft_rt *rt, const weft__task *t, const char *what)
{
    if (rt->quiet || !WEFT_DEBUG)
        return;
    fprintf(stderr, "weft: shutdown: task %llu (%s) %s\n", (unsigned long long)t->node.task_id,
            t->name ? t->name : "unnamed", what);
}

/* Drive the runtime until every cancelled task has returned, within budget. */
static void drain(weft_rt *rt)
{
    if (!rt->live)
        return;
    rt->status = 0;
    rt->stop_when = WEFT__STOP_ALL_DONE;
    rt->step_limit = rt->stats.steps + WEFT__SHUTDOWN_STEPS;
    if (!rt->sim)
        rt->time_limit = rt->backend->now(rt) + WEFT__SHUTDOWN_NS;
    rt->running = 1;
    weft__guard_enter(rt);
    while (rt->live && rt->stats.steps < rt->step_limit) {
        rt->stop = 0;
        if (rt->backend->run(rt) != 0 || rt->live == 0)
            break;
    }
    weft__guard_leave(rt);
    rt->running = 0;
    rt->step_limit = UINT64_MAX;
    rt->time_limit = UINT64_MAX;
}

int weft_rt_shutdown(weft_rt *rt)
{
    if (!rt)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_shutdown: NULL runtime");
    if (rt->running || weft__tls_worker)
        return WEFT_MISUSE_RT(rt, WEFT_EPERM, "weft_rt_shutdown: the runtime is running (call it after block_on returns)");
    if (rt->shut_down)
        return (int)rt->stats.shutdown_cancelled;
    rt->shut_down = 1;
    for (uint32_t i = 0; i < rt->fresh_slot; i++) {
        weft__task *t = weft__task_at(rt, i);
        if (t->state == WEFT__T_FREE || t->state == WEFT__T_FINISHED || t->state == WEFT__T_ABANDONED)
            continue;
        report(rt, t, "was still running: cancelled");
        rt->stats.shutdown_cancelled++;
        weft__cancel_task(rt, t, WEFT_ESHUTDOWN);
    }
    drain(rt);
    for (uint32_t i = 0; i < rt->fresh_slot; i++) {
        weft__task *t = weft__task_at(rt, i);
        if (t->state == WEFT__T_FINISHED && !(t->flags & WEFT__F_DETACHED)) {
            rt->stats.shutdown_unjoined++;
            report(rt, t, "finished but was never joined");
        } else if (t->state == WEFT__T_ABANDONED) {
            /* Left behind by a failed simulated run; its stack stays out of
             * the pool (see run_task) until the runtime is freed. */
            rt->stats.shutdown_abandoned++;
            report(rt, t, "was abandoned by a failed run");
        } else if (t->state != WEFT__T_FREE && t->state != WEFT__T_FINISHED) {
            rt->stats.shutdown_abandoned++;
            report(rt, t, "ignored cancellation: abandoned (its stack is freed with the runtime)");
            weft__hook(rt, WEFT_HOOK_ERROR, NULL, t, WEFT_ESHUTDOWN, "abandoned at shutdown");
            /* Its waiter lives on its stack: take it off the object it waits
             * on, and keep the stack out of the pool. */
            if (t->state == WEFT__T_PARKED && t->unlink)
                t->unlink(t);
            t->state = WEFT__T_ABANDONED;
            rt->live--;
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
    if (rt->running || weft__tls_worker) {
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
    out->live_tasks = rt->live;
    out->stacks_cached = 0;
    for (unsigned i = 0; i < WEFT__STACK_CLASSES; i++)
        out->stacks_cached += rt->pools[i].nfree;
    return 0;
}
