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
 * trace-event JSON (Perfetto, chrome://tracing), one lane per virtual worker.
 * Returns 0, WEFT_EIO, WEFT_EINVAL (nothing recorded). */
WEFT_API int weft_rt_trace_write_json(const weft_rt *rt, const char *path);
/* Write the recorded trace as text, one event per line. */
WEFT_API int weft_rt_trace_write_text(const weft_rt *rt, const char *path);
/* Compare the recorded traces of two runtimes; returns the index of the first
 * event where they differ (and both events as text in a/b, if non-NULL), -1
 * if they are the same, or WEFT_EINVAL unless both are simulated runtimes.
 * Without recorded events only the hashes are compared (a difference is then
 * reported at index x's event count). */
WEFT_API int64_t weft_trace_diff(const weft_rt *x, const weft_rt *y, char *a, size_t alen, char *b, size_t blen);

/* ---- Exploration -------------------------------------------------------------
 * Run test(arg) as the root task of a fresh simulated runtime per run, under
 * seeds [seed_start, seed_start + seeds) or, for WEFT_STRATEGY_EXHAUSTIVE, over
 * every schedule of the choice tree within the preemption bound. A run fails
 * when its block_on fails (assertion, deadlock, livelock). */
#define WEFT_EXPLORE_KEEP_GOING 0x1u /* do not stop at the first failure */
#define WEFT_EXPLORE_PROGRESS 0x2u   /* progress line on stderr (if a tty) */
#define WEFT_EXPLORE_QUIET 0x4u      /* print nothing */
#define WEFT_EXPLORE_SHRINK 0x8u     /* shrink the first failing schedule */
#define WEFT_EXPLORE_CHECK_DETERMINISM 0x10u /* run the first seed twice (also WEFT_CHECK_DETERMINISM=1) */

typedef struct weft_explore_opts {
    weft_config cfg;          /* base config: workers, strategy, budgets… */
    uint64_t seed_start;
    uint64_t seeds;           /* 0 → 1000 */
    double time_budget_s;     /* stop after this much wall time; 0 → none */
    unsigned preemption_bound; /* exhaustive: at most this many preemptions; 0 → 2 */
    uint64_t max_schedules;   /* exhaustive: stop after this many; 0 → 10^6 */
    unsigned shrink_budget;   /* runs spent shrinking; 0 → 2000 */
    unsigned flags;           /* WEFT_EXPLORE_… */
    const char *timeline_path; /* write the (shrunk) failing run's JSON here */
} weft_explore_opts;

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
    char message[4096];       /* what failed, and the replay line */
    double elapsed_s;
} weft_explore_result;

WEFT_API int weft_explore(const weft_explore_opts *opts, weft_fn test, void *arg,
                          weft_explore_result *result);
WEFT_API void weft_explore_result_free(weft_explore_result *result);

/* Shrink a failing schedule: delete and lower choices while the run still
 * fails with the same status. *out is malloc'ed. Returns 0, WEFT_EINVAL (the
 * schedule does not fail), WEFT_ENOMEM. */
WEFT_API int weft_shrink(const weft_config *cfg, weft_fn test, void *arg, const char *schedule,
                         unsigned budget, char **out, size_t *out_len);

/* Run test under the seeds the environment asks for (WEFT_SEED: one seed,
 * WEFT_SEEDS: how many, WEFT_SCHEDULE: one schedule, WEFT_STRATEGY), else under
 * default_seeds seeds from 0, with a determinism self-check on the first. On
 * failure returns the code and writes a message with the replay line into msg.
 * This is what weft/check.h's WEFT_CK_EXPLORE uses. */
WEFT_API int weft_check_seeds(const weft_config *base, weft_fn test, void *arg,
                              uint64_t default_seeds, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SIM_H */
