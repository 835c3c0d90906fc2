/* reactor.h — the interface between the threads backend and an OS reactor
 * (epoll.c, uring.c, poll.c), and the socket and file system calls they
 * share (sys.c).
 *
 * One reactor per worker, whose wait is the worker's park: the next timer's
 * deadline and a wake from another thread (kick) end the same wait that IO
 * events end, so an idle worker makes exactly one system call, the wait.
 * The workers of an engine may share what the reactor waits in (epoll.c);
 * then one of them at a time sleeps there and the others on their futex.
 *
 * Operations run the way every readiness reactor runs them (tokio, Go,
 * libuv): the task tries the system call itself; on EAGAIN it arms the
 * reactor for that readiness and waits; the event completes the op with
 * WEFT__IO_AGAIN and the task tries again. Only the task ever touches its
 * buffer. A reactor with its own operations (io_uring) takes the ones it can
 * do natively through `native`.
 */
#ifndef WEFT_REACTOR_H
#define WEFT_REACTOR_H

#include "../../src/core.h"

#include <unistd.h>

typedef struct weft__reactor weft__reactor;

enum { WEFT__READY_IN = 1, WEFT__READY_OUT = 2, WEFT__READY_HUP = 4 /* the peer closed or reset */ };

/* What native() says of an op it has no form for (not WEFT__IO_PENDING). */
#define WEFT__IO_NOT_NATIVE 2

typedef struct weft__reactor_ops {
    const char *name;
    /* A reactor for worker w, or a negative code with the reason in why. */
    int (*create)(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen);
    void (*destroy)(weft__reactor *r);
    /* Sleep until an event, a kick or the deadline (UINT64_MAX: none), then
     * deliver what completed. May return early. */
    void (*wait)(weft__reactor *r, uint64_t deadline);
    /* Deliver what completed, without sleeping. */
    void (*poll)(weft__reactor *r);
    /* Any thread: end the current or next wait. */
    void (*kick)(weft__reactor *r);
    /* A reactor that several workers share is slept in by one at a time:
     * try_hold says whether this worker may (it then calls let_go after its
     * wait); the others sleep on their futex. NULL: the reactor is the
     * worker's own. */
    bool (*try_hold)(weft__reactor *r);
    void (*let_go)(weft__reactor *r);
    /* op's system call said EAGAIN: complete op (WEFT__IO_AGAIN) when h is
     * ready for `ready` (WEFT__READY_…). seq is h's readiness count the
     * task saw before its call: if an event came since, the call is retried
     * at once (0); else WEFT__IO_PENDING. */
    int (*arm)(weft__reactor *r, weft__io *op, int ready, uint32_t seq);
    /* Take op back (weft__io_claim on success). Any thread. */
    bool (*cancel)(weft__io *op);
    /* h is closed: ops waiting on it end with WEFT_EBADF. */
    void (*close)(weft__reactor *r, weft__ioh *h);
    /* h is going (no op of it is left): forget it before its descriptor is
     * closed. r may be NULL (no worker). */
    void (*release)(weft__reactor *r, weft__ioh *h);
    /* Run op natively: WEFT__IO_PENDING, 0 (done: op->result), a code, or
     * WEFT__IO_NOT_NATIVE (use the readiness path). NULL: nothing is. */
    int (*native)(weft__reactor *r, weft__io *op);
    /* Files are native (else the blocking pool runs them). */
    bool native_files;
    /* Edge-triggered: every arrival of data on a descriptor is an event, so
     * a read that came back short (the socket is drained) can be followed
     * by a wait without another read that would only say EAGAIN (tokio
     * does the same with mio on epoll). */
    bool edge;
} weft__reactor_ops;

/* Every reactor starts with this. */
struct weft__reactor {
    const weft__reactor_ops *ops;
    weft_rt *rt;
    weft__worker *w;
    bool shared; /* [init] other workers wait in what it waits in (try_hold) */
};

/* A zeroed reactor of `size` bytes for worker w: every reactor's struct
 * starts with its struct weft__reactor. NULL when out of memory. */
static inline void *weft__reactor_alloc(weft_rt *rt, weft__worker *w, size_t size)
{
    weft__reactor *r = weft__calloc(rt, size);
    if (r) {
        r->rt = rt;
        r->w = w;
    }
    return r;
}

/* A wait's deadline (absolute, UINT64_MAX: none) as the nanoseconds left
 * (0 once past), or UINT64_MAX for a wait without one. */
static inline uint64_t weft__reactor_time_left(weft_rt *rt, uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = rt->os.monotonic_ns(rt->os.ctx);
    return deadline > now ? deadline - now : 0;
}

WEFT_HIDDEN extern const weft__reactor_ops weft__reactor_epoll;
WEFT_HIDDEN extern const weft__reactor_ops weft__reactor_poll;
WEFT_HIDDEN extern const weft__reactor_ops weft__reactor_uring;

/* Per-descriptor readiness state (h->bk) for the readiness reactors: the
 * readiness count moves with every event, so a task that saw EAGAIN can
 * tell whether an event came in between; at most one reader and one writer
 * wait. */
typedef struct weft__fdstate {
    weft_link link;       /* [pool lock] in the free pool */
    weft__a32 lock;
    weft__a32 seq[2];     /* [atomic] events seen: [0] in, [1] out */
    weft__io *waiter[2];  /* [lock] */
    void *home;           /* [lock] what the descriptor is registered with (NULL: not yet) */
    bool closed;          /* [lock] */
    /* The read side's own (one reader at a time): the in-count at which a
     * read came back short, or UINT32_MAX. Equal to seq[0] now: no data has
     * come since, so the next read waits first. */
    uint32_t drained;
    /* [atomic] the peer's end (or an error) was seen: that event comes
     * once, so a short read never skips the next read after it. */
    weft__a32 hup;
} weft__fdstate;

/* sys.c: the operation op on the real OS, waiting (if it must) in reactor
 * r, the calling worker's (NULL: none, for what never waits). */
WEFT_HIDDEN int weft__sys_submit(weft__reactor *r, weft_rt *rt, weft__io *op);
/* A fresh readiness state from the runtime's pool (NULL: out of memory),
 * and back; the pool goes with the runtime. */
WEFT_HIDDEN weft__fdstate *weft__fdstate_get(weft_rt *rt);
WEFT_HIDDEN void weft__fdstate_put(weft_rt *rt, weft__fdstate *st);
WEFT_HIDDEN void weft__fdstates_free(weft_rt *rt);
/* The blocking parts (the pool runs them): files, and name lookups. */
WEFT_HIDDEN int weft__sys_file(weft_rt *rt, weft__io *op);
/* open(2)'s flags for weft_file_open's, and an opened file's descriptor
 * given to the handle an open call made (both ways of opening use them). */
WEFT_HIDDEN int weft__sys_open_flags(unsigned weft_flags);
WEFT_HIDDEN void weft__sys_opened(weft__io *op, int fd);
WEFT_HIDDEN int weft__sys_resolve(weft__io *op);
/* End the waits on h (close) or wake a waiter for `ready` (an event). */
WEFT_HIDDEN void weft__fdstate_event(weft__fdstate *st, int ready);
WEFT_HIDDEN void weft__fdstate_close(weft__fdstate *st);
/* Take op off st, if it waits there; then claim it. */
WEFT_HIDDEN bool weft__fdstate_cancel(weft__fdstate *st, weft__io *op);
/* Arm op on st unless an event came since seq: the common part of arm. */
WEFT_HIDDEN int weft__fdstate_arm(weft__fdstate *st, weft__io *op, int ready, uint32_t seq);
/* The reactor of worker w (backends/threads/backend.c). */
WEFT_HIDDEN weft__reactor *weft__thr_reactor(const weft__worker *w);
/* Map errno values to weft's codes where they differ in meaning. */
WEFT_HIDDEN int weft__sys_error(int err);

/* Wake a reactor's wait from any thread through its eventfd. EAGAIN (the
 * counter is full) still leaves it readable: a wake is on its way either
 * way, so the result is not needed. */
static inline void weft__eventfd_kick(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n;
}

#endif /* WEFT_REACTOR_H */
