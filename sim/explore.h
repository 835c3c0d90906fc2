/* explore.h — what the files of exploration share: one run of a test in a
 * fresh simulated runtime (explore.c), shrinking (shrink.c), campaigns across
 * shards and their results files (results.c), the cross-process determinism
 * check (selfcheck.c) and the Check helper (check.c).
 *
 * Wall-clock time is read by these files only to bound work (time budgets,
 * per-seed timeouts, shrinking, the progress line); it never steers a run.
 */
#ifndef WEFT_SIM_EXPLORE_H
#define WEFT_SIM_EXPLORE_H

#include "sim.h"

/* How much of a run's decisions to keep. */
enum { WEFT__KEEP_NONE = 0, WEFT__KEEP_FAILED, WEFT__KEEP_ALWAYS };

typedef uint64_t (*weft__guide_fn)(void *ctx, weft__sim *s, int stream, uint32_t bound, bool preempt);

typedef struct weft__run_spec {
    const weft_config *cfg; /* its seed, strategy, knobs (the environment is never read) */
    weft_fn test;
    void *arg;
    const char *name;               /* the test, for replay lines of crashes */
    const weft__decisions *prefix;  /* PREFIX source when non-NULL */
    weft__guide_fn guide;           /* GUIDE source when non-NULL */
    void *guide_ctx;
    int keep;                       /* WEFT__KEEP_… */
    bool record_trace;
    double timeout_s;               /* per-run wall-clock timeout; 0: none */
    weft_rt **keep_rt;              /* leave the runtime alive for the caller */
    weft_rt **reuse;                /* a spare runtime: reset for this run (if *reuse is
                                       set) and left there for the next (NULL: a new
                                       runtime per run); the caller frees the last */
} weft__run_spec;

typedef struct weft__outcome {
    int status;
    uint64_t hash;
    uint64_t interleave_decisions;
    char message[4096];
    weft__decisions rec; /* malloc'ed; as spec.keep says */
} weft__outcome;

/* explore.c */
WEFT_HIDDEN int weft__run_once(const weft__run_spec *sp, weft__outcome *out);
WEFT_HIDDEN bool weft__is_failure(int status);
WEFT_HIDDEN double weft__wall_now(void);
WEFT_HIDDEN void weft__decisions_release(weft__decisions *d);
WEFT_HIDDEN int weft__decisions_copy(weft__decisions *dst, const weft__decisions *src);
/* What a failure is, for telling failures apart (shrinking keeps it, merging
 * deduplicates by it): the assertion's expression and site, a weft_fail
 * message with its numbers blanked, the shape of a deadlock (who waits on
 * what, without task ids), or the kind of failure. */
WEFT_HIDDEN void weft__signature(int status, const char *message, char *buf, size_t len);
/* Write the timeline of the run of cfg under `schedule` (exact) as
 * <json_path> and its HTML beside it; appends what it wrote, or why not, to
 * msg as one line. */
WEFT_HIDDEN int weft__write_timelines(const weft_config *cfg, weft_fn test, void *arg, uint64_t seed,
                                      const char *schedule, const char *json_path, char *msg, size_t msglen);
/* "x.json" → "x.html"; anything else gets ".html" appended. */
WEFT_HIDDEN void weft__html_path(const char *json_path, char *buf, size_t len);
WEFT_HIDDEN void weft__appendf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* shrink.c: shrink a failing run's decisions (exact, as recorded) while the
 * run keeps failing with the same signature. *out receives the shrunk
 * decisions (malloc'ed). Bounded by `budget` runs and `time_s` seconds (0:
 * no time bound). */
WEFT_HIDDEN int weft__shrink(const weft__run_spec *base, const weft__decisions *failing, unsigned budget,
                             double time_s, weft__decisions *out);
/* Non-default decisions: the choices a schedule actually makes. */
WEFT_HIDDEN size_t weft__choices(const weft__decisions *d);

/* results.c: where a campaign runs and what it writes */
typedef struct weft__shard {
    unsigned index, count;
    const char *from; /* which variables said so, for messages */
} weft__shard;
/* The shard from the first of: explicit (count > 0), WEFT_SHARD_INDEX/COUNT,
 * Bazel, GoogleTest, Slurm, Kubernetes (JOB_COMPLETION_INDEX with
 * WEFT_SHARD_COUNT). Unsharded is {0, 1}. WEFT_EINVAL with a message for a
 * bad or inconsistent value. */
WEFT_HIDDEN int weft__shard_resolve(unsigned index, unsigned count, bool use_env, weft__shard *out, char *why,
                                    size_t whylen);

typedef struct weft__results weft__results;
/* Opened by an exploration that writes JSON lines (path, "-" for stdout)
 * and/or JUnit XML; either may be NULL. */
WEFT_HIDDEN weft__results *weft__results_open(const char *jsonl, const char *junit, const weft_explore_opts *o,
                                              const weft_config *cfg, const weft__shard *shard);
/* One failure: by seed, or (by_schedule) by the schedule in its replay line. */
WEFT_HIDDEN void weft__results_failure(weft__results *r, uint64_t seed, bool by_schedule, int status,
                                       const char *signature, const char *message, const char *replay);
WEFT_HIDDEN void weft__results_shrunk(weft__results *r, uint64_t seed, const char *signature, size_t from, size_t to,
                                      const char *replay);
WEFT_HIDDEN void weft__results_close(weft__results *r, const weft_explore_result *res, const char *strategy,
                                     const char *stopped);

/* selfcheck.c: the determinism check across processes. */
/* In the re-executed child: true when this exploration is the one the parent
 * asked about (it then runs the run, writes its trace and exits the
 * process); false for every other one, which must then do nothing. Only
 * meaningful when weft__selfcheck_child_mode() is true. */
WEFT_HIDDEN bool weft__selfcheck_child_mode(void);
WEFT_HIDDEN void weft__selfcheck_child_run(const char *key, const weft__run_spec *sp);
/* In the parent: run sp in a fresh process (a re-exec of this program that
 * runs up to the exploration named key) and compare its trace with rt's (a
 * run of the same spec here). 0: the same; WEFT_EFAILED with msg naming the
 * first difference; another code if the child could not be run (msg says
 * why). */
WEFT_HIDDEN int weft__selfcheck_process(const char *key, const weft_rt *rt, char *msg, size_t msglen);
/* The key an exploration is known by in both processes: its name (or
 * "explore") and how many explorations of that name came before it here. */
WEFT_HIDDEN void weft__selfcheck_key(const char *name, char *buf, size_t len);

#endif
