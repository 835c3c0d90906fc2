/* loop.c — the worker loop: pop a task, switch into it, handle how it came
 * back (yielded, parked, finished), fire due timers, and park in the backend
 * when there is nothing to run. The same loop runs under the simulator and
 * on real threads; only the backend's park, wake and clock differ.
 */
#include "internal.h"

#include <stdio.h>

WEFT_TLS weft__worker *weft__tls_worker;

static void finish(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    if (WEFT_UNLIKELY(t->scope && t->scope->owner == (void *)t)) {
        /* It returned with a scope still open: its children still point at
         * the scope in this task's frame, so the stack must not be reused. */
        weft__hook(rt, WEFT_HOOK_ERROR, w, t, WEFT_EPERM, "returned inside an open scope");
        (void)WEFT_MISUSE(WEFT_EPERM, "task %llu (%s) returned without joining the scope it opened",
                          (unsigned long long)t->node.task_id, t->name ? t->name : "unnamed");
        t->stack = NULL;
    }
    if (t->stack) {
        weft__stack_put(rt, t->stack);
        t->stack = NULL;
    }
    t->state = WEFT__T_FINISHED;
    if (!t->finish_status && (t->flags & WEFT__F_CANCELLED_LIVE))
        t->finish_status = WEFT_ECANCELED;
    rt->live--;
    rt->stats.finished++;
    weft__hook(rt, WEFT_HOOK_FINISH, w, t, t->finish_status, NULL);
    if (t->on_finish)
        t->on_finish(t);
    if (t->joiner) {
        weft__task *j = t->joiner;
        t->joiner = NULL;
        weft__wake(j, 0);
    }
    if (t == rt->root) { /* not the flag: an old root left by a failed run may end now */
        rt->root_result = t->result;
        if (rt->stop_when == WEFT__STOP_ROOT)
            rt->stop = 1;
    }
    if (t->flags & WEFT__F_DETACHED)
        weft__task_release(rt, t);
    if (rt->stop_when == WEFT__STOP_ALL_DONE && rt->live == 0)
        rt->stop = 1;
}

void weft__task_entry(void *transfer)
{
    weft__task *t = transfer;
    weft__ctx_entered(&t->ctx);
    t->result = t->fn(t->arg);
    weft__switch_to_loop(t, WEFT__T_FINISHED);
    __builtin_unreachable();
}

void weft__switch_to_loop(weft__task *t, int state)
{
    weft__worker *w = t->worker;
    t->state = (uint8_t)state;
    weft__ctx_jump(&t->ctx, &w->loop_ctx, t, state == WEFT__T_FINISHED);
}

/* A task yields or parks: when the loop would only pop the next task and
 * resume it, do that here and switch straight into it — one switch instead
 * of two through the loop (Boost.Fiber switches this way too). Exactly the
 * loop's effects: the same queue order, hooks, counters and countdown, so a
 * trace cannot tell the two paths apart, and the simulator runs this code
 * as production does. Anything else — a task that never ran (its stack is
 * bound by the loop), a stop, housekeeping due, a plug-in queue — goes
 * through the loop. */
void weft__switch_away(weft__task *t, int state)
{
    weft__worker *w = t->worker;
    weft_rt *rt = w->rt;
    weft__task *next = w->rq_fifo ? (weft__task *)((weft__fifo *)w->rq)->head : NULL;
    if (!next || rt->stop || w->countdown <= 1 ||
        (next->flags & (WEFT__F_STARTED | WEFT__F_NOSTACK)) != WEFT__F_STARTED) {
        weft__switch_to_loop(t, state);
        return;
    }
    weft__rq_pop(w);
    if (state == WEFT__T_YIELDED) {
        t->state = WEFT__T_QUEUED;
        weft__rq_push(w, &t->node);
    } else {
        t->state = (uint8_t)state;
    }
    w->countdown--;
    rt->stats.steps++;
    rt->stats.switches++;
    w->current = next;
    next->worker = w;
    weft__hook(rt, WEFT_HOOK_RESUME, w, next, 0, NULL);
    next->state = WEFT__T_RUNNING;
    weft__ctx_jump(&t->ctx, &next->ctx, next, false);
}

static bool bind_stack(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    size_t size = t->stack_size ? t->stack_size : rt->cfg.stack_size;
    int r = weft__stack_get(rt, size, &t->stack);
    if (r < 0) {
        /* The task cannot run at all: it finishes with the error, which its
         * join reports; nothing is silently dropped. */
        t->flags |= WEFT__F_STACKFAIL;
        t->finish_status = r;
        weft__hook(rt, WEFT_HOOK_ERROR, w, t, r, "no stack");
        return false;
    }
    weft__ctx_make(&t->ctx, t->stack, weft__task_entry);
    return true;
}

static void run_task(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    w->current = t;
    t->worker = w;
    rt->stats.steps++;
    if (!(t->flags & WEFT__F_STARTED)) {
        t->flags |= WEFT__F_STARTED;
        weft__hook(rt, WEFT_HOOK_START, w, t, 0, NULL);
        if (t->flags & WEFT__F_NOSTACK) {
            t->state = WEFT__T_RUNNING;
            t->result = t->fn(t->arg);
            w->current = NULL;
            finish(w, t);
            return;
        }
        if (!bind_stack(w, t)) {
            w->current = NULL;
            finish(w, t);
            return;
        }
    } else {
        weft__hook(rt, WEFT_HOOK_RESUME, w, t, 0, NULL);
    }
    t->state = WEFT__T_RUNNING;
    rt->stats.switches++;
    weft__ctx_jump(&w->loop_ctx, &t->ctx, t, false);
    /* Not necessarily t: tasks may have handed the worker to each other
     * (weft__switch_away) before one came back here. */
    t = w->current;
    w->current = NULL;
    if (WEFT_LIKELY(t->state == WEFT__T_YIELDED)) {
        t->state = WEFT__T_QUEUED;
        weft__rq_push(w, &t->node);
    } else if (t->state == WEFT__T_FINISHED) {
        finish(w, t);
    } else if (t->state == WEFT__T_ABANDONED) {
        /* Its frames live on: other tasks may still point into them (a
         * scope, a mutex's wait list), so the stack is never handed out
         * again; the slab goes with the runtime. (The simulator already took
         * it off the live count.) */
    } /* PARKED: whoever wakes it queues it */
}

/* Every few steps: fire due timers even when the queue never empties
 * (tokio's event_interval does the same), and honour shutdown's budget. */
static void housekeeping(weft__worker *w)
{
    weft_rt *rt = w->rt;
    w->countdown = rt->timer_poll_mask + 1;
    weft__poll_timers(w);
    if (WEFT_UNLIKELY(rt->stats.steps >= rt->step_limit))
        rt->stop = 1;
}

bool weft__poll_timers(weft__worker *w)
{
    if (!w->wheel.count)
        return false;
    weft_rt *rt = w->rt;
    size_t fired = weft__wheel_advance(&w->wheel, rt->backend->now(rt));
    if (WEFT_UNLIKELY(fired && rt->sim))
        weft__sim_steps(rt, fired);
    return fired > 0;
}

void weft__worker_loop(weft__worker *w)
{
    weft_rt *rt = w->rt;
    for (;;) {
        if (WEFT_UNLIKELY(rt->stop)) {
            if (rt->backend->on_stop(w))
                return;
            continue;
        }
        weft_runq_node *n = weft__rq_pop(w);
        if (!n && rt->backend->steal)
            n = rt->backend->steal(w);
        if (n) {
            run_task(w, (weft__task *)n);
            if (WEFT_UNLIKELY(--w->countdown == 0))
                housekeeping(w);
            continue;
        }
        if (weft__poll_timers(w) || rt->stop)
            continue;
        weft__hook(rt, WEFT_HOOK_IDLE, w, NULL, 0, NULL);
        rt->backend->park(w, weft__wheel_next_deadline(&w->wheel));
    }
}

void weft__worker_loop_entry(void *transfer)
{
    weft__worker *w = transfer;
    weft__ctx_entered(&w->loop_ctx);
    weft__worker_loop(w);
    __builtin_unreachable(); /* simulated loops never leave */
}

void weft__make_runnable(weft_rt *rt, weft__task *t)
{
    weft__worker *cur = weft__tls_worker;
    weft__worker *local = cur && cur->rt == rt ? cur : &rt->workers[0];
    weft__worker *w = local;
    if (t->flags & WEFT__F_PINNED)
        w = &rt->workers[t->pin];
    else if (rt->backend->place)
        w = &rt->workers[rt->backend->place(rt, t, local->index)];
    t->state = WEFT__T_QUEUED;
    t->worker = w;
    weft__rq_push(w, &t->node);
    if (w != cur)
        rt->backend->wake(w);
}

/* ------------------------------------------------------------------------ */
/* The calls a task makes about itself                                       */
/* ------------------------------------------------------------------------ */

void weft_yield(void)
{
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    if (!t || (t->flags & WEFT__F_NOSTACK)) {
        if (t)
            weft__hook(w->rt, WEFT_HOOK_ERROR, w, t, WEFT_EPERM, "yield in a no-stack task");
        (void)WEFT_MISUSE(WEFT_EPERM, "weft_yield: %s",
                          t ? "a WEFT_SPAWN_NOSTACK task cannot yield" : "not inside a task");
        return;
    }
    weft__sched_point(w);
    weft__hook(w->rt, WEFT_HOOK_YIELD, w, t, 0, NULL);
    weft__switch_away(t, WEFT__T_YIELDED);
}

void weft_sched_point(void)
{
    weft__sched_point_here();
}

int weft_sleep_until(uint64_t deadline)
{
    weft__task *t;
    int r = weft__blocking_entry(&t, "weft_sleep");
    if (r < 0)
        return r;
    weft_rt *rt = t->worker->rt;
    weft__sched_point(t->worker);
    if (deadline <= rt->backend->now(rt))
        return 0;
    r = weft__block(t, WEFT__W_SLEEP, NULL, NULL, deadline);
    /* The wait's own deadline is the normal end of a sleep; only a scope
     * deadline that came first is a timeout. */
    if (r == WEFT_ETIMEDOUT && rt->backend->now(rt) >= deadline)
        r = 0;
    return r;
}

int weft_sleep(uint64_t ns)
{
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_sleep: not inside a task");
    uint64_t now = w->rt->backend->now(w->rt);
    uint64_t deadline = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;
    return weft_sleep_until(deadline);
}

uint64_t weft_now(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? w->rt->backend->now(w->rt) : 0;
}

uint64_t weft_rand(void)
{
    weft__worker *w = weft__tls_worker;
    /* Outside a runtime there is no decision source to draw from. */
    return w ? w->rt->backend->rand(w->rt) : 0;
}
