/* test_threading.c — src/THREADING.md, rule by rule, on real threads: which
 * runtimes are serial, run queues and stealing, two-phase parking and the
 * one-wake-per-wait claim under races, interrupts from other workers,
 * joins and detaches across threads, remote timer disarms, shared records,
 * what a thread outside the runtime may call (and the WEFT_EPERM it gets for
 * the rest), exact counters, and no lost wake-ups of idle workers. The
 * stress here runs under `scons test VARIANT=tsan` and helgrind too. */
#define _GNU_SOURCE
#include "support.h"

#include "../backends/threads/threads.h" /* a worker's parker: asleep yet? */

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static weft_config workers_config(unsigned workers)
{
    weft_config c = threaded_config();
    c.workers = workers;
    return c;
}

/* How many rounds a stress loop runs: fewer where every step is slow. */
static unsigned rounds(unsigned n)
{
    return under_valgrind() ? n / 50 + 1 : under_tsan() ? n / 5 + 1 : n;
}

static long os_tid(void)
{
    return (long)syscall(SYS_gettid);
}

/* ---- rule 1: serial is a property of the runtime --------------------------- */

typedef struct made_chan {
    weft_chan *ch;
} made_chan;

static void *make_channel(void *arg)
{
    made_chan *m = arg;
    ck_assert_weft(weft_chan_new(&m->ch, sizeof(int), 4), 0);
    return NULL;
}

static void *free_channel(void *arg)
{
    made_chan *m = arg;
    ck_assert_weft(weft_chan_free(m->ch), 0);
    return NULL;
}

static void *foreign_try_send(void *arg)
{
    int v = 1;
    return (void *)(intptr_t)weft_chan_try_send(arg, &v);
}

static int try_send_from_a_pthread(weft_chan *ch)
{
    pthread_t th;
    void *r;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_try_send, ch), 0);
    ck_assert_int_eq(pthread_join(th, &r), 0);
    return (int)(intptr_t)r;
}

START_TEST(rule1_serial_is_decided_by_the_runtime)
{
    /* A channel made by a task of a serial runtime (simulated, or one real
     * worker) is that runtime's: another thread is refused, whatever it is
     * doing. Made by a task of a concurrent runtime, it is shared. */
    weft_config cs[4] = {test_config(2, 0), workers_config(1), workers_config(2), test_config(2, 0)};
    /* WEFT_CFG_ATOMIC_SYNC makes even a simulation take the atomic paths. */
    cs[3].flags |= WEFT_CFG_ATOMIC_SYNC;
    int want[4] = {WEFT_EPERM, WEFT_EPERM, 0, 0};
    for (int i = 0; i < 4; i++) {
        made_chan m = {NULL};
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &cs[i]), 0);
        ck_assert_weft(weft_rt_block_on(rt, make_channel, &m, NULL), 0);
        ck_assert_weft(try_send_from_a_pthread(m.ch), want[i]);
        if (want[i]) /* the runtime's own: only its tasks may free it */
            ck_assert_weft(weft_chan_free(m.ch), WEFT_EPERM);
        ck_assert_weft(weft_rt_block_on(rt, free_channel, &m, NULL), 0);
        weft_rt_free(rt);
    }
}
END_TEST

/* ---- rule 2: an unpinned task goes where it is woken ------------------------ */

typedef struct hop {
    weft_event go;
    atomic_int worker_before;
    long tid_before, tid_after;
} hop;

static void *waits_to_hop(void *arg)
{
    hop *h = arg;
    h->tid_before = os_tid();
    atomic_store(&h->worker_before, weft_worker_index());
    ck_assert_weft(weft_event_wait(&h->go), 0);
    h->tid_after = os_tid();
    return NULL;
}

static void *sets_it(void *arg)
{
    ck_assert_weft(weft_event_set(&((hop *)arg)->go), 0);
    return NULL;
}

static void *hop_once(void *arg)
{
    hop *h = arg;
    ck_assert_weft(weft_event_init(&h->go, 0), 0);
    atomic_store(&h->worker_before, -1);
    weft_task *t, *s;
    ck_assert_weft(weft_spawn(&t, waits_to_hop, h), 0);
    while (atomic_load(&h->worker_before) < 0) /* it started; it is waiting, or about to */
        weft_yield();
    /* The wake comes from the other worker: the woken task is queued there
     * (its LIFO slot), and resumes on that thread. */
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = (unsigned)(1 - atomic_load(&h->worker_before))};
    ck_assert_weft(weft_spawn_ex(&s, sets_it, h, &o), 0);
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_event_destroy(&h->go), 0);
    return NULL;
}

START_TEST(rule2_unpinned_tasks_migrate_between_worker_threads)
{
    weft_config c = workers_config(2);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    /* An idle worker may steal it back before it runs where it was woken:
     * a few tries make that vanishingly unlikely. */
    hop h;
    bool moved = false;
    for (int run = 0; run < 100 && !moved; run++) {
        ck_assert_weft(weft_rt_block_on(rt, hop_once, &h, NULL), 0);
        moved = h.tid_after != h.tid_before;
    }
    ck_assert_msg(moved, "a task woken from another worker never resumed on that worker's thread");
    weft_rt_free(rt);
}
END_TEST

/* ---- rules 3 and 4: parks and wakes racing across threads ----------------- */

typedef struct pingpong {
    weft_chan *a, *b;
    int n;
} pingpong;

static void *ponger(void *arg)
{
    pingpong *p = arg;
    int v;
    for (int i = 0; i < p->n; i++) {
        ck_assert_weft(weft_chan_recv(p->a, &v), 0);
        ck_assert_int_eq(v, i);
        ck_assert_weft(weft_chan_send(p->b, &v), 0);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    pingpong *p = arg;
    ck_assert_weft(weft_chan_new(&p->a, sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&p->b, sizeof(int), 0), 0);
    /* On the other worker: every wake crosses threads, and a waker often
     * finds the other side still on its way to park. */
    weft_spawn_opts o = {.name = "ponger", .flags = WEFT_SPAWN_PINNED, .worker = 1};
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, ponger, p, &o), 0);
    for (int i = 0; i < p->n; i++) {
        int v = i;
        ck_assert_weft(weft_chan_send(p->a, &v), 0);
        ck_assert_weft(weft_chan_recv(p->b, &v), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_chan_free(p->a), 0);
    ck_assert_weft(weft_chan_free(p->b), 0);
    return NULL;
}

START_TEST(rule3_a_wake_while_parking_is_never_lost)
{
    weft_config c = workers_config(2);
    pingpong p = {NULL, NULL, (int)rounds(100000)};
    ck_assert_weft(run_in(&c, pinger, &p, NULL), 0);
}
END_TEST

static void *finishes_soon(void *arg)
{
    (void)arg;
    if (weft_rand() & 1)
        weft_yield();
    return (void *)7;
}

static void *joiner_of(void *arg)
{
    weft_task *target = arg;
    void *r = NULL;
    int rc = weft_join(target, &r);
    /* Either the join completed or this task was cancelled out of it;
     * never both woken, never neither (a hang). */
    if (rc == WEFT_ECANCELED && r == NULL) {
        weft_cancel_shield(1);
        ck_assert_weft(weft_join(target, &r), 0);
    }
    ck_assert_ptr_eq(r, (void *)7);
    return NULL;
}

static void *join_cancel_races(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < n; i++) {
        weft_task *target, *joiner;
        ck_assert_weft(weft_spawn(&target, finishes_soon, NULL), 0);
        ck_assert_weft(weft_spawn(&joiner, joiner_of, target), 0);
        if (i & 1)
            weft_yield();
        ck_assert_weft(weft_cancel(joiner), 0);
        int rc = weft_join(joiner, NULL);
        ck_assert_msg(rc == 0 || rc == WEFT_ECANCELED, "join returned %d", rc);
    }
    return NULL;
}

START_TEST(rule4_join_and_cancel_never_wake_a_task_twice)
{
    weft_config c = workers_config(4);
    ck_assert_weft(run_in(&c, join_cancel_races, (void *)(uintptr_t)rounds(20000), NULL), 0);
}
END_TEST

/* ---- rule 5: interrupts from other workers --------------------------------- */

static void *waits_with_deadline(void *arg)
{
    weft_event *e = arg;
    /* An hour: the cancel ends the wait, never the deadline (a second could
     * pass between spawn and cancel under valgrind on a loaded machine). */
    int r = weft_event_wait_until(e, weft_now() + 3600ull * 1000000000ull);
    ck_assert_msg(r == WEFT_ECANCELED || r == 0, "wait returned %d", r);
    return NULL;
}

static void *cancel_from_elsewhere(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    weft_event e;
    ck_assert_weft(weft_event_init(&e, 0), 0);
    for (unsigned i = 0; i < n; i++) {
        weft_task *t;
        ck_assert_weft(weft_spawn(&t, waits_with_deadline, &e), 0);
        if (i % 3 == 0)
            weft_yield();
        ck_assert_weft(weft_cancel(t), 0);
        int r = weft_join(t, NULL);
        ck_assert_msg(r == 0 || r == WEFT_ECANCELED, "join returned %d", r);
    }
    ck_assert_weft(weft_event_destroy(&e), 0);
    return NULL;
}

START_TEST(rule5_cancel_from_another_worker_ends_a_timed_wait_once)
{
    weft_config c = workers_config(4);
    ck_assert_weft(run_in(&c, cancel_from_elsewhere, (void *)(uintptr_t)rounds(20000), NULL), 0);
}
END_TEST

/* ---- rule 6: join and detach across threads ------------------------------- */

static void *detach_or_join(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < n; i++) {
        weft_task *t;
        ck_assert_weft(weft_spawn(&t, finishes_soon, NULL), 0);
        if (i & 2)
            weft_yield();
        if (i & 1) {
            ck_assert_weft(weft_detach(t), 0);
        } else {
            void *r;
            ck_assert_weft(weft_join(t, &r), 0);
            ck_assert_ptr_eq(r, (void *)7);
        }
    }
    /* Detached tasks may still be running: the root outlives them all. */
    while (current_stats().live_tasks > 1)
        weft_yield();
    return NULL;
}

START_TEST(rule6_join_and_detach_race_the_end_safely)
{
    weft_config c = workers_config(4);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    unsigned n = rounds(50000);
    ck_assert_weft(weft_rt_block_on(rt, detach_or_join, (void *)(uintptr_t)n, NULL), 0);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    /* Rule 10 too: the counters add up exactly once the run is over. */
    ck_assert_uint_eq(st.spawned, (uint64_t)n + 1);
    ck_assert_uint_eq(st.finished, (uint64_t)n + 1);
    ck_assert_uint_eq(st.live_tasks, 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 0);
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_unjoined, 0); /* every detached one was released */
    weft_rt_free(rt);
}
END_TEST

/* Rule 10's live count, which a concurrent runtime keeps per worker while
 * a run goes and folds into one count for shutdown: tasks spawned on one
 * worker end on another, some never end until shutdown cancels them, and
 * the count must come out exact in both halves. */
static void *spawns_across_workers(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < 40; i++)
        ck_assert_weft(weft_spawn(NULL, waits_forever, NULL), 0);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_weft(weft_spawn(NULL, finishes_soon, NULL), 0);
        if (i % 16 == 0)
            weft_yield();
    }
    while (current_stats().live_tasks > 41) /* the root and the 40 waiters */
        weft_yield();
    ck_assert_uint_eq(current_stats().live_tasks, 41);
    return NULL;
}

START_TEST(rule10_live_count_adds_up_across_workers_and_at_shutdown)
{
    weft_config c = workers_config(2);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, spawns_across_workers, (void *)(uintptr_t)rounds(20000), NULL), 0);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.live_tasks, 40);
    ck_assert_int_eq(weft_rt_shutdown(rt), 40);
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_cancelled, 40);
    ck_assert_uint_eq(st.shutdown_abandoned, 0);
    ck_assert_uint_eq(st.live_tasks, 0);
    weft_rt_free(rt);
}
END_TEST

/* Rule 10's `running`: one thread at a time runs or shuts down a runtime.
 * Two threads that call weft_rt_block_on at once must not both get in (both
 * would run the same workers' loops: it hung); the second gets WEFT_EBUSY,
 * or runs after the first. */
static atomic_int roots_inside, roots_overlapped, root_started, root_may_end;

static void *root_alone(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&roots_inside, 1) != 0)
        atomic_store(&roots_overlapped, 1);
    atomic_store(&root_started, 1);
    do
        ck_assert_weft(weft_sleep(100 * 1000), 0);
    while (!atomic_load(&root_may_end));
    atomic_fetch_sub(&roots_inside, 1);
    return (void *)7;
}

typedef struct block_on_call {
    weft_rt *rt;
    pthread_barrier_t *go;
    int r;
} block_on_call;

static void *calls_block_on(void *arg)
{
    block_on_call *c = arg;
    if (c->go)
        pthread_barrier_wait(c->go);
    void *res = NULL;
    c->r = weft_rt_block_on(c->rt, root_alone, NULL, &res);
    if (c->r == 0)
        ck_assert_ptr_eq(res, (void *)7);
    return NULL;
}

START_TEST(rule10_one_thread_at_a_time_runs_a_runtime)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_config c = workers_config(workers);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        /* While one thread is inside: block_on is busy, shutdown refused. */
        atomic_store(&root_started, 0);
        atomic_store(&root_may_end, 0);
        block_on_call first = {rt, NULL, -1};
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, calls_block_on, &first), 0);
        while (!atomic_load(&root_started))
            sched_yield();
        ck_assert_weft(weft_rt_block_on(rt, root_alone, NULL, NULL), WEFT_EBUSY);
        ck_assert_weft(weft_rt_shutdown(rt), WEFT_EPERM);
        ck_assert_weft(weft_rt_reset(rt, &c), WEFT_EPERM);
        atomic_store(&root_may_end, 1);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_weft(first.r, 0);
        /* Two threads at once, many times: never both inside. */
        pthread_barrier_t go;
        ck_assert_int_eq(pthread_barrier_init(&go, NULL, 2), 0);
        for (unsigned round = 0; round < rounds(200); round++) {
            block_on_call a = {rt, &go, -1}, b = {rt, &go, -1};
            pthread_t ta, tb;
            ck_assert_int_eq(pthread_create(&ta, NULL, calls_block_on, &a), 0);
            ck_assert_int_eq(pthread_create(&tb, NULL, calls_block_on, &b), 0);
            ck_assert_int_eq(pthread_join(ta, NULL), 0);
            ck_assert_int_eq(pthread_join(tb, NULL), 0);
            ck_assert_msg((a.r == 0 || a.r == WEFT_EBUSY) && (b.r == 0 || b.r == WEFT_EBUSY) && (a.r == 0 || b.r == 0),
                          "round %u: block_on gave %d and %d", round, a.r, b.r);
        }
        pthread_barrier_destroy(&go);
        ck_assert_int_eq(atomic_load(&roots_overlapped), 0);
        ck_assert_int_eq(atomic_load(&roots_inside), 0);
        weft_rt_free(rt);
    }
}
END_TEST

/* ---- rule 7: a timer armed on one worker, stopped from another ------------ */

typedef struct remote_timer {
    weft_timer t;
    atomic_int fired;
} remote_timer;

static void never_fires(weft_timer *t, void *arg)
{
    (void)t;
    atomic_fetch_add(&((remote_timer *)arg)->fired, 1);
}

static void *arm_here(void *arg)
{
    remote_timer *rt = arg;
    ck_assert_weft(weft_timer_init(&rt->t), 0);
    ck_assert_weft(weft_timer_start(&rt->t, weft_now() + 3600ull * 1000000000ull, never_fires, rt), 0);
    return NULL;
}

static void *stop_there(void *arg)
{
    remote_timer *rt = arg;
    ck_assert_int_eq(weft_timer_pending(&rt->t), 1);
    ck_assert_weft(weft_timer_stop(&rt->t), 0);
    ck_assert_int_eq(weft_timer_pending(&rt->t), 0);
    ck_assert_weft(weft_timer_stop(&rt->t), WEFT_EALREADY);
    return NULL;
}

static void *timer_across_workers(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < n; i++) {
        remote_timer rt;
        atomic_init(&rt.fired, 0);
        weft_spawn_opts on0 = {.flags = WEFT_SPAWN_PINNED, .worker = 0};
        weft_spawn_opts on1 = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
        weft_task *a, *b;
        ck_assert_weft(weft_spawn_ex(&a, arm_here, &rt, &on0), 0);
        ck_assert_weft(weft_join(a, NULL), 0);
        ck_assert_weft(weft_spawn_ex(&b, stop_there, &rt, &on1), 0);
        ck_assert_weft(weft_join(b, NULL), 0);
        ck_assert_int_eq(atomic_load(&rt.fired), 0);
        /* Sleeps woken early from elsewhere disarm their own timers there. */
        ck_assert_weft(weft_sleep(1000), 0);
    }
    return NULL;
}

START_TEST(rule7_timers_are_disarmed_from_another_worker)
{
    weft_config c = workers_config(2);
    ck_assert_weft(run_in(&c, timer_across_workers, (void *)(uintptr_t)rounds(2000), NULL), 0);
}
END_TEST

/* ---- rule 8: records shared by workers ------------------------------------ */

static void *spawn_tree(void *arg)
{
    uintptr_t depth = (uintptr_t)arg;
    if (!depth)
        return (void *)1;
    weft_task *l, *r;
    ck_assert_weft(weft_spawn(&l, spawn_tree, (void *)(depth - 1)), 0);
    ck_assert_weft(weft_spawn(&r, spawn_tree, (void *)(depth - 1)), 0);
    void *a, *b;
    ck_assert_weft(weft_join(l, &a), 0);
    ck_assert_weft(weft_join(r, &b), 0);
    return (void *)((uintptr_t)a + (uintptr_t)b);
}

START_TEST(rule8_task_records_and_stacks_are_shared_by_workers)
{
    weft_config c = workers_config(4);
    uintptr_t depth = under_valgrind() ? 8 : under_tsan() ? 11 : 14;
    void *leaves;
    ck_assert_weft(run_in(&c, spawn_tree, (void *)depth, &leaves), 0);
    ck_assert_uint_eq((uintptr_t)leaves, (uintptr_t)1 << depth);
}
END_TEST

/* ---- rule 9: what a thread outside the runtime may call ------------------- */

typedef struct feed {
    weft_chan *ch;
    uint64_t n;
} feed;

static void *feeder(void *arg)
{
    feed *f = arg;
    for (uint64_t i = 1; i <= f->n + 1; i++) {
        uint64_t v = i <= f->n ? i : 0; /* 0 ends the stream */
        int r;
        while ((r = weft_chan_try_send(f->ch, &v)) == WEFT_EAGAIN)
            sched_yield();
        if (r != 0)
            return (void *)(intptr_t)r;
    }
    return NULL;
}

static void *drain_in_order(void *arg)
{
    feed *f = arg;
    uint64_t v, want = 1;
    for (;;) {
        ck_assert_weft(weft_chan_recv(f->ch, &v), 0);
        if (v == 0)
            break;
        /* Every item once, in order. */
        ck_assert_uint_eq(v, want);
        want++;
    }
    ck_assert_uint_eq(want, f->n + 1);
    return NULL;
}

static void feed_from_a_pthread(unsigned workers)
{
    feed f;
    f.n = under_valgrind() ? 20000 : 1000000;
    /* Made outside any runtime: shared, always atomic. */
    ck_assert_weft(weft_chan_new(&f.ch, sizeof(uint64_t), 64), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, feeder, &f), 0);
    weft_config c = workers_config(workers);
    ck_assert_weft(run_in(&c, drain_in_order, &f, NULL), 0);
    void *r;
    ck_assert_int_eq(pthread_join(th, &r), 0);
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(weft_chan_len(f.ch), 0);
    ck_assert_weft(weft_chan_free(f.ch), 0);
}

START_TEST(rule9_a_pthread_feeds_a_channel_and_nothing_is_lost)
{
    feed_from_a_pthread(1); /* into a serial runtime */
    feed_from_a_pthread(2); /* into a concurrent one */
}
END_TEST

typedef struct objects {
    weft_mutex m;
    weft_cond c;
    weft_sem s;
    weft_wg wg;
    weft_event e;
    weft_barrier b;
    weft_once o;
    weft_timer t;
    weft_chan *serial_ch;
    weft_chan *shared_ch;
    atomic_int stage;
} objects;

static void noop(void *arg)
{
    (void)arg;
}

static void timer_noop(weft_timer *t, void *arg)
{
    (void)t;
    (void)arg;
}

/* Everything rule 9 refuses, called from a plain thread while the runtime
 * runs and its objects are in use. */
static void *refused_calls(void *arg)
{
    objects *o = arg;
    int v = 1;
    weft_select_case sc = {o->serial_ch, WEFT_SELECT_SEND, &v, 0};
    int got[] = {
        weft_mutex_lock(&o->m),        weft_mutex_trylock(&o->m),     weft_mutex_unlock(&o->m),
        weft_cond_signal(&o->c),       weft_cond_broadcast(&o->c),    weft_sem_release(&o->s, 1),
        weft_sem_try_acquire(&o->s),   weft_wg_add(&o->wg, 1),        weft_event_set(&o->e),
        weft_event_reset(&o->e),       weft_once_call(&o->o, noop, NULL), weft_barrier_wait(&o->b),
        weft_timer_start(&o->t, 1, timer_noop, NULL),
        weft_timer_stop(&o->t),        weft_chan_try_send(o->serial_ch, &v),
        weft_chan_try_recv(o->serial_ch, &v), weft_chan_close(o->serial_ch), weft_try_select(&sc, 1),
        weft_spawn(NULL, returns_arg, NULL), weft_sleep(1),
    };
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        if (got[i] != WEFT_EPERM)
            return (void *)(uintptr_t)(i + 1);
    /* What it may call works. */
    if (weft_chan_try_send(o->shared_ch, &v) != 0)
        return (void *)100;
    return NULL;
}

static void *holds_objects(void *arg)
{
    objects *o = arg;
    ck_assert_weft(weft_chan_new(&o->serial_ch, sizeof(int), 1), 0);
    ck_assert_weft(weft_timer_init(&o->t), 0);
    ck_assert_weft(weft_timer_start(&o->t, weft_now() + 3600ull * 1000000000ull, timer_noop, NULL), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, refused_calls, o), 0);
    int v;
    ck_assert_weft(weft_chan_recv(o->shared_ch, &v), 0); /* the pthread's one allowed send */
    void *r;
    ck_assert_int_eq(pthread_join(th, &r), 0);
    ck_assert_msg(r == NULL, "refused call #%lu was not refused with WEFT_EPERM", (unsigned long)(uintptr_t)r);
    ck_assert_uint_eq(weft_sem_value(&o->s), 0);
    ck_assert_int_eq(weft_event_is_set(&o->e), 0);
    ck_assert_weft(weft_timer_stop(&o->t), 0);
    ck_assert_weft(weft_chan_free(o->serial_ch), 0);
    return NULL;
}

START_TEST(rule9_everything_else_is_refused_with_eperm)
{
    objects o;
    memset(&o, 0, sizeof o);
    ck_assert_weft(weft_mutex_init(&o.m), 0);
    ck_assert_weft(weft_cond_init(&o.c), 0);
    ck_assert_weft(weft_sem_init(&o.s, 0), 0);
    ck_assert_weft(weft_wg_init(&o.wg), 0);
    ck_assert_weft(weft_event_init(&o.e, 0), 0);
    ck_assert_weft(weft_barrier_init(&o.b, 2), 0);
    ck_assert_weft(weft_chan_new(&o.shared_ch, sizeof(int), 1), 0);
    weft_config c = workers_config(1);
    ck_assert_weft(run_in(&c, holds_objects, &o, NULL), 0);
    ck_assert_int_eq(o.wg.count, 0);
    ck_assert_weft(weft_chan_free(o.shared_ch), 0);
}
END_TEST

/* A thread of another runtime is foreign too: a task of runtime B may not
 * stop or re-arm a timer armed on runtime A's wheel, serial (whose wheel
 * lock is a plain one) or concurrent (whose callbacks B's stop could not wait
 * for). A runs on a pthread, holding its timer armed, while B's task tries. */
typedef struct two_runtimes {
    weft_timer t;
    weft_chan *armed, *done; /* made outside any runtime: shared */
    unsigned a_workers, b_workers;
} two_runtimes;

static void *arms_and_waits(void *arg)
{
    two_runtimes *x = arg;
    ck_assert_weft(weft_timer_init(&x->t), 0);
    ck_assert_weft(weft_timer_start(&x->t, weft_now() + 3600ull * 1000000000ull, timer_noop, NULL), 0);
    int v = 1;
    ck_assert_weft(weft_chan_send(x->armed, &v), 0);
    ck_assert_weft(weft_chan_recv(x->done, &v), 0);
    /* Untouched: still armed here, and its own runtime stops it. */
    ck_assert_int_eq(weft_timer_pending(&x->t), 1);
    ck_assert_weft(weft_timer_stop(&x->t), 0);
    return NULL;
}

static void *run_runtime_a(void *arg)
{
    two_runtimes *x = arg;
    weft_config c = workers_config(x->a_workers);
    return (void *)(intptr_t)run_in(&c, arms_and_waits, x, NULL);
}

static void *meddles_with_the_other_runtimes_timer(void *arg)
{
    two_runtimes *x = arg;
    int v;
    ck_assert_weft(weft_chan_recv(x->armed, &v), 0);
    ck_assert_weft(weft_timer_stop(&x->t), WEFT_EPERM);
    ck_assert_weft(weft_timer_start(&x->t, weft_now() + 1000, timer_noop, NULL), WEFT_EPERM);
    ck_assert_int_eq(weft_timer_pending(&x->t), 1);
    ck_assert_weft(weft_chan_send(x->done, &v), 0);
    return NULL;
}

START_TEST(rule9_a_task_of_another_runtime_may_not_stop_or_rearm_a_timer)
{
    for (unsigned a = 1; a <= 2; a++)       /* A serial, then concurrent */
        for (unsigned b = 1; b <= 2; b++) { /* and B either */
            two_runtimes x;
            memset(&x, 0, sizeof x);
            x.a_workers = a;
            x.b_workers = b;
            ck_assert_weft(weft_chan_new(&x.armed, sizeof(int), 1), 0);
            ck_assert_weft(weft_chan_new(&x.done, sizeof(int), 1), 0);
            pthread_t th;
            ck_assert_int_eq(pthread_create(&th, NULL, run_runtime_a, &x), 0);
            weft_config c = workers_config(b);
            ck_assert_weft(run_in(&c, meddles_with_the_other_runtimes_timer, &x, NULL), 0);
            void *r;
            ck_assert_int_eq(pthread_join(th, &r), 0);
            ck_assert_weft((int)(intptr_t)r, 0);
            ck_assert_weft(weft_chan_free(x.armed), 0);
            ck_assert_weft(weft_chan_free(x.done), 0);
        }
}
END_TEST

/* weft_rt_spawn from plain threads into a running runtime, and while it is
 * not running. */
typedef struct handed {
    weft_rt *rt;
    weft_chan *done;
    int per_thread;
} handed;

static void *report_done(void *arg)
{
    handed *h = arg;
    uint64_t one = 1;
    ck_assert_weft(weft_chan_send(h->done, &one), 0);
    return NULL;
}

static void *hand_in(void *arg)
{
    handed *h = arg;
    for (int i = 0; i < h->per_thread; i++)
        if (weft_rt_spawn(h->rt, NULL, report_done, h, NULL) != 0)
            return (void *)1;
    return NULL;
}

static void *count_arrivals(void *arg)
{
    handed *h = arg;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hand_in, h), 0);
    uint64_t v;
    for (int i = 0; i < 3 * h->per_thread + 1; i++)
        ck_assert_weft(weft_chan_recv(h->done, &v), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(th[i], &r), 0);
        ck_assert_ptr_null(r);
    }
    return NULL;
}

START_TEST(rule9_foreign_threads_hand_in_work_with_weft_rt_spawn)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_config c = workers_config(workers);
        handed h;
        h.per_thread = (int)rounds(2000);
        ck_assert_weft(weft_chan_new(&h.done, sizeof(uint64_t), WEFT_CHAN_UNBOUNDED), 0);
        ck_assert_weft(weft_rt_new(&h.rt, &c), 0);
        /* One handed in before the runtime runs: it waits for the run. */
        weft_task *early;
        ck_assert_weft(weft_rt_spawn(h.rt, &early, report_done, &h, NULL), 0);
        ck_assert_weft(weft_rt_block_on(h.rt, count_arrivals, &h, NULL), 0);
        weft_rt_stats st;
        ck_assert_weft(weft_rt_stats_get(h.rt, &st), 0);
        ck_assert_uint_eq(st.spawned, 3u * (unsigned)h.per_thread + 2);
        weft_rt_free(h.rt); /* early was never joined: reported, not lost */
        ck_assert_weft(weft_chan_free(h.done), 0);
    }
    weft_rt *rt;
    weft_config c = workers_config(1);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_spawn(NULL, NULL, returns_arg, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_spawn(rt, NULL, NULL, NULL, NULL), WEFT_EINVAL);
    weft_spawn_opts bad = {.engine = "nope"};
    ck_assert_weft(weft_rt_spawn(rt, NULL, returns_arg, NULL, &bad), WEFT_EINVAL);
    ck_assert_int_eq(weft_rt_shutdown(rt), 0);
    ck_assert_weft(weft_rt_spawn(rt, NULL, returns_arg, NULL, NULL), WEFT_ESHUTDOWN);
    weft_rt_free(rt);
}
END_TEST

/* A simulation is one thread whose every step its seed decides: a foreign
 * thread's hand-in, or its wake of a simulated task, while it runs would
 * race its plain structures and could not be replayed, so each is refused
 * and changes nothing; a hand-in before the run waits for it like any
 * other. */
typedef struct sim_hand_in {
    weft_rt *rt;
    weft_notify note;
    weft_chan *shared;
    atomic_bool running, tried;
    atomic_int parked;
    int spawned, signalled, sent, selected, closed;
} sim_hand_in;

static void *try_hand_in_while_running(void *arg)
{
    sim_hand_in *h = arg;
    while (!atomic_load(&h->running))
        sched_yield();
    h->spawned = weft_rt_spawn(h->rt, NULL, returns_arg, NULL, NULL);
    h->signalled = weft_notify_signal(&h->note);
    uint64_t v = 7;
    h->sent = weft_chan_try_send(h->shared, &v);
    weft_select_case send_case = {.chan = h->shared, .op = WEFT_SELECT_SEND, .elem = &v};
    h->selected = weft_try_select(&send_case, 1);
    h->closed = weft_chan_close(h->shared);
    atomic_store(&h->tried, true);
    return NULL;
}

static void *waits_for_the_notifier(void *arg)
{
    sim_hand_in *h = arg;
    atomic_fetch_add(&h->parked, 1);
    ck_assert_weft(weft_notify_wait(&h->note), 0);
    return NULL;
}

static void *receives_from_the_shared_channel(void *arg)
{
    sim_hand_in *h = arg;
    uint64_t v = 0;
    atomic_fetch_add(&h->parked, 1);
    ck_assert_weft(weft_chan_recv(h->shared, &v), 0);
    return (void *)(uintptr_t)v;
}

static void *wait_for_outside_attempts(void *arg)
{
    sim_hand_in *h = arg;
    weft_task *a, *b;
    ck_assert_weft(weft_spawn(&a, waits_for_the_notifier, h), 0);
    ck_assert_weft(weft_spawn(&b, receives_from_the_shared_channel, h), 0);
    /* Each waiter bumps `parked` in the step in which it parks. */
    while (atomic_load(&h->parked) < 2)
        weft_yield();
    weft_yield();
    atomic_store(&h->running, true);
    /* The simulation's own thread waits for real, outside its steps: the
     * run stays the seed's whatever the other thread's timing. */
    while (!atomic_load(&h->tried))
        sched_yield();
    /* Nothing the outsider tried reached the waiters: both still wait, the
     * channel is open and empty. */
    uint64_t v = 42;
    ck_assert_weft(weft_notify_signal(&h->note), 0);
    ck_assert_weft(weft_chan_send(h->shared, &v), 0);
    void *got;
    ck_assert_weft(weft_join(a, NULL), 0);
    ck_assert_weft(weft_join(b, &got), 0);
    ck_assert_uint_eq((uintptr_t)got, 42);
    return NULL;
}

START_TEST(rule9_a_running_simulation_refuses_a_foreign_threads_spawn_and_wakes)
{
    weft_config c = test_config(2, 7);
    sim_hand_in h;
    memset(&h, 0, sizeof h);
    atomic_init(&h.running, false);
    atomic_init(&h.tried, false);
    atomic_init(&h.parked, 0);
    ck_assert_weft(weft_notify_init(&h.note), 0);
    ck_assert_weft(weft_chan_new_shared(&h.shared, sizeof(uint64_t), 4), 0);
    ck_assert_weft(weft_rt_new(&h.rt, &c), 0);
    weft_task *early;
    ck_assert_weft(weft_rt_spawn(h.rt, &early, returns_arg, NULL, NULL), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, try_hand_in_while_running, &h), 0);
    ck_assert_weft(weft_rt_block_on(h.rt, wait_for_outside_attempts, &h, NULL), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_weft(h.spawned, WEFT_EPERM);
    ck_assert_weft(h.signalled, WEFT_EPERM);
    ck_assert_weft(h.sent, WEFT_EPERM);
    ck_assert_weft(h.selected, WEFT_EPERM);
    ck_assert_weft(h.closed, WEFT_EPERM);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(h.rt, &st), 0);
    ck_assert_uint_eq(st.spawned, 4u); /* the early one, the root and its two */
    weft_rt_free(h.rt);
    /* With the simulation over, the outsider may use both again. */
    ck_assert_weft(weft_notify_signal(&h.note), 0);
    ck_assert_weft(weft_chan_close(h.shared), 0);
    ck_assert_weft(weft_notify_destroy(&h.note), 0);
    ck_assert_weft(weft_chan_free(h.shared), 0);
}
END_TEST

/* Hand-ins that race the starts of a simulation's runs: each either lands
 * before a run starts (the claim waits for it) and then runs, or is refused;
 * none is lost or run twice, and under TSan none races the run. */
typedef struct racing_hand_ins {
    weft_rt *rt;
    atomic_int ran, accepted;
    atomic_bool done;
} racing_hand_ins;

static void *counts_a_run(void *arg)
{
    atomic_fetch_add(&((racing_hand_ins *)arg)->ran, 1);
    return NULL;
}

static void *hands_in_until_enough(void *arg)
{
    racing_hand_ins *h = arg;
    /* No bound on the tries: how many are refused depends on how the two
     * threads are scheduled (under helgrind, beside another valgrind run,
     * the main thread may hold the runtime for most of them), and every
     * run leaves a window for the next hand-in. */
    while (atomic_load(&h->accepted) < 200) {
        int r = weft_rt_spawn(h->rt, NULL, counts_a_run, h, NULL);
        ck_assert_msg(r == 0 || r == WEFT_EPERM, "weft_rt_spawn returned %d", r);
        if (r == 0)
            atomic_fetch_add(&h->accepted, 1);
        sched_yield();
    }
    atomic_store(&h->done, true);
    return NULL;
}

static void *yields_until_all_ran(void *arg)
{
    racing_hand_ins *h = arg;
    while (atomic_load(&h->ran) < atomic_load(&h->accepted))
        weft_yield();
    return NULL;
}

START_TEST(rule9_hand_ins_racing_a_simulations_runs_are_all_run_or_refused)
{
    weft_config c = test_config(2, 11);
    racing_hand_ins h;
    memset(&h, 0, sizeof h);
    atomic_init(&h.ran, 0);
    atomic_init(&h.accepted, 0);
    atomic_init(&h.done, false);
    ck_assert_weft(weft_rt_new(&h.rt, &c), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hands_in_until_enough, &h), 0);
    while (!atomic_load(&h.done))
        ck_assert_weft(weft_rt_block_on(h.rt, yields_times, (void *)(uintptr_t)4, NULL), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_weft(weft_rt_block_on(h.rt, yields_until_all_ran, &h, NULL), 0);
    ck_assert_int_eq(atomic_load(&h.accepted), 200);
    ck_assert_int_eq(atomic_load(&h.ran), 200);
    weft_rt_free(h.rt);
}
END_TEST

/* ---- rule 11: idle workers are woken, none lost ---------------------------- */

static void *fan_out_rounds(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned r = 0; r < n; r++) {
        /* Everyone idle, then a burst: each burst needs an idle worker woken,
         * or the test waits forever. */
        weft_sleep(1000);
        weft_task *t[4];
        for (int i = 0; i < 4; i++)
            ck_assert_weft(weft_spawn(&t[i], finishes_soon, NULL), 0);
        for (int i = 0; i < 4; i++)
            ck_assert_weft(weft_join(t[i], NULL), 0);
    }
    return NULL;
}

START_TEST(rule11_idle_workers_wake_for_new_work)
{
    weft_config c = workers_config(4);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, fan_out_rounds, (void *)(uintptr_t)rounds(2000), NULL), 0);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_gt(st.parks, 0);
    weft_rt_free(rt);
}
END_TEST

/* Rule 11's quiet cases. Once the other worker sleeps, `step` runs `times`
 * times on one worker and must wake nobody: the sleeper takes no task and
 * does not even look (no park counted). */
typedef struct quiet_run {
    weft_rt *rt;
    void (*step)(void);
    unsigned times;
    uint64_t steals, parks; /* during the steps */
} quiet_run;

/* From a task of a 2-worker runtime: wait, a millisecond at a time, until
 * the worker it is not on sleeps (its parker says so, its park counted).
 * A fixed time is not enough: under helgrind, beside another valgrind run
 * on two cores, a thread may not run for longer than any such time. The
 * bound is hang protection only. On return the task runs on the worker
 * that stays awake, with no suspension since the look. */
static void wait_until_the_other_worker_sleeps(weft_rt *rt)
{
    for (unsigned ms = 0;; ms++) {
        unsigned other = 1u - weft__tls_worker->index;
        uint32_t st = weft__ld(&weft__thr_of(rt)->tw[other].parker.state, WEFT__ACQUIRE);
        if (st == WEFT__PARK_PARKED || st == WEFT__PARK_IN_REACTOR)
            return;
        ck_assert_msg(ms < 60000, "worker %u did not go to sleep within a minute", other);
        ck_assert_weft(weft_sleep(1000000), 0);
    }
}

static void *steps_after_a_rest(void *arg)
{
    quiet_run *q = arg;
    /* The other worker goes to sleep meanwhile. */
    wait_until_the_other_worker_sleeps(q->rt);
    weft_rt_stats before, after;
    ck_assert_weft(weft_rt_stats_get(q->rt, &before), 0);
    for (unsigned i = 0; i < q->times; i++)
        q->step();
    ck_assert_weft(weft_rt_stats_get(q->rt, &after), 0);
    q->steals = after.steals - before.steals;
    q->parks = after.parks - before.parks;
    return NULL;
}

/* The steps run in a spawned task: the root is pinned, and a pinned task is
 * offered to no one anyway. */
static void *spawn_stepper(void *arg)
{
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, steps_after_a_rest, arg), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

static void assert_nobody_woken(void (*step)(void), const char *what)
{
    weft_config c = workers_config(2);
    quiet_run q = {NULL, step, rounds(20000), 0, 0};
    ck_assert_weft(weft_rt_new(&q.rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(q.rt, spawn_stepper, &q, NULL), 0);
    ck_assert_msg(q.steals == 0 && q.parks == 0, "%u %s: %llu stolen, %llu parks", q.times, what,
                  (unsigned long long)q.steals, (unsigned long long)q.parks);
    weft_rt_free(q.rt);
}

static void *returns_at_once(void *arg)
{
    return arg;
}

/* A link of a chain of spawn and join: the child is put into the LIFO slot,
 * and its parent woken into it. */
static void spawn_and_join_one(void)
{
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, returns_at_once, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
}

/* A task put into its own worker's empty LIFO slot wakes nobody: that worker
 * runs it next. With a wake per link the sleeper was woken thousands of
 * times. */
START_TEST(rule11_a_task_in_its_workers_lifo_slot_wakes_nobody)
{
    assert_nobody_woken(spawn_and_join_one, "links");
}
END_TEST

/* Nor does a yield on real threads: the yielded task is no new work. With an
 * offer per yield the sleeper was woken, and stole the yielder. */
START_TEST(rule11_a_yield_wakes_nobody)
{
    assert_nobody_woken(weft_yield, "yields");
}
END_TEST

/* A task woken into its worker's LIFO slot while that worker's task then
 * runs on without returning to its loop (here a CPU loop; a blocking call
 * is the same) is stolen by the other worker, asleep until then: its watch
 * (THREADING.md rule 11). Without it the woken task waited as long as the
 * spinner ran (tokio#4941). */
typedef struct stuck_slot {
    weft_event ev;
    atomic_bool ran;
    long waiter_tid, spinner_tid;
    bool saw_run;
    bool timer_beside;  /* a task of worker 1 sleeps ten minutes meanwhile */
} stuck_slot;

/* Both workers go to sleep meanwhile (slowly under the tools). */
static uint64_t settle_ns(void)
{
    return (under_valgrind() || under_tsan() ? 500u : 50u) * 1000000ull;
}

/* Spin with no call into the runtime until *flag is set: true if it was.
 * The bound is only hang protection, not a measure of speed. */
static bool spin_until(atomic_bool *flag)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (atomic_load(flag))
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 60)
            return false;
        sched_yield();
    }
}

static void *waits_then_flags(void *arg)
{
    stuck_slot *s = arg;
    ck_assert_weft(weft_event_wait(&s->ev), 0);
    s->waiter_tid = os_tid();
    atomic_store(&s->ran, true);
    return NULL;
}

static void *wakes_then_spins(void *arg)
{
    stuck_slot *s = arg;
    weft_sleep(settle_ns());
    s->spinner_tid = os_tid();
    /* The waiter goes to this worker's LIFO slot and wakes nobody. */
    ck_assert_weft(weft_event_set(&s->ev), 0);
    s->saw_run = spin_until(&s->ran);
    return NULL;
}

static void *sleeps_ten_minutes(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_sleep(600ull * 1000000000ull);
}

static void *wake_then_spin_root(void *arg)
{
    stuck_slot *s = arg;
    weft_task *waiter, *spinner, *holder = NULL;
    weft_spawn_opts on0 = {.flags = WEFT_SPAWN_PINNED, .worker = 0};
    weft_spawn_opts on1 = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    if (s->timer_beside)
        ck_assert_weft(weft_spawn_ex(&holder, sleeps_ten_minutes, NULL, &on1), 0);
    ck_assert_weft(weft_spawn(&waiter, waits_then_flags, s), 0);
    ck_assert_weft(weft_spawn_ex(&spinner, wakes_then_spins, s, s->timer_beside ? &on0 : NULL), 0);
    ck_assert_weft(weft_join(spinner, NULL), 0);
    ck_assert_weft(weft_join(waiter, NULL), 0);
    if (holder) {
        void *slept;
        ck_assert_weft(weft_cancel(holder), 0);
        ck_assert_weft(weft_join(holder, &slept), WEFT_ECANCELED);
        ck_assert_int_eq((int)(intptr_t)slept, WEFT_ECANCELED);
    }
    return NULL;
}

static weft_rt *watching_runtime(void)
{
    static const weft_engine_config watching = {.workers = 2, .flags = WEFT_ENGINE_WATCH_LIFO};
    weft_config c = workers_config(2);
    c.engines = &watching;
    c.nengines = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    return rt;
}

static void check_stuck_slot_is_stolen(bool timer_beside)
{
    weft_rt *rt = watching_runtime();
    stuck_slot s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.ran, false);
    s.timer_beside = timer_beside;
    ck_assert_weft(weft_event_init(&s.ev, 0), 0);
    ck_assert_weft(weft_rt_block_on(rt, wake_then_spin_root, &s, NULL), 0);
    ck_assert_msg(s.saw_run, "the woken task waited in the spinning worker's LIFO slot");
    ck_assert_int_ne(s.waiter_tid, s.spinner_tid);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_gt(st.steals, 0);
    ck_assert_weft(weft_event_destroy(&s.ev), 0);
    weft_rt_free(rt);
}

START_TEST(rule11_a_task_left_in_a_busy_workers_lifo_slot_is_stolen)
{
    check_stuck_slot_is_stolen(false);
}
END_TEST

/* The same with the other worker asleep until a timer of its own (ten
 * minutes away) rather than with no deadline: the worker leaving its park
 * kicks it to watch too. Before, only a sleeper with no deadline was
 * kicked, and the woken task waited for that timer. */
START_TEST(rule11_a_peer_asleep_until_its_own_timer_is_kicked_to_watch)
{
    check_stuck_slot_is_stolen(true);
}
END_TEST

/* A sleeper kicked to watch still wakes for its own timer: worker 1's task
 * sleeps 20 settle times; worker 0's, after one, wakes a waiter into its
 * LIFO slot and spins until both the waiter and the sleeper have run.
 * Worker 1 must steal the waiter before its timer is due and still end its
 * watch at that timer. (The code before the kick passed this too: there
 * worker 1 woke before its timer anyway, most likely for its wheel's
 * cascade of a 1 s deadline. The 10-minute timer above needs the kick.) */
typedef struct kicked_timer {
    weft_event ev;
    atomic_bool woke, ran;
    bool ran_before_wake, saw_both;
    long sleeper_tid, spinner_tid, waiter_tid;
} kicked_timer;

static void *sleeps_then_flags(void *arg)
{
    kicked_timer *k = arg;
    ck_assert_weft(weft_sleep(20 * settle_ns()), 0);
    k->sleeper_tid = os_tid();
    atomic_store(&k->woke, true);
    return NULL;
}

static void *waits_for_the_spinner(void *arg)
{
    kicked_timer *k = arg;
    ck_assert_weft(weft_event_wait(&k->ev), 0);
    k->ran_before_wake = !atomic_load(&k->woke);
    k->waiter_tid = os_tid();
    atomic_store(&k->ran, true);
    return NULL;
}

static void *settles_wakes_then_spins(void *arg)
{
    kicked_timer *k = arg;
    ck_assert_weft(weft_sleep(settle_ns()), 0);
    k->spinner_tid = os_tid();
    ck_assert_weft(weft_event_set(&k->ev), 0);
    k->saw_both = spin_until(&k->ran) && spin_until(&k->woke);
    return NULL;
}

static void *kicked_timer_root(void *arg)
{
    weft_task *sleeper, *waiter, *spinner;
    weft_spawn_opts on0 = {.flags = WEFT_SPAWN_PINNED, .worker = 0};
    weft_spawn_opts on1 = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    ck_assert_weft(weft_spawn_ex(&sleeper, sleeps_then_flags, arg, &on1), 0);
    ck_assert_weft(weft_spawn(&waiter, waits_for_the_spinner, arg), 0);
    ck_assert_weft(weft_spawn_ex(&spinner, settles_wakes_then_spins, arg, &on0), 0);
    ck_assert_weft(weft_join(spinner, NULL), 0);
    ck_assert_weft(weft_join(waiter, NULL), 0);
    ck_assert_weft(weft_join(sleeper, NULL), 0);
    return NULL;
}

START_TEST(rule11_a_sleeper_kicked_to_watch_steals_before_its_timer_and_keeps_it)
{
    weft_rt *rt = watching_runtime();
    kicked_timer k;
    memset(&k, 0, sizeof k);
    atomic_init(&k.woke, false);
    atomic_init(&k.ran, false);
    ck_assert_weft(weft_event_init(&k.ev, 0), 0);
    ck_assert_weft(weft_rt_block_on(rt, kicked_timer_root, &k, NULL), 0);
    ck_assert_msg(k.saw_both, "the slot's task or the sleeper's timer waited while the other worker was busy");
    ck_assert_msg(k.ran_before_wake, "the slot's task waited for the sleeping worker's own timer");
    ck_assert_int_eq(k.waiter_tid, k.sleeper_tid); /* stolen by the kicked worker */
    ck_assert_int_ne(k.sleeper_tid, k.spinner_tid);
    ck_assert_weft(weft_event_destroy(&k.ev), 0);
    weft_rt_free(rt);
}
END_TEST

Suite *suite_threading(void)
{
    Suite *s = suite_create("threading");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, rule1_serial_is_decided_by_the_runtime);
    tcase_add_test(tc, rule2_unpinned_tasks_migrate_between_worker_threads);
    tcase_add_test(tc, rule3_a_wake_while_parking_is_never_lost);
    tcase_add_test(tc, rule4_join_and_cancel_never_wake_a_task_twice);
    tcase_add_test(tc, rule5_cancel_from_another_worker_ends_a_timed_wait_once);
    tcase_add_test(tc, rule6_join_and_detach_race_the_end_safely);
    tcase_add_test(tc, rule10_live_count_adds_up_across_workers_and_at_shutdown);
    tcase_add_test(tc, rule10_one_thread_at_a_time_runs_a_runtime);
    tcase_add_test(tc, rule7_timers_are_disarmed_from_another_worker);
    tcase_add_test(tc, rule8_task_records_and_stacks_are_shared_by_workers);
    tcase_add_test(tc, rule9_a_pthread_feeds_a_channel_and_nothing_is_lost);
    tcase_add_test(tc, rule9_everything_else_is_refused_with_eperm);
    tcase_add_test(tc, rule9_a_task_of_another_runtime_may_not_stop_or_rearm_a_timer);
    tcase_add_test(tc, rule9_foreign_threads_hand_in_work_with_weft_rt_spawn);
    tcase_add_test(tc, rule9_a_running_simulation_refuses_a_foreign_threads_spawn_and_wakes);
    tcase_add_test(tc, rule9_hand_ins_racing_a_simulations_runs_are_all_run_or_refused);
    tcase_add_test(tc, rule11_idle_workers_wake_for_new_work);
    tcase_add_test(tc, rule11_a_task_in_its_workers_lifo_slot_wakes_nobody);
    tcase_add_test(tc, rule11_a_yield_wakes_nobody);
    tcase_add_test(tc, rule11_a_task_left_in_a_busy_workers_lifo_slot_is_stolen);
    tcase_add_test(tc, rule11_a_peer_asleep_until_its_own_timer_is_kicked_to_watch);
    tcase_add_test(tc, rule11_a_sleeper_kicked_to_watch_steals_before_its_timer_and_keeps_it);
    suite_add_tcase(s, tc);
    return s;
}
