/* sched.c — where runnable tasks wait and how a worker finds its next one:
 * the work-stealing deque, the LIFO slot, the local list of pinned tasks, the
 * remote queue, the engine's injection queue, stealing half of a victim's
 * deque, the cap on searching workers and the wake of an idle worker. The
 * simulator's virtual workers run this same code; every choice it leaves to
 * timing on real threads (which victim, which idle worker) is asked of the
 * backend, which draws it from the decision source in simulation.
 * THREADING.md rules 2 and 11 are the contract. */
#include "core.h"

/* ------------------------------------------------------------------------ */
/* The deque (Lê, Pop, Cohen, Zappa Nardelli: "Correct and efficient         */
/* work-stealing for weak memory models", PPoPP 2013)                        */
/* ------------------------------------------------------------------------ */

#define SLOT(d, i) (&(d)->slot[(i) % WEFT__DEQUE_CAP])

/* Indices are 64-bit and never wrap: idx() and span() are the identity and
 * the plain difference. The model build's narrow-index mutation (atomic.h)
 * wraps them at 2^WEFT__MUT_INDEX_BITS instead, the ABA class of a narrow
 * head index (tokio#5041), so the model's tests can show it is caught. */
#ifdef WEFT_MODEL
#define IDX_MASK ((UINT64_C(1) << WEFT__MUT_INDEX_BITS) - 1)
static inline uint64_t idx(uint64_t x)
{
    return WEFT__MUTANT(WEFT__MUT_NARROW_INDEX) ? x & IDX_MASK : x;
}
static inline uint64_t span(uint64_t b, uint64_t t)
{
    if (!WEFT__MUTANT(WEFT__MUT_NARROW_INDEX))
        return b - t;
    uint64_t sign = UINT64_C(1) << (WEFT__MUT_INDEX_BITS - 1);
    return (((b - t) & IDX_MASK) ^ sign) - sign;
}
#else
#define idx(x) (x)
#define span(b, t) ((b) - (t))
#endif

static inline uint64_t deque_len(weft__deque *d, bool serial)
{
    uint64_t t = weft__ld_s(serial, &d->top, WEFT__ACQUIRE);
    uint64_t b = weft__ld_s(serial, &d->bottom, WEFT__ACQUIRE);
    return (int64_t)span(b, t) > 0 ? span(b, t) : 0;
}

/* Owner only. false: full. */
static bool deque_push(weft__deque *d, weft__task *t, bool serial)
{
    uint64_t b = weft__ld_s(serial, &d->bottom, WEFT__RELAXED);
    uint64_t top = weft__ld_s(serial, &d->top, WEFT__ACQUIRE);
    if (span(b, top) >= WEFT__DEQUE_CAP)
        return false;
    weft__st_s(serial, SLOT(d, b), (void *)t, WEFT__RELAXED);
    /* The slot is written before a thief can see the new bottom. */
    weft__st_s(serial, &d->bottom, idx(b + 1), WEFT__MUT_ORDER(WEFT__MUT_PUSH_RELAXED, WEFT__RELAXED, WEFT__RELEASE));
    return true;
}

/* A taker at top reads top, then bottom. Against an owner that takes at
 * bottom (a LIFO deque), whose claim is a plain store of bottom until the
 * last task, a seq_cst fence between the two reads pairs with the owner's
 * fence, so the two never both take one task. A FIFO deque's owner takes at
 * top with the same CAS as a thief, and bottom only grows (a release store
 * after the slot): a stale bottom can only make a taker see fewer tasks, and
 * the CAS on top decides every race, so no fence is needed (tokio's local
 * queue pops the same way: one CAS, no fence). */
static inline void top_before_bottom(const weft__deque *d, bool serial)
{
    if (!serial && d->lifo)
        weft__fence(WEFT__SEQ_CST);
}

/* Take the oldest task: a thief, or the owner of a FIFO deque. */
static weft__task *deque_take_top(weft__deque *d, bool serial)
{
    for (;;) {
        uint64_t t = weft__ld_s(serial, &d->top, WEFT__ACQUIRE);
        top_before_bottom(d, serial);
        uint64_t b = weft__ld_s(serial, &d->bottom, WEFT__ACQUIRE);
        if ((int64_t)span(b, t) <= 0)
            return NULL;
        weft__task *x = weft__ld_s(serial, SLOT(d, t), WEFT__RELAXED);
        if (serial) {
            d->top.v = t + 1;
            return x;
        }
        uint64_t t0 = t;
        if (weft__cas(&d->top, &t, idx(t + 1), WEFT__MUT_ORDER(WEFT__MUT_STEAL_CAS_RELAXED, WEFT__RELAXED, WEFT__SEQ_CST),
                      WEFT__RELAXED)) {
            weft__model_claimed(SLOT(d, t0));
            return x;
        }
    }
}

/* Take the newest task: the owner of a LIFO deque. */
static weft__task *deque_take_bottom(weft__deque *d, bool serial)
{
    uint64_t b = idx(weft__ld_s(serial, &d->bottom, WEFT__RELAXED) - 1);
    weft__st_s(serial, &d->bottom, b, WEFT__RELAXED);
    if (!serial && !WEFT__MUTANT(WEFT__MUT_POP_NO_FENCE))
        weft__fence(WEFT__SEQ_CST); /* publishes the claim on b before top is read */
    uint64_t t = weft__ld_s(serial, &d->top, WEFT__RELAXED);
    if ((int64_t)span(b, t) < 0) {
        weft__st_s(serial, &d->bottom, idx(b + 1), WEFT__RELAXED);
        return NULL;
    }
    weft__task *x = weft__ld_s(serial, SLOT(d, b), WEFT__RELAXED);
    if (b == t) {
        /* The last task: a thief may be taking it too; the CAS on top
         * decides. */
        if (serial)
            d->top.v = t + 1;
        else if (!weft__cas(&d->top, &t, idx(t + 1), WEFT__SEQ_CST, WEFT__RELAXED))
            x = NULL;
        weft__st_s(serial, &d->bottom, idx(b + 1), WEFT__RELAXED);
    }
    return x;
}

/* Move up to `max` of the oldest tasks of d (at most half, rounded up) into
 * out[]; returns how many. Every taker claims with one CAS on top, so this
 * is safe against the owner of a FIFO deque and other thieves; from a LIFO
 * deque, whose owner takes at bottom without a CAS until the last task,
 * only one task is taken at a time. */
static size_t deque_take_half(weft__deque *d, weft__task **out, size_t max, bool serial)
{
    for (;;) {
        uint64_t t = weft__ld_s(serial, &d->top, WEFT__ACQUIRE);
        top_before_bottom(d, serial);
        uint64_t b = weft__ld_s(serial, &d->bottom, WEFT__ACQUIRE);
        int64_t have = (int64_t)span(b, t);
        if (have <= 0)
            return 0;
        size_t n = d->lifo ? 1 : (size_t)(have - have / 2);
        if (n > max)
            n = max;
        for (size_t i = 0; i < n; i++)
            out[i] = weft__ld_s(serial, SLOT(d, t + i), WEFT__RELAXED);
        if (serial) {
            d->top.v = t + n;
            return n;
        }
        uint64_t t0 = t;
        if (weft__cas(&d->top, &t, idx(t + n), WEFT__MUT_ORDER(WEFT__MUT_STEAL_CAS_RELAXED, WEFT__RELAXED, WEFT__SEQ_CST),
                      WEFT__RELAXED)) {
            for (size_t i = 0; i < n; i++)
                weft__model_claimed(SLOT(d, t0 + i));
            return n;
        }
    }
}

/* The task a take at top would return, for ordering against the local list
 * (a hint: by the time it is taken, it may be gone). */
static weft__task *deque_peek(weft__deque *d, bool serial)
{
    uint64_t t = weft__ld_s(serial, &d->top, WEFT__ACQUIRE);
    uint64_t b = weft__ld_s(serial, &d->bottom, WEFT__ACQUIRE);
    if ((int64_t)span(b, t) <= 0)
        return NULL;
    return weft__ld_s(serial, SLOT(d, d->lifo ? b - 1 : t), WEFT__RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Sequence numbers: one order over a worker's deque and local list          */
/* ------------------------------------------------------------------------ */

static inline uintptr_t seq_of(weft__task *t, bool serial)
{
    return weft__ld_s(serial, (weft__aword *)&t->node.scratch, WEFT__RELAXED);
}

static inline void stamp(weft__worker *w, weft__task *t)
{
    weft__st_s(w->serial, (weft__aword *)&t->node.scratch, (uintptr_t)w->push_seq++, WEFT__RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Remote queue and injection queue (always atomic: foreign threads use them) */
/* ------------------------------------------------------------------------ */

static void remote_push(weft__worker *w, weft__task *t)
{
    void *head = weft__ld(&w->remote.head, WEFT__RELAXED);
    do {
        t->node.link.next = head;
    } while (!weft__cas(&w->remote.head, &head, (void *)t, WEFT__RELEASE, WEFT__RELAXED));
}

/* Everything pushed so far, oldest first, as a list. */
static void remote_drain(weft__worker *w, weft_list *out)
{
    out->head = out->tail = NULL;
    if (!weft__ld(&w->remote.head, WEFT__RELAXED))
        return;
    weft_link *n = weft__xchg(&w->remote.head, NULL, WEFT__ACQUIRE);
    while (n) {
        weft_link *next = n->next;
        weft__list_push_head(out, n);
        n = next;
    }
}

static void inject_push_list(weft__engine *e, weft_list *l, size_t n)
{
    weft__spin_lock(&e->inject.lock);
    weft__list_splice_tail(&e->inject.tasks, l);
    weft__fetch_add(&e->inject.len, (uint64_t)n, WEFT__RELAXED);
    weft__spin_unlock(&e->inject.lock);
}

static void inject_push(weft__engine *e, weft__task *t)
{
    weft_list l = {NULL, NULL};
    weft__list_push_tail(&l, &t->node.link);
    inject_push_list(e, &l, 1);
}

/* Up to max tasks from the front of e's injection queue. */
static size_t inject_take(weft__engine *e, weft__task **out, size_t max)
{
    if (!weft__ld(&e->inject.len, WEFT__RELAXED))
        return 0;
    size_t n = 0;
    weft__spin_lock(&e->inject.lock);
    weft_link *l;
    while (n < max && (l = weft__list_pop_head(&e->inject.tasks)) != NULL)
        out[n++] = (weft__task *)l;
    if (n)
        weft__fetch_sub(&e->inject.len, (uint64_t)n, WEFT__RELAXED);
    weft__spin_unlock(&e->inject.lock);
    return n;
}

/* ------------------------------------------------------------------------ */
/* Idle workers                                                              */
/* ------------------------------------------------------------------------ */

/* Fixed at set-up (weft__sched_init): read on every push and take. */
static inline bool shares_work(const weft__worker *w)
{
    return w->shares_work;
}

static inline bool lifo_slot_on(const weft__worker *w)
{
    return w->lifo_slot_on;
}

static inline uint64_t idle_bit(const weft__worker *w)
{
    return 1ull << w->index_in_engine;
}

/* New work is in e's shared queues or a deque: wake an idle worker unless
 * one is already searching (it will find the work before it sleeps: rule
 * 11). cur is the calling worker (NULL from outside). */
static void notify_idle(weft__engine *e, weft__worker *cur)
{
    weft_rt *rt = e->rt;
    /* The idle mask is atomic but in a simulation's own thread: a foreign
     * thread may push to a lone real worker, and several may hand work to a
     * simulation before it runs. Only a worker of a serial runtime, which
     * has no other thread to race with, skips the fence. */
    if (!rt->serial || !cur)
        weft__fence(WEFT__SEQ_CST); /* the push before, the idle mask after */
    for (;;) {
        uint64_t idle = weft__ld(&e->idle, WEFT__RELAXED);
        if (cur && cur->engine == e)
            idle &= ~idle_bit(cur);
        if (!idle)
            return;
        if (cur && weft__ld_s(rt->serial, &e->searching, WEFT__RELAXED) != 0)
            return;
        uint64_t from = idle;
        if ((idle & (idle - 1)) && rt->backend->idle_prefer)
            from = rt->backend->idle_prefer(e, idle);
        unsigned k = (unsigned)__builtin_ctzll(from);
        /* Counted only when there is a choice: without -mpopcnt the count is
         * a call into libgcc. */
        if (cur && (from & (from - 1))) {
            unsigned n = (unsigned)__builtin_popcountll(from);
            uint32_t pick = rt->backend->choose(cur, WEFT__CHOOSE_IDLE, n);
            for (uint64_t m = from; pick--;) {
                m &= m - 1;
                k = (unsigned)__builtin_ctzll(m);
            }
        }
        uint64_t bit = 1ull << k;
        if (weft__fetch_and_s(e->idle_plain && cur, &e->idle, ~bit, WEFT__ACQ_REL) & bit) {
            rt->backend->wake(&rt->workers[e->first + k]);
            return;
        }
    }
}

static bool has_local(weft__worker *w)
{
    bool serial = w->serial;
    if (w->run_next || weft__ld_s(serial, &w->lifo_slot, WEFT__RELAXED) || !weft__list_empty(&w->local))
        return true;
    if (w->rq_ops)
        return w->rq_ops->len(w->rq) != 0;
    return deque_len(&w->deque, serial) != 0;
}

bool weft__sched_has_incoming(weft__worker *w)
{
    if (has_local(w) || weft__ld(&w->remote.head, WEFT__RELAXED))
        return true;
    return shares_work(w) && weft__ld(&w->engine->inject.len, WEFT__RELAXED) != 0;
}

/* Could w find something to run (its own queues, the shared ones, or a
 * victim's deque)? Racy by nature; rule 11's fences make it enough. */
static bool has_work(weft__worker *w)
{
    if (weft__sched_has_incoming(w))
        return true;
    if (!shares_work(w))
        return false;
    weft__engine *e = w->engine;
    if (e->cfg.policy != WEFT_POLICY_STEAL)
        return false;
    /* Work in other deques counts only if w may go and steal it: with as
     * many searchers as the cap allows, one of them finds it (the last to
     * stop searching looks at every deque before it sleeps), and a worker
     * that kept looking here would only spin. */
    if (2 * weft__ld_s(w->serial, &e->searching, WEFT__RELAXED) >= e->nworkers)
        return false;
    weft_rt *rt = w->rt;
    for (unsigned i = 0; i < e->nworkers; i++) {
        weft__worker *v = &rt->workers[e->first + i];
        if (v != w && (deque_len(&v->deque, w->serial) || weft__ld_s(w->serial, &v->lifo_slot, WEFT__RELAXED)))
            return true;
    }
    return false;
}

bool weft__sched_prepare_park(weft__worker *w)
{
    weft__engine *e = w->engine;
    /* The idle bit before, the queues after. */
    if (shares_work(w)) {
        weft__fetch_or_s(e->idle_plain, &e->idle, idle_bit(w), WEFT__SEQ_CST);
        weft__fence_after_rmw();
    } else {
        weft__fence(WEFT__SEQ_CST);
    }
    if (has_work(w)) {
        weft__sched_unidle(w);
        return false;
    }
    return true;
}

void weft__sched_unidle(weft__worker *w)
{
    if (!shares_work(w))
        return;
    weft__engine *e = w->engine;
    if (weft__ld(&e->idle, WEFT__RELAXED) & idle_bit(w))
        weft__fetch_and_s(e->idle_plain, &e->idle, ~idle_bit(w), WEFT__RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Pushing                                                                   */
/* ------------------------------------------------------------------------ */

/* A plug-in queue of a concurrent runtime is locked when others may steal. */
static inline bool rq_locked(const weft__worker *w)
{
    return !w->serial && w->rq_ops->steal;
}

static void rq_push(weft__worker *w, weft__task *t)
{
    bool lock = rq_locked(w);
    if (lock)
        weft__spin_lock(&w->rq_lock);
    w->rq_ops->push(w->rq, &t->node);
    if (lock)
        weft__spin_unlock(&w->rq_lock);
}

static weft__task *rq_pop(weft__worker *w)
{
    bool lock = rq_locked(w);
    if (lock)
        weft__spin_lock(&w->rq_lock);
    weft__task *t = (weft__task *)w->rq_ops->pop(w->rq);
    if (lock)
        weft__spin_unlock(&w->rq_lock);
    return t;
}

/* The deque is full: half of it, oldest first, and t go to the injection
 * queue in one batch (tokio's and Go's overflow). */
static void deque_overflow(weft__worker *w, weft__task *t)
{
    weft__task *batch[WEFT__DEQUE_CAP / 2 + 1];
    size_t n = deque_take_half(&w->deque, batch, WEFT__DEQUE_CAP / 2, w->serial);
    weft_list l = {NULL, NULL};
    for (size_t i = 0; i < n; i++)
        weft__list_push_tail(&l, &batch[i]->node.link);
    weft__list_push_tail(&l, &t->node.link);
    inject_push_list(w->engine, &l, n + 1);
}

/* Onto w's own queues; the caller is w's owner. */
static void push_owned(weft__worker *w, weft__task *t)
{
    if (w->local_only) {
        if (w->deque.lifo)
            weft__list_push_head(&w->local, &t->node.link);
        else
            weft__list_push_tail(&w->local, &t->node.link);
        return;
    }
    if (w->rq_ops) {
        rq_push(w, t);
        return;
    }
    stamp(w, t);
    if ((t->flags & WEFT__F_PINNED) || !shares_work(w)) {
        weft__list_push_tail(&w->local, &t->node.link);
        return;
    }
    if (w->engine->cfg.policy == WEFT_POLICY_GLOBAL) {
        inject_push(w->engine, t);
        return;
    }
    if (!deque_push(&w->deque, t, w->serial))
        deque_overflow(w, t);
}

/* A yielded task is no new work: it was running here a moment ago, and every
 * task queued behind it was offered to the idle workers when it was queued
 * (notify_idle's fence against the idle worker's: it saw that task or was
 * woken for it). So on real threads a yield offers nothing, and pays no fence
 * (a seventh of a yield at 2 workers); the simulator still offers it, which
 * only adds schedules, as with the LIFO slot below. */
void weft__sched_push_yielded(weft__worker *w, weft__task *t)
{
    if (w->serial)
        weft__sched_push_shared(w, t);
    else
        push_owned(w, t);
}

void weft__sched_remote(weft__worker *w, weft__task *t)
{
    remote_push(w, t);
    w->rt->backend->wake(w);
}

void weft__sched_push_shared(weft__worker *w, weft__task *t)
{
    /* A pinned task is no work for anyone else. Read before the push: once
     * pushed, t is another worker's to take and run. */
    bool for_anyone = !(t->flags & WEFT__F_PINNED);
    push_owned(w, t);
    if (w->has_peers && for_anyone)
        notify_idle(w->engine, w);
}

/* The worker a pinned (or per-core) task must run on. */
static weft__worker *home_of(weft_rt *rt, weft__task *t)
{
    return &rt->workers[t->pin];
}

void weft__schedule(weft_rt *rt, weft__task *t, bool woken)
{
    weft__worker *cur = weft__tls_worker;
    if (cur && cur->rt != rt)
        cur = NULL;
    if (t->flags & WEFT__F_PINNED) {
        weft__worker *home = home_of(rt, t);
        if (home == cur) {
            push_owned(cur, t);
            return;
        }
        weft__sched_remote(home, t);
        return;
    }
    weft__engine *e = &rt->engines[t->engine];
    if (!cur || cur->engine != e || cur->dedicated) {
        inject_push(e, t);
        notify_idle(e, cur);
        return;
    }
    /* A woken task, and on real threads a spawned one too (as tokio's), goes
     * to the LIFO slot: it runs next, here, while its data is in this cache.
     * The simulator keeps spawns in the queue: its schedules stay those its
     * seeds have always meant. */
    if ((woken || !cur->serial) && lifo_slot_on(cur)) {
        void *old = cur->serial ? cur->lifo_slot.v : weft__xchg(&cur->lifo_slot, (void *)t, WEFT__ACQ_REL);
        if (cur->serial)
            cur->lifo_slot.v = t;
        if (old)
            push_owned(cur, old);
        /* The slot's task runs here next: only a task it pushed out is work
         * for another worker (tokio's rule; a chain of wakes stays on one
         * worker instead of bouncing between two). The simulator wakes one
         * anyway, and so also explores the steals a real idle worker that
         * happens to look may make. */
        if (old || cur->serial)
            notify_idle(e, cur);
        return;
    }
    weft__sched_push_local(cur, t);
}

/* ------------------------------------------------------------------------ */
/* Taking                                                                    */
/* ------------------------------------------------------------------------ */

/* A task that arrived from another thread becomes this worker's: a spawn
 * from outside gets its id and its spawn event here, a wake its wake event
 * (events are raised on the runtime's own threads, in order). */
static bool adopt(weft__worker *w, weft__task *t);

/* From w's local list, deque or plug-in queue, in push order (newest first
 * for a LIFO deque). */
static weft__task *take_ordered(weft__worker *w)
{
    if (w->local_only)
        return (weft__task *)weft__list_pop_head(&w->local);
    if (w->rq_ops)
        return rq_pop(w);
    bool serial = w->serial;
    weft_link *l = w->local.head;
    if (l) {
        weft__task *d = deque_peek(&w->deque, serial);
        weft__task *lt = (weft__task *)l;
        bool local_first = !d || (w->deque.lifo ? seq_of(lt, serial) > seq_of(d, serial)
                                                : seq_of(lt, serial) < seq_of(d, serial));
        if (local_first) {
            weft__list_pop_head(&w->local);
            return lt;
        }
    }
    weft__task *t = w->deque.lifo ? deque_take_bottom(&w->deque, serial) : deque_take_top(&w->deque, serial);
    if (!t && l) {
        weft__list_pop_head(&w->local);
        t = (weft__task *)l;
    }
    return t;
}

weft__task *weft__sched_next_shared(weft__worker *w)
{
    if (w->run_next) {
        weft__task *t = w->run_next;
        w->run_next = NULL;
        return t;
    }
    if (lifo_slot_on(w) && w->lifo_streak < WEFT__LIFO_STREAK_MAX) {
        void *t = w->serial ? w->lifo_slot.v : NULL;
        if (w->serial)
            w->lifo_slot.v = NULL;
        else if (weft__ld(&w->lifo_slot, WEFT__RELAXED))
            t = weft__xchg(&w->lifo_slot, NULL, WEFT__ACQ_REL);
        if (t) {
            w->lifo_streak++;
            return t;
        }
    }
    w->lifo_streak = 0;
    weft__task *t = take_ordered(w);
    if (!t && lifo_slot_on(w)) {
        /* Over the streak limit with nothing else queued: the slot again. */
        t = w->serial ? w->lifo_slot.v : weft__xchg(&w->lifo_slot, NULL, WEFT__ACQ_REL);
        if (w->serial)
            w->lifo_slot.v = NULL;
    }
    return t;
}

/* Move what other threads pushed to w into its own queues. */
static bool drain_remote(weft__worker *w)
{
    weft_list l;
    remote_drain(w, &l);
    bool any = false;
    weft_link *n;
    while ((n = weft__list_pop_head(&l)) != NULL) {
        weft__task *t = (weft__task *)n;
        if (adopt(w, t)) {
            push_owned(w, t);
            any = true;
        }
    }
    return any;
}

/* A batch of the len (non-zero when read) tasks in the injection queue: the
 * first to run now, the rest queued. */
static WEFT_NOINLINE weft__task *take_injected_batch(weft__worker *w, uint64_t len)
{
    weft__engine *e = w->engine;
    /* A fair share, so one worker does not take what others could run. */
    size_t want = (size_t)(len / e->nworkers) + 1;
    size_t room = WEFT__DEQUE_CAP - (size_t)deque_len(&w->deque, w->serial);
    if (e->cfg.policy == WEFT_POLICY_GLOBAL)
        want = 1;
    if (want > WEFT__INJECT_BATCH)
        want = WEFT__INJECT_BATCH;
    if (want > room + 1)
        want = room + 1;
    weft__task *batch[WEFT__INJECT_BATCH];
    size_t n = inject_take(e, batch, want), kept = 0;
    for (size_t i = 0; i < n; i++)
        if (adopt(w, batch[i]))
            batch[kept++] = batch[i];
    for (size_t i = 1; i < kept; i++)
        push_owned(w, batch[i]);
    return kept ? batch[0] : NULL;
}

/* Inline up to the queue's length: an empty injection queue (the common
 * case) costs the caller two loads, not the batch's stack frame. */
static inline weft__task *take_injected(weft__worker *w)
{
    if (!shares_work(w))
        return NULL;
    uint64_t len = weft__ld(&w->engine->inject.len, WEFT__RELAXED);
    return len ? take_injected_batch(w, len) : NULL;
}

/* Pinned tasks that came with a steal go home. */
static void send_home(weft__worker *w, weft__task *t)
{
    weft__sched_remote(home_of(w->rt, t), t);
}

/* Take half of victim v's queue (its plug-in queue, else its deque, else its
 * LIFO slot) for w: one task to run now, the rest onto w's deque. */
static weft__task *steal_from(weft__worker *w, weft__worker *v)
{
    bool serial = w->serial;
    weft__task *got[WEFT__DEQUE_CAP / 2 + 1];
    size_t n = 0;
    if (v->rq_ops) {
        if (!v->rq_ops->steal)
            return NULL;
        bool lock = rq_locked(v);
        if (lock)
            weft__spin_lock(&v->rq_lock);
        n = v->rq_ops->steal(v->rq, (weft_runq_node **)got, WEFT__DEQUE_CAP / 2);
        if (lock)
            weft__spin_unlock(&v->rq_lock);
    } else {
        n = deque_take_half(&v->deque, got, WEFT__DEQUE_CAP / 2, serial);
        if (!n && weft__ld_s(serial, &v->lifo_slot, WEFT__RELAXED)) {
            void *t = serial ? v->lifo_slot.v : weft__xchg(&v->lifo_slot, NULL, WEFT__ACQ_REL);
            if (serial)
                v->lifo_slot.v = NULL;
            if (t)
                got[n++] = t;
        }
    }
    weft__task *first = NULL;
    for (size_t i = 0; i < n; i++) {
        weft__task *t = got[i];
        if (t->flags & WEFT__F_PINNED) {
            send_home(w, t);
            continue;
        }
        if (!first)
            first = t;
        else
            push_owned(w, t);
    }
    if (first) {
        weft__count(&w->stats.steals, 1);
        weft__hook(w->rt, WEFT_HOOK_STEAL, w, first, (int)v->index, NULL);
    }
    return first;
}

/* Would steal_from find nothing at victim v of a serial runtime (no plug-in
 * queue, an empty deque and LIFO slot)? Its same reads, with no side effect:
 * most looks find nothing, and steal_from's frame (room for half a deque)
 * cost more than the look. */
static inline bool serial_nothing_to_steal(weft__worker *v)
{
    if (v->rq_ops)
        return false;
    weft__deque *d = &v->deque;
    uint64_t t = weft__ld_s(true, &d->top, WEFT__ACQUIRE);
    uint64_t b = weft__ld_s(true, &d->bottom, WEFT__ACQUIRE);
    return (int64_t)span(b, t) <= 0 && !weft__ld_s(true, &v->lifo_slot, WEFT__RELAXED);
}

/* Look through the other workers of w's engine, starting at one the backend
 * chooses, while fewer than half of them are searching. */
static weft__task *steal(weft__worker *w)
{
    weft__engine *e = w->engine;
    if (e->cfg.policy != WEFT_POLICY_STEAL || e->nworkers < 2 || w->dedicated)
        return NULL;
    bool serial = w->serial;
    uint32_t searching = weft__ld_s(serial, &e->searching, WEFT__RELAXED);
    if (2 * searching >= e->nworkers)
        return NULL;
    if (serial)
        e->searching.v++;
    else
        weft__fetch_add(&e->searching, 1u, WEFT__ACQ_REL);
    weft_rt *rt = w->rt;
    unsigned n = e->nworkers;
    unsigned start = n > 2 ? rt->backend->choose(w, WEFT__CHOOSE_VICTIM, n - 1) : 0;
    weft__task *t = NULL;
    /* Victims in the order index+1+start, index+2+start, ... (mod n), skipping
     * w: kept in range by a subtraction, not a division per victim (two
     * divisions cost more than the rest of a look at an empty victim). */
    unsigned off = start; /* < n - 1 */
    for (unsigned k = 0; k < n - 1 && !t; k++) {
        unsigned i = w->index_in_engine + 1 + off;
        if (i >= n)
            i -= n;
        if (++off == n - 1)
            off = 0;
        weft__worker *v = &rt->workers[e->first + i];
        t = serial && serial_nothing_to_steal(v) ? NULL : steal_from(w, v);
    }
    if (serial)
        e->searching.v--;
    else
        weft__fetch_sub(&e->searching, 1u, WEFT__ACQ_REL);
    /* The searcher found work: there may be more, and it stops searching, so
     * another idle worker should look (tokio's transition from searching). */
    if (t)
        notify_idle(e, w);
    return t;
}

/* ---- The LIFO-slot watch (rule 11) ----------------------------------------
 * A task put into its own worker's empty LIFO slot wakes nobody; if that
 * worker's current task then runs on without returning to the loop (a long
 * computation, a blocking call), only an awake worker would steal it. A
 * real backend's idle worker therefore sleeps in short intervals while a
 * peer is busy and looks at the busy peers' slots after each
 * (backends/threads/backend.c): the same occupancy at two looks in a row has
 * waited a whole interval, and is stolen with the exchange the owner takes
 * its slot with. A slot whose content changes (a chain of wakes) never is. */

bool weft__sched_watches(const weft__worker *w)
{
    return (w->engine->cfg.flags & WEFT_ENGINE_WATCH_LIFO) && lifo_slot_on(w) && !w->serial && !w->dedicated &&
           w->engine->nworkers > 1;
}

bool weft__sched_is_idle(const weft__worker *w)
{
    return (weft__ld(&w->engine->idle, WEFT__RELAXED) & idle_bit(w)) != 0;
}

static inline uint64_t engine_mask(const weft__engine *e)
{
    return e->nworkers >= 64 ? ~0ull : (1ull << e->nworkers) - 1;
}

bool weft__sched_peer_busy(const weft__worker *w)
{
    const weft__engine *e = w->engine;
    return (engine_mask(e) & ~weft__ld(&e->idle, WEFT__RELAXED) & ~idle_bit(w)) != 0;
}

bool weft__sched_watch_slots(weft__worker *w, weft__slot_look *looks)
{
    weft__engine *e = w->engine;
    weft_rt *rt = w->rt;
    uint64_t idle = weft__ld(&e->idle, WEFT__RELAXED);
    for (unsigned i = 0; i < e->nworkers; i++) {
        weft__worker *v = &rt->workers[e->first + i];
        if (v == w || (idle & idle_bit(v)))
            continue;
        void *p = weft__ld(&v->lifo_slot, WEFT__RELAXED);
        uint64_t steps = weft__count_read(&v->stats.steps);
        weft__slot_look *l = &looks[i];
        if (!p || p != l->task || steps != l->steps) {
            l->task = p;
            l->steps = steps;
            continue;
        }
        l->task = NULL;
        weft__task *t = weft__xchg(&v->lifo_slot, NULL, WEFT__ACQ_REL);
        if (!t)
            continue; /* its owner took it meanwhile */
        if (t->flags & WEFT__F_PINNED) {
            send_home(w, t);
            continue;
        }
        push_owned(w, t);
        weft__count(&w->stats.steals, 1);
        weft__hook(rt, WEFT_HOOK_STEAL, w, t, (int)v->index, NULL);
        return true;
    }
    return false;
}

weft__task *weft__sched_next(weft__worker *w)
{
    weft__task *t;
    if (WEFT_UNLIKELY(--w->until_fairness == 0)) {
        w->until_fairness = WEFT__FAIRNESS_TICK;
        drain_remote(w);
        if ((t = take_injected(w)) != NULL)
            return t;
    }
    if ((t = weft__sched_next_local(w)) != NULL)
        return t;
    if (drain_remote(w) && (t = weft__sched_next_local(w)) != NULL)
        return t;
    if ((t = take_injected(w)) != NULL)
        return t;
    return steal(w);
}

size_t weft__sched_queued(weft__worker *w)
{
    size_t n = w->run_next ? 1 : 0;
    n += weft__ld_s(w->serial, &w->lifo_slot, WEFT__RELAXED) ? 1 : 0;
    for (weft_link *l = w->local.head; l; l = l->next)
        n++;
    if (w->rq_ops)
        return n + w->rq_ops->len(w->rq);
    return n + (size_t)deque_len(&w->deque, w->serial);
}

/* ------------------------------------------------------------------------ */
/* Adoption of tasks from other threads                                      */
/* ------------------------------------------------------------------------ */

static bool adopt(weft__worker *w, weft__task *t)
{
    unsigned s = weft__task_get_state(t);
    weft_rt *rt = w->rt;
    if (WEFT_UNLIKELY(t->flags & WEFT__F_BLOCKING_DONE)) {
        /* A blocking call's record, back from the pool: finished here. */
        t->flags &= (uint16_t)~WEFT__F_BLOCKING_DONE;
        weft__fetch_sub(&rt->external_waits, 1u, WEFT__RELAXED);
        weft__task_finish(w, t);
        return false;
    }
    if (s == WEFT__T_NEW && !t->node.task_id) {
        /* Spawned from outside the runtime's threads: counted here, by the
         * runtime, in the order it takes tasks in. */
        weft__spawn_adopted(rt, w, t);
    } else if (s == WEFT__T_PARKED && rt->serial) {
        /* Woken from another thread in a serial runtime: that thread only
         * claimed the wait and handed the task over; its owner finishes
         * the wake here (THREADING.md rules 1 and 4). */
        weft__task_set_state(t, WEFT__T_PARKED, WEFT__T_QUEUED);
        weft__hook(rt, WEFT_HOOK_WAKE, w, t, t->wait_result, NULL);
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */
/* ------------------------------------------------------------------------ */

int weft__sched_init(weft__worker *w, const weft_runq_ops *ops, void *arg)
{
    weft__engine *e = w->engine;
    w->until_fairness = WEFT__FAIRNESS_TICK;
    w->coop_budget = WEFT__COOP_BUDGET;
    w->deque.lifo = ops == weft_runq_lifo();
    bool builtin = ops == weft_runq_fifo() || ops == weft_runq_lifo();
    w->fifo = ops == weft_runq_fifo();
    w->shares_work = !w->dedicated && e->cfg.policy != WEFT_POLICY_PER_CORE && builtin;
    w->has_peers = w->shares_work && e->nworkers > 1;
    w->lifo_slot_on = w->has_peers && e->cfg.policy == WEFT_POLICY_STEAL;
    /* A lone worker of a stealing engine has no thief for its deque to
     * serve, and its bound would only send work round the injection queue.
     * A global engine's queue is the injection queue itself. */
    w->local_only = builtin && (!w->shares_work || (e->cfg.policy == WEFT_POLICY_STEAL && e->nworkers == 1));
    if (builtin)
        return 0;
    w->rq_ops = ops;
    w->rq = weft__calloc(w->rt, ops->state_size);
    if (!w->rq)
        return WEFT_ENOMEM;
    int r = ops->init(w->rq, arg);
    if (r < 0) {
        weft__free(w->rt, w->rq, ops->state_size);
        w->rq = NULL;
        w->rq_ops = NULL;
    }
    return r;
}

void weft__sched_destroy(weft__worker *w)
{
    if (!w->rq_ops)
        return;
    if (w->rq_ops->destroy)
        w->rq_ops->destroy(w->rq);
    weft__free(w->rt, w->rq, w->rq_ops->state_size);
    w->rq = NULL;
}

#ifdef WEFT_MODEL
/* The deque and the injection queue on their own, in their concurrent form,
 * for the model's tests (tests/model): the very functions the scheduler
 * calls, without a runtime around them. */
WEFT_HIDDEN bool weft__model_deque_push(weft__deque *d, weft__task *t);
WEFT_HIDDEN weft__task *weft__model_deque_take_top(weft__deque *d);
WEFT_HIDDEN weft__task *weft__model_deque_take_bottom(weft__deque *d);
WEFT_HIDDEN size_t weft__model_deque_take_half(weft__deque *d, weft__task **out, size_t max);
WEFT_HIDDEN void weft__model_inject_push(weft__engine *e, weft__task *t);
WEFT_HIDDEN size_t weft__model_inject_take(weft__engine *e, weft__task **out, size_t max);

bool weft__model_deque_push(weft__deque *d, weft__task *t)
{
    return deque_push(d, t, false);
}

weft__task *weft__model_deque_take_top(weft__deque *d)
{
    return deque_take_top(d, false);
}

weft__task *weft__model_deque_take_bottom(weft__deque *d)
{
    return deque_take_bottom(d, false);
}

size_t weft__model_deque_take_half(weft__deque *d, weft__task **out, size_t max)
{
    return deque_take_half(d, out, max, false);
}

void weft__model_inject_push(weft__engine *e, weft__task *t)
{
    inject_push(e, t);
}

size_t weft__model_inject_take(weft__engine *e, weft__task **out, size_t max)
{
    return inject_take(e, out, max);
}
#endif
