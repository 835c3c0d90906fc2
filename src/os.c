/* os.c — the real OS calls behind weft_os, the table the real backends use so
 * that tests can inject failures into them (weft/os.h). */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *os_mmap(void *ctx, size_t len, int prot, int *err)
{
    (void)ctx;
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    return p;
}

static int os_munmap(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    return munmap(addr, len) == 0 ? 0 : -errno;
}

static int os_mprotect(void *ctx, void *addr, size_t len, int prot)
{
    (void)ctx;
    return mprotect(addr, len, prot) == 0 ? 0 : -errno;
}

static int os_madvise(void *ctx, void *addr, size_t len, int advice)
{
    (void)ctx;
    return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

static uint64_t os_monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int os_futex_wait(void *ctx, uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    (void)ctx;
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != UINT64_MAX) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
        ts.tv_nsec = (long)(deadline_ns % 1000000000u);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
     * spurious wake-up does not stretch the wait. */
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : -errno;
}

static int os_futex_wake(void *ctx, uint32_t *word, int count)
{
    (void)ctx;
    long r = syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}

static int os_getrandom(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    ssize_t r = getrandom(buf, len, 0);
    return r == (ssize_t)len ? 0 : (r < 0 ? -errno : WEFT_EIO);
}

void weft__os_fill(weft_os *os, const weft_os *user)
{
    weft_os real = {os_mmap, os_munmap, os_mprotect, os_madvise, os_monotonic_ns,
                    os_futex_wait, os_futex_wake, os_getrandom, NULL};
    *os = real;
    if (!user)
        return;
    os->ctx = user->ctx;
#define WEFT_TAKE(f) if (user->f) os->f = user->f
    WEFT_TAKE(mmap);
    WEFT_TAKE(munmap);
    WEFT_TAKE(mprotect);
    WEFT_TAKE(madvise);
    WEFT_TAKE(monotonic_ns);
    WEFT_TAKE(futex_wait);
    WEFT_TAKE(futex_wake);
    WEFT_TAKE(getrandom);
#undef WEFT_TAKE
}
