/* sync.c — mutex, condition variable, semaphore, wait group, barrier, event
 * and once, all built on the wait lists of wait.c.
 *
 * Two rules keep them correct under the simulator and on several OS threads:
 * a spin lock (obj->lock; plain in a serial runtime) guards each object's
 * state and is never held across a scheduling point or a park; and a
 * scheduling point is taken only where the call can proceed, because a call
 * that is about to block has no effect another worker could observe, so a
 * choice there would only duplicate schedules. Only tasks call these
 * (THREADING.md rule 9): from any other thread they return WEFT_EPERM.
 */
#include "core.h"

#define MUTEX_MAGIC 0x6D757478u
#define COND_MAGIC 0x636F6E64u
#define SEM_MAGIC 0x73656D61u
#define WG_MAGIC 0x77616974u
#define BARRIER_MAGIC 0x62617272u
#define EVENT_MAGIC 0x6576656Eu
#define DEAD_MAGIC 0xDEADDEADu

#define WAITERS_BIT ((uintptr_t)1)

static int bad_object(const char *what, const void *obj)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, obj ? "object not initialized or already destroyed" : "NULL object");
}

/* Wake every waiter of l with code; called with the object's lock held, the
 * wakes happen after it is released. */
static void wake_all(weft__worker *w, weft_list *l, weft__a32 *lock, int code)
{
    weft_list chain = *l;
    l->head = l->tail = NULL;
    for (weft_link *n = chain.head; n; n = n->next)
        WEFT_LIST_ENTRY(n, weft__waiter, link)->linked = false;
    weft__obj_unlock(w, lock);
    weft__wake_chain(&chain, code);
}

/* Is a scheduling point worth taking before this call? Only a backend that
 * interleaves has one, and it runs everything on one thread, where the
 * caller's peek at the object is exact. A macro, so that the peek is made
 * only there: on real threads it would race with the object's writers (an
 * inline function's argument is read before the call; TSan caught the wait
 * group's count read so, beside a weft_wg_done on another worker). */
#define point_if(w, can_proceed) ((w)->sched_point && (can_proceed))

/* Queue on the object's wait list (its lock held; released) and block. */
static WEFT_ALWAYS_INLINE int wait_on(weft__task *self, weft__waiter *wt, weft_list *l, weft__a32 *lock, int kind,
                                       uint64_t deadline)
{
    return weft__block_on_list(self, wt, l, lock, self->serial, kind, deadline);
}

/* ------------------------------------------------------------------------ */
/* Mutex                                                                     */
/* ------------------------------------------------------------------------ */

/* The mutex word: the owner task | WAITERS_BIT. owner_id is the owner's id
 * (slots are reused, ids never). */
static inline weft__aword *mword(weft_mutex *m)
{
    return (weft__aword *)&m->state;
}

static inline weft__a64 *mowner(weft_mutex *m)
{
    return (weft__a64 *)&m->owner_id;
}

static inline bool mcas(weft_mutex *m, uintptr_t expect, uintptr_t want, bool serial, int order)
{
    if (serial) {
        if (m->state != expect)
            return false;
        m->state = want;
        return true;
    }
    return weft__cas(mword(m), &expect, want, order, WEFT__RELAXED);
}

static inline void set_owner(weft_mutex *m, const weft__task *t, bool serial)
{
    weft__st_s(serial, mowner(m), t ? t->node.task_id : 0, WEFT__RELAXED);
}

/* Does self hold m? The word names a task record, and records are reused: a
 * task that ended holding the mutex must not make the next task in its
 * record an owner, so the id is checked too. */
static bool holds(weft_mutex *m, const weft__task *self)
{
    bool serial = self->serial;
    return (weft__ld_s(serial, mword(m), WEFT__RELAXED) & ~WAITERS_BIT) == (uintptr_t)self &&
           weft__ld_s(serial, mowner(m), WEFT__RELAXED) == self->node.task_id;
}

int weft_mutex_init(weft_mutex *m)
{
    if (!m)
        return bad_object("weft_mutex_init", m);
    memset(m, 0, sizeof *m);
    m->magic = MUTEX_MAGIC;
    return 0;
}

int weft_mutex_destroy(weft_mutex *m)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_destroy", m);
    if (weft__ld(mword(m), WEFT__ACQUIRE) || m->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_mutex_destroy: the mutex is locked or has waiters");
    m->magic = DEAD_MAGIC;
    return 0;
}

/* Contended: mark the word as waited on, queue up and wait for the hand-off.
 * The waiters bit is set with a compare-and-swap on the owner just seen: if
 * that owner let go in between, the CAS fails and the mutex is taken instead,
 * so a waiter never queues behind a free mutex (the lost wake-up of an
 * unconditioned fetch_or). Out of line: the uncontended path stays short. */
static __attribute__((noinline)) int mutex_acquire_slow(weft__worker *w, weft_mutex *m, weft__task *self,
                                                       uint64_t deadline, bool uncancellable)
{
    bool serial = w->serial;
    weft__obj_lock(w, WEFT__OBJ_LOCK(m));
    for (;;) {
        uintptr_t s = weft__ld_s(serial, mword(m), WEFT__RELAXED);
        if (s == 0) {
            if (mcas(m, 0, (uintptr_t)self, serial, WEFT__ACQUIRE)) {
                set_owner(m, self, serial);
                weft__obj_unlock(w, WEFT__OBJ_LOCK(m));
                return 0;
            }
            continue;
        }
#ifdef WEFT_MODEL
        if (WEFT__MUTANT(WEFT__MUT_MUTEX_FETCH_OR) && !serial) {
            weft__fetch_or(mword(m), WAITERS_BIT, WEFT__RELAXED); /* the old lost wake-up */
            break;
        }
#endif
        if ((s & WAITERS_BIT) || mcas(m, s, s | WAITERS_BIT, serial, WEFT__RELAXED))
            break;
    }
    weft__waiter wt = {0};
    if (uncancellable)
        self->flags |= WEFT__F_UNCANCELLABLE;
    int r = wait_on(self, &wt, &m->waiters, WEFT__OBJ_LOCK(m), WEFT__W_MUTEX, deadline);
    if (uncancellable)
        self->flags &= (uint16_t)~WEFT__F_UNCANCELLABLE;
    /* 0: unlock handed the mutex to us. Otherwise we left the list untaken. */
    return r;
}

/* Take m for self, blocking; uncancellable for the re-lock after a condition
 * wait, which must not fail. */
static int mutex_acquire(weft__worker *w, weft_mutex *m, weft__task *self, uint64_t deadline, bool uncancellable)
{
    bool serial = w->serial;
    if (weft__ld_s(serial, mword(m), WEFT__RELAXED) == 0) {
        weft__sched_point(w);
        if (mcas(m, 0, (uintptr_t)self, serial, WEFT__ACQUIRE)) {
            set_owner(m, self, serial);
            return 0;
        }
    }
    return mutex_acquire_slow(w, m, self, deadline, uncancellable);
}

int weft_mutex_lock_until(weft_mutex *m, uint64_t deadline)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_lock", m);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_mutex_lock");
    if (r < 0)
        return r;
    if (holds(m, self))
        return WEFT_MISUSE(WEFT_EDEADLK, "weft_mutex_lock: task %llu already holds this mutex",
                           (unsigned long long)self->node.task_id);
    return mutex_acquire(self->worker, m, self, deadline, false);
}

int weft_mutex_lock(weft_mutex *m)
{
    return weft_mutex_lock_until(m, WEFT_NO_DEADLINE);
}

int weft_mutex_trylock(weft_mutex *m)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_trylock", m);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_mutex_trylock");
    if (r < 0)
        return r;
    weft__task *self = w->current;
    weft__sched_point(w);
    if (!mcas(m, 0, (uintptr_t)self, w->serial, WEFT__ACQUIRE))
        return WEFT_EBUSY;
    set_owner(m, self, w->serial);
    return 0;
}

/* Release m held by self: FIFO hand-off to the first waiter, if any. */
static void mutex_release(weft__worker *w, weft_mutex *m, weft__task *self)
{
    bool serial = w->serial;
    if (mcas(m, (uintptr_t)self, 0, serial, WEFT__RELEASE))
        return;
    weft__obj_lock(w, WEFT__OBJ_LOCK(m));
    weft__waiter *wt = weft__waitlist_pop(&m->waiters);
    if (!wt) {
        set_owner(m, NULL, serial);
        weft__st_s(serial, mword(m), 0, WEFT__RELEASE);
        weft__obj_unlock(w, WEFT__OBJ_LOCK(m));
        return;
    }
    weft__task *t = wt->task;
    set_owner(m, t, serial);
    weft__st_s(serial, mword(m), (uintptr_t)t | (m->waiters.head ? WAITERS_BIT : 0), WEFT__RELEASE);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(m));
    weft__wake(t, 0);
}

int weft_mutex_unlock(weft_mutex *m)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_unlock", m);
    weft__worker *w = weft__tls_worker;
    weft__task *self = w ? w->current : NULL;
    if (!self || !holds(m, self))
        return WEFT_MISUSE(WEFT_EPERM, "weft_mutex_unlock: the calling task does not hold the mutex");
    weft__sched_point(w);
    mutex_release(w, m, self);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Condition variable                                                        */
/* ------------------------------------------------------------------------ */

int weft_cond_init(weft_cond *c)
{
    if (!c)
        return bad_object("weft_cond_init", c);
    memset(c, 0, sizeof *c);
    c->magic = COND_MAGIC;
    return 0;
}

int weft_cond_destroy(weft_cond *c)
{
    if (!c || c->magic != COND_MAGIC)
        return bad_object("weft_cond_destroy", c);
    if (c->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_cond_destroy: tasks are waiting on the condition");
    c->magic = DEAD_MAGIC;
    return 0;
}

int weft_cond_wait_until(weft_cond *c, weft_mutex *m, uint64_t deadline)
{
    if (!c || c->magic != COND_MAGIC)
        return bad_object("weft_cond_wait", c);
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_cond_wait (mutex)", m);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_cond_wait");
    if (r < 0)
        return r;
    if (!holds(m, self))
        return WEFT_MISUSE(WEFT_EPERM, "weft_cond_wait: the calling task does not hold the mutex");
    weft__worker *w = self->worker;
    weft__sched_point(w);
    if (weft__cancel_pending(self))
        return WEFT_ECANCELED; /* cancelled during the point: leave with the mutex still held */
    /* On the list before the mutex is released: a signal sent after the
     * release cannot be missed. */
    weft__waiter wt = {0};
    wt.task = self;
    wt.lock = WEFT__OBJ_LOCK(c);
    wt.serial = w->serial;
    weft__obj_lock(w, WEFT__OBJ_LOCK(c));
    weft__waitlist_push(&c->waiters, &wt);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(c));
    mutex_release(w, m, self);
    r = weft__block(self, WEFT__W_COND, &wt, weft__unlink_from_list, deadline);
    int relock = mutex_acquire(self->worker, m, self, WEFT_NO_DEADLINE, true);
    WEFT_INVARIANT(relock == 0, "the re-lock after a condition wait failed: %d", relock);
    (void)relock;
    return r;
}

int weft_cond_wait(weft_cond *c, weft_mutex *m)
{
    return weft_cond_wait_until(c, m, WEFT_NO_DEADLINE);
}

static int cond_wake(weft_cond *c, bool all, const char *what)
{
    if (!c || c->magic != COND_MAGIC)
        return bad_object(what, c);
    weft__worker *w;
    int r = weft__require_task(&w, what);
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(c));
    if (all) {
        wake_all(w, &c->waiters, WEFT__OBJ_LOCK(c), 0);
        return 0;
    }
    weft__waiter *wt = weft__waitlist_pop(&c->waiters);
    weft__task *t = wt ? wt->task : NULL;
    weft__obj_unlock(w, WEFT__OBJ_LOCK(c));
    if (t)
        weft__wake(t, 0);
    return 0;
}

int weft_cond_signal(weft_cond *c) { return cond_wake(c, false, "weft_cond_signal"); }
int weft_cond_broadcast(weft_cond *c) { return cond_wake(c, true, "weft_cond_broadcast"); }

/* ------------------------------------------------------------------------ */
/* Semaphore                                                                 */
/* ------------------------------------------------------------------------ */

int weft_sem_init(weft_sem *s, uint64_t permits)
{
    if (!s)
        return bad_object("weft_sem_init", s);
    memset(s, 0, sizeof *s);
    s->permits = permits;
    s->magic = SEM_MAGIC;
    return 0;
}

int weft_sem_destroy(weft_sem *s)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_destroy", s);
    if (s->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_sem_destroy: tasks are waiting on the semaphore");
    s->magic = DEAD_MAGIC;
    return 0;
}

static inline weft__a64 *permits_word(weft_sem *s)
{
    return (weft__a64 *)&s->permits;
}

/* A permit can be taken only when nobody queues ahead: FIFO. (lock held) */
static bool sem_take(weft_sem *s, bool serial)
{
    uint64_t p = weft__ld_s(serial, permits_word(s), WEFT__RELAXED);
    if (!p || s->waiters.head)
        return false;
    weft__st_s(serial, permits_word(s), p - 1, WEFT__RELAXED);
    return true;
}

int weft_sem_acquire_until(weft_sem *s, uint64_t deadline)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_acquire", s);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_sem_acquire");
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (point_if(w, s->permits && !s->waiters.head))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(s));
    if (sem_take(s, w->serial)) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(s));
        return 0;
    }
    weft__waiter wt = {0};
    /* 0: release handed a permit straight to us; otherwise none was taken. */
    return wait_on(self, &wt, &s->waiters, WEFT__OBJ_LOCK(s), WEFT__W_SEM, deadline);
}

int weft_sem_acquire(weft_sem *s)
{
    return weft_sem_acquire_until(s, WEFT_NO_DEADLINE);
}

int weft_sem_try_acquire(weft_sem *s)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_try_acquire", s);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_sem_try_acquire");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(s));
    bool ok = sem_take(s, w->serial);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(s));
    return ok ? 0 : WEFT_EAGAIN;
}

int weft_sem_release(weft_sem *s, uint64_t n)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_release", s);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_sem_release");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(s));
    uint64_t p = weft__ld_s(w->serial, permits_word(s), WEFT__RELAXED);
    if (p > UINT64_MAX - n) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(s));
        return WEFT_MISUSE(WEFT_EINVAL, "weft_sem_release: the permit count would overflow");
    }
    /* Permits go straight to the waiters, first come first served. */
    weft_list handed = {NULL, NULL};
    weft__waiter *wt;
    for (; n && (wt = weft__waitlist_pop(&s->waiters)) != NULL; n--)
        weft__list_push_tail(&handed, &wt->link);
    weft__st_s(w->serial, permits_word(s), p + n, WEFT__RELAXED);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(s));
    weft__wake_chain(&handed, 0);
    return 0;
}

uint64_t weft_sem_value(const weft_sem *s)
{
    return s && s->magic == SEM_MAGIC ? weft__ld(permits_word((weft_sem *)s), WEFT__RELAXED) : 0;
}

/* ------------------------------------------------------------------------ */
/* Wait group                                                                */
/* ------------------------------------------------------------------------ */

int weft_wg_init(weft_wg *wg)
{
    if (!wg)
        return bad_object("weft_wg_init", wg);
    memset(wg, 0, sizeof *wg);
    wg->magic = WG_MAGIC;
    return 0;
}

int weft_wg_destroy(weft_wg *wg)
{
    if (!wg || wg->magic != WG_MAGIC)
        return bad_object("weft_wg_destroy", wg);
    if (wg->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_wg_destroy: tasks are waiting on the wait group");
    wg->magic = DEAD_MAGIC;
    return 0;
}

int weft_wg_add(weft_wg *wg, int64_t delta)
{
    if (!wg || wg->magic != WG_MAGIC)
        return bad_object("weft_wg_add", wg);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_wg_add");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(wg));
    /* count >= 0, so count + delta cannot overflow when delta < 0 (where
     * -delta would, for INT64_MIN). */
    if ((delta < 0 && wg->count + delta < 0) || (delta > 0 && wg->count > INT64_MAX - delta)) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(wg));
        return WEFT_MISUSE(WEFT_EINVAL, "weft_wg_add: count %lld %+lld goes out of range", (long long)wg->count,
                           (long long)delta);
    }
    wg->count += delta;
    if (wg->count == 0) {
        wake_all(w, &wg->waiters, WEFT__OBJ_LOCK(wg), 0);
        return 0;
    }
    weft__obj_unlock(w, WEFT__OBJ_LOCK(wg));
    return 0;
}

int weft_wg_done(weft_wg *wg)
{
    return weft_wg_add(wg, -1);
}

int weft_wg_wait_until(weft_wg *wg, uint64_t deadline)
{
    if (!wg || wg->magic != WG_MAGIC)
        return bad_object("weft_wg_wait", wg);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_wg_wait");
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (point_if(w, wg->count == 0))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(wg));
    if (wg->count == 0) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(wg));
        return 0;
    }
    weft__waiter wt = {0};
    return wait_on(self, &wt, &wg->waiters, WEFT__OBJ_LOCK(wg), WEFT__W_WG, deadline);
}

int weft_wg_wait(weft_wg *wg)
{
    return weft_wg_wait_until(wg, WEFT_NO_DEADLINE);
}

/* ------------------------------------------------------------------------ */
/* Barrier                                                                   */
/* ------------------------------------------------------------------------ */

int weft_barrier_init(weft_barrier *b, uint32_t parties)
{
    if (!b)
        return bad_object("weft_barrier_init", b);
    if (!parties)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_barrier_init: a barrier needs at least one party");
    memset(b, 0, sizeof *b);
    b->parties = parties;
    b->magic = BARRIER_MAGIC;
    return 0;
}

int weft_barrier_destroy(weft_barrier *b)
{
    if (!b || b->magic != BARRIER_MAGIC)
        return bad_object("weft_barrier_destroy", b);
    if (b->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_barrier_destroy: tasks are waiting at the barrier");
    b->magic = DEAD_MAGIC;
    return 0;
}

/* A cancelled or timed-out waiter withdraws its arrival, so the generation it
 * joined still needs a full set of parties. */
static bool barrier_unlink(weft__task *t)
{
    weft__waiter *wt = t->wait->obj;
    weft_barrier *b = WEFT_CONTAINER_OF(wt->list, weft_barrier, waiters);
    weft__lock_s(wt->serial, wt->lock);
    bool mine = wt->linked;
    if (mine) {
        weft__waitlist_remove(&b->waiters, wt);
        b->arrived--;
    }
    weft__unlock_s(wt->serial, wt->lock);
    return mine;
}

int weft_barrier_wait(weft_barrier *b)
{
    if (!b || b->magic != BARRIER_MAGIC)
        return bad_object("weft_barrier_wait", b);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_barrier_wait");
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (point_if(w, b->arrived + 1 == b->parties))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(b));
    if (++b->arrived == b->parties) {
        b->arrived = 0;
        wake_all(w, &b->waiters, WEFT__OBJ_LOCK(b), 0);
        return 1;
    }
    weft__waiter wt = {0};
    wt.task = self;
    wt.lock = WEFT__OBJ_LOCK(b);
    wt.serial = w->serial;
    weft__waitlist_push(&b->waiters, &wt);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(b));
    r = weft__block(self, WEFT__W_BARRIER, &wt, barrier_unlink, WEFT_NO_DEADLINE);
    return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------ */
/* Event                                                                     */
/* ------------------------------------------------------------------------ */

static inline weft__a32 *set_word(weft_event *e)
{
    return (weft__a32 *)&e->set;
}

int weft_event_init(weft_event *e, int initially_set)
{
    if (!e)
        return bad_object("weft_event_init", e);
    memset(e, 0, sizeof *e);
    e->set = initially_set ? 1 : 0;
    e->magic = EVENT_MAGIC;
    return 0;
}

int weft_event_destroy(weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_destroy", e);
    if (e->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_event_destroy: tasks are waiting on the event");
    e->magic = DEAD_MAGIC;
    return 0;
}

int weft_event_set(weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_set", e);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_event_set");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(e));
    weft__st_s(w->serial, set_word(e), 1u, WEFT__RELEASE);
    wake_all(w, &e->waiters, WEFT__OBJ_LOCK(e), 0);
    return 0;
}

int weft_event_reset(weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_reset", e);
    weft__worker *w;
    int r = weft__require_task(&w, "weft_event_reset");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(e));
    weft__st_s(w->serial, set_word(e), 0u, WEFT__RELEASE);
    weft__obj_unlock(w, WEFT__OBJ_LOCK(e));
    return 0;
}

int weft_event_is_set(const weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_is_set", e);
    return weft__ld(set_word((weft_event *)e), WEFT__ACQUIRE) ? 1 : 0;
}

int weft_event_wait_until(weft_event *e, uint64_t deadline)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_wait", e);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_event_wait");
    if (r < 0)
        return r;
    weft__worker *w = self->worker;
    if (point_if(w, e->set))
        weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(e));
    if (weft__ld_s(w->serial, set_word(e), WEFT__RELAXED)) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(e));
        return 0;
    }
    weft__waiter wt = {0};
    return wait_on(self, &wt, &e->waiters, WEFT__OBJ_LOCK(e), WEFT__W_EVENT, deadline);
}

int weft_event_wait(weft_event *e)
{
    return weft_event_wait_until(e, WEFT_NO_DEADLINE);
}

/* ------------------------------------------------------------------------ */
/* Once                                                                      */
/* ------------------------------------------------------------------------ */

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_DONE = 2 };

int weft_once_call(weft_once *o, void (*fn)(void *arg), void *arg)
{
    if (!o || !fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_once_call: NULL %s", o ? "function" : "object");
    weft__worker *w;
    int r = weft__require_task(&w, "weft_once_call");
    if (r < 0)
        return r;
    weft__sched_point(w);
    weft__obj_lock(w, WEFT__OBJ_LOCK(o));
    if (o->state == ONCE_DONE) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(o));
        return 0;
    }
    if (o->state == ONCE_NEW) {
        o->state = ONCE_RUNNING;
        weft__obj_unlock(w, WEFT__OBJ_LOCK(o));
        fn(arg);
        w = weft__tls_worker; /* fn may have blocked and moved */
        weft__obj_lock(w, WEFT__OBJ_LOCK(o));
        o->state = ONCE_DONE;
        wake_all(w, &o->waiters, WEFT__OBJ_LOCK(o), 0);
        return 0;
    }
    weft__obj_unlock(w, WEFT__OBJ_LOCK(o));
    weft__task *self;
    if ((r = weft__blocking_entry(&self, "weft_once_call")) < 0)
        return r;
    w = self->worker;
    weft__obj_lock(w, WEFT__OBJ_LOCK(o));
    if (o->state == ONCE_DONE) {
        weft__obj_unlock(w, WEFT__OBJ_LOCK(o));
        return 0;
    }
    weft__waiter wt = {0};
    return wait_on(self, &wt, &o->waiters, WEFT__OBJ_LOCK(o), WEFT__W_ONCE, WEFT_NO_DEADLINE);
}
