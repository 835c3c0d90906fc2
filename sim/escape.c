/* escape.c — catches a simulated task that escapes the simulator: the real
 * clock (clock_gettime, time, gettimeofday, timespec_get, clock), a real
 * sleep (nanosleep, clock_nanosleep, sleep, usleep: the thread stalls while
 * virtual time stands still), real randomness (rand, random, getrandom,
 * getentropy; arc4random, arc4random_buf, arc4random_uniform where libc has
 * them), a real socket (socket, socketpair), a real thread (pthread_create,
 * thrd_create) or a real process (fork, posix_spawn, posix_spawnp; vfork on
 * x86-64). Each would make a run depend on something no seed replays, so the
 * run fails there, naming the task, the call, what to use instead, and (as
 * every failed run does) the replay line.
 *
 * These are libc's own names, defined here so that a program linked with
 * weft calls them first (the executable's or an earlier library's symbol
 * wins). Outside a simulated task — threaded mode, the host thread, weft's
 * own threads — each passes straight on to the real function: the one a
 * sanitizer put in front of libc when there is one (its interceptor, which
 * it would otherwise lose), else libc's, found once at load time.
 *
 * Each call needs its own definition: libc's functions reach each other
 * without the PLT (thrd_create starts its thread without calling
 * pthread_create, clock without clock_gettime, sleep without nanosleep,
 * arc4random_buf without arc4random), so catching one catches none of the
 * others.
 */
#define _GNU_SOURCE
#include "sim.h"

#ifndef WEFT_NO_ESCAPE
#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define WEFT_INTERPOSE __attribute__((visibility("default")))

/* glibc has had arc4random, arc4random_buf and arc4random_uniform since 2.36;
 * elsewhere they are not caught. (getentropy came in 2.25 with getrandom,
 * which this file has always needed.) */
#ifdef __GLIBC__
#if __GLIBC_PREREQ(2, 36)
#define HAVE_ARC4RANDOM 1
#endif
#endif
#ifdef HAVE_ARC4RANDOM
#define ARC4RANDOM_ESCAPES(X)                                                                                \
    X(uint32_t, arc4random, (void))                                                                          \
    X(void, arc4random_buf, (void *, size_t))                                                                \
    X(uint32_t, arc4random_uniform, (uint32_t))
#else
#define ARC4RANDOM_ESCAPES(X)
#endif

/* Every call caught, as return type, name and parameter types. vfork is
 * defined apart (see below); its real function is looked up with these. */
#define ESCAPES(X)                                                                                           \
    X(int, clock_gettime, (clockid_t, struct timespec *))                                                    \
    X(time_t, time, (time_t *))                                                                              \
    X(int, gettimeofday, (struct timeval *, void *))                                                         \
    X(int, timespec_get, (struct timespec *, int))                                                           \
    X(clock_t, clock, (void))                                                                                \
    X(int, nanosleep, (const struct timespec *, struct timespec *))                                          \
    X(int, clock_nanosleep, (clockid_t, int, const struct timespec *, struct timespec *))                    \
    X(unsigned, sleep, (unsigned))                                                                           \
    X(int, usleep, (useconds_t))                                                                             \
    X(int, rand, (void))                                                                                     \
    X(long, random, (void))                                                                                  \
    X(ssize_t, getrandom, (void *, size_t, unsigned))                                                        \
    X(int, getentropy, (void *, size_t))                                                                     \
    ARC4RANDOM_ESCAPES(X)                                                                                    \
    X(int, socket, (int, int, int))                                                                          \
    X(int, socketpair, (int, int, int, int[2]))                                                              \
    X(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))                 \
    X(int, thrd_create, (thrd_t *, thrd_start_t, void *))                                                    \
    X(pid_t, fork, (void))                                                                                   \
    X(pid_t, vfork, (void))                                                                                  \
    X(int, posix_spawn,                                                                                      \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[],  \
       char *const[]))                                                                                       \
    X(int, posix_spawnp,                                                                                     \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[],  \
       char *const[]))

/* The sanitizers' interceptors (weak: absent in a plain build). GCC 12's
 * and LLVM 14's have, of these: ASan and TSan clock_gettime, time, getrandom,
 * pthread_create, vfork, posix_spawn and posix_spawnp; TSan also
 * gettimeofday, nanosleep, sleep, usleep, socket, socketpair and fork. One
 * that neither has stays null and the call goes to libc's function (or to
 * the interceptor a later sanitizer adds). */
#define DECLARE_INTERCEPTOR(ret, name, params) extern ret __interceptor_##name params __attribute__((weak));
ESCAPES(DECLARE_INTERCEPTOR)

/* libc's functions, looked up once before main runs (a load-time constant:
 * written by the constructor alone, read-only after). */
#define REAL_POINTER(ret, name, params) ret(*name) params;
static struct {
    ESCAPES(REAL_POINTER)
} real;

#define LOOKUP(name) (__extension__(__typeof__(real.name))dlsym(RTLD_NEXT, #name))
#define LOOKUP_REAL(ret, name, params) real.name = LOOKUP(name);

__attribute__((constructor)) static void find_real(void)
{
    ESCAPES(LOOKUP_REAL)
}

/* A constructor may not have run yet (a call from another constructor); a
 * libc without the symbol is a broken installation, said plainly. */
#define REAL(name) (real.name ? real.name : (find_real(), real.name ? real.name : (missing(#name), real.name)))

/* Where a call outside a simulated task goes: the sanitizer's interceptor
 * when there is one, else libc's function. */
#define PASS_ON(name) (__interceptor_##name ? __interceptor_##name : REAL(name))

static void missing(const char *name)
{
    fprintf(stderr, "weft: libc's %s cannot be found (dlsym(RTLD_NEXT))\n", name);
    abort();
}

/* The simulated task running on this thread, or NULL (also when the task
 * has one of the flags `exempt`). */
static weft__task *simulated_task(unsigned exempt)
{
    weft__worker *w = weft__tls_worker;
    if (!w || !w->current || w->in_hook || !weft__sim_of(w->rt) || (w->current->flags & exempt))
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

#define CHECK_ESCAPE_UNLESS(exempt, call, instead)                                                           \
    do {                                                                                                     \
        weft__task *t_ = simulated_task(exempt);                                                             \
        if (WEFT_UNLIKELY(t_ != NULL))                                                                       \
            escaped(t_, call, instead);                                                                      \
    } while (0)
#define CHECK_ESCAPE(call, instead) CHECK_ESCAPE_UNLESS(0, call, instead)
/* A real sleep only stalls: in a blocking call (weft_spawn_blocking, which
 * the simulator runs as a task whose real duration is not virtual time) it
 * is what the call is for, and passes. Elsewhere the run would stand still
 * while the task waits for what cannot happen meanwhile. */
#define CHECK_SLEEP(call) CHECK_ESCAPE_UNLESS(WEFT__F_BLOCKING, call, USE_SLEEP)

/* What each kind of call should be instead. */
#define USE_NOW "weft_now() (virtual time)"
#define USE_SLEEP "weft_sleep() (virtual time), or weft_spawn_blocking for a call that must block"
#define USE_RAND "weft_rand() (drawn from the seed)"
#define USE_NET "weft_tcp_connect/weft_tcp_listen/weft_udp_bind (the simulated network)"
#define USE_SPAWN "weft_spawn (a task the simulator schedules)"
#define USE_NODE "weft_node_new (a simulated node) and weft_spawn"

WEFT_INTERPOSE int clock_gettime(clockid_t clock, struct timespec *ts)
{
    CHECK_ESCAPE("clock_gettime", USE_NOW);
    return PASS_ON(clock_gettime)(clock, ts);
}

WEFT_INTERPOSE time_t time(time_t *out)
{
    CHECK_ESCAPE("time", USE_NOW);
    return PASS_ON(time)(out);
}

WEFT_INTERPOSE int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    CHECK_ESCAPE("gettimeofday", USE_NOW);
    return PASS_ON(gettimeofday)(tv, tz);
}

WEFT_INTERPOSE int timespec_get(struct timespec *ts, int base)
{
    CHECK_ESCAPE("timespec_get", USE_NOW);
    return PASS_ON(timespec_get)(ts, base);
}

WEFT_INTERPOSE clock_t clock(void)
{
    CHECK_ESCAPE("clock", USE_NOW);
    return PASS_ON(clock)();
}

WEFT_INTERPOSE int nanosleep(const struct timespec *req, struct timespec *rem)
{
    CHECK_SLEEP("nanosleep");
    return PASS_ON(nanosleep)(req, rem);
}

WEFT_INTERPOSE int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    CHECK_SLEEP("clock_nanosleep");
    return PASS_ON(clock_nanosleep)(clock, flags, req, rem);
}

WEFT_INTERPOSE unsigned sleep(unsigned seconds)
{
    CHECK_SLEEP("sleep");
    return PASS_ON(sleep)(seconds);
}

WEFT_INTERPOSE int usleep(useconds_t us)
{
    CHECK_SLEEP("usleep");
    return PASS_ON(usleep)(us);
}

WEFT_INTERPOSE int rand(void)
{
    CHECK_ESCAPE("rand", USE_RAND);
    return PASS_ON(rand)();
}

WEFT_INTERPOSE long random(void)
{
    CHECK_ESCAPE("random", USE_RAND);
    return PASS_ON(random)();
}

WEFT_INTERPOSE ssize_t getrandom(void *buf, size_t len, unsigned flags)
{
    CHECK_ESCAPE("getrandom", USE_RAND);
    return PASS_ON(getrandom)(buf, len, flags);
}

WEFT_INTERPOSE int getentropy(void *buf, size_t len)
{
    CHECK_ESCAPE("getentropy", USE_RAND);
    return PASS_ON(getentropy)(buf, len);
}

#ifdef HAVE_ARC4RANDOM
WEFT_INTERPOSE uint32_t arc4random(void)
{
    CHECK_ESCAPE("arc4random", USE_RAND);
    return PASS_ON(arc4random)();
}

WEFT_INTERPOSE void arc4random_buf(void *buf, size_t len)
{
    CHECK_ESCAPE("arc4random_buf", USE_RAND);
    PASS_ON(arc4random_buf)(buf, len);
}

WEFT_INTERPOSE uint32_t arc4random_uniform(uint32_t bound)
{
    CHECK_ESCAPE("arc4random_uniform", USE_RAND);
    return PASS_ON(arc4random_uniform)(bound);
}
#endif

WEFT_INTERPOSE int socket(int domain, int type, int protocol)
{
    CHECK_ESCAPE("socket", USE_NET);
    return PASS_ON(socket)(domain, type, protocol);
}

WEFT_INTERPOSE int socketpair(int domain, int type, int protocol, int fds[2])
{
    CHECK_ESCAPE("socketpair", "a weft_chan, or " USE_NET);
    return PASS_ON(socketpair)(domain, type, protocol, fds);
}

WEFT_INTERPOSE int pthread_create(pthread_t *restrict th, const pthread_attr_t *restrict attr, void *(*fn)(void *),
                                  void *restrict arg)
{
    CHECK_ESCAPE("pthread_create", USE_SPAWN);
    return PASS_ON(pthread_create)(th, attr, fn, arg);
}

WEFT_INTERPOSE int thrd_create(thrd_t *th, thrd_start_t fn, void *arg)
{
    CHECK_ESCAPE("thrd_create", USE_SPAWN);
    return PASS_ON(thrd_create)(th, fn, arg);
}

WEFT_INTERPOSE pid_t fork(void)
{
    CHECK_ESCAPE("fork", USE_NODE);
    return PASS_ON(fork)();
}

/* vfork cannot be a C function that calls libc's: the child would return
 * from it to its caller and run on, on the stack it shares with the parent,
 * over the frame the parent then returns through. So vfork is a trampoline:
 * it calls weft__vfork_target (C: the check, which fails the run or says
 * where to go), then jumps, not calls, to the real vfork (ASan's interceptor,
 * itself such a trampoline; TSan's, which forks; else libc's), which returns
 * straight to vfork's caller. Written and tested for x86-64 only: elsewhere
 * vfork is not caught and libc's is called directly. */
#if defined(__x86_64__)
__attribute__((visibility("hidden"))) pid_t (*weft__vfork_target(void))(void);

pid_t (*weft__vfork_target(void))(void)
{
    CHECK_ESCAPE("vfork", USE_NODE);
    return PASS_ON(vfork);
}

#if defined(__CET__) && (__CET__ & 1)
#define ENDBR "endbr64\n"
#else
#define ENDBR ""
#endif

/* At entry the stack is 8 off 16-byte alignment (the return address): 8
 * more make the call an ABI call; the jump leaves it as vfork found it.
 * Pushed and popped: the compiler assumes a top-level asm leaves the section
 * it found. */
__asm__(".pushsection .text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        ".cfi_startproc\n" ENDBR "subq $8, %rsp\n"
        ".cfi_adjust_cfa_offset 8\n"
        "call weft__vfork_target\n"
        "addq $8, %rsp\n"
        ".cfi_adjust_cfa_offset -8\n"
        "jmp *%rax\n"
        ".cfi_endproc\n"
        ".size vfork, .-vfork\n"
        ".popsection\n");
#endif

WEFT_INTERPOSE int posix_spawn(pid_t *restrict pid, const char *restrict path,
                               const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *restrict attr,
                               char *const argv[restrict], char *const envp[restrict])
{
    CHECK_ESCAPE("posix_spawn", USE_NODE);
    return PASS_ON(posix_spawn)(pid, path, actions, attr, argv, envp);
}

WEFT_INTERPOSE int posix_spawnp(pid_t *restrict pid, const char *restrict file,
                                const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *restrict attr,
                                char *const argv[restrict], char *const envp[restrict])
{
    CHECK_ESCAPE("posix_spawnp", USE_NODE);
    return PASS_ON(posix_spawnp)(pid, file, actions, attr, argv, envp);
}

uint64_t weft__real_monotonic_ns(void)
{
    struct timespec ts;
    PASS_ON(clock_gettime)(CLOCK_MONOTONIC, &ts);
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
