/* echo_server.h — the weft echo server of the loopback tools (bench_echo's
 * server process, soak_echo's): listens on 127.0.0.1, prints "PORT <n>",
 * and gives each connection a task that writes back what it reads. A full
 * descriptor table is waited out (the soak fills it on purpose); any other
 * accept error ends the server.
 *
 * The includer defines ECHO_SERVER_BUF (the read buffer on each connection's
 * stack: small where thousands of connections are held) and includes bench.h
 * first. */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

#include <stdio.h>
#include <string.h>

static void *echo_server_conn(void *arg)
{
    weft_sock *c = arg;
    char buf[ECHO_SERVER_BUF];
    ssize_t n;
    while ((n = weft_sock_read(c, buf, sizeof buf)) > 0)
        if (weft_sock_write_all(c, buf, (size_t)n, NULL) < 0)
            break;
    weft_sock_close(c);
    return NULL;
}

/* weft_rt_block_on's root; arg: the listen backlog, as (void *)(intptr_t). */
static void *echo_server(void *arg)
{
    weft_sock *l, *c;
    char addr[WEFT_ADDR_MAX];
    bench_check(weft_tcp_listen(&l, "127.0.0.1:0", (int)(intptr_t)arg), "listen");
    bench_check(weft_sock_local_addr(l, addr, sizeof addr), "local_addr");
    printf("PORT %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    for (;;) {
        int r = weft_tcp_accept(l, &c);
        if (r == WEFT_EMFILE || r == WEFT_ENFILE) {
            fprintf(stderr, "echo server: accept: %s\n", weft_strerror(r));
            weft_sleep(10000000); /* 10 ms: until a connection ends */
            continue;
        }
        if (r < 0)
            return NULL;
        weft_spawn_opts o = {.name = "conn"};
        if (weft_spawn_ex(NULL, echo_server_conn, c, &o) < 0)
            weft_sock_close(c);
    }
}

#endif /* ECHO_SERVER_H */
