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

#include "atomic.h"
#include "base.h"

typedef struct weft__worker weft__worker;
typedef struct weft__task weft__task;
typedef struct weft__io weft__io;
typedef struct weft__engine weft__engine;

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
    /* Of e's idle workers (idle: bits by index in e, two or more), those a
     * wake for new work should go to first: a non-empty subset of idle.
     * NULL: any of them. */
    uint64_t (*idle_prefer)(const weft__engine *e, uint64_t idle);
    /* 64 random bits for weft_rand(). */
    uint64_t (*rand)(weft__worker *w);

    /* ---- IO (src/io.c; NULL: the backend has none) ---- */
    /* Start op (struct weft__io below) for the calling task, which runs on
     * w. Returns 0 when op is over (op->result holds its result), or
     * WEFT__IO_PENDING: the task then waits (weft__block, WEFT__W_IO) and
     * the backend ends the wait with weft__io_complete(op, result), from
     * inside park or from any thread. The result WEFT__IO_AGAIN means "ready
     * now: submit op again" (readiness reactors). A backend may also block
     * the calling task itself inside io_submit (the blocking pool). */
    int (*io_submit)(weft__worker *w, weft__io *op);
    /* The waiting task of op is cancelled or timed out: stop op. Called with
     * the task's wait_lock held, from any thread of the runtime. Returns
     * true if it won op (weft__io_claim: no completion will be delivered),
     * false if the completion did (its wake is on the way). After a true,
     * the backend never touches op's buffer again unless it set op->busy, in
     * which case it calls weft__io_retired(op) once it has let go of it (the
     * kernel's io_uring read still in flight), and the task waits for that
     * before its call returns. */
    bool (*io_cancel)(weft__io *op);
    /* A look at completed IO without sleeping, between tasks (a busy
     * worker's due events are not left waiting for its next park). NULL:
     * none. */
    void (*io_poll)(weft__worker *w);
    /* What does the IO ("epoll", "io_uring", "poll", "simulated")? */
    const char *(*io_name)(const weft_rt *rt);
    /* Convert between the runtime's clock and the clock of the node task t
     * runs on (skew, drift): to_local = true maps a runtime time to the
     * node's. NULL: one clock for all. */
    uint64_t (*node_time)(const weft__task *t, uint64_t time, bool to_local);

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

/* ---- IO operations ------------------------------------------------------
 * What the core asks a backend to do with a socket or a file. The op is the
 * caller's (on the calling task's stack) and lives until the call returns;
 * the backend may link it into its own lists (link) and keep its state in
 * bk[] until then. */

enum weft__io_kind {
    WEFT__IO_TCP_LISTEN = 1, /* addr, arg = backlog → h */
    WEFT__IO_TCP_CONNECT,    /* addr → h (async) */
    WEFT__IO_ACCEPT,         /* h (a listener) → out, addr = peer (async) */
    WEFT__IO_READ,           /* h, buf, len → count (async) */
    WEFT__IO_WRITE,          /* h, buf, len → count (async) */
    WEFT__IO_UDP_BIND,       /* addr → h */
    WEFT__IO_SENDTO,         /* h, buf, len, addr → len (async) */
    WEFT__IO_RECVFROM,       /* h, buf, len → count, addr = sender (async) */
    WEFT__IO_SHUTDOWN,       /* h, arg = WEFT_SHUT_… */
    WEFT__IO_CLOSE,          /* h is closed: ops waiting on it end (EBADF) */
    WEFT__IO_RELEASE,        /* no op of h is left: free it (w may be NULL) */
    WEFT__IO_LOCAL_ADDR,     /* h → addr */
    WEFT__IO_PEER_ADDR,      /* h → addr */
    WEFT__IO_FILE_OPEN,      /* path, arg = WEFT_FILE_… flags, mode → h */
    WEFT__IO_FILE_READ,      /* h, buf, len, offset (WEFT__IO_AT_POS: the position) */
    WEFT__IO_FILE_WRITE,     /* h, buf, len, offset */
    WEFT__IO_FSYNC,          /* h */
    WEFT__IO_FILE_UNLINK,    /* path */
    WEFT__IO_RESOLVE,        /* path = host name → addr (its first address) */
    WEFT__IO_KIND_COUNT
};

#define WEFT__IO_PENDING 1
#define WEFT__IO_AGAIN (-4100)
#define WEFT__IO_AT_POS UINT64_MAX

/* A numeric address: family 4 or 6, port and the address bytes (network
 * order); the text form is "a.b.c.d:port" or "[v6]:port". */
typedef struct weft__addr {
    uint8_t family;
    uint16_t port;
    uint8_t ip[16];
} weft__addr;

/* A socket or file as its backend knows it (inside the core's handle). */
typedef struct weft__ioh {
    int fd;       /* a real descriptor, or -1 */
    uint8_t type; /* enum weft__ioh_type */
    void *bk;     /* the backend's own state for it */
} weft__ioh;

enum weft__ioh_type { WEFT__H_NONE = 0, WEFT__H_LISTENER, WEFT__H_STREAM, WEFT__H_DGRAM, WEFT__H_FILE };

struct weft__io {
    uint8_t kind;            /* enum weft__io_kind */
    weft__ioh *h;            /* the socket or file (the new one for listen,
                                bind, connect and open) */
    weft__ioh *out;          /* accept: the connection's handle */
    void *buf;
    size_t len;
    uint64_t offset;
    int arg;
    unsigned mode;
    const char *path;
    weft__addr addr;
    uint64_t deadline;       /* on the runtime's clock */
    weft__task *task;        /* who waits */
    weft__worker *w;         /* where it was submitted */
    int64_t result;
    weft__a32 claim;         /* 0 open; 1 taken by a completion or a cancel */
    weft__a32 busy;          /* the backend lent buf out: 1; 2 the task
                                waits for weft__io_retired */
    bool late;               /* it completed although its cancel won:
                                result is what it did (bytes read are
                                returned, not lost) */
    weft_link link;
    uint64_t bk[4];          /* the backend's scratch */
};

/* io.c: the one completion of op: claims it, stores result and wakes its
 * task; false if op was claimed already (cancelled). Only where nothing can
 * free op meanwhile: a backend whose cancel may run on another thread takes
 * op off its list and claims it under the list's lock (weft__io_claim),
 * and finishes it after the lock (weft__io_finish), so a cancel that finds
 * op gone knows the completion owns it. */
WEFT_HIDDEN bool weft__io_complete(weft__io *op, int64_t result);
WEFT_HIDDEN bool weft__io_claim(weft__io *op);
WEFT_HIDDEN void weft__io_finish(weft__io *op, int64_t result);
/* The backend no longer touches op's buffer (after busy was set). */
WEFT_HIDDEN void weft__io_retired(weft__io *op);
/* Address text ("1.2.3.4:80", "[::1]:80") to a->; 0 or WEFT_EINVAL. With
 * port_optional, a bare address (no port: "1.2.3.4", "[::1]" or "::1") is
 * port 0. */
WEFT_HIDDEN int weft__addr_parse(const char *text, weft__addr *a, bool port_optional);
/* a as text into buf; its length, or WEFT_EINVAL when it does not fit. */
WEFT_HIDDEN int weft__addr_format(const weft__addr *a, char *buf, size_t len);

/* The backend for cfg (backends/choose.c: the one place that names them). */
WEFT_HIDDEN const weft__backend *weft__backend_for(const weft_config *cfg);

#endif /* WEFT_BACKEND_H */
