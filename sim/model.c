/* model.c — the atomics model checker: the threads layer (src/atomic.h)
 * mapped onto the simulator, so the runtime's own lock-free code runs on
 * simulated OS threads under a weak memory model, driven by the decision
 * source (VARIANT=model only; sim/model.h is the interface).
 *
 * Threads. A simulated OS thread is a task of the simulated runtime pinned
 * to a virtual worker of its own. Every operation of the layer starts with
 * the simulator's scheduling point, so the decision source picks which
 * thread runs each operation; a futex wait blocks the task on a semaphore
 * until a futex wake; a spin hint yields until another thread writes
 * something (or nothing else can run); thread start and join are the task's
 * spawn and join.
 *
 * Memory (what the model covers). Each location touched through the layer
 * keeps its last WEFT__MODEL_HISTORY stores in modification order, each
 * with the writer's vector-clock epoch and the clock an acquire reading it
 * synchronizes with. A load may return any kept store that is not hidden:
 * hidden are the stores older than one that happens-before the load, older
 * than one the thread already read or wrote there (coherence), and older
 * than the newest at the thread's last spin (stores become visible in
 * finite time). Which one it reads is a decision of the memory stream, 0
 * being the newest, and a non-newest read counts as a preemption for the
 * exhaustive search's bound. Release/acquire: a release store (or a relaxed
 * one after a release fence) carries the writer's clock; an acquire load (or
 * a relaxed load followed by an acquire fence) joins it; read-modify-writes
 * always read the newest store and continue release sequences. seq_cst:
 * every seq_cst operation and fence joins one global clock and publishes to
 * it (as loom does), which orders them totally and is stronger than C11 —
 * it can hide a bug that needs two seq_cst operations to disagree, never
 * report one that C11 forbids; seq_cst loads read the newest store.
 *
 * What it does not cover: out-of-thin-air and load buffering (a load never
 * returns a store that has not executed yet: the model is operational);
 * mixed-size or overlapping accesses (a location is an address, accessed at
 * one size); plain (non-atomic) accesses, except as follows. A plain write
 * to a location is noticed at its next atomic access (memory no longer
 * holds the newest store) and starts a fresh history, visible to all: object
 * reuse and initialization. And one load-buffering case is caught as a data
 * race instead: a thread that claims what its load of a deque slot returned
 * (weft__model_claimed, after the CAS on top) must have that load happen
 * before any other thread's next store to the slot.
 *
 * The model's own machinery uses the runtime (semaphores, spawn, the
 * scheduling point), and the runtime uses the layer: while inside an
 * operation the model is switched off on this OS thread (weft__model_active
 * is NULL), and weft__tls_worker is the simulator's worker there and the
 * simulated thread's own (a worker of the runtime under test, or NULL) in
 * its code.
 */
#include "model.h"

#ifdef WEFT_MODEL

#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The writer of a location's first-seen contents: visible to everyone. */
#define NO_THREAD WEFT__MODEL_MAX_THREADS
/* Virtual time a spinning thread or a futex wait with a deadline gives the
 * others before it runs again on its own: the clock only moves when no
 * worker can run, so this is "when nothing else can". */
#define YIELD_NS 1000u
/* Operations one thread may run in a row before it yields as a spin hint
 * would: the model's schedulers may keep picking the running thread (the
 * fuzzer's default choice does), and a real scheduler is fair, so a loop
 * that waits for another thread without a spin hint (a worker between its
 * park and its look at the queues while another holds the searching slot)
 * must not count as a livelock. A real one still fails the step budget. */
#define FAIRNESS_OPS 2000u
/* The stack of a simulated thread: it runs a worker loop of the runtime
 * under test, whose tasks have stacks of their own. */
#define THREAD_STACK (256u * 1024u)

typedef struct vclock {
    uint32_t c[WEFT__MODEL_MAX_THREADS];
} vclock;

typedef struct mstore {
    uint64_t value;
    uint64_t seq;   /* global store counter: orders stores of all locations */
    uint32_t epoch; /* the writer's own clock entry at the store */
    uint8_t tid;    /* the writer, or NO_THREAD */
    vclock sync;    /* what an acquire reading this store joins */
} mstore;

typedef struct mloc {
    uintptr_t addr; /* 0: empty slot of the table */
    unsigned size;
    unsigned first, n;                /* ring of kept stores, oldest first */
    mstore h[WEFT__MODEL_HISTORY];
    uint64_t seen[WEFT__MODEL_MAX_THREADS];      /* newest store seq each thread read or wrote */
    uint32_t last_read[WEFT__MODEL_MAX_THREADS]; /* epoch of each thread's last load */
    uint32_t claim[WEFT__MODEL_MAX_THREADS];     /* epoch of a claimed load, 0: none */
    /* Each thread's release sequence here (C11 5.1.2.4: a release store,
     * then that thread's later stores and anyone's read-modify-writes, until
     * another thread's plain store): what its next store carries. */
    vclock rseq[WEFT__MODEL_MAX_THREADS];
} mloc;

struct weft__mthread {
    weft__model *m;
    unsigned id;
    weft_task *task;
    weft__worker *outer;  /* the simulator's worker it is pinned to */
    weft__worker *inner;  /* its own weft__tls_worker while inside an operation */
    void *(*fn)(void *);
    void *arg;
    void *result;
    bool done, joined;
    weft_sem sem;         /* it blocks here (futex waits, spins) */
    /* memory */
    vclock clock, rel_fence, pending_acq;
    uint64_t catchup;     /* stores up to this seq are visible to it */
    uint64_t spin_writes; /* m->writes at its last spin */
    /* futex */
    void *futex_word;
    uint64_t futex_order; /* arrival, for FIFO wakes */
    bool futex_woken, spinning;
};

struct weft__model {
    weft_rt *rt; /* the simulated runtime */
    weft__sim *sim;
    weft__atomic_model table;
    weft__mthread *threads[WEFT__MODEL_MAX_THREADS];
    unsigned nthreads;
    weft__mthread *cur; /* the simulated thread running now */
    mloc *locs;
    size_t locs_cap, nlocs;
    vclock sc;             /* the seq_cst clock */
    uint64_t seq, writes;  /* stores ever; stores by threads (wakes spinners) */
    uint64_t futex_arrivals;
    uint64_t ops, stale;
    weft__mthread *last; /* ran the previous operation … */
    unsigned streak;     /* … and this many in a row */
};

/* A session whose run failed is never closed by its root (the simulator
 * abandons the run): the next open on this OS thread frees it. */
static WEFT_TLS weft__model *orphan;

/* ------------------------------------------------------------------------ */
/* Vector clocks                                                             */
/* ------------------------------------------------------------------------ */

static void vc_join(vclock *a, const vclock *b)
{
    for (unsigned i = 0; i < WEFT__MODEL_MAX_THREADS; i++)
        if (b->c[i] > a->c[i])
            a->c[i] = b->c[i];
}

static bool is_acquire(int mo)
{
    return mo == __ATOMIC_CONSUME || mo == WEFT__ACQUIRE || mo == WEFT__ACQ_REL || mo == WEFT__SEQ_CST;
}

static bool is_release(int mo)
{
    return mo == WEFT__RELEASE || mo == WEFT__ACQ_REL || mo == WEFT__SEQ_CST;
}

/* ------------------------------------------------------------------------ */
/* Entering and leaving an operation                                         */
/* ------------------------------------------------------------------------ */

/* From the simulated thread's code into the model's machinery: the model
 * off, the simulator's worker current, then the scheduling point (other
 * threads may run here). */
static void yield(weft__model *m, weft__mthread *t);

static weft__mthread *enter_quiet(weft__model *m)
{
    weft__mthread *t = m->cur;
    t->inner = weft__tls_worker;
    weft__model_active = NULL;
    weft__tls_worker = t->outer;
    return t;
}

static weft__mthread *enter(weft__model *m)
{
    weft__mthread *t = enter_quiet(m);
    weft__backend_sim.sched_point(t->outer);
    m->cur = t;
    m->ops++;
    t->clock.c[t->id]++;
    m->streak = m->last == t ? m->streak + 1 : 0;
    m->last = t;
    if (m->streak >= FAIRNESS_OPS) {
        m->streak = 0;
        yield(m, t);
    }
    return t;
}

static void leave(weft__model *m, weft__mthread *t)
{
    m->cur = t;
    weft__tls_worker = t->inner;
    weft__model_active = &m->table;
}

static WEFT_NORETURN void fail(weft__model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(weft__model *m, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weft__sim_failf(m->rt, WEFT_EFAILED, "atomics model: %s", msg);
    weft__die("a failed model run was resumed");
}

/* Block the running thread on its semaphore; with until_idle, only until
 * nothing else can run. true: released by another thread. */
static bool block(weft__mthread *t, bool until_idle)
{
    int r = until_idle ? weft_sem_acquire_until(&t->sem, weft_now() + YIELD_NS) : weft_sem_acquire(&t->sem);
    while (weft_sem_try_acquire(&t->sem) == 0) {
        /* a release that raced a time-out: nothing owed */
    }
    return r == 0;
}

/* ------------------------------------------------------------------------ */
/* Locations                                                                 */
/* ------------------------------------------------------------------------ */

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static uint64_t mem_read(const void *addr, unsigned size)
{
    switch (size) {
    case 1: return *(const uint8_t *)addr;
    case 2: return *(const uint16_t *)addr;
    case 4: return *(const uint32_t *)addr;
    default: return *(const uint64_t *)addr;
    }
}

static void mem_write(void *addr, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: *(uint8_t *)addr = (uint8_t)v; break;
    case 2: *(uint16_t *)addr = (uint16_t)v; break;
    case 4: *(uint32_t *)addr = (uint32_t)v; break;
    default: *(uint64_t *)addr = v; break;
    }
}

static size_t hash_addr(uintptr_t a, size_t cap)
{
    return (size_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static mstore *newest(mloc *l)
{
    return &l->h[(l->first + l->n - 1) % WEFT__MODEL_HISTORY];
}

static mstore *nth_newest(mloc *l, unsigned k)
{
    return &l->h[(l->first + l->n - 1 - k) % WEFT__MODEL_HISTORY];
}

/* Start l's history over with what memory holds: a first access, or a
 * plain write since the last atomic one (a new object at a reused address,
 * or an owner's initialization), which everyone may see. */
static void reset(weft__model *m, mloc *l)
{
    l->first = 0;
    l->n = 1;
    mstore *s = &l->h[0];
    memset(s, 0, sizeof *s);
    s->value = mem_read((void *)l->addr, l->size);
    s->seq = ++m->seq;
    s->tid = NO_THREAD;
    memset(l->seen, 0, sizeof l->seen);
    memset(l->claim, 0, sizeof l->claim);
    memset(l->rseq, 0, sizeof l->rseq);
}

static int grow(weft__model *m)
{
    size_t cap = m->locs_cap ? m->locs_cap * 2 : 1024;
    mloc *v = calloc(cap, sizeof *v);
    if (!v)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < m->locs_cap; i++) {
        mloc *o = &m->locs[i];
        if (!o->addr)
            continue;
        size_t j = hash_addr(o->addr, cap);
        while (v[j].addr)
            j = (j + 1) & (cap - 1);
        v[j] = *o;
    }
    free(m->locs);
    m->locs = v;
    m->locs_cap = cap;
    return 0;
}

static mloc *loc(weft__model *m, void *addr, unsigned size)
{
    uintptr_t a = (uintptr_t)addr;
    if ((m->nlocs + 1) * 2 > m->locs_cap && grow(m) < 0)
        fail(m, "out of memory for the locations' histories");
    size_t j = hash_addr(a, m->locs_cap);
    while (m->locs[j].addr && m->locs[j].addr != a)
        j = (j + 1) & (m->locs_cap - 1);
    mloc *l = &m->locs[j];
    if (!l->addr) {
        l->addr = a;
        l->size = size;
        m->nlocs++;
        reset(m, l);
    } else if (mem_read(addr, size) != newest(l)->value || l->size != size) {
        l->size = size;
        reset(m, l);
    }
    return l;
}

/* ------------------------------------------------------------------------ */
/* Loads and stores                                                          */
/* ------------------------------------------------------------------------ */

/* t has read or written s at l: coherence from here on. */
static void saw(mloc *l, const weft__mthread *t, const mstore *s)
{
    if (s->seq > l->seen[t->id])
        l->seen[t->id] = s->seq;
}

static void acquire_from(weft__mthread *t, const mstore *s, int mo)
{
    vc_join(is_acquire(mo) ? &t->clock : &t->pending_acq, &s->sync);
}

/* Which kept store t's load reads: the newest, or (a decision) an older
 * one that nothing hides. */
static mstore *pick_store(weft__model *m, weft__mthread *t, mloc *l, int mo)
{
    unsigned count = 0;
    for (unsigned k = 0; k < l->n; k++) {
        const mstore *s = nth_newest(l, k);
        count++;
        if (s->tid == NO_THREAD || t->clock.c[s->tid] >= s->epoch || s->seq <= l->seen[t->id] ||
            s->seq <= t->catchup)
            break;
    }
    if (count < 2 || mo == WEFT__SEQ_CST)
        return newest(l);
    unsigned k = (unsigned)weft__decide(m->sim, WEFT__S_MEMORY, count, true);
    if (k)
        m->stale++;
    return nth_newest(l, k);
}

static void seq_cst_in(weft__model *m, weft__mthread *t, int mo)
{
    if (mo == WEFT__SEQ_CST)
        vc_join(&t->clock, &m->sc);
}

static void seq_cst_out(weft__model *m, weft__mthread *t, int mo)
{
    if (mo == WEFT__SEQ_CST)
        vc_join(&m->sc, &t->clock);
}

/* A store by t to l must come after every load another thread claimed. */
static void check_claims(weft__model *m, weft__mthread *t, mloc *l)
{
    for (unsigned u = 0; u < WEFT__MODEL_MAX_THREADS; u++) {
        if (u == t->id || !l->claim[u])
            continue;
        if (t->clock.c[u] < l->claim[u])
            fail(m,
                 "data race: thread %u stores to %p while thread %u's claimed load of it does not happen before "
                 "(a missing release/acquire pair lets the load see this later store)",
                 t->id, (void *)l->addr, u);
        l->claim[u] = 0;
    }
}

static void wake_spinners(weft__model *m, const weft__mthread *t)
{
    m->writes++;
    for (unsigned i = 0; i < m->nthreads; i++) {
        weft__mthread *u = m->threads[i];
        if (u != t && u->spinning) {
            u->spinning = false;
            weft_sem_release(&u->sem, 1);
        }
    }
}

/* Append a store of v by t with release order mo; rmw: a read-modify-write
 * that read `prev` (it continues prev's release sequences). */
static void append(weft__model *m, weft__mthread *t, mloc *l, uint64_t v, int mo, const mstore *prev)
{
    check_claims(m, t, l);
    vclock sync = is_release(mo) ? t->clock : t->rel_fence;
    if (is_release(mo))
        l->rseq[t->id] = t->clock;
    if (prev) {
        vc_join(&sync, &prev->sync);
    } else {
        vc_join(&sync, &l->rseq[t->id]);
        for (unsigned u = 0; u < WEFT__MODEL_MAX_THREADS; u++)
            if (u != t->id)
                memset(&l->rseq[u], 0, sizeof l->rseq[u]);
    }
    if (l->n == WEFT__MODEL_HISTORY) {
        l->first = (l->first + 1) % WEFT__MODEL_HISTORY;
        l->n--;
    }
    l->n++;
    mstore *s = newest(l);
    s->value = v & mask_of(l->size);
    s->seq = ++m->seq;
    s->epoch = t->clock.c[t->id];
    s->tid = (uint8_t)t->id;
    s->sync = sync;
    saw(l, t, s);
    mem_write((void *)l->addr, l->size, s->value);
    wake_spinners(m, t);
}

static uint64_t m_load(void *ctx, void *addr, unsigned size, int mo)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    mloc *l = loc(m, addr, size);
    seq_cst_in(m, t, mo);
    mstore *s = pick_store(m, t, l, mo);
    saw(l, t, s);
    acquire_from(t, s, mo);
    l->last_read[t->id] = t->clock.c[t->id];
    seq_cst_out(m, t, mo);
    uint64_t v = s->value;
    leave(m, t);
    return v;
}

static void m_store(void *ctx, void *addr, unsigned size, uint64_t value, int mo)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    mloc *l = loc(m, addr, size);
    seq_cst_in(m, t, mo);
    append(m, t, l, value, mo, NULL);
    seq_cst_out(m, t, mo);
    leave(m, t);
}


static uint64_t apply(int op, uint64_t old, uint64_t x)
{
    switch (op) {
    case WEFT__RMW_XCHG: return x;
    case WEFT__RMW_ADD: return old + x;
    case WEFT__RMW_SUB: return old - x;
    case WEFT__RMW_OR: return old | x;
    default: return old & x;
    }
}

static uint64_t m_rmw(void *ctx, void *addr, unsigned size, int op, uint64_t value, int mo)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    mloc *l = loc(m, addr, size);
    seq_cst_in(m, t, mo);
    mstore copy = *newest(l); /* append may reuse its slot */
    uint64_t old = copy.value;
    acquire_from(t, &copy, mo);
    l->last_read[t->id] = t->clock.c[t->id];
    append(m, t, l, apply(op, old, value), mo, &copy);
    seq_cst_out(m, t, mo);
    leave(m, t);
    return old;
}

static bool m_cas(void *ctx, void *addr, unsigned size, uint64_t *expected, uint64_t desired, int success,
                  int failure)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    mloc *l = loc(m, addr, size);
    mstore copy = *newest(l);
    bool ok = copy.value == (*expected & mask_of(size));
    int mo = ok ? success : failure;
    seq_cst_in(m, t, mo);
    acquire_from(t, &copy, mo);
    l->last_read[t->id] = t->clock.c[t->id];
    if (ok)
        append(m, t, l, desired, mo, &copy);
    else
        saw(l, t, newest(l));
    seq_cst_out(m, t, mo);
    *expected = copy.value;
    leave(m, t);
    return ok;
}

static void m_fence(void *ctx, int mo)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    if (is_acquire(mo))
        vc_join(&t->clock, &t->pending_acq);
    seq_cst_in(m, t, mo);
    seq_cst_out(m, t, mo);
    if (is_release(mo))
        t->rel_fence = t->clock;
    leave(m, t);
}

static void m_claimed(void *ctx, void *addr)
{
    weft__model *m = ctx;
    weft__mthread *t = enter_quiet(m);
    size_t j = hash_addr((uintptr_t)addr, m->locs_cap);
    while (m->locs[j].addr && m->locs[j].addr != (uintptr_t)addr)
        j = (j + 1) & (m->locs_cap - 1);
    if (m->locs[j].addr)
        m->locs[j].claim[t->id] = m->locs[j].last_read[t->id];
    leave(m, t);
}

/* ------------------------------------------------------------------------ */
/* Spinning and futexes                                                      */
/* ------------------------------------------------------------------------ */

/* A busy-wait turn: let the others run until one of them writes (or none
 * can run), then see every store made so far. Without the wait a spinning
 * thread could be picked forever; without the catch-up it could read an old
 * value forever. */
static void yield(weft__model *m, weft__mthread *t)
{
    if (m->writes == t->spin_writes) {
        t->spinning = true;
        block(t, true);
        t->spinning = false;
        m->cur = t;
    }
    t->spin_writes = m->writes;
    t->catchup = m->seq;
}

static void m_spin(void *ctx)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    yield(m, t);
    leave(m, t);
}

static int m_futex_wait(void *ctx, uint32_t *word, uint32_t expected, uint64_t deadline)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    /* The kernel compares with memory itself: the newest store. */
    mloc *l = loc(m, word, sizeof *word);
    saw(l, t, newest(l));
    if ((uint32_t)newest(l)->value != expected) {
        leave(m, t);
        return -EAGAIN;
    }
    t->futex_word = word;
    t->futex_woken = false;
    t->futex_order = ++m->futex_arrivals;
    while (!t->futex_woken) {
        if (!block(t, deadline != UINT64_MAX) && deadline != UINT64_MAX && !t->futex_woken)
            break;
    }
    int r = t->futex_woken ? 0 : -ETIMEDOUT;
    t->futex_word = NULL;
    leave(m, t);
    return r;
}

static int m_futex_wake(void *ctx, uint32_t *word, int count)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    /* Choose first, release after: a release is a scheduling point of the
     * simulator, and a thread woken there may wait again at once; it must
     * not be woken twice by the same call. */
    weft__mthread *chosen[WEFT__MODEL_MAX_THREADS];
    int woken = 0;
    while (woken < count) {
        weft__mthread *first = NULL;
        for (unsigned i = 0; i < m->nthreads; i++) {
            weft__mthread *u = m->threads[i];
            if (u->futex_word == word && !u->futex_woken && (!first || u->futex_order < first->futex_order))
                first = u;
        }
        if (!first)
            break;
        first->futex_woken = true;
        chosen[woken++] = first;
    }
    for (int i = 0; i < woken; i++)
        weft_sem_release(&chosen[i]->sem, 1);
    leave(m, t);
    return woken;
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

static void *thread_main(void *arg)
{
    weft__mthread *t = arg;
    weft__model *m = t->m;
    t->outer = weft__tls_worker;
    m->cur = t;
    weft__tls_worker = NULL; /* a new OS thread runs no worker yet */
    weft__model_active = &m->table;
    t->result = t->fn(t->arg);
    enter_quiet(m);
    t->clock.c[t->id]++;
    t->done = true;
    return NULL;
}

static int spawn(weft__model *m, weft__mthread **out, void *(*fn)(void *), void *arg, const vclock *parent)
{
    if (m->nthreads == WEFT__MODEL_MAX_THREADS)
        return WEFT_EAGAIN;
    weft__mthread *t = calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    t->m = m;
    t->id = m->nthreads;
    t->fn = fn;
    t->arg = arg;
    if (parent)
        t->clock = *parent;
    t->clock.c[t->id] = 1;
    weft_sem_init(&t->sem, 0);
    static const char *const names[WEFT__MODEL_MAX_THREADS] = {"model thread 0", "model thread 1", "model thread 2",
                                                               "model thread 3", "model thread 4", "model thread 5"};
    weft_spawn_opts o = {.name = names[t->id], .stack_size = THREAD_STACK, .worker = t->id + 1,
                         .flags = WEFT_SPAWN_PINNED};
    int r = weft_spawn_ex(&t->task, thread_main, t, &o);
    if (r < 0) {
        free(t);
        return r;
    }
    m->threads[m->nthreads++] = t;
    *out = t;
    return 0;
}

static int m_thread_start(void *ctx, weft__thread *th, void *(*fn)(void *), void *arg)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    weft__mthread *child = NULL;
    int r = spawn(m, &child, fn, arg, &t->clock);
    th->model = child;
    leave(m, t);
    return r;
}

static int join(weft__mthread *child, void **result)
{
    if (child->joined)
        return WEFT_EINVAL;
    int r = weft_join(child->task, NULL);
    if (r < 0)
        return r;
    child->joined = true;
    if (result)
        *result = child->result;
    return 0;
}

static int m_thread_join(void *ctx, weft__thread *th, void **result)
{
    weft__model *m = ctx;
    weft__mthread *t = enter(m);
    weft__mthread *child = th->model;
    int r = join(child, result);
    if (r == 0)
        vc_join(&t->clock, &child->clock);
    leave(m, t);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

static void free_model(weft__model *m)
{
    for (unsigned i = 0; i < m->nthreads; i++)
        free(m->threads[i]);
    free(m->locs);
    free(m);
}

int weft__model_open(weft__model **out)
{
    weft__worker *w = weft__tls_worker;
    if (!out || !w || !weft__sim_of(w->rt) || w->rt->nworkers < WEFT__MODEL_WORKERS || weft__model_active)
        return WEFT_EINVAL;
    if (orphan) {
        free_model(orphan);
        orphan = NULL;
    }
    weft__model *m = calloc(1, sizeof *m);
    if (!m || grow(m) < 0) {
        free(m);
        return WEFT_ENOMEM;
    }
    m->rt = w->rt;
    m->sim = weft__sim_of(w->rt);
    m->table = (weft__atomic_model){.load = m_load,
                                    .store = m_store,
                                    .rmw = m_rmw,
                                    .cas = m_cas,
                                    .fence = m_fence,
                                    .spin = m_spin,
                                    .futex_wait = m_futex_wait,
                                    .futex_wake = m_futex_wake,
                                    .thread_start = m_thread_start,
                                    .thread_join = m_thread_join,
                                    .claimed = m_claimed,
                                    .ctx = m};
    orphan = m;
    *out = m;
    return 0;
}

int weft__model_spawn(weft__model *m, weft__mthread **t, void *(*fn)(void *), void *arg)
{
    if (!m || !t || !fn)
        return WEFT_EINVAL;
    return spawn(m, t, fn, arg, NULL);
}

int weft__model_join(weft__model *m, weft__mthread *t, void **result)
{
    if (!m || !t)
        return WEFT_EINVAL;
    return join(t, result);
}

void weft__model_close(weft__model *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->nthreads; i++)
        if (!m->threads[i]->joined)
            join(m->threads[i], NULL);
    if (orphan == m)
        orphan = NULL;
    free_model(m);
}

void weft__model_check(bool cond, const char *what)
{
    if (cond)
        return;
    const weft__atomic_model *a = weft__model_active;
    if (!a) {
        weft_fail(what);
        return;
    }
    weft__model *m = a->ctx;
    weft__mthread *t = enter_quiet(m);
    fail(m, "thread %u: %s", t->id, what);
}

uint64_t weft__model_ops(const weft__model *m)
{
    return m->ops;
}

uint64_t weft__model_stale_reads(const weft__model *m)
{
    return m->stale;
}

void weft__model_config(weft_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = WEFT_MODE_SIM;
    cfg->workers = WEFT__MODEL_WORKERS;
    cfg->flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    cfg->sim.step_budget = 200000;
}

static uint64_t still_clock(void *ctx)
{
    (void)ctx;
    return UINT64_C(1000000000);
}

static int zero_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
    return 0;
}

void weft__model_os(weft_os *os)
{
    memset(os, 0, sizeof *os);
    os->monotonic_ns = still_clock;
    os->getrandom = zero_random;
}

#else
/* Not a model build: nothing here (ISO C wants a declaration). */
typedef int weft__model_absent;
#endif
