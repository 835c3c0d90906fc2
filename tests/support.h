/* support.h — helpers shared by the test suites: running a body in a fresh
 * runtime (once, over a matrix of workers and seeds, or on the real backend),
 * task bodies several suites need, spawning and cancelling tasks with the
 * checks every suite makes, an allocator that fails on demand and counts what
 * is live, temporary files and reading them back, and a way to know whether
 * valgrind or a sanitizer is watching. */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft.h>

/* Run fn(arg) as the root of a fresh runtime with cfg (NULL: defaults, quiet,
 * no environment); returns block_on's code and frees the runtime. */
int run_in(const weft_config *cfg, weft_fn fn, void *arg, void **result);
/* Run child(arg) in a forked process (for what cannot be undone: a death,
 * a seccomp filter); *err receives its stderr. Returns the signal that ended
 * it, or minus its exit status (0: it exited 0). */
int run_child(int (*child)(void *), void *arg, char *err, size_t errlen);
/* Run fn(arg) as the root of a runtime with cfg in a child process that is
 * expected to die (an overflow, a watchdog); *err receives its stderr.
 * Returns the signal that ended it, or minus its exit status. */
int run_in_child(const weft_config *cfg, weft_fn fn, void *arg, char *err, size_t errlen);
/* A simulated runtime with `workers` virtual workers and `seed`. */
int run_sim(unsigned workers, uint64_t seed, weft_fn fn, void *arg);
/* A base config: simulation, quiet, environment ignored. */
weft_config test_config(unsigned workers, uint64_t seed);
/* The same on the real backend: one worker, the monotonic clock. */
weft_config threaded_config(void);

/* Run fn(arg) as the root of a fresh runtime with cfg, assert that block_on
 * returned 0 and return the run's trace hash; *result (may be NULL) receives
 * the root's return value. */
uint64_t hash_in(const weft_config *cfg, weft_fn fn, void *arg, void **result);
/* The same in a simulation with `workers` virtual workers and `seed`. */
uint64_t run_hash(unsigned workers, uint64_t seed, weft_fn fn, void *arg, void **result);

/* Run fn(arg) under seeds [0, n) on `workers` virtual workers twice, on a new
 * runtime per seed and on one runtime reset between seeds (weft_rt_reset),
 * and assert that each seed's status and trace hash agree; returns how many
 * runs the reset served (a task that ignores cancellation makes a reset
 * refuse; the helper then makes a new runtime, as weft_explore does). */
uint64_t assert_reset_matches_fresh(weft_fn fn, void *arg, uint64_t n, unsigned workers);
/* The same with seed k on counts[k % ncounts] workers: each reset may change
 * the runtime's worker count. */
uint64_t assert_reset_matches_fresh_with(weft_fn fn, void *arg, uint64_t n, const unsigned *counts, size_t ncounts);

/* Task bodies several suites run. */
/* Returns its argument. */
void *returns_arg(void *arg);
/* Yields in a loop and never returns, cancelled or not: a livelock, and a
 * task that shutdown has to abandon. */
void *yields_forever(void *arg);
/* Yields (uintptr_t)arg times; returns NULL. */
void *yields_times(void *arg);
/* Waits on an event nobody sets; returns what the wait returned (as an
 * intptr_t: WEFT_ECANCELED once cancelled). */
void *waits_forever(void *arg);
/* Spawns waits_forever and joins it: every task is blocked for good. */
void *joins_a_stuck_child(void *arg);

/* Run body(arg) on 1, 2 and 4 virtual workers under seeds 0..seeds-1 each,
 * calling reset(arg) before every run; a run that does not return 0 fails the
 * test, naming the worker count and the seed to replay. */
void run_matrix(weft_fn body, void *arg, void (*reset)(void *), uint64_t seeds);
/* The same for a race between tasks: 2 and 4 workers (one cannot race),
 * seeds_for(300) seeds each so that the rare interleaving is hit; `what`
 * (or NULL) names the case in a failure. */
void run_race(weft_fn body, void *arg, void (*reset)(void *), const char *what);

/* Spawn fn(arg) and assert that it worked; returns the handle. */
weft_task *spawn_ok(weft_fn fn, void *arg);
/* A cancel raced against a task entering a wait: spawn victim(arg) and
 * thief(arg) (a competitor that can prove the victim's "can proceed" peek
 * wrong; NULL when the wait needs none), take a scheduling point so that
 * they start, cancel the victim and join them. A lost cancel leaves the
 * victim parked for good: the run deadlocks, its shutdown cancels every task
 * and the test fails here. What the victim's call returned, *result, must be
 * 0 or WEFT_ECANCELED. */
void cancel_race(weft_fn victim, weft_fn thief, void *arg, const int *result);

/* The counters of the calling task's runtime (asserts that they could be
 * read: call it from a task). */
weft_rt_stats current_stats(void);

/* An allocator that counts live bytes and fails the n-th call (1-based; 0 =
 * never) or every call after `fail_from` (0 = never). */
typedef struct counting_alloc {
    weft_allocator a;
    uint64_t calls, live_bytes, live_blocks;
    uint64_t fail_nth, fail_from;
} counting_alloc;
void counting_alloc_init(counting_alloc *c);
/* Run fn(arg) as the root of a one-worker simulation that allocates through
 * ca; returns run_in's code. */
int run_counted(counting_alloc *ca, weft_fn fn, void *arg);

/* Create an empty temporary file named weft-<tag>-XXXXXX<suffix> in $TMPDIR
 * (or /tmp) and put its path in buf; the test unlinks it. Fails the test if
 * it cannot. */
void temp_file(char *buf, size_t len, const char *tag, const char *suffix);
/* The whole file at path, NUL-terminated, malloc'ed (the caller frees it);
 * *len (may be NULL) receives its length. Fails the test, naming the file
 * and the reason, if it cannot be read. */
char *slurp(const char *path, size_t *len);

/* 1 under valgrind (WEFT_VALGRIND=1 is set by `scons valgrind`). */
int under_valgrind(void);
/* 1 in a ThreadSanitizer build. TSan tracks each fiber like a thread and
 * allows about 8,000 of them, so tests that keep tens of thousands of fibers
 * alive run smaller there. */
int under_tsan(void);
/* 1 in an AddressSanitizer build (its SIGSEGV handler reports overflows). */
int under_asan(void);

/* How many simulated seeds a test should run: n, or at most 50 under valgrind
 * and ThreadSanitizer. The counts are there to reach the simulator's rare
 * interleavings, which are the same in every build: the debug, ASan and model
 * builds run them all. A simulation runs on one OS thread, where TSan has
 * nothing to report and valgrind sees the same code paths seed after seed, at
 * 30 to 60 times the cost of each. */
uint64_t seeds_for(uint64_t n);

/* Assert a weft call returned `want`, showing both codes. */
#define ck_assert_weft(expr, want)                                                                        \
    do {                                                                                                  \
        int ck_got_ = (expr);                                                                             \
        int ck_want_ = (want);                                                                            \
        ck_assert_msg(ck_got_ == ck_want_, "%s returned %d (%s), expected %d (%s)", #expr, ck_got_,        \
                      weft_strerror(ck_got_), ck_want_, weft_strerror(ck_want_));                         \
    } while (0)

/* A call the API must refuse: assert it returned `want`, then call the
 * suite's own still_usable(), which shows that the refusal left the runtime
 * working (each suite checks it with the objects it is about). */
#define BAD(expr, want)                                                                                   \
    do {                                                                                                  \
        ck_assert_weft(expr, want);                                                                       \
        still_usable();                                                                                   \
    } while (0)

/* Time in ns as the runtime sees it (virtual in simulation), and 1 ms. */
#define NOW() weft_now()
#define MS 1000000ull

/* Whether the kernel can populate pages (madvise MADV_POPULATE_WRITE,
 * Linux 5.14); without it the runtime's prefaults are no-ops. */
bool kernel_populates(void);
/* How many of the whole pages within [p, p + len) are resident (mincore);
 * *whole says how many whole pages there are. */
size_t resident_pages(const void *p, size_t len, size_t *whole);

#endif
