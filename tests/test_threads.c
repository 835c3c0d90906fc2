/* test_threads.c — the multi-threaded runtime as users meet it: engines and
 * their configuration (and every bad configuration refused with a message
 * naming the field), dedicated workers that never let a task leave their
 * thread, the blocking pool, the reader-writer lock, the notifier and
 * task-local storage, a mixed stress over 2–8 workers (oversubscribed on
 * this machine's cores), and ten million tasks spawned and joined on two
 * workers with every count checked. */
#define _GNU_SOURCE
#include "core.h"
#include "support.h"
#include "weft/io.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long os_tid(void)
{
    return (long)syscall(SYS_gettid);
}

static weft_config threads(unsigned workers)
{
    weft_config c = threaded_config();
    c.workers = workers;
    return c;
}

static unsigned scaled(unsigned n)
{
    return under_valgrind() ? n / 100 + 1 : under_tsan() ? n / 10 + 1 : n;
}

/* ---- engines: configuration and bad input ---------------------------------- */

static int new_with(const weft_engine_config *e, unsigned n, weft_mode mode)
{
    weft_config c = test_config(1, 0);
    c.mode = mode;
    c.workers = 0;
    c.engines = e;
    c.nengines = n;
    weft_rt *rt = NULL;
    int r = weft_rt_new(&rt, &c);
    if (r == 0)
        weft_rt_free(rt);
    else
        ck_assert_ptr_null(rt);
    return r;
}

START_TEST(bad_engine_configurations_are_refused)
{
    weft_engine_config e = {0};
    e.workers = 1;
    for (int m = 0; m < 2; m++) {
        weft_mode mode = m ? WEFT_MODE_THREADED : WEFT_MODE_SIM;
        weft_config c = test_config(1, 0);
        c.mode = mode;
        weft_rt *rt;
        c.engines = &e;
        c.nengines = 0; /* zero engines */
        ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
        weft_engine_config two[2] = {e, e};
        ck_assert_weft(new_with(two, 2, mode), WEFT_EINVAL); /* two named "default" */
        weft_engine_config bad = e;
        bad.policy = (weft_policy)9;
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.nice = 40;
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.sched_policy = SCHED_FIFO;
        bad.sched_priority = 1000;
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.sched_priority = 5; /* a level needs FIFO or RR */
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        int neg = -1;
        bad = e;
        bad.cpus = &neg;
        bad.ncpus = 1;
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.ncpus = 1; /* no array */
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.flags = 0x80u; /* no such flag */
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.thread_name = "a-name-too-long-for-linux";
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
        bad = e;
        bad.workers = WEFT_WORKERS_MAX;
        bad.dedicated = 1;
        ck_assert_weft(new_with(&bad, 1, mode), WEFT_EINVAL);
    }
    /* What only the OS can refuse, refused by it: a CPU this machine does
     * not have, real-time scheduling without the privilege for it. */
    weft_engine_config bad = e;
    int far = 1000; /* a CPU number, but not one this machine has */
    bad.cpus = &far;
    bad.ncpus = 1;
    ck_assert_weft(new_with(&bad, 1, WEFT_MODE_THREADED), WEFT_EINVAL);
    ck_assert_weft(new_with(&bad, 1, WEFT_MODE_SIM), 0); /* checked, not applied, in simulation */
    struct rlimit none = {0, 0}, was;
    ck_assert_int_eq(getrlimit(RLIMIT_RTPRIO, &was), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* Unprivileged for real-time: drop the capability's stand-in. */
        if (setrlimit(RLIMIT_RTPRIO, &none) != 0)
            _exit(2);
        if (geteuid() == 0) {
            /* root has CAP_SYS_NICE whatever the limit: become nobody. */
            if (setuid(65534) != 0)
                _exit(3);
        }
        weft_engine_config rt = e;
        rt.sched_policy = SCHED_FIFO;
        rt.sched_priority = 10;
        _exit(new_with(&rt, 1, WEFT_MODE_THREADED) == WEFT_EPERM ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SCHED_FIFO without privilege was not refused");
    /* The process goes on: a good runtime right after. */
    weft_engine_config ok = e;
    ok.workers = 2;
    ck_assert_weft(new_with(&ok, 1, WEFT_MODE_THREADED), 0);
}
END_TEST

typedef struct where {
    char name[32];
    long tid;
} where;

static void *report_where(void *arg)
{
    where *w = arg;
    w->tid = os_tid();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", w->tid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(w->name, sizeof w->name, f));
    fclose(f);
    w->name[strcspn(w->name, "\n")] = 0;
    return NULL;
}

static void *spawn_on_engines(void *arg)
{
    where *w = arg;
    const char *engines[3] = {"io", "compute", "io"};
    weft_spawn_opts o[3] = {{.engine = "io"}, {.engine = "compute"}, {.engine = "io", .flags = WEFT_SPAWN_DEDICATED}};
    for (int i = 0; i < 3; i++) {
        weft_task *t;
        ck_assert_weft(weft_spawn_ex(&t, report_where, &w[i], &o[i]), 0);
        ck_assert_weft(weft_join(t, NULL), 0);
        (void)engines;
    }
    weft_spawn_opts nope = {.engine = "gpu"};
    ck_assert_weft(weft_spawn_ex(NULL, report_where, &w[0], &nope), WEFT_EINVAL);
    weft_spawn_opts ded = {.engine = "compute", .flags = WEFT_SPAWN_DEDICATED};
    ck_assert_weft(weft_spawn_ex(NULL, report_where, &w[0], &ded), WEFT_EINVAL); /* it has none */
    return NULL;
}

START_TEST(tasks_run_on_the_engine_they_are_spawned_onto)
{
    int cpu0 = 0;
    weft_engine_config e[2] = {
        {.name = "io", .workers = 1, .dedicated = 1, .thread_name = "io"},
        {.name = "compute", .workers = 2, .policy = WEFT_POLICY_GLOBAL, .thread_name = "cpu", .cpus = &cpu0,
         .ncpus = 1, .nice = 1},
    };
    weft_config c = threads(0);
    c.engines = e;
    c.nengines = 2;
    where w[3];
    memset(w, 0, sizeof w);
    ck_assert_weft(run_in(&c, spawn_on_engines, w, NULL), 0);
    ck_assert_str_eq(w[0].name, "io-0");
    ck_assert_msg(!strncmp(w[1].name, "cpu-", 4), "compute ran on %s", w[1].name);
    ck_assert_str_eq(w[2].name, "io-d0");
    ck_assert_int_ne(w[0].tid, w[2].tid);
}
END_TEST

/* The longest prefix with two-digit dedicated workers: the number stays
 * whole in Linux's 15 bytes, the prefix gives way. */
static void *name_dedicated(void *arg)
{
    where *w = arg;
    for (unsigned i = 0; i < 12; i++) {
        weft_spawn_opts o = {.flags = WEFT_SPAWN_DEDICATED, .worker = i};
        weft_task *t;
        ck_assert_weft(weft_spawn_ex(&t, report_where, &w[i], &o), 0);
        ck_assert_weft(weft_join(t, NULL), 0);
    }
    return NULL;
}

START_TEST(thread_names_keep_the_worker_number_whole)
{
    weft_engine_config e = {.workers = 1, .dedicated = 12, .thread_name = "twelve-bytes"};
    weft_config c = threads(0);
    c.engines = &e;
    c.nengines = 1;
    where w[12];
    memset(w, 0, sizeof w);
    ck_assert_weft(run_in(&c, name_dedicated, w, NULL), 0);
    ck_assert_str_eq(w[0].name, "twelve-bytes-d0");
    ck_assert_str_eq(w[9].name, "twelve-bytes-d9");
    ck_assert_str_eq(w[10].name, "twelve-byte-d10");
    ck_assert_str_eq(w[11].name, "twelve-byte-d11");
}
END_TEST

/* ---- dedicated workers and pinned tasks never change thread ----------------- */

typedef struct locality {
    weft_mutex m;
    weft_cond cv;
    weft_sem held;   /* a helper holds m or rw now */
    weft_chan *ch;
    weft_rwlock rw;
    weft_notify n;
    weft_sock *udp;  /* the pinned task's; a helper sends to udp_addr */
    char udp_addr[WEFT_ADDR_MAX];
    bool flag;       /* [m] set by the condition's signaller */
    long tid;
    int moved;
    unsigned waits;  /* suspensions checked */
    bool dedicated;
} locality;

static void *helper(void *arg)
{
    locality *l = arg;
    int v = 0;
    weft_chan_send(l->ch, &v);
    return NULL;
}

static void *signal_it(void *arg)
{
    weft_notify_signal(arg);
    return NULL;
}

/* A moment for the pinned task to reach its wait (yields, not a timer: a
 * timer's tick would make each round a millisecond). */
static void pause_a_while(void)
{
    for (int i = 0; i < 20; i++)
        weft_yield();
}

/* Holds the mutex a moment after saying so: the pinned task's lock waits. */
static void *holds_the_mutex(void *arg)
{
    locality *l = arg;
    ck_assert_weft(weft_mutex_lock(&l->m), 0);
    ck_assert_weft(weft_sem_release(&l->held, 1), 0);
    pause_a_while();
    ck_assert_weft(weft_mutex_unlock(&l->m), 0);
    return NULL;
}

static void *holds_the_rwlock(void *arg)
{
    locality *l = arg;
    ck_assert_weft(weft_rwlock_wrlock(&l->rw), 0);
    ck_assert_weft(weft_sem_release(&l->held, 1), 0);
    pause_a_while();
    ck_assert_weft(weft_rwlock_unlock(&l->rw), 0);
    return NULL;
}

static void *signals_the_condition(void *arg)
{
    locality *l = arg;
    pause_a_while();
    ck_assert_weft(weft_mutex_lock(&l->m), 0);
    l->flag = true;
    ck_assert_weft(weft_cond_signal(&l->cv), 0);
    ck_assert_weft(weft_mutex_unlock(&l->m), 0);
    return NULL;
}

static void *sends_a_datagram(void *arg)
{
    locality *l = arg;
    weft_sock *s;
    ck_assert_weft(weft_udp_bind(&s, "127.0.0.1:0"), 0);
    pause_a_while();
    ck_assert_int_eq(weft_udp_send_to(s, "d", 1, l->udp_addr), 1);
    ck_assert_weft(weft_sock_close(s), 0);
    return NULL;
}

static void check_here(locality *l)
{
    l->waits++;
    if (os_tid() != l->tid)
        l->moved++;
}

static weft_task *spawned(weft_fn fn, locality *l)
{
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, fn, l), 0);
    return t;
}

/* Every kind of suspension, each `scaled(1000)` times (1,000 here): after
 * each the task must be on the OS thread it started on. The mutex, the
 * rwlock and the condition are contended (a helper holds them), so their
 * waits really suspend. */
static void *stays_put(void *arg)
{
    locality *l = arg;
    l->tid = os_tid();
    ck_assert_weft(weft_udp_bind(&l->udp, "127.0.0.1:0"), 0);
    ck_assert_int_gt(weft_sock_local_addr(l->udp, l->udp_addr, sizeof l->udp_addr), 0);
    unsigned rounds = scaled(1000);
    for (unsigned i = 0; i < rounds; i++) {
        weft_yield();
        check_here(l);
        ck_assert_weft(weft_sleep(1000), 0);
        check_here(l);
        /* a contended mutex (and a semaphore wait before it) */
        weft_task *h = spawned(holds_the_mutex, l);
        ck_assert_weft(weft_sem_acquire(&l->held), 0);
        check_here(l);
        ck_assert_weft(weft_mutex_lock(&l->m), 0);
        check_here(l);
        ck_assert_weft(weft_mutex_unlock(&l->m), 0);
        ck_assert_weft(weft_join(h, NULL), 0); /* a join */
        check_here(l);
        /* a contended rwlock */
        h = spawned(holds_the_rwlock, l);
        ck_assert_weft(weft_sem_acquire(&l->held), 0);
        ck_assert_weft(weft_rwlock_rdlock(&l->rw), 0);
        check_here(l);
        ck_assert_weft(weft_rwlock_unlock(&l->rw), 0);
        ck_assert_weft(weft_join(h, NULL), 0);
        /* a condition */
        l->flag = false;
        h = spawned(signals_the_condition, l);
        ck_assert_weft(weft_mutex_lock(&l->m), 0);
        while (!l->flag) {
            ck_assert_weft(weft_cond_wait(&l->cv, &l->m), 0);
            check_here(l);
        }
        ck_assert_weft(weft_mutex_unlock(&l->m), 0);
        ck_assert_weft(weft_join(h, NULL), 0);
        /* a channel */
        h = spawned(helper, l);
        int v;
        ck_assert_weft(weft_chan_recv(l->ch, &v), 0);
        check_here(l);
        ck_assert_weft(weft_join(h, NULL), 0);
        /* IO: a datagram that comes after a while */
        h = spawned(sends_a_datagram, l);
        char d;
        ck_assert_int_eq(weft_udp_recv_from(l->udp, &d, 1, NULL, 0), 1);
        check_here(l);
        ck_assert_weft(weft_join(h, NULL), 0);
        /* woken from outside the runtime */
        weft_task *b;
        ck_assert_weft(weft_spawn_blocking(&b, signal_it, &l->n), 0);
        ck_assert_weft(weft_notify_wait(&l->n), 0);
        check_here(l);
        ck_assert_weft(weft_join(b, NULL), 0);
        check_here(l);
    }
    ck_assert_weft(weft_sock_close(l->udp), 0);
    return NULL;
}

static void *run_pinned(void *arg)
{
    locality *l = arg;
    ck_assert_weft(weft_chan_new(&l->ch, sizeof(int), 0), 0);
    /* Busy neighbours, so stealing has every chance to move it. */
    weft_task *noise[4];
    for (int i = 0; i < 4; i++)
        ck_assert_weft(weft_spawn(&noise[i], helper, l), 0);
    weft_spawn_opts o = {.name = "stays", .flags = l->dedicated ? WEFT_SPAWN_DEDICATED : WEFT_SPAWN_PINNED,
                         .worker = l->dedicated ? 0 : 1};
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, stays_put, l, &o), 0);
    for (int i = 0; i < 4; i++) {
        int v;
        ck_assert_weft(weft_chan_recv(l->ch, &v), 0);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_weft(weft_join(noise[i], NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_chan_free(l->ch), 0);
    return NULL;
}

START_TEST(dedicated_and_pinned_tasks_resume_on_their_thread_after_every_wait)
{
    for (int dedicated = 0; dedicated < 2; dedicated++) {
        weft_engine_config e = {.workers = 3, .dedicated = 1};
        weft_config c = threads(0);
        c.engines = &e;
        c.nengines = 1;
        locality l;
        memset(&l, 0, sizeof l);
        ck_assert_weft(weft_mutex_init(&l.m), 0);
        ck_assert_weft(weft_cond_init(&l.cv), 0);
        ck_assert_weft(weft_sem_init(&l.held, 0), 0);
        ck_assert_weft(weft_rwlock_init(&l.rw), 0);
        ck_assert_weft(weft_notify_init(&l.n), 0);
        l.dedicated = dedicated;
        ck_assert_weft(run_in(&c, run_pinned, &l, NULL), 0);
        ck_assert_msg(l.moved == 0, "the %s task changed OS thread %d times", dedicated ? "dedicated" : "pinned",
                      l.moved);
        ck_assert_uint_ge(l.waits, 10 * scaled(1000)); /* 10 kinds a round, and the condition's */
    }
}
END_TEST

/* ---- the blocking pool -------------------------------------------------------- */

static atomic_int g_release, g_ran;

static void *blocks_a_while(void *arg)
{
    usleep(2000);
    return arg;
}

static void *blocks_until_released(void *arg)
{
    while (!atomic_load(&g_release))
        usleep(200);
    return arg;
}

static void *counts_if_run(void *arg)
{
    atomic_fetch_add(&g_ran, 1);
    return arg;
}

static void *uses_the_pool(void *arg)
{
    int pool_max = (int)(intptr_t)arg;
    enum { N = 16 };
    weft_task *t[N];
    long worker_tid = syscall(SYS_gettid);
    for (intptr_t i = 0; i < N; i++)
        ck_assert_weft(weft_spawn_blocking(&t[i], blocks_a_while, (void *)i), 0);
    /* The worker is not blocked meanwhile. */
    weft_yield();
    ck_assert_int_eq(syscall(SYS_gettid), worker_tid);
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        ck_assert_weft(weft_join(t[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)i);
    }
    /* Every pool thread busy, so the next call queues; cancelled there, it
     * never runs, and its join says so. */
    atomic_store(&g_release, 0);
    atomic_store(&g_ran, 0);
    weft_task **busy = calloc((size_t)pool_max + 1, sizeof *busy);
    for (int i = 0; i < pool_max; i++)
        ck_assert_weft(weft_spawn_blocking(&busy[i], blocks_until_released, NULL), 0);
    weft_task *c;
    ck_assert_weft(weft_spawn_blocking(&c, counts_if_run, (void *)1), 0);
    ck_assert_weft(weft_cancel(c), 0);
    atomic_store(&g_release, 1);
    void *r = (void *)99;
    ck_assert_weft(weft_join(c, &r), WEFT_ECANCELED);
    ck_assert_ptr_null(r);
    for (int i = 0; i < pool_max; i++)
        ck_assert_weft(weft_join(busy[i], NULL), 0);
    free(busy);
    ck_assert_int_eq(atomic_load(&g_ran), 0);
    ck_assert_weft(weft_spawn_blocking(NULL, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_spawn_blocking(NULL, blocks_a_while, NULL), 0); /* detached */
    return NULL;
}

START_TEST(blocking_calls_run_off_the_workers_and_join_like_tasks)
{
    /* (64: the pool's bound, WEFT__BLOCKING_THREADS_MAX.) */
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_config c = threads(workers);
        ck_assert_weft(run_in(&c, uses_the_pool, (void *)(intptr_t)64, NULL), 0);
    }
    /* In simulation a call is an ordinary task, and one cancelled before it
     * starts never runs there either (one worker: the root holds it, so the
     * call is still queued when it is cancelled). */
    weft_config s = test_config(1, 1);
    ck_assert_weft(run_in(&s, uses_the_pool, (void *)(intptr_t)0, NULL), 0);
    ck_assert_weft(weft_spawn_blocking(NULL, blocks_a_while, NULL), WEFT_EPERM);
}
END_TEST

/* Two calls queued back to back while one pool thread is idle: the second
 * gets a thread of its own. When both saw the one idle thread, the second
 * queued behind the first, which here waits for it: never returned. */
static atomic_int g_second_ran;

static void *waits_for_the_second_call(void *arg)
{
    (void)arg;
    /* Hang protection only: the second call runs beside this one at once. */
    for (unsigned i = 0; i < 600000 && !atomic_load(&g_second_ran); i++)
        usleep(100);
    return (void *)(intptr_t)atomic_load(&g_second_ran);
}

static void *second_call(void *arg)
{
    atomic_store(&g_second_ran, 1);
    return arg;
}

static void *two_calls_with_one_idle_thread(void *arg)
{
    (void)arg;
    weft_task *a, *b;
    /* One pool thread, idle once its call is joined and it waits again. */
    ck_assert_weft(weft_spawn_blocking(&a, returns_arg, NULL), 0);
    ck_assert_weft(weft_join(a, NULL), 0);
    usleep(1000);
    atomic_store(&g_second_ran, 0);
    ck_assert_weft(weft_spawn_blocking(&a, waits_for_the_second_call, NULL), 0);
    ck_assert_weft(weft_spawn_blocking(&b, second_call, NULL), 0);
    void *r = NULL;
    ck_assert_weft(weft_join(a, &r), 0);
    ck_assert_msg(r == (void *)1, "the second blocking call waited behind the first");
    ck_assert_weft(weft_join(b, NULL), 0);
    return NULL;
}

START_TEST(a_call_queued_while_the_idle_thread_wakes_for_another_gets_its_own)
{
    for (unsigned round = 0; round < (under_valgrind() ? 4u : 20u); round++) {
        weft_config c = threads(1 + round % 2);
        ck_assert_weft(run_in(&c, two_calls_with_one_idle_thread, NULL, NULL), 0);
    }
}
END_TEST

/* A blocking call whose pool cannot be had (no memory for it) ends at once
 * with WEFT_ENOMEM: it never runs, on the pool or on a worker, and it leaves
 * no external wait counted behind it (a later deadlock is still reported,
 * not slept through). */
static counting_alloc g_pool_alloc;
static atomic_int g_ran_anyway;

static void *must_not_run(void *arg)
{
    atomic_store(&g_ran_anyway, 1);
    return arg;
}

static void *blocking_without_memory(void *arg)
{
    (void)arg;
    weft_task *t;
    /* A record to reuse, so only the pool's own allocation is left to fail. */
    ck_assert_weft(weft_spawn(&t, returns_arg, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    g_pool_alloc.fail_from = g_pool_alloc.calls + 1;
    ck_assert_weft(weft_spawn_blocking(&t, must_not_run, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), WEFT_ENOMEM);
    g_pool_alloc.fail_from = 0;
    ck_assert_msg(atomic_load(&g_ran_anyway) == 0, "the call ran on a worker although it had no pool to run on");
    waits_forever(NULL); /* every worker asleep, nothing counted outside: a deadlock */
    return NULL;
}

START_TEST(a_blocking_call_with_no_pool_ends_with_enomem_and_leaves_nothing_counted)
{
    counting_alloc_init(&g_pool_alloc);
    atomic_init(&g_ran_anyway, 0);
    weft_config c = threads(1);
    c.allocator = &g_pool_alloc.a;
    ck_assert_weft(run_in(&c, blocking_without_memory, NULL, NULL), WEFT_EDEADLK);
}
END_TEST

/* ---- reader-writer lock ----------------------------------------------------------- */

typedef struct rwcase {
    weft_rwlock l;
    atomic_int readers_in, writers_in;
    weft_event both_in;
    long shared;
    int iters;
} rwcase;

static void *reader(void *arg)
{
    rwcase *c = arg;
    for (int i = 0; i < c->iters; i++) {
        ck_assert_weft(weft_rwlock_rdlock(&c->l), 0);
        atomic_fetch_add(&c->readers_in, 1);
        ck_assert_int_eq(atomic_load(&c->writers_in), 0);
        if (i % 5 == 0)
            weft_yield();
        atomic_fetch_sub(&c->readers_in, 1);
        ck_assert_weft(weft_rwlock_unlock(&c->l), 0);
    }
    return NULL;
}

static void *writer(void *arg)
{
    rwcase *c = arg;
    for (int i = 0; i < c->iters; i++) {
        ck_assert_weft(weft_rwlock_wrlock(&c->l), 0);
        ck_assert_int_eq(atomic_fetch_add(&c->writers_in, 1), 0);
        ck_assert_int_eq(atomic_load(&c->readers_in), 0);
        long v = c->shared;
        if (i % 3 == 0)
            weft_yield();
        c->shared = v + 1;
        atomic_fetch_sub(&c->writers_in, 1);
        ck_assert_weft(weft_rwlock_unlock(&c->l), 0);
    }
    return NULL;
}

/* Two readers hold the lock at once: the first waits, holding it, for the
 * second to get in (a lock that let one reader in at a time would leave
 * both waiting forever). */
static void *first_reader(void *arg)
{
    rwcase *c = arg;
    ck_assert_weft(weft_rwlock_rdlock(&c->l), 0);
    ck_assert_weft(weft_event_wait(&c->both_in), 0);
    ck_assert_weft(weft_rwlock_unlock(&c->l), 0);
    return NULL;
}

static void *second_reader(void *arg)
{
    rwcase *c = arg;
    ck_assert_weft(weft_rwlock_rdlock(&c->l), 0);
    ck_assert_weft(weft_event_set(&c->both_in), 0);
    ck_assert_weft(weft_rwlock_unlock(&c->l), 0);
    return NULL;
}

static void *rw_mix(void *arg)
{
    rwcase *c = arg;
    ck_assert_weft(weft_event_init(&c->both_in, 0), 0);
    weft_task *r1, *r2;
    ck_assert_weft(weft_spawn(&r1, first_reader, c), 0);
    ck_assert_weft(weft_spawn(&r2, second_reader, c), 0);
    ck_assert_weft(weft_join(r1, NULL), 0);
    ck_assert_weft(weft_join(r2, NULL), 0);
    weft_task *t[6];
    for (int i = 0; i < 6; i++)
        ck_assert_weft(weft_spawn(&t[i], i < 4 ? reader : writer, c), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    /* Misuse: unlock what the caller does not hold; write-lock twice. */
    ck_assert_weft(weft_rwlock_unlock(&c->l), WEFT_EPERM);
    ck_assert_weft(weft_rwlock_wrlock(&c->l), 0);
    ck_assert_weft(weft_rwlock_wrlock(&c->l), WEFT_EDEADLK);
    ck_assert_weft(weft_rwlock_destroy(&c->l), WEFT_EBUSY);
    ck_assert_weft(weft_rwlock_rdlock_until(&c->l, weft_now() + 1000), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_rwlock_unlock(&c->l), 0);
    return NULL;
}

START_TEST(rwlock_many_readers_or_one_writer)
{
    weft_config cs[3] = {test_config(2, 4), threads(1), threads(4)};
    for (int k = 0; k < 3; k++) {
        rwcase c;
        memset(&c, 0, sizeof c);
        ck_assert_weft(weft_rwlock_init(&c.l), 0);
        c.iters = (int)scaled(2000);
        ck_assert_weft(run_in(&cs[k], rw_mix, &c, NULL), 0);
        ck_assert_int_eq(c.shared, 2L * c.iters);
        ck_assert_weft(weft_rwlock_destroy(&c.l), 0);
    }
    ck_assert_weft(weft_rwlock_init(NULL), WEFT_EINVAL);
    weft_rwlock l;
    ck_assert_weft(weft_rwlock_init(&l), 0);
    ck_assert_weft(weft_rwlock_rdlock(&l), WEFT_EPERM); /* outside a task */
    ck_assert_weft(weft_rwlock_unlock(&l), WEFT_EPERM);
    ck_assert_weft(weft_rwlock_destroy(&l), 0);
    ck_assert_weft(weft_rwlock_destroy(&l), WEFT_EINVAL);
}
END_TEST

/* Only a holder unlocks: a read hold is a hold of one lock, not a licence to
 * unlock any; a writer is one task of one runtime, not a task id (ids start
 * at 1 in every runtime). */
typedef struct rwhold {
    weft_rwlock a, b;
    weft_event inside, release;
} rwhold;

/* b's real reader: in until told to leave. */
static void *reads_b_until_released(void *arg)
{
    rwhold *h = arg;
    ck_assert_weft(weft_rwlock_rdlock(&h->b), 0);
    ck_assert_weft(weft_event_set(&h->inside), 0);
    ck_assert_weft(weft_event_wait(&h->release), 0);
    ck_assert_weft(weft_rwlock_unlock(&h->b), 0);
    return NULL;
}

/* The root reads a and read-unlocks b, which another task reads: refused,
 * and b is as it was, so a writer still cannot get in past b's reader. */
static void *read_unlocks_a_lock_it_does_not_read(void *arg)
{
    rwhold *h = arg;
    ck_assert_weft(weft_rwlock_init(&h->a), 0);
    ck_assert_weft(weft_rwlock_init(&h->b), 0);
    ck_assert_weft(weft_event_init(&h->inside, 0), 0);
    ck_assert_weft(weft_event_init(&h->release, 0), 0);
    weft_task *r;
    ck_assert_weft(weft_spawn(&r, reads_b_until_released, h), 0);
    ck_assert_weft(weft_event_wait(&h->inside), 0);
    ck_assert_weft(weft_rwlock_rdlock(&h->a), 0);
    ck_assert_weft(weft_rwlock_unlock(&h->b), WEFT_EPERM);
    ck_assert_weft(weft_rwlock_wrlock_until(&h->b, weft_now() + 1000000), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_rwlock_unlock(&h->a), 0); /* its own hold is intact */
    ck_assert_weft(weft_rwlock_unlock(&h->a), WEFT_EPERM);
    ck_assert_weft(weft_rwlock_unlock(&h->b), WEFT_EPERM);
    ck_assert_weft(weft_event_set(&h->release), 0);
    ck_assert_weft(weft_join(r, NULL), 0); /* its unlock of b worked */
    ck_assert_weft(weft_rwlock_wrlock(&h->b), 0);
    ck_assert_weft(weft_rwlock_unlock(&h->b), 0);
    ck_assert_weft(weft_rwlock_destroy(&h->a), 0);
    ck_assert_weft(weft_rwlock_destroy(&h->b), 0);
    return NULL;
}

static void rwhold_reset(void *arg)
{
    memset(arg, 0, sizeof(rwhold));
}

START_TEST(rwlock_read_unlock_of_a_lock_the_task_does_not_read_is_refused)
{
    rwhold h;
    rwhold_reset(&h);
    run_matrix(read_unlocks_a_lock_it_does_not_read, &h, rwhold_reset, 5);
    weft_config c = threads(2);
    ck_assert_weft(run_in(&c, read_unlocks_a_lock_it_does_not_read, &h, NULL), 0);
}
END_TEST

typedef struct rwforeign {
    weft_rwlock l;
    uint64_t writer_id;
} rwforeign;

static void *write_locks_and_ends_holding(void *arg)
{
    rwforeign *f = arg;
    ck_assert_weft(weft_rwlock_wrlock(&f->l), 0);
    f->writer_id = weft_task_id();
    return NULL;
}

static void *write_unlocks_another_runtimes_lock(void *arg)
{
    rwforeign *f = arg;
    ck_assert_uint_eq(weft_task_id(), f->writer_id); /* only the runtime tells them apart */
    ck_assert_weft(weft_rwlock_unlock(&f->l), WEFT_EPERM);
    /* Still held: nobody gets in. */
    ck_assert_weft(weft_rwlock_wrlock_until(&f->l, weft_now() + 1000000), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_rwlock_rdlock_until(&f->l, weft_now() + 1000000), WEFT_ETIMEDOUT);
    return NULL;
}

START_TEST(rwlock_write_unlock_by_a_task_of_another_runtime_with_the_same_id_is_refused)
{
    weft_config cs[2] = {test_config(2, 3), threads(2)};
    for (int k = 0; k < 2; k++) {
        rwforeign f;
        memset(&f, 0, sizeof f);
        ck_assert_weft(weft_rwlock_init(&f.l), 0);
        /* The writer's runtime stays alive while the other one runs: its
         * records are its own. */
        weft_rt *a;
        ck_assert_weft(weft_rt_new(&a, &cs[k]), 0);
        ck_assert_weft(weft_rt_block_on(a, write_locks_and_ends_holding, &f, NULL), 0);
        ck_assert_weft(run_in(&cs[k], write_unlocks_another_runtimes_lock, &f, NULL), 0);
        ck_assert_weft(weft_rwlock_destroy(&f.l), WEFT_EBUSY);
        weft_rt_free(a);
    }
}
END_TEST

/* A task holds up to WEFT__READ_HOLDS_MAX read locks at once; one more is
 * refused (WEFT_EAGAIN) without touching that lock. */
static void *reads_more_locks_than_a_task_may_hold(void *arg)
{
    (void)arg;
    enum { N = WEFT__READ_HOLDS_MAX };
    weft_rwlock l[N + 1];
    for (int i = 0; i <= N; i++)
        ck_assert_weft(weft_rwlock_init(&l[i]), 0);
    for (int i = 0; i < N - 1; i++)
        ck_assert_weft(weft_rwlock_rdlock(&l[i]), 0);
    ck_assert_weft(weft_rwlock_rdlock(&l[0]), 0); /* a second hold of one lock counts too */
    ck_assert_weft(weft_rwlock_rdlock(&l[N]), WEFT_EAGAIN);
    ck_assert_weft(weft_rwlock_wrlock(&l[N]), 0); /* untouched: a writer goes in */
    ck_assert_weft(weft_rwlock_unlock(&l[N]), 0);
    ck_assert_weft(weft_rwlock_unlock(&l[N]), WEFT_EPERM);
    /* Released in any order. */
    ck_assert_weft(weft_rwlock_unlock(&l[N / 2]), 0);
    ck_assert_weft(weft_rwlock_unlock(&l[N / 2]), WEFT_EPERM);
    ck_assert_weft(weft_rwlock_unlock(&l[0]), 0);
    ck_assert_weft(weft_rwlock_destroy(&l[0]), WEFT_EBUSY); /* its second hold */
    ck_assert_weft(weft_rwlock_unlock(&l[0]), 0);
    for (int i = 1; i < N - 1; i++)
        if (i != N / 2)
            ck_assert_weft(weft_rwlock_unlock(&l[i]), 0);
    for (int i = 0; i <= N; i++)
        ck_assert_weft(weft_rwlock_destroy(&l[i]), 0);
    return NULL;
}

START_TEST(rwlock_a_task_holds_a_bounded_number_of_read_locks)
{
    weft_config cs[2] = {test_config(1, 0), threads(2)};
    for (int k = 0; k < 2; k++)
        ck_assert_weft(run_in(&cs[k], reads_more_locks_than_a_task_may_hold, NULL, NULL), 0);
}
END_TEST

/* ---- the notifier ---------------------------------------------------------------- */

typedef struct pinger {
    weft_notify n;
    atomic_int taken;
    int rounds;
} pinger;

static void *signals_from_a_pthread(void *arg)
{
    pinger *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        /* One at a time, after the last was taken: none coalesce, so every
         * one must wake the task. */
        while (atomic_load(&p->taken) != i)
            sched_yield();
        ck_assert_int_eq(weft_notify_signal(&p->n), 0);
    }
    return NULL;
}

static void *waits_for_each(void *arg)
{
    pinger *p = arg;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, signals_from_a_pthread, p), 0);
    for (int i = 0; i < p->rounds; i++) {
        ck_assert_weft(weft_notify_wait(&p->n), 0);
        atomic_fetch_add(&p->taken, 1);
    }
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    /* Signals coalesce: three signals, one wake. */
    ck_assert_weft(weft_notify_signal(&p->n), 0);
    ck_assert_weft(weft_notify_signal(&p->n), 0);
    ck_assert_weft(weft_notify_signal(&p->n), 0);
    ck_assert_weft(weft_notify_wait(&p->n), 0);
    ck_assert_weft(weft_notify_wait_until(&p->n, weft_now() + 1000), WEFT_ETIMEDOUT);
    return NULL;
}

START_TEST(the_notifier_wakes_a_task_from_any_thread)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        pinger p;
        ck_assert_weft(weft_notify_init(&p.n), 0);
        atomic_init(&p.taken, 0);
        p.rounds = (int)scaled(20000);
        weft_config c = threads(workers);
        ck_assert_weft(run_in(&c, waits_for_each, &p, NULL), 0);
        ck_assert_weft(weft_notify_destroy(&p.n), 0);
    }
    ck_assert_weft(weft_notify_wait(NULL), WEFT_EINVAL);
    weft_notify n;
    ck_assert_weft(weft_notify_init(&n), 0);
    ck_assert_weft(weft_notify_wait(&n), WEFT_EPERM);
    ck_assert_weft(weft_notify_signal(&n), 0); /* from here, outside any runtime: allowed */
}
END_TEST

/* ---- stacks: every one in use, in the pool, or in a worker's own cache ------------- */

static void *link_spawns_next(void *arg)
{
    intptr_t left = (intptr_t)arg;
    weft_task *t;
    if (left > 0) {
        ck_assert_weft(weft_spawn(&t, link_spawns_next, (void *)(left - 1)), 0);
        ck_assert_weft(weft_join(t, NULL), 0);
    }
    return NULL;
}

static void *ends_quickly(void *arg)
{
    weft_yield();
    return arg;
}

static void *stacks_root(void *arg)
{
    (void)arg;
    /* A burst that ends tasks on both workers (their stacks stay in the
     * workers' caches, or spill to the pool), then a chain whose stacks
     * nest, so more are mapped than a cache holds. */
    weft_task *t[64];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 64; i++)
            ck_assert_weft(weft_spawn(&t[i], ends_quickly, NULL), 0);
        for (int i = 0; i < 64; i++)
            ck_assert_weft(weft_join(t[i], NULL), 0);
    }
    ck_assert_weft(weft_spawn(&t[0], link_spawns_next, (void *)(intptr_t)40), 0);
    ck_assert_weft(weft_join(t[0], NULL), 0);
    /* Only this task holds a stack now; the other worker has nothing to
     * run, so nothing moves while the counts are read. */
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(weft_rt_current(), &st), 0);
    ck_assert_uint_eq(st.live_tasks, 1);
    ck_assert_uint_gt(st.stacks_mapped, 8u /* WEFT__WORKER_STACKS */);
    ck_assert_uint_eq(st.stacks_cached + 1, st.stacks_mapped);
    return NULL;
}

START_TEST(every_stack_is_in_use_in_the_pool_or_in_a_worker_cache)
{
    weft_config c = threads(2);
    ck_assert_weft(run_in(&c, stacks_root, NULL, NULL), 0);
}
END_TEST

/* ---- external waits: counted where they begin and where they end ----------------- */

/* A task waits on the notifier (a wait only a foreign thread can end) in
 * every round; in the even rounds a task pinned to worker 0 keeps that
 * worker busy, so the wake lands on worker 1, and in the odd rounds both
 * workers sleep and the wake lands on worker 0: the task begins its wait on
 * one worker and ends it on the other. Each worker counts only its own half,
 * so only their sum says whether anything waits outside; once every wait
 * is over and the root waits on an event nobody sets, that sum must be 0,
 * or the runtime would sleep forever instead of reporting the deadlock. */
typedef struct migrant {
    weft_notify n;
    atomic_int round; /* the round the task waits in; -1 before the first */
    atomic_int hog_on;
    int rounds;
    int moved; /* waits that ended on another thread than they began on */
    int done;  /* rounds finished: the deadlock is seen only after the last */
} migrant;

static void *hog(void *arg)
{
    migrant *m = arg;
    while (atomic_load(&m->hog_on))
        sched_yield(); /* the worker stays busy; only the OS gets a turn */
    return NULL;
}

static void *migrates(void *arg)
{
    migrant *m = arg;
    for (int i = 0; i < m->rounds; i++) {
        if (i % 2 == 0) {
            atomic_store(&m->hog_on, 1);
            weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = 0};
            ck_assert_weft(weft_spawn_ex(NULL, hog, m, &o), 0);
        }
        long before = os_tid();
        atomic_store(&m->round, i);
        ck_assert_weft(weft_notify_wait(&m->n), 0);
        m->moved += os_tid() != before;
        atomic_store(&m->hog_on, 0);
        m->done++;
    }
    return NULL;
}

static void *signaller(void *arg)
{
    migrant *m = arg;
    for (int i = 0; i < m->rounds; i++) {
        while (atomic_load(&m->round) < i)
            usleep(100);
        usleep(5000); /* the task is in its wait, and idle workers are asleep */
        ck_assert_weft(weft_notify_signal(&m->n), 0);
    }
    return NULL;
}

static void *migration_root(void *arg)
{
    migrant *m = arg;
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, migrates, m), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    waits_forever(NULL); /* every worker asleep, nothing counted outside: a deadlock */
    return NULL;
}

START_TEST(external_waits_that_move_between_workers_still_let_a_deadlock_be_seen)
{
    migrant m = {.rounds = 9}; /* odd: the last wait begins on one worker and ends on the other */
    ck_assert_weft(weft_notify_init(&m.n), 0);
    atomic_init(&m.round, -1);
    atomic_init(&m.hog_on, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, signaller, &m), 0);
    weft_config c = threads(2);
    ck_assert_weft(run_in(&c, migration_root, &m, NULL), WEFT_EDEADLK);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(m.done, m.rounds);
    ck_assert_msg(m.moved > 0, "no wait ended on another worker than it began on: the test saw no migration");
    ck_assert_weft(weft_notify_destroy(&m.n), 0);
}
END_TEST

/* ---- task-local storage ------------------------------------------------------------ */

static weft_tls_key g_key;
static atomic_int g_dtors;

static void count_dtor(void *v)
{
    free(v);
    atomic_fetch_add(&g_dtors, 1);
}

static void *has_its_own(void *arg)
{
    ck_assert_ptr_null(weft_tls_get(&g_key));
    int *mine = malloc(sizeof *mine);
    *mine = (int)(intptr_t)arg;
    ck_assert_weft(weft_tls_set(&g_key, mine), 0);
    for (int i = 0; i < 20; i++) {
        weft_yield();
        ck_assert_int_eq(*(int *)weft_tls_get(&g_key), (int)(intptr_t)arg);
    }
    return NULL;
}

static void *locals_root(void *arg)
{
    (void)arg;
    weft_task *t[8];
    for (intptr_t i = 0; i < 8; i++)
        ck_assert_weft(weft_spawn(&t[i], has_its_own, (void *)i), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_weft(weft_tls_set(NULL, NULL), WEFT_EINVAL);
    ck_assert_ptr_null(weft_tls_get(&g_key)); /* not inherited */
    return NULL;
}

START_TEST(each_task_has_its_own_locals_and_they_are_destroyed_at_its_end)
{
    ck_assert_weft(weft_tls_key_init(&g_key, count_dtor), 0);
    weft_config cs[2] = {test_config(2, 9), threads(2)};
    for (int k = 0; k < 2; k++) {
        atomic_store(&g_dtors, 0);
        ck_assert_weft(run_in(&cs[k], locals_root, NULL, NULL), 0);
        ck_assert_int_eq(atomic_load(&g_dtors), 8);
    }
    ck_assert_weft(weft_tls_set(&g_key, NULL), WEFT_EPERM); /* outside a task */
    ck_assert_ptr_null(weft_tls_get(&g_key));
    ck_assert_weft(weft_tls_key_init(NULL, NULL), WEFT_EINVAL);
}
END_TEST

/* ---- a mixed stress, oversubscribed -------------------------------------------------- */

typedef struct mixed {
    weft_mutex m;
    weft_rwlock rw;
    weft_chan *a, *b;
    long counter;
    int iters;
} mixed;

static int scoped_child(void *arg)
{
    mixed *x = arg;
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->counter++;
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return 0;
}

static void *mixed_body(void *arg)
{
    mixed *x = arg;
    for (int i = 0; i < x->iters; i++) {
        int v = i;
        weft_select_case cs[2] = {{x->a, WEFT_SELECT_SEND, &v, 0}, {x->b, WEFT_SELECT_SEND, &v, 0}};
        int k = weft_select(cs, 2, WEFT_NO_DEADLINE);
        ck_assert_msg(k == 0 || k == 1, "select returned %d", k);
        ck_assert_weft(weft_rwlock_rdlock(&x->rw), 0);
        ck_assert_weft(weft_rwlock_unlock(&x->rw), 0);
        if (i % 16 == 0) {
            weft_scope s;
            ck_assert_weft(weft_scope_init(&s, 0), 0);
            ck_assert_weft(weft_scope_spawn(&s, scoped_child, x, NULL), 0);
            ck_assert_weft(weft_scope_spawn(&s, scoped_child, x, NULL), 0);
            ck_assert_weft(weft_scope_join(&s), 0);
        }
        if (i % 32 == 0)
            ck_assert_weft(weft_sleep(1000), 0);
    }
    return NULL;
}

static void *drains(void *arg)
{
    weft_chan *ch = arg;
    int v, n = 0;
    while (weft_chan_recv(ch, &v) == 0)
        n++;
    return (void *)(intptr_t)n;
}

static void *sleeps_then_cancelled(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_sleep(3600ull * 1000000000ull);
}

static void *mixed_root(void *arg)
{
    mixed *x = arg;
    ck_assert_weft(weft_chan_new(&x->a, sizeof(int), 4), 0);
    ck_assert_weft(weft_chan_new(&x->b, sizeof(int), 0), 0);
    weft_task *d[2], *w[6], *s;
    ck_assert_weft(weft_spawn(&d[0], drains, x->a), 0);
    ck_assert_weft(weft_spawn(&d[1], drains, x->b), 0);
    ck_assert_weft(weft_spawn(&s, sleeps_then_cancelled, NULL), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_weft(weft_spawn(&w[i], mixed_body, x), 0);
    ck_assert_weft(weft_cancel(s), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_weft(weft_join(w[i], NULL), 0);
    ck_assert_weft(weft_chan_close(x->a), 0);
    ck_assert_weft(weft_chan_close(x->b), 0);
    void *na, *nb, *sr;
    ck_assert_weft(weft_join(d[0], &na), 0);
    ck_assert_weft(weft_join(d[1], &nb), 0);
    ck_assert_int_eq((intptr_t)na + (intptr_t)nb, 6 * x->iters); /* every message received once */
    ck_assert_weft(weft_join(s, &sr), WEFT_ECANCELED);
    ck_assert_int_eq((intptr_t)sr, WEFT_ECANCELED);
    ck_assert_weft(weft_chan_free(x->a), 0);
    ck_assert_weft(weft_chan_free(x->b), 0);
    return NULL;
}

START_TEST(everything_at_once_on_2_to_8_workers)
{
    for (unsigned workers = 2; workers <= 8; workers *= 2) {
        mixed x;
        memset(&x, 0, sizeof x);
        ck_assert_weft(weft_mutex_init(&x.m), 0);
        ck_assert_weft(weft_rwlock_init(&x.rw), 0);
        x.iters = (int)scaled(2000);
        weft_config c = threads(workers);
        ck_assert_weft(run_in(&c, mixed_root, &x, NULL), 0);
        ck_assert_int_eq(x.counter, 6L * ((x.iters + 15) / 16) * 2);
    }
}
END_TEST

/* ---- waiters peek at their object only where it cannot race ------------------------ */

/* Each round, a task on the other worker completes what the root then waits
 * for: a wait group's last done, an event's set, a semaphore's release, a
 * barrier's other party. Their wait calls peeked at the object outside its
 * lock before deciding on a scheduling point, on real threads too: TSan
 * reported the wait group's count read beside weft_wg_done (a data race,
 * whatever the value was used for). */
typedef struct peeked {
    weft_wg wg;
    weft_event ev;
    weft_sem sem;
    weft_barrier bar;
} peeked;

static void *completes_them(void *arg)
{
    peeked *p = arg;
    ck_assert_weft(weft_wg_done(&p->wg), 0);
    ck_assert_weft(weft_event_set(&p->ev), 0);
    ck_assert_weft(weft_sem_release(&p->sem, 1), 0);
    ck_assert_int_ge(weft_barrier_wait(&p->bar), 0);
    return NULL;
}

static void *waits_for_them(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < rounds; i++) {
        peeked p;
        ck_assert_weft(weft_wg_init(&p.wg), 0);
        ck_assert_weft(weft_wg_add(&p.wg, 1), 0);
        ck_assert_weft(weft_event_init(&p.ev, 0), 0);
        ck_assert_weft(weft_sem_init(&p.sem, 0), 0);
        ck_assert_weft(weft_barrier_init(&p.bar, 2), 0);
        weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = weft_worker_index() == 0 ? 1 : 0};
        weft_task *t;
        ck_assert_weft(weft_spawn_ex(&t, completes_them, &p, &o), 0);
        ck_assert_weft(weft_wg_wait(&p.wg), 0);
        ck_assert_weft(weft_event_wait(&p.ev), 0);
        ck_assert_weft(weft_sem_acquire(&p.sem), 0);
        ck_assert_int_ge(weft_barrier_wait(&p.bar), 0);
        ck_assert_weft(weft_join(t, NULL), 0);
        ck_assert_weft(weft_wg_destroy(&p.wg), 0);
        ck_assert_weft(weft_event_destroy(&p.ev), 0);
        ck_assert_weft(weft_sem_destroy(&p.sem), 0);
        ck_assert_weft(weft_barrier_destroy(&p.bar), 0);
    }
    return NULL;
}

START_TEST(waits_racing_their_wakers_on_another_worker_peek_at_nothing)
{
    weft_config c = threads(2);
    ck_assert_weft(run_in(&c, waits_for_them, (void *)(uintptr_t)scaled(2000), NULL), 0);
}
END_TEST

/* ---- a stale handle checked while its record is re-made on another worker ---- */

/* A handle check on one worker reads a record that another worker may be
 * re-making for a new task at that moment: the stale handle must never
 * reach the new task (every check says ESRCH, no new task is cancelled),
 * and the check reads the record's generation and state words and nothing
 * else (the task's init-only bits share a byte that every spawn rewrites).
 * Fails with the generation check taken out. TSan did not report the
 * state read through the record's own serial bit (the workers' other
 * synchronisation orders the two here); THREADING.md rule 8 is the rule. */
typedef struct stale {
    weft_task *handle;
    unsigned rounds;
} stale;

static void *doubled(void *arg)
{
    return (void *)(2 * (uintptr_t)arg);
}

static void *remakes_the_record(void *arg)
{
    stale *x = arg;
    for (unsigned i = 0; i < x->rounds; i++) {
        weft_task *t;
        ck_assert_weft(weft_spawn(&t, doubled, (void *)(uintptr_t)i), 0);
        void *r = NULL;
        ck_assert_weft(weft_join(t, &r), 0);
        ck_assert_ptr_eq(r, (void *)(uintptr_t)(2 * i));
    }
    return NULL;
}

static void *checks_the_stale_handle(void *arg)
{
    stale *x = arg;
    for (unsigned i = 0; i < x->rounds; i++) {
        ck_assert_weft(weft_cancel(x->handle), WEFT_ESRCH);
        if (i % 64 == 63)
            weft_yield();
    }
    return NULL;
}

static void *stale_root(void *arg)
{
    stale *x = arg;
    weft_spawn_opts on0 = {.flags = WEFT_SPAWN_PINNED, .worker = 0};
    weft_spawn_opts on1 = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    /* A record on worker 0's free list whose handle is stale: worker 0's
     * next spawns take it again and again. */
    ck_assert_weft(weft_spawn_ex(&x->handle, doubled, NULL, &on0), 0);
    ck_assert_weft(weft_join(x->handle, NULL), 0);
    weft_task *a, *b;
    ck_assert_weft(weft_spawn_ex(&a, remakes_the_record, x, &on0), 0);
    ck_assert_weft(weft_spawn_ex(&b, checks_the_stale_handle, x, &on1), 0);
    ck_assert_weft(weft_join(a, NULL), 0);
    ck_assert_weft(weft_join(b, NULL), 0);
    return NULL;
}

START_TEST(a_stale_handle_never_reaches_the_task_remade_in_its_record)
{
    weft_config c = threads(2);
    stale x = {NULL, scaled(20000)};
    ck_assert_weft(run_in(&c, stale_root, &x, NULL), 0);
}
END_TEST

/* ---- a chunk's cold array, made by two threads at once ----------------------------------
 * Records of fresh chunks (queued tasks that have not run) have no cold
 * array; two threads released together each ask for the array of one
 * record of the same chunk, chunk after chunk. Both must get the same
 * array (one publishes it, the other frees its own), with no race under
 * TSan and no leak (the allocator's count, ASan, valgrind). White box:
 * the task that first needs its chunk's array does this on its worker. */

#define COLD_CHUNKS 64u

/* Thread-safe counts; while `slow`, each allocation takes ~20 us, so the
 * two threads' looks at the chunk's array both come before either
 * publishes (the window a real race needs, made wide). */
typedef struct slow_alloc {
    weft_allocator a;
    atomic_ullong calls, live;
    atomic_bool slow;
} slow_alloc;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *slow_malloc(void *ctx, size_t size)
{
    slow_alloc *sa = ctx;
    atomic_fetch_add(&sa->calls, 1);
    if (atomic_load(&sa->slow))
        for (uint64_t t0 = mono_ns(); mono_ns() - t0 < 20000;)
            ;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&sa->live, 1);
    return p;
}

static void slow_free(void *ctx, void *p, size_t size)
{
    (void)size;
    slow_alloc *sa = ctx;
    if (p)
        atomic_fetch_sub(&sa->live, 1);
    free(p);
}

typedef struct cold_race {
    weft_rt *rt;
    uint32_t first_slot; /* of the first fresh chunk */
    atomic_uint go, ready;
    weft__task_cold *got[2][COLD_CHUNKS];
} cold_race;

typedef struct cold_racer_arg {
    cold_race *x;
    unsigned id;
} cold_racer_arg;

static void *cold_racer(void *arg)
{
    cold_racer_arg *a = arg;
    cold_race *x = a->x;
    for (unsigned k = 0; k < COLD_CHUNKS; k++) {
        atomic_fetch_add(&x->ready, 1);
        while (atomic_load(&x->go) != k + 1)
            ;
        weft__task *t = weft__task_at(x->rt, x->first_slot + k * WEFT__TASK_CHUNK + a->id * 7u);
        weft__task_cold *c = weft__task_cold_make(t);
        x->got[a->id][k] = c ? c - t->slot % WEFT__TASK_CHUNK : NULL;
    }
    return NULL;
}

static void *joins_all(void *arg)
{
    weft_task **h = arg;
    for (unsigned i = 0; h[i]; i++)
        ck_assert_weft(weft_join(h[i], NULL), 0);
    return NULL;
}

START_TEST(two_threads_making_one_chunks_cold_array_at_once_keep_one)
{
    slow_alloc sa = {.a = {slow_malloc, slow_free, &sa}};
    weft_config c = threads(2);
    c.allocator = &sa.a;
    cold_race x;
    memset(&x, 0, sizeof x);
    ck_assert_weft(weft_rt_new(&x.rt, &c), 0);
    /* Queued, never run: enough records to fill COLD_CHUNKS fresh chunks
     * past the one the first lands in. */
    unsigned n = (COLD_CHUNKS + 1) * WEFT__TASK_CHUNK;
    weft_task **h = calloc(n + 1, sizeof *h);
    ck_assert_ptr_nonnull(h);
    for (unsigned i = 0; i < n; i++)
        ck_assert_weft(weft_rt_spawn(x.rt, &h[i], returns_arg, NULL, NULL), 0);
    x.first_slot = ((uint32_t)(uintptr_t)h[0] / WEFT__TASK_CHUNK + 1) * WEFT__TASK_CHUNK;
    ck_assert_uint_le(x.first_slot + COLD_CHUNKS * WEFT__TASK_CHUNK - 1, (uint32_t)(uintptr_t)h[n - 1]);
    uint64_t before = atomic_load(&sa.calls);
    atomic_store(&sa.slow, true);
    pthread_t th[2];
    cold_racer_arg a[2] = {{&x, 0}, {&x, 1}};
    for (unsigned i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, cold_racer, &a[i]), 0);
    for (unsigned k = 0; k < COLD_CHUNKS; k++) {
        while (atomic_load(&x.ready) < 2 * (k + 1))
            sched_yield(); /* the racers keep both CPUs */
        atomic_store(&x.go, k + 1);
    }
    for (unsigned i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    atomic_store(&sa.slow, false);
    uint64_t made = atomic_load(&sa.calls) - before;
    for (unsigned k = 0; k < COLD_CHUNKS; k++) {
        ck_assert_ptr_nonnull(x.got[0][k]);
        ck_assert_ptr_eq(x.got[0][k], x.got[1][k]);
        if (k)
            ck_assert_ptr_ne(x.got[0][k], x.got[0][k - 1]);
    }
    /* One array per chunk kept; each lost race made one more and gave it back. */
    ck_assert_uint_ge(made, COLD_CHUNKS);
    ck_assert_uint_le(made, 2 * COLD_CHUNKS);
    printf("cold arrays: %u chunks, %llu races lost\n", COLD_CHUNKS, (unsigned long long)(made - COLD_CHUNKS));
    ck_assert_weft(weft_rt_block_on(x.rt, joins_all, h, NULL), 0);
    weft_rt_free(x.rt);
    free(h);
    ck_assert_uint_eq(atomic_load(&sa.live), 0);
}
END_TEST

/* ---- ten million tasks ------------------------------------------------------------------ */

static void *nothing(void *arg)
{
    return arg;
}

static void *spawns_and_joins(void *arg)
{
    uint64_t n = (uint64_t)(uintptr_t)arg, sum = 0;
    enum { BATCH = 1024 };
    weft_task *t[BATCH];
    for (uint64_t done = 0; done < n; done += BATCH) {
        unsigned k = n - done < BATCH ? (unsigned)(n - done) : BATCH;
        for (unsigned i = 0; i < k; i++)
            ck_assert_weft(weft_spawn(&t[i], nothing, (void *)(uintptr_t)1), 0);
        for (unsigned i = 0; i < k; i++) {
            void *r;
            ck_assert_weft(weft_join(t[i], &r), 0);
            sum += (uintptr_t)r;
        }
    }
    return (void *)(uintptr_t)sum;
}

START_TEST(ten_million_tasks_spawned_and_joined_on_two_workers)
{
    uint64_t n = under_valgrind() ? 20000 : under_tsan() ? 100000 : under_asan() ? 1000000 : 10000000;
    weft_config c = threads(2);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    void *sum;
    ck_assert_weft(weft_rt_block_on(rt, spawns_and_joins, (void *)(uintptr_t)n, &sum), 0);
    ck_assert_uint_eq((uintptr_t)sum, n);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.spawned, n + 1);
    ck_assert_uint_eq(st.finished, n + 1);
    ck_assert_uint_eq(st.live_tasks, 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 0);
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_unjoined, 0);
    ck_assert_uint_eq(st.shutdown_abandoned, 0);
    weft_rt_free(rt);
}
END_TEST

Suite *suite_threads(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("engines");
    tcase_add_test(tc, bad_engine_configurations_are_refused);
    tcase_add_test(tc, tasks_run_on_the_engine_they_are_spawned_onto);
    tcase_add_test(tc, thread_names_keep_the_worker_number_whole);
    tcase_add_test(tc, dedicated_and_pinned_tasks_resume_on_their_thread_after_every_wait);
    tcase_add_test(tc, blocking_calls_run_off_the_workers_and_join_like_tasks);
    tcase_add_test(tc, a_call_queued_while_the_idle_thread_wakes_for_another_gets_its_own);
    tcase_add_test(tc, a_blocking_call_with_no_pool_ends_with_enomem_and_leaves_nothing_counted);
    tcase_add_test(tc, rwlock_many_readers_or_one_writer);
    tcase_add_test(tc, rwlock_read_unlock_of_a_lock_the_task_does_not_read_is_refused);
    tcase_add_test(tc, rwlock_write_unlock_by_a_task_of_another_runtime_with_the_same_id_is_refused);
    tcase_add_test(tc, rwlock_a_task_holds_a_bounded_number_of_read_locks);
    tcase_add_test(tc, the_notifier_wakes_a_task_from_any_thread);
    tcase_add_test(tc, every_stack_is_in_use_in_the_pool_or_in_a_worker_cache);
    tcase_add_test(tc, external_waits_that_move_between_workers_still_let_a_deadlock_be_seen);
    tcase_add_test(tc, each_task_has_its_own_locals_and_they_are_destroyed_at_its_end);
    tcase_add_test(tc, everything_at_once_on_2_to_8_workers);
    tcase_add_test(tc, waits_racing_their_wakers_on_another_worker_peek_at_nothing);
    tcase_add_test(tc, a_stale_handle_never_reaches_the_task_remade_in_its_record);
    tcase_add_test(tc, two_threads_making_one_chunks_cold_array_at_once_keep_one);
    tcase_add_test(tc, ten_million_tasks_spawned_and_joined_on_two_workers);
    suite_add_tcase(s, tc);
    return s;
}
