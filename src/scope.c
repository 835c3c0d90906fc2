/* scope.c — structured concurrency: a scope owns the tasks spawned into it,
 * its join waits for all of them, failures and cancellation spread to the
 * siblings, and a deadline times out every blocking call inside it.
 *
 * The user's weft_scope is a handle; the state lives in the runtime, and
 * every task finds it through its own chain of scopes (weft__task_scope, ->parent),
 * never through the handle. So a task that returns with a scope still open
 * leaves nothing pointing into its dead frame: the runtime reports it and
 * cancels and joins the children itself (weft__scopes_left_open).
 */
#include "core.h"

#define SCOPE_MAGIC 0x73636F70u
#define DEAD_MAGIC 0xDEADDEADu

struct weft__scope_state {
    weft_link link;           /* on rt->scopes while open */
    const weft_scope *handle; /* identifies it; never dereferenced */
    weft__scope_state *parent;
    weft__task *owner;
    weft__a64 deadline;       /* [atomic] read by the tasks inside */
    uint32_t flags;
    bool serial;
    weft__a32 lock;
    /* [lock] */
    uint32_t live;
    bool cancelled, timed_out;
    int first_error;
    weft_list children;
    weft_list waiters; /* the owner, in join */
    weft_timer timer;
};

typedef struct scope_child {
    weft_link link;
    weft__scope_state *scope;
    weft_scope_fn fn;
    void *arg;
    weft__task *task;
    int result;
} scope_child;

weft__scope_state *weft__scope_of_waiter(const weft__waiter *wt)
{
    return WEFT_CONTAINER_OF(wt->list, weft__scope_state, waiters);
}

static inline void scope_lock(weft__scope_state *st)
{
    weft__lock_s(st->serial, &st->lock);
}

static inline void scope_unlock(weft__scope_state *st)
{
    weft__unlock_s(st->serial, &st->lock);
}

/* The open scope s among the calling task's scopes, or NULL. */
static weft__scope_state *find(const weft__task *t, const weft_scope *s)
{
    for (weft__scope_state *st = t ? weft__task_scope(t) : NULL; st; st = st->parent)
        if (st->handle == s)
            return st;
    return NULL;
}

static int resolve(const weft_scope *s, const char *what, weft__worker **w, weft__scope_state **out)
{
    int r = weft__require_task(w, what);
    if (r < 0)
        return r;
    if (!s || !(*out = find((*w)->current, s)))
        return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what,
                           s ? "not an open scope the calling task is inside (never opened, or already joined)"
                             : "NULL scope");
    return 0;
}

uint64_t weft__scope_deadline(const weft__scope_state *s, uint64_t deadline)
{
    for (; s; s = s->parent) {
        uint64_t d = weft__ld_s(s->serial, &((weft__scope_state *)s)->deadline, WEFT__RELAXED);
        if (d < deadline)
            deadline = d;
    }
    return deadline;
}

int weft_scope_init(weft_scope *s, unsigned flags)
{
    if (!s)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_init: NULL scope");
    if (flags & ~WEFT_SCOPE_FAIL_FAST)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_init: unknown flags 0x%x", flags);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_scope_init");
    if (r < 0)
        return r;
    weft__task *self = w->current;
    /* A no-stack task cannot block in weft_scope_join. */
    if (self->flags & WEFT__F_NOSTACK)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_init: a WEFT_SPAWN_NOSTACK task cannot own a scope");
    /* Re-opening a scope this task is inside would make it its own parent. */
    if (find(self, s))
        return WEFT_MISUSE(WEFT_EBUSY, "weft_scope_init: this scope is open (join it before reusing it)");
    /* Where the task keeps its scope, made first: nothing to undo after. */
    if (!weft__task_cold_make(self))
        return WEFT_ENOMEM;
    weft__scope_state *st = weft__calloc(w->rt, sizeof *st);
    if (!st)
        return WEFT_ENOMEM;
    st->handle = s;
    st->parent = weft__task_scope(self);
    st->owner = self;
    st->flags = flags;
    st->serial = w->serial;
    st->deadline.v = WEFT_NO_DEADLINE;
    weft_timer_init(&st->timer);
    s->magic = SCOPE_MAGIC;
    s->state = st;
    (void)weft__task_set_scope(self, st); /* its cold part is made */
    /* Known to the runtime, which frees what an abandoned owner leaves. */
    weft_rt *rt = w->rt;
    weft__spin_lock(&rt->scopes_lock);
    weft__list_push_tail(&rt->scopes, &st->link);
    weft__spin_unlock(&rt->scopes_lock);
    return 0;
}

/* Every child (and, through their joins, theirs) gets code: cancellation
 * (which the children see as weft_cancel) or a deadline's WEFT_ETIMEDOUT
 * (ending only the wait they are in). Lock order: this scope, then the
 * children's wait locks (THREADING.md rule 5). */
void weft__scope_interrupt_children(weft__scope_state *st, int code)
{
    weft_rt *rt = weft__task_rt(st->owner);
    scope_lock(st);
    if (code == WEFT_ECANCELED)
        st->cancelled = true;
    WEFT_LIST_FOREACH(&st->children, l) {
        scope_child *c = WEFT_LIST_ENTRY(l, scope_child, link);
        if (code == WEFT_ECANCELED)
            weft__cancel_task(rt, c->task, WEFT_ECANCELED);
        else
            weft__interrupt(c->task, code);
    }
    scope_unlock(st);
}

/* The deadline passed: tasks blocked inside the scope since before it was
 * set wake with WEFT_ETIMEDOUT (the others wait with it as their own
 * deadline already, and later waits see it on entry). */
static void on_scope_deadline(weft_timer *tm, void *arg)
{
    (void)tm;
    weft__scope_interrupt_children(arg, WEFT_ETIMEDOUT);
}

int weft_scope_set_deadline(weft_scope *s, uint64_t deadline)
{
    weft__worker *w;
    weft__scope_state *st;
    int r = resolve(s, "weft_scope_set_deadline", &w, &st);
    if (r < 0)
        return r;
    weft__st_s(st->serial, &st->deadline, deadline, WEFT__RELAXED);
    if (deadline == WEFT_NO_DEADLINE)
        return weft_timer_pending(&st->timer) ? weft_timer_stop(&st->timer) : 0;
    return weft_timer_start(&st->timer, deadline, on_scope_deadline, st);
}

int weft_scope_cancel(weft_scope *s)
{
    weft__worker *w;
    int r = weft__require_task(&w, "weft_scope_cancel");
    if (r < 0)
        return r;
    /* The point first: the scope may be joined while other tasks run, and
     * must be looked up after that, not before. */
    weft__sched_point(w);
    weft__scope_state *st;
    if ((r = resolve(s, "weft_scope_cancel", &w, &st)) < 0)
        return r;
    weft__scope_interrupt_children(st, WEFT_ECANCELED);
    return 0;
}

static void child_done(scope_child *c, int result)
{
    weft__scope_state *st = c->scope;
    weft_rt *rt = weft__task_rt(st->owner);
    /* A child still running when the deadline passed means the deadline cut
     * the scope short. Decided here rather than only in the deadline's timer:
     * the children's own waits time out at the same instant and may finish
     * before that timer runs (on another worker), and a deadline of an
     * enclosing scope has no timer of this scope at all. */
    bool late = rt->backend->now(rt) >= weft__scope_deadline(st, WEFT_NO_DEADLINE);
    scope_lock(st);
    if (late)
        st->timed_out = true;
    weft__list_remove(&st->children, &c->link);
    st->live--;
    bool fail_fast = result < 0 && !st->first_error && (st->flags & WEFT_SCOPE_FAIL_FAST) && st->live;
    if (result < 0 && !st->first_error)
        st->first_error = result;
    weft__waiter *owner = st->live == 0 ? weft__waitlist_pop(&st->waiters) : NULL;
    weft__task *owner_task = owner ? owner->task : NULL;
    scope_unlock(st);
    weft__free(rt, c, sizeof *c);
    /* While children live the owner cannot finish its join: st stays. */
    if (fail_fast)
        weft__scope_interrupt_children(st, WEFT_ECANCELED);
    if (owner_task)
        weft__wake(owner_task, 0);
}

static void *child_main(void *arg)
{
    scope_child *c = arg;
    /* A child that cannot note its scope does not run, and the scope hears
     * why. */
    if (weft__task_set_scope(weft__current(), c->scope) < 0) {
        c->result = WEFT_ENOMEM;
        return c;
    }
    c->result = c->fn(c->arg);
    /* Its result is where its arg was (weft__task_call): nobody joins a
     * scope's child, so the record keeps c there for child_finished. */
    return c;
}

/* Called by the loop at every child's end — also for a child that never ran
 * because no stack could be bound for it, whose failure the scope must hear. */
void weft__scope_child_finished(weft__task *t)
{
    scope_child *c = (t->flags & WEFT__F_CALLED) ? t->result : t->arg;
    child_done(c, (t->flags & WEFT__F_STARTFAIL) ? t->finish_status : c->result);
}

int weft_scope_spawn(weft_scope *s, weft_scope_fn fn, void *arg, const weft_spawn_opts *opts)
{
    if (!fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_spawn: NULL function");
    weft__worker *w;
    weft__scope_state *st;
    int r = resolve(s, "weft_scope_spawn", &w, &st);
    if (r < 0)
        return r;
    weft_rt *rt = w->rt;
    scope_child *c = weft__alloc(rt, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->scope = st;
    c->fn = fn;
    c->arg = arg;
    /* On the list, with its end hook, before it can run (and end). */
    weft__task *t;
    if ((r = weft__spawn_prepare(rt, w, &t, child_main, c, opts, true)) < 0) {
        weft__free(rt, c, sizeof *c);
        return r;
    }
    c->task = t;
    t->flags |= WEFT__F_SCOPE_CHILD;
    scope_lock(st);
    weft__list_push_head(&st->children, &c->link);
    st->live++;
    bool cancelled = st->cancelled;
    scope_unlock(st);
    /* A scope already cancelled (fail-fast, or its owner) starts new
     * children cancelled. */
    if (cancelled)
        weft__cancel_task(rt, t, WEFT_ECANCELED);
    weft__spawn_commit(rt, t);
    return 0;
}

/* Wait for every child of st; the owner's wait ignores deadlines and
 * cancellation (no task outlives its scope): cancelling the owner cancels
 * the children instead (weft__interrupt), and their ends wake it. */
static void wait_children(weft__task *self, weft__scope_state *st)
{
    scope_lock(st);
    while (st->live) {
        weft__waiter wt = {0};
        self->flags |= WEFT__F_UNCANCELLABLE;
        weft__block_on_list(self, &wt, &st->waiters, &st->lock, st->serial, WEFT__W_SCOPE, WEFT_NO_DEADLINE);
        self->flags &= (uint16_t)~WEFT__F_UNCANCELLABLE;
        scope_lock(st);
    }
    scope_unlock(st);
    weft__timer_disarm_sync(&st->timer);
}

static void close_scope(weft__task *self, weft__scope_state *st)
{
    weft_rt *rt = weft__task_rt(self);
    (void)weft__task_set_scope(self, st->parent); /* the parent's was set: its cold part is made */
    weft__spin_lock(&rt->scopes_lock);
    weft__list_remove(&rt->scopes, &st->link);
    weft__spin_unlock(&rt->scopes_lock);
    weft__free(rt, st, sizeof *st);
}

int weft_scope_join(weft_scope *s)
{
    weft__worker *w;
    weft__scope_state *st;
    int r = resolve(s, "weft_scope_join", &w, &st);
    if (r < 0)
        return r;
    weft__task *self = w->current;
    if (st->owner != self)
        return WEFT_MISUSE(WEFT_EPERM, "weft_scope_join: only the task that opened the scope can join it");
    if (weft__task_scope(self) != st)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_scope_join: join nested scopes before the scopes around them");
    bool cancelled = weft__ld(&self->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_REQUESTED;
    if (cancelled)
        weft__scope_interrupt_children(st, WEFT_ECANCELED);
    wait_children(self, st);
    cancelled = weft__ld(&self->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_REQUESTED;
    int result = cancelled ? WEFT_ECANCELED : st->first_error ? st->first_error : st->timed_out ? WEFT_ETIMEDOUT : 0;
    close_scope(self, st);
    s->magic = DEAD_MAGIC;
    s->state = NULL;
    return result;
}

void weft__scopes_left_open(weft__task *t)
{
    weft__scope_state *st;
    while ((st = weft__task_scope(t)) && st->owner == t) {
        weft__worker *w = weft__tls_worker;
        weft__hook(weft__task_rt(t), WEFT_HOOK_ERROR, w, t, WEFT_EPERM, "returned inside an open scope");
        (void)WEFT_MISUSE(WEFT_EPERM,
                          "task %llu (%s) returned without joining the scope it opened: its children are "
                          "cancelled and joined for it",
                          (unsigned long long)t->node.task_id, weft__task_label(t));
        weft__scope_interrupt_children(st, WEFT_ECANCELED);
        weft_cancel_shield(1); /* these waits must finish */
        wait_children(t, st);
        weft_cancel_shield(0);
        close_scope(t, st);
    }
}

void weft__scopes_free(weft_rt *rt)
{
    weft_link *l;
    while ((l = weft__list_pop_head(&rt->scopes)) != NULL) {
        weft__scope_state *st = WEFT_LIST_ENTRY(l, weft__scope_state, link);
        weft__free(rt, st, sizeof *st);
    }
}
