/* wait.c — how a task blocks and is woken: the one place that handles
 * deadlines (its own and its scopes'), cancellation and the wait lists that
 * every coordination primitive is built on. */
#include "internal.h"

int weft__blocking_entry_slow(weft__task **out, const char *what)
{
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    if (!t)
        return WEFT_MISUSE(WEFT_EPERM, "%s: not inside a task (weft_rt_block_on runs the first one)", what);
    if (t->flags & WEFT__F_NOSTACK) {
        weft__hook(w->rt, WEFT_HOOK_ERROR, w, t, WEFT_EPERM, what);
        return WEFT_MISUSE(WEFT_EPERM, "%s: task %llu (%s) was spawned with WEFT_SPAWN_NOSTACK and cannot block", what,
                           (unsigned long long)t->node.task_id, t->name ? t->name : "unnamed");
    }
    if (weft__cancel_pending(t))
        return WEFT_ECANCELED;
    if (t->scope) {
        uint64_t d = weft__effective_deadline(t, WEFT_NO_DEADLINE);
        if (d != WEFT_NO_DEADLINE && w->rt->backend->now(w->rt) >= d)
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

uint64_t weft__scope_deadline(const weft_scope *s, uint64_t deadline)
{
    for (; s; s = s->parent)
        if (s->deadline < deadline)
            deadline = s->deadline;
    return deadline;
}

static void on_deadline(weft_timer *tm, void *arg)
{
    (void)tm;
    weft__task *t = arg;
    if (t->state != WEFT__T_PARKED)
        return;
    if (!t->unlink || t->unlink(t))
        weft__wake(t, WEFT_ETIMEDOUT);
}

int weft__block(weft__task *t, int kind, void *obj, weft__unlink_fn unlink, uint64_t deadline)
{
    weft__worker *w = t->worker;
    weft_rt *rt = w->rt;
    /* An uncancellable wait (re-taking a mutex after a condition wait) is
     * not cut short by a scope deadline either. */
    uint64_t eff = (t->flags & WEFT__F_UNCANCELLABLE) ? deadline : weft__effective_deadline(t, deadline);
    t->wait_kind = (uint8_t)kind;
    t->wait_obj = obj;
    t->unlink = unlink;
    bool timed = eff != WEFT_NO_DEADLINE;
    /* Over before it starts: the caller checked for cancellation on entry,
     * but its scheduling point let other tasks run since, and a cancel that
     * came then found this task running and only set the flag; or the
     * deadline has passed. Leave the wait unless a waker already claimed it
     * (its wake is on the way). */
    int early = weft__cancel_pending(t) ? WEFT_ECANCELED
                : timed && eff <= rt->backend->now(rt) ? WEFT_ETIMEDOUT
                                                      : 0;
    if (WEFT_UNLIKELY(early) && (!unlink || unlink(t))) {
        t->unlink = NULL;
        t->wait_kind = WEFT__W_NONE;
        return early;
    }
    weft_timer tm;
    if (timed) {
        weft_timer_init(&tm);
        tm.deadline = eff;
        tm.cb = on_deadline;
        tm.arg = t;
        weft__wheel_insert(&w->wheel, &tm);
    }
    weft__hook(rt, WEFT_HOOK_PARK, w, t, 0, weft__wait_name(kind));
    weft__switch_away(t, WEFT__T_PARKED);
    if (timed && tm.wheel)
        weft__wheel_remove(tm.wheel, &tm);
    t->unlink = NULL;
    t->wait_obj = NULL;
    t->wait_kind = WEFT__W_NONE;
    return t->wait_result;
}

void weft__wake(weft__task *t, int result)
{
    weft_rt *rt = t->worker->rt;
    assert(t->state == WEFT__T_PARKED);
    t->wait_result = result;
    t->unlink = NULL;
    weft__hook(rt, WEFT_HOOK_WAKE, weft__tls_worker, t, result, NULL);
    weft__make_runnable(rt, t);
}

static const char *const wait_names[WEFT__W_COUNT] = {
    "nothing", "sleep", "join", "mutex", "condition", "semaphore", "wait group", "barrier",
    "event", "once", "channel send", "channel receive", "select", "scope"};

const char *weft__wait_name(int kind)
{
    return (unsigned)kind < WEFT__W_COUNT ? wait_names[kind] : "unknown";
}

/* ---- wait lists ---- */

void weft__wake_chain(weft__chain *c, int code)
{
    for (weft__waiter *w = c->head; w;) {
        weft__waiter *next = w->next; /* w lives on a stack the wake may free */
        w->result = code;
        weft__wake(w->task, code);
        w = next;
    }
}

bool weft__unlink_from_list(weft__task *t)
{
    weft__waiter *wt = t->wait_obj;
    weft__obj_lock(wt->lock);
    bool mine = wt->linked;
    if (mine)
        weft__waitlist_remove(wt->list, wt);
    weft__obj_unlock(wt->lock);
    return mine;
}

int weft__block_on_list(weft__task *t, weft__waiter *wt, weft_waitlist *l, uint32_t *lock, int kind,
                        uint64_t deadline)
{
    wt->task = t;
    wt->lock = lock;
    weft__waitlist_push(l, wt);
    weft__obj_unlock(lock);
    return weft__block(t, kind, wt, weft__unlink_from_list, deadline);
}
