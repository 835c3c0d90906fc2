/* support.c — the shared test helpers of support.h. */
#define _GNU_SOURCE
#include "support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

weft_config test_config(unsigned workers, uint64_t seed)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.workers = workers;
    c.seed = seed;
    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    return c;
}

int run_in(const weft_config *cfg, weft_fn fn, void *arg, void **result)
{
    weft_config c = cfg ? *cfg : test_config(1, 0);
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    if (r < 0)
        return r;
    r = weft_rt_block_on(rt, fn, arg, result);
    weft_rt_free(rt);
    return r;
}

int run_sim(unsigned workers, uint64_t seed, weft_fn fn, void *arg)
{
    weft_config c = test_config(workers, seed);
    return run_in(&c, fn, arg, NULL);
}

int run_child(int (*child)(void *), void *arg, char *err, size_t errlen)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        _exit(child(arg));
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t r;
    while (used + 1 < errlen && (r = read(fds[0], err + used, errlen - 1 - used)) > 0)
        used += (size_t)r;
    err[used] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

typedef struct dying_run {
    const weft_config *cfg;
    weft_fn fn;
    void *arg;
} dying_run;

static int run_to_death(void *arg)
{
    dying_run *d = arg;
    weft_rt *rt;
    if (weft_rt_new(&rt, d->cfg) != 0)
        return 3;
    weft_rt_block_on(rt, d->fn, d->arg, NULL);
    return 4; /* not reached: the child dies first */
}

int run_in_child(const weft_config *cfg, weft_fn fn, void *arg, char *err, size_t errlen)
{
    dying_run d = {cfg, fn, arg};
    return run_child(run_to_death, &d, err, errlen);
}

weft_config threaded_config(void)
{
    weft_config c = test_config(1, 0);
    c.mode = WEFT_MODE_THREADED;
    return c;
}

uint64_t hash_in(const weft_config *cfg, weft_fn fn, void *arg, void **result)
{
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, cfg), 0);
    ck_assert_weft(weft_rt_block_on(rt, fn, arg, result), 0);
    uint64_t h = weft_rt_trace_hash(rt);
    weft_rt_free(rt);
    return h;
}

uint64_t run_hash(unsigned workers, uint64_t seed, weft_fn fn, void *arg, void **result)
{
    weft_config c = test_config(workers, seed);
    return hash_in(&c, fn, arg, result);
}

void *returns_arg(void *arg)
{
    return arg;
}

void *yields_forever(void *arg)
{
    for (;;)
        weft_yield();
    return arg;
}

void *yields_times(void *arg)
{
    for (uintptr_t i = 0; i < (uintptr_t)arg; i++)
        weft_yield();
    return NULL;
}

void *waits_forever(void *arg)
{
    (void)arg;
    weft_event never;
    ck_assert_weft(weft_event_init(&never, 0), 0);
    int r = weft_event_wait(&never);
    ck_assert_weft(weft_event_destroy(&never), 0);
    return (void *)(intptr_t)r;
}

void *joins_a_stuck_child(void *arg)
{
    (void)arg;
    weft_task *t = spawn_ok(waits_forever, NULL);
    weft_join(t, NULL); /* never returns 0: the run deadlocks, and its shutdown cancels us */
    return NULL;
}

/* The loop behind run_matrix and run_race. */
static void run_seeds(const unsigned *workers, size_t nworkers, uint64_t seeds, weft_fn body, void *arg,
                      void (*reset)(void *), const char *what)
{
    for (size_t w = 0; w < nworkers; w++)
        for (uint64_t seed = 0; seed < seeds; seed++) {
            reset(arg);
            int r = run_sim(workers[w], seed, body, arg);
            ck_assert_msg(r == 0, "%s%sworkers=%u seed=%llu: run returned %d (%s)", what ? what : "", what ? ", " : "",
                          workers[w], (unsigned long long)seed, r, weft_strerror(r));
        }
}

void run_matrix(weft_fn body, void *arg, void (*reset)(void *), uint64_t seeds)
{
    static const unsigned workers[] = {1, 2, 4};
    run_seeds(workers, 3, seeds, body, arg, reset, NULL);
}

void run_race(weft_fn body, void *arg, void (*reset)(void *), const char *what)
{
    static const unsigned workers[] = {2, 4};
    run_seeds(workers, 2, seeds_for(300), body, arg, reset, what);
}

weft_task *spawn_ok(weft_fn fn, void *arg)
{
    weft_task *t = NULL;
    ck_assert_weft(weft_spawn(&t, fn, arg), 0);
    ck_assert_ptr_nonnull(t);
    return t;
}

void cancel_race(weft_fn victim, weft_fn thief, void *arg, const int *result)
{
    weft_task *v = spawn_ok(victim, arg);
    weft_task *t = thief ? spawn_ok(thief, arg) : NULL;
    weft_sched_point();
    ck_assert_weft(weft_cancel(v), 0);
    weft_join(v, NULL);
    ck_assert_msg(current_stats().shutdown_cancelled == 0,
                  "the cancel was lost: the victim stayed blocked for good (deadlock; the run was shut down)");
    if (t)
        ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_msg(*result == 0 || *result == WEFT_ECANCELED, "victim returned %d (%s)", *result,
                  weft_strerror(*result));
}

weft_rt_stats current_stats(void)
{
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(weft_rt_current(), &st), 0);
    return st;
}

static void *counting_malloc(void *ctx, size_t size)
{
    counting_alloc *c = ctx;
    c->calls++;
    if ((c->fail_nth && c->calls == c->fail_nth) || (c->fail_from && c->calls >= c->fail_from))
        return NULL;
    void *p = malloc(size);
    if (p) {
        c->live_bytes += size;
        c->live_blocks++;
    }
    return p;
}

static void counting_free(void *ctx, void *p, size_t size)
{
    counting_alloc *c = ctx;
    c->live_bytes -= size;
    c->live_blocks--;
    free(p);
}

void counting_alloc_init(counting_alloc *c)
{
    memset(c, 0, sizeof *c);
    c->a.alloc = counting_malloc;
    c->a.free = counting_free;
    c->a.ctx = c;
}

int run_counted(counting_alloc *ca, weft_fn fn, void *arg)
{
    weft_config c = test_config(1, 0);
    c.allocator = &ca->a;
    return run_in(&c, fn, arg, NULL);
}

uint64_t assert_reset_matches_fresh(weft_fn fn, void *arg, uint64_t n, unsigned workers)
{
    return assert_reset_matches_fresh_with(fn, arg, n, &workers, 1);
}

uint64_t assert_reset_matches_fresh_with(weft_fn fn, void *arg, uint64_t n, const unsigned *counts, size_t ncounts)
{
    weft_rt *spare = NULL;
    uint64_t reused = 0, most_mapped = 0;
    for (uint64_t seed = 0; seed < n; seed++) {
        unsigned workers = counts[seed % ncounts];
        weft_config c = test_config(workers, seed);
        weft_rt *fresh;
        ck_assert_weft(weft_rt_new(&fresh, &c), 0);
        int want = weft_rt_block_on(fresh, fn, arg, NULL);
        uint64_t want_hash = weft_rt_trace_hash(fresh);
        weft_rt_stats st;
        ck_assert_weft(weft_rt_stats_get(fresh, &st), 0);
        most_mapped = st.stacks_mapped > most_mapped ? st.stacks_mapped : most_mapped;
        weft_rt_free(fresh);
        int r = spare ? weft_rt_reset(spare, &c) : 1;
        if (r == 0) {
            reused++;
        } else {
            ck_assert_msg(r == 1 || r == WEFT_EBUSY, "seed %llu: weft_rt_reset returned %d (%s)",
                          (unsigned long long)seed, r, weft_strerror(r));
            weft_rt_free(spare);
            ck_assert_weft(weft_rt_new(&spare, &c), 0);
        }
        int got = weft_rt_block_on(spare, fn, arg, NULL);
        uint64_t got_hash = weft_rt_trace_hash(spare);
        ck_assert_msg(got == want && got_hash == want_hash,
                      "seed %llu, %u worker(s): a new runtime ran to %d with hash %016llx, the reset one to %d "
                      "with hash %016llx",
                      (unsigned long long)seed, workers, want, (unsigned long long)want_hash, got,
                      (unsigned long long)got_hash);
        /* The pool is reused, not added to: no more stacks than the
         * hungriest new runtime needed. */
        ck_assert_weft(weft_rt_stats_get(spare, &st), 0);
        ck_assert_msg(st.stacks_mapped <= most_mapped, "seed %llu: the reset runtime has %llu stacks mapped, a new "
                      "one needed at most %llu", (unsigned long long)seed, (unsigned long long)st.stacks_mapped,
                      (unsigned long long)most_mapped);
    }
    weft_rt_free(spare);
    return reused;
}

int under_valgrind(void)
{
    const char *v = getenv("WEFT_VALGRIND");
    return v && *v == '1';
}

/* gcc announces a sanitizer with __SANITIZE_*__, clang with __has_feature. */
#ifdef __has_feature
#define HAS_FEATURE(f) __has_feature(f)
#else
#define HAS_FEATURE(f) 0
#endif

int under_tsan(void)
{
#if defined(__SANITIZE_THREAD__) || HAS_FEATURE(thread_sanitizer)
    return 1;
#else
    return 0;
#endif
}

int under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__) || HAS_FEATURE(address_sanitizer)
    return 1;
#else
    return 0;
#endif
}

uint64_t seeds_for(uint64_t n)
{
    return (under_valgrind() || under_tsan()) && n > 50 ? 50 : n;
}

void temp_file(char *buf, size_t len, const char *tag, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/weft-%s-XXXXXX%s", dir && *dir ? dir : "/tmp", tag, suffix);
    ck_assert_msg(n > 0 && (size_t)n < len, "temporary path too long");
    int fd = mkstemps(buf, (int)strlen(suffix));
    ck_assert_msg(fd >= 0, "cannot create %s: %s", buf, strerror(errno));
    close(fd);
}

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    /* Read until EOF rather than trusting the size: /proc files say 0. */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap);
        ck_assert_ptr_nonnull(bigger);
        buf = bigger;
    }
    int err = ferror(f);
    fclose(f);
    ck_assert_msg(!err, "cannot read %s", path);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

bool kernel_populates(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    bool ok = madvise(p, page, 23 /* MADV_POPULATE_WRITE */) == 0;
    munmap(p, page);
    return ok;
}

size_t resident_pages(const void *p, size_t len, size_t *whole)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)(page - 1);
    *whole = end > start ? (end - start) / page : 0;
    if (!*whole)
        return 0;
    unsigned char *v = malloc(*whole);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore((void *)start, end - start, v), 0);
    size_t n = 0;
    for (size_t i = 0; i < *whole; i++)
        n += v[i] & 1;
    free(v);
    return n;
}
