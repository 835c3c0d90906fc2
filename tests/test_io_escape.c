/* test_io_escape.c — the escape detector: a simulated task that calls the
 * real clock, real randomness, opens a real socket or starts a real thread
 * fails its run with a report naming the task and the call, and the replay
 * line; the same calls in threaded mode, or outside a task, are silent and
 * do what libc does. */
#define _GNU_SOURCE
#include "support.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void *thread_body(void *arg)
{
    return arg;
}

/* Each escape, by number; returns 0 when the call worked (threaded). */
static int escape(int which)
{
    switch (which) {
    case 0: {
        struct timespec ts;
        return clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec + ts.tv_nsec > 0 ? 0 : 1;
    }
    case 1: return time(NULL) > 0 ? 0 : 1;
    case 2: {
        struct timeval tv;
        return gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 0 ? 0 : 1;
    }
    case 3: return rand() >= 0 ? 0 : 1;
    case 4: return random() >= 0 ? 0 : 1;
    case 5: {
        char b[8];
        return getrandom(b, sizeof b, 0) == (ssize_t)sizeof b ? 0 : 1;
    }
    case 6: {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0)
            return 1;
        close(fd);
        return 0;
    }
    default: {
        pthread_t th;
        void *r = NULL;
        if (pthread_create(&th, NULL, thread_body, (void *)7) != 0)
            return 1;
        pthread_join(th, &r);
        return r == (void *)7 ? 0 : 1;
    }
    }
}

static const char *const calls[] = {"clock_gettime", "time", "gettimeofday", "rand",
                                    "random",        "getrandom", "socket", "pthread_create"};

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

START_TEST(each_escape_fails_the_simulated_run_with_task_call_and_replay_line)
{
    for (int i = 0; i < 8; i++) {
        weft_explore_opts o;
        memset(&o, 0, sizeof o);
        o.cfg = test_config(1, 0);
        o.seed_start = 41;
        o.seeds = 1;
        o.flags = WEFT_EXPLORE_QUIET;
        weft_explore_result res;
        memset(&res, 0, sizeof res);
        weft_explore(&o, root, (void *)(intptr_t)i, &res);
        char want[128];
        snprintf(want, sizeof want, "escape: task 2 (escaper) called %s,", calls[i]);
        ck_assert_msg(res.failures == 1 && res.status == WEFT_EFAILED, "%s: %llu failures, status %d", calls[i],
                      (unsigned long long)res.failures, res.status);
        ck_assert_msg(strstr(res.message, want) != NULL, "%s: message: %s", calls[i], res.message);
        ck_assert_msg(strstr(res.message, "WEFT_SEED=41") != NULL, "%s: no replay line in: %s", calls[i],
                      res.message);
        weft_explore_result_free(&res);
    }
}
END_TEST

START_TEST(escapes_are_silent_in_threaded_mode_and_outside_tasks)
{
    for (int i = 0; i < 8; i++) {
        weft_config c = threaded_config();
        void *r = (void *)1;
        ck_assert_weft(run_in(&c, root, (void *)(intptr_t)i, &r), 0);
        ck_assert_msg(r == NULL, "%s failed in threaded mode", calls[i]);
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
    suite_add_tcase(s, tc);
    return s;
}
