/* echo_bare.h — bench_echo's bare servers: the same echo with no runtime at
 * all, one thread calling the kernel directly (epoll: a readiness loop that
 * reads and writes back; io_uring: a receive, then a send, then a receive
 * for each connection, submitted in one batch per wait, with the ring flags
 * weft's reactor uses). They are the floor of their interface on this
 * machine: what is left of a message's cost when nothing but the system
 * calls is paid, so a server's distance to its bare row is what its runtime
 * costs, and no server of that interface can be much ahead of it.
 *
 * The includer includes bench.h first. */
#ifndef ECHO_BARE_H
#define ECHO_BARE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef WEFT_HAVE_URING
#include <liburing.h>
#endif

#define ECHO_BARE_BUF 4096

/* A listening socket on 127.0.0.1 (port 0), its port printed as the other
 * servers print it. */
static int echo_bare_listen(int flags)
{
    int l = socket(AF_INET, SOCK_STREAM | flags, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1024) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        bench_fail("bare server: listen: %s", strerror(errno));
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    return l;
}

static void echo_bare_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int echo_bare_epoll(void)
{
    int l = echo_bare_listen(SOCK_NONBLOCK), ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = l}, ev[256];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &e) < 0)
        bench_fail("bare server: epoll: %s", strerror(errno));
    char buf[ECHO_BARE_BUF];
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd, c;
            if (fd == l) {
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    echo_bare_nodelay(c);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            /* The load sends one message and waits for it: a send of 64
             * bytes into an idle socket is whole. */
            if (r <= 0 || send(fd, buf, (size_t)r, 0) != r)
                close(fd);
        }
    }
}

#ifdef WEFT_HAVE_URING
typedef struct bare_conn {
    int fd;
    size_t len, sent; /* what the last receive brought, and how much is back */
    char buf[ECHO_BARE_BUF];
} bare_conn;

/* user_data: the connection (8-byte aligned) with what completed in its low
 * bits; the listener's accept is 0. */
enum { BARE_RECV = 1, BARE_SEND = 2 };

/* An SQE, the queue submitted first when it is full. */
static struct io_uring_sqe *bare_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *s = io_uring_get_sqe(ring);
    if (!s) {
        io_uring_submit(ring);
        s = io_uring_get_sqe(ring);
    }
    return s;
}

static void bare_queue(struct io_uring *ring, bare_conn *c, int what)
{
    struct io_uring_sqe *s = bare_sqe(ring);
    if (what == BARE_RECV)
        io_uring_prep_recv(s, c->fd, c->buf, sizeof c->buf, 0);
    else
        io_uring_prep_send(s, c->fd, c->buf + c->sent, c->len - c->sent, 0);
    io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)c | (uint64_t)what);
}

static void bare_accept(struct io_uring *ring, int l)
{
    struct io_uring_sqe *s = bare_sqe(ring);
    io_uring_prep_accept(s, l, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, 0);
}

static int echo_bare_uring(void)
{
    int l = echo_bare_listen(0);
    struct io_uring ring;
    struct io_uring_params p = {.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG};
    int r = io_uring_queue_init_params(1024, &ring, &p);
    if (r == -EINVAL) {
        memset(&p, 0, sizeof p);
        r = io_uring_queue_init_params(1024, &ring, &p);
    }
    if (r < 0)
        bench_fail("bare server: io_uring_setup: %s", strerror(-r));
    bare_accept(&ring, l);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            uint64_t tag = io_uring_cqe_get_data64(cqe);
            bare_conn *c = (bare_conn *)(uintptr_t)(tag & ~(uint64_t)7);
            if (!c) {
                bare_accept(&ring, l);
                if (cqe->res < 0 || !(c = malloc(sizeof *c))) {
                    if (cqe->res >= 0)
                        close(cqe->res);
                    continue;
                }
                c->fd = cqe->res;
                echo_bare_nodelay(c->fd);
                bare_queue(&ring, c, BARE_RECV);
            } else if (cqe->res <= 0) {
                close(c->fd);
                free(c);
            } else if ((tag & 7) == BARE_RECV) {
                c->len = (size_t)cqe->res;
                c->sent = 0;
                bare_queue(&ring, c, BARE_SEND);
            } else {
                c->sent += (size_t)cqe->res;
                bare_queue(&ring, c, c->sent < c->len ? BARE_SEND : BARE_RECV);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
#else
static int echo_bare_uring(void)
{
    bench_fail("bare server: built without liburing");
}
#endif

#endif /* ECHO_BARE_H */
