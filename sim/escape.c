/* escape.c — catches a simulated task that escapes the simulator: the real
 * clock (clock_gettime, time, gettimeofday), real randomness (rand, random,
 * getrandom), a real socket or a real thread. Each would make a run depend
 * on something no seed replays, so the run fails there, naming the task, the
 * call, what to use instead, and (as every failed run does) the replay line.
 *
 * These are libc's own names, defined here so that a program linked with
 * weft calls them first (the executable's or an earlier library's symbol
 * wins). Outside a simulated task — threaded mode, the host thread, weft's
 * own threads — each passes straight on to the real function: the one a
 * sanitizer put in front of libc when there is one (its interceptor, which
 * it would otherwise lose), else libc's, found once at load time.
 */
#define _GNU_SOURCE
#include "sim.h"

#ifndef WEFT_NO_ESCAPE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define WEFT_INTERPOSE __attribute__((visibility("default")))

/* The sanitizers' interceptors (weak: absent in a plain build). */
extern int __interceptor_clock_gettime(clockid_t, struct timespec *) __attribute__((weak));
extern time_t __interceptor_time(time_t *) __attribute__((weak));
extern int __interceptor_gettimeofday(struct timeval *, void *) __attribute__((weak));
extern int __interceptor_rand(void) __attribute__((weak));
extern long __interceptor_random(void) __attribute__((weak));
extern ssize_t __interceptor_getrandom(void *, size_t, unsigned) __attribute__((weak));
extern int __interceptor_socket(int, int, int) __attribute__((weak));
extern int __interceptor_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)
    __attribute__((weak));

/* libc's functions, looked up once before main runs (a load-time constant:
 * written by the constructor alone, read-only after). */
static struct {
    int (*clock_gettime)(clockid_t, struct timespec *);
    time_t (*time)(time_t *);
    int (*gettimeofday)(struct timeval *, void *);
    int (*rand)(void);
    long (*random)(void);
    ssize_t (*getrandom)(void *, size_t, unsigned);
    int (*socket)(int, int, int);
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
} real;

#define LOOKUP(name) (__extension__(__typeof__(real.name))dlsym(RTLD_NEXT, #name))

__attribute__((constructor)) static void find_real(void)
{
    real.clock_gettime = LOOKUP(clock_gettime);
    real.time = LOOKUP(time);
    real.gettimeofday = LOOKUP(gettimeofday);
    real.rand = LOOKUP(rand);
    real.random = LOOKUP(random);
    real.getrandom = LOOKUP(getrandom);
    real.socket = LOOKUP(socket);
    real.pthread_create = LOOKUP(pthread_create);
}

/* A constructor may not have run yet (a call from another constructor); a
 * libc without the symbol is a broken installation, said plainly. */
#define REAL(name) (real.name ? real.name : (find_real(), real.name ? real.name : (missing(#name), real.name)))

static void missing(const char *name)
{
    fprintf(stderr, "weft: libc's %s cannot be found (dlsym(RTLD_NEXT))\n", name);
    abort();
}

/* The simulated task running on this thread, or NULL. */
static weft__task *simulated_task(void)
{
    weft__worker *w = weft__tls_worker;
    if (!w || !w->current || w->in_hook || !weft__sim_of(w->rt))
        return NULL;
    return w->current;
}

/* Fail the run of the task t: it called `call`; `instead` says what the
 * simulator offers. Does not return. */
static void escaped(weft__task *t, const char *call, const char *instead)
{
    weft__sim_failf(weft__task_rt(t), WEFT_EFAILED,
                    "escape: task %llu (%s) called %s, which the simulator does not control and no seed can "
                    "replay; use %s",
                    (unsigned long long)t->node.task_id, weft__task_label(t), call, instead);
}

#define CHECK_ESCAPE(call, instead)                                                                          \
    do {                                                                                                     \
        weft__task *t_ = simulated_task();                                                                   \
        if (WEFT_UNLIKELY(t_ != NULL))                                                                       \
            escaped(t_, call, instead);                                                                      \
    } while (0)

WEFT_INTERPOSE int clock_gettime(clockid_t clock, struct timespec *ts)
{
    CHECK_ESCAPE("clock_gettime", "weft_now() (virtual time)");
    if (__interceptor_clock_gettime)
        return __interceptor_clock_gettime(clock, ts);
    return REAL(clock_gettime)(clock, ts);
}

WEFT_INTERPOSE time_t time(time_t *out)
{
    CHECK_ESCAPE("time", "weft_now() (virtual time)");
    if (__interceptor_time)
        return __interceptor_time(out);
    return REAL(time)(out);
}

WEFT_INTERPOSE int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    CHECK_ESCAPE("gettimeofday", "weft_now() (virtual time)");
    if (__interceptor_gettimeofday)
        return __interceptor_gettimeofday(tv, tz);
    return REAL(gettimeofday)(tv, tz);
}

WEFT_INTERPOSE int rand(void)
{
    CHECK_ESCAPE("rand", "weft_rand() (drawn from the seed)");
    if (__interceptor_rand)
        return __interceptor_rand();
    return REAL(rand)();
}

WEFT_INTERPOSE long random(void)
{
    CHECK_ESCAPE("random", "weft_rand() (drawn from the seed)");
    if (__interceptor_random)
        return __interceptor_random();
    return REAL(random)();
}

WEFT_INTERPOSE ssize_t getrandom(void *buf, size_t len, unsigned flags)
{
    CHECK_ESCAPE("getrandom", "weft_rand() (drawn from the seed)");
    if (__interceptor_getrandom)
        return __interceptor_getrandom(buf, len, flags);
    return REAL(getrandom)(buf, len, flags);
}

WEFT_INTERPOSE int socket(int domain, int type, int protocol)
{
    CHECK_ESCAPE("socket", "weft_tcp_connect/weft_tcp_listen/weft_udp_bind (the simulated network)");
    if (__interceptor_socket)
        return __interceptor_socket(domain, type, protocol);
    return REAL(socket)(domain, type, protocol);
}

WEFT_INTERPOSE int pthread_create(pthread_t *restrict th, const pthread_attr_t *restrict attr, void *(*fn)(void *),
                                  void *restrict arg)
{
    CHECK_ESCAPE("pthread_create", "weft_spawn (a task the simulator schedules)");
    if (__interceptor_pthread_create)
        return __interceptor_pthread_create(th, attr, fn, arg);
    return REAL(pthread_create)(th, attr, fn, arg);
}

uint64_t weft__real_monotonic_ns(void)
{
    struct timespec ts;
    if (__interceptor_clock_gettime)
        __interceptor_clock_gettime(CLOCK_MONOTONIC, &ts);
    else
        REAL(clock_gettime)(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#else
#include <time.h>

uint64_t weft__real_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* WEFT_NO_ESCAPE: a fully static program (the cross-built determinism
          check) links libc's own definitions, so there is nothing to catch
          them with */

/* Referenced by the simulator so that a static link always brings this
 * file in (an archive member is linked only when something needs it). */
const int weft__escape_linked = 1;
