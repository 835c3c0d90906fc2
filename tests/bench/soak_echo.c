/* soak_echo.c — `scons soak`: 10,000 concurrent loopback connections held for
 * a minute against a weft echo server, every byte checked, and the server's
 * resident memory per idle connection. Not part of `scons test` (it runs for
 * a minute and needs 10,000 descriptors on each side).
 *
 * Two processes, each with its own descriptor limit: the server (a weft
 * runtime, one task per connection) and the clients (a weft runtime, one task
 * per connection, each sending a numbered 16-byte message every few seconds
 * and checking its echo).
 *
 *   WEFT_SOAK_CONNS (10000), WEFT_SOAK_SECONDS (60), WEFT_REACTOR and
 *   WEFT_WORKERS (the server's; the clients run on one worker)
 */
#define _GNU_SOURCE
#define BENCH_NAME "soak_echo"
/* No cold mode: a soak is not a first burst; BENCH_COLD is ignored. */
#define BENCH_NO_COLD
#include "bench.h"

/* 256 bytes: 10,000 connections wait on 16 KiB stacks. */
#define ECHO_SERVER_BUF 256
#include "echo_server.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000ull

static unsigned env_u(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? (unsigned)atoi(v) : dflt;
}

static void raise_nofile(unsigned need)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need + 64)
        bench_fail("RLIMIT_NOFILE is %llu; %u connections need %u (raise the hard limit)",
                   (unsigned long long)rl.rlim_cur, need, need + 64);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static weft_config real(void)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.mode = WEFT_MODE_THREADED;
    c.workers = env_u("WEFT_WORKERS", 1);
    c.stack_size = 16 * 1024; /* an echo needs little, and 10,000 of them wait */
    return c;
}

/* ---- the clients ----------------------------------------------------------------- */

typedef struct soak {
    const char *addr;
    unsigned conns;
    uint64_t until;      /* the hold ends (runtime clock) */
    unsigned connected;  /* [client tasks] */
    uint64_t messages;
    unsigned failed;
    int first_error;
    weft_event all_connected;
    weft_event measured; /* the server's idle RSS was read */
} soak;

typedef struct client {
    soak *sk;
    unsigned id;
} client;

static void fail(soak *sk, int err)
{
    if (!sk->failed++)
        sk->first_error = err;
}

static void *client_task(void *arg)
{
    client *cl = arg;
    soak *sk = cl->sk;
    weft_sock *s;
    int r = WEFT_ETIMEDOUT;
    for (int attempt = 0; attempt < 50; attempt++) {
        r = weft_tcp_connect_until(&s, sk->addr, weft_now() + 10 * SEC);
        if (r == 0)
            break;
        weft_sleep(SEC / 10);
    }
    if (r < 0) {
        fail(sk, r);
        return NULL;
    }
    if (++sk->connected == sk->conns)
        weft_event_set(&sk->all_connected);
    /* Idle until every connection is up and the idle memory was read. */
    weft_event_wait(&sk->measured);
    uint32_t counter = 0;
    uint64_t period = 2 * SEC + (weft_rand() % SEC);
    weft_sleep(weft_rand() % period);
    while (weft_now() < sk->until) {
        uint32_t msg[4] = {cl->id, counter, cl->id ^ 0xA5A5A5A5u, ~counter}, back[4];
        if ((r = weft_sock_write_all(s, msg, sizeof msg, NULL)) < 0)
            break;
        size_t got = 0;
        while (got < sizeof back) {
            ssize_t n = weft_sock_read_until(s, (char *)back + got, sizeof back - got, weft_now() + 30 * SEC);
            if (n <= 0) {
                r = n < 0 ? (int)n : WEFT_ECONNRESET;
                break;
            }
            got += (size_t)n;
        }
        if (r < 0)
            break;
        if (memcmp(msg, back, sizeof msg) != 0) {
            r = WEFT_EIO;
            break;
        }
        sk->messages++;
        counter++;
        weft_sleep(period);
    }
    if (r < 0)
        fail(sk, r);
    weft_sock_close(s);
    return NULL;
}

typedef struct root_arg {
    soak *sk;
    pid_t server;
    long rss_base, rss_idle;
} root_arg;

static void *clients(void *arg)
{
    root_arg *ra = arg;
    soak *sk = ra->sk;
    client *cl = calloc(sk->conns, sizeof *cl);
    weft_task **ts = calloc(sk->conns, sizeof *ts);
    if (!cl || !ts)
        bench_fail("out of memory");
    ra->rss_base = rss_kib(ra->server);
    for (unsigned i = 0; i < sk->conns; i++) {
        cl[i] = (client){sk, i};
        weft_spawn_opts o = {.name = "client"};
        bench_check(weft_spawn_ex(&ts[i], client_task, &cl[i], &o), "spawn");
    }
    if (weft_event_wait_until(&sk->all_connected, weft_now() + 120 * SEC) < 0)
        bench_fail("only %u of %u connections came up (%u failed, first: %s)", sk->connected, sk->conns, sk->failed,
                   weft_strerror(sk->first_error));
    weft_sleep(SEC); /* let the server settle: every connection idle */
    ra->rss_idle = rss_kib(ra->server);
    sk->until = weft_now() + env_u("WEFT_SOAK_SECONDS", 60) * SEC;
    weft_event_set(&sk->measured);
    for (unsigned i = 0; i < sk->conns; i++)
        weft_join(ts[i], NULL);
    free(cl);
    free(ts);
    return NULL;
}

/* The server, killed at any exit of the driver (a failure too): a server
 * left behind would hold the caller's output pipe open for good. */
static pid_t the_server;

static void kill_the_server(void)
{
    if (the_server > 0)
        kill(the_server, SIGKILL);
}

int main(void)
{
    unsigned conns = env_u("WEFT_SOAK_CONNS", 10000);
    raise_nofile(conns);
    signal(SIGPIPE, SIG_IGN);
    int out[2];
    if (pipe(out) < 0)
        bench_fail("pipe");
    pid_t server = fork();
    if (server == 0) {
        dup2(out[1], 1);
        close(out[0]);
        weft_config c = real();
        weft_rt *rt;
        bench_check(weft_rt_new(&rt, &c), "server runtime");
        bench_check(weft_rt_block_on(rt, echo_server, (void *)(intptr_t)4096, NULL), "server");
        _exit(0);
    }
    the_server = server;
    atexit(kill_the_server);
    close(out[1]);
    char line[64] = {0}, addr[WEFT_ADDR_MAX];
    size_t n = 0;
    while (n < sizeof line - 1 && read(out[0], line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = 0;
    int port;
    if (sscanf(line, "PORT %d", &port) != 1)
        bench_fail("the server did not start (it said \"%s\")", line);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    soak sk = {.addr = addr, .conns = conns};
    weft_event_init(&sk.all_connected, 0);
    weft_event_init(&sk.measured, 0);
    root_arg ra = {&sk, server, 0, 0};
    weft_config c = real();
    /* The clients' counters are plain: one worker, whatever WEFT_WORKERS
     * (the server's) says; the environment would override the field. */
    c.workers = 1;
    c.flags |= WEFT_CFG_NO_ENV;
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &c), "client runtime");
    double t0 = bench_now_sec();
    bench_check(weft_rt_block_on(rt, clients, &ra, NULL), "clients");
    double took = bench_now_sec() - t0;
    const char *reactor = weft_rt_reactor(rt);
    weft_rt_free(rt);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    the_server = 0; /* its pid may be another's now */
    double per_conn = (double)(ra.rss_idle - ra.rss_base) * 1024.0 / conns;
    printf("soak: %u connections (%s) held %.0f s: %llu messages, every byte checked, %u failed%s%s\n", conns,
           reactor, took, (unsigned long long)sk.messages, sk.failed, sk.failed ? ", first: " : "",
           sk.failed ? weft_strerror(sk.first_error) : "");
    printf("soak: server RSS %ld KiB with no connection, %ld KiB with %u idle: %.0f bytes per idle connection\n",
           ra.rss_base, ra.rss_idle, conns, per_conn);
    bench_report("soak_rss_per_idle_conn", "weft", per_conn, "bytes");
    return sk.failed ? 1 : 0;
}
