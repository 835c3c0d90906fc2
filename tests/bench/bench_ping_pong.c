/* bench_ping_pong.c — workload `ping_pong` (roundtrips/s).
 *
 * Two tasks exchange 1,000,000 round trips over two channels: the root sends
 * i on `ping` and waits for it on `pong`; the echo task receives on `ping`
 * and sends back on `pong` until `ping` is closed.
 *
 *   weft             weft_chan capacity 1 (tokio mpsc::channel(1), Go buffered1)
 *   weft-rendezvous  capacity 0 (Go unbuffered)
 *   weft-unbounded   WEFT_CHAN_UNBOUNDED (tokio unbounded_channel)
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass,
 * per channel kind. Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#include "weft.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 1000000u

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *workload, const char *impl, double value, const char *unit)
{
    printf("BENCH %s %s %.6g %s\n", workload, impl, value, unit);
    fflush(stdout);
}

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "bench_ping_pong: %s: %s\n", what, weft_strerror(r));
        exit(1);
    }
}

static weft_rt *rt_threaded(void)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = 1;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    return rt;
}

typedef struct pair {
    weft_chan *ping, *pong;
} pair;

static void *echo(void *arg)
{
    pair *p = arg;
    uint64_t v;
    int r;
    while ((r = weft_chan_recv(p->ping, &v)) == 0)
        check(weft_chan_send(p->pong, &v), "weft_chan_send(pong)");
    if (r != WEFT_EPIPE)
        check(r, "weft_chan_recv(ping)");
    return NULL;
}

static double ping_pong_once(size_t capacity)
{
    pair p;
    check(weft_chan_new(&p.ping, sizeof(uint64_t), capacity), "weft_chan_new");
    check(weft_chan_new(&p.pong, sizeof(uint64_t), capacity), "weft_chan_new");
    weft_task *t;
    check(weft_spawn(&t, echo, &p), "weft_spawn");
    double t0 = now_sec();
    for (uint64_t i = 0; i < ROUNDS; i++) {
        uint64_t v = ~i;
        check(weft_chan_send(p.ping, &i), "weft_chan_send(ping)");
        check(weft_chan_recv(p.pong, &v), "weft_chan_recv(pong)");
        if (v != i) {
            fprintf(stderr, "bench_ping_pong: got %llu, expected %llu\n", (unsigned long long)v,
                    (unsigned long long)i);
            exit(1);
        }
    }
    double dt = now_sec() - t0;
    check(weft_chan_close(p.ping), "weft_chan_close");
    check(weft_join(t, NULL), "weft_join");
    check(weft_chan_free(p.ping), "weft_chan_free");
    check(weft_chan_free(p.pong), "weft_chan_free");
    return dt;
}

typedef struct pass {
    size_t capacity;
    double seconds;
} pass;

static void *root(void *arg)
{
    pass *p = arg;
    ping_pong_once(p->capacity); /* warm-up */
    p->seconds = ping_pong_once(p->capacity);
    return NULL;
}

static void run(const char *impl, size_t capacity)
{
    weft_rt *rt = rt_threaded();
    pass p = {capacity, 0};
    check(weft_rt_block_on(rt, root, &p, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    report("ping_pong", impl, ROUNDS / p.seconds, "roundtrips/s");
}

int main(void)
{
    run("weft", 1);
    run("weft-rendezvous", 0);
    run("weft-unbounded", WEFT_CHAN_UNBOUNDED);
    return 0;
}
