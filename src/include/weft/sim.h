/* weft/sim.h — the simulator's controls: assertions that fail a run, fault
 * points, traces and schedules, exploration over seeds and shrinking.
 *
 * Included by weft.h. Everything here is safe to call in threaded mode too:
 * WEFT_BUGGIFY() is false there, WEFT_ASSERT aborts, traces are empty.
 */
#ifndef WEFT_SIM_H
#define WEFT_SIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Failing a run ---------------------------------------------------------
 * In simulation a failed WEFT_ASSERT (or weft_fail) ends the whole run: the
 * failing task does not continue, weft_rt_block_on returns WEFT_EFAILED and
 * the reproduction line "weft: reproduce with WEFT_SEED=<seed>" (or
 * WEFT_SCHEDULE=<schedule>) is printed. In threaded mode it prints the message
 * and aborts. Outside any runtime it aborts. */
#define WEFT_ASSERT(cond) ((cond) ? (void)0 : weft_assert_fail(#cond, __FILE__, __LINE__))
WEFT_API void weft_assert_fail(const char *expr, const char *file, int line);
WEFT_API void weft_fail(const char *message);

/* ---- Fault points ------------------------------------------------------------
 * WEFT_BUGGIFY() is true "sometimes" in simulation: each site is enabled for a
 * run with chance sim.buggify_permille, and an enabled site fires on a quarter
 * of its visits, all drawn from the faults stream of the seed. It is always
 * false in threaded mode, and a compile-time 0 with -DWEFT_PRODUCTION. */
#ifdef WEFT_PRODUCTION
#define WEFT_BUGGIFY() 0
#else
#define WEFT_BUGGIFY() weft_buggify(__FILE__, __LINE__)
#endif
WEFT_API int weft_buggify(const char *file, int line);

/* 1 if the calling task runs under the simulator, else 0. */
WEFT_API int weft_in_simulation(void);

/* Return a simulated runtime, after a run, to the state weft_rt_new(rt, cfg)
 * would build, keeping its pool of fiber stacks: a loop over many seeds
 * (weft_explore's is one) then pays for its runs and not for mapping stacks.
 * The same seed gives the same run, and the same trace hash, as on a new
 * runtime. Shuts rt down first (reporting what it left, as weft_rt_shutdown
 * does). Returns 0; WEFT_EBUSY when a task ignored cancellation at shutdown
 * (its stack may still be pointed into); WEFT_ENOTSUP when rt or cfg is not
 * simulated or cfg injects allocation failures (the seed's count of
 * allocations includes a new runtime's); WEFT_EINVAL for a NULL argument, an
 * invalid configuration, or a different allocator or weft_os table;
 * WEFT_EPERM while rt runs. Those refusals leave rt as it was. WEFT_EBUSY, or
 * an error while rebuilding (WEFT_ENOMEM, say), leaves rt shut down: calls
 * that run tasks on it return WEFT_ESHUTDOWN; it can be freed (or, after a
 * failed rebuild, reset again). */
WEFT_API int weft_rt_reset(weft_rt *rt, const weft_config *cfg);

/* The format version of printed schedules ("S2.…"). A schedule recorded by
 * another version is refused (WEFT_EINVAL, naming both versions): the same
 * decisions would mean a different run there. */
#define WEFT_SCHEDULE_VERSION 2

/* ---- Traces and schedules of a simulated runtime -----------------------------
 * Every decision and runtime event goes into a trace with a rolling 64-bit
 * hash: the same seed gives the same hash on every run, build and machine. */
WEFT_API uint64_t weft_rt_trace_hash(const weft_rt *rt);
/* Number of events traced so far. */
WEFT_API uint64_t weft_rt_trace_events(const weft_rt *rt);
/* The decisions made so far as a printable schedule (for WEFT_SCHEDULE).
 * *out is malloc'ed; the caller frees it. *len (may be NULL) receives the
 * number of decisions. Returns 0, WEFT_ENOMEM, WEFT_EINVAL. */
WEFT_API int weft_rt_schedule(const weft_rt *rt, char **out, size_t *len);
/* Write the recorded trace (needs sim.record_trace or WEFT_TRACE) as Chrome
 * trace-event JSON (Perfetto, chrome://tracing): one lane per virtual worker,
 * timestamps in virtual time (events at one instant 1 ns apart, in order),
 * the failure with its whole message, notes; the decisions that kept the
 * running worker are left out (their number is in otherData).
 * Returns 0, WEFT_EIO, WEFT_EINVAL (nothing recorded). */
WEFT_API int weft_rt_trace_write_json(const weft_rt *rt, const char *path);
/* Write the recorded trace as a self-contained HTML timeline (no script, no
 * network): a lane per virtual worker showing which task ran each step, a
 * lane per task (running, ready, blocked with its reason on hover, notes),
 * virtual time, the failing step marked and the failure's message, then the
 * events as a table. Returns 0, WEFT_EIO, WEFT_EINVAL (nothing recorded). */
WEFT_API int weft_rt_trace_write_html(const weft_rt *rt, const char *path);
/* Write the recorded trace as text, one event per line (every decision
 * included). */
WEFT_API int weft_rt_trace_write_text(const weft_rt *rt, const char *path);
/* Compare the recorded traces of two runtimes; returns the index of the first
 * event where they differ (and both events as text in a/b, if non-NULL), -1
 * if they are the same, or WEFT_EINVAL unless both are simulated runtimes.
 * Without recorded events only the hashes are compared (a difference is then
 * reported at index x's event count). */
WEFT_API int64_t weft_trace_diff(const weft_rt *x, const weft_rt *y, char *a, size_t alen, char *b, size_t blen);

/* A marker in the simulated run's trace, on the calling task's lane of the
 * timelines: printf-style, at most 255 bytes. It is not a scheduling point,
 * so adding notes never changes the interleaving; its text is part of the
 * trace hash. Does nothing outside a simulated task. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
WEFT_API void weft_sim_note(const char *fmt, ...);

/* ---- Exploration -------------------------------------------------------------
 * Run test(arg) as the root task of a fresh simulated runtime per run, under
 * seeds [seed_start, seed_start + seeds) or, for WEFT_STRATEGY_EXHAUSTIVE, over
 * every schedule of the choice tree within the preemption bound. A run fails
 * when its block_on fails (assertion, deadlock, livelock, per-seed timeout).
 * Each run depends only on its seed (or schedule) and the configuration, so
 * the work splits into shards that together run exactly what one exploration
 * would. Unless cfg.flags has WEFT_CFG_NO_ENV, the environment may supply the
 * shard (see shard_count), WEFT_CHECK_DETERMINISM (1: the in-process check,
 * process: also the cross-process one, 0: none), WEFT_RESULTS and
 * XML_OUTPUT_FILE. */
#define WEFT_EXPLORE_KEEP_GOING 0x1u /* do not stop at the first failure */
#define WEFT_EXPLORE_PROGRESS 0x2u   /* a progress line on stderr, if it is a terminal */
#define WEFT_EXPLORE_QUIET 0x4u      /* no failure report on stderr */
#define WEFT_EXPLORE_SHRINK 0x8u     /* shrink the first failing schedule */
/* Run the first seed (or the first schedule) twice and compare the traces. */
#define WEFT_EXPLORE_CHECK_DETERMINISM 0x10u
/* … and once more in a fresh process: this program executed again with the
 * same arguments, up to the same exploration (which it finds by name and by
 * how many explorations came before it). Catches what differs between
 * processes (the process id, addresses, rand() seeded from them). */
#define WEFT_EXPLORE_CHECK_PROCESS 0x20u

typedef struct weft_explore_opts {
    weft_config cfg;          /* base config: workers, strategy, budgets… */
    uint64_t seed_start;
    uint64_t seeds;           /* 0 → 1000 */
    double time_budget_s;     /* stop after this much wall time; 0 → none */
    unsigned preemption_bound; /* exhaustive: at most this many preemptions; 0 → 2 */
    uint64_t max_schedules;   /* exhaustive: stop after this many; 0 → 10^6 */
    unsigned shrink_budget;   /* runs spent shrinking; 0 → 2000 */
    unsigned flags;           /* WEFT_EXPLORE_… */
    /* Write the (shrunk) failing run's timeline: Chrome JSON here, and the
     * HTML page beside it (x.json → x.html). NULL: none. */
    const char *timeline_path;
    /* What is explored (a test's name): WEFT_TEST=<name> in replay lines, and
     * the name in results files and reports. NULL: none. */
    const char *name;
    /* This process's shard of the seeds (or of the exhaustive search's
     * subtrees): shard i of n runs seeds seed_start + i, + i + n, … When
     * shard_count is 0 it comes from the first of WEFT_SHARD_INDEX and
     * WEFT_SHARD_COUNT; Bazel's TEST_SHARD_INDEX and TEST_TOTAL_SHARDS (and
     * TEST_SHARD_STATUS_FILE is touched); GTEST_SHARD_INDEX and
     * GTEST_TOTAL_SHARDS; Slurm's SLURM_ARRAY_TASK_ID and
     * SLURM_ARRAY_TASK_COUNT; Kubernetes' JOB_COMPLETION_INDEX with
     * WEFT_SHARD_COUNT; else unsharded. */
    unsigned shard_index, shard_count;
    double run_timeout_s;     /* a run taking longer (wall clock) ends as a timeout; 0 → none */
    double shrink_time_s;     /* wall-clock bound on shrinking; 0 → only shrink_budget */
    /* Append JSON lines here ("-": stdout): one per failure, one per shrunk
     * failure, one summary (commit, configuration hash, strategy, seeds run,
     * failures, duration). NULL → WEFT_RESULTS. tools/weft-merge reads them. */
    const char *results_path;
    /* Add this exploration to a JUnit XML file. NULL → XML_OUTPUT_FILE. */
    const char *junit_path;
    /* OS threads that run this shard's seeds side by side (0 or 1: the
     * calling thread alone; at most WEFT_EXPLORE_MAX_JOBS), each on its own
     * simulated runtime. The result is the one a single job reports: the
     * same runs, failures, first failing seed, distinct traces and results
     * files (runs past the first failure that a job made before it heard of
     * it are left out). Opt in only for a test whose runs share nothing
     * mutable (no static state, an arg no run writes): runs of different
     * seeds now happen at the same time. Seeds (random, PCT) only;
     * exhaustive search runs on the calling thread. */
    unsigned jobs;
} weft_explore_opts;
#define WEFT_EXPLORE_MAX_JOBS 256u

typedef struct weft_explore_result {
    uint64_t runs, failures;
    uint64_t distinct_traces; /* distinct trace hashes seen */
    int exhausted;            /* exhaustive: the whole space was covered */
    int status;               /* the first failure's code, or 0 */
    uint64_t failing_seed;
    char *schedule;           /* first failure's schedule (malloc'ed) or NULL */
    size_t schedule_len;      /* its decisions */
    char *shrunk;             /* shrunk schedule (malloc'ed) or NULL */
    size_t shrunk_len;
    char message[4096];       /* what failed, and the replay lines */
    double elapsed_s;
    unsigned shard_index, shard_count; /* the shard that ran */
    uint64_t timeouts;        /* runs ended by run_timeout_s (counted in failures) */
    uint64_t distinct_failures; /* failures told apart by signature */
    /* The first failure's signature: the assertion and its site, or the
     * shape of the deadlock (who waits on what), or the kind of failure. */
    char signature[256];
} weft_explore_result;

WEFT_API int weft_explore(const weft_explore_opts *opts, weft_fn test, void *arg,
                          weft_explore_result *result);
WEFT_API void weft_explore_result_free(weft_explore_result *result);

/* Shrink a failing schedule while the run still fails the same way (same
 * assertion, same deadlock shape): first drop each task's choices, then the
 * choices themselves (fewest context switches first), then delete and lower
 * decisions by position. *out is malloc'ed. Returns 0, WEFT_EINVAL (the
 * schedule does not fail, or is not a schedule), WEFT_ENOMEM. */
WEFT_API int weft_shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule,
                         unsigned budget, char **out, size_t *out_len);

/* ---- The Check helper's engine ---------------------------------------------
 * Explore test under the seeds the environment asks for, and on failure do
 * the whole workflow: the replay line, the shrunk schedule with its line,
 * the timeline of the shrunk run. The environment: WEFT_SEED (one seed),
 * WEFT_SEEDS (how many), WEFT_SCHEDULE (one exact run), WEFT_STRATEGY,
 * WEFT_WORKERS, the fault knobs, WEFT_MODE=threaded (the body once on the real
 * backend), WEFT_TRACE (where timelines go: a directory, or a path whose
 * extension is replaced), WEFT_SHRINK_SECONDS, WEFT_KEEP_GOING=1,
 * WEFT_CHECK_DETERMINISM, WEFT_JOBS; with WEFT_TEST=<name> these steer only the test of
 * that name. Every test follows the campaign's variables: the shard (as
 * weft_explore_opts.shard_count says), WEFT_RESULTS, XML_OUTPUT_FILE,
 * WEFT_TIME_BUDGET and WEFT_RUN_TIMEOUT (seconds). */
typedef struct weft_check_opts {
    const weft_config *cfg;  /* base configuration; NULL → 2 virtual workers */
    const char *name;        /* the test's name (WEFT_TEST selects it); NULL → none */
    uint64_t seeds;          /* seeds unless WEFT_SEEDS says; 0 → 1000 */
    /* Where the timeline of a failure goes (as WEFT_TRACE); NULL → WEFT_TRACE,
     * else $TMPDIR/weft-<name>.{json,html} when there is a name. */
    const char *timeline;
    unsigned shrink_budget;  /* runs; 0 → 2000 */
    double shrink_time_s;    /* 0 → 10 s (WEFT_SHRINK_SECONDS; 0 there: no shrinking) */
    /* OS threads for the seeds (weft_explore_opts.jobs), for a test whose
     * runs share nothing mutable; 0 → 1. WEFT_JOBS=<n> sets the count for a
     * test that opted in (jobs > 0) and leaves the others on one thread, as
     * go test -parallel does for tests that call t.Parallel(). */
    unsigned jobs;
} weft_check_opts;

/* Returns 0, the first failure's code (msg: what failed and the lines that
 * replay it, the shrunk one, the timeline's paths), or WEFT_EINVAL for a
 * malformed variable (msg names it). */
WEFT_API int weft_check_run(const weft_check_opts *opts, weft_fn test, void *arg, char *msg, size_t msglen);

/* weft_check_run with base (NULL: a zeroed configuration, one worker),
 * default_seeds and no name. */
WEFT_API int weft_check_seeds(const weft_config *base, weft_fn test, void *arg,
                              uint64_t default_seeds, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SIM_H */
