/* measure_explore.c — exploration throughput (seeds/s) with and without the
 * machinery of exploring at scale: an explicit shard, a per-seed timeout, a
 * time budget, the results file and the progress line (drawn on a
 * pseudo-terminal, as a user at a terminal would see it). The workload is
 * the simulator benchmark's (tests/bench/bench_sim.c, sim_seeds): 3 tasks x
 * 100 steps on 2 virtual workers, 2,000 seeds. The two ways are run
 * interleaved, REPS times each; medians are printed.
 *
 * Built against a weft without the machinery (an older build), it measures
 * the plain way only, for a before/after:
 *   cc -O2 -Isrc/include tools/measure_explore.c build/release/lib/libweft.a -lpthread -o measure_explore
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#define SEEDS 2000u
#define TASKS 3u
#define STEPS 100u
#define REPS 7

typedef struct shared {
    weft_mutex m;
    unsigned counter;
} shared;

static void *stepper(void *arg)
{
    shared *s = arg;
    for (unsigned i = 0; i < STEPS; i++) {
        weft_mutex_lock(&s->m);
        unsigned v = s->counter;
        weft_sched_point();
        s->counter = v + 1;
        weft_mutex_unlock(&s->m);
    }
    return NULL;
}

static void *seed_test(void *arg)
{
    (void)arg;
    shared s;
    weft_mutex_init(&s.m);
    s.counter = 0;
    weft_task *t[TASKS];
    for (unsigned i = 0; i < TASKS; i++)
        weft_spawn(&t[i], stepper, &s);
    for (unsigned i = 0; i < TASKS; i++)
        weft_join(t[i], NULL);
    WEFT_ASSERT(s.counter == TASKS * STEPS);
    weft_mutex_destroy(&s.m);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double explore(int machinery)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.cfg.seed = 1;
    o.cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    o.seeds = SEEDS;
    o.flags = WEFT_EXPLORE_QUIET;
#ifdef WEFT_EXPLORE_CHECK_PROCESS
    if (machinery) {
        o.shard_index = 0;
        o.shard_count = 1;
        o.run_timeout_s = 60;
        o.time_budget_s = 3600;
        o.results_path = "/dev/null";
        o.name = "measure";
        o.flags |= WEFT_EXPLORE_PROGRESS;
    }
#else
    (void)machinery;
#endif
    weft_explore_result r;
    double t0 = now();
    int e = weft_explore(&o, seed_test, NULL, &r);
    double dt = now() - t0;
    if (e != 0 || r.runs != SEEDS || r.failures) {
        fprintf(stderr, "exploration failed: %d, %llu runs\n", e, (unsigned long long)r.runs);
        exit(1);
    }
    weft_explore_result_free(&r);
    return SEEDS / dt;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    /* The progress line needs a terminal: a pseudo-terminal on stderr for
     * the runs with the machinery (read and dropped afterwards). */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    int saved = dup(2), tty = -1;
    if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0)
        tty = open(ptsname(master), O_RDWR | O_NOCTTY);
    double plain[REPS], full[REPS];
    explore(0); /* warm-up */
    for (int i = 0; i < REPS; i++) {
        plain[i] = explore(0);
#ifdef WEFT_EXPLORE_CHECK_PROCESS
        if (tty >= 0)
            dup2(tty, 2);
        full[i] = explore(1);
        dup2(saved, 2);
        char drain[65536];
        fcntl(master, F_SETFL, O_NONBLOCK);
        while (read(master, drain, sizeof drain) > 0) {
        }
#else
        full[i] = 0;
#endif
    }
    qsort(plain, REPS, sizeof *plain, cmp);
    qsort(full, REPS, sizeof *full, cmp);
    printf("plain:     median %.0f seeds/s (min %.0f, max %.0f)\n", plain[REPS / 2], plain[0], plain[REPS - 1]);
#ifdef WEFT_EXPLORE_CHECK_PROCESS
    printf("machinery: median %.0f seeds/s (min %.0f, max %.0f): %+.1f%%\n", full[REPS / 2], full[0],
           full[REPS - 1], 100.0 * (full[REPS / 2] - plain[REPS / 2]) / plain[REPS / 2]);
#endif
    return 0;
}
