/* poll.c — the portable reactor: poll(2) over the operations armed on this
 * worker, rebuilt at every wait (O(n) in armed operations, which is why it
 * is the fallback and not the default). Wakes from other threads write an
 * eventfd that the wait drains. */
#define _GNU_SOURCE
#include "reactor.h"

#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct poll_reactor {
    weft__reactor base;
    int evfd;
    weft__a32 lock;
    weft_list armed;     /* [lock] ops waiting, by op->link; bk[0] = events */
    size_t narmed;       /* [lock] */
    struct pollfd *pfd;  /* the owner's scratch */
    weft__io **ops;
    size_t cap;
} poll_reactor;

static int pl_create(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen)
{
    poll_reactor *r = weft__reactor_alloc(rt, w, sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->evfd < 0) {
        int err = -errno;
        snprintf(why, whylen, "eventfd failed: %s", strerror(errno));
        weft__free(rt, r, sizeof *r);
        return err;
    }
    *out = &r->base;
    return 0;
}

static void pl_destroy(weft__reactor *base)
{
    poll_reactor *r = (poll_reactor *)base;
    weft_rt *rt = base->rt;
    close(r->evfd);
    if (r->cap) {
        weft__free(rt, r->pfd, r->cap * sizeof *r->pfd);
        weft__free(rt, r->ops, r->cap * sizeof *r->ops);
    }
    weft__free(rt, r, sizeof *r);
}

static bool room(poll_reactor *r, size_t n)
{
    if (n <= r->cap)
        return true;
    weft_rt *rt = r->base.rt;
    size_t cap = r->cap ? r->cap : 64;
    while (cap < n)
        cap *= 2;
    struct pollfd *p = weft__alloc(rt, cap * sizeof *p);
    weft__io **o = weft__alloc(rt, cap * sizeof *o);
    if (!p || !o) {
        if (p)
            weft__free(rt, p, cap * sizeof *p);
        if (o)
            weft__free(rt, o, cap * sizeof *o);
        return false;
    }
    if (r->cap) {
        weft__free(rt, r->pfd, r->cap * sizeof *r->pfd);
        weft__free(rt, r->ops, r->cap * sizeof *r->ops);
    }
    r->pfd = p;
    r->ops = o;
    r->cap = cap;
    return true;
}

/* One poll over the wake descriptor and every armed op. */
static void pl_run(poll_reactor *r, const struct timespec *ts)
{
    weft__spin_lock(&r->lock);
    size_t n = 1;
    if (room(r, r->narmed + 1)) {
        for (weft_link *l = r->armed.head; l; l = l->next) {
            weft__io *op = WEFT_LIST_ENTRY(l, weft__io, link);
            r->pfd[n].fd = op->h->fd;
            r->pfd[n].events = (short)op->bk[0];
            r->pfd[n].revents = 0;
            r->ops[n++] = op;
        }
    } else if (!room(r, 1)) {
        weft__spin_unlock(&r->lock);
        return;
    }
    weft__spin_unlock(&r->lock);
    r->pfd[0].fd = r->evfd;
    r->pfd[0].events = POLLIN;
    r->pfd[0].revents = 0;
    int k = ppoll(r->pfd, n, ts, NULL);
    if (k <= 0)
        return;
    if (r->pfd[0].revents) {
        uint64_t v;
        ssize_t got = read(r->evfd, &v, sizeof v);
        (void)got;
    }
    for (size_t i = 1; i < n; i++) {
        if (!r->pfd[i].revents)
            continue;
        /* Still armed? It may have been cancelled meanwhile: only the list
         * says (the pointer is compared, never followed, until then). */
        weft__io *op = NULL;
        weft__spin_lock(&r->lock);
        for (weft_link *l = r->armed.head; l; l = l->next) {
            if (WEFT_LIST_ENTRY(l, weft__io, link) == r->ops[i]) {
                op = r->ops[i];
                weft__list_remove(&r->armed, &op->link);
                r->narmed--;
                if (!weft__io_claim(op))
                    op = NULL;
                break;
            }
        }
        weft__spin_unlock(&r->lock);
        if (op)
            weft__io_finish(op, WEFT__IO_AGAIN);
    }
}

static void pl_wait(weft__reactor *base, uint64_t deadline)
{
    uint64_t d = weft__reactor_time_left(base->rt, deadline);
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    pl_run((poll_reactor *)base, d == UINT64_MAX ? NULL : &ts);
}

static void pl_poll(weft__reactor *base)
{
    struct timespec zero = {0, 0};
    poll_reactor *r = (poll_reactor *)base;
    weft__spin_lock(&r->lock);
    size_t n = r->narmed;
    weft__spin_unlock(&r->lock);
    if (n)
        pl_run(r, &zero);
}

static void pl_kick(weft__reactor *base)
{
    weft__eventfd_kick(((poll_reactor *)base)->evfd);
}

static int pl_arm(weft__reactor *base, weft__io *op, int ready, uint32_t seq)
{
    (void)seq; /* level-triggered: poll itself says whether it is ready */
    poll_reactor *r = (poll_reactor *)base;
    weft__fdstate *st = op->h->bk;
    weft__spin_lock(&st->lock);
    bool closed = st->closed;
    weft__spin_unlock(&st->lock);
    if (closed)
        return WEFT_EBADF;
    op->bk[0] = ready == WEFT__READY_IN ? POLLIN : POLLOUT;
    weft__spin_lock(&r->lock);
    weft__list_push_tail(&r->armed, &op->link);
    r->narmed++;
    weft__spin_unlock(&r->lock);
    /* Another worker's task armed here while this worker sleeps? No: a task
     * arms on its own worker's reactor, which is awake (running it). */
    return WEFT__IO_PENDING;
}

static bool pl_cancel(weft__io *op)
{
    weft__worker *w = op->w;
    poll_reactor *r = (poll_reactor *)weft__thr_reactor(w);
    bool mine = false;
    weft__spin_lock(&r->lock);
    for (weft_link *l = r->armed.head; l; l = l->next) {
        if (l == &op->link) {
            weft__list_remove(&r->armed, &op->link);
            r->narmed--;
            mine = weft__io_claim(op);
            break;
        }
    }
    weft__spin_unlock(&r->lock);
    return mine;
}

/* A closed descriptor: its ops here end with WEFT_EBADF. */
static void pl_close(weft__reactor *base, weft__ioh *h)
{
    weft_rt *rt = base->rt;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        poll_reactor *r = (poll_reactor *)weft__thr_reactor(&rt->workers[i]);
        weft__io *done[2];
        size_t nd = 0;
        weft__spin_lock(&r->lock);
        for (weft_link *l = r->armed.head, *next; l; l = next) {
            next = l->next;
            weft__io *op = WEFT_LIST_ENTRY(l, weft__io, link);
            if (op->h == h && nd < 2) {
                weft__list_remove(&r->armed, l);
                r->narmed--;
                if (weft__io_claim(op))
                    done[nd++] = op;
            }
        }
        weft__spin_unlock(&r->lock);
        for (size_t k = 0; k < nd; k++)
            weft__io_finish(done[k], WEFT_EBADF);
    }
}

const weft__reactor_ops weft__reactor_poll = {
    .name = "poll",
    .create = pl_create,
    .destroy = pl_destroy,
    .wait = pl_wait,
    .poll = pl_poll,
    .kick = pl_kick,
    .arm = pl_arm,
    .cancel = pl_cancel,
    .close = pl_close,
    .release = NULL,
    .native = NULL,
    .native_files = false,
};
