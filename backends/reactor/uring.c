/* uring.c — the io_uring reactor (liburing): one ring per worker, its wait
 * (io_uring_enter with a timeout) the worker's park. Reads, writes, accepts
 * and file calls (open, read, write, fsync, unlink) are the kernel's own
 * operations, submitted in a batch at the next wait; what has no native form
 * here (connect, datagrams) waits for readiness with a poll operation and
 * runs as on epoll.
 *
 * The kernel holds a native operation's buffer until its completion arrives.
 * A cancelled or timed-out call therefore asks the kernel to cancel and then
 * waits, uninterruptibly, for that final completion (op->busy, see
 * backend.h) before it returns: a cancelled read never writes into a buffer
 * its caller has taken back. If the read finished anyway, its bytes are
 * returned rather than lost (op->late).
 *
 * Only the owner reaps completions. Submissions may come from any thread (a
 * cancel from another worker), so the submission queue is under a lock, and
 * a submitter that is not the owner kicks it: an eventfd with a read pending
 * in the ring.
 */
#define _GNU_SOURCE
#include "reactor.h"

#ifdef WEFT_HAVE_URING
#include <liburing.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WEFT_URING_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define WEFT_URING_DEFINED(p, n) ((void)(p), (void)(n))
#endif
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Entries per ring: enough for a batch of every task of a busy worker;
 * a full ring is flushed and reused. */
#define URING_ENTRIES 1024u
/* Completions reaped at once. */
#define URING_BATCH 256u

/* What a completion is for, in the low bits of user_data (ops are at least
 * 8-byte aligned). */
enum { TAG_OP = 0, TAG_KICK = 1, TAG_IGNORE = 2, TAG_MASK = 7 };

typedef struct uring_reactor {
    weft__reactor base;
    struct io_uring ring;
    weft__a32 sq_lock;   /* the submission queue */
    int evfd;
    uint64_t evbuf;      /* [owner] the kick read's buffer */
    bool kick_armed;     /* [owner] */
    weft__a32 no_fast_poll; /* the kernel answered EAGAIN: use readiness */
    /* Calls the program replaced in weft_config.os (to inject errors): they
     * run through its table, on the readiness path, not in the kernel. */
    bool own_accept, own_recv, own_send, own_files;
} uring_reactor;

static uring_reactor *of(weft__reactor *r)
{
    return (uring_reactor *)r;
}

static bool owner(const uring_reactor *u)
{
    return weft__tls_worker == u->base.w;
}

/* An SQE, flushing the queue when it is full; call with sq_lock held. */
static struct io_uring_sqe *sqe_get(uring_reactor *u)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&u->ring);
    if (!s) {
        io_uring_submit(&u->ring);
        s = io_uring_get_sqe(&u->ring);
    }
    return s;
}

static int ur_create(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen)
{
    uring_reactor *u = weft__reactor_alloc(rt, w, sizeof *u);
    if (!u)
        return WEFT_ENOMEM;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    /* Completions run as task work when the worker next enters the kernel
     * (it does at every wait and poll), not by interrupting it mid-task:
     * echo on loopback, 1 worker, 5-10% more messages a second than
     * without. Linux before 5.19 refuses the flags: a ring without them. */
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int r = io_uring_queue_init_params(URING_ENTRIES, &u->ring, &p);
    if (r == -EINVAL) {
        memset(&p, 0, sizeof p);
        r = io_uring_queue_init_params(URING_ENTRIES, &u->ring, &p);
    }
    if (r < 0) {
        snprintf(why, whylen, "io_uring_setup failed: %s", strerror(-r));
        weft__free(rt, u, sizeof *u);
        return r;
    }
    /* Timed waits without a timeout SQE need the extended argument. */
    if (!(p.features & IORING_FEAT_EXT_ARG)) {
        snprintf(why, whylen, "the kernel's io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11)");
        io_uring_queue_exit(&u->ring);
        weft__free(rt, u, sizeof *u);
        return WEFT_ENOTSUP;
    }
    const weft_os *os = rt->cfg.os;
    u->own_accept = os && os->accept;
    u->own_recv = os && os->recv;
    u->own_send = os && os->send;
    u->own_files = os && (os->open || os->pread || os->pwrite || os->fsync || os->unlink);
    u->evfd = eventfd(0, EFD_CLOEXEC);
    if (u->evfd < 0) {
        r = -errno;
        snprintf(why, whylen, "eventfd failed: %s", strerror(errno));
        io_uring_queue_exit(&u->ring);
        weft__free(rt, u, sizeof *u);
        return r;
    }
    *out = &u->base;
    return 0;
}

static void ur_destroy(weft__reactor *base)
{
    uring_reactor *u = of(base);
    io_uring_queue_exit(&u->ring);
    close(u->evfd);
    weft__free(base->rt, u, sizeof *u);
}

static void arm_kick(uring_reactor *u)
{
    if (u->kick_armed)
        return;
    weft__spin_lock(&u->sq_lock);
    struct io_uring_sqe *s = sqe_get(u);
    if (s) {
        io_uring_prep_read(s, u->evfd, &u->evbuf, sizeof u->evbuf, 0);
        io_uring_sqe_set_data64(s, TAG_KICK);
        u->kick_armed = true;
    }
    weft__spin_unlock(&u->sq_lock);
}

static void ur_kick(weft__reactor *base)
{
    weft__eventfd_kick(of(base)->evfd);
}

/* The final completion of op: its result, or (cancelled before) the
 * buffer goes back. */
static void op_done(uring_reactor *u, weft__io *op, int res)
{
    weft_rt *rt = u->base.rt;
    int64_t result = res;
    /* The kernel wrote the bytes, which memcheck cannot see. */
    if (res > 0 && op->bk[1] != 1 && (op->kind == WEFT__IO_READ || op->kind == WEFT__IO_FILE_READ))
        WEFT_URING_DEFINED(op->buf, (size_t)res);
    if (res == -EAGAIN && (op->kind == WEFT__IO_READ || op->kind == WEFT__IO_WRITE)) {
        /* An old kernel that honours O_NONBLOCK: readiness from now on. */
        weft__st(&u->no_fast_poll, 1u, WEFT__RELAXED);
        result = WEFT__IO_AGAIN;
    } else if (op->bk[1] == 1) {
        /* A poll for readiness. */
        result = res < 0 ? res : WEFT__IO_AGAIN;
    } else if (op->kind == WEFT__IO_ACCEPT && res >= 0) {
        op->out->fd = res;
        op->out->type = WEFT__H_STREAM;
        op->out->bk = weft__fdstate_get(rt);
        int one = 1;
        setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        result = op->out->bk ? 0 : WEFT_ENOMEM;
    } else if (op->kind == WEFT__IO_FILE_OPEN && res >= 0) {
        weft__sys_opened(op, res);
        result = 0;
    } else if (res == -ECANCELED) {
        /* Cancelled by nobody waiting on it: its socket was closed. */
        result = WEFT_EBADF;
    }
    if (weft__io_claim(op)) {
        /* Not cancelled: the usual completion (the buffer is back). */
        weft__st(&op->busy, 0u, WEFT__RELEASE);
        weft__io_finish(op, result);
        return;
    }
    /* Cancelled, and the kernel is done with it now. Whatever it did
     * counts: bytes read are returned, an accepted connection delivered. */
    if (res >= 0 && op->bk[1] != 1 && result >= 0) {
        op->result = result;
        op->late = true;
    }
    weft__io_retired(op);
}

static void reap(uring_reactor *u)
{
    struct io_uring_cqe *cqes[URING_BATCH];
    for (;;) {
        unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, URING_BATCH);
        if (!n)
            return;
        for (unsigned i = 0; i < n; i++) {
            uint64_t d = io_uring_cqe_get_data64(cqes[i]);
            int res = cqes[i]->res;
            if ((d & TAG_MASK) == TAG_KICK)
                u->kick_armed = false;
            else if ((d & TAG_MASK) == TAG_OP && d)
                op_done(u, (weft__io *)(uintptr_t)d, res);
        }
        io_uring_cq_advance(&u->ring, n);
        if (n < URING_BATCH)
            return;
    }
}

static void flush(uring_reactor *u)
{
    weft__spin_lock(&u->sq_lock);
    io_uring_submit(&u->ring);
    weft__spin_unlock(&u->sq_lock);
}

static void ur_wait(weft__reactor *base, uint64_t deadline)
{
    uring_reactor *u = of(base);
    arm_kick(u);
    flush(u);
    uint64_t d = weft__reactor_time_left(base->rt, deadline);
    struct __kernel_timespec ts = {(long long)(d / 1000000000u), (long long)(d % 1000000000u)};
    struct io_uring_cqe *cqe;
    /* Entered without submitting: the queue is another thread's to fill
     * meanwhile (under the lock), and a kick ends the wait. */
    io_uring_wait_cqe_timeout(&u->ring, &cqe, d == UINT64_MAX ? NULL : &ts);
    reap(u);
}

static void ur_poll(weft__reactor *base)
{
    uring_reactor *u = of(base);
    flush(u);
    reap(u);
}

/* Submit op natively (or a poll for it) on u; the task waits. */
static int submit(uring_reactor *u, weft__io *op, void (*prep)(struct io_uring_sqe *s, weft__io *op))
{
    weft__st(&op->busy, 1u, WEFT__RELEASE);
    weft__spin_lock(&u->sq_lock);
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) {
        weft__spin_unlock(&u->sq_lock);
        weft__st(&op->busy, 0u, WEFT__RELEASE);
        return WEFT_EAGAIN;
    }
    prep(s, op);
    io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)op);
    weft__spin_unlock(&u->sq_lock);
    return WEFT__IO_PENDING;
}

static void prep_recv(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_recv(s, op->h->fd, op->buf, op->len, 0);
}

static void prep_send(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_send(s, op->h->fd, op->buf, op->len, MSG_NOSIGNAL);
}

static void prep_accept(struct io_uring_sqe *s, weft__io *op)
{
    /* The peer's address lands in the op's own scratch (it outlives the
     * call: the op waits for its final completion). */
    op->bk[2] = sizeof(struct sockaddr_storage);
    io_uring_prep_accept(s, op->h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* The path is the caller's, which waits until the kernel has the call
 * (and the kernel copies it when the call is submitted). */
static void prep_open(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_openat(s, AT_FDCWD, op->path, weft__sys_open_flags((unsigned)op->arg) | O_CLOEXEC,
                         (mode_t)op->mode);
}

static void prep_unlink(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_unlinkat(s, AT_FDCWD, op->path, 0);
}

static void prep_file_read(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_read(s, op->h->fd, op->buf, (unsigned)op->len,
                       op->offset == WEFT__IO_AT_POS ? (uint64_t)-1 : op->offset);
}

static void prep_file_write(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_write(s, op->h->fd, op->buf, (unsigned)op->len,
                        op->offset == WEFT__IO_AT_POS ? (uint64_t)-1 : op->offset);
}

static void prep_fsync(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_fsync(s, op->h->fd, 0);
}

static void prep_poll(struct io_uring_sqe *s, weft__io *op)
{
    io_uring_prep_poll_add(s, op->h->fd, op->bk[0] == WEFT__READY_IN ? POLLIN : POLLOUT);
}

static int ur_native(weft__reactor *base, weft__io *op)
{
    uring_reactor *u = of(base);
    op->bk[1] = 0;
    op->late = false;
    bool fast = !weft__ld(&u->no_fast_poll, WEFT__RELAXED);
    switch (op->kind) {
    case WEFT__IO_READ: return fast && !u->own_recv ? submit(u, op, prep_recv) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_WRITE: return fast && !u->own_send ? submit(u, op, prep_send) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_ACCEPT: return fast && !u->own_accept ? submit(u, op, prep_accept) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_FILE_OPEN: return !u->own_files ? submit(u, op, prep_open) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_FILE_UNLINK: return !u->own_files ? submit(u, op, prep_unlink) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_FILE_READ: return !u->own_files ? submit(u, op, prep_file_read) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_FILE_WRITE: return !u->own_files ? submit(u, op, prep_file_write) : WEFT__IO_NOT_NATIVE;
    case WEFT__IO_FSYNC: return !u->own_files ? submit(u, op, prep_fsync) : WEFT__IO_NOT_NATIVE;
    default: return WEFT__IO_NOT_NATIVE;
    }
}

static int ur_arm(weft__reactor *base, weft__io *op, int ready, uint32_t seq)
{
    (void)seq; /* a poll operation is level-triggered: it sees readiness that came before */
    weft__fdstate *st = op->h->bk;
    weft__spin_lock(&st->lock);
    bool closed = st->closed;
    weft__spin_unlock(&st->lock);
    if (closed)
        return WEFT_EBADF;
    op->bk[0] = (uint64_t)ready;
    op->bk[1] = 1;
    return submit(of(base), op, prep_poll);
}

static bool ur_cancel(weft__io *op)
{
    if (!weft__io_claim(op))
        return false;
    uring_reactor *u = of(weft__thr_reactor(op->w));
    weft__spin_lock(&u->sq_lock);
    struct io_uring_sqe *s = sqe_get(u);
    if (s) {
        io_uring_prep_cancel64(s, (uint64_t)(uintptr_t)op, 0);
        io_uring_sqe_set_data64(s, TAG_IGNORE);
    }
    weft__spin_unlock(&u->sq_lock);
    if (!owner(u))
        ur_kick(&u->base);
    return true;
}

/* A closed socket: its calls in the kernel are cancelled (each waits for
 * its final completion, then says WEFT_EBADF). */
static void ur_close(weft__reactor *base, weft__ioh *h)
{
    weft_rt *rt = base->rt;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        uring_reactor *u = of(weft__thr_reactor(&rt->workers[i]));
        weft__spin_lock(&u->sq_lock);
        struct io_uring_sqe *s = sqe_get(u);
        if (s) {
            io_uring_prep_cancel_fd(s, h->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(s, TAG_IGNORE);
        }
        weft__spin_unlock(&u->sq_lock);
        if (!owner(u))
            ur_kick(&u->base);
        else
            flush(u);
    }
}

const weft__reactor_ops weft__reactor_uring = {
    .name = "io_uring",
    .create = ur_create,
    .destroy = ur_destroy,
    .wait = ur_wait,
    .poll = ur_poll,
    .kick = ur_kick,
    .arm = ur_arm,
    .cancel = ur_cancel,
    .close = ur_close,
    .release = NULL,
    .native = ur_native,
    .native_files = true,
};

#else /* built without liburing */

#include <stdio.h>

static int ur_absent(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen)
{
    (void)rt;
    (void)w;
    (void)out;
    snprintf(why, whylen, "this build has no liburing");
    return WEFT_ENOTSUP;
}

const weft__reactor_ops weft__reactor_uring = {.name = "io_uring", .create = ur_absent};
#endif
