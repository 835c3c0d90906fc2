/* sim.c — the simulation backend: N virtual workers on one OS thread and a
 * virtual clock.
 *
 * Each virtual worker is a virtual thread: its loop (the same weft__worker_loop
 * that real threads run) executes on a fiber of its own. At every scheduling
 * point the decision source picks which enabled worker continues, so tasks on
 * different workers interleave the way threads do; where a spawned or woken
 * task lands is a decision too. A worker is enabled when it was preempted
 * mid-step, or parked with work queued or a timer due. When no worker is
 * enabled, the clock jumps to the earliest timer; when there is none, every
 * task is blocked for good: a deadlock, reported with what each one waits on.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

/* The loop fibers also run no-stack tasks and timer callbacks. */
#define WEFT__SIM_LOOP_STACK (256u * 1024u)
#define WEFT__SIM_STEP_BUDGET 10000000u

static int sim_init(weft_rt *rt)
{
    weft__sim *s = weft__calloc(rt, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    s->rt = rt;
    rt->sim = s;
    s->cands = weft__calloc(rt, rt->nworkers * sizeof *s->cands);
    if (!s->cands)
        return WEFT_ENOMEM;
    s->step_budget = rt->cfg.sim.step_budget ? rt->cfg.sim.step_budget : WEFT__SIM_STEP_BUDGET;
    s->step_cost = rt->cfg.sim.step_cost_ns;
    s->record = rt->cfg.sim.record_trace || rt->cfg.trace_path;
    s->recorded_time = UINT64_MAX;
    s->hash = 0x6A09E667F3BCC908ull;
    int r = weft__decide_init(s, &rt->cfg);
    if (r < 0)
        return r;
    return weft__trace_attach(s);
}

void weft__sim_free(weft_rt *rt)
{
    weft__sim *s = rt->sim;
    if (!s)
        return;
    weft__decide_free(s);
    weft__trace_free(s);
    if (s->sites)
        rt->alloc.free(rt->alloc.ctx, s->sites, s->sites_cap * sizeof *s->sites);
    if (s->cands)
        weft__free(rt, s->cands, rt->nworkers * sizeof *s->cands);
    rt->sim = NULL;
    rt->alloc.free(rt->alloc.ctx, s, sizeof *s);
}

static uint64_t sim_now(weft_rt *rt)
{
    return rt->sim->now;
}

static void step(weft__sim *s)
{
    s->steps++;
    s->now = s->now > UINT64_MAX - s->step_cost ? UINT64_MAX : s->now + s->step_cost;
    if (WEFT_UNLIKELY(s->steps > s->step_budget) && !s->failed)
        weft__sim_failf(s->rt, WEFT_ELIVELOCK,
                        "step budget of %" PRIu64 " scheduling steps exceeded: a livelock, or raise sim.step_budget",
                        s->step_budget);
}

/* Could w take work from v? Only unpinned tasks, only from queues that
 * implement steal, and not again from a victim whose last steal came back
 * empty (its stealable half held only pinned tasks) until something new is
 * queued there — or an idle worker would be offered the same futile steal
 * forever. */
static bool stealable(const weft__worker *w, const weft__worker *v)
{
    return v != w && v->queued_unpinned && v->rq_ops->steal && v->pushes != v->nosteal_at;
}

/* Could w take work from another worker? */
static bool can_steal(const weft__sim *s, const weft__worker *w)
{
    const weft_rt *rt = s->rt;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        const weft__worker *v = &rt->workers[i];
        if (stealable(w, v))
            return true;
    }
    return false;
}

/* A parked worker is enabled when work arrived for it, a timer of its is
 * due, or — as an idle thread of a work-stealing pool would — it can steal. */
static bool enabled(const weft__sim *s, const weft__worker *w)
{
    if (w->vstate == WEFT__V_READY)
        return true;
    return w->vstate == WEFT__V_PARKED && (w->wakeup || w->park_deadline <= s->now || can_steal(s, w));
}

/* Steal half of a victim's queue, as tokio and Go do; which victim is a
 * decision. Pinned tasks found in the stolen half go back where they were. */
static weft_runq_node *sim_steal(weft__worker *w)
{
    weft_rt *rt = w->rt;
    weft__sim *s = rt->sim;
    unsigned n = 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *v = &rt->workers[i];
        if (stealable(w, v))
            s->cands[n++] = v;
    }
    if (!n)
        return NULL;
    weft__worker *victim = s->cands[weft__decide(s, WEFT__S_PLACE, n, false)];
    weft_runq_node *got[64], *first = NULL;
    size_t k = victim->rq_ops->steal(victim->rq, got, 64);
    for (size_t i = 0; i < k; i++) {
        weft__task *t = (weft__task *)got[i];
        if (t->flags & WEFT__F_PINNED) {
            victim->rq_ops->push(victim->rq, got[i]); /* not counted as new work */
            continue;
        }
        victim->queued_unpinned--;
        t->worker = w;
        if (!first) {
            first = got[i];
            weft__hook(rt, WEFT_HOOK_STEAL, w, t, (int)victim->index, NULL);
        } else {
            weft__rq_push(w, got[i]);
        }
    }
    if (!first)
        victim->nosteal_at = victim->pushes;
    return first;
}

/* Move the clock to the earliest timer of any parked worker. false: there
 * is none, so nothing will ever run again. */
static bool advance_clock(weft__sim *s)
{
    weft_rt *rt = s->rt;
    uint64_t next = UINT64_MAX;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *w = &rt->workers[i];
        if (w->vstate != WEFT__V_PARKED)
            continue;
        w->park_deadline = weft__wheel_next_deadline(&w->wheel);
        if (w->park_deadline < next)
            next = w->park_deadline;
    }
    if (next == UINT64_MAX)
        return false;
    if (next > s->now) {
        s->now = next;
        weft__trace(s, WEFT__EV_CLOCK, -1, 0, 0, next, NULL);
    }
    /* A clock jump is a step: a ticker that fires forever while every task
     * waits is a livelock the budget must catch. */
    step(s);
    return true;
}

static void deadlock(weft__sim *s)
{
    weft_rt *rt = s->rt;
    if (rt->stop_when == WEFT__STOP_ALL_DONE && rt->live == 0)
        return;
    char buf[3800];
    size_t n = weft__blocked_tasks(rt, buf, sizeof buf);
    snprintf(s->message, sizeof s->message, "deadlock: %zu task(s) blocked and nothing can wake them:\n%s", n, buf);
    s->failed = WEFT_EDEADLK;
    rt->status = WEFT_EDEADLK;
    rt->stop = 1;
    weft__trace(s, WEFT__EV_FAIL, -1, 0, WEFT_EDEADLK, 0, NULL);
}

/* Choose the next worker to run. cur (may be NULL) is the worker asking, and
 * is offered first when it is still enabled, so choice 0 means "no switch".
 * NULL: nothing can run (deadlock or stop). */
static weft__worker *pick(weft__sim *s, weft__worker *cur)
{
    weft_rt *rt = s->rt;
    for (;;) {
        if (rt->stop)
            return NULL;
        unsigned n = 0;
        bool cur_first = cur && enabled(s, cur);
        if (cur_first)
            s->cands[n++] = cur;
        for (unsigned i = 0; i < rt->nworkers; i++) {
            weft__worker *w = &rt->workers[i];
            if (w != cur && enabled(s, w))
                s->cands[n++] = w;
        }
        if (n == 1)
            return s->cands[0];
        if (n > 1) {
            unsigned k = weft__decide_worker(s, s->cands, n, cur_first);
            return rt->stop ? NULL : s->cands[k];
        }
        if (!advance_clock(s)) {
            deadlock(s);
            return NULL;
        }
    }
}

static void switch_to(weft__sim *s, weft__ctx *from, weft__worker *next)
{
    weft_rt *rt = s->rt;
    if (!next->started) {
        /* A loop fiber is made on first use (or remade after a failure ended
         * its previous life mid-step). */
        if (!next->loop_stack && weft__stack_get(rt, WEFT__SIM_LOOP_STACK, &next->loop_stack) < 0) {
            weft__sim_failf(rt, WEFT_ENOMEM, "no stack for virtual worker %u", next->index);
            return;
        }
        weft__ctx_make(&next->loop_ctx, next->loop_stack, weft__worker_loop_entry);
        next->resume = &next->loop_ctx;
        next->started = 1;
    }
    next->vstate = WEFT__V_RUNNING;
    next->wakeup = 0;
    weft__tls_worker = next;
    weft__ctx_jump(from, next->resume, next, false);
}

static void to_host(weft_rt *rt, weft__ctx *from)
{
    weft__tls_worker = NULL;
    weft__ctx_jump(from, &rt->host_ctx, NULL, false);
}

static int sim_run(weft_rt *rt)
{
    weft__sim *s = rt->sim;
    /* Each run starts clean: an earlier failure must not be reported again,
     * colour this run's status, or switch off its step budget. */
    s->failed = 0;
    s->message[0] = 0;
    s->steps = 0;
    weft__ctx_init_host(&rt->host_ctx);
    weft__worker *next = pick(s, NULL);
    if (next)
        switch_to(s, &rt->host_ctx, next);
    weft__tls_worker = NULL;
    return rt->status;
}


/* The context the worker is executing in right now: its current fiber task,
 * or its loop (no-stack tasks and timer callbacks run there). */
static weft__ctx *running_ctx(weft__worker *w)
{
    weft__task *t = w->current;
    return t && !(t->flags & WEFT__F_NOSTACK) ? &t->ctx : &w->loop_ctx;
}

static void sim_sched_point(weft__worker *w)
{
    weft_rt *rt = w->rt;
    weft__sim *s = rt->sim;
    step(s);
    if (rt->nworkers == 1)
        return;
    w->vstate = WEFT__V_READY;
    weft__worker *next = pick(s, w);
    if (next == w || !next) {
        w->vstate = WEFT__V_RUNNING;
        return;
    }
    weft__ctx *save = running_ctx(w);
    w->resume = save;
    switch_to(s, save, next);
}

static void sim_park(weft__worker *w, uint64_t deadline)
{
    weft_rt *rt = w->rt;
    weft__sim *s = rt->sim;
    w->vstate = WEFT__V_PARKED;
    w->park_deadline = deadline;
    w->wakeup = 0;
    w->resume = &w->loop_ctx;
    weft__worker *next = pick(s, NULL);
    if (next == w) {
        w->vstate = WEFT__V_RUNNING;
        return;
    }
    if (!next) {
        to_host(rt, &w->loop_ctx);
        return;
    }
    switch_to(s, &w->loop_ctx, next);
}

static void sim_wake(weft__worker *w)
{
    if (w->vstate == WEFT__V_PARKED)
        w->wakeup = 1;
}

static bool sim_on_stop(weft__worker *w)
{
    w->vstate = WEFT__V_READY;
    w->resume = &w->loop_ctx;
    to_host(w->rt, &w->loop_ctx);
    return false;
}

static unsigned sim_place(weft_rt *rt, weft__task *t, unsigned local)
{
    (void)t;
    (void)local;
    if (rt->nworkers == 1)
        return 0;
    return (unsigned)weft__decide(rt->sim, WEFT__S_PLACE, rt->nworkers, false);
}

static uint64_t sim_rand(weft_rt *rt)
{
    return weft__decide(rt->sim, WEFT__S_RAND, 0, false);
}

/* End the run now. From a task, the task is abandoned where it stands (the
 * loop it came from reclaims it when resumed); from a loop context (a no-stack
 * task or a timer callback) the loop is restarted fresh on its next turn. */
static void sim_fail(weft_rt *rt, int status, const char *msg)
{
    weft__sim *s = rt->sim;
    if (!s->failed) {
        s->failed = status;
        snprintf(s->message, sizeof s->message, "%s", msg);
    }
    rt->status = s->failed;
    rt->stop = 1;
    weft__worker *w = weft__tls_worker;
    weft__trace(s, WEFT__EV_FAIL, w ? (int)w->index : -1, 0, status, w && w->current ? w->current->node.task_id : 0,
                NULL);
    if (!w)
        return; /* on the host: sim_run sees rt->stop */
    weft__task *t = w->current;
    w->vstate = WEFT__V_READY;
    /* On the task's own stack only if it is running as a fiber; a task the
     * loop is still preparing (binding its stack) is failed from the loop. */
    if (t && t->state == WEFT__T_RUNNING && !(t->flags & WEFT__F_NOSTACK)) {
        t->state = WEFT__T_ABANDONED;
        rt->live--;
        w->resume = &w->loop_ctx;
        to_host(rt, &t->ctx);
    } else {
        weft__ctx dead;
        if (t) {
            t->state = WEFT__T_ABANDONED;
            rt->live--;
            w->current = NULL;
        }
        w->started = 0;
        to_host(rt, &dead);
    }
    weft__die("a failed simulated run was resumed");
}

void weft__sim_failf(weft_rt *rt, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_fail(rt, status, msg);
}

static size_t put_str(char *out, const char *s)
{
    size_t n = 0;
    while (s[n]) {
        out[n] = s[n];
        n++;
    }
    return n;
}

static size_t put_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t m = 0, n = 0;
    do {
        tmp[m++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (m)
        out[n++] = tmp[--m];
    return n;
}

void weft__sim_steps(weft_rt *rt, uint64_t n)
{
    weft__sim *s = rt->sim;
    s->steps += n > 0 ? n - 1 : 0;
    if (n)
        step(s); /* timers that fire count, so a self re-arming one is caught too */
}

void weft__print_repro(weft_rt *rt, int fd)
{
    /* Signal-safe: called from the crash handler. No allocation, no stdio. */
    weft__sim *s = rt->sim;
    char line[4096];
    size_t n = 0;
    const char *head = "weft: reproduce with ";
    for (const char *p = head; *p; p++)
        line[n++] = *p;
    if (s->source == WEFT__SRC_SEED) {
        if (s->strategy == WEFT_STRATEGY_PCT) {
            n += put_str(line + n, "WEFT_STRATEGY=pct:");
            n += put_u64(line + n, s->pct_depth);
            line[n++] = ':';
            n += put_u64(line + n, s->pct_steps);
            line[n++] = ' ';
        }
        n += put_str(line + n, "WEFT_SEED=");
        n += put_u64(line + n, s->seed);
    } else if (!s->rec_truncated) {
        const char *k = "WEFT_SCHEDULE=";
        for (const char *p = k; *p; p++)
            line[n++] = *p;
        size_t w = weft__schedule_encode_into(s->rec.v, s->rec.len, line + n, sizeof line - n - 2);
        if (!w) {
            const char *t = "(schedule too long to print here; use weft_rt_schedule)";
            for (const char *p = t; *p; p++)
                line[n++] = *p;
        }
        n += w;
    }
    line[n++] = '\n';
    ssize_t unused = write(fd, line, n);
    (void)unused;
}

void weft__sim_after_run(weft_rt *rt)
{
    weft__sim *s = rt->sim;
    if (rt->trace_path && s->ev_len) {
        size_t len = strlen(rt->trace_path);
        int r = len > 5 && !strcmp(rt->trace_path + len - 5, ".json") ? weft_rt_trace_write_json(rt, rt->trace_path)
                                                                     : weft_rt_trace_write_text(rt, rt->trace_path);
        if (r < 0 && !rt->quiet)
            fprintf(stderr, "weft: could not write the trace to %s: %s\n", rt->trace_path, weft_strerror(r));
    }
    if (s->failed && !rt->quiet) {
        fprintf(stderr, "weft: simulated run failed: %s\n", s->message);
        fflush(stderr);
        weft__print_repro(rt, 2);
    }
}

const weft__backend weft__backend_sim = {
    .name = "sim",
    .init = sim_init,
    .now = sim_now,
    .run = sim_run,
    .park = sim_park,
    .wake = sim_wake,
    .on_stop = sim_on_stop,
    .sched_point = sim_sched_point,
    .place = sim_place,
    .steal = sim_steal,
    .rand = sim_rand,
    .fail = sim_fail,
};
