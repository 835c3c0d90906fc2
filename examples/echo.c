/* echo.c — an echo server and its clients, the same source in both worlds:
 *
 *   echo                 a server on 127.0.0.1 and 8 clients in one runtime,
 *                        every byte checked (WEFT_MODE=sim: the simulated
 *                        loopback, instant; WEFT_MODE=threaded: real sockets)
 *   echo --serve ADDR    serve ADDR (e.g. 127.0.0.1:7000) until killed
 *
 * WEFT_SEED, WEFT_WORKERS and WEFT_REACTOR (epoll|uring|poll) apply.
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 8
#define ROUNDS 100

/* Connections still being served (the demo waits for them to end). */
static weft_wg conns;

/* One connection: write back whatever arrives, until the end of it. */
static void *serve_conn(void *arg)
{
    weft_sock *c = arg;
    char buf[16384];
    ssize_t n;
    while ((n = weft_sock_read(c, buf, sizeof buf)) > 0)
        if (weft_sock_write_all(c, buf, (size_t)n, NULL) < 0)
            break;
    weft_sock_close(c);
    weft_wg_done(&conns);
    return NULL;
}

/* Accept until the listener is closed or the task cancelled. */
static void *serve(void *arg)
{
    weft_sock *l = arg;
    for (;;) {
        weft_sock *c;
        int r = weft_tcp_accept(l, &c);
        if (r == WEFT_EMFILE || r == WEFT_ENFILE) {
            fprintf(stderr, "echo: accept: %s (the connection waits)\n", weft_strerror(r));
            weft_sleep(10 * 1000000ull);
            continue;
        }
        if (r < 0)
            return NULL;
        weft_spawn_opts o = {.name = "echo conn"};
        weft_wg_add(&conns, 1);
        if (weft_spawn_ex(NULL, serve_conn, c, &o) < 0) {
            weft_sock_close(c);
            weft_wg_done(&conns);
        }
    }
}

typedef struct client {
    const char *addr;
    unsigned id;
    int result;
} client;

/* ROUNDS messages of growing size, each read back and compared. */
static void *run_client(void *arg)
{
    client *cl = arg;
    weft_sock *s;
    cl->result = weft_tcp_connect(&s, cl->addr);
    if (cl->result < 0)
        return NULL;
    char out[2048], in[2048];
    for (unsigned r = 0; r < ROUNDS && cl->result == 0; r++) {
        size_t len = 1 + (r * 37 + cl->id * 11) % sizeof out;
        for (size_t i = 0; i < len; i++)
            out[i] = (char)(cl->id + r + i);
        if ((cl->result = weft_sock_write_all(s, out, len, NULL)) < 0)
            break;
        size_t got = 0;
        while (got < len) {
            ssize_t n = weft_sock_read(s, in + got, len - got);
            if (n <= 0) {
                cl->result = n < 0 ? (int)n : WEFT_ECONNRESET;
                break;
            }
            got += (size_t)n;
        }
        if (cl->result == 0 && memcmp(in, out, len) != 0)
            cl->result = WEFT_EIO;
    }
    weft_sock_close(s);
    return NULL;
}

static void *demo(void *arg)
{
    (void)arg;
    weft_sock *l;
    char addr[WEFT_ADDR_MAX];
    int r = weft_tcp_listen(&l, "127.0.0.1:0", 128);
    if (r < 0 || (r = weft_sock_local_addr(l, addr, sizeof addr)) < 0)
        return (void *)(intptr_t)r;
    weft_task *server;
    if ((r = weft_spawn(&server, serve, l)) < 0)
        return (void *)(intptr_t)r;
    client cl[CLIENTS];
    weft_task *t[CLIENTS];
    for (unsigned i = 0; i < CLIENTS; i++) {
        cl[i] = (client){addr, i, 0};
        weft_spawn(&t[i], run_client, &cl[i]);
    }
    int bad = 0;
    for (unsigned i = 0; i < CLIENTS; i++) {
        weft_join(t[i], NULL);
        if (cl[i].result) {
            fprintf(stderr, "echo: client %u: %s\n", i, weft_strerror(cl[i].result));
            bad = cl[i].result;
        }
    }
    weft_cancel(server);
    weft_join(server, NULL);
    weft_sock_close(l);
    weft_wg_wait(&conns); /* each sees its client's end */
    printf("echo: %d clients x %d messages through %s (%s): %s\n", CLIENTS, ROUNDS, addr,
           weft_rt_reactor(weft_rt_current()), bad ? "FAILED" : "every byte came back");
    return (void *)(intptr_t)bad;
}

static void *serve_forever(void *arg)
{
    const char *where = arg;
    weft_sock *l;
    char addr[WEFT_ADDR_MAX];
    int r = weft_tcp_listen(&l, where, 1024);
    if (r < 0 || (r = weft_sock_local_addr(l, addr, sizeof addr)) < 0) {
        fprintf(stderr, "echo: listen on %s: %s\n", where, weft_strerror(r));
        return (void *)(intptr_t)r;
    }
    printf("listening on %s (%s)\n", addr, weft_rt_reactor(weft_rt_current()));
    fflush(stdout);
    serve(l);
    return NULL;
}

int main(int argc, char **argv)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    weft_fn fn = demo;
    void *arg = NULL;
    if (argc == 3 && !strcmp(argv[1], "--serve")) {
        c.mode = WEFT_MODE_THREADED;
        fn = serve_forever;
        arg = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--serve ADDR]\n", argv[0]);
        return 2;
    }
    weft_wg_init(&conns);
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    if (r < 0) {
        fprintf(stderr, "echo: %s\n", weft_strerror(r));
        return 1;
    }
    void *res = NULL;
    r = weft_rt_block_on(rt, fn, arg, &res);
    weft_rt_free(rt);
    if (r == 0)
        r = (int)(intptr_t)res;
    return r != 0;
}
