/* cases_runtime.c — model test bodies for the real threads backend and the
 * coordination objects' atomic paths: the futex parker alone, then a whole
 * threaded runtime of two workers whose worker threads are simulated
 * threads (spawn, steal, park, wake, shutdown), with a mutex, a semaphore,
 * an event, a channel and the notifier used across them. */
#include "../../backends/threads/threads.h"
#include "cases.h"
#include "harness.h"

/* ---- the parker ---- */

typedef struct pk {
    weft__parker p;
    weft__a32 flag;
    weft_os os;
} pk;

static void *sleeper(void *arg)
{
    pk *k = arg;
    while (!weft__ld(&k->flag, WEFT__ACQUIRE))
        weft__parker_park(&k->p, &k->os, UINT64_MAX, NULL, NULL);
    return NULL;
}

static void *waker(void *arg)
{
    pk *k = arg;
    weft__st(&k->flag, 1u, WEFT__RELEASE);
    weft__parker_unpark(&k->p, &k->os);
    return NULL;
}

void *case_parker(void *arg)
{
    (void)arg;
    pk k;
    memset(&k, 0, sizeof k);
    weft__os_fill(&k.os, NULL);
    weft__model *m;
    MODEL_CHECK(weft__model_open(&m) == 0);
    weft__mthread *a, *b;
    MODEL_CHECK(weft__model_spawn(m, &a, sleeper, &k) == 0);
    MODEL_CHECK(weft__model_spawn(m, &b, waker, &k) == 0);
    /* A lost wake-up leaves the sleeper blocked for good: the simulator
     * reports the deadlock and the run fails. */
    MODEL_CHECK(weft__model_join(m, a, NULL) == 0);
    MODEL_CHECK(weft__model_join(m, b, NULL) == 0);
    weft__model_close(m);
    return NULL;
}

/* ---- two parkers that share a reactor ----
 * As epoll.c's workers of one engine: one of them at a time holds the
 * reactor and sleeps in it, the other sleeps on its futex, and unpark must
 * wake each where it sleeps, while a busy worker looks at the reactor
 * beside them. The reactor is modelled: its wait ends only
 * on a kick (pending, as an edge on an unread eventfd stays until a wait
 * takes it), so a wake sent to the wrong place is a deadlock. */

typedef struct mreactor {
    weft__a32 pending;
    weft__a32 held;
    weft_os *os;
} mreactor;

static void mr_sleep(void *arg, uint64_t deadline)
{
    (void)deadline;
    mreactor *r = arg;
    while (!weft__xchg(&r->pending, 0u, WEFT__ACQ_REL))
        weft__futex_wait(r->os, &r->pending, 0u, UINT64_MAX);
}

static void mr_kick(void *arg)
{
    mreactor *r = arg;
    weft__st(&r->pending, 1u, WEFT__RELEASE);
    weft__futex_wake(r->os, &r->pending, 1);
}

static bool mr_try_hold(void *arg)
{
    mreactor *r = arg;
    uint32_t free_ = 0;
    return weft__cas(&r->held, &free_, 1u, WEFT__ACQUIRE, WEFT__RELAXED);
}

static void mr_let_go(void *arg)
{
    mreactor *r = arg;
    weft__st(&r->held, 0u, WEFT__RELEASE);
}

typedef struct pk2 {
    weft__parker p[2];
    weft__a32 flag[2];
    mreactor r;
    weft_os os;
} pk2;

typedef struct pk2_sleeper {
    pk2 *k;
    unsigned i;
} pk2_sleeper;

static void *shared_sleeper(void *arg)
{
    pk2_sleeper *s = arg;
    while (!weft__ld(&s->k->flag[s->i], WEFT__ACQUIRE))
        weft__parker_park(&s->k->p[s->i], &s->k->os, UINT64_MAX, NULL, NULL);
    return NULL;
}

/* A busy worker's look at the shared reactor (epoll.c's ep_poll): it takes
 * what is pending, a kick too, so it must hold the reactor meanwhile, or it
 * could take the kick of a worker about to sleep there. */
static void *shared_poller(void *arg)
{
    pk2 *k = arg;
    for (unsigned i = 0; i < 2; i++) {
        bool held = WEFT__MUTANT(WEFT__MUT_POLL_UNHELD) || mr_try_hold(&k->r);
        if (!held)
            continue;
        (void)weft__xchg(&k->r.pending, 0u, WEFT__ACQ_REL);
        if (!WEFT__MUTANT(WEFT__MUT_POLL_UNHELD))
            mr_let_go(&k->r);
    }
    return NULL;
}

static void *shared_waker(void *arg)
{
    pk2 *k = arg;
    for (unsigned i = 0; i < 2; i++) {
        weft__st(&k->flag[i], 1u, WEFT__RELEASE);
        weft__parker_unpark(&k->p[i], &k->os);
    }
    return NULL;
}

void *case_parker_shared(void *arg)
{
    (void)arg;
    pk2 k;
    memset(&k, 0, sizeof k);
    weft__os_fill(&k.os, NULL);
    k.r.os = &k.os;
    for (unsigned i = 0; i < 2; i++)
        k.p[i] = (weft__parker){.sleep = mr_sleep, .kick = mr_kick, .try_hold = mr_try_hold, .let_go = mr_let_go,
                                .arg = &k.r};
    weft__model *m;
    MODEL_CHECK(weft__model_open(&m) == 0);
    pk2_sleeper s[2] = {{&k, 0}, {&k, 1}};
    weft__mthread *t[4];
    MODEL_CHECK(weft__model_spawn(m, &t[0], shared_sleeper, &s[0]) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[1], shared_sleeper, &s[1]) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[2], shared_waker, &k) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[3], shared_poller, &k) == 0);
    for (unsigned i = 0; i < 4; i++)
        MODEL_CHECK(weft__model_join(m, t[i], NULL) == 0);
    weft__model_close(m);
    return NULL;
}

/* ---- a whole runtime ---- */

typedef struct pool {
    weft_fn root;
    void *arg;
    void *result;
    int status;
    weft_os os;
    unsigned engine_flags; /* WEFT_ENGINE_… of its one engine of two workers */
    uint64_t now;          /* the ticking clock's reading (when it ticks) */
} pool;

/* The program's main thread: make a threaded runtime of two workers (two
 * more simulated threads), run root on it, free it (joining them). */
static void *program(void *arg)
{
    pool *p = arg;
    weft_config c;
    memset(&c, 0, sizeof c);
    c.mode = WEFT_MODE_THREADED;
    c.workers = 2;
    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    c.os = &p->os;
    weft_engine_config engine = {.workers = 2, .flags = p->engine_flags};
    if (p->engine_flags) {
        c.engines = &engine;
        c.nengines = 1;
    }
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    weft__model_check(r == 0, "weft_rt_new of the threaded runtime");
    p->status = weft_rt_block_on(rt, p->root, p->arg, &p->result);
    weft_rt_free(rt);
    return NULL;
}

/* A clock that moves a microsecond a reading: the idle workers' timed
 * sleeps (the slot watch's intervals, shrunk in this build) end. Plain:
 * simulated threads switch only inside the layer's operations. */
static uint64_t ticking_clock(void *ctx)
{
    uint64_t *now = ctx;
    return *now += 1000u;
}

static void run_pool_with(weft_fn root, void *arg, void *expect, unsigned engine_flags)
{
    pool p = {.root = root, .arg = arg, .status = 1, .engine_flags = engine_flags};
    weft__model_os(&p.os);
    if (engine_flags & WEFT_ENGINE_WATCH_LIFO) {
        p.os.monotonic_ns = ticking_clock;
        p.os.ctx = &p.now;
    }
    weft__model *m;
    MODEL_CHECK(weft__model_open(&m) == 0);
    weft__mthread *main_thread;
    MODEL_CHECK(weft__model_spawn(m, &main_thread, program, &p) == 0);
    MODEL_CHECK(weft__model_join(m, main_thread, NULL) == 0);
    weft__model_close(m);
    MODEL_CHECK(p.status == 0); /* not a deadlock, not a failure */
    MODEL_CHECK(p.result == expect);
}

static void run_pool(weft_fn root, void *arg, void *expect)
{
    run_pool_with(root, arg, expect, 0);
}

static void *plus_one(void *arg)
{
    weft_yield();
    return (void *)((uintptr_t)arg + 1);
}

static void *pool_root(void *arg)
{
    (void)arg;
    /* Spawned onto this worker's deque: the other worker, woken as idle,
     * steals some of them. */
    weft_task *t[3];
    for (uintptr_t i = 0; i < 3; i++)
        if (weft_spawn(&t[i], plus_one, (void *)i) < 0)
            return NULL;
    uintptr_t sum = 0;
    for (unsigned i = 0; i < 3; i++) {
        void *r;
        if (weft_join(t[i], &r) < 0)
            return NULL;
        sum += (uintptr_t)r;
    }
    return (void *)sum;
}

void *case_pool(void *arg)
{
    (void)arg;
    run_pool(pool_root, NULL, (void *)(uintptr_t)6);
    return NULL;
}

/* ---- the LIFO slot watch (THREADING.md rule 11) ----
 * A task woken into a busy worker's LIFO slot wakes nobody; its worker then
 * computes without returning to its loop until that task has run. Only the
 * other worker, watching from its sleep, can take it: without the watch the
 * run never ends (the step budget fails it), and a slot taken by both the
 * watcher and its owner would run the task twice. */
typedef struct watched {
    weft_event ev;
    weft__a32 ran;
    unsigned runs; /* plain: the waiter's, read after the joins */
} watched;

static void *slot_waiter(void *arg)
{
    watched *s = arg;
    if (weft_event_wait(&s->ev) < 0)
        return NULL;
    s->runs++;
    weft__st(&s->ran, 1u, WEFT__RELEASE);
    return NULL;
}

static void *slot_spinner(void *arg)
{
    watched *s = arg;
    if (weft_event_set(&s->ev) < 0)
        return NULL;
    while (!weft__ld(&s->ran, WEFT__ACQUIRE))
        weft__spin_hint();
    return s;
}

static void *watch_root(void *arg)
{
    watched *s = arg;
    weft_task *waiter, *spinner;
    void *spun = NULL;
    if (weft_spawn(&waiter, slot_waiter, s) < 0)
        return NULL;
    if (weft_spawn(&spinner, slot_spinner, s) < 0 || weft_join(spinner, &spun) < 0 || weft_join(waiter, NULL) < 0)
        return NULL;
    return spun;
}

void *case_watch(void *arg)
{
    (void)arg;
    watched s;
    memset(&s, 0, sizeof s);
    MODEL_CHECK(weft_event_init(&s.ev, 0) == 0);
    run_pool_with(watch_root, &s, &s, WEFT_ENGINE_WATCH_LIFO);
    MODEL_CHECK(s.runs == 1);
    weft_event_destroy(&s.ev);
    return NULL;
}

/* Two tasks doing `rounds` critical sections each under a coordination
 * object; the root checks the count. */
typedef struct shared {
    weft_mutex mu;
    weft_sem sem;
    weft_event ev;
    weft_chan *ch;
    weft_notify nt;
    unsigned count; /* plain: guarded by the object under test */
    unsigned inside;
} shared;

static void *locker(void *arg)
{
    shared *s = arg;
    for (unsigned i = 0; i < 2; i++) {
        if (weft_mutex_lock(&s->mu) < 0)
            return NULL;
        s->inside++;
        weft_yield();
        s->count += s->inside; /* 1 each time, unless two are inside */
        s->inside--;
        weft_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void *mutex_root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    weft_mutex_init(&s.mu);
    weft_task *a, *b;
    if (weft_spawn(&a, locker, &s) < 0 || weft_spawn(&b, locker, &s) < 0)
        return NULL;
    weft_join(a, NULL);
    weft_join(b, NULL);
    weft_mutex_destroy(&s.mu);
    return (void *)(uintptr_t)s.count;
}

void *case_mutex(void *arg)
{
    (void)arg;
    run_pool(mutex_root, NULL, (void *)(uintptr_t)4);
    return NULL;
}

static void *permit_user(void *arg)
{
    shared *s = arg;
    for (unsigned i = 0; i < 2; i++) {
        if (weft_sem_acquire(&s->sem) < 0)
            return NULL;
        s->inside++;
        weft_yield();
        s->count += s->inside;
        s->inside--;
        weft_sem_release(&s->sem, 1);
    }
    return NULL;
}

static void *sem_root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    weft_sem_init(&s.sem, 1);
    weft_task *a, *b;
    if (weft_spawn(&a, permit_user, &s) < 0 || weft_spawn(&b, permit_user, &s) < 0)
        return NULL;
    weft_join(a, NULL);
    weft_join(b, NULL);
    weft_sem_destroy(&s.sem);
    return (void *)(uintptr_t)s.count;
}

void *case_sem(void *arg)
{
    (void)arg;
    run_pool(sem_root, NULL, (void *)(uintptr_t)4);
    return NULL;
}

static void *event_waiter(void *arg)
{
    shared *s = arg;
    if (weft_event_wait(&s->ev) < 0)
        return NULL;
    return (void *)(uintptr_t)s->count; /* the setter's write, published by the event */
}

static void *event_root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    weft_event_init(&s.ev, 0);
    weft_task *a, *b;
    if (weft_spawn(&a, event_waiter, &s) < 0 || weft_spawn(&b, event_waiter, &s) < 0)
        return NULL;
    weft_yield();
    s.count = 7;
    weft_event_set(&s.ev);
    void *ra = NULL, *rb = NULL;
    weft_join(a, &ra);
    weft_join(b, &rb);
    weft_event_destroy(&s.ev);
    return (void *)((uintptr_t)ra + (uintptr_t)rb);
}

void *case_event(void *arg)
{
    (void)arg;
    run_pool(event_root, NULL, (void *)(uintptr_t)14);
    return NULL;
}

static void *chan_consumer(void *arg)
{
    shared *s = arg;
    uintptr_t sum = 0;
    for (unsigned i = 0; i < 3; i++) {
        unsigned v;
        if (weft_chan_recv(s->ch, &v) < 0)
            return NULL;
        sum = sum * 10 + v; /* order matters: 123 */
    }
    return (void *)sum;
}

static void *chan_root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    if (weft_chan_new(&s.ch, sizeof(unsigned), 1) < 0)
        return NULL;
    weft_task *c;
    if (weft_spawn(&c, chan_consumer, &s) < 0)
        return NULL;
    for (unsigned v = 1; v <= 3; v++)
        weft_chan_send(s.ch, &v);
    void *r = NULL;
    weft_join(c, &r);
    weft_chan_free(s.ch);
    return r;
}

void *case_chan(void *arg)
{
    (void)arg;
    run_pool(chan_root, NULL, (void *)(uintptr_t)123);
    return NULL;
}

/* ---- the notifier: a thread outside the runtime signals a task ---- */

typedef struct nt_case {
    weft_notify nt;
    weft__a32 data;
} nt_case;

static void *signaller(void *arg)
{
    nt_case *n = arg;
    weft__st(&n->data, 5u, WEFT__RELAXED);
    weft_notify_signal(&n->nt);
    return NULL;
}

static void *notify_root(void *arg)
{
    nt_case *n = arg;
    weft__thread th;
    if (weft__thread_start(&th, signaller, n) < 0)
        return NULL;
    /* One signal is one wake: the data written before it is seen after. */
    uintptr_t seen = 0;
    if (weft_notify_wait(&n->nt) == 0)
        seen = weft__ld(&n->data, WEFT__RELAXED);
    weft__thread_join(&th, NULL);
    return (void *)seen;
}

void *case_notify(void *arg)
{
    (void)arg;
    nt_case n;
    memset(&n, 0, sizeof n);
    weft_notify_init(&n.nt);
    run_pool(notify_root, &n, (void *)(uintptr_t)5);
    weft_notify_destroy(&n.nt);
    return NULL;
}
