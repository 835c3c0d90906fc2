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
} weft_os;

#ifdef __cplusplus
}
#endif
#endif /* WEFT_OS_H */
