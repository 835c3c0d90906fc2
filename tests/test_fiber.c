/* test_fiber.c — fibers: each keeps its own floating-point control state,
 * stacks honour their configured sizes, and an overflow is reported by name
 * (also with 100,000 guarded fibers alive). */
#define _GNU_SOURCE
#include "support.h"

#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ASan and TSan own SIGSEGV and report overflows themselves; valgrind
 * reports the bad access. */
#define OWN_SIGSEGV (under_asan() || under_tsan() || under_valgrind())

/* A test that cannot run here says so, so that a pass is not taken for a
 * check made. */
static int sigsegv_is_owned(const char *test)
{
    if (!OWN_SIGSEGV)
        return 0;
    const char *owner = under_asan() ? "ASan" : under_tsan() ? "TSan" : "valgrind";
    fprintf(stderr, "note: %s skipped: %s owns SIGSEGV\n", test, owner);
    return 1;
}

/* The live fibers of the big overflow test; with the root and the
 * overflowing task the latter gets id LIVE_FIBERS + 2. */
enum { LIVE_FIBERS = 100000 };

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13+ */
#endif

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
/* MXCSR: the low six bits are exception flags (state, not control); bits
 * 13-14 the rounding mode; FTZ (bit 15) and DAZ (bit 6) flush denormals. */
#define MXCSR_FLAGS 0x3Fu
#define MXCSR_CONTROL(v) ((v) & ~MXCSR_FLAGS)
#define MXCSR_RC_SHIFT 13
#define MXCSR_RC_MASK 3u
#define MXCSR_FTZ_DAZ 0x8040u
/* The rounding-control encoding of each C rounding mode. */
static unsigned mxcsr_rc(int mode)
{
    switch (mode) {
    case FE_DOWNWARD: return 1;
    case FE_UPWARD: return 2;
    case FE_TOWARDZERO: return 3;
    default: return 0; /* FE_TONEAREST */
    }
}
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
        ck_assert_uint_eq((get_mxcsr() >> MXCSR_RC_SHIFT) & MXCSR_RC_MASK, mxcsr_rc(mode));
#endif
    }
    return NULL;
}

#if defined(__x86_64__)
static void *daz_task(void *arg)
{
    (void)arg;
    unsigned before = get_mxcsr();
    set_mxcsr(before | MXCSR_FTZ_DAZ);
    weft_yield();
    ck_assert_uint_eq(MXCSR_CONTROL(get_mxcsr()), MXCSR_CONTROL(before | MXCSR_FTZ_DAZ));
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
    weft_config c = threaded_config();
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

/* ---- stack colouring: fibers' stacks start at different offsets within a
 * page (so their top frames do not all fall in the same cache sets), and the
 * offset never costs a task any of the stack it asked for. ---- */

#define COLOURED 32

typedef struct coloured {
    uintptr_t offset[COLOURED];
    unsigned next;
} coloured;

static void *notes_its_offset_then_fills_its_stack(void *arg)
{
    coloured *c = arg;
    c->offset[c->next++] = (uintptr_t)__builtin_frame_address(0) % 4096u;
    weft_sleep(1000); /* every task holds its own stack at once */
    /* All but 256 bytes of the minimum stack below this frame. Under TSan
     * its runtime runs on the task's stack too, below the deepest frame: a
     * switch of its trace's part, which a fiber reused from task to task
     * meets at any access, overran the last 256 bytes (a SEGV in one CI
     * TSan run of the suite, beside another suite); it gets 8 KiB there. */
    return use_stack((void *)(uintptr_t)(WEFT_STACK_MIN - (under_tsan() ? 8192 : 256)));
}

static void *coloured_tasks(void *arg)
{
    coloured *c = arg;
    weft_task *t[COLOURED];
    weft_spawn_opts o = {.stack_size = WEFT_STACK_MIN};
    for (unsigned i = 0; i < COLOURED; i++)
        ck_assert_weft(weft_spawn_ex(&t[i], notes_its_offset_then_fills_its_stack, c, &o), 0);
    for (unsigned i = 0; i < COLOURED; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

START_TEST(fiber_stacks_start_at_spread_offsets_and_keep_the_size_asked_for)
{
    coloured c;
    memset(&c, 0, sizeof c);
    ck_assert_weft(run_sim(1, 0, coloured_tasks, &c), 0);
    ck_assert_uint_eq(c.next, COLOURED);
    unsigned distinct = 0;
    for (unsigned i = 0; i < COLOURED; i++) {
        bool seen = false;
        for (unsigned j = 0; j < i && !seen; j++)
            seen = c.offset[j] == c.offset[i];
        distinct += !seen;
    }
    ck_assert_uint_ge(distinct, 16);
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
    char *maps = slurp("/proc/self/maps", NULL);
    int n = 0;
    for (const char *c = maps; *c; c++)
        n += *c == '\n';
    free(maps);
    return n;
}

/* Runs the overflow in a child; returns its stderr and termination signal. */
static int run_overflow_child(long live, weft_mode mode, char *err, size_t errlen)
{
    weft_config c = test_config(1, 0);
    c.mode = mode;
    return run_in_child(&c, overflow_among, (void *)(intptr_t)live, err, errlen);
}

START_TEST(stack_overflow_is_reported_by_task_name)
{
    if (sigsegv_is_owned("stack_overflow_is_reported_by_task_name"))
        return;
    char err[4096], want[128];
    snprintf(want, sizeof want, "weft: task 2 (deep) overflowed its %u-byte stack", WEFT_STACK_DEFAULT);
    int sig = run_overflow_child(0, WEFT_MODE_THREADED, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, want), "stderr was: %s", err);
    sig = run_overflow_child(0, WEFT_MODE_SIM, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, want), "stderr was: %s", err);
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
    ck_assert_uint_ge(current_stats().stacks_mapped, (uint64_t)live);
    /* Guards inside one mapping: the map count grows by slabs, not stacks. */
    ck_assert_msg(after - before < 1000, "%ld guarded stacks took %d new mappings", live, after - before);
    return NULL;
}

static int kernel_has_guard_markers(void)
{
    /* Try MADV_GUARD_INSTALL on the first of two scratch pages. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(p != MAP_FAILED, "mmap of two scratch pages failed: %s", strerror(errno));
    int ok = madvise(p, page, MADV_GUARD_INSTALL) == 0;
    ck_assert_int_eq(munmap(p, 2 * page), 0);
    return ok;
}

START_TEST(overflow_detection_holds_at_100k_live_fibers)
{
    if (sigsegv_is_owned("overflow_detection_holds_at_100k_live_fibers"))
        return;
    if (!kernel_has_guard_markers()) {
        fprintf(stderr,
                "note: overflow_detection_holds_at_100k_live_fibers skipped: this kernel lacks "
                "MADV_GUARD_INSTALL; %d guarded stacks need %d mappings\n",
                LIVE_FIBERS, 2 * LIVE_FIBERS);
        return;
    }
    ck_assert_weft(run_sim(1, 0, count_maps_with_live, (void *)(intptr_t)LIVE_FIBERS), 0);
    char err[4096], want[128];
    snprintf(want, sizeof want, "weft: task %d (deep) overflowed its %u-byte stack", LIVE_FIBERS + 2,
             WEFT_STACK_DEFAULT);
    int sig = run_overflow_child(LIVE_FIBERS, WEFT_MODE_THREADED, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, want), "stderr was: %s", err);
}
END_TEST

/* ---- TSan: a stack's fiber is reused with an empty shadow call stack ---- */

/* `arg` tasks finish one after another, each on the stack the last gave
 * back. */
static void *finish_one_after_another(void *arg)
{
    for (uintptr_t i = 0; i < (uintptr_t)arg; i++) {
        weft_task *t;
        ck_assert_weft(weft_spawn(&t, returns_arg, (void *)i), 0);
        void *r = NULL;
        ck_assert_weft(weft_join(t, &r), 0);
        ck_assert_ptr_eq(r, (void *)i);
    }
    return NULL;
}

/* In TSan builds a stack keeps its TSan fiber from task to task, and a
 * finished task's frames (WEFT__TSAN_FINAL_FRAMES) are popped off it before
 * the next: one frame too few per task and 100,000 tasks overflow TSan's
 * 65,536-entry shadow stack (the process dies). Elsewhere: 100,000 tasks on
 * one stack, each result checked. */
START_TEST(a_hundred_thousand_tasks_finish_one_after_another_on_one_stack)
{
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, finish_one_after_another, (void *)(uintptr_t)100000, NULL), 0);
}
END_TEST

Suite *suite_fiber(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = tcase_create("fiber");
    tcase_add_test(tc, each_fiber_keeps_its_fp_control_state);
    tcase_add_test(tc, per_spawn_and_per_runtime_stack_sizes);
    tcase_add_test(tc, fiber_stacks_start_at_spread_offsets_and_keep_the_size_asked_for);
    tcase_add_test(tc, stack_overflow_is_reported_by_task_name);
    tcase_add_test(tc, overflow_detection_holds_at_100k_live_fibers);
    tcase_add_test(tc, a_hundred_thousand_tasks_finish_one_after_another_on_one_stack);
    suite_add_tcase(s, tc);
    return s;
}
