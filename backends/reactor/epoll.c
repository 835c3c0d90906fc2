/* epoll.c — the epoll reactor (the default on Linux). A worker's wait in a
 * reactor is its park; wakes from other threads write an eventfd that is
 * registered edge-triggered and never read, so a wake costs one write and
 * the woken worker makes no extra system call.
 *
 * The workers of an engine that share work (a stealing or global engine of
 * two or more) share one epoll instance, the way tokio's workers share one
 * driver: every descriptor is registered there, and readiness goes to
 * whichever worker looks first, not to a fixed home that may be busy. One
 * idle worker at a time holds it and sleeps in it (the driver); the others
 * sleep on their futex (parker.c). Busy workers take its events every few
 * dozen steps. A worker that shares nothing (a lone worker, per-core,
 * dedicated) has an instance of its own: its tasks run nowhere else.
 *
 * It replaced an instance per worker, where a descriptor lived with the
 * worker that first waited on it and an idle worker took its busy
 * siblings' events before sleeping: the echo server's descriptors all
 * lived with the worker that accepted, which used twice the CPU of the
 * other. Echo at 2 workers, with backend.c's spin off for such workers
 * (scons bench, 5 runs): 183k -> 250k messages/s, p99 761 -> 406 us;
 * tokio 265k, 354 us in the same run. */
#define _GNU_SOURCE
#include "reactor.h"

#include <limits.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Events taken per wait: more simply wait for the next call. */
#define EPOLL_BATCH 256

/* An epoll instance with its wake-up, and who sleeps in it. */
typedef struct epoll_set {
    int epfd;
    int evfd;          /* in epfd, edge-triggered, never read */
    /* [atomic] descriptors added (any thread): raised before each add
     * (lowered again if it fails) and read after each wait that returned
     * events, so the adder's writes (the descriptor's state) reach the
     * thread that takes its events in a way TSan sees, not only through
     * the kernel's locks. */
    weft__a32 adds;
    weft__a32 held;    /* [atomic] a worker sleeps in it (shared sets) */
} epoll_set;

typedef struct epoll_reactor {
    weft__reactor base;
    epoll_set own;   /* a worker that shares nothing: its set */
    epoll_set *set;  /* [init] &own, or the engine's (in its first worker's reactor) */
    bool no_pwait2;  /* the kernel lacks epoll_pwait2: millisecond timeouts */
    struct epoll_event ev[EPOLL_BATCH];
} epoll_reactor;

static void set_close(epoll_set *s)
{
    if (s->evfd >= 0)
        close(s->evfd);
    if (s->epfd >= 0)
        close(s->epfd);
}

static int set_open(epoll_set *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = s->epfd < 0 ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
    if (s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &e) < 0) {
        int err = -errno;
        set_close(s);
        s->epfd = s->evfd = -1;
        return err;
    }
    return 0;
}

/* The engine's first worker (made first) opens the set its siblings use. */
static int ep_create(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen)
{
    epoll_reactor *r = weft__reactor_alloc(rt, w, sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    r->set = &r->own;
    r->base.shared = w->has_peers;
    if (r->base.shared && w != &rt->workers[w->engine->first]) {
        r->own.epfd = r->own.evfd = -1;
        r->set = &((epoll_reactor *)weft__thr_reactor(&rt->workers[w->engine->first]))->own;
    } else {
        int err = set_open(&r->own);
        if (err) {
            snprintf(why, whylen, "epoll set-up failed: %s", strerror(-err));
            weft__free(rt, r, sizeof *r);
            return err;
        }
    }
    *out = &r->base;
    return 0;
}

static void ep_destroy(weft__reactor *base)
{
    epoll_reactor *r = (epoll_reactor *)base;
    set_close(&r->own);
    weft__free(base->rt, r, sizeof *r);
}

static void deliver(const struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        weft__fdstate *st = ev[i].data.ptr;
        if (!st)
            continue; /* the wake-up: waking was all it was for */
        uint32_t e = ev[i].events;
        int ready = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            ready |= WEFT__READY_IN;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            ready |= WEFT__READY_OUT;
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            ready |= WEFT__READY_HUP;
        weft__fdstate_event(st, ready);
    }
}

/* Only the holder sleeps in a shared set: a wake meant for one worker must
 * not be taken by another, and the futex wakes exactly the one it names. */
static bool ep_try_hold(weft__reactor *base)
{
    epoll_reactor *r = (epoll_reactor *)base;
    if (!r->base.shared)
        return true;
    uint32_t free_ = 0;
    return weft__ld(&r->set->held, WEFT__RELAXED) == 0 &&
           weft__cas(&r->set->held, &free_, 1u, WEFT__ACQUIRE, WEFT__RELAXED);
}

static void ep_let_go(weft__reactor *base)
{
    epoll_reactor *r = (epoll_reactor *)base;
    if (r->base.shared)
        weft__st(&r->set->held, 0u, WEFT__RELEASE);
}

static void ep_wait(weft__reactor *base, uint64_t deadline)
{
    epoll_reactor *r = (epoll_reactor *)base;
    uint64_t d = weft__reactor_time_left(base->rt, deadline);
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    const struct timespec *tsp = d == UINT64_MAX ? NULL : &ts;
    int n = -1;
    if (!r->no_pwait2) {
        n = epoll_pwait2(r->set->epfd, r->ev, EPOLL_BATCH, tsp, NULL);
        if (n < 0 && errno == ENOSYS)
            r->no_pwait2 = true;
    }
    if (r->no_pwait2) {
        /* Rounded up: waking early would only spin. */
        int ms = d == UINT64_MAX ? -1 : d / 1000000u >= INT_MAX ? INT_MAX : (int)((d + 999999u) / 1000000u);
        n = epoll_wait(r->set->epfd, r->ev, EPOLL_BATCH, ms);
    }
    if (n > 0) {
        (void)weft__ld(&r->set->adds, WEFT__ACQUIRE);
        deliver(r->ev, n);
    }
}

static void ep_poll(weft__reactor *base)
{
    epoll_reactor *r = (epoll_reactor *)base;
    /* A busy worker polls every few dozen steps: a worker that never had a
     * socket has nothing to deliver and need not pay a system call for it
     * (yield_many paid one every 64 yields: two thirds of its time). It
     * holds a shared set while it polls: a worker that sleeps in the set
     * takes its events itself, and a poll beside it could take the kick
     * meant for it, which would then sleep through its wake-up. */
    if (!weft__ld(&r->set->adds, WEFT__RELAXED) || !ep_try_hold(base))
        return;
    int n = epoll_wait(r->set->epfd, r->ev, EPOLL_BATCH, 0);
    ep_let_go(base);
    if (n > 0) {
        (void)weft__ld(&r->set->adds, WEFT__ACQUIRE);
        deliver(r->ev, n);
    }
}

/* Any thread: ends the wait of whoever sleeps in the set (in a shared set,
 * the holder, which the parker says is the worker being woken; if it let
 * go meanwhile, the next holder wakes once for nothing). */
static void ep_kick(weft__reactor *base)
{
    weft__eventfd_kick(((epoll_reactor *)base)->set->evfd);
}

static int ep_arm(weft__reactor *base, weft__io *op, int ready, uint32_t seq)
{
    epoll_reactor *r = (epoll_reactor *)base;
    weft__fdstate *st = op->h->bk;
    weft__spin_lock(&st->lock);
    if (!st->home && !st->closed) {
        /* Both directions at once, edge-triggered: never touched again. */
        struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = st};
        weft__fetch_add(&r->set->adds, 1u, WEFT__RELEASE);
        if (epoll_ctl(r->set->epfd, EPOLL_CTL_ADD, op->h->fd, &e) < 0) {
            int err = -errno;
            /* Not added: busy workers need not look for it. */
            weft__fetch_sub(&r->set->adds, 1u, WEFT__RELAXED);
            weft__spin_unlock(&st->lock);
            return err;
        }
        st->home = r->set;
    }
    weft__spin_unlock(&st->lock);
    return weft__fdstate_arm(st, op, ready, seq);
}

static bool ep_cancel(weft__io *op)
{
    return weft__fdstate_cancel(op->h->bk, op);
}

const weft__reactor_ops weft__reactor_epoll = {
    .name = "epoll",
    .create = ep_create,
    .destroy = ep_destroy,
    .wait = ep_wait,
    .poll = ep_poll,
    .kick = ep_kick,
    .try_hold = ep_try_hold,
    .let_go = ep_let_go,
    .arm = ep_arm,
    .cancel = ep_cancel,
    .close = NULL,
    .release = NULL,
    .native = NULL,
    .native_files = false,
    .edge = true,
};
