/* idle_probe.c — a threaded runtime with nothing to do, for the idle check
 * (tests/idle_check.py runs it under strace). Two workers start, find no
 * work and sleep; the root task waits on a notifier. A plain thread marks
 * the start of a quiet second on stderr, sleeps a second, marks its end and
 * signals the root. Between the marks, no thread of the runtime may make a
 * system call. The probe also checks, itself, that no worker thread used CPU
 * in that second.
 *
 *   idle_probe                 nothing else
 *   idle_probe REACTOR         on that reactor (epoll, uring or poll), with a
 *                              task blocked in accept on a loopback listener
 *                              and one asleep until a timer a minute away:
 *                              the reactor's wait holds both, and its
 *                              timeout is the timer's, not a tick
 *
 * It prints the reactor the runtime used on stdout. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>
#include <weft/io.h>

static weft_notify g_wake;

/* CPU ticks (user + system) of every thread of this process but the caller. */
static long others_cpu_ticks(void)
{
    long total = 0, self = (long)syscall(SYS_gettid);
    char path[64];
    for (long tid = getpid(); tid < getpid() + 4096; tid++) {
        if (tid == self)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        long ut = 0, st = 0;
        /* fields after ") ": state ppid pgrp session tty tpgid flags minflt
         * cminflt majflt cmajflt utime stime */
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) == 2)
            total += ut + st;
    }
    return total;
}

static void *quiet_second(void *arg)
{
    (void)arg;
    struct timespec settle = {0, 300 * 1000000L}, second = {1, 0};
    nanosleep(&settle, NULL); /* the workers go to sleep */
    long before = others_cpu_ticks();
    static const char begin[] = "IDLE-BEGIN\n", end[] = "IDLE-END\n";
    if (write(2, begin, sizeof begin - 1) < 0)
        return (void *)1;
    nanosleep(&second, NULL);
    if (write(2, end, sizeof end - 1) < 0)
        return (void *)1;
    long after = others_cpu_ticks();
    weft_notify_signal(&g_wake);
    /* Clock ticks are 10 ms: a second of spinning would be ~100. */
    return after - before > 1 ? (void *)2 : NULL;
}

static void *listener(void *arg)
{
    weft_sock *l = arg, *c;
    int r = weft_tcp_accept(l, &c);
    return (void *)(intptr_t)(r == WEFT_ECANCELED ? 0 : 1);
}

static void *sleeper(void *arg)
{
    (void)arg;
    int r = weft_sleep(60ull * 1000000000ull);
    return (void *)(intptr_t)(r == WEFT_ECANCELED ? 0 : 1);
}

/* Cancel and join t: 0 when it ended as cancelled. */
static intptr_t stop(weft_task *t)
{
    void *r = (void *)1;
    weft_cancel(t);
    weft_join(t, &r);
    return (intptr_t)r;
}

static void *root(void *arg)
{
    weft_sock *l = NULL;
    weft_task *accepting = NULL, *sleeping = NULL;
    if (arg && (weft_tcp_listen(&l, "127.0.0.1:0", 16) != 0 || weft_spawn(&accepting, listener, l) != 0 ||
                weft_spawn(&sleeping, sleeper, NULL) != 0))
        return (void *)1;
    intptr_t bad = weft_notify_wait(&g_wake) != 0;
    if (arg) {
        bad |= stop(accepting) | stop(sleeping);
        bad |= weft_sock_close(l) != 0;
    }
    return (void *)bad;
}

int main(int argc, char **argv)
{
    weft_config c = {0};
    c.mode = WEFT_MODE_THREADED;
    c.workers = 2;
    c.flags = WEFT_CFG_NO_ENV;
    const char *reactor = argc > 1 ? argv[1] : NULL;
    if (reactor)
        c.reactor = !strcmp(reactor, "uring") ? WEFT_REACTOR_URING
                    : !strcmp(reactor, "poll") ? WEFT_REACTOR_POLL
                                                : WEFT_REACTOR_EPOLL;
    weft_rt *rt;
    if (weft_notify_init(&g_wake) != 0 || weft_rt_new(&rt, &c) != 0)
        return 1;
    printf("%s\n", weft_rt_reactor(rt));
    fflush(stdout);
    pthread_t th;
    pthread_create(&th, NULL, quiet_second, NULL);
    void *r;
    if (weft_rt_block_on(rt, root, (void *)reactor, &r) != 0 || r != NULL)
        return 1;
    void *cpu;
    pthread_join(th, &cpu);
    weft_rt_free(rt);
    if (cpu) {
        fprintf(stderr, "idle_probe: a worker thread used CPU while the runtime had nothing to do\n");
        return 2;
    }
    return 0;
}
