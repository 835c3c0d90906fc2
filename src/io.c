/* io.c — the IO front door (weft/io.h): checks every argument and handle,
 * turns each call into an operation for the backend (struct weft__io in
 * backend.h), and waits for it the way every wait in weft waits (weft__block:
 * cancellation, deadlines, one wake per wait). The backend does the IO: a
 * real reactor or the simulated network and disk.
 *
 * Handles are (generation, slot) pairs into a per-runtime table, like task
 * handles, so a closed, foreign or made-up handle is WEFT_EBADF rather than
 * a use after free. A record holds one reference while open and one per
 * call in flight; the descriptor is released when the last one goes, so no
 * call ever uses a descriptor number that was closed (and maybe reused)
 * under it.
 */
#include "core.h"

#include <stdio.h>

/* Records come in chunks that never move (lookups need no lock); at most
 * 1024 chunks of 1024: a million open sockets and files per runtime. */
#define IO_CHUNK 1024u
#define IO_CHUNKS 1024u

typedef struct weft__hrec {
    weft__a32 gen;     /* [atomic] the handle's generation */
    weft__a32 refs;    /* [atomic] 1 while open, +1 per call in flight */
    weft__a32 closed;  /* [atomic] close was called */
    weft__a32 reading; /* [atomic] a task is in a read/accept/receive */
    weft__a32 writing; /* [atomic] a task is in a write/send */
    uint32_t slot;
    weft__ioh h;
    weft_link free_link; /* [lock table] */
} weft__hrec;

struct weft__io_table {
    weft__a32 lock;
    weft__a32 nslots;            /* [atomic] slots handed out so far */
    weft_list free;              /* [lock] */
    uint32_t salt;               /* makes another runtime's handles differ */
    weft__aptr chunks[IO_CHUNKS]; /* [atomic] weft__hrec[IO_CHUNK] each */
};

/* ---- the table -------------------------------------------------------------- */

static struct weft__io_table *table(weft_rt *rt, bool make)
{
    weft__aptr *slot = &rt->io;
    struct weft__io_table *t = weft__ld(slot, WEFT__ACQUIRE);
    if (t || !make)
        return t;
    t = weft__calloc(rt, sizeof *t);
    if (!t)
        return NULL;
    /* The salt tells runtimes apart: the runtime's own generation base (a
     * count of runtimes made, or a simulated one's seed), not its address,
     * which the next runtime may get, and with it every handle of this one;
     * and not a value that differs between a run and its replay. */
    uint64_t h = weft__hash_str(WEFT__HASH_INIT, "weft io") ^ rt->gen_base;
    t->salt = (uint32_t)(h ^ h >> 29) << 8;
    void *none = NULL;
    if (!weft__cas(slot, &none, (void *)t, WEFT__ACQ_REL, WEFT__ACQUIRE)) {
        weft__free(rt, t, sizeof *t);
        t = none;
    }
    return t;
}

static weft__hrec *rec_at(struct weft__io_table *tab, uint32_t slot)
{
    weft__hrec *c = weft__ld(&tab->chunks[slot / IO_CHUNK], WEFT__ACQUIRE);
    return c ? &c[slot % IO_CHUNK] : NULL;
}

static uint64_t handle_of(const weft__hrec *r)
{
    return (uint64_t)r->gen.v << 32 | r->slot;
}

static int rec_new(weft_rt *rt, weft__hrec **out)
{
    struct weft__io_table *tab = table(rt, true);
    if (!tab)
        return WEFT_ENOMEM;
    weft__spin_lock(&tab->lock);
    weft_link *l = weft__list_pop_head(&tab->free);
    weft__hrec *r = l ? WEFT_LIST_ENTRY(l, weft__hrec, free_link) : NULL;
    if (!r) {
        uint32_t n = weft__ld(&tab->nslots, WEFT__RELAXED);
        if (n == IO_CHUNK * IO_CHUNKS) {
            weft__spin_unlock(&tab->lock);
            return WEFT_EMFILE;
        }
        if (n % IO_CHUNK == 0) {
            weft__hrec *c = weft__calloc(rt, IO_CHUNK * sizeof *c);
            if (!c) {
                weft__spin_unlock(&tab->lock);
                return WEFT_ENOMEM;
            }
            for (uint32_t i = 0; i < IO_CHUNK; i++) {
                c[i].slot = n + i;
                c[i].gen.v = tab->salt | 1u;
            }
            weft__st(&tab->chunks[n / IO_CHUNK], (void *)c, WEFT__RELEASE);
        }
        r = rec_at(tab, n);
        weft__st(&tab->nslots, n + 1, WEFT__RELEASE);
    }
    weft__spin_unlock(&tab->lock);
    weft__st(&r->closed, 0u, WEFT__RELAXED);
    weft__st(&r->reading, 0u, WEFT__RELAXED);
    weft__st(&r->writing, 0u, WEFT__RELAXED);
    r->h.fd = -1;
    r->h.type = WEFT__H_NONE;
    r->h.bk = NULL;
    /* Published last: until refs is 1 no lookup takes the record. */
    weft__st(&r->refs, 1u, WEFT__RELEASE);
    *out = r;
    return 0;
}

/* Back to the free list with a new generation: old handles stay dead. */
static void rec_free(weft_rt *rt, weft__hrec *r)
{
    struct weft__io_table *tab = table(rt, false);
    uint32_t g = weft__ld(&r->gen, WEFT__RELAXED) + 2;
    weft__st(&r->gen, g, WEFT__RELEASE);
    weft__spin_lock(&tab->lock);
    weft__list_push_tail(&tab->free, &r->free_link);
    weft__spin_unlock(&tab->lock);
}

/* The backend lets go of r's descriptor and state (no call is in flight). */
static void release(weft_rt *rt, weft__worker *w, weft__hrec *r)
{
    if (!w || w->rt != rt)
        w = &rt->workers[0];
    if (r->h.type != WEFT__H_NONE && rt->backend->io_submit) {
        weft__io op;
        memset(&op, 0, sizeof op);
        op.kind = WEFT__IO_RELEASE;
        op.h = &r->h;
        op.w = w;
        rt->backend->io_submit(w, &op);
    }
    rec_free(rt, r);
}

static void unref(weft_rt *rt, weft__worker *w, weft__hrec *r)
{
    if (weft__fetch_sub(&r->refs, 1u, WEFT__ACQ_REL) == 1)
        release(rt, w, r);
}

/* The record of handle h (a reference taken), or NULL. */
static weft__hrec *lookup(weft_rt *rt, const void *h)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    uint32_t slot = (uint32_t)v, gen = (uint32_t)(v >> 32);
    struct weft__io_table *tab = table(rt, false);
    if (!h || !tab || slot >= weft__ld(&tab->nslots, WEFT__ACQUIRE))
        return NULL;
    weft__hrec *r = rec_at(tab, slot);
    if (!r || weft__ld(&r->gen, WEFT__ACQUIRE) != gen)
        return NULL;
    uint32_t n = weft__ld(&r->refs, WEFT__ACQUIRE);
    do {
        if (n == 0)
            return NULL; /* being released */
    } while (!weft__cas(&r->refs, &n, n + 1, WEFT__ACQ_REL, WEFT__ACQUIRE));
    if (weft__ld(&r->gen, WEFT__ACQUIRE) != gen || weft__ld(&r->closed, WEFT__ACQUIRE)) {
        unref(rt, weft__tls_worker, r);
        return NULL;
    }
    return r;
}

/* ---- waiting for an operation ----------------------------------------------- */

bool weft__io_claim(weft__io *op)
{
    uint32_t open = 0;
    return weft__cas(&op->claim, &open, 1u, WEFT__ACQ_REL, WEFT__RELAXED);
}

void weft__io_finish(weft__io *op, int64_t result)
{
    weft__task *t = op->task;
    op->result = result;
    /* op may be gone once its task runs: nothing of it is read after. */
    weft__wake(t, (int)result);
}

bool weft__io_complete(weft__io *op, int64_t result)
{
    if (!weft__io_claim(op))
        return false;
    weft__io_finish(op, result);
    return true;
}

void weft__io_retired(weft__io *op)
{
    weft__task *t = op->task;
    if (weft__xchg(&op->busy, 0u, WEFT__ACQ_REL) == 2)
        weft__wake(t, 0);
}

static bool io_unlink(weft__task *t)
{
    weft__io *op = t->wait->obj;
    return weft__task_rt(t)->backend->io_cancel(op);
}

/* The op was cancelled while the backend had lent its buffer out: wait,
 * without being interrupted, until it has it back. */
static void settle(weft__task *t, weft__io *op)
{
    uint32_t lent = 1;
    if (!weft__cas(&op->busy, &lent, 2u, WEFT__ACQ_REL, WEFT__ACQUIRE))
        return;
    uint16_t was = t->flags & WEFT__F_UNCANCELLABLE;
    t->flags |= WEFT__F_UNCANCELLABLE;
    weft__block(t, WEFT__W_IO | WEFT__W_EXTERNAL, op, NULL, WEFT_NO_DEADLINE);
    t->flags = (uint16_t)((t->flags & ~WEFT__F_UNCANCELLABLE) | was);
}

/* Run op for task t to its end: the result (>= 0) or a negative code. */
static int64_t run_op(weft__task *t, weft__io *op)
{
    weft_rt *rt = weft__task_rt(t);
    for (;;) {
        op->task = t;
        op->w = t->worker;
        op->result = 0;
        op->late = false;
        weft__st(&op->claim, 0u, WEFT__RELAXED);
        weft__st(&op->busy, 0u, WEFT__RELAXED);
        int r = rt->backend->io_submit(t->worker, op);
        if (r < 0)
            return r;
        if (r == 0)
            return op->result;
        int w = weft__block(t, WEFT__W_IO | WEFT__W_EXTERNAL, op, io_unlink, op->deadline);
        if (weft__ld(&op->busy, WEFT__ACQUIRE))
            settle(t, op);
        /* It happened after all: nothing it did is lost (the cancellation
         * stays, and the next call sees it). */
        if (op->late)
            return op->result;
        if (w != WEFT__IO_AGAIN)
            return w;
    }
}

/* The calling task, ready for IO: a task of a runtime with IO, not
 * cancelled, a scheduling point taken (the network is shared state). */
static int io_entry(weft__task **out, const char *what)
{
    int r = weft__blocking_entry(out, what);
    if (r < 0)
        return r;
    weft_rt *rt = weft__task_rt(*out);
    if (!rt->backend->io_submit)
        return WEFT_MISUSE(WEFT_ENOTSUP, "%s: this backend has no IO", what);
    weft__sched_point((*out)->worker);
    return 0;
}

static int bad_handle(const char *what, const void *h)
{
    return WEFT_MISUSE(WEFT_EBADF, "%s: %s handle (closed, of another runtime, or never valid)", what,
                       h ? "stale" : "NULL");
}

/* A handle of the caller's runtime of one of the types in mask. */
static int take(weft__task *t, const void *h, unsigned mask, weft__hrec **out, const char *what)
{
    weft__hrec *r = lookup(weft__task_rt(t), h);
    if (!r)
        return bad_handle(what, h);
    if (!(mask & (1u << r->h.type))) {
        unref(weft__task_rt(t), t->worker, r);
        return WEFT_MISUSE(WEFT_EINVAL, "%s: the handle is not of a kind this call takes", what);
    }
    *out = r;
    return 0;
}

#define M(type) (1u << (type))

static void done(weft__task *t, weft__hrec *r)
{
    /* The task may have moved to another worker while it waited. */
    unref(weft__task_rt(t), weft__tls_worker ? weft__tls_worker : t->worker, r);
}

/* Hold r's read (or write) side for the call: one reader and one writer. */
static int side_take(weft__hrec *r, bool write, const char *what)
{
    uint32_t z = 0;
    if (!weft__cas(write ? &r->writing : &r->reading, &z, 1u, WEFT__ACQ_REL, WEFT__RELAXED))
        return WEFT_MISUSE(WEFT_EBUSY, "%s: another task is %s this socket", what, write ? "writing" : "reading");
    return 0;
}

static void side_drop(weft__hrec *r, bool write)
{
    weft__st(write ? &r->writing : &r->reading, 0u, WEFT__RELEASE);
}

static int check_buf(const void *buf, size_t len, const char *what)
{
    if (!buf && len)
        return WEFT_MISUSE(WEFT_EFAULT, "%s: NULL buffer of %zu bytes", what, len);
    if (len > WEFT_IO_MAX)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: length %zu is more than WEFT_IO_MAX", what, len);
    return 0;
}

/* A file call or a lookup whose deadline passed before the disk (or the
 * resolver) has it does nothing. Past that point it runs to its end (see
 * weft/io.h); io_uring may still take a queued call back (run_op). The
 * deadline is read on the task's own clock, as the caller computed it. */
static int not_started_by(uint64_t deadline)
{
    return deadline != WEFT_NO_DEADLINE && weft_now() >= deadline ? WEFT_ETIMEDOUT : 0;
}

static int parse(const char *text, weft__addr *a, const char *what)
{
    if (!text)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: NULL address", what);
    if (weft__addr_parse(text, a, false) < 0)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: \"%.64s\" is not a numeric address with a port (1.2.3.4:80, [::1]:80)",
                           what, text);
    return 0;
}

/* Open a new handle with op (listen, bind, connect, open): *out gets it. */
static int open_handle(weft__task *t, weft__io *op, void **out)
{
    weft__hrec *r;
    int rc = rec_new(weft__task_rt(t), &r);
    if (rc < 0)
        return rc;
    op->h = &r->h;
    int64_t res = run_op(t, op);
    if (res < 0) {
        unref(weft__task_rt(t), weft__tls_worker, r); /* the backend left nothing open, or releases it now */
        return (int)res;
    }
    *out = (void *)(uintptr_t)handle_of(r);
    return 0;
}

/* ---- TCP ------------------------------------------------------------------- */

int weft_tcp_listen(weft_sock **s, const char *addr, int backlog)
{
    if (s)
        *s = NULL;
    weft__task *t;
    int r = io_entry(&t, "weft_tcp_listen");
    if (r < 0)
        return r;
    if (!s)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tcp_listen: NULL output pointer");
    weft__io op;
    memset(&op, 0, sizeof op);
    if ((r = parse(addr, &op.addr, "weft_tcp_listen")) < 0)
        return r;
    op.kind = WEFT__IO_TCP_LISTEN;
    op.arg = backlog > 0 ? backlog : 1024;
    op.deadline = WEFT_NO_DEADLINE;
    return open_handle(t, &op, (void **)s);
}

int weft_tcp_accept_until(weft_sock *l, weft_sock **conn, uint64_t deadline)
{
    if (conn)
        *conn = NULL;
    weft__task *t;
    int r = io_entry(&t, "weft_tcp_accept");
    if (r < 0)
        return r;
    if (!conn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tcp_accept: NULL output pointer");
    weft__hrec *lr, *cr;
    if ((r = take(t, l, M(WEFT__H_LISTENER), &lr, "weft_tcp_accept")) < 0)
        return r;
    if ((r = side_take(lr, false, "weft_tcp_accept")) < 0) {
        done(t, lr);
        return r;
    }
    if ((r = rec_new(weft__task_rt(t), &cr)) < 0) {
        side_drop(lr, false);
        done(t, lr);
        return r;
    }
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = WEFT__IO_ACCEPT;
    op.h = &lr->h;
    op.out = &cr->h;
    op.deadline = deadline;
    int64_t res = run_op(t, &op);
    side_drop(lr, false);
    done(t, lr);
    if (res < 0) {
        done(t, cr);
        return (int)res;
    }
    *conn = (weft_sock *)(uintptr_t)handle_of(cr);
    return 0;
}

int weft_tcp_accept(weft_sock *l, weft_sock **conn)
{
    return weft_tcp_accept_until(l, conn, WEFT_NO_DEADLINE);
}

int weft_tcp_connect_until(weft_sock **s, const char *addr, uint64_t deadline)
{
    if (s)
        *s = NULL;
    weft__task *t;
    int r = io_entry(&t, "weft_tcp_connect");
    if (r < 0)
        return r;
    if (!s)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tcp_connect: NULL output pointer");
    weft__io op;
    memset(&op, 0, sizeof op);
    if ((r = parse(addr, &op.addr, "weft_tcp_connect")) < 0)
        return r;
    if (op.addr.port == 0)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tcp_connect: port 0 in \"%.64s\"", addr);
    op.kind = WEFT__IO_TCP_CONNECT;
    op.deadline = deadline;
    return open_handle(t, &op, (void **)s);
}

int weft_tcp_connect(weft_sock **s, const char *addr)
{
    return weft_tcp_connect_until(s, addr, WEFT_NO_DEADLINE);
}

static int addr_of(weft_sock *s, char *buf, size_t len, int kind, const char *what)
{
    weft__task *t;
    int r = io_entry(&t, what);
    if (r < 0)
        return r;
    if (!buf || len == 0)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: no buffer", what);
    buf[0] = '\0';
    weft__hrec *hr;
    if ((r = take(t, s, M(WEFT__H_LISTENER) | M(WEFT__H_STREAM) | M(WEFT__H_DGRAM), &hr, what)) < 0)
        return r;
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = (uint8_t)kind;
    op.h = &hr->h;
    op.deadline = WEFT_NO_DEADLINE;
    int64_t res = run_op(t, &op);
    done(t, hr);
    if (res < 0)
        return (int)res;
    r = weft__addr_format(&op.addr, buf, len);
    return r < 0 ? WEFT_MISUSE(WEFT_EINVAL, "%s: a buffer of %zu bytes is too small", what, len) : r;
}

int weft_sock_local_addr(weft_sock *s, char *buf, size_t len)
{
    return addr_of(s, buf, len, WEFT__IO_LOCAL_ADDR, "weft_sock_local_addr");
}

int weft_sock_peer_addr(weft_sock *s, char *buf, size_t len)
{
    return addr_of(s, buf, len, WEFT__IO_PEER_ADDR, "weft_sock_peer_addr");
}

/* A read or write of a stream, a datagram or a file. */
static ssize_t xfer(const void *h, unsigned mask, int kind, void *buf, size_t len, uint64_t offset,
                    const weft__addr *to, weft__addr *from, uint64_t deadline, const char *what)
{
    weft__task *t;
    int r = io_entry(&t, what);
    if (r < 0)
        return r;
    if ((r = check_buf(buf, len, what)) < 0)
        return r;
    weft__hrec *hr;
    if ((r = take(t, h, mask, &hr, what)) < 0)
        return r;
    if (mask == M(WEFT__H_FILE) && (r = not_started_by(deadline)) < 0) {
        done(t, hr);
        return r;
    }
    bool write = kind == WEFT__IO_WRITE || kind == WEFT__IO_SENDTO || kind == WEFT__IO_FILE_WRITE;
    if ((r = side_take(hr, write, what)) < 0) {
        done(t, hr);
        return r;
    }
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = (uint8_t)kind;
    op.h = &hr->h;
    op.buf = buf;
    op.len = len;
    op.offset = offset;
    op.deadline = deadline;
    if (to)
        op.addr = *to;
    int64_t res = run_op(t, &op);
    if (from && res >= 0)
        *from = op.addr;
    side_drop(hr, write);
    done(t, hr);
    return (ssize_t)res;
}

#define SOCK_STREAM_M M(WEFT__H_STREAM)

ssize_t weft_sock_read_until(weft_sock *s, void *buf, size_t len, uint64_t deadline)
{
    return xfer(s, SOCK_STREAM_M, WEFT__IO_READ, buf, len, 0, NULL, NULL, deadline, "weft_sock_read");
}

ssize_t weft_sock_read(weft_sock *s, void *buf, size_t len)
{
    return weft_sock_read_until(s, buf, len, WEFT_NO_DEADLINE);
}

ssize_t weft_sock_write_until(weft_sock *s, const void *buf, size_t len, uint64_t deadline)
{
    return xfer(s, SOCK_STREAM_M, WEFT__IO_WRITE, (void *)buf, len, 0, NULL, NULL, deadline, "weft_sock_write");
}

ssize_t weft_sock_write(weft_sock *s, const void *buf, size_t len)
{
    return weft_sock_write_until(s, buf, len, WEFT_NO_DEADLINE);
}

int weft_sock_write_all_until(weft_sock *s, const void *buf, size_t len, size_t *written, uint64_t deadline)
{
    size_t sent = 0;
    int r = check_buf(buf, len, "weft_sock_write_all");
    while (r == 0 && sent < len) {
        ssize_t n = weft_sock_write_until(s, (const char *)buf + sent, len - sent, deadline);
        if (n < 0)
            r = (int)n;
        else
            sent += (size_t)n;
    }
    if (r == 0 && len == 0) {
        /* Nothing to send: still say whether the handle is good. */
        ssize_t n = weft_sock_write_until(s, buf, 0, deadline);
        r = n < 0 ? (int)n : 0;
    }
    if (written)
        *written = sent;
    return r;
}

int weft_sock_write_all(weft_sock *s, const void *buf, size_t len, size_t *written)
{
    return weft_sock_write_all_until(s, buf, len, written, WEFT_NO_DEADLINE);
}

int weft_sock_shutdown(weft_sock *s, int how)
{
    weft__task *t;
    int r = io_entry(&t, "weft_sock_shutdown");
    if (r < 0)
        return r;
    if (how != WEFT_SHUT_RD && how != WEFT_SHUT_WR && how != WEFT_SHUT_RDWR)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_sock_shutdown: how %d is not WEFT_SHUT_RD, _WR or _RDWR", how);
    weft__hrec *hr;
    if ((r = take(t, s, SOCK_STREAM_M, &hr, "weft_sock_shutdown")) < 0)
        return r;
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = WEFT__IO_SHUTDOWN;
    op.h = &hr->h;
    op.arg = how;
    op.deadline = WEFT_NO_DEADLINE;
    int64_t res = run_op(t, &op);
    done(t, hr);
    return (int)res;
}

/* Close: the handle dies now; calls waiting on it end (the backend's CLOSE);
 * the descriptor goes when the last call in flight has left. */
static int close_handle(const void *h, unsigned mask, const char *what)
{
    weft__worker *w;
    int r = weft__require_task(&w, what);
    if (r < 0)
        return r;
    weft__task *t = w->current;
    weft__hrec *hr;
    if ((r = take(t, h, mask, &hr, what)) < 0)
        return r;
    uint32_t open = 0;
    if (!weft__cas(&hr->closed, &open, 1u, WEFT__ACQ_REL, WEFT__RELAXED)) {
        done(t, hr);
        return bad_handle(what, h);
    }
    weft__sched_point(w);
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = WEFT__IO_CLOSE;
    op.h = &hr->h;
    op.task = t;
    op.w = weft__tls_worker;
    r = weft__task_rt(t)->backend->io_submit(op.w, &op);
    done(t, hr);                          /* this call's reference */
    unref(weft__task_rt(t), weft__tls_worker, hr);   /* the open one */
    return r < 0 ? r : (int)op.result;
}

int weft_sock_close(weft_sock *s)
{
    return close_handle(s, M(WEFT__H_LISTENER) | M(WEFT__H_STREAM) | M(WEFT__H_DGRAM), "weft_sock_close");
}

/* ---- UDP ------------------------------------------------------------------- */

int weft_udp_bind(weft_sock **s, const char *addr)
{
    if (s)
        *s = NULL;
    weft__task *t;
    int r = io_entry(&t, "weft_udp_bind");
    if (r < 0)
        return r;
    if (!s)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_udp_bind: NULL output pointer");
    weft__io op;
    memset(&op, 0, sizeof op);
    if ((r = parse(addr, &op.addr, "weft_udp_bind")) < 0)
        return r;
    op.kind = WEFT__IO_UDP_BIND;
    op.deadline = WEFT_NO_DEADLINE;
    return open_handle(t, &op, (void **)s);
}

ssize_t weft_udp_send_to_until(weft_sock *s, const void *buf, size_t len, const char *to, uint64_t deadline)
{
    weft__addr a;
    int r = parse(to, &a, "weft_udp_send_to");
    if (r < 0)
        return r;
    if (a.port == 0)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_udp_send_to: port 0 in \"%.64s\"", to);
    return xfer(s, M(WEFT__H_DGRAM), WEFT__IO_SENDTO, (void *)buf, len, 0, &a, NULL, deadline, "weft_udp_send_to");
}

ssize_t weft_udp_send_to(weft_sock *s, const void *buf, size_t len, const char *to)
{
    return weft_udp_send_to_until(s, buf, len, to, WEFT_NO_DEADLINE);
}

ssize_t weft_udp_recv_from_until(weft_sock *s, void *buf, size_t len, char *from, size_t fromlen, uint64_t deadline)
{
    if (from && fromlen)
        from[0] = '\0';
    /* Checked before anything is received: a datagram taken off the queue
     * could not be put back, and the sender is not known until then. */
    if (from && fromlen < WEFT_ADDR_MAX)
        return WEFT_MISUSE(WEFT_EINVAL,
                           "weft_udp_recv_from: a from buffer of %zu bytes is shorter than WEFT_ADDR_MAX (%d); "
                           "nothing was received",
                           fromlen, WEFT_ADDR_MAX);
    weft__addr a;
    memset(&a, 0, sizeof a);
    ssize_t n = xfer(s, M(WEFT__H_DGRAM), WEFT__IO_RECVFROM, buf, len, 0, NULL, &a, deadline, "weft_udp_recv_from");
    if (n >= 0 && from) {
        int f = weft__addr_format(&a, from, fromlen);
        WEFT_INVARIANT(f >= 0, "a sender's address does not fit in WEFT_ADDR_MAX bytes");
        (void)f;
    }
    return n;
}

ssize_t weft_udp_recv_from(weft_sock *s, void *buf, size_t len, char *from, size_t fromlen)
{
    return weft_udp_recv_from_until(s, buf, len, from, fromlen, WEFT_NO_DEADLINE);
}

/* ---- files ------------------------------------------------------------------ */

#define FILE_FLAGS                                                                                                 \
    (WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE | WEFT_FILE_TRUNC | WEFT_FILE_APPEND | WEFT_FILE_EXCL)

int weft_file_open_until(weft_file **f, const char *path, unsigned flags, unsigned mode, uint64_t deadline)
{
    if (f)
        *f = NULL;
    weft__task *t;
    int r = io_entry(&t, "weft_file_open");
    if (r < 0)
        return r;
    if (!f || !path || !*path)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_file_open: NULL output, or no path");
    if ((flags & ~FILE_FLAGS) || !(flags & (WEFT_FILE_READ | WEFT_FILE_WRITE)) || mode > 07777)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_file_open: flags 0x%x / mode 0%o (need WEFT_FILE_READ and/or _WRITE)",
                           flags, mode);
    if ((flags & (WEFT_FILE_TRUNC | WEFT_FILE_APPEND)) && !(flags & WEFT_FILE_WRITE))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_file_open: TRUNC and APPEND need WEFT_FILE_WRITE");
    if ((r = not_started_by(deadline)) < 0)
        return r;
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = WEFT__IO_FILE_OPEN;
    op.path = path;
    op.arg = (int)flags;
    op.mode = mode;
    op.deadline = deadline;
    return open_handle(t, &op, (void **)f);
}

int weft_file_open(weft_file **f, const char *path, unsigned flags, unsigned mode)
{
    return weft_file_open_until(f, path, flags, mode, WEFT_NO_DEADLINE);
}

ssize_t weft_file_read_until(weft_file *f, void *buf, size_t len, uint64_t deadline)
{
    return xfer(f, M(WEFT__H_FILE), WEFT__IO_FILE_READ, buf, len, WEFT__IO_AT_POS, NULL, NULL, deadline,
                "weft_file_read");
}

ssize_t weft_file_read(weft_file *f, void *buf, size_t len)
{
    return weft_file_read_until(f, buf, len, WEFT_NO_DEADLINE);
}

ssize_t weft_file_write_until(weft_file *f, const void *buf, size_t len, uint64_t deadline)
{
    return xfer(f, M(WEFT__H_FILE), WEFT__IO_FILE_WRITE, (void *)buf, len, WEFT__IO_AT_POS, NULL, NULL, deadline,
                "weft_file_write");
}

ssize_t weft_file_write(weft_file *f, const void *buf, size_t len)
{
    return weft_file_write_until(f, buf, len, WEFT_NO_DEADLINE);
}

ssize_t weft_file_pread_until(weft_file *f, void *buf, size_t len, uint64_t offset, uint64_t deadline)
{
    if (offset > (uint64_t)INT64_MAX - len)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_file_pread: offset %llu is past the largest file",
                           (unsigned long long)offset);
    return xfer(f, M(WEFT__H_FILE), WEFT__IO_FILE_READ, buf, len, offset, NULL, NULL, deadline, "weft_file_pread");
}

ssize_t weft_file_pread(weft_file *f, void *buf, size_t len, uint64_t offset)
{
    return weft_file_pread_until(f, buf, len, offset, WEFT_NO_DEADLINE);
}

ssize_t weft_file_pwrite_until(weft_file *f, const void *buf, size_t len, uint64_t offset, uint64_t deadline)
{
    if (offset > (uint64_t)INT64_MAX - len)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_file_pwrite: offset %llu is past the largest file",
                           (unsigned long long)offset);
    return xfer(f, M(WEFT__H_FILE), WEFT__IO_FILE_WRITE, (void *)buf, len, offset, NULL, NULL, deadline,
                "weft_file_pwrite");
}

ssize_t weft_file_pwrite(weft_file *f, const void *buf, size_t len, uint64_t offset)
{
    return weft_file_pwrite_until(f, buf, len, offset, WEFT_NO_DEADLINE);
}

int weft_file_fsync_until(weft_file *f, uint64_t deadline)
{
    return (int)xfer(f, M(WEFT__H_FILE), WEFT__IO_FSYNC, NULL, 0, 0, NULL, NULL, deadline, "weft_file_fsync");
}

int weft_file_fsync(weft_file *f)
{
    return weft_file_fsync_until(f, WEFT_NO_DEADLINE);
}

int weft_file_close(weft_file *f)
{
    return close_handle(f, M(WEFT__H_FILE), "weft_file_close");
}

static int pathop(const char *path, int kind, weft__addr *out, uint64_t deadline, const char *what)
{
    weft__task *t;
    int r = io_entry(&t, what);
    if (r < 0)
        return r;
    if (!path || !*path)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: no %s", what, kind == WEFT__IO_RESOLVE ? "name" : "path");
    if ((r = not_started_by(deadline)) < 0)
        return r;
    weft__io op;
    memset(&op, 0, sizeof op);
    op.kind = (uint8_t)kind;
    op.path = path;
    op.deadline = deadline;
    int64_t res = run_op(t, &op);
    if (res >= 0 && out)
        *out = op.addr;
    return (int)res;
}

int weft_file_unlink_until(const char *path, uint64_t deadline)
{
    return pathop(path, WEFT__IO_FILE_UNLINK, NULL, deadline, "weft_file_unlink");
}

int weft_file_unlink(const char *path)
{
    return weft_file_unlink_until(path, WEFT_NO_DEADLINE);
}

int weft_resolve_until(const char *host, unsigned port, char *out, size_t outlen, uint64_t deadline)
{
    if (!out || outlen == 0)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_resolve: no output buffer");
    out[0] = '\0';
    if (port > 65535)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_resolve: port %u", port);
    weft__addr a;
    int r = pathop(host, WEFT__IO_RESOLVE, &a, deadline, "weft_resolve");
    if (r < 0)
        return r;
    a.port = (uint16_t)port;
    r = weft__addr_format(&a, out, outlen);
    return r < 0 ? WEFT_MISUSE(WEFT_EINVAL, "weft_resolve: a buffer of %zu bytes is too small", outlen) : r;
}

int weft_resolve(const char *host, unsigned port, char *out, size_t outlen)
{
    return weft_resolve_until(host, port, out, outlen, WEFT_NO_DEADLINE);
}

const char *weft_rt_reactor(const weft_rt *rt)
{
    return rt && rt->backend->io_name ? rt->backend->io_name(rt) : "none";
}

/* ---- the runtime goes -------------------------------------------------------- */

void weft__io_free(weft_rt *rt)
{
    struct weft__io_table *tab = table(rt, false);
    if (!tab)
        return;
    uint32_t n = tab->nslots.v;
    for (uint32_t i = 0; i < n; i++) {
        weft__hrec *r = rec_at(tab, i);
        /* Still open (no task is left to be in a call): the backend lets go. */
        if (r->refs.v && r->h.type != WEFT__H_NONE && rt->backend->io_submit) {
            weft__io op;
            memset(&op, 0, sizeof op);
            op.kind = WEFT__IO_RELEASE;
            op.h = &r->h;
            op.w = &rt->workers[0]; /* no worker runs now: any will do */
            rt->backend->io_submit(op.w, &op);
        }
    }
    for (uint32_t c = 0; c < IO_CHUNKS; c++)
        if (tab->chunks[c].v)
            weft__free(rt, tab->chunks[c].v, IO_CHUNK * sizeof(weft__hrec));
    weft__free(rt, tab, sizeof *tab);
    rt->io.v = NULL;
}
