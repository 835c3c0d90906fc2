/* blocking.c — the elastic pool of threads that run calls which block their
 * OS thread (weft_spawn_blocking). Threads start when calls queue and none is
 * idle, up to a bound; an idle thread retires after a while. A queued call is
 * a task record; a pool thread runs it (src/blocking.c) and hands it back to
 * the runtime. */
#define _GNU_SOURCE
#include "threads.h"

#include <limits.h>

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
    weft_list threads;    /* [lock] pool_thread records, joined once done */
    unsigned running;     /* [lock] threads not yet retired */
    unsigned idle;        /* [lock] waiting for a job */
    unsigned notified;    /* [lock] of them, woken for a job and not yet up:
                             a call queued meanwhile needs another thread
                             (tokio's num_notify) */
    bool quit;            /* [lock] */
    weft__a32 signal;     /* futex: moves when a job is queued or on quit */
} weft__blocking_pool;

/* A pool thread. Joined (not detached): its join is the one point after
 * which it touches nothing of the pool, and what the sanitizers see. */
typedef struct pool_thread {
    weft_link link;
    weft__thread th;
    weft__blocking_pool *pool;
    weft__a32 done; /* it returned, or is returning: join it */
} pool_thread;

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
        if (p->notified)
            p->notified--;
        if (r == -ETIMEDOUT && !p->jobs.head)
            break; /* idle for long enough: retire */
    }
    p->running--;
    weft__spin_unlock(&p->lock);
    return NULL;
}

static void *pool_main(void *arg)
{
    pool_thread *self = arg;
    weft__task *t;
    while ((t = next_job(self->pool)) != NULL)
        weft__blocking_run(t);
    weft__st(&self->done, 1u, WEFT__RELEASE);
    return NULL;
}

/* Join the threads that retired (outside the lock: a join may wait for the
 * thread's last instructions). */
static void reap(weft__blocking_pool *p, bool all)
{
    weft_list gone = {NULL, NULL};
    weft__spin_lock(&p->lock);
    for (weft_link *l = p->threads.head; l;) {
        weft_link *next = l->next;
        pool_thread *pt = WEFT_LIST_ENTRY(l, pool_thread, link);
        if (all || weft__ld(&pt->done, WEFT__ACQUIRE)) {
            weft__list_remove(&p->threads, l);
            weft__list_push_tail(&gone, l);
        }
        l = next;
    }
    weft__spin_unlock(&p->lock);
    weft_link *l;
    while ((l = weft__list_pop_head(&gone)) != NULL) {
        pool_thread *pt = WEFT_LIST_ENTRY(l, pool_thread, link);
        weft__thread_join(&pt->th, NULL);
        weft__free(p->rt, pt, sizeof *pt);
    }
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
    pool_thread *pt = p ? weft__calloc(rt, sizeof *pt) : NULL;
    if (!pt) {
        t->finish_status = WEFT_ENOMEM;
        t->flags |= WEFT__F_STARTFAIL; /* the status survives its finish */
        weft__blocking_done(rt, t);
        return;
    }
    reap(p, false);
    pt->pool = p;
    weft__spin_lock(&p->lock);
    weft__list_push_tail(&p->jobs, &t->node.link);
    /* An idle thread not yet woken for an earlier call takes this one;
     * otherwise a new thread does (counting idle threads alone, two calls
     * queued back to back both went to the one idle thread: the second
     * waited behind the first, forever if the first waits for it). */
    bool wake_idle = p->idle > p->notified;
    bool start = !wake_idle && p->running < WEFT__BLOCKING_THREADS_MAX;
    if (wake_idle)
        p->notified++;
    if (start) {
        p->running++;
        weft__list_push_tail(&p->threads, &pt->link);
    }
    weft__fetch_add(&p->signal, 1u, WEFT__RELEASE);
    weft__spin_unlock(&p->lock);
    if (!start) {
        weft__free(rt, pt, sizeof *pt);
        weft__futex_wake(&rt->os, &p->signal, 1);
        return;
    }
    if (weft__thread_start(&pt->th, pool_main, pt) == 0)
        return;
    weft__spin_lock(&p->lock);
    p->running--;
    weft__list_remove(&p->threads, &pt->link);
    /* No thread at all to run it: it ends now, with the error. */
    bool orphan = p->running == 0;
    if (orphan)
        weft__list_remove(&p->jobs, &t->node.link);
    weft__spin_unlock(&p->lock);
    weft__free(rt, pt, sizeof *pt);
    if (orphan) {
        t->finish_status = WEFT_ENOMEM;
        t->flags |= WEFT__F_STARTFAIL;
        weft__blocking_done(rt, t);
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
    reap(p, true);
    weft__free(rt, p, sizeof *p);
    thr->blocking = NULL;
}
