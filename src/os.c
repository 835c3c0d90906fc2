/* os.c — the real OS calls behind weft_os, the table the real backends use so
 * that tests can inject failures into them (weft/os.h). */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void weft__os_prefault(const weft_os *os, void *addr, size_t len)
{
    uintptr_t page = weft__page_size();
    uintptr_t start = ((uintptr_t)addr + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)addr + len) & ~(page - 1);
    if (end <= start)
        return;
    if (os)
        (void)os->madvise(os->ctx, (void *)start, end - start, MADV_POPULATE_WRITE);
    else
        (void)os_madvise(NULL, (void *)start, end - start, MADV_POPULATE_WRITE);
}

#ifndef PIDFD_SELF
#define PIDFD_SELF (-10000) /* the calling process's own memory (Linux 6.15) */
#endif
/* Ranges per process_madvise call (the kernel takes up to 1,024; this keeps
 * the vector small on a loop's stack). */
#define WEFT__MADVISE_BATCH 64u

/* Set once the kernel refused a vector call: the next ones go range by range
 * from the start. */
static weft__a32 strided_refused;

bool weft__os_strided_ok(const weft_os *os)
{
    return os->madvise == os_madvise && !weft__ld(&strided_refused, WEFT__RELAXED);
}

int weft__os_madvise_strided(const weft_os *os, char *first, size_t stride, size_t count, size_t len, int advice)
{
    /* Only the real call has a vector form: a table the program filled in
     * sees every range itself. */
    if (!weft__os_strided_ok(os))
        return WEFT_ENOTSUP;
#ifdef SYS_process_madvise
    struct iovec iov[WEFT__MADVISE_BATCH];
    for (size_t done = 0; done < count;) {
        size_t n = count - done < WEFT__MADVISE_BATCH ? count - done : WEFT__MADVISE_BATCH;
        for (size_t i = 0; i < n; i++)
            iov[i] = (struct iovec){first + (done + i) * stride, len};
        /* Before Linux 6.15 (no PIDFD_SELF) or without this advice for
         * process_madvise, the kernel refuses: the caller goes range by
         * range, which may repeat what was done (guards are idempotent). */
        if (syscall(SYS_process_madvise, PIDFD_SELF, iov, n, advice, 0u) != (long)(n * len)) {
            weft__st(&strided_refused, 1u, WEFT__RELAXED);
            return WEFT_ENOTSUP;
        }
        done += n;
    }
    return 0;
#else
    (void)first, (void)stride, (void)count, (void)len, (void)advice;
    return WEFT_ENOTSUP;
#endif
}

void weft__os_prefault_strided(const weft_os *os, char *first, size_t stride, size_t count, size_t len)
{
    if (count > 1 && weft__os_madvise_strided(os, first, stride, count, len, MADV_POPULATE_WRITE) == 0)
        return;
    for (size_t i = 0; i < count; i++)
        weft__os_prefault(os, first + i * stride, len);
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

/* ---- sockets and files: each returns the call's result or -errno ---- */

#define RET(expr) do { long r_ = (long)(expr); return r_ < 0 ? -errno : r_; } while (0)

static int os_socket(void *ctx, int domain, int type, int protocol)
{
    (void)ctx;
    RET(socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
}

static int os_bind(void *ctx, int fd, const void *addr, unsigned len)
{
    (void)ctx;
    RET(bind(fd, addr, len));
}

static int os_listen(void *ctx, int fd, int backlog)
{
    (void)ctx;
    RET(listen(fd, backlog));
}

static int os_accept(void *ctx, int fd, void *addr, unsigned *len)
{
    (void)ctx;
    socklen_t l = len ? *len : 0;
    int r = accept4(fd, addr, len ? &l : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (r < 0)
        return -errno;
    if (len)
        *len = l;
    return r;
}

static int os_connect(void *ctx, int fd, const void *addr, unsigned len)
{
    (void)ctx;
    RET(connect(fd, addr, len));
}

static ssize_t os_recv(void *ctx, int fd, void *buf, size_t len)
{
    (void)ctx;
    RET(recv(fd, buf, len, 0));
}

static ssize_t os_send(void *ctx, int fd, const void *buf, size_t len)
{
    (void)ctx;
    RET(send(fd, buf, len, MSG_NOSIGNAL));
}

static ssize_t os_recvfrom(void *ctx, int fd, void *buf, size_t len, void *addr, unsigned *alen)
{
    (void)ctx;
    socklen_t l = *alen;
    ssize_t r = recvfrom(fd, buf, len, 0, addr, &l);
    if (r < 0)
        return -errno;
    *alen = l;
    return r;
}

static ssize_t os_sendto(void *ctx, int fd, const void *buf, size_t len, const void *addr, unsigned alen)
{
    (void)ctx;
    RET(sendto(fd, buf, len, MSG_NOSIGNAL, addr, alen));
}

static int os_shutdown(void *ctx, int fd, int how)
{
    (void)ctx;
    RET(shutdown(fd, how));
}

static int os_close(void *ctx, int fd)
{
    (void)ctx;
    /* Linux releases the descriptor even when close reports EINTR: never
     * retry (the number may already belong to another open). */
    int r = close(fd);
    return r < 0 && errno != EINTR ? -errno : 0;
}

static int os_getsockname(void *ctx, int fd, void *addr, unsigned *len)
{
    (void)ctx;
    socklen_t l = *len;
    int r = getsockname(fd, addr, &l);
    *len = l;
    return r < 0 ? -errno : 0;
}

static int os_getpeername(void *ctx, int fd, void *addr, unsigned *len)
{
    (void)ctx;
    socklen_t l = *len;
    int r = getpeername(fd, addr, &l);
    *len = l;
    return r < 0 ? -errno : 0;
}

static int os_sockerror(void *ctx, int fd)
{
    (void)ctx;
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -errno;
    return -err;
}

static int os_open(void *ctx, const char *path, int flags, unsigned mode)
{
    (void)ctx;
    RET(open(path, flags | O_CLOEXEC, (mode_t)mode));
}

static ssize_t os_pread(void *ctx, int fd, void *buf, size_t len, int64_t offset)
{
    (void)ctx;
    RET(offset < 0 ? read(fd, buf, len) : pread(fd, buf, len, (off_t)offset));
}

static ssize_t os_pwrite(void *ctx, int fd, const void *buf, size_t len, int64_t offset)
{
    (void)ctx;
    RET(offset < 0 ? write(fd, buf, len) : pwrite(fd, buf, len, (off_t)offset));
}

static int os_fsync(void *ctx, int fd)
{
    (void)ctx;
    RET(fsync(fd));
}

static int os_unlink(void *ctx, const char *path)
{
    (void)ctx;
    RET(unlink(path));
}

void weft__os_fill(weft_os *os, const weft_os *user)
{
    weft_os real = {os_mmap, os_munmap, os_mprotect, os_madvise, os_monotonic_ns,
                    os_futex_wait, os_futex_wake, os_getrandom, NULL,
                    os_socket, os_bind, os_listen, os_accept, os_connect, os_recv, os_send,
                    os_recvfrom, os_sendto, os_shutdown, os_close, os_getsockname, os_getpeername,
                    os_sockerror, os_open, os_pread, os_pwrite, os_fsync, os_unlink};
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
    WEFT_TAKE(socket);
    WEFT_TAKE(bind);
    WEFT_TAKE(listen);
    WEFT_TAKE(accept);
    WEFT_TAKE(connect);
    WEFT_TAKE(recv);
    WEFT_TAKE(send);
    WEFT_TAKE(recvfrom);
    WEFT_TAKE(sendto);
    WEFT_TAKE(shutdown);
    WEFT_TAKE(close);
    WEFT_TAKE(getsockname);
    WEFT_TAKE(getpeername);
    WEFT_TAKE(sockerror);
    WEFT_TAKE(open);
    WEFT_TAKE(pread);
    WEFT_TAKE(pwrite);
    WEFT_TAKE(fsync);
    WEFT_TAKE(unlink);
#undef WEFT_TAKE
}
