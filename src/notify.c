/* notify.c — the thread-safe notifier: any thread (a plain pthread, a signal
 * relay, a blocking call's thread) signals; a task waits. The notifier is
 * shared by nature (THREADING.md rule 9), so its lock is always atomic and
 * its wake goes through weft__wake, which takes care of the thread it comes
 * from. */
#include "core.h"

#define NOTIFY_MAGIC 0x6E6F7466u
#define DEAD_MAGIC 0xDEADDEADu

static bool valid(const weft_notify *n)
{
    return n && n->magic == NOTIFY_MAGIC;
}

static int bad(const char *what, const weft_notify *n)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, n ? "notifier not initialized or destroyed" : "NULL notifier");
}

int weft_notify_init(weft_notify *n)
{
    if (!n)
        return bad("weft_notify_init", n);
    memset(n, 0, sizeof *n);
    n->magic = NOTIFY_MAGIC;
    return 0;
}

int weft_notify_destroy(weft_notify *n)
{
    if (!valid(n))
        return bad("weft_notify_destroy", n);
    weft__spin_lock(WEFT__OBJ_LOCK(n));
    bool busy = n->waiters.head != NULL;
    weft__spin_unlock(WEFT__OBJ_LOCK(n));
    if (busy)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_notify_destroy: tasks are waiting on the notifier");
    n->magic = DEAD_MAGIC;
    return 0;
}

int weft_notify_signal(weft_notify *n)
{
    if (!valid(n))
        return bad("weft_notify_signal", n);
    weft__worker *w = weft__tls_worker;
    if (w && w->current)
        weft__sched_point(w);
    weft__spin_lock(WEFT__OBJ_LOCK(n));
    weft_rt *sim = weft__waiters_refuse_outsider(&n->waiters);
    if (sim) {
        weft__spin_unlock(WEFT__OBJ_LOCK(n));
        return WEFT_MISUSE_RT(sim, WEFT_EPERM, "weft_notify_signal: a task of a running simulation waits on the "
                                               "notifier; a simulation takes nothing from another thread while it runs");
    }
    weft__waiter *wt = weft__waitlist_pop(&n->waiters);
    weft__task *t = wt ? wt->task : NULL;
    if (!t)
        n->pending = 1;
    weft__spin_unlock(WEFT__OBJ_LOCK(n));
    if (t)
        weft__wake(t, 0);
    return 0;
}

int weft_notify_wait_until(weft_notify *n, uint64_t deadline)
{
    if (!valid(n))
        return bad("weft_notify_wait", n);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_notify_wait");
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (w->sched_point && n->pending)
        weft__sched_point(w);
    weft__spin_lock(WEFT__OBJ_LOCK(n));
    if (n->pending) {
        n->pending = 0;
        weft__spin_unlock(WEFT__OBJ_LOCK(n));
        return 0;
    }
    weft__waiter wt = {0};
    /* Any thread may end this wait: not a deadlock while it lasts. */
    return weft__block_on_list(self, &wt, &n->waiters, WEFT__OBJ_LOCK(n), false, WEFT__W_NOTIFY | WEFT__W_EXTERNAL,
                               deadline);
}

int weft_notify_wait(weft_notify *n)
{
    return weft_notify_wait_until(n, WEFT_NO_DEADLINE);
}
