/* sim.h — the simulator's private state, shared by the files of sim/: the
 * virtual machine (sim.c), decisions (decide.c), the trace (trace.c),
 * schedules (schedule.c), faults (faults.c) and exploration (explore.c). */
#ifndef WEFT_SIM_PRIVATE_H
#define WEFT_SIM_PRIVATE_H

#include "../src/core.h"

/* The streams a seed is split into: each subsystem draws from its own, so a
 * new fault knob does not reshuffle the interleavings. The values are part
 * of recorded schedules and trace hashes: never renumber. */
enum weft__stream {
    WEFT__S_INTERLEAVE = 0, /* which virtual worker runs next */
    WEFT__S_PLACE = 1,      /* steal victims, which idle worker wakes */
    WEFT__S_TIMING = 2,     /* the network's and the disk's latencies */
    WEFT__S_FAULT = 3,      /* buggify, allocation failures */
    WEFT__S_RAND = 4,       /* weft_rand() */
    WEFT__S_SELECT = 5,     /* which ready case a select takes */
    WEFT__S_MEMORY = 6,     /* the atomics model: which store a load reads */
    WEFT__S_COUNT = 7
};

typedef struct weft__sim weft__sim;

/* How a virtual worker stands. */
enum weft__vstate { WEFT__V_RUNNING = 0, WEFT__V_READY, WEFT__V_PARKED };

/* A virtual worker: the simulator's per-worker state (the backend state of
 * the core's worker). Its loop runs on a fiber of its own. */
typedef struct weft__vworker {
    weft__ctx *resume;       /* what runs when this worker is scheduled */
    weft__stack *loop_stack;
    uint8_t vstate;
    bool wakeup;             /* work arrived while it was parked */
    bool started;            /* its loop fiber exists */
    uint64_t park_deadline;
} weft__vworker;

/* One decision as recorded and replayed. bound 0 means a full 64-bit value. */
typedef struct weft__decision {
    uint64_t value;
    uint32_t bound;
    uint8_t stream;
    uint8_t preempt; /* interleaving: value > 0 preempts a runnable worker */
} weft__decision;

typedef struct weft__decisions {
    weft__decision *v;
    size_t len, cap;
} weft__decisions;

/* Where decisions come from. */
enum weft__source {
    WEFT__SRC_SEED = 0, /* per-stream xoshiro256** seeded from the seed */
    WEFT__SRC_BYTES,    /* a byte buffer (libFuzzer's input) */
    WEFT__SRC_REPLAY,   /* a recorded schedule, strictly */
    WEFT__SRC_PREFIX,   /* a schedule prefix, then defaults (exhaustive) */
    WEFT__SRC_GUIDE     /* a callback of exploration's (shrinking by structure) */
};

/* Trace event kinds (values are part of the trace hash: never renumber). */
enum weft__ev_kind {
    WEFT__EV_HOOK = WEFT__TRACE_EV_HOOK, /* a lifecycle hook: extra = hook event, a = status, b = task
                                            (folded by the core too: weft__hook_fold) */
    WEFT__EV_DECIDE = 2, /* extra = stream, a = bound, b = value; text (not hashed) is
                            non-NULL when the choice kept the running worker */
    WEFT__EV_CLOCK = 3,  /* the virtual clock jumped: b = new time */
    WEFT__EV_FAIL = 4,   /* a = status, b = task; text (not hashed): the failure */
    WEFT__EV_TIME = 5,   /* recording only, never hashed: b = virtual time from here on */
    WEFT__EV_NOTE = 6,   /* weft_sim_note: b = task, text (hashed) = the note; only
                            runs that make notes have these, so other hashes stay */
    WEFT__EV_NET = 7     /* a packet (only runs that use IO have these): extra = enum
                            weft__pkt_ev, a = from node << 16 | to node, b = bytes */
};

/* An event as recorded: 16 bytes, because recording a long run is mostly
 * first touches of fresh pages (a million decisions make some 3 million
 * events). The few texts are kept aside (weft__event_text), and a decision
 * that kept its worker is a flag in extra. */
typedef struct weft__event_rec {
    uint8_t kind;
    int8_t worker;
    uint16_t extra;
    int32_t a;
    uint64_t b;
} weft__event_rec;
#define WEFT__EV_KEPT 0x8000u /* in a recorded DECIDE event's extra */

/* The text of recorded event `at`: reasons, names, notes, failures. */
typedef struct weft__event_text {
    size_t at;
    const char *text;
} weft__event_text;

/* An event as the readers see it (weft__trace_next): with its text. */
typedef struct weft__event {
    uint8_t kind;
    int8_t worker;
    uint16_t extra;
    int32_t a;
    uint64_t b;
    const char *text; /* static or task-owned string (reason, name), or NULL */
} weft__event;

#define WEFT__TRACE_CHUNK 4096u

/* PCT's bug depth and step estimate when the configuration leaves them 0
 * (the replay line always names both). */
#define WEFT__PCT_DEPTH_DEFAULT 2u
#define WEFT__PCT_STEPS_DEFAULT 1000u

typedef struct weft__buggify_site {
    uint64_t key;
    uint8_t state; /* 0 unseen, 1 disabled, 2 enabled */
} weft__buggify_site;

struct weft__sim {
    weft_rt *rt;
    weft__vworker *vw;       /* one per worker */
    uint64_t now;
    uint64_t seed;
    int source;
    int strategy;
    uint64_t streams[WEFT__S_COUNT][4];
    /* bytes source */
    const uint8_t *bytes;
    size_t bytes_len, bytes_pos;
    /* replay/prefix source */
    weft__decisions replay;
    size_t replay_pos;
    /* guide source: called for every decision (stream, bound, whether the
     * current worker is offered first) */
    uint64_t (*guide)(void *ctx, weft__sim *s, int stream, uint32_t bound, bool preempt);
    void *guide_ctx;
    /* what the run belongs to (the Check helper's test), for replay lines */
    const char *test_name;
    /* a wall-clock deadline (CLOCK_MONOTONIC ns, 0: none) after which the
     * run is ended as timed out: exploration's per-seed timeout */
    uint64_t wall_deadline;
    /* every decision of this run */
    weft__decisions rec;
    bool rec_truncated;
    /* PCT */
    unsigned pct_depth;
    uint64_t pct_steps;
    uint32_t *pct_prio;      /* per worker */
    uint64_t *pct_change_at; /* d-1 step numbers */
    uint64_t pct_step;
    /* steps and budget */
    uint64_t steps, step_budget, step_cost;
    uint64_t timers_fired; /* by every virtual worker: they count against the budget */
    /* trace: the hash always (with the count of events folded, and the
     * wait names' hashes), the events when recording (in chunks that never
     * move, so appending never copies) */
    weft__trace_hash th;
    bool record;
    weft__event_rec **chunks;
    size_t nchunks, chunk_cap;
    weft__event_text *texts; /* by event, in recording order */
    size_t ntexts, texts_cap;
    size_t ev_len; /* recorded events, TIME markers included */
    uint64_t recorded_time;
    char *names;          /* copies of task names, for export after the tasks are gone */
    size_t names_used, names_cap;
    struct weft__name_chunk *name_chunks;
    int hook_id;
    /* failure */
    int failed;
    char message[4096];
    /* faults */
    weft__buggify_site *sites;
    size_t nsites, sites_cap;
    uint64_t allocs;
    bool injecting;          /* allocations may fail (after set-up) */
    /* the wall-clock watchdog */
    weft__a64 progress;      /* bumped at every step */
    void *watchdog;
    /* scratch for picking */
    weft__worker **cands;
    /* the simulated network, nodes and disks (net.c), made on first use */
    struct weft__simnet *net;
};

/* decide.c */
WEFT_HIDDEN int weft__decide_init(weft__sim *s, const weft_config *cfg);
WEFT_HIDDEN void weft__decide_free(weft__sim *s);
WEFT_HIDDEN uint64_t weft__decide(weft__sim *s, int stream, uint32_t bound, bool preempt);
/* weft__decide_inline's rare cases, out of line: any source and record
 * (any), a seed's bounded draw that must be drawn again (rejected: m is
 * weft__bounded_draw's), the recording of a decision already folded
 * (recorded). */
WEFT_HIDDEN uint64_t weft__decide_any(weft__sim *s, int stream, uint32_t bound, bool preempt);
WEFT_HIDDEN uint64_t weft__decide_rejected(weft__sim *s, int stream, uint32_t bound, bool preempt, uint64_t m);
WEFT_HIDDEN uint64_t weft__decide_recorded(weft__sim *s, int worker, int stream, uint32_t bound, uint64_t v,
                                           bool preempt);
/* PCT's choice of worker (weft__decide_worker's, for a seed). */
WEFT_HIDDEN unsigned weft__decide_pct(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first);

WEFT_HIDDEN int weft__decisions_push(weft_rt *rt, weft__decisions *d, const weft__decision *x);
WEFT_HIDDEN void weft__decisions_free(weft_rt *rt, weft__decisions *d);

/* trace.c */
WEFT_HIDDEN void weft__trace(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                             const char *text);
/* The recording half of weft__trace (when s->record). */
WEFT_HIDDEN void weft__trace_record(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                                    const char *text);

/* weft__trace_record inline for the common event: room in the current
 * chunk, the clock where the last event left it, no text to keep aside. */
static inline void weft__trace_record_inline(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                                             const char *text)
{
    size_t i = s->ev_len % WEFT__TRACE_CHUNK; /* 0: a chunk may be needed */
    if (WEFT_LIKELY(i != 0 && s->now == s->recorded_time && (!text || kind == WEFT__EV_DECIDE))) {
        weft__event_rec *e = &s->chunks[s->ev_len++ / WEFT__TRACE_CHUNK][i];
        *e = (weft__event_rec){(uint8_t)kind, (int8_t)worker, (uint16_t)(extra | (text ? WEFT__EV_KEPT : 0)), a, b};
        return;
    }
    weft__trace_record(s, kind, worker, extra, a, b, text);
}

/* weft__trace_inline with the text's hash given (text_hash, when hashed).
 * weft__trace_fold folds an event into the hash (the recording left to the
 * caller) by core.h's one definition, which the core's in-place fold of hook
 * events uses too. */
static inline void weft__trace_fold(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                                    uint64_t text_hash, bool hashed)
{
    weft__trace_hash_fold(&s->th, weft__trace_head(kind, worker, extra, a), b, text_hash, hashed);
}

static inline void weft__trace_text_hashed(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                                           const char *text, uint64_t text_hash, bool hashed)
{
    weft__trace_fold(s, kind, worker, extra, a, b, text_hash, hashed);
    if (WEFT_UNLIKELY(s->record))
        weft__trace_record_inline(s, kind, worker, extra, a, b, text);
}

/* weft__trace for the hot callers (every hook event, every decision): the
 * hash step inline, the recording out of line. The hash mixes only integers
 * and string contents, never a pointer, so it is the same on every build and
 * machine, recorded or not. Names, wait reasons and notes are part of a run;
 * a failure's message is not hashed (it holds source paths, which differ
 * between checkouts). */
static inline void weft__trace_inline(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b,
                                      const char *text)
{
    bool hashed = text && (kind == WEFT__EV_HOOK || kind == WEFT__EV_NOTE);
    weft__trace_text_hashed(s, kind, worker, extra, a, b, text,
                            hashed ? weft__hash_str(WEFT__HASH_INIT, text) : 0, hashed);
}
/* decide.c, inline (after the trace's inline functions it uses) */
/* The worker a decision is made on (-1: the host). */
static inline int weft__decider(void)
{
    return weft__tls_worker ? (int)weft__tls_worker->index : -1;
}

/* weft__decide: the common decision (the seed's, bounded, with room in the
 * record) inline, with no call but tail calls; anything else is
 * weft__decide_any's. The same draws, record and trace event either way. */
static inline uint64_t weft__decide_inline(weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    if (bound == 1)
        return 0;
    weft__decisions *rec = &s->rec;
    if (WEFT_UNLIKELY(s->source != WEFT__SRC_SEED || bound == 0 || rec->len >= rec->cap))
        return weft__decide_any(s, stream, bound, preempt);
    uint64_t m = weft__bounded_draw(s->streams[stream], bound);
    if (WEFT_UNLIKELY((uint32_t)m < bound))
        return weft__decide_rejected(s, stream, bound, preempt, m);
    uint64_t v = m >> 32;
    rec->v[rec->len++] = (weft__decision){v, bound, (uint8_t)stream, preempt};
    int worker = weft__decider();
    weft__trace_fold(s, WEFT__EV_DECIDE, worker, (unsigned)stream, (int32_t)bound, v, 0, false);
    if (WEFT_UNLIKELY(s->record))
        return weft__decide_recorded(s, worker, stream, bound, v, preempt);
    return v;
}

/* Which of the n enabled workers runs (cands[0] is the asking one when
 * cur_first). Inline: an interleaving decision makes no call. */
static inline unsigned weft__decide_worker(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first)
{
    if (s->source == WEFT__SRC_SEED && s->strategy == WEFT_STRATEGY_PCT)
        return weft__decide_pct(s, cands, n, cur_first);
    return (unsigned)weft__decide_inline(s, WEFT__S_INTERLEAVE, n, cur_first);
}
/* Walks the recorded events that were hashed (TIME markers are folded into
 * `time`, the virtual time of the event returned last). */
typedef struct weft__cursor {
    const weft__sim *s;
    size_t i;
    uint64_t time;
    size_t text;       /* the next of s->texts */
    weft__event event; /* the one returned last */
} weft__cursor;
WEFT_HIDDEN const weft__event *weft__trace_next(weft__cursor *c);
/* One event as one line of text; time is the virtual time it happened at. */
WEFT_HIDDEN void weft__trace_format(const weft__event *e, uint64_t time, char *buf, size_t len);
WEFT_HIDDEN int weft__trace_attach(weft__sim *s);
WEFT_HIDDEN void weft__trace_free(weft__sim *s);

/* schedule.c */
WEFT_HIDDEN int weft__schedule_encode(const weft__decision *d, size_t n, char **out);
WEFT_HIDDEN int weft__schedule_decode(weft_rt *rt, const char *text, weft__decisions *out, char *why, size_t whylen);
WEFT_HIDDEN size_t weft__schedule_encode_into(const weft__decision *d, size_t n, char *buf, size_t len);

/* sim.c */
WEFT_HIDDEN void weft__sim_failf(weft_rt *rt, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
WEFT_HIDDEN extern const weft__backend weft__backend_sim;
/* The simulator's state of rt, or NULL when rt is not simulated. */
static inline weft__sim *weft__sim_of(const weft_rt *rt)
{
    return rt->backend == &weft__backend_sim ? (weft__sim *)rt->backend_state : NULL;
}

/* faults.c */
WEFT_HIDDEN int weft__sim_buggify(weft__worker *w, const char *file, int line);
/* The allocator the simulator puts in front of the configured one. */
WEFT_HIDDEN void weft__sim_wrap_alloc(weft__sim *s);

/* replay.c: the one builder of "reproduce with" lines. Signal-safe.
 * weft__replay_vars writes only the variables (for results files). */
WEFT_HIDDEN size_t weft__replay_line(const weft_config *cfg, const char *test, uint64_t seed, const weft__decision *d,
                                     size_t n, const char *schedule, char *buf, size_t len);
WEFT_HIDDEN size_t weft__replay_vars(const weft_config *cfg, const char *test, uint64_t seed, const weft__decision *d,
                                     size_t n, const char *schedule, char *buf, size_t len);
WEFT_HIDDEN void weft__sim_crash_report(weft_rt *rt, int fd);

/* net.c, node.c, disk.c: simulated IO */
WEFT_HIDDEN int weft__simio_submit(weft__worker *w, weft__io *op);
WEFT_HIDDEN bool weft__simio_cancel(weft__io *op);
WEFT_HIDDEN uint64_t weft__simio_node_time(const weft__task *t, uint64_t time, bool to_local);
WEFT_HIDDEN void weft__simnet_free(weft__sim *s);

/* escape.c (referenced so that a static link brings the interposers in) */
WEFT_HIDDEN extern const int weft__escape_linked;
/* The real monotonic clock for the simulator's own use (a per-seed wall
 * timeout), which the escape detector must not take for a task's. */
WEFT_HIDDEN uint64_t weft__real_monotonic_ns(void);

/* watchdog.c */
WEFT_HIDDEN int weft__watchdog_arm(weft__sim *s);
WEFT_HIDDEN void weft__watchdog_disarm(weft__sim *s);
WEFT_HIDDEN void weft__watchdog_hold(void);
WEFT_HIDDEN void weft__watchdog_release(void);
WEFT_HIDDEN void weft__watchdog_free(weft__sim *s);

#endif
