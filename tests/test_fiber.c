/* test_fiber.c — fibers: each keeps its own floating-point control state,
 * stacks honour their configured sizes, and an overflow is reported by name
 * (also with 100,000 guarded fibers alive). */
#define _GNU_SOURCE
#include "support.h"

#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ASan and TSan own SIGSEGV and report overflows themselves; valgrind
 * reports the bad access. */
#define OWN_SIGSEGV (under_asan() || under_tsan() || under_valgrind())

#if defined(__x86_64__)
static unsigned get_mxcsr(void)
{
    unsigned v;
    __asm__ __volatile__("stmxcsr %0" : "=m"(v));
    return v;
}
static void set_mxcsr(unsigned v)
{
    __asm__ __volatile__("ldmxcsr %0" : : "m"(v));
}
#define MXCSR_CONTROL(v) ((v) & ~0x3Fu)
#endif

static void *rounding_task(void *arg)
{
    int mode = (int)(intptr_t)arg;
    ck_assert_int_eq(fegetround(), FE_TONEAREST); /* a fresh fiber starts with the ABI default */
    ck_assert_int_eq(fesetround(mode), 0);
    for (int i = 0; i < 5; i++) {
        weft_yield();
        ck_assert_int_eq(fegetround(), mode);
#if defined(__x86_64__)
        /* Both units: fegetround reads x87; the SSE rounding bits too. */
        ck_assert_uint_eq((get_mxcsr() >> 13) & 3, mode == FE_UPWARD ? 2u : mode == FE_DOWNWARD ? 1u
                                                                           : mode == FE_TOWARDZERO ? 3u : 0u);
#endif
    }
    return NULL;
}

#if defined(__x86_64__)
static void *daz_task(void *arg)
{
    (void)arg;
    unsigned before = get_mxcsr();
    set_mxcsr(before | 0x8040u); /* flush-to-zero and denormals-are-zero */
    weft_yield();
    ck_assert_uint_eq(MXCSR_CONTROL(get_mxcsr()), MXCSR_CONTROL(before | 0x8040u));
    return NULL;
}
#endif

static void *fp_root(void *arg)
{
    (void)arg;
    int modes[4] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO, FE_TONEAREST};
    weft_task *t[5];
    for (int i = 0; i < 4; i++)
        ck_assert_weft(weft_spawn(&t[i], rounding_task, (void *)(intptr_t)modes[i]), 0);
    int n = 4;
#if defined(__x86_64__)
    /* valgrind does not emulate MXCSR's FTZ/DAZ bits (its manual says so). */
    if (!under_valgrind())
        ck_assert_weft(weft_spawn(&t[n++], daz_task, NULL), 0);
#endif
    for (int i = 0; i < n; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    return NULL;
}

START_TEST(each_fiber_keeps_its_fp_control_state)
{
    ck_assert_weft(run_sim(1, 0, fp_root, NULL), 0);
    weft_config c = test_config(1, 0);
    c.mode = WEFT_MODE_THREADED;
    ck_assert_weft(run_in(&c, fp_root, NULL, NULL), 0);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
}
END_TEST

static void *use_stack(void *arg)
{
    size_t bytes = (size_t)arg;
    volatile char *buf = __builtin_alloca(bytes);
    for (size_t i = 0; i < bytes; i += 512)
        buf[i] = (char)i;
    return (void *)(uintptr_t)buf[bytes / 2 & ~(size_t)511];
}

static void *big_stacks(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.name = "big", .stack_size = 1024 * 1024};
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, use_stack, (void *)(uintptr_t)(900 * 1024), &o), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    o.stack_size = WEFT_STACK_MIN - 1;
    ck_assert_weft(weft_spawn_ex(&t, use_stack, NULL, &o), WEFT_EINVAL);
    ck_assert_ptr_null(t);
    o.stack_size = (size_t)WEFT_STACK_MAX + 1;
    ck_assert_weft(weft_spawn_ex(&t, use_stack, NULL, &o), WEFT_EINVAL);
    return NULL;
}

START_TEST(per_spawn_and_per_runtime_stack_sizes)
{
    ck_assert_weft(run_sim(1, 0, big_stacks, NULL), 0);
    weft_config c = test_config(1, 0);
    c.stack_size = 512 * 1024;
    ck_assert_weft(run_in(&c, use_stack, (void *)(uintptr_t)(400 * 1024), NULL), 0);
    c.stack_size = 1000;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
}
END_TEST

/* ---- overflow, in a child process ---- */

static int recurse(int depth)
{
    volatile char pad[256];
    pad[0] = (char)depth;
    return depth > 1000000000 ? 0 : recurse(depth + 1) + pad[0];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(0);
}

static void *sleep_long(void *arg)
{
    (void)arg;
    weft_sleep(3600ull * 1000000000ull);
    return NULL;
}

static void *overflow_among(void *arg)
{
    long live = (long)(intptr_t)arg;
    for (long i = 0; i < live; i++)
        if (weft_spawn(NULL, sleep_long, NULL) != 0)
            abort();
    weft_sleep(1000); /* every sleeper now holds a stack */
    weft_spawn_opts o = {.name = "deep"};
    weft_task *t;
    if (weft_spawn_ex(&t, overflow, NULL, &o) != 0)
        abort();
    weft_join(t, NULL);
    return NULL;
}

static int maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Runs the overflow in a child; returns its stderr and termination signal. */
static int run_overflow_child(long live, weft_mode mode, char *err, size_t errlen)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        weft_config c = test_config(1, 0);
        c.mode = mode;
        weft_rt *rt;
        if (weft_rt_new(&rt, &c) != 0)
            _exit(3);
        weft_rt_block_on(rt, overflow_among, (void *)(intptr_t)live, NULL);
        _exit(4); /* not reached: the overflow aborts */
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

START_TEST(stack_overflow_is_reported_by_task_name)
{
    if (OWN_SIGSEGV)
        return;
    char err[4096];
    int sig = run_overflow_child(0, WEFT_MODE_THREADED, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "weft: task 2 (deep) overflowed its 65536-byte stack"), "stderr was: %s", err);
    sig = run_overflow_child(0, WEFT_MODE_SIM, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "overflowed its 65536-byte stack"), "stderr was: %s", err);
    ck_assert_msg(strstr(err, "weft: reproduce with WEFT_SEED=0"), "stderr was: %s", err);
}
END_TEST

static void *count_maps_with_live(void *arg)
{
    long live = (long)(intptr_t)arg;
    int before = maps_lines();
    for (long i = 0; i < live; i++)
        ck_assert_weft(weft_spawn(NULL, sleep_long, NULL), 0);
    weft_sleep(1000);
    int after = maps_lines();
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(weft_rt_current(), &st), 0);
    ck_assert_uint_ge(st.stacks_mapped, (uint64_t)live);
    /* Guards inside one mapping: the map count grows by slabs, not stacks. */
    ck_assert_msg(after - before < 1000, "%ld guarded stacks took %d new mappings", live, after - before);
    return NULL;
}

static int kernel_has_guard_markers(void)
{
    /* MADV_GUARD_INSTALL (Linux 6.13+): try it on a scratch page. */
    void *p = mmap(NULL, 8192, 3, 0x22, -1, 0);
    int ok = madvise(p, 4096, 102) == 0;
    munmap(p, 8192);
    return ok;
}

START_TEST(overflow_detection_holds_at_100k_live_fibers)
{
    if (OWN_SIGSEGV)
        return;
    if (!kernel_has_guard_markers()) {
        fprintf(stderr, "note: this kernel lacks MADV_GUARD_INSTALL; 100k guarded stacks need 200k mappings\n");
        return;
    }
    ck_assert_weft(run_sim(1, 0, count_maps_with_live, (void *)(intptr_t)100000), 0);
    char err[4096];
    int sig = run_overflow_child(100000, WEFT_MODE_THREADED, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "weft: task 100002 (deep) overflowed its 65536-byte stack"), "stderr was: %s", err);
}
END_TEST

Suite *suite_fiber(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = tcase_create("fiber");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, each_fiber_keeps_its_fp_control_state);
    tcase_add_test(tc, per_spawn_and_per_runtime_stack_sizes);
    tcase_add_test(tc, stack_overflow_is_reported_by_task_name);
    tcase_add_test(tc, overflow_detection_holds_at_100k_live_fibers);
    suite_add_tcase(s, tc);
    return s;
}
