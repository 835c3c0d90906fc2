/* weft/os.h — the table of OS calls the real backends make (as SQLite's VFS).
 *
 * Not included by weft.h. A program (usually a test) can pass its own table in
 * weft_config.os to inject EINTR, EAGAIN, ENOMEM, EMFILE into the real code
 * paths. Each entry returns what the system call returns, with errors as a
 * negative errno (never through errno). Entries left NULL use the real call.
 */
#ifndef WEFT_OS_H
#define WEFT_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_os {
    /* mmap returns the address or NULL with *err set to a negative errno. */
    void *(*mmap)(void *ctx, size_t len, int prot, int *err);
    int (*munmap)(void *ctx, void *addr, size_t len);
    int (*mprotect)(void *ctx, void *addr, size_t len, int prot);
    int (*madvise)(void *ctx, void *addr, size_t len, int advice);
    /* CLOCK_MONOTONIC in nanoseconds. */
    uint64_t (*monotonic_ns)(void *ctx);
    /* Block while *word == expected, until woken or the absolute monotonic
     * deadline (UINT64_MAX: none). 0, or -EAGAIN/-ETIMEDOUT/-EINTR. */
    int (*futex_wait)(void *ctx, uint32_t *word, uint32_t expected, uint64_t deadline_ns);
    int (*futex_wake)(void *ctx, uint32_t *word, int count);
    int (*getrandom)(void *ctx, void *buf, size_t len);
    void *ctx;
    /* Sockets and files (the reactors). Descriptors are made non-blocking
     * and close-on-exec by these calls; addr is a struct sockaddr. */
    int (*socket)(void *ctx, int domain, int type, int protocol);
    int (*bind)(void *ctx, int fd, const void *addr, unsigned len);
    int (*listen)(void *ctx, int fd, int backlog);
    int (*accept)(void *ctx, int fd, void *addr, unsigned *len);
    int (*connect)(void *ctx, int fd, const void *addr, unsigned len);
    ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len);
    ssize_t (*send)(void *ctx, int fd, const void *buf, size_t len); /* never raises SIGPIPE */
    ssize_t (*recvfrom)(void *ctx, int fd, void *buf, size_t len, void *addr, unsigned *alen);
    ssize_t (*sendto)(void *ctx, int fd, const void *buf, size_t len, const void *addr, unsigned alen);
    int (*shutdown)(void *ctx, int fd, int how);
    int (*close)(void *ctx, int fd);
    int (*getsockname)(void *ctx, int fd, void *addr, unsigned *len);
    int (*getpeername)(void *ctx, int fd, void *addr, unsigned *len);
    /* The pending error of a socket (SO_ERROR) as a negative errno, or 0. */
    int (*sockerror)(void *ctx, int fd);
    int (*open)(void *ctx, const char *path, int flags, unsigned mode);
    /* offset < 0: at the file's position (read/write). */
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, int64_t offset);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, int64_t offset);
    int (*fsync)(void *ctx, int fd);
    int (*unlink)(void *ctx, const char *path);
} weft_os;

#ifdef __cplusplus
}
#endif
#endif /* WEFT_OS_H */
