/* base.h — what every file of the library needs first: compiler helpers, the
 * build's sanitizer and debug switches, the refused-call explanation, and the
 * invariant checks (SQLite's ALWAYS/NEVER) that abort a debug build naming
 * what broke. */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include "weft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT_HIDDEN __attribute__((visibility("hidden")))
#define WEFT_NORETURN __attribute__((noreturn))
#define WEFT_NOINLINE __attribute__((noinline))
#define WEFT_ALWAYS_INLINE inline __attribute__((always_inline))
#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))
#define WEFT_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))
#define WEFT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

/* Debug builds explain each refused call on stderr and check invariants;
 * release builds only return the code. */
#ifdef NDEBUG
#define WEFT_DEBUG 0
#else
#define WEFT_DEBUG 1
#endif

/* quiet: 1 say nothing, 0 explain, -1 as the calling worker's runtime says
 * (WEFT_CFG_QUIET), explaining outside any runtime. */
WEFT_HIDDEN int weft__misuse(int quiet, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define WEFT__MISUSE(quiet, code, ...) (WEFT_DEBUG ? weft__misuse((quiet), (code), __VA_ARGS__) : (code))
#define WEFT_MISUSE(code, ...) WEFT__MISUSE(-1, code, __VA_ARGS__)
/* A call given a runtime (possibly NULL) or a configuration honours its
 * WEFT_CFG_QUIET even when made from outside the runtime. */
#define WEFT_MISUSE_RT(rt, code, ...) WEFT__MISUSE((rt) ? (rt)->quiet : -1, code, __VA_ARGS__)
#define WEFT_MISUSE_CFG(cfg, code, ...) WEFT__MISUSE(((cfg)->flags & WEFT_CFG_QUIET) != 0, code, __VA_ARGS__)

/* An internal invariant. Debug builds abort with the message when it is
 * broken (a bug in weft, never a user error: those get error codes); release
 * builds compile it away. */
WEFT_HIDDEN WEFT_NORETURN void weft__invariant_failed(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define WEFT_INVARIANT(cond, ...)                                                                          \
    do {                                                                                                   \
        if (WEFT_DEBUG && WEFT_UNLIKELY(!(cond)))                                                          \
            weft__invariant_failed(__FILE__, __LINE__, __VA_ARGS__);                                       \
    } while (0)

/* Print msg and abort: for failures outside any simulated run. */
WEFT_HIDDEN WEFT_NORETURN void weft__die(const char *msg);

#endif /* WEFT_BASE_H */
