/* error.c — the one table of weft's error codes and their messages, the
 * debug-build explanation printed when a call is refused, and the abort of a
 * broken invariant. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *weft_strerror(int err)
{
    switch (err) {
    case WEFT_OK: return "success";
    case WEFT_EPERM: return "operation not permitted here";
    case WEFT_ESRCH: return "no such task (stale, joined or detached handle)";
    case WEFT_EIO: return "input/output error";
    case WEFT_EAGAIN: return "operation would block";
    case WEFT_ENOMEM: return "out of memory";
    case WEFT_EBUSY: return "object is busy";
    case WEFT_EINVAL: return "invalid argument";
    case WEFT_EPIPE: return "closed (a channel), or broken pipe (a socket)";
    case WEFT_EDEADLK: return "deadlock: the wait could never end";
    case WEFT_ENOTSUP: return "not supported in this configuration";
    case WEFT_ETIMEDOUT: return "deadline passed";
    case WEFT_EALREADY: return "already done";
    case WEFT_ECANCELED: return "task cancelled";
    case WEFT_ESHUTDOWN: return "runtime shutting down";
    case WEFT_ECONNRESET: return "connection reset by peer";
    case WEFT_ECONNREFUSED: return "connection refused";
    case WEFT_EHOSTUNREACH: return "no route to host";
    case WEFT_ENETUNREACH: return "network unreachable";
    case WEFT_EMFILE: return "too many open files in this process";
    case WEFT_ENFILE: return "too many open files in the system";
    case WEFT_EBADF: return "bad handle (closed, of another runtime, or never valid)";
    case WEFT_EADDRINUSE: return "address already in use";
    case WEFT_EADDRNOTAVAIL: return "address not available here";
    case WEFT_ENOTCONN: return "not connected";
    case WEFT_EMSGSIZE: return "message too long";
    case WEFT_ENOSPC: return "no space left on device";
    case WEFT_EFBIG: return "file too large";
    case WEFT_ENOENT: return "no such file or name";
    case WEFT_EEXIST: return "file exists";
    case WEFT_EFAULT: return "NULL buffer";
    case WEFT_EAFNOSUPPORT: return "address family not supported by this socket";
    case WEFT_EFAILED: return "simulated run failed";
    case WEFT_ELIVELOCK: return "step budget exceeded (livelock?)";
    case WEFT_ESCHEDULE: return "schedule does not fit this program";
    default: return "unknown error";
    }
}

int weft__misuse(int quiet, int code, const char *fmt, ...)
{
    if (quiet < 0)
        quiet = weft__tls_worker && weft__tls_worker->rt->quiet;
    if (quiet)
        return code;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "weft: %s (%s)\n", buf, weft_strerror(code));
    return code;
}

void weft__invariant_failed(const char *file, int line, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "weft: internal invariant broken at %s:%d: %s\n", file, line, buf);
    abort();
}

void weft__die(const char *msg)
{
    fprintf(stderr, "weft: %s\n", msg);
    abort();
}
