/* sim.c — the simulation backend: N virtual workers on one OS thread and a
 * virtual clock.
 *
 * Each virtual worker is a virtual thread: its loop (the same weft__worker_loop
 * and run queues that real threads run) executes on a fiber of its own. At
 * every scheduling point the decision source picks which enabled worker
 * continues, so tasks on different workers interleave the way threads do;
 * every choice the scheduler leaves to timing on real threads (which victim
 * to steal from, which idle worker to wake, which ready select case) is a
 * decision too. A worker is enabled when it was preempted mid-step, or parked
 * and then woken or with a timer due. When no worker is enabled, the clock
 * jumps to the earliest timer; when there is none, every task is blocked for
 * good: a deadlock, reported with what each one waits on.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The loop fibers also run no-stack tasks and timer callbacks. */
#define WEFT__SIM_LOOP_STACK (256u * 1024u)
/* Scheduling steps before a run is called a livelock. */
#define WEFT__SIM_STEP_BUDGET 10000000u

static void *books_alloc(weft__sim *s, size_t size)
{
    weft_allocator *a = &s->rt->base_alloc;
    void *p = a->alloc(a->ctx, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static void books_free(weft__sim *s, void *p, size_t size)
{
    weft_allocator *a = &s->rt->base_alloc;
    if (p)
        a->free(a->ctx, p, size);
}

static void sim_destroy(weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    if (!s)
        return;
    /* The loop fibers' stacks go back to the pool: a reset runtime keeps
     * its pool (weft__rt_reset), and these fibers never run again. */
    for (unsigned i = 0; s->vw && i < rt->nworkers; i++)
        if (s->vw[i].loop_stack)
            weft__stack_put(rt, s->vw[i].loop_stack);
    weft__watchdog_free(s);
    weft__simnet_free(s);
    weft__decide_free(s);
    weft__trace_free(s);
    if (s->sites)
        books_free(s, s->sites, s->sites_cap * sizeof *s->sites);
    books_free(s, s->cands, rt->nworkers * sizeof *s->cands);
    books_free(s, s->vw, rt->nworkers * sizeof *s->vw);
    rt->backend_state = NULL;
    rt->alloc = rt->base_alloc;
    books_free(s, s, sizeof *s);
}

static int sim_create(weft_rt *rt)
{
    if (!weft__escape_linked)
        return WEFT_ENOTSUP;
    weft_allocator *a = &rt->base_alloc;
    weft__sim *s = a->alloc(a->ctx, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    memset(s, 0, sizeof *s);
    s->rt = rt;
    rt->backend_state = s;
    s->cands = books_alloc(s, rt->nworkers * sizeof *s->cands);
    s->vw = books_alloc(s, rt->nworkers * sizeof *s->vw);
    if (!s->cands || !s->vw)
        return WEFT_ENOMEM;
    /* Every virtual worker starts asleep and idle, as a real worker thread
     * does once its first look for work came back empty. */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        s->vw[i].vstate = WEFT__V_PARKED;
        s->vw[i].park_deadline = UINT64_MAX;
        weft__sched_prepare_park(&rt->workers[i]);
    }
    s->step_budget = rt->cfg.sim.step_budget ? rt->cfg.sim.step_budget : WEFT__SIM_STEP_BUDGET;
    s->step_cost = rt->cfg.sim.step_cost_ns;
    s->record = rt->cfg.sim.record_trace || rt->cfg.trace_path;
    s->recorded_time = UINT64_MAX;
    s->th.hash = 0x6A09E667F3BCC908ull;
    int r = weft__decide_init(s, &rt->cfg);
    if (r == 0)
        r = weft__trace_attach(s);
    if (r == 0)
        weft__sim_wrap_alloc(s); /* from here the program's allocations may fail */
    return r;
}

/* weft__sim_of for the backend's own callbacks, which run only on a
 * simulated runtime: its test of the backend is known true there. */
static inline weft__sim *backend_sim(const weft_rt *rt)
{
    return rt->backend_state;
}

static uint64_t sim_now(weft_rt *rt)
{
    return backend_sim(rt)->now;
}

static WEFT_NOINLINE void over_budget(weft__sim *s)
{
    if (!s->failed)
        weft__sim_failf(s->rt, WEFT_ELIVELOCK,
                        "step budget of %" PRIu64 " scheduling steps exceeded: a livelock, or raise sim.step_budget",
                        s->step_budget);
}

/* Exploration's per-seed timeout: the wall clock ends a run here, never
 * steers one. */
static WEFT_NOINLINE void check_wall_clock(weft__sim *s)
{
    if (!s->failed && weft__real_monotonic_ns() >= s->wall_deadline)
        weft__sim_failf(s->rt, WEFT_ETIMEDOUT, "the run took longer than its per-seed timeout (wall clock)");
}

/* Every scheduling point, clock jump and timer firing counts against the
 * step budget, so a ticker that re-arms itself forever is caught too. The
 * failures are out of line, so a step is inlined where it is taken. */
static inline bool step_counted(weft__sim *s)
{
    s->steps++;
    s->progress.v++;
    s->now = s->now > UINT64_MAX - s->step_cost ? UINT64_MAX : s->now + s->step_cost;
    /* The wall clock is read every 1024 steps, so it costs nothing per step. */
    return WEFT_UNLIKELY(s->steps + s->timers_fired > s->step_budget) ||
           (WEFT_UNLIKELY(s->wall_deadline) && (s->steps & 1023u) == 0);
}

/* The failures step_counted found may be due (both checked again, in order). */
static inline void step_checks(weft__sim *s)
{
    if (s->steps + s->timers_fired > s->step_budget)
        over_budget(s);
    if (s->wall_deadline && (s->steps & 1023u) == 0)
        check_wall_clock(s);
}

static inline void step(weft__sim *s)
{
    if (step_counted(s))
        step_checks(s);
}

/* Timer callbacks are steps too (a timer that re-arms itself for now would
 * otherwise spin the loop unseen); the count is the core's. */
static void sim_timers_fired(weft__worker *w, size_t n)
{
    weft__sim *s = backend_sim(w->rt);
    s->timers_fired += n;
    s->progress.v++;
    if (WEFT_UNLIKELY(s->steps + s->timers_fired > s->step_budget))
        over_budget(s);
}

static bool stopping(const weft_rt *rt)
{
    return rt->stop.v != 0;
}

/* A parked worker is enabled when it was woken (work arrived for it, or it
 * was picked as the idle worker to take new work) or a timer of its is due:
 * exactly when a real thread would come out of its futex wait. */
static bool enabled(const weft__sim *s, unsigned i)
{
    const weft__vworker *v = &s->vw[i];
    if (v->vstate == WEFT__V_READY)
        return true;
    return v->vstate == WEFT__V_PARKED && (v->wakeup || v->park_deadline <= s->now);
}

/* Move the clock to the earliest timer of any parked worker. false: there
 * is none, so nothing will ever run again. */
static bool advance_clock(weft__sim *s)
{
    weft_rt *rt = s->rt;
    uint64_t next = UINT64_MAX;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__vworker *v = &s->vw[i];
        if (v->vstate != WEFT__V_PARKED)
            continue;
        v->park_deadline = weft__wheel_next_deadline(&rt->workers[i].wheel);
        if (v->park_deadline < next)
            next = v->park_deadline;
    }
    if (next == UINT64_MAX)
        return false;
    if (next > s->now) {
        s->now = next;
        weft__trace(s, WEFT__EV_CLOCK, -1, 0, 0, next, NULL);
    }
    step(s);
    return true;
}

static void deadlock(weft__sim *s)
{
    weft_rt *rt = s->rt;
    if (rt->stop_when == WEFT__STOP_ALL_DONE && rt->live.v == 0)
        return;
    char buf[3800];
    size_t n = weft__blocked_tasks(rt, buf, sizeof buf);
    snprintf(s->message, sizeof s->message, "deadlock: %zu task(s) blocked and nothing can wake them:\n%s", n, buf);
    s->failed = WEFT_EDEADLK;
    rt->status.v = (uint32_t)WEFT_EDEADLK;
    rt->stop.v = 1;
    weft__trace(s, WEFT__EV_FAIL, -1, 0, WEFT_EDEADLK, 0, s->message);
}

static weft__worker *pick(weft__sim *s);

/* No worker is enabled: the clock jumps to the next timer and the pick is
 * made again, or nothing will ever run again (a deadlock, reported). */
static WEFT_NOINLINE weft__worker *pick_after_clock(weft__sim *s)
{
    if (!advance_clock(s)) {
        deadlock(s);
        return NULL;
    }
    return pick(s);
}

/* Two or more are enabled: the decision source chooses among them. */
static inline weft__worker *pick_decide_inline(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first)
{
    unsigned k = weft__decide_worker(s, cands, n, cur_first);
    return stopping(s->rt) ? NULL : cands[k];
}

/* pick's, out of line so that pick makes tail calls only. */
static WEFT_NOINLINE weft__worker *pick_decide(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first)
{
    return pick_decide_inline(s, cands, n, cur_first);
}

/* The enabled workers into s->cands, cur (when not NULL: it is ready) first;
 * how many. The books are read into locals once (the stores to cands could
 * alias them). */
static inline unsigned collect(weft__sim *s, weft__worker *cur)
{
    weft_rt *rt = s->rt;
    weft__worker **cands = s->cands;
    weft__worker *workers = rt->workers;
    unsigned nworkers = rt->nworkers, n = 0;
    if (cur)
        cands[n++] = cur;
    for (unsigned i = 0; i < nworkers; i++) {
        weft__worker *w = &workers[i];
        if (w != cur && enabled(s, i))
            cands[n++] = w;
    }
    return n;
}

/* Choose the next worker to run when none is running (a run starts, a
 * worker parks); a scheduling point collects its own candidates, itself
 * first (sched_point_pick). NULL: nothing can run (deadlock or stop). Every
 * call is a tail call, so pick saves no registers. */
static weft__worker *pick(weft__sim *s)
{
    if (stopping(s->rt))
        return NULL;
    unsigned n = collect(s, NULL);
    weft__worker **cands = s->cands;
    if (n == 1)
        return cands[0];
    if (n > 1)
        return pick_decide(s, cands, n, false);
    return pick_after_clock(s);
}

static void switch_to(weft__sim *s, weft__ctx *from, weft__worker *next)
{
    weft_rt *rt = s->rt;
    weft__vworker *v = &s->vw[next->index];
    if (!v->started) {
        /* A loop fiber is made on first use (or remade after a failure ended
         * its previous life mid-step: its stack goes back to the pool first,
         * which clears the sanitizer's poison of the frames it abandoned). */
        if (v->loop_stack) {
            weft__stack_put(rt, v->loop_stack);
            v->loop_stack = NULL;
        }
        if (weft__stack_get(rt, WEFT__SIM_LOOP_STACK, &v->loop_stack) < 0) {
            weft__sim_failf(rt, WEFT_ENOMEM, "no stack for virtual worker %u", next->index);
            return;
        }
        weft__ctx_make(&next->loop_ctx, v->loop_stack, weft__worker_loop_entry);
        v->resume = &next->loop_ctx;
        v->started = true;
    }
    v->vstate = WEFT__V_RUNNING;
    v->wakeup = false;
    weft__tls_worker = next;
    /* A virtual worker leaves only from its loop, its moves committed, or
     * from a task mid-step: the plain jump has nothing to commit. */
    WEFT_INVARIANT(!next->switched_out, "virtual worker %u resumed with a switch left to commit", next->index);
    weft__ctx_jump(from, v->resume, next, false);
}

static void to_host(weft_rt *rt, weft__ctx *from)
{
    weft__tls_worker = NULL;
    weft__ctx_jump(from, &rt->host_ctx, NULL, false);
}

static int sim_run(weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    /* Each run starts clean: an earlier failure must not be reported again,
     * colour this run's status, or switch off its step budget. */
    s->failed = 0;
    s->message[0] = 0;
    s->steps = 0;
    weft__watchdog_arm(s);
    weft__ctx_init_host(&rt->host_ctx);
    weft__worker *next = pick(s);
    if (next)
        switch_to(s, &rt->host_ctx, next);
    weft__tls_worker = NULL;
    weft__watchdog_disarm(s);
    return (int)rt->status.v;
}

/* The context the worker is executing in right now: its current fiber task,
 * or its loop (no-stack tasks and timer callbacks run there). */
static weft__ctx *running_ctx(weft__worker *w)
{
    weft__task *t = w->current;
    return t && !(t->flags & WEFT__F_NOSTACK) ? &t->ctx : &w->loop_ctx;
}

/* A scheduling point with n > 1 enabled workers in s->cands (w first): the
 * rest of pick, and the switch when another is chosen. */
static WEFT_NOINLINE void sched_point_decide(weft__sim *s, weft__worker *w, unsigned n)
{
    weft__vworker *v = &s->vw[w->index];
    v->vstate = WEFT__V_READY;
    weft__worker *next = pick_decide_inline(s, s->cands, n, true);
    if (next == w || !next) {
        v->vstate = WEFT__V_RUNNING;
        return;
    }
    weft__ctx *save = running_ctx(w);
    v->resume = save;
    switch_to(s, save, next);
}

/* A scheduling point after its step: the enabled workers, w first (choice 0
 * means "no switch"). When w alone is enabled (or the run stops) nothing is
 * decided and w goes on, so it is never marked ready. */
static inline void sched_point_pick(weft__sim *s, weft__worker *w)
{
    weft_rt *rt = w->rt;
    if (rt->nworkers == 1 || stopping(rt))
        return;
    unsigned n = collect(s, w);
    if (n > 1)
        sched_point_decide(s, w, n);
}

/* A step whose budget or wall clock must be checked. */
static WEFT_NOINLINE void sched_point_checked(weft__sim *s, weft__worker *w)
{
    step_checks(s);
    sched_point_pick(s, w);
}

/* The step's failures are out of line and every call is a tail call, so a
 * scheduling point saves no registers. */
static void sim_sched_point(weft__worker *w)
{
    weft__sim *s = backend_sim(w->rt);
    if (WEFT_UNLIKELY(step_counted(s)))
        sched_point_checked(s, w);
    else
        sched_point_pick(s, w);
}

static void sim_park(weft__worker *w, uint64_t deadline)
{
    weft_rt *rt = w->rt;
    weft__sim *s = backend_sim(rt);
    if (!weft__sched_prepare_park(w))
        return; /* work arrived after all */
    weft__vworker *v = &s->vw[w->index];
    v->vstate = WEFT__V_PARKED;
    v->park_deadline = deadline;
    v->wakeup = false;
    v->resume = &w->loop_ctx;
    s->progress.v++;
    weft__worker *next = pick(s);
    if (next == w) {
        v->vstate = WEFT__V_RUNNING;
    } else if (!next) {
        to_host(rt, &w->loop_ctx);
    } else {
        switch_to(s, &w->loop_ctx, next);
    }
    weft__sched_unidle(w);
}

static void sim_wake(weft__worker *w)
{
    weft__vworker *v = &backend_sim(w->rt)->vw[w->index];
    if (v->vstate == WEFT__V_PARKED)
        v->wakeup = true;
}

static bool sim_on_stop(weft__worker *w)
{
    weft__vworker *v = &backend_sim(w->rt)->vw[w->index];
    v->vstate = WEFT__V_READY;
    v->resume = &w->loop_ctx;
    to_host(w->rt, &w->loop_ctx);
    return false;
}

static uint32_t sim_choose(weft__worker *w, int why, uint32_t n)
{
    weft__sim *s = backend_sim(w->rt);
    return (uint32_t)weft__decide(s, why == WEFT__CHOOSE_SELECT ? WEFT__S_SELECT : WEFT__S_PLACE, n, false);
}

/* No hidden threads in a simulation: a blocking call is an ordinary task
 * (its real duration is not virtual time). */
static void sim_blocking_submit(weft__worker *w, weft__task *t)
{
    t->flags |= WEFT__F_BLOCKING;
    weft__spawn_commit(w->rt, t);
}

static uint64_t sim_rand(weft__worker *w)
{
    return weft__decide(backend_sim(w->rt), WEFT__S_RAND, 0, false);
}

/* End the run now. From a task, the task is abandoned where it stands (the
 * loop it came from reclaims it when resumed); from a loop context (a no-stack
 * task or a timer callback) the loop is restarted fresh on its next turn. */
static void end_run(weft_rt *rt, int status, const char *msg)
{
    weft__sim *s = weft__sim_of(rt);
    if (!s->failed) {
        s->failed = status;
        snprintf(s->message, sizeof s->message, "%s", msg);
    }
    rt->status.v = (uint32_t)s->failed;
    rt->stop.v = 1;
    weft__worker *w = weft__tls_worker;
    weft__trace(s, WEFT__EV_FAIL, w ? (int)w->index : -1, 0, status, w && w->current ? w->current->node.task_id : 0,
                s->message);
    if (!w)
        return; /* on the host: sim_run sees rt->stop */
    weft__vworker *v = &s->vw[w->index];
    weft__task *t = w->current;
    v->vstate = WEFT__V_READY;
    /* On the task's own stack only if it is running as a fiber; a task the
     * loop is still preparing (binding its stack) is failed from the loop. */
    if (t && weft__task_get_state(t) == WEFT__T_RUNNING && !(t->flags & WEFT__F_NOSTACK)) {
        t->state.v = WEFT__T_ABANDONED;
        rt->live.v--;
        v->resume = &w->loop_ctx;
        to_host(rt, &t->ctx);
    } else {
        weft__ctx dead;
        if (t) {
            t->state.v = WEFT__T_ABANDONED;
            rt->live.v--;
            w->current = NULL;
        }
        v->started = false;
        to_host(rt, &dead);
    }
    weft__die("a failed simulated run was resumed");
}

static WEFT_NORETURN void sim_fail(weft__worker *w, int status, const char *msg)
{
    end_run(w->rt, status, msg);
    weft__die("a failed simulated run was resumed");
}

void weft__sim_failf(weft_rt *rt, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    end_run(rt, status, msg);
}

static void sim_end_run(weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    if (rt->trace_path && s->ev_len) {
        size_t len = strlen(rt->trace_path);
        const char *p = rt->trace_path;
        int r = len > 5 && !strcmp(p + len - 5, ".json")   ? weft_rt_trace_write_json(rt, p)
                : len > 5 && !strcmp(p + len - 5, ".html") ? weft_rt_trace_write_html(rt, p)
                                                           : weft_rt_trace_write_text(rt, p);
        if (r < 0 && !rt->quiet)
            fprintf(stderr, "weft: could not write the trace to %s: %s\n", rt->trace_path, weft_strerror(r));
    }
    if (s->failed && !rt->quiet) {
        fprintf(stderr, "weft: simulated run failed: %s\n", s->message);
        fflush(stderr);
        /* A refused schedule is the input's fault: the part of it that was
         * used would be a second, truncated schedule, and replays nothing. */
        if (s->failed != WEFT_ESCHEDULE)
            weft__sim_crash_report(rt, 2);
    }
}

static const char *sim_io_name(const weft_rt *rt)
{
    (void)rt;
    return "simulated";
}

const weft__backend weft__backend_sim = {
    .caps = WEFT__CAP_VIRTUAL_TIME | WEFT__CAP_INTERLEAVE | WEFT__CAP_DETERMINISTIC,
    .create = sim_create,
    .destroy = sim_destroy,
    .run = sim_run,
    .end_run = sim_end_run,
    .now = sim_now,
    .park = sim_park,
    .wake = sim_wake,
    .on_stop = sim_on_stop,
    .sched_point = sim_sched_point,
    .timers_fired = sim_timers_fired,
    .choose = sim_choose,
    .rand = sim_rand,
    .io_submit = weft__simio_submit,
    .io_cancel = weft__simio_cancel,
    .io_poll = NULL,
    .io_name = sim_io_name,
    .node_time = weft__simio_node_time,
    .blocking_submit = sim_blocking_submit,
    .buggify = weft__sim_buggify,
    .fail = sim_fail,
    .crash_report = weft__sim_crash_report,
};
