/* wait.c — how a task blocks and is woken: the one place that handles
 * deadlines (its own and its scopes'), cancellation, the two-phase park, the
 * one-wake-per-wait claim and the wait lists every coordination primitive is
 * built on (THREADING.md rules 3, 4 and 5). */
#include "core.h"

int weft__require_task(weft__worker **out, const char *what)
{
    weft__worker *w = weft__tls_worker;
    if (!w || !w->current)
        return WEFT_MISUSE(WEFT_EPERM, "%s: not inside a task (a thread outside the runtime may not call it)", what);
    *out = w;
    return 0;
}

void weft__budget_yield(weft__worker *w, weft__task *t)
{
    weft__hook(w->rt, WEFT_HOOK_YIELD, w, t, 0, NULL);
    weft__switch_away(t, WEFT__SW_YIELD);
}

int weft__blocking_entry_slow(weft__task **out, const char *what)
{
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    if (!t)
        return WEFT_MISUSE(WEFT_EPERM, "%s: not inside a task (weft_rt_block_on runs the first one)", what);
    if (t->flags & WEFT__F_NOSTACK) {
        weft__hook(w->rt, WEFT_HOOK_ERROR, w, t, WEFT_EPERM, what);
        return WEFT_MISUSE(WEFT_EPERM, "%s: task %llu (%s) was spawned with WEFT_SPAWN_NOSTACK and cannot block", what,
                           (unsigned long long)t->node.task_id, weft__task_label(t));
    }
    if (w->coop_budget <= 1) {
        weft__budget_yield(w, t);
        w = weft__tls_worker;
    } else {
        w->coop_budget--;
    }
    if (weft__cancel_pending(t))
        return WEFT_ECANCELED;
    if (t->flags & WEFT__F_SCOPED) {
        uint64_t d = weft__scope_deadline(weft__task_scope(t), WEFT_NO_DEADLINE);
        if (d != WEFT_NO_DEADLINE && weft__task_now(t) >= d)
            return WEFT_ETIMEDOUT;
    }
    *out = t;
    return 0;
}

int weft_cancel_shield(int on)
{
    weft__task *t = weft__current();
    if (!t)
        return WEFT_MISUSE(WEFT_EPERM, "weft_cancel_shield: not inside a task");
    int was = (t->flags & WEFT__F_SHIELDED) != 0;
    if (on)
        t->flags |= WEFT__F_SHIELDED;
    else
        t->flags &= (uint16_t)~WEFT__F_SHIELDED;
    return was;
}

/* Win the right to end t's current wait (rule 4); t->wait_lock is held
 * and t->wait is set. */
static bool claim(weft__task *t)
{
    weft__wait *wa = t->wait;
    if (wa->unlink)
        return wa->unlink(t);
    uint32_t open = 0;
    if (t->serial) {
        if (wa->claim.v)
            return false;
        wa->claim.v = 1;
        return true;
    }
    return weft__cas(&wa->claim, &open, 1u, WEFT__ACQ_REL, WEFT__RELAXED);
}

/* The wait's own deadline: runs on the loop of the worker it was armed on
 * (the wait is still in place: the task disarms synchronously before it
 * tears the wait down). */
static void on_deadline(weft_timer *tm, void *arg)
{
    (void)tm;
    weft__task *t = arg;
    bool serial = t->serial;
    weft__lock_s(serial, &t->wait_lock);
    if (t->wait && claim(t))
        weft__wake(t, WEFT_ETIMEDOUT);
    weft__unlock_s(serial, &t->wait_lock);
}

int weft__block_any(weft__task *t, int kind_flags, void *obj, weft__unlink_fn unlink, uint64_t deadline)
{
    weft__worker *w = t->worker;
    weft_rt *rt = weft__task_rt(t);
    bool serial = rt->serial;
    int kind = kind_flags & ~WEFT__W_EXTERNAL;
    bool uncancellable = (t->flags & WEFT__F_UNCANCELLABLE) != 0;
    /* An uncancellable wait (re-taking a mutex after a condition wait) is
     * not cut short by a scope deadline either. */
    uint64_t eff = uncancellable || !(t->flags & WEFT__F_SCOPED) ? deadline : weft__scope_deadline(weft__task_scope(t), deadline);
    /* Deadlines are read on the clock of the task's node (skew, drift); the
     * timer wheel runs on the runtime's. */
    if (WEFT_UNLIKELY(t->has_cold) && rt->backend->node_time && eff != WEFT_NO_DEADLINE)
        eff = rt->backend->node_time(t, eff, false);
    bool timed = eff != WEFT_NO_DEADLINE;
    weft_timer tm;
    /* The wait lives in this frame, which outlasts it: the task takes it
     * down under wait_lock, after its deadline timer is disarmed. */
    weft__wait wa = {
        .unlink = unlink,
        .obj = obj,
        .kind = (uint8_t)kind,
        .cancellable = !uncancellable && !(t->flags & WEFT__F_SHIELDED),
        .timeoutable = !uncancellable,
    };
    weft__lock_s(serial, &t->wait_lock);
    t->wait = &wa;
    /* Over before it starts: the caller checked for cancellation on entry,
     * but its scheduling point let other tasks run since, and a cancel that
     * came then found this task running and only set the flag; or the
     * deadline has passed. Leave the wait unless a waker already claimed it
     * (its wake is on the way: then park to receive it). */
    int early = weft__cancel_pending(t) ? WEFT_ECANCELED
                : timed && eff <= rt->backend->now(rt) ? WEFT_ETIMEDOUT
                                                      : 0;
    if (WEFT_UNLIKELY(early) && claim(t)) {
        t->wait = NULL;
        weft__unlock_s(serial, &t->wait_lock);
        return early;
    }
    if (timed) {
        weft_timer_init(&tm);
        tm.deadline = eff;
        tm.cb = on_deadline;
        tm.arg = t;
        weft__wheel_insert(&w->wheel, &tm);
    }
    /* From here a waker may claim the wait; the park is committed after the
     * switch (rule 3). */
    if (serial) {
        weft__task_set_state(t, WEFT__T_RUNNING, WEFT__T_PARKED);
    } else if (!weft__task_cas(t, WEFT__T_RUNNING, WEFT__T_PARKING)) {
        /* Claimed and woken between publishing its waiter and here: it
         * stays NOTIFIED, and its loop re-queues it after the switch. */
        WEFT_INVARIANT(weft__task_get_state(t) == WEFT__T_NOTIFIED, "task %llu parks from state %s",
                       (unsigned long long)t->node.task_id, weft__task_state_name(weft__task_get_state(t)));
    }
    weft__unlock_s(serial, &t->wait_lock);
    weft__hook_park(rt, w, t, kind);
    bool external = (kind_flags & WEFT__W_EXTERNAL) != 0;
    if (external)
        weft__add_owned(&w->external_waits, 1u); /* w's thread: core.h says why per worker */
    weft__switch_away(t, WEFT__SW_PARK);
    if (external)
        weft__add_owned(&t->worker->external_waits, UINT64_MAX); /* where it resumed: minus one */
    if (timed)
        weft__timer_disarm_sync(&tm);
    /* An interrupter may still be looking at the wait: its lock says when it
     * is done. */
    weft__lock_s(serial, &t->wait_lock);
    t->wait = NULL;
    weft__unlock_s(serial, &t->wait_lock);
    return t->wait_result;
}

/* weft__wake_any's every case but a serial runtime's own wake: out of line,
 * so that one (every wake in the simulator) saves few registers. */
static WEFT_NOINLINE void wake_any_other(weft__task *t, int result, weft__worker *cur, bool ours)
{
    weft_rt *rt = t->worker->rt;
    /* A thread outside the runtime is counted while it is in here: once t
     * is runnable, the runtime may finish and be freed while this thread
     * still wakes t's worker, so the free waits for it to leave. */
    if (!ours)
        weft__fetch_add(&rt->foreign_wakes, 1u, WEFT__ACQ_REL);
    t->wait_result = result;
    if (rt->serial) {
        /* Another thread: its owner finishes the wake (rule 1). */
        weft__sched_remote(t->worker, t);
        weft__fetch_sub(&rt->foreign_wakes, 1u, WEFT__ACQ_REL);
        return;
    }
    for (;;) {
        unsigned s = weft__ld(&t->state, WEFT__ACQUIRE);
        if (s == WEFT__T_PARKING || s == WEFT__T_RUNNING) {
            /* Still on its worker, its context not saved ("woken while
             * running"): its loop re-queues it after the switch. */
            if (weft__task_cas(t, s, WEFT__T_NOTIFIED))
                break;
            continue;
        }
        WEFT_INVARIANT(s == WEFT__T_PARKED, "task %llu (%s) woken twice or while %s", (unsigned long long)t->node.task_id,
                       weft__task_label(t), weft__task_state_name(s));
        if (weft__task_cas(t, WEFT__T_PARKED, WEFT__T_QUEUED)) {
            weft__schedule(rt, t, true);
            break;
        }
    }
    weft__hook(rt, WEFT_HOOK_WAKE, ours ? cur : NULL, t, result, NULL);
    if (!ours)
        weft__fetch_sub(&rt->foreign_wakes, 1u, WEFT__ACQ_REL);
}

void weft__wake_any(weft__task *t, int result)
{
    /* A task in a wait has run: its last worker names its runtime without
     * the chunk head's line. */
    weft_rt *rt = t->worker->rt;
    weft__worker *cur = weft__tls_worker;
    bool ours = cur && cur->rt == rt;
    if (!rt->serial || !ours) {
        wake_any_other(t, result, cur, ours);
        return;
    }
    t->wait_result = result;
    weft__task_set_state(t, WEFT__T_PARKED, WEFT__T_QUEUED);
    weft__hook(rt, WEFT_HOOK_WAKE, cur, t, result, NULL);
    weft__schedule(rt, t, true);
}

void weft__interrupt(weft__task *t, int code)
{
    bool serial = t->serial;
    weft__lock_s(serial, &t->wait_lock);
    unsigned s = weft__task_get_state(t);
    weft__wait *wa = t->wait;
    bool waiting = wa && (s == WEFT__T_PARKING || s == WEFT__T_PARKED);
    if (waiting && wa->kind == WEFT__W_SCOPE) {
        /* An owner waiting for its scope cannot leave early (no task
         * outlives its scope): the interruption goes on to the children,
         * whose ends wake it. Its wait lock keeps the scope open meanwhile. */
        weft__scope_interrupt_children(weft__scope_of_waiter(wa->obj), code);
    } else if (waiting && (code == WEFT_ECANCELED ? wa->cancellable : wa->timeoutable) && claim(t)) {
        weft__wake(t, code);
    }
    weft__unlock_s(serial, &t->wait_lock);
}

/* In rows of one width, "unknown" last: weft__wait_name_index finds a name's
 * row from its address. */
const char weft__wait_names[WEFT__W_COUNT + 1][WEFT__WAIT_NAME_WIDTH] = {
    "nothing", "sleep", "join", "mutex", "condition", "semaphore", "wait group", "barrier", "event", "once",
    "channel send", "channel receive", "select", "scope", "reader-writer lock", "notifier", "io", "blocking call",
    "unknown"};

const char *weft__wait_name(int kind)
{
    return weft__wait_names[weft__wait_row(kind)];
}

/* ---- wait lists ---- */

void weft__wake_chain(weft_list *chain, int code)
{
    weft__waiter *w;
    while ((w = weft__waitlist_pop(chain)) != NULL) {
        /* w lives on a stack the wake may let go: read it before. */
        weft__task *t = w->task;
        w->result = code;
        weft__wake(t, code);
    }
}

bool weft__unlink_from_list(weft__task *t)
{
    weft__waiter *wt = t->wait->obj;
    weft__lock_s(wt->serial, wt->lock);
    bool mine = wt->linked;
    if (mine)
        weft__waitlist_remove(wt->list, wt);
    weft__unlock_s(wt->serial, wt->lock);
    return mine;
}
