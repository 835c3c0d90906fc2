/* scope.c — structured concurrency: a scope owns the tasks spawned into it,
 * its join waits for all of them, failures and cancellation spread to the
 * siblings, and a deadline times out every blocking call inside it. */
#include "internal.h"

#define SCOPE_MAGIC 0x73636F70u
#define DEAD_MAGIC 0xDEADDEADu

typedef struct scope_child {
    struct scope_child *next, *prev;
    weft_scope *scope;
    weft_scope_fn fn;
    void *arg;
    weft__task *task;
    int result;
} scope_child;

static bool valid(const weft_scope *s)
{
    return s && s->magic == SCOPE_MAGIC;
}

static int bad_scope(const char *what, const weft_scope *s)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, s ? "scope not open (never initialized or already joined)"
                                                      : "NULL scope");
}

static bool inside(const weft__task *t, const weft_scope *s)
{
    for (const weft_scope *p = t->scope; p; p = p->parent)
        if (p == s)
            return true;
    return false;
}

int weft_scope_init(weft_scope *s, unsigned flags)
{
    if (!s)
        return bad_scope("weft_scope_init", s);
    if (flags & ~WEFT_SCOPE_FAIL_FAST)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_init: unknown flags 0x%x", flags);
    weft__task *self = weft__current();
    if (!self)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_init: not inside a task");
    /* A no-stack task cannot block in weft_scope_join, and its frame is the
     * worker's own stack: the scope would not stay put. */
    if (self->flags & WEFT__F_NOSTACK)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_init: a WEFT_SPAWN_NOSTACK task cannot own a scope");
    /* Re-opening a scope this task is inside would make it its own parent.
     * (Another task's open scope cannot be told from fresh memory without
     * reading memory the caller never initialised: that is the contract.) */
    if (inside(self, s))
        return WEFT_MISUSE(WEFT_EBUSY, "weft_scope_init: this scope is open (join it before reusing it)");
    memset(s, 0, sizeof *s);
    s->magic = SCOPE_MAGIC;
    s->flags = flags;
    s->owner = self;
    s->parent = self->scope;
    s->deadline = WEFT_NO_DEADLINE;
    weft_timer_init(&s->timer);
    self->scope = s;
    return 0;
}

/* The deadline passed: every task blocked inside the scope (its children,
 * theirs, and the owner before join) wakes with WEFT_ETIMEDOUT. Tasks that
 * block later see the passed deadline on entry. */
static void on_scope_deadline(weft_timer *tm, void *arg)
{
    (void)tm;
    weft_scope *s = arg;
    weft_rt *rt = weft__tls_worker->rt;
    for (uint32_t i = 0; i < rt->fresh_slot; i++) {
        weft__task *t = weft__task_at(rt, i);
        if (t->state != WEFT__T_PARKED || (t->flags & WEFT__F_UNCANCELLABLE) || !inside(t, s))
            continue;
        if (!t->unlink || t->unlink(t))
            weft__wake(t, WEFT_ETIMEDOUT);
    }
}

int weft_scope_set_deadline(weft_scope *s, uint64_t deadline)
{
    if (!valid(s))
        return bad_scope("weft_scope_set_deadline", s);
    if (!weft__tls_worker)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_set_deadline: not inside a task");
    s->deadline = deadline;
    if (deadline == WEFT_NO_DEADLINE)
        return weft_timer_pending(&s->timer) ? weft_timer_stop(&s->timer) : 0;
    return weft_timer_start(&s->timer, deadline, on_scope_deadline, s);
}

void weft__scope_cancel_children(weft_scope *s)
{
    weft_rt *rt = weft__tls_worker ? weft__tls_worker->rt : NULL;
    s->cancelled = 1;
    for (scope_child *c = s->children; c && rt; c = c->next)
        weft__cancel_task(rt, c->task, WEFT_ECANCELED);
}

int weft_scope_cancel(weft_scope *s)
{
    if (!weft__tls_worker)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_cancel: not inside a task");
    /* The point first: the scope may be joined while other tasks run, and
     * must be checked after that, not before. */
    weft__sched_point(weft__tls_worker);
    if (!valid(s))
        return bad_scope("weft_scope_cancel", s);
    weft__scope_cancel_children(s);
    return 0;
}

static void child_done(scope_child *c, int result)
{
    weft_scope *s = c->scope;
    weft_rt *rt = weft__tls_worker->rt;
    /* A child still running when the deadline passed means the deadline cut
     * the scope short. Decided here rather than only in the deadline's timer:
     * the children's own waits time out at the same instant and may finish
     * before that timer runs (on another worker), and a deadline of an
     * enclosing scope has no timer of this scope at all. */
    bool late = rt->backend->now(rt) >= weft__scope_deadline(s, WEFT_NO_DEADLINE);
    weft__obj_lock(&s->lock);
    if (late)
        s->timed_out = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->children = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->live--;
    bool fail_fast = result < 0 && !s->first_error && (s->flags & WEFT_SCOPE_FAIL_FAST);
    if (result < 0 && !s->first_error)
        s->first_error = result;
    weft__waiter *owner = s->live == 0 ? weft__waitlist_pop(&s->waiters) : NULL;
    weft__obj_unlock(&s->lock);
    weft__free(rt, c, sizeof *c);
    if (fail_fast)
        weft__scope_cancel_children(s);
    if (owner)
        weft__wake(owner->task, 0);
}

static void *child_main(void *arg)
{
    scope_child *c = arg;
    weft__current()->scope = c->scope;
    c->result = c->fn(c->arg);
    return NULL;
}

/* Called by the loop at every child's end — also for a child that never ran
 * because no stack could be bound for it, whose failure the scope must hear. */
static void child_finished(weft__task *t)
{
    scope_child *c = t->arg;
    child_done(c, (t->flags & WEFT__F_STACKFAIL) ? t->finish_status : c->result);
}

int weft_scope_spawn(weft_scope *s, weft_scope_fn fn, void *arg, const weft_spawn_opts *opts)
{
    if (!valid(s) || !fn)
        return fn ? bad_scope("weft_scope_spawn", s) : WEFT_MISUSE(WEFT_EINVAL, "weft_scope_spawn: NULL function");
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_spawn: not inside a task");
    weft_rt *rt = w->rt;
    scope_child *c = weft__alloc(rt, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->scope = s;
    c->fn = fn;
    c->arg = arg;
    weft_task *h;
    int r = weft_spawn_ex(&h, child_main, c, opts);
    if (r < 0) {
        weft__free(rt, c, sizeof *c);
        return r;
    }
    c->task = weft__task_from_handle(rt, h);
    c->task->on_finish = child_finished;
    weft_detach(h);
    weft__obj_lock(&s->lock);
    c->next = s->children;
    if (c->next)
        c->next->prev = c;
    s->children = c;
    s->live++;
    weft__obj_unlock(&s->lock);
    /* A scope already cancelled (fail-fast, or its owner) starts new
     * children cancelled. */
    if (s->cancelled)
        weft__cancel_task(rt, c->task, WEFT_ECANCELED);
    return 0;
}

int weft_scope_join(weft_scope *s)
{
    if (!valid(s))
        return bad_scope("weft_scope_join", s);
    weft__task *self = weft__current();
    if (!self || s->owner != self)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_join: only the task that opened the scope can join it");
    if (self->scope != s)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_join: join nested scopes before the scopes around them");
    if (self->flags & WEFT__F_NOSTACK)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_join: a WEFT_SPAWN_NOSTACK task cannot block");
    if (self->flags & WEFT__F_CANCEL)
        weft__scope_cancel_children(s);
    /* No task outlives its scope: this wait ignores deadlines and
     * cancellation; cancelling the owner cancels the children instead
     * (weft__cancel_task), and their ends wake it. */
    weft__obj_lock(&s->lock);
    while (s->live) {
        weft__waiter wt = {0};
        self->flags |= WEFT__F_UNCANCELLABLE;
        weft__block_on_list(self, &wt, &s->waiters, &s->lock, WEFT__W_SCOPE, WEFT_NO_DEADLINE);
        self->flags &= (uint16_t)~WEFT__F_UNCANCELLABLE;
        weft__obj_lock(&s->lock);
    }
    weft__obj_unlock(&s->lock);
    if (weft_timer_pending(&s->timer))
        weft_timer_stop(&s->timer);
    self->scope = s->parent;
    s->magic = DEAD_MAGIC;
    if (self->flags & WEFT__F_CANCEL) /* the owner was cancelled, before or during the join */
        return WEFT_ECANCELED;
    if (s->first_error)
        return s->first_error;
    return s->timed_out ? WEFT_ETIMEDOUT : 0;
}
