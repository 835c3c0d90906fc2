/* backend.h — the interface through which the core talks to whatever drives
 * it: the simulator (sim/) or the real threads and reactors (backends/).
 *
 * The core never names a backend. Exactly one function, weft__backend_for
 * (backends/choose.c), maps a configuration to a backend; it is the only
 * code that names them. Arrows point down: the core calls through this
 * table; a backend may call the core's internal functions.
 *
 * What stays in the core, the same in both worlds: the worker loop, the run
 * queues and their policy (local deques, the LIFO slot, remote and
 * injection queues, stealing, the searching cap, notifying idle workers),
 * timers, tasks and waits. What a backend supplies: time, parking and
 * waking, the interleaving of workers, every choice among equals (which
 * victim to steal from, which ready select case, which idle worker to wake),
 * randomness, faults, IO, and how a run fails.
 */
#ifndef WEFT_BACKEND_H
#define WEFT_BACKEND_H

#include "base.h"

typedef struct weft__worker weft__worker;
typedef struct weft__task weft__task;
typedef struct weft__io weft__io;

/* Capabilities the core reads instead of testing the mode. */
enum weft__caps {
    /* Time is virtual: it stands still while tasks run (unless steps cost
     * time), so due timers need polling only when the clock moved. */
    WEFT__CAP_VIRTUAL_TIME = 1u << 0,
    /* Workers interleave at scheduling points (sched_point is set). */
    WEFT__CAP_INTERLEAVE = 1u << 1,
    /* Every choice comes from a decision source: WEFT_BUGGIFY may fire,
     * weft_in_simulation() is true, a run can fail and be replayed. */
    WEFT__CAP_DETERMINISTIC = 1u << 2,
};

/* What a choice among equals is for (the simulator draws each kind from the
 * stream that makes sense for it; real backends use their own rule). */
enum weft__choice {
    WEFT__CHOOSE_SELECT = 0, /* a ready case of weft_select */
    WEFT__CHOOSE_VICTIM,     /* the first worker to try stealing from */
    WEFT__CHOOSE_IDLE,       /* which idle worker to wake for new work */
};

typedef struct weft__backend {
    unsigned caps; /* enum weft__caps */

    /* ---- lifecycle ---- */
    /* Set up rt->backend_state (and, for the simulator, wrap rt->alloc so
     * that allocations can fail). Called once the workers exist. */
    int (*create)(weft_rt *rt);
    /* Release what create and worker_create made. */
    void (*destroy)(weft_rt *rt);
    /* Drive the workers until rt->stop is set; returns rt->status. */
    int (*run)(weft_rt *rt);
    /* After the run of a weft_rt_block_on (the simulator writes the trace
     * and reports a failed run); may be NULL. */
    void (*end_run)(weft_rt *rt);

    /* ---- time ---- */
    uint64_t (*now)(weft_rt *rt);

    /* ---- scheduling ---- */
    /* The loop of w has nothing to run: wait for a wake or the deadline
     * (UINT64_MAX: none). May return early; the loop looks again. */
    void (*park)(weft__worker *w, uint64_t deadline);
    /* Make w look at its queues again. Idempotent; callable from any
     * thread, also from outside the runtime. */
    void (*wake)(weft__worker *w);
    /* The loop of w saw rt->stop: return true to leave weft__worker_loop. */
    bool (*on_stop)(weft__worker *w);
    /* A scheduling point: NULL unless the backend interleaves workers. */
    void (*sched_point)(weft__worker *w);
    /* n timers fired on w (the loop's own progress, which no scheduling
     * point sees): the simulator counts them against its step budget. NULL:
     * nothing to account. */
    void (*timers_fired)(weft__worker *w, size_t n);
    /* One of n >= 2 equal options, for the reason given (enum weft__choice). */
    uint32_t (*choose)(weft__worker *w, int why, uint32_t n);
    /* 64 random bits for weft_rand(). */
    uint64_t (*rand)(weft__worker *w);

    /* ---- IO (NULL where the backend has none yet) ---- */
    /* Start op for the calling task on w; its completion is delivered as a
     * wake of the waiting task, from inside park. 0 or a negative code. */
    int (*io_submit)(weft__worker *w, weft__io *op);
    /* Stop op early: after it returns, the backend will not touch op's
     * buffer again. */
    int (*io_cancel)(weft__worker *w, weft__io *op);

    /* Run the call of t (a counted task record: weft_spawn_blocking) where
     * blocking an OS thread is fine; when it is over, weft__blocking_done.
     * NULL: not supported. */
    void (*blocking_submit)(weft__worker *w, weft__task *t);

    /* ---- faults and failure ---- */
    /* Should the WEFT_BUGGIFY site at file:line fire now? NULL: never. */
    int (*buggify)(weft__worker *w, const char *file, int line);
    /* A task failed the run (WEFT_ASSERT, weft_fail, a watchdog). The
     * simulator ends the run and never returns to the task; a real backend
     * prints msg and aborts. */
    WEFT_NORETURN void (*fail)(weft__worker *w, int status, const char *msg);
    /* Write what a crash report needs beyond the core's own lines (the
     * replay line) to fd. Signal-safe: no allocation, no stdio. May be NULL. */
    void (*crash_report)(weft_rt *rt, int fd);
} weft__backend;

/* The backend for cfg (backends/choose.c: the one place that names them). */
WEFT_HIDDEN const weft__backend *weft__backend_for(const weft_config *cfg);

#endif /* WEFT_BACKEND_H */
