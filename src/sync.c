/* sync.c — mutex, condition variable, semaphore, wait group, barrier, event
 * and once, all built on the wait lists of wait.c.
 *
 * Two rules keep them correct under the simulator and on several OS threads:
 * a spin lock (obj->lock) guards each object's state and is never held across
 * a scheduling point or a park; and a scheduling point is taken only where the
 * call can proceed, because a call that is about to block has no effect
 * another worker could observe, so a choice there would only duplicate
 * schedules.
 */
#include "internal.h"

#define MUTEX_MAGIC 0x6D757478u
#define COND_MAGIC 0x636F6E64u
#define SEM_MAGIC 0x73656D61u
#define WG_MAGIC 0x77616974u
#define BARRIER_MAGIC 0x62617272u
#define EVENT_MAGIC 0x6576656Eu
#define DEAD_MAGIC 0xDEADDEADu

#define WAITERS_BIT ((uintptr_t)1)

static _Atomic uintptr_t *mstate(weft_mutex *m)
{
    return (_Atomic uintptr_t *)&m->state;
}

/* The mutex word, read and compare-and-swapped with atomics only when the
 * runtime is concurrent (see weft__concurrent). */
static inline uintptr_t state_load(weft_mutex *m, bool conc)
{
    return conc ? atomic_load_explicit(mstate(m), memory_order_relaxed) : m->state;
}

static inline bool state_cas(weft_mutex *m, uintptr_t expect, uintptr_t want, bool conc, memory_order order)
{
    if (!conc) {
        if (m->state != expect)
            return false;
        m->state = want;
        return true;
    }
    return atomic_compare_exchange_strong_explicit(mstate(m), &expect, want, order, memory_order_relaxed);
}

static inline void state_store(weft_mutex *m, uintptr_t v, bool conc)
{
    if (conc)
        atomic_store_explicit(mstate(m), v, memory_order_release);
    else
        m->state = v;
}

static weft__task *owner_of(uintptr_t s)
{
    return (weft__task *)(s & ~WAITERS_BIT);
}

/* Does self hold m? The word names a task slot, and slots are reused: a task
 * that ended holding the mutex must not make the next task in its slot an
 * owner, so the id is checked too. */
static bool holds(weft_mutex *m, const weft__task *self)
{
    return owner_of(state_load(m, self->worker->concurrent)) == self && m->owner_id == self->node.task_id;
}

static int bad_object(const char *what, const void *obj)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, obj ? "object not initialized or already destroyed" : "NULL object");
}

/* Wake every waiter of l with code; called with the object's lock held, the
 * wakes happen after it is released. */
static void wake_all(weft_waitlist *l, uint32_t *lock, int code)
{
    weft__chain c = {NULL, NULL};
    weft__waiter *w;
    while ((w = weft__waitlist_pop(l)) != NULL)
        weft__chain_add(&c, w);
    weft__obj_unlock(lock);
    weft__wake_chain(&c, code);
}

/* ------------------------------------------------------------------------ */
/* Mutex                                                                     */
/* ------------------------------------------------------------------------ */

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
    if (m->state || m->waiters.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_mutex_destroy: the mutex is locked or has waiters");
    m->magic = DEAD_MAGIC;
    return 0;
}

/* Contended: queue up and wait for the hand-off. Kept out of line so the
 * uncontended path stays a few instructions. */
static __attribute__((noinline)) int mutex_acquire_slow(weft_mutex *m, weft__task *self, uint64_t deadline,
                                                       bool uncancellable, bool conc)
{
    weft__obj_lock(&m->lock);
    if (state_cas(m, 0, (uintptr_t)self, conc, memory_order_acquire)) {
        m->owner_id = self->node.task_id;
        weft__obj_unlock(&m->lock);
        return 0;
    }
    if (conc)
        atomic_fetch_or_explicit(mstate(m), WAITERS_BIT, memory_order_relaxed);
    else
        m->state |= WAITERS_BIT;
    weft__waiter wt = {0};
    if (uncancellable)
        self->flags |= WEFT__F_UNCANCELLABLE;
    int r = weft__block_on_list(self, &wt, &m->waiters, &m->lock, WEFT__W_MUTEX, deadline);
    if (uncancellable)
        self->flags &= (uint16_t)~WEFT__F_UNCANCELLABLE;
    /* 0: unlock handed the mutex to us. Otherwise we left the list untaken. */
    return r;
}

/* Take m for self, blocking; flags may make the wait uncancellable (the
 * re-lock after a condition wait must not fail). */
static int mutex_acquire(weft_mutex *m, weft__task *self, uint64_t deadline, bool uncancellable)
{
    bool conc = self->worker->concurrent;
    if (state_load(m, conc) == 0) {
        weft__sched_point(self->worker);
        if (state_cas(m, 0, (uintptr_t)self, conc, memory_order_acquire)) {
            m->owner_id = self->node.task_id;
            return 0;
        }
    }
    return mutex_acquire_slow(m, self, deadline, uncancellable, conc);
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
    return mutex_acquire(m, self, deadline, false);
}

int weft_mutex_lock(weft_mutex *m)
{
    return weft_mutex_lock_until(m, WEFT_NO_DEADLINE);
}

int weft_mutex_trylock(weft_mutex *m)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_trylock", m);
    weft__task *self = weft__current();
    if (!self)
        return WEFT_MISUSE(WEFT_EPERM, "weft_mutex_trylock: not inside a task");
    weft__sched_point(self->worker);
    if (!state_cas(m, 0, (uintptr_t)self, self->worker->concurrent, memory_order_acquire))
        return WEFT_EBUSY;
    m->owner_id = self->node.task_id;
    return 0;
}

/* Release m held by self: FIFO hand-off to the first waiter, if any. */
static void mutex_release(weft_mutex *m, weft__task *self)
{
    bool conc = self->worker->concurrent;
    if (state_cas(m, (uintptr_t)self, 0, conc, memory_order_release))
        return;
    weft__obj_lock(&m->lock);
    weft__waiter *wt = weft__waitlist_pop(&m->waiters);
    if (!wt) {
        state_store(m, 0, conc);
        weft__obj_unlock(&m->lock);
        return;
    }
    uintptr_t next = (uintptr_t)wt->task | (m->waiters.head ? WAITERS_BIT : 0);
    m->owner_id = wt->task->node.task_id;
    state_store(m, next, conc);
    weft__task *t = wt->task;
    weft__obj_unlock(&m->lock);
    weft__wake(t, 0);
}

int weft_mutex_unlock(weft_mutex *m)
{
    if (!m || m->magic != MUTEX_MAGIC)
        return bad_object("weft_mutex_unlock", m);
    weft__task *self = weft__current();
    if (!self || !holds(m, self))
        return WEFT_MISUSE(WEFT_EPERM, "weft_mutex_unlock: the calling task does not hold the mutex");
    weft__sched_point(self->worker);
    mutex_release(m, self);
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
    weft__sched_point(self->worker);
    if (weft__cancel_pending(self))
        return WEFT_ECANCELED; /* cancelled during the point: leave with the mutex still held */
    /* On the list before the mutex is released: a signal sent after the
     * release cannot be missed. */
    weft__waiter wt = {0};
    wt.task = self;
    wt.lock = &c->lock;
    weft__obj_lock(&c->lock);
    weft__waitlist_push(&c->waiters, &wt);
    weft__obj_unlock(&c->lock);
    mutex_release(m, self);
    r = weft__block(self, WEFT__W_COND, &wt, weft__unlink_from_list, deadline);
    int relock = mutex_acquire(m, self, WEFT_NO_DEADLINE, true);
    assert(relock == 0);
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
    weft__sched_point_here();
    weft__obj_lock(&c->lock);
    if (all) {
        wake_all(&c->waiters, &c->lock, 0);
        return 0;
    }
    weft__waiter *wt = weft__waitlist_pop(&c->waiters);
    weft__obj_unlock(&c->lock);
    if (wt)
        weft__wake(wt->task, 0);
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

/* A permit can be taken only when nobody queues ahead: FIFO. */
static bool sem_ready(const weft_sem *s)
{
    return s->permits && !s->waiters.head;
}

static bool sem_take(weft_sem *s)
{
    if (!sem_ready(s))
        return false;
    s->permits--;
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
    if (sem_ready(s))
        weft__sched_point(self->worker);
    weft__obj_lock(&s->lock);
    if (sem_take(s)) {
        weft__obj_unlock(&s->lock);
        return 0;
    }
    weft__waiter wt = {0};
    /* 0: release handed a permit straight to us; otherwise none was taken. */
    return weft__block_on_list(self, &wt, &s->waiters, &s->lock, WEFT__W_SEM, deadline);
}

int weft_sem_acquire(weft_sem *s)
{
    return weft_sem_acquire_until(s, WEFT_NO_DEADLINE);
}

int weft_sem_try_acquire(weft_sem *s)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_try_acquire", s);
    weft__sched_point_here();
    weft__obj_lock(&s->lock);
    bool ok = sem_take(s);
    weft__obj_unlock(&s->lock);
    return ok ? 0 : WEFT_EAGAIN;
}

int weft_sem_release(weft_sem *s, uint64_t n)
{
    if (!s || s->magic != SEM_MAGIC)
        return bad_object("weft_sem_release", s);
    weft__sched_point_here();
    weft__obj_lock(&s->lock);
    if (s->permits > UINT64_MAX - n) {
        weft__obj_unlock(&s->lock);
        return WEFT_MISUSE(WEFT_EINVAL, "weft_sem_release: the permit count would overflow");
    }
    /* Permits go straight to the waiters, first come first served. */
    weft__chain handed = {NULL, NULL};
    for (; n && s->waiters.head; n--)
        weft__chain_add(&handed, weft__waitlist_pop(&s->waiters));
    s->permits += n;
    weft__obj_unlock(&s->lock);
    weft__wake_chain(&handed, 0);
    return 0;
}

uint64_t weft_sem_value(const weft_sem *s)
{
    return s && s->magic == SEM_MAGIC ? s->permits : 0;
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
    weft__sched_point_here();
    weft__obj_lock(&wg->lock);
    /* count >= 0, so count + delta cannot overflow when delta < 0 (where
     * -delta would, for INT64_MIN). */
    if ((delta < 0 && wg->count + delta < 0) || (delta > 0 && wg->count > INT64_MAX - delta)) {
        weft__obj_unlock(&wg->lock);
        return WEFT_MISUSE(WEFT_EINVAL, "weft_wg_add: count %lld %+lld goes out of range", (long long)wg->count,
                           (long long)delta);
    }
    wg->count += delta;
    if (wg->count == 0) {
        wake_all(&wg->waiters, &wg->lock, 0);
        return 0;
    }
    weft__obj_unlock(&wg->lock);
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
    if (wg->count == 0)
        weft__sched_point(self->worker);
    weft__obj_lock(&wg->lock);
    if (wg->count == 0) {
        weft__obj_unlock(&wg->lock);
        return 0;
    }
    weft__waiter wt = {0};
    return weft__block_on_list(self, &wt, &wg->waiters, &wg->lock, WEFT__W_WG, deadline);
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
    weft__waiter *wt = t->wait_obj;
    weft_barrier *b = WEFT_CONTAINER_OF(wt->list, weft_barrier, waiters);
    weft__obj_lock(&b->lock);
    bool mine = wt->linked;
    if (mine) {
        weft__waitlist_remove(&b->waiters, wt);
        b->arrived--;
    }
    weft__obj_unlock(&b->lock);
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
    if (b->arrived + 1 == b->parties)
        weft__sched_point(self->worker);
    weft__obj_lock(&b->lock);
    if (++b->arrived == b->parties) {
        b->arrived = 0;
        b->generation++;
        wake_all(&b->waiters, &b->lock, 0);
        return 1;
    }
    weft__waiter wt = {0};
    wt.task = self;
    wt.lock = &b->lock;
    weft__waitlist_push(&b->waiters, &wt);
    weft__obj_unlock(&b->lock);
    r = weft__block(self, WEFT__W_BARRIER, &wt, barrier_unlink, WEFT_NO_DEADLINE);
    return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------ */
/* Event                                                                     */
/* ------------------------------------------------------------------------ */

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
    weft__sched_point_here();
    weft__obj_lock(&e->lock);
    e->set = 1;
    wake_all(&e->waiters, &e->lock, 0);
    return 0;
}

int weft_event_reset(weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_reset", e);
    weft__sched_point_here();
    weft__obj_lock(&e->lock);
    e->set = 0;
    weft__obj_unlock(&e->lock);
    return 0;
}

int weft_event_is_set(const weft_event *e)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_is_set", e);
    return e->set ? 1 : 0;
}

int weft_event_wait_until(weft_event *e, uint64_t deadline)
{
    if (!e || e->magic != EVENT_MAGIC)
        return bad_object("weft_event_wait", e);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_event_wait");
    if (r < 0)
        return r;
    if (e->set)
        weft__sched_point(self->worker);
    weft__obj_lock(&e->lock);
    if (e->set) {
        weft__obj_unlock(&e->lock);
        return 0;
    }
    weft__waiter wt = {0};
    return weft__block_on_list(self, &wt, &e->waiters, &e->lock, WEFT__W_EVENT, deadline);
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
    weft__sched_point_here();
    weft__obj_lock(&o->lock);
    if (o->state == ONCE_DONE) {
        weft__obj_unlock(&o->lock);
        return 0;
    }
    if (o->state == ONCE_NEW) {
        o->state = ONCE_RUNNING;
        weft__obj_unlock(&o->lock);
        fn(arg);
        weft__obj_lock(&o->lock);
        o->state = ONCE_DONE;
        wake_all(&o->waiters, &o->lock, 0);
        return 0;
    }
    weft__obj_unlock(&o->lock);
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_once_call");
    if (r < 0)
        return r;
    weft__obj_lock(&o->lock);
    if (o->state == ONCE_DONE) {
        weft__obj_unlock(&o->lock);
        return 0;
    }
    weft__waiter wt = {0};
    return weft__block_on_list(self, &wt, &o->waiters, &o->lock, WEFT__W_ONCE, WEFT_NO_DEADLINE);
}
