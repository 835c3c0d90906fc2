/* rwlock.c — the reader-writer lock: many readers or one writer, FIFO among
 * the waiting (a reader behind a waiting writer waits too, so no writer
 * starves; the readers at the head of the queue go in together). Every
 * operation holds the object's lock (plain in a serial runtime): the state is
 * two counters, which a compare-and-swap fast path would save little on. */
#include "core.h"

#define RWLOCK_MAGIC 0x72776C6Bu
#define DEAD_MAGIC 0xDEADDEADu

enum { WANT_READ = 1, WANT_WRITE = 2 };

static bool valid(const weft_rwlock *l)
{
    return l && l->magic == RWLOCK_MAGIC;
}

static int bad(const char *what, const weft_rwlock *l)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, l ? "lock not initialized or destroyed" : "NULL lock");
}

int weft_rwlock_init(weft_rwlock *l)
{
    if (!l)
        return bad("weft_rwlock_init", l);
    memset(l, 0, sizeof *l);
    l->magic = RWLOCK_MAGIC;
    return 0;
}

int weft_rwlock_destroy(weft_rwlock *l)
{
    if (!valid(l))
        return bad("weft_rwlock_destroy", l);
    if (l->readers || l->writer || l->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_rwlock_destroy: the lock is held or waited on");
    l->magic = DEAD_MAGIC;
    return 0;
}

/* Who can go in now (lock held): a writer when nobody is in and nobody
 * queues ahead; a reader when no writer is in and nobody queues ahead. */
static bool can_enter(const weft_rwlock *l, int want)
{
    if (l->waiters.head || l->writer)
        return false;
    return want == WANT_READ || l->readers == 0;
}

static void enter(weft_rwlock *l, weft__task *t, int want)
{
    if (want == WANT_WRITE) {
        l->writer = 1;
        l->writer_id = t->node.task_id;
    } else {
        l->readers++;
        t->read_holds++;
    }
}

static int lock_until(weft_rwlock *l, int want, uint64_t deadline, const char *what)
{
    if (!valid(l))
        return bad(what, l);
    weft__task *self;
    int r = weft__blocking_entry(&self, what);
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (w->sched_point && can_enter(l, want))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(l));
    if (want == WANT_WRITE && l->writer && l->writer_id == self->node.task_id) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        return WEFT_MISUSE(WEFT_EDEADLK, "%s: task %llu holds this lock for writing already", what,
                           (unsigned long long)self->node.task_id);
    }
    if (can_enter(l, want)) {
        enter(l, self, want);
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        return 0;
    }
    weft__waiter wt = {0};
    wt.data = (void *)(uintptr_t)want;
    /* 0: an unlock let us in (and counted us); otherwise we left untaken. */
    return weft__block_on_list(self, &wt, &l->waiters, WEFT__OBJ_LOCK(l), w->serial, WEFT__W_RWLOCK, deadline);
}

int weft_rwlock_rdlock_until(weft_rwlock *l, uint64_t deadline)
{
    return lock_until(l, WANT_READ, deadline, "weft_rwlock_rdlock");
}

int weft_rwlock_rdlock(weft_rwlock *l)
{
    return lock_until(l, WANT_READ, WEFT_NO_DEADLINE, "weft_rwlock_rdlock");
}

int weft_rwlock_wrlock_until(weft_rwlock *l, uint64_t deadline)
{
    return lock_until(l, WANT_WRITE, deadline, "weft_rwlock_wrlock");
}

int weft_rwlock_wrlock(weft_rwlock *l)
{
    return lock_until(l, WANT_WRITE, WEFT_NO_DEADLINE, "weft_rwlock_wrlock");
}

/* Let in whoever is at the head of the queue: a writer alone, or every
 * reader up to the next writer. (lock held; the waiters go into chain) */
static void admit(weft_rwlock *l, weft_list *chain)
{
    while (l->waiters.head && !l->writer) {
        weft__waiter *wt = WEFT_LIST_ENTRY(l->waiters.head, weft__waiter, link);
        int want = (int)(uintptr_t)wt->data;
        if (want == WANT_WRITE && l->readers)
            break;
        weft__waitlist_pop(&l->waiters);
        enter(l, wt->task, want);
        weft__list_push_tail(chain, &wt->link);
    }
}

int weft_rwlock_unlock(weft_rwlock *l)
{
    if (!valid(l))
        return bad("weft_rwlock_unlock", l);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_rwlock_unlock");
    if (r < 0)
        return r;
    weft__task *self = w->current;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(l));
    if (l->writer && l->writer_id == self->node.task_id) {
        l->writer = 0;
        l->writer_id = 0;
    } else if (l->readers && self->read_holds) {
        l->readers--;
        self->read_holds--;
    } else {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        return WEFT_MISUSE(WEFT_EPERM, "weft_rwlock_unlock: the calling task holds this lock neither for writing "
                                       "nor for reading");
    }
    weft_list chain = {NULL, NULL};
    admit(l, &chain);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
    weft__wake_chain(&chain, 0);
    return 0;
}
