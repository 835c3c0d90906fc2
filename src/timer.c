/* timer.c — the hierarchical timing wheel behind weft_timer, weft_sleep and
 * every timeout, under virtual and real time alike.
 *
 * A timer goes to the level of the highest 6-bit group in which its deadline
 * differs from `elapsed`, in the slot of its deadline's digit there: O(1)
 * insert and cancel. As time passes, a higher-level slot is cascaded into the
 * levels below it. The tick is 1 ns, so a level-0 slot holds one exact
 * deadline; its timers fire sorted by the order they were set, which keeps
 * "equal deadlines fire in insertion order" even when some arrived by cascade.
 *
 * Threads (THREADING.md rule 7): the owning worker inserts and fires; any
 * worker of its runtime may disarm, and no thread of another runtime (rule
 * 9: weft_timer_start and _stop refuse it). In a concurrent runtime each wheel operation holds the
 * wheel's lock, a callback runs without it, and the worker records the timer
 * whose callback runs so that a synchronous disarm can wait for it.
 */
#include "core.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WEFT_HAVE_MEMCHECK 1
#endif

#define TIMER_MAGIC 0x7E3F0000u
#define TIMER_PENDING 0x1u
#define WHERE_DUE 0xFFFFu

static inline unsigned level_for(uint64_t elapsed, uint64_t deadline)
{
    uint64_t diff = (elapsed ^ deadline) | (WEFT__WHEEL_SLOTS - 1);
    return (unsigned)(63 - __builtin_clzll(diff)) / WEFT__WHEEL_BITS;
}

static inline unsigned digit(uint64_t t, unsigned level)
{
    return (unsigned)(t >> (level * WEFT__WHEEL_BITS)) & (WEFT__WHEEL_SLOTS - 1);
}

/* The start of `slot` at `level` within elapsed's enclosing block. */
static inline uint64_t slot_start(uint64_t elapsed, unsigned level, unsigned slot)
{
    unsigned shift = level * WEFT__WHEEL_BITS;
    unsigned block = shift + WEFT__WHEEL_BITS;
    uint64_t base = block >= 64 ? 0 : elapsed & ~((UINT64_C(1) << block) - 1);
    return base | ((uint64_t)slot << shift);
}

static inline weft_timer *timer_of(weft_link *l)
{
    return l ? WEFT_LIST_ENTRY(l, weft_timer, link) : NULL;
}

/* t->state and t->wheel are read by other threads (pending checks, remote
 * disarms): through the atomics layer. */
static inline weft__a32 *state_word(weft_timer *t)
{
    return (weft__a32 *)&t->state;
}

static inline weft__aptr *wheel_word(weft_timer *t)
{
    return (weft__aptr *)&t->wheel;
}

static inline void wheel_lock(weft__wheel *wh)
{
    weft__lock_s(wh->serial, &wh->lock);
}

static inline void wheel_unlock(weft__wheel *wh)
{
    weft__unlock_s(wh->serial, &wh->lock);
}

/* wh comes zeroed (every wheel lives in calloc'ed memory, or in a worker a
 * reset runtime kept, whose slots are empty lists): zeroing its 11 KiB
 * of empty slots again cost a simulated seed, which builds a runtime each,
 * about 3% of its instructions. */
void weft__wheel_init(weft__wheel *wh, uint64_t now, bool serial)
{
    wh->elapsed = now;
    wh->serial = serial;
}

/* Overdue timers wait in deadline order (equal deadlines in the order set),
 * so they fire as they would have on time. The list is short: it holds only
 * what was set in the past since the last pass. */
static void due_insert(weft__wheel *wh, weft_timer *t)
{
    weft_link *after = wh->due.tail;
    while (after && timer_of(after)->deadline > t->deadline)
        after = after->prev;
    weft__list_insert_after(&wh->due, after, &t->link);
}

static void place(weft__wheel *wh, weft_timer *t)
{
    if (t->deadline < wh->elapsed) {
        due_insert(wh, t);
        t->where = WHERE_DUE;
        return;
    }
    unsigned level = level_for(wh->elapsed, t->deadline);
    unsigned slot = digit(t->deadline, level);
    weft__list_push_tail(&wh->slots[level][slot], &t->link);
    wh->occupied[level] |= UINT64_C(1) << slot;
    t->where = level * WEFT__WHEEL_SLOTS + slot;
}

/* Off whatever list of wh holds it (wh locked). */
static void unlink_timer(weft__wheel *wh, weft_timer *t)
{
    if (t->where == WHERE_DUE) {
        weft__list_remove(&wh->due, &t->link);
    } else {
        unsigned level = t->where / WEFT__WHEEL_SLOTS, slot = t->where % WEFT__WHEEL_SLOTS;
        weft__list_remove(&wh->slots[level][slot], &t->link);
        if (!wh->slots[level][slot].head)
            wh->occupied[level] &= ~(UINT64_C(1) << slot);
    }
    weft__st_s(wh->serial, &wh->count, wh->count.v - 1, WEFT__RELAXED);
    weft__st_s(wh->serial, wheel_word(t), NULL, WEFT__RELEASE);
    weft__st_s(wh->serial, state_word(t), t->state & ~TIMER_PENDING, WEFT__RELEASE);
}

void weft__wheel_insert(weft__wheel *wh, weft_timer *t)
{
    wheel_lock(wh);
    t->seq = wh->seq++;
    weft__st_s(wh->serial, &wh->count, wh->count.v + 1, WEFT__RELAXED);
    place(wh, t);
    weft__st_s(wh->serial, state_word(t), t->state | TIMER_PENDING, WEFT__RELEASE);
    weft__st_s(wh->serial, wheel_word(t), (void *)wh, WEFT__RELEASE);
    wheel_unlock(wh);
}

/* Is wh one of rt's wheels? Told by its address alone: a wheel of another
 * runtime is not even read (its lock may be a plain one, taken by another
 * thread, or its runtime may be going). */
static bool wheel_of(const weft_rt *rt, const weft__wheel *wh)
{
    uintptr_t p = (uintptr_t)wh;
    return p >= (uintptr_t)rt->workers && p < (uintptr_t)(rt->workers + rt->nworkers);
}

enum { NOT_ARMED = 0, DISARMED = 1, FOREIGN = -1 };

/* Take t off the wheel that holds it. With rt, only a wheel of rt's is
 * touched: a timer armed on another runtime's is left as it is (FOREIGN). */
static int disarm(weft_timer *t, const weft_rt *rt)
{
    for (;;) {
        weft__wheel *wh = weft__ld(wheel_word(t), WEFT__ACQUIRE);
        if (!wh)
            return NOT_ARMED;
        if (rt && !wheel_of(rt, wh))
            return FOREIGN;
        wheel_lock(wh);
        /* It may have fired, or moved to another wheel, meanwhile. */
        bool here = t->wheel == wh;
        if (here)
            unlink_timer(wh, t);
        wheel_unlock(wh);
        if (here)
            return DISARMED;
    }
}

bool weft__timer_disarm(weft_timer *t)
{
    return disarm(t, NULL) == DISARMED;
}

/* Wait while t's callback runs on another worker of the caller's runtime. */
static void wait_not_firing(weft_timer *t)
{
    weft__worker *self = weft__tls_worker;
    if (!self || self->serial)
        return; /* one thread: no callback can be running elsewhere */
    weft_rt *rt = self->rt;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__worker *w = &rt->workers[i];
        if (w == self)
            continue; /* a callback of this worker's is the caller itself */
        while (weft__ld(&w->wheel.firing, WEFT__ACQUIRE) == (void *)t)
            weft__spin_hint();
    }
}

bool weft__timer_disarm_sync(weft_timer *t)
{
    if (weft__timer_disarm(t))
        return true;
    wait_not_firing(t);
    return false;
}

/* ------------------------------------------------------------------------ */
/* Expiry                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct expiry {
    unsigned level, slot;
    uint64_t start;
} expiry;

/* The occupied slot that starts first; on a tie the higher level wins, so a
 * cascade lands its timers before a level-0 slot of the same time fires. */
static bool next_expiry(const weft__wheel *wh, expiry *out)
{
    bool found = false;
    for (unsigned level = 0; level < WEFT__WHEEL_LEVELS; level++) {
        uint64_t occ = wh->occupied[level];
        if (!occ)
            continue;
        unsigned slot = (unsigned)__builtin_ctzll(occ);
        uint64_t start = slot_start(wh->elapsed, level, slot);
        if (!found || start <= out->start) {
            out->level = level;
            out->slot = slot;
            out->start = start;
            found = true;
        }
    }
    return found;
}

static void cascade(weft__wheel *wh, unsigned level, unsigned slot)
{
    weft_list moving = wh->slots[level][slot];
    wh->slots[level][slot].head = wh->slots[level][slot].tail = NULL;
    wh->occupied[level] &= ~(UINT64_C(1) << slot);
    weft_link *l;
    while ((l = weft__list_pop_head(&moving)) != NULL)
        place(wh, timer_of(l));
}

/* Level-0 slots are almost always already in seq order; sort if not
 * (insertion sort: a slot holds timers of one exact deadline). */
static void sort_slot_by_seq(weft__wheel *wh, unsigned slot)
{
    weft_list *l = &wh->slots[0][slot];
    bool sorted = true;
    for (weft_link *n = l->head; n && n->next; n = n->next)
        if (timer_of(n->next)->seq < timer_of(n)->seq)
            sorted = false;
    if (sorted)
        return;
    weft_list in = *l;
    l->head = l->tail = NULL;
    weft_link *n;
    while ((n = weft__list_pop_head(&in)) != NULL) {
        weft_link *after = l->tail;
        while (after && timer_of(after)->seq > timer_of(n)->seq)
            after = after->prev;
        weft__list_insert_after(l, after, n);
    }
}

/* Cascade every slot whose range has begun, so the first occupied slot tells
 * the exact earliest deadline. */
uint64_t weft__wheel_next_deadline(weft__wheel *wh)
{
    wheel_lock(wh);
    uint64_t next = UINT64_MAX;
    expiry e;
    if (wh->count.v == 0) {
        /* Empty: nothing to cascade (the common case of a worker going idle
         * with no timer set). */
    } else if (wh->due.head) {
        next = timer_of(wh->due.head)->deadline;
    } else {
        while (next_expiry(wh, &e)) {
            if (e.level == 0) {
                next = e.start;
                break;
            }
            if (e.start <= wh->elapsed) {
                cascade(wh, e.level, e.slot);
                continue;
            }
            for (weft_link *l = wh->slots[e.level][e.slot].head; l; l = l->next)
                if (timer_of(l)->deadline < next)
                    next = timer_of(l)->deadline;
            break;
        }
    }
    wheel_unlock(wh);
    return next;
}

/* The next timer due by `now` that was set before this pass (seq < limit),
 * taken off the wheel; NULL when there is none. wh locked. */
static weft_timer *take_due(weft__wheel *wh, uint64_t now, uint64_t limit)
{
    for (weft_link *l = wh->due.head; l; l = l->next)
        if (timer_of(l)->seq < limit) {
            unlink_timer(wh, timer_of(l));
            return timer_of(l);
        }
    expiry e;
    while (next_expiry(wh, &e) && e.start <= now) {
        if (e.level > 0) {
            if (e.start > wh->elapsed)
                wh->elapsed = e.start;
            cascade(wh, e.level, e.slot);
            continue;
        }
        wh->elapsed = e.start;
        sort_slot_by_seq(wh, e.slot);
        weft_timer *t = timer_of(wh->slots[0][e.slot].head);
        if (t && t->seq < limit) {
            unlink_timer(wh, t);
            return t;
        }
        /* Only timers newer than this pass remain here: they wait for the
         * next pass, and so does everything later. */
        return NULL;
    }
    if (now + 1 > wh->elapsed && now != UINT64_MAX)
        wh->elapsed = now + 1;
    return NULL;
}

size_t weft__wheel_advance(weft__wheel *wh, uint64_t now)
{
    /* Timers set by the callbacks of this pass wait for the next pass: a
     * callback that re-arms itself for `now` cannot spin us forever. */
    wheel_lock(wh);
    uint64_t limit = wh->seq;
    size_t fired = 0;
    weft_timer *t;
    while ((t = take_due(wh, now, limit)) != NULL) {
        weft_timer_cb cb = t->cb;
        void *arg = t->arg;
        weft__st_s(wh->serial, &wh->firing, (void *)t, WEFT__RELEASE);
        wheel_unlock(wh);
        /* From here t may be freed (by the callback, or by its owner once the
         * callback has begun and it is not pending): only cb and arg. */
        cb(t, arg);
        wheel_lock(wh);
        weft__st_s(wh->serial, &wh->firing, NULL, WEFT__RELEASE);
        fired++;
    }
    wheel_unlock(wh);
    return fired;
}

/* The runtime is going: disarm every timer still armed, so none is left
 * pointing into a wheel that no longer exists (a caller's weft_timer can be
 * initialised and started again on another runtime). */
void weft__wheel_clear(weft__wheel *wh)
{
    wheel_lock(wh);
    for (unsigned level = 0; level < WEFT__WHEEL_LEVELS && wh->count.v; level++)
        for (unsigned slot = 0; slot < WEFT__WHEEL_SLOTS; slot++)
            while (wh->slots[level][slot].head)
                unlink_timer(wh, timer_of(wh->slots[level][slot].head));
    while (wh->due.head)
        unlink_timer(wh, timer_of(wh->due.head));
    wheel_unlock(wh);
}

/* ------------------------------------------------------------------------ */
/* The public caller-allocated timer                                         */
/* ------------------------------------------------------------------------ */

static bool timer_valid(weft_timer *t)
{
    return t && (weft__ld(state_word(t), WEFT__ACQUIRE) & ~TIMER_PENDING) == TIMER_MAGIC;
}

/* A timer armed on another runtime's wheel, from a task or timer of this
 * one: a thread of another runtime is a foreign thread there (THREADING.md
 * rules 7 and 9), serial or concurrent. A serial wheel's lock is a plain
 * one, and a concurrent runtime's stop would not know to wait for a callback
 * running on that runtime's workers: refused, in both. */
static int foreign(const char *what)
{
    return WEFT_MISUSE(WEFT_EPERM,
                       "%s: the timer is armed on another runtime, whose timers a task of this one may "
                       "not touch (stop it from a task of that runtime)",
                       what);
}

int weft_timer_init(weft_timer *t)
{
    if (!t)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_init: NULL timer");
#ifdef WEFT_HAVE_MEMCHECK
    /* Telling an armed timer from fresh memory means reading memory the
     * caller may never have written: on purpose, so memcheck is told. */
    VALGRIND_MAKE_MEM_DEFINED(&t->state, sizeof t->state);
#endif
    if (t->state == (TIMER_MAGIC | TIMER_PENDING))
        return WEFT_MISUSE(WEFT_EBUSY, "weft_timer_init: the timer is armed (stop it first)");
    memset(t, 0, sizeof *t);
    t->state = TIMER_MAGIC;
    return 0;
}

int weft_timer_start(weft_timer *t, uint64_t deadline, weft_timer_cb cb, void *arg)
{
    if (!timer_valid(t) || !cb)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_start: %s", cb ? "timer not initialized" : "NULL callback");
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_timer_start: not on a runtime (call it from a task or a timer)");
    if (disarm(t, w->rt) == FOREIGN)
        return foreign("weft_timer_start");
    t->deadline = deadline;
    t->cb = cb;
    t->arg = arg;
    weft__wheel_insert(&w->wheel, t);
    return 0;
}

int weft_timer_stop(weft_timer *t)
{
    if (!timer_valid(t))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_stop: timer not initialized");
    /* From outside a runtime a timer that is not armed can be told so; an
     * armed one belongs to a runtime's wheel, which only its threads touch
     * (THREADING.md rule 9). */
    if (!weft__tls_worker) {
        if (!weft_timer_pending(t))
            return WEFT_EALREADY;
        return WEFT_MISUSE(WEFT_EPERM, "weft_timer_stop: the timer is armed on a runtime; stop it from a task of "
                                       "that runtime");
    }
    int r = disarm(t, weft__tls_worker->rt);
    if (r == FOREIGN)
        return foreign("weft_timer_stop");
    if (r == DISARMED)
        return 0;
    wait_not_firing(t);
    return WEFT_EALREADY;
}

int weft_timer_pending(const weft_timer *t)
{
    weft_timer *m = (weft_timer *)t;
    return timer_valid(m) && (weft__ld(state_word(m), WEFT__ACQUIRE) & TIMER_PENDING) ? 1 : 0;
}
