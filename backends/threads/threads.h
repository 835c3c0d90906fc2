/* threads.h — the real threads backend's private state, shared by its files:
 * the backend table (backend.c), the futex parker (parker.c), worker threads
 * and their OS settings (engine.c) and the blocking pool (blocking.c). */
#ifndef WEFT_THREADS_H
#define WEFT_THREADS_H

#include "../../src/core.h"

/* A futex parker (the shape of Rust std's and tokio's): a wake that comes
 * before the sleep is kept, so none is lost. */
enum {
    WEFT__PARK_EMPTY = 0,
    WEFT__PARK_PARKED = 1,     /* asleep (or about to be) on the futex */
    WEFT__PARK_NOTIFIED = 2,
    WEFT__PARK_IN_REACTOR = 3, /* asleep (or about to be) in the reactor: a kick wakes it */
};
typedef struct weft__parker {
    weft__a32 state;
    /* The reactor's wait and kick when the worker has one (its park is the
     * reactor's wait); NULL: the futex. A reactor shared with other workers
     * is slept in only while try_hold(arg) holds it (let_go after). */
    void (*sleep)(void *arg, uint64_t deadline);
    void (*kick)(void *arg);
    bool (*try_hold)(void *arg);
    void (*let_go)(void *arg);
    void *arg;
} weft__parker;

/* Sleep until unparked or the absolute deadline (UINT64_MAX: none). Once
 * marked PARKED and before the sleep, give_up(ctx) (may be NULL) is asked
 * whether to sleep at all: true returns at once. */
WEFT_HIDDEN void weft__parker_park(weft__parker *p, const weft_os *os, uint64_t deadline, bool (*give_up)(void *ctx),
                                   void *ctx);
/* Any thread: the next (or current) park returns. */
WEFT_HIDDEN bool weft__parker_unpark(weft__parker *p, const weft_os *os);

typedef struct weft__thr_worker {
    weft__parker parker;
    weft__thread thread;
    bool has_thread;       /* false: it runs on the weft_rt_block_on caller */
    weft__a32 forever;     /* [atomic] parked with no deadline (deadlock check) */
    void *altstack;        /* its signal stack (overflow reports) */
    size_t altstack_size;
    int start_error;       /* its OS settings failed: the code … */
    char start_why[160];   /* … and the field it names */
    struct weft__reactor *reactor; /* its OS reactor (backends/reactor/) */
    unsigned spin_misses;  /* [owner] spins in a row that found no work */
    unsigned unspun_parks; /* [owner] parks since it gave up spinning */
    /* The LIFO-slot watch (backend.c, thr_park; THREADING.md rule 11). */
    weft__a32 watching;    /* [atomic] parked for one watch interval */
    weft__a32 sleeping;    /* [atomic] parked not watching, for longer than an
                              interval (with no deadline or with a far one) */
    weft__a32 kicked;      /* [atomic] woken by a peer to watch, not for work */
    weft__slot_look looks[WEFT_WORKERS_MAX]; /* [owner] the peers' slots at its last look */
} weft__thr_worker;

typedef struct weft__thr {
    weft_rt *rt;
    bool inline_mode;      /* one worker, on the caller thread */
    weft__thr_worker *tw;
    /* Runs (pool mode): a run starts when run_gen moves; it has ended when
     * every worker has left its loop (done_gen == run_gen). */
    weft__a32 run_gen;
    weft__a32 done_gen;
    weft__a32 in_loop;     /* workers still in the current run's loop */
    weft__a32 started;     /* threads that finished starting up */
    weft__a32 quit;        /* the runtime is going: threads return */
    weft__a32 parked_forever; /* workers parked with no deadline */
    weft__a64 wakes;       /* [atomic] unparks of a parked worker, ever */
    struct weft__blocking_pool *blocking;
    const struct weft__reactor_ops *reactor; /* which kind every worker has */
    weft__a32 reactor_used; /* [atomic] a task ever waited for a descriptor */
    /* Readiness states of descriptors (backends/reactor/sys.c). */
    weft__a32 fd_lock;
    weft_list fd_free;     /* [fd_lock] */
    void **fd_chunks;      /* [fd_lock] */
    size_t fd_nchunks, fd_chunk_cap;
} weft__thr;

static inline weft__thr *weft__thr_of(const weft_rt *rt)
{
    return (weft__thr *)rt->backend_state;
}

/* engine.c */
WEFT_HIDDEN int weft__threads_start(weft__thr *thr);
WEFT_HIDDEN void weft__threads_stop(weft__thr *thr);
WEFT_HIDDEN void weft__thread_enter(weft__thr *thr, weft__worker *w);
WEFT_HIDDEN void weft__thread_leave(weft__thr *thr, weft__worker *w);

/* blocking.c */
WEFT_HIDDEN void weft__threads_blocking_submit(weft__worker *w, weft__task *t);
WEFT_HIDDEN void weft__blocking_pool_free(weft__thr *thr);

#endif /* WEFT_THREADS_H */
