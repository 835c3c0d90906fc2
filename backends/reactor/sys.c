/* sys.c — the socket and file operations on the real OS, shared by every
 * reactor: each runs its system call (through the weft_os table, so tests
 * can inject errors), and when the call would block arms the reactor of the
 * calling worker and waits; plus the per-descriptor readiness state the
 * readiness reactors (epoll, poll) and io_uring's poll path keep. */
#define _GNU_SOURCE
#include "reactor.h"
#include "../threads/threads.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int weft__sys_error(int err)
{
    /* A refused datagram (ICMP port unreachable) reports on the next
     * receive: a plain error code of its own. Everything else is -errno. */
    return err;
}

/* ---- addresses -------------------------------------------------------------- */

static unsigned to_sockaddr(const weft__addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    memcpy(&in6->sin6_addr, a->ip, 16);
    return sizeof *in6;
}

static void from_sockaddr(const struct sockaddr_storage *ss, weft__addr *a)
{
    memset(a, 0, sizeof *a);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        a->family = 4;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        a->family = 6;
        a->port = ntohs(in6->sin6_port);
        memcpy(a->ip, &in6->sin6_addr, 16);
    }
}

/* ---- readiness state ------------------------------------------------------------ */

/* fdstates are pooled, never freed while the runtime lives: an event
 * already fetched by a reactor for a descriptor that has just been closed
 * may still name its fdstate, and a reused one takes that event as a
 * spurious readiness (its waiter tries its call again), never a use after
 * free. Chunks are freed with the runtime. */
#define FD_CHUNK 256u

weft__fdstate *weft__fdstate_get(weft_rt *rt)
{
    weft__thr *thr = weft__thr_of(rt);
    weft__spin_lock(&thr->fd_lock);
    weft_link *l = weft__list_pop_head(&thr->fd_free);
    if (!l) {
        weft__fdstate *c = NULL;
        if (weft__grow(&rt->alloc, (void **)&thr->fd_chunks, &thr->fd_chunk_cap, thr->fd_nchunks,
                       sizeof *thr->fd_chunks, 8) == 0)
            c = weft__calloc(rt, FD_CHUNK * sizeof *c);
        if (!c) {
            weft__spin_unlock(&thr->fd_lock);
            return NULL;
        }
        thr->fd_chunks[thr->fd_nchunks++] = c;
        for (unsigned i = 1; i < FD_CHUNK; i++)
            weft__list_push_tail(&thr->fd_free, &c[i].link);
        l = &c[0].link;
    }
    weft__spin_unlock(&thr->fd_lock);
    weft__fdstate *st = WEFT_LIST_ENTRY(l, weft__fdstate, link);
    weft__spin_lock(&st->lock);
    st->waiter[0] = st->waiter[1] = NULL;
    st->home = NULL;
    st->closed = false;
    st->drained = UINT32_MAX;
    weft__st(&st->hup, 0u, WEFT__RELAXED);
    weft__spin_unlock(&st->lock);
    return st;
}

void weft__fdstate_put(weft_rt *rt, weft__fdstate *st)
{
    weft__thr *thr = weft__thr_of(rt);
    weft__spin_lock(&st->lock);
    st->closed = true;
    st->home = NULL;
    weft__spin_unlock(&st->lock);
    weft__spin_lock(&thr->fd_lock);
    weft__list_push_tail(&thr->fd_free, &st->link);
    weft__spin_unlock(&thr->fd_lock);
}

void weft__fdstates_free(weft_rt *rt)
{
    weft__thr *thr = weft__thr_of(rt);
    for (size_t i = 0; i < thr->fd_nchunks; i++)
        weft__free(rt, thr->fd_chunks[i], FD_CHUNK * sizeof(weft__fdstate));
    if (thr->fd_chunks)
        weft__free(rt, thr->fd_chunks, thr->fd_chunk_cap * sizeof *thr->fd_chunks);
    thr->fd_chunks = NULL;
}

/* Whoever takes a waiter off st claims it there, under the lock (see
 * weft__io_finish): a cancel that does not find its op knows it lost. */
static weft__io *take(weft__fdstate *st, int i)
{
    weft__io *op = st->waiter[i];
    st->waiter[i] = NULL;
    return op && weft__io_claim(op) ? op : NULL;
}

void weft__fdstate_event(weft__fdstate *st, int ready)
{
    weft__io *ops[2] = {NULL, NULL};
    if (ready & WEFT__READY_HUP)
        weft__st(&st->hup, 1u, WEFT__RELEASE); /* before the count moves */
    weft__spin_lock(&st->lock);
    for (int i = 0; i < 2; i++) {
        if (ready & (1 << i)) {
            weft__fetch_add(&st->seq[i], 1u, WEFT__RELEASE);
            ops[i] = take(st, i);
        }
    }
    weft__spin_unlock(&st->lock);
    for (int i = 0; i < 2; i++)
        if (ops[i])
            weft__io_finish(ops[i], WEFT__IO_AGAIN);
}

void weft__fdstate_close(weft__fdstate *st)
{
    weft__spin_lock(&st->lock);
    st->closed = true;
    weft__io *ops[2] = {take(st, 0), take(st, 1)};
    weft__spin_unlock(&st->lock);
    for (int i = 0; i < 2; i++)
        if (ops[i])
            weft__io_finish(ops[i], WEFT_EBADF);
}

bool weft__fdstate_cancel(weft__fdstate *st, weft__io *op)
{
    bool mine = false;
    weft__spin_lock(&st->lock);
    for (int i = 0; i < 2; i++)
        if (st->waiter[i] == op)
            mine = take(st, i) != NULL;
    weft__spin_unlock(&st->lock);
    return mine;
}

int weft__fdstate_arm(weft__fdstate *st, weft__io *op, int ready, uint32_t seq)
{
    int i = ready == WEFT__READY_IN ? 0 : 1;
    weft__spin_lock(&st->lock);
    int r;
    if (st->closed)
        r = WEFT_EBADF;
    else if (weft__ld(&st->seq[i], WEFT__ACQUIRE) != seq)
        r = 0; /* an event came while the call ran: try again now */
    else {
        st->waiter[i] = op;
        r = WEFT__IO_PENDING;
    }
    weft__spin_unlock(&st->lock);
    return r;
}

/* ---- the operations ---------------------------------------------------------------- */

/* A socket's readiness state is made with it, so a close always finds
 * one to mark (a call that arms after the close then sees it). */
static int new_socket(weft_rt *rt, weft__ioh *h, const weft__addr *a, int type, int htype)
{
    int fd = rt->os.socket(rt->os.ctx, a->family == 4 ? AF_INET : AF_INET6, type, 0);
    if (fd < 0)
        return fd;
    h->fd = fd;
    h->type = (uint8_t)htype;
    if (!(h->bk = weft__fdstate_get(rt)))
        return WEFT_ENOMEM;
    return 0;
}

static void nodelay(int fd)
{
    /* Small messages go out at once (every peer runtime sets it too). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int bound_socket(weft_rt *rt, weft__io *op, int type, int htype)
{
    int r = new_socket(rt, op->h, &op->addr, type, htype);
    if (r < 0)
        return r;
    int fd = op->h->fd, one = 1;
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (op->addr.family == 6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_storage ss;
    unsigned len = to_sockaddr(&op->addr, &ss);
    if ((r = rt->os.bind(rt->os.ctx, fd, &ss, len)) < 0)
        return r;
    if (type == SOCK_STREAM && (r = rt->os.listen(rt->os.ctx, fd, op->arg)) < 0)
        return r;
    return 0;
}

/* Wait until h is ready for `ready`, then the task submits again:
 * WEFT__IO_PENDING, 0 (ready already: call again now) or a code. */
static int wait_ready(weft__reactor *r, weft__io *op, int ready, uint32_t seq)
{
    return r ? r->ops->arm(r, op, ready, seq) : WEFT_ENOTSUP;
}

static uint32_t seq_of(weft__ioh *h, int ready)
{
    weft__fdstate *st = h->bk;
    return st ? weft__ld(&st->seq[ready == WEFT__READY_IN ? 0 : 1], WEFT__ACQUIRE) : 0;
}

int weft__sys_open_flags(unsigned f)
{
    int fl = (f & WEFT_FILE_READ) && (f & WEFT_FILE_WRITE) ? O_RDWR : (f & WEFT_FILE_WRITE) ? O_WRONLY : O_RDONLY;
    if (f & WEFT_FILE_CREATE)
        fl |= O_CREAT;
    if (f & WEFT_FILE_TRUNC)
        fl |= O_TRUNC;
    if (f & WEFT_FILE_APPEND)
        fl |= O_APPEND;
    if (f & WEFT_FILE_EXCL)
        fl |= O_EXCL;
    return fl;
}

void weft__sys_opened(weft__io *op, int fd)
{
    op->h->fd = fd;
    op->h->type = WEFT__H_FILE;
}

/* The file operations: plain blocking calls (on the blocking pool, or
 * inline where they cannot block for long). */
static int file_op(weft_rt *rt, weft__io *op)
{
    int64_t off = op->offset == WEFT__IO_AT_POS ? -1 : (int64_t)op->offset;
    ssize_t n;
    switch (op->kind) {
    case WEFT__IO_FILE_OPEN: {
        int fd = rt->os.open(rt->os.ctx, op->path, weft__sys_open_flags((unsigned)op->arg), op->mode);
        if (fd < 0)
            return fd;
        weft__sys_opened(op, fd);
        return 0;
    }
    case WEFT__IO_FILE_READ: n = rt->os.pread(rt->os.ctx, op->h->fd, op->buf, op->len, off); break;
    case WEFT__IO_FILE_WRITE: n = rt->os.pwrite(rt->os.ctx, op->h->fd, op->buf, op->len, off); break;
    case WEFT__IO_FSYNC: n = rt->os.fsync(rt->os.ctx, op->h->fd); break;
    case WEFT__IO_FILE_UNLINK: n = rt->os.unlink(rt->os.ctx, op->path); break;
    default: return WEFT_EINVAL;
    }
    if (n < 0)
        return (int)n;
    op->result = n;
    return 0;
}

int weft__sys_file(weft_rt *rt, weft__io *op)
{
    return file_op(rt, op);
}

static int resolve(weft__io *op)
{
    if (weft__addr_parse(op->path, &op->addr, true) == 0)
        return 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(op->path, NULL, &hints, &res);
    if (e != 0)
        return e == EAI_MEMORY ? WEFT_ENOMEM : WEFT_ENOENT;
    /* IPv4 first: what a client that tries one address usually wants. */
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (!pick && ai->ai_family == AF_INET6)
            pick = ai;
    }
    int r = WEFT_ENOENT;
    if (pick) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
        from_sockaddr(&ss, &op->addr);
        r = 0;
    }
    freeaddrinfo(res);
    return r;
}

int weft__sys_resolve(weft__io *op)
{
    return resolve(op);
}

int weft__sys_submit(weft__reactor *r, weft_rt *rt, weft__io *op)
{
    weft__ioh *h = op->h;
    const weft_os *os = &rt->os;
    struct sockaddr_storage ss;
    unsigned len;
    ssize_t n;
    int rc;
    switch (op->kind) {
    case WEFT__IO_TCP_LISTEN: return bound_socket(rt, op, SOCK_STREAM, WEFT__H_LISTENER);
    case WEFT__IO_UDP_BIND: return bound_socket(rt, op, SOCK_DGRAM, WEFT__H_DGRAM);
    case WEFT__IO_TCP_CONNECT:
        if (op->bk[0] == 0) {
            if ((rc = new_socket(rt, h, &op->addr, SOCK_STREAM, WEFT__H_STREAM)) < 0)
                return rc;
            nodelay(h->fd);
            uint32_t seq = seq_of(h, WEFT__READY_OUT);
            len = to_sockaddr(&op->addr, &ss);
            rc = os->connect(os->ctx, h->fd, &ss, len);
            if (rc == 0)
                return 0;
            if (rc != -EINPROGRESS && rc != -EAGAIN)
                return rc;
            op->bk[0] = 1;
            if ((rc = wait_ready(r, op, WEFT__READY_OUT, seq)) != 0)
                return rc;
        }
        /* Writable: the connection is up, or it failed. */
        for (;;) {
            uint32_t seq = seq_of(h, WEFT__READY_OUT);
            if ((rc = os->sockerror(os->ctx, h->fd)) < 0)
                return rc;
            len = sizeof ss;
            if (os->getpeername(os->ctx, h->fd, &ss, &len) == 0)
                return 0;
            /* Not connected yet after all (an early readiness). */
            if ((rc = wait_ready(r, op, WEFT__READY_OUT, seq)) != 0)
                return rc;
        }
    case WEFT__IO_ACCEPT:
        for (;;) {
            uint32_t seq = seq_of(h, WEFT__READY_IN);
            len = sizeof ss;
            int fd = os->accept(os->ctx, h->fd, &ss, &len);
            if (fd >= 0) {
                nodelay(fd);
                op->out->fd = fd;
                op->out->type = WEFT__H_STREAM;
                if (!(op->out->bk = weft__fdstate_get(rt)))
                    return WEFT_ENOMEM; /* (released with the handle) */
                from_sockaddr(&ss, &op->addr);
                return 0;
            }
            /* A connection that died in the queue: take the next. */
            if (fd == -ECONNABORTED || fd == -EINTR)
                continue;
            if (fd != -EAGAIN)
                return fd;
            rc = wait_ready(r, op, WEFT__READY_IN, seq);
            if (rc != 0)
                return rc;
        }
    case WEFT__IO_READ:
    case WEFT__IO_RECVFROM:
    case WEFT__IO_WRITE:
    case WEFT__IO_SENDTO: {
        bool in = op->kind == WEFT__IO_READ || op->kind == WEFT__IO_RECVFROM;
        int ready = in ? WEFT__READY_IN : WEFT__READY_OUT;
        weft__fdstate *st = h->bk;
        bool edge = r && r->ops->edge && st && op->kind == WEFT__IO_READ;
        for (;;) {
            uint32_t seq = seq_of(h, ready);
            if (edge && st->drained == seq && op->len && !weft__ld(&st->hup, WEFT__ACQUIRE)) {
                /* Drained by the last read and nothing came since. */
                st->drained = UINT32_MAX;
                if ((rc = wait_ready(r, op, ready, seq)) != 0)
                    return rc;
                continue;
            }
            switch (op->kind) {
            case WEFT__IO_READ:
                n = os->recv(os->ctx, h->fd, op->buf, op->len);
                if (edge)
                    st->drained = n > 0 && (size_t)n < op->len ? seq : UINT32_MAX;
                break;
            case WEFT__IO_WRITE: n = os->send(os->ctx, h->fd, op->buf, op->len); break;
            case WEFT__IO_RECVFROM:
                len = sizeof ss;
                n = os->recvfrom(os->ctx, h->fd, op->buf, op->len, &ss, &len);
                if (n >= 0)
                    from_sockaddr(&ss, &op->addr);
                break;
            default:
                len = to_sockaddr(&op->addr, &ss);
                n = os->sendto(os->ctx, h->fd, op->buf, op->len, &ss, len);
                break;
            }
            if (n >= 0) {
                op->result = n;
                return 0;
            }
            if (n == -EINTR)
                continue;
            if (n != -EAGAIN)
                return n == -EINVAL && op->kind == WEFT__IO_SENDTO ? WEFT_EAFNOSUPPORT : (int)n;
            rc = wait_ready(r, op, ready, seq);
            if (rc != 0)
                return rc;
        }
    }
    case WEFT__IO_SHUTDOWN:
        return os->shutdown(os->ctx, h->fd, op->arg == WEFT_SHUT_RD ? SHUT_RD : op->arg == WEFT_SHUT_WR ? SHUT_WR
                                                                                                      : SHUT_RDWR);
    case WEFT__IO_LOCAL_ADDR:
    case WEFT__IO_PEER_ADDR:
        len = sizeof ss;
        memset(&ss, 0, sizeof ss);
        rc = op->kind == WEFT__IO_LOCAL_ADDR ? os->getsockname(os->ctx, h->fd, &ss, &len)
                                             : os->getpeername(os->ctx, h->fd, &ss, &len);
        if (rc < 0)
            return rc;
        from_sockaddr(&ss, &op->addr);
        return 0;
    case WEFT__IO_CLOSE:
        if (h->bk) {
            weft__fdstate_close(h->bk);
            if (r && r->ops->close)
                r->ops->close(r, h);
        }
        return 0;
    case WEFT__IO_RELEASE:
        if (h->bk) {
            if (r && r->ops->release)
                r->ops->release(r, h);
            weft__fdstate_put(rt, h->bk);
            h->bk = NULL;
        }
        if (h->fd >= 0)
            os->close(os->ctx, h->fd);
        h->fd = -1;
        h->type = WEFT__H_NONE;
        return 0;
    case WEFT__IO_RESOLVE: return resolve(op);
    default: return file_op(rt, op);
    }
}
