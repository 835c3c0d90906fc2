/* test_io_escape.c — the escape detector: a simulated task that reads the
 * real clock, sleeps for real, draws real randomness, opens a real socket or
 * starts a real thread or process fails its run with a report naming the
 * task and the call, and the replay line; the same calls in threaded mode, or
 * outside a task, are silent and do what libc does. A blocking call
 * (weft_spawn_blocking) may sleep for real in simulation, and nothing else. */
#define _GNU_SOURCE
#include "support.h"

#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

/* glibc has had arc4random since 2.36 (as escape.c checks too). */
#ifdef __GLIBC__
#if __GLIBC_PREREQ(2, 36)
#define HAVE_ARC4RANDOM 1
#endif
#endif

static void *thread_body(void *arg)
{
    return arg;
}

static int thrd_body(void *arg)
{
    return (int)(intptr_t)arg;
}

/* The OS clock by the system call: clock_gettime in a simulated task would
 * be reported before the sleep it measures. */
static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 0 when the OS clock moved at least ns since `since` (the sleep slept). */
static int slept(uint64_t since, uint64_t ns)
{
    return monotonic_ns() - since >= ns ? 0 : 1;
}

/* 0 when the child pid exited with status 7. */
static int exited_7(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : 1;
}

/* Each escape; returns 0 when the call worked (threaded). */
static int call_clock_gettime(void)
{
    struct timespec ts;
    return clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec + ts.tv_nsec > 0 ? 0 : 1;
}

static int call_time(void)
{
    return time(NULL) > 0 ? 0 : 1;
}

static int call_gettimeofday(void)
{
    struct timeval tv;
    return gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 0 ? 0 : 1;
}

static int call_timespec_get(void)
{
    struct timespec ts;
    return timespec_get(&ts, TIME_UTC) == TIME_UTC && ts.tv_sec > 0 ? 0 : 1;
}

static int call_clock(void)
{
    return clock() != (clock_t)-1 ? 0 : 1;
}

static int call_clock_nanosleep(void)
{
    uint64_t t0 = monotonic_ns();
    struct timespec d = {0, 1000000};
    return clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL) == 0 ? slept(t0, 1000000) : 1;
}

static int call_nanosleep(void)
{
    uint64_t t0 = monotonic_ns();
    struct timespec d = {0, 1000000};
    return nanosleep(&d, NULL) == 0 ? slept(t0, 1000000) : 1;
}

static int call_sleep(void)
{
    return sleep(0) == 0 ? 0 : 1;
}

static int call_usleep(void)
{
    uint64_t t0 = monotonic_ns();
    return usleep(1000) == 0 ? slept(t0, 1000000) : 1;
}

static int call_rand(void)
{
    return rand() >= 0 ? 0 : 1;
}

static int call_random(void)
{
    return random() >= 0 ? 0 : 1;
}

static int call_getrandom(void)
{
    char b[8];
    return getrandom(b, sizeof b, 0) == (ssize_t)sizeof b ? 0 : 1;
}

static int call_getentropy(void)
{
    char b[8];
    return getentropy(b, sizeof b) == 0 ? 0 : 1;
}

#ifdef HAVE_ARC4RANDOM
static int call_arc4random(void)
{
    return arc4random() != arc4random() ? 0 : 1; /* equal: 1 in 2^32 */
}

static int call_arc4random_buf(void)
{
    unsigned char b[16] = {0}, zero[16] = {0};
    arc4random_buf(b, sizeof b);
    return memcmp(b, zero, sizeof b) ? 0 : 1;
}

static int call_arc4random_uniform(void)
{
    return arc4random_uniform(10) < 10 ? 0 : 1;
}
#endif

static int call_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 1;
    close(fd);
    return 0;
}

static int call_socketpair(void)
{
    int fds[2];
    char c = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return 1;
    int ok = write(fds[0], "x", 1) == 1 && read(fds[1], &c, 1) == 1 && c == 'x';
    close(fds[0]);
    close(fds[1]);
    return ok ? 0 : 1;
}

static int call_pthread_create(void)
{
    pthread_t th;
    void *r = NULL;
    if (pthread_create(&th, NULL, thread_body, (void *)7) != 0)
        return 1;
    pthread_join(th, &r);
    return r == (void *)7 ? 0 : 1;
}

static int call_thrd_create(void)
{
    thrd_t th;
    int r = 0;
    if (thrd_create(&th, thrd_body, (void *)7) != thrd_success)
        return 1;
    thrd_join(th, &r);
    return r == 7 ? 0 : 1;
}

static int call_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    return exited_7(pid);
}

static int call_vfork(void)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(7);
    return exited_7(pid);
}

static int call_posix_spawn(void)
{
    char *argv[] = {"sh", "-c", "exit 7", NULL};
    pid_t pid;
    return posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0 ? exited_7(pid) : 1;
}

static int call_posix_spawnp(void)
{
    char *argv[] = {"sh", "-c", "exit 7", NULL};
    pid_t pid;
    return posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) == 0 ? exited_7(pid) : 1;
}

/* clang-format off */
#define ESCAPE(name) {#name, call_##name, 0}
#define SLEEP(name) {#name, call_##name, 1}
static const struct {
    const char *call;
    int (*run)(void);
    int sleeps; /* a real sleep: allowed in a blocking call */
} escapes[] = {
    ESCAPE(clock_gettime), ESCAPE(time), ESCAPE(gettimeofday), ESCAPE(timespec_get), ESCAPE(clock),
    SLEEP(clock_nanosleep), SLEEP(nanosleep), SLEEP(sleep), SLEEP(usleep),
    ESCAPE(rand), ESCAPE(random), ESCAPE(getrandom), ESCAPE(getentropy),
#ifdef HAVE_ARC4RANDOM
    ESCAPE(arc4random), ESCAPE(arc4random_buf), ESCAPE(arc4random_uniform),
#endif
    ESCAPE(socket), ESCAPE(socketpair),
    ESCAPE(pthread_create), ESCAPE(thrd_create),
    ESCAPE(fork), ESCAPE(vfork), ESCAPE(posix_spawn), ESCAPE(posix_spawnp),
};
/* clang-format on */
#define NESCAPES (int)(sizeof escapes / sizeof escapes[0])

static int escape(int which)
{
    return escapes[which].run();
}

static void *escaping_task(void *arg)
{
    return (void *)(intptr_t)escape((int)(intptr_t)arg);
}

static void *root(void *arg)
{
    weft_spawn_opts o = {.name = "escaper"};
    weft_task *t;
    if (weft_spawn_ex(&t, escaping_task, arg, &o) < 0)
        return (void *)1;
    void *r;
    weft_join(t, &r);
    return r;
}

/* The same call in a blocking call (weft_spawn_blocking: in simulation, a
 * task named "blocking call"). */
static void *blocking_root(void *arg)
{
    weft_task *t;
    void *r = (void *)1;
    if (weft_spawn_blocking(&t, escaping_task, arg) < 0 || weft_join(t, &r) < 0 || r != NULL)
        weft_fail("the blocking call did not do what libc does");
    return r;
}

/* Explore seed 41 of escape i from `from`, quietly, into *res. */
static void explore_escape(weft_fn from, int i, weft_explore_result *res)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(1, 0);
    o.seed_start = 41;
    o.seeds = 1;
    o.flags = WEFT_EXPLORE_QUIET;
    memset(res, 0, sizeof *res);
    weft_explore(&o, from, (void *)(intptr_t)i, res);
}

/* The run of escape i failed in task 2, named `label`, with the report. */
static void assert_escape_reported(const weft_explore_result *res, int i, const char *label)
{
    char want[128];
    snprintf(want, sizeof want, "escape: task 2 (%s) called %s,", label, escapes[i].call);
    ck_assert_msg(res->failures == 1 && res->status == WEFT_EFAILED, "%s: %llu failures, status %d", escapes[i].call,
                  (unsigned long long)res->failures, res->status);
    ck_assert_msg(strstr(res->message, want) != NULL, "%s: message: %s", escapes[i].call, res->message);
    ck_assert_msg(strstr(res->message, "WEFT_SEED=41") != NULL, "%s: no replay line in: %s", escapes[i].call,
                  res->message);
}

START_TEST(each_escape_fails_the_simulated_run_with_task_call_and_replay_line)
{
    for (int i = 0; i < NESCAPES; i++) {
        weft_explore_result res;
        explore_escape(root, i, &res);
        assert_escape_reported(&res, i, "escaper");
        weft_explore_result_free(&res);
    }
}
END_TEST

/* A blocking call may block: a real sleep there passes (and sleeps); every
 * other escape is one there too. */
START_TEST(a_blocking_call_may_sleep_for_real_and_nothing_else)
{
    for (int i = 0; i < NESCAPES; i++) {
        weft_explore_result res;
        explore_escape(blocking_root, i, &res);
        if (escapes[i].sleeps)
            ck_assert_msg(res.failures == 0 && res.status == 0, "%s in a blocking call: %llu failures, %s",
                          escapes[i].call, (unsigned long long)res.failures, res.message);
        else
            assert_escape_reported(&res, i, "blocking call");
        weft_explore_result_free(&res);
    }
}
END_TEST

START_TEST(escapes_are_silent_in_threaded_mode_and_outside_tasks)
{
    for (int i = 0; i < NESCAPES; i++) {
        weft_config c = threaded_config();
        void *r = (void *)1;
        ck_assert_weft(run_in(&c, root, (void *)(intptr_t)i, &r), 0);
        ck_assert_msg(r == NULL, "%s failed in threaded mode", escapes[i].call);
        /* On the host thread, with a simulated runtime alive. */
        weft_config s = test_config(1, 0);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &s), 0);
        ck_assert_int_eq(escape(i), 0);
        weft_rt_free(rt);
    }
}
END_TEST

Suite *suite_escape(void)
{
    Suite *s = suite_create("escape");
    TCase *tc = tcase_create("escape");
    tcase_add_test(tc, each_escape_fails_the_simulated_run_with_task_call_and_replay_line);
    tcase_add_test(tc, escapes_are_silent_in_threaded_mode_and_outside_tasks);
    tcase_add_test(tc, a_blocking_call_may_sleep_for_real_and_nothing_else);
    suite_add_tcase(s, tc);
    return s;
}
