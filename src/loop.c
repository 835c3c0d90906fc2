/* loop.c — the worker loop: take a task, switch into it, commit how it left
 * (yielded, parked, finished), fire due timers, and park in the backend when
 * there is nothing to run. The same loop runs under the simulator and on real
 * threads; only the backend's park, wake, clock and choices differ.
 */
#include "core.h"

#include <stdio.h>

WEFT_TLS weft__worker *weft__tls_worker;

/* Every loop must see the stop: the others may be asleep in park. */
static void set_stop(weft_rt *rt)
{
    weft__st_s(rt->serial, &rt->stop, 1u, WEFT__RELEASE);
    weft__worker *self = weft__tls_worker;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (&rt->workers[i] != self)
            rt->backend->wake(&rt->workers[i]);
}

static bool stopping(weft_rt *rt)
{
    return weft__ld_s(rt->serial, &rt->stop, WEFT__ACQUIRE) != 0;
}

/* t returned (or never could run): account for it and hand its end to
 * whoever waits for it. After the join word says FINISHED, a joiner on
 * another thread may reap t at once: nothing here touches t after that. */
static void finish(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    if (t->stack) {
        weft__stack_put_here(w, t->stack);
        t->stack = NULL;
    }
    bool called = (t->flags & WEFT__F_CALLED) != 0;
    if (WEFT_UNLIKELY(called && t->locals != NULL))
        weft__locals_release(rt, t);
    unsigned from = weft__task_get_state(t);
    WEFT_INVARIANT(from == WEFT__T_RUNNING || from == WEFT__T_QUEUED || from == WEFT__T_NEW,
                   "task %llu (%s) finished from state %s", (unsigned long long)t->node.task_id,
                   weft__task_label(t), weft__task_state_name(from));
    if (!(t->flags & WEFT__F_STARTFAIL))
        t->finish_status = 0; /* its last wait's result was here */
    if (!t->finish_status && (weft__ld(&t->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_LIVE))
        t->finish_status = WEFT_ECANCELED;
    weft__count(&w->stats.finished, 1);
    weft__hook(rt, WEFT_HOOK_FINISH, w, t, t->finish_status, NULL);
    if (WEFT_UNLIKELY(t->flags & WEFT__F_SCOPE_CHILD))
        weft__scope_child_finished(t);
    if (WEFT_UNLIKELY(!called))
        t->result = NULL; /* fn never ran: no result (arg was here) */
    if (t == rt->root) { /* not the flag: an old root left by a failed run may end now */
        rt->root_result = t->result;
        if (rt->stop_when == WEFT__STOP_ROOT)
            set_stop(rt);
    }
    weft__live_add(rt, w, UINT64_MAX);
    bool last = rt->stop_when == WEFT__STOP_ALL_DONE && weft__ld_s(rt->serial, &rt->live, WEFT__ACQUIRE) == 0;
    weft__task_set_state(t, from, WEFT__T_FINISHED);
    uintptr_t was = rt->serial ? t->join.v : weft__xchg(&t->join, WEFT__JOIN_FINISHED, WEFT__ACQ_REL);
    if (rt->serial)
        t->join.v = WEFT__JOIN_FINISHED;
    if (was == WEFT__JOIN_DETACHED) {
        WEFT_INVARIANT(w == weft__tls_worker, "worker %u finished a task on another worker's thread", w->index);
        weft__task_release_by(w, t);
    } else if (was != WEFT__JOIN_NONE)
        weft__wake_any((weft__task *)was, 0); /* out of line: every finish pays for an inlined one */
    if (last)
        set_stop(rt);
}

void weft__task_finish(weft__worker *w, weft__task *t)
{
    finish(w, t);
}

/* Commit what the task that left w did (w->switched_out, set). */
static void switch_done(weft__worker *w)
{
    weft__task *t = w->switched_out;
    w->switched_out = NULL;
    weft_rt *rt = w->rt;
    switch (w->switched_out_how) {
    case WEFT__SW_YIELD:
        weft__task_set_state(t, WEFT__T_RUNNING, WEFT__T_QUEUED);
        weft__sched_yield_local(w, t);
        break;
    case WEFT__SW_PARK:
        /* Its context is saved: the park can be committed (rule 3). A wake
         * that came while it was still running left it NOTIFIED. */
#ifdef WEFT_MODEL
        if (WEFT__MUTANT(WEFT__MUT_NO_WOKEN_CHECK) && !rt->serial) {
            weft__st(&t->state, (uint32_t)WEFT__T_PARKED, WEFT__RELEASE); /* a NOTIFIED is lost */
            break;
        }
#endif
        if (!rt->serial && !weft__task_cas(t, WEFT__T_PARKING, WEFT__T_PARKED)) {
            weft__task_set_state(t, WEFT__T_NOTIFIED, WEFT__T_QUEUED);
            weft__schedule(rt, t, true);
        }
        break;
    case WEFT__SW_FINISH:
        finish(w, t);
        break;
    default:
        WEFT_INVARIANT(0, "task %llu left its worker in an unknown way (%u)", (unsigned long long)t->node.task_id,
                       w->switched_out_how);
    }
}

/* First thing on a resumed context (see fiber.h): commit what the one that
 * left did. A context switch outside a worker has nothing to commit. */
void weft__ctx_resumed(void)
{
    weft__worker *w = weft__tls_worker;
    if (w && w->switched_out)
        switch_done(w);
}

void weft__task_entry(void *transfer)
{
    weft__task *t = transfer;
    weft__ctx_entered(&t->ctx);
    weft__task_call(t);
    if (WEFT_UNLIKELY(t->flags & WEFT__F_SCOPED))
        weft__scopes_left_open(t);
    /* Through weft__switch_away like every other way out: an inlined copy
     * of its finish here saved a few instructions per spawn but cost
     * yield_many a fifth of its speed (measured; the same instructions, so
     * the branch predictors' view of the switch). */
#ifdef WEFT_TSAN
    t->stack->tsan_finished = true; /* see WEFT__TSAN_FINAL_FRAMES */
#endif
    weft__switch_away(t, WEFT__SW_FINISH);
    __builtin_unreachable();
}

/* Could the loop's next step be a plain resume of `next`? Then a task that
 * leaves can switch straight into it: one switch instead of two through the
 * loop (Boost.Fiber switches this way too), with exactly the loop's effects
 * (same queue order, hooks and counters), so a trace cannot tell the paths
 * apart and the simulator runs this code as production does. */
static bool direct_ok(weft__worker *w)
{
    /* Taking the next task before the yielder is queued is the loop's order
     * only for a FIFO: a plug-in or LIFO queue decides with the yielder in. */
    return w->fifo && w->until_housekeeping > 1 && !stopping(w->rt);
}

#ifdef WEFT_TSAN
__attribute__((noinline)) /* its frame is one of WEFT__TSAN_FINAL_FRAMES */
#endif
void weft__switch_away(weft__task *t, int how)
{
    weft__worker *w = t->worker;
    weft_rt *rt = w->rt;
    weft__task *next = NULL;
    bool commit = false; /* a move left in w->switched_out */
    if (how != WEFT__SW_FINISH && direct_ok(w)) {
        /* Taken, not peeked: a thief cannot take it in between. One that
         * cannot be resumed directly (never run: its stack is bound by the
         * loop) runs first in the loop instead. */
        next = weft__sched_next_local(w);
        if (next && (next->flags & (WEFT__F_STARTED | WEFT__F_NOSTACK)) != WEFT__F_STARTED) {
            w->run_next = next;
            next = NULL;
        }
    }
    if (next && how == WEFT__SW_YIELD && w->local_only) {
        /* Queued before its context is saved: safe only because no other
         * worker ever takes from this one's queue and a yielder waits for
         * no waker (rule 3 guards against those two). Same order as the
         * loop's: the next task left the head before the yielder joins. */
        weft__task_set_state(t, WEFT__T_RUNNING, WEFT__T_QUEUED);
        weft__list_push_tail(&w->local, &t->node.link); /* FIFO: direct_ok */
    } else if (how != WEFT__SW_PARK || !rt->serial) {
        w->switched_out = t;
        w->switched_out_how = (uint8_t)how;
        commit = true;
    } /* else a serial park: weft__block made it PARKED, and no other thread
       * can wake it before its context is saved, so nothing is left to
       * commit after the switch (rule 3) */
    if (!next) {
        w->current = NULL; /* before the loop, which is resumed first */
        if (commit)
            weft__ctx_jump_commit(&t->ctx, &w->loop_ctx, t, how == WEFT__SW_FINISH);
        else
            weft__ctx_jump(&t->ctx, &w->loop_ctx, t, false);
    } else {
        w->until_housekeeping--;
        weft__count(&w->stats.steps, 1);
        w->current = next;
        w->coop_budget = WEFT__COOP_BUDGET;
        next->worker = w;
        weft__hook(rt, WEFT_HOOK_RESUME, w, next, 0, NULL);
        weft__task_set_state(next, WEFT__T_QUEUED, WEFT__T_RUNNING);
        if (commit)
            weft__ctx_jump_commit(&t->ctx, &next->ctx, next, false);
        else
            weft__ctx_jump(&t->ctx, &next->ctx, next, false);
    }
    /* Resumed, perhaps on another worker; nothing may follow the jumps, so
     * that they are tail jumps (fiber_x86_64.S says why). */
}

static bool bind_stack(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    size_t size = t->stack_size ? t->stack_size : rt->cfg.stack_size;
    int r = weft__stack_get_here(w, size, &t->stack);
    if (r < 0) {
        /* The task cannot run at all: it finishes with the error, which its
         * join reports; nothing is silently dropped. */
        t->flags |= WEFT__F_STARTFAIL;
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
    w->coop_budget = WEFT__COOP_BUDGET;
    t->worker = w;
    weft__count(&w->stats.steps, 1);
    unsigned from = weft__task_get_state(t);
    if (!(t->flags & WEFT__F_STARTED)) {
        t->flags |= WEFT__F_STARTED;
        if (WEFT_UNLIKELY(t->flags & WEFT__F_BLOCKING) &&
            (weft__ld(&t->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_REQUESTED)) {
            /* A blocking call cancelled before it started never runs. */
            weft__count(&w->stats.unswitched, 1);
            w->current = NULL;
            finish(w, t);
            return;
        }
        weft__hook(rt, WEFT_HOOK_START, w, t, 0, NULL);
        if (t->flags & WEFT__F_NOSTACK) {
            weft__count(&w->stats.unswitched, 1);
            weft__task_set_state(t, from, WEFT__T_RUNNING);
            weft__task_call(t);
            w->current = NULL;
            finish(w, t);
            return;
        }
        if (!bind_stack(w, t)) {
            weft__count(&w->stats.unswitched, 1);
            w->current = NULL;
            finish(w, t);
            return;
        }
    } else {
        weft__hook(rt, WEFT_HOOK_RESUME, w, t, 0, NULL);
    }
    weft__task_set_state(t, from, WEFT__T_RUNNING);
    WEFT_INVARIANT(!w->switched_out, "worker %u ran a task with a switch left to commit", w->index);
    weft__ctx_jump(&w->loop_ctx, &t->ctx, t, false);
    /* Not necessarily t that came back: tasks may have handed the worker to
     * each other (weft__switch_away) before one came back here, and the one
     * that did set w->current to NULL and was committed (weft__ctx_resumed). */
}

static uint64_t total_steps(weft_rt *rt)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += weft__count_read(&rt->workers[i].stats.steps);
    return n;
}

/* Every few steps: fire due timers even when the queue never empties
 * (tokio's event_interval does the same), and honour shutdown's budget. */
static void housekeeping(weft__worker *w)
{
    weft_rt *rt = w->rt;
    w->until_housekeeping = rt->timer_poll_mask + 1;
    weft__poll_timers(w);
    /* A busy worker still delivers IO that completed (tokio polls its
     * driver at the same interval). */
    if (rt->backend->io_poll)
        rt->backend->io_poll(w);
    if (WEFT_UNLIKELY(rt->step_limit != UINT64_MAX) && total_steps(rt) >= rt->step_limit)
        set_stop(rt);
}

bool weft__poll_timers(weft__worker *w)
{
    if (!weft__ld_s(w->serial, &w->wheel.count, WEFT__RELAXED))
        return false;
    weft_rt *rt = w->rt;
    size_t fired = weft__wheel_advance(&w->wheel, rt->backend->now(rt));
    if (!fired)
        return false;
    weft__count(&w->stats.timers_fired, fired);
    if (rt->backend->timers_fired)
        rt->backend->timers_fired(w, fired);
    return true;
}

void weft__worker_loop(weft__worker *w)
{
    weft_rt *rt = w->rt;
    for (;;) {
        if (WEFT_UNLIKELY(stopping(rt))) {
            if (rt->backend->on_stop(w))
                return;
            continue;
        }
        weft__task *t;
        /* A lone worker's next task between fairness ticks is the head of
         * its list: what weft__sched_next would find first, with the same
         * countdown. */
        if (WEFT_LIKELY(w->local_only && w->until_fairness > 1 && !w->run_next && w->local.head)) {
            w->until_fairness--;
            t = (weft__task *)weft__list_pop_head(&w->local);
            weft__task_prefetch(w->local.head); /* the next to run */
        } else {
            t = weft__sched_next(w);
        }
        if (t) {
            run_task(w, t);
            if (WEFT_UNLIKELY(--w->until_housekeeping == 0))
                housekeeping(w);
            continue;
        }
        if (weft__poll_timers(w) || stopping(rt))
            continue;
        weft__hook(rt, WEFT_HOOK_IDLE, w, NULL, 0, NULL);
        weft__count(&w->stats.parks, 1);
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
    weft__switch_away(t, WEFT__SW_YIELD);
}

void weft_sched_point(void)
{
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
}

int weft_sleep_until(uint64_t deadline)
{
    weft__task *t;
    int r = weft__blocking_entry(&t, "weft_sleep");
    if (r < 0)
        return r;
    weft__sched_point(t->worker);
    if (deadline <= weft__task_now(t))
        return 0;
    r = weft__block(t, WEFT__W_SLEEP, NULL, NULL, deadline);
    /* The wait's own deadline is the normal end of a sleep; only a scope
     * deadline that came first is a timeout. */
    if (r == WEFT_ETIMEDOUT && weft__task_now(t) >= deadline)
        r = 0;
    return r;
}

int weft_sleep(uint64_t ns)
{
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_sleep: not inside a task");
    uint64_t now = w->current ? weft__task_now(w->current) : w->rt->backend->now(w->rt);
    uint64_t deadline = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;
    return weft_sleep_until(deadline);
}

uint64_t weft_now(void)
{
    weft__worker *w = weft__tls_worker;
    if (!w)
        return 0;
    return w->current ? weft__task_now(w->current) : w->rt->backend->now(w->rt);
}

uint64_t weft_rand(void)
{
    weft__worker *w = weft__tls_worker;
    /* Outside a runtime there is no decision source to draw from. */
    return w ? w->rt->backend->rand(w) : 0;
}
