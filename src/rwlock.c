/* rwlock.c — the reader-writer lock: many readers or one writer, FIFO among
 * the waiting (a reader behind a waiting writer waits too, so no writer
 * starves; the readers at the head of the queue go in together). Every
 * operation holds the object's lock (plain in a serial runtime): the state is
 * two counters, which a compare-and-swap fast path would save little on. */
#include "core.h"

#define RWLOCK_MAGIC 0x72776C6Bu
#define DEAD_MAGIC 0xDEADDEADu

enum { WANT_READ = 1, WANT_WRITE = 2 };

/* Who may unlock. Only a holder: an unlock by anyone else is refused and
 * leaves the lock as it was.
 *
 * The writer is named by its task record and that record's generation. The
 * record alone would not do (records are reused: a later task in it gets a
 * new generation), nor would the task id (ids start at 1 in every runtime,
 * so a task of another runtime could pass for the writer); every runtime has
 * records of its own, so while the writer's runtime lives, no task of
 * another one has its record. A live task's generation never changes (its
 * record's release bumps it), so the writer's own is read without atomics.
 *
 * A lock cannot name its readers (any number may be in), so each task
 * remembers the locks it holds for reading: t->read_holds of them, in its
 * stack's read_held (fiber.h). A count per task would not do: it let a
 * reader of one lock read-unlock another, and a writer into that one while
 * its real reader was still in. The stack's descriptor is where the room is:
 * the task record has none to spare (128 bytes, asserted), every task that
 * can take a lock has a stack bound for its whole run (a blocking call, as a
 * lock is, is refused to a WEFT_SPAWN_NOSTACK task), and it is there already,
 * so a read lock allocates nothing and the uncontended rdlock/unlock pair
 * adds a store and a short scan (the lock just taken is found first). Only
 * the task itself reads or writes its holds ([owner]): a waiting reader that
 * an unlock lets in is counted in the lock by the unlocker, but records its
 * hold itself once it runs again. A task moves between threads only through
 * a run queue, which hands over everything it wrote, so its holds are safe
 * on every worker. The bound (WEFT__READ_HOLDS_MAX) is checked before a read
 * lock waits, so a reader is never let in without room for its hold. */
_Static_assert(WEFT__READ_HOLDS_MAX == 8, "weft/sync.h says a task may hold 8 read locks");

static void hold_add(weft__task *t, const weft_rwlock *l)
{
    WEFT_INVARIANT(t->read_holds < WEFT__READ_HOLDS_MAX, "task %llu: read hold %u of %u",
                   (unsigned long long)t->node.task_id, t->read_holds + 1, WEFT__READ_HOLDS_MAX);
    t->stack->read_held[t->read_holds++] = l;
}

/* Drop one of t's read holds on l; false if it has none. From the newest:
 * locks are mostly released in the reverse order of taking. */
static bool hold_drop(weft__task *t, const weft_rwlock *l)
{
    for (uint32_t i = t->read_holds; i-- > 0;) {
        const void **held = t->stack->read_held;
        if (held[i] == l) {
            held[i] = held[--t->read_holds];
            return true;
        }
    }
    return false;
}

static bool is_writer(const weft_rwlock *l, const weft__task *t)
{
    return l->writer == (const void *)t && l->writer_gen == t->gen;
}

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

/* t goes in (lock held). A reader's hold is recorded by t itself. */
static void enter(weft_rwlock *l, weft__task *t, int want)
{
    if (want == WANT_WRITE) {
        l->writer = t;
        l->writer_gen = t->gen;
    } else {
        l->readers++;
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
    if (want == WANT_READ && self->read_holds >= WEFT__READ_HOLDS_MAX)
        return WEFT_MISUSE(WEFT_EAGAIN, "%s: task %llu holds %u read locks already, the most a task may hold at once",
                           what, (unsigned long long)self->node.task_id, WEFT__READ_HOLDS_MAX);
    weft__worker *w = self->worker;
    if (w->sched_point && can_enter(l, want))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(l));
    if (want == WANT_WRITE && is_writer(l, self)) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        return WEFT_MISUSE(WEFT_EDEADLK, "%s: task %llu holds this lock for writing already", what,
                           (unsigned long long)self->node.task_id);
    }
    if (can_enter(l, want)) {
        enter(l, self, want);
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        if (want == WANT_READ)
            hold_add(self, l);
        return 0;
    }
    weft__waiter wt = {0};
    wt.data = (void *)(uintptr_t)want;
    /* 0: an unlock let us in (and counted us); otherwise we left untaken. */
    r = weft__block_on_list(self, &wt, &l->waiters, WEFT__OBJ_LOCK(l), w->serial, WEFT__W_RWLOCK, deadline);
    if (r == 0 && want == WANT_READ)
        hold_add(self, l);
    return r;
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
    if (is_writer(l, self)) {
        l->writer = NULL;
        l->writer_gen = 0;
    } else if (l->readers && hold_drop(self, l)) {
        /* readers first: a stale hold (of a lock freed while held, whose
         * memory became a lock again) must not take a reader not there */
        l->readers--;
    } else {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
        return WEFT_MISUSE(WEFT_EPERM,
                           "weft_rwlock_unlock: task %llu holds this lock neither for writing nor for "
                           "reading (a hold of another lock, or of a task of another runtime, is none)",
                           (unsigned long long)self->node.task_id);
    }
    weft_list chain = {NULL, NULL};
    admit(l, &chain);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(l));
    weft__wake_chain(&chain, 0);
    return 0;
}
