/* blocking.c — the elastic pool of threads that run calls which block their
 * OS thread (weft_spawn_blocking). Threads start when calls queue and none is
 * idle, up to a bound; an idle thread retires after a while. A queued call is
 * a task record; a pool thread runs it (src/blocking.c) and hands it back to
 * the runtime. */
#define _GNU_SOURCE
#include "threads.h"

#include <limits.h>
#include <pthread.h>

/* At most this many threads block at once (Go has no bound; tokio's default
 * is 512): past it, calls wait for a thread rather than exhaust the OS. */
#define WEFT__BLOCKING_THREADS_MAX 64u
/* An idle pool thread retires after 10 s (tokio's keep-alive), so a burst
 * leaves no threads behind for long. */
#define WEFT__BLOCKING_IDLE_NS (10ull * 1000000000ull)

typedef struct weft__blocking_pool {
    weft_rt *rt;
    weft__a32 lock;
    weft_list jobs;       /* [lock] queued task records */
    unsigned threads;     /* [lock] alive */
    unsigned idle;        /* [lock] waiting for a job */
    bool quit;            /* [lock] */
    weft__a32 signal;     /* futex: moves when a job is queued or on quit */
    weft__a32 alive;      /* futex: threads not yet gone (the destroyer waits) */
} weft__blocking_pool;

static weft__task *next_job(weft__blocking_pool *p)
{
    weft_rt *rt = p->rt;
    weft__spin_lock(&p->lock);
    for (;;) {
        weft_link *l = weft__list_pop_head(&p->jobs);
        if (l) {
            weft__spin_unlock(&p->lock);
            return (weft__task *)l;
        }
        if (p->quit)
            break;
        p->idle++;
        uint32_t seen = weft__ld(&p->signal, WEFT__ACQUIRE);
        weft__spin_unlock(&p->lock);
        uint64_t deadline = rt->os.monotonic_ns(rt->os.ctx) + WEFT__BLOCKING_IDLE_NS;
        int r = weft__futex_wait(&rt->os, &p->signal, seen, deadline);
        weft__spin_lock(&p->lock);
        p->idle--;
        if (r == -ETIMEDOUT && !p->jobs.head)
            break; /* idle for long enough: retire */
    }
    p->threads--;
    weft__spin_unlock(&p->lock);
    return NULL;
}

static void *pool_main(void *arg)
{
    weft__blocking_pool *p = arg;
    pthread_detach(pthread_self());
    weft__task *t;
    while ((t = next_job(p)) != NULL)
        weft__blocking_run(t);
    /* Last touch of p: the destroyer may free it (and then the runtime) as
     * soon as the count is seen, so the OS table is copied first. */
    weft_os os = p->rt->os;
    weft__fetch_sub(&p->alive, 1u, WEFT__ACQ_REL);
    weft__futex_wake(&os, &p->alive, INT_MAX);
    return NULL;
}

static weft__blocking_pool *pool_of(weft__thr *thr)
{
    weft_rt *rt = thr->rt;
    if (!thr->blocking) {
        weft__blocking_pool *p = weft__calloc(rt, sizeof *p);
        if (!p)
            return NULL;
        p->rt = rt;
        thr->blocking = p;
    }
    return thr->blocking;
}

/* Called by a task of the runtime (weft_spawn_blocking): one thread at a
 * time per runtime creates the pool, so no lock is needed for that. */
void weft__threads_blocking_submit(weft__worker *w, weft__task *t)
{
    weft_rt *rt = w->rt;
    /* A thread outside the runtime will end its joiner's wait. */
    weft__fetch_add(&rt->external_waits, 1u, WEFT__RELAXED);
    weft__blocking_pool *p = pool_of(weft__thr_of(rt));
    if (!p) {
        t->finish_status = WEFT_ENOMEM;
        weft__blocking_done(rt, t);
        return;
    }
    weft__spin_lock(&p->lock);
    weft__list_push_tail(&p->jobs, &t->node.link);
    bool start = p->idle == 0 && p->threads < WEFT__BLOCKING_THREADS_MAX;
    if (start) {
        p->threads++;
        weft__fetch_add(&p->alive, 1u, WEFT__ACQ_REL);
    }
    weft__fetch_add(&p->signal, 1u, WEFT__RELEASE);
    weft__spin_unlock(&p->lock);
    if (start) {
        weft__thread th;
        if (weft__thread_start(&th, pool_main, p) < 0) {
            weft__spin_lock(&p->lock);
            p->threads--;
            weft__fetch_sub(&p->alive, 1u, WEFT__ACQ_REL);
            /* No thread at all to run it: it ends now, with the error. */
            bool orphan = p->threads == 0;
            if (orphan)
                weft__list_remove(&p->jobs, &t->node.link);
            weft__spin_unlock(&p->lock);
            if (orphan) {
                t->finish_status = WEFT_ENOMEM;
                weft__blocking_done(rt, t);
            }
            return;
        }
    } else {
        weft__futex_wake(&rt->os, &p->signal, 1);
    }
}

void weft__blocking_pool_free(weft__thr *thr)
{
    weft__blocking_pool *p = thr->blocking;
    if (!p)
        return;
    weft_rt *rt = thr->rt;
    weft__spin_lock(&p->lock);
    p->quit = true;
    weft__fetch_add(&p->signal, 1u, WEFT__RELEASE);
    weft__spin_unlock(&p->lock);
    weft__futex_wake(&rt->os, &p->signal, INT_MAX);
    /* A call still blocked in its thread keeps this waiting: its record
     * comes back to a runtime that must still be there. */
    uint32_t n;
    while ((n = weft__ld(&p->alive, WEFT__ACQUIRE)) != 0)
        weft__futex_wait(&rt->os, &p->alive, n, UINT64_MAX);
    weft__free(rt, p, sizeof *p);
    thr->blocking = NULL;
}
