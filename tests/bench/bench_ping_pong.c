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
 * per channel kind (cold, BENCH_COLD=1: the timed pass alone; see bench.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_ping_pong"
#include "bench.h"

#include <stdint.h>

#define ROUNDS 1000000u

typedef struct pair {
    weft_chan *ping, *pong;
} pair;

static void *echo(void *arg)
{
    pair *p = arg;
    uint64_t v;
    int r;
    while ((r = weft_chan_recv(p->ping, &v)) == 0)
        bench_check(weft_chan_send(p->pong, &v), "weft_chan_send(pong)");
    if (r != WEFT_EPIPE)
        bench_check(r, "weft_chan_recv(ping)");
    return NULL;
}

static double ping_pong_once(void *arg)
{
    size_t capacity = *(const size_t *)arg;
    pair p;
    bench_check(weft_chan_new(&p.ping, sizeof(uint64_t), capacity), "weft_chan_new");
    bench_check(weft_chan_new(&p.pong, sizeof(uint64_t), capacity), "weft_chan_new");
    weft_task *t;
    bench_check(weft_spawn(&t, echo, &p), "weft_spawn");
    double t0 = bench_now_sec();
    for (uint64_t i = 0; i < ROUNDS; i++) {
        uint64_t v = ~i;
        bench_check(weft_chan_send(p.ping, &i), "weft_chan_send(ping)");
        bench_check(weft_chan_recv(p.pong, &v), "weft_chan_recv(pong)");
        if (v != i)
            bench_fail("got %llu, expected %llu", (unsigned long long)v, (unsigned long long)i);
    }
    double dt = bench_now_sec() - t0;
    bench_check(weft_chan_close(p.ping), "weft_chan_close");
    bench_check(weft_join(t, NULL), "weft_join");
    bench_check(weft_chan_free(p.ping), "weft_chan_free");
    bench_check(weft_chan_free(p.pong), "weft_chan_free");
    return dt;
}

static void run(const char *impl, size_t capacity)
{
    if (!bench_variant("ping_pong", impl))
        return;
    double s = bench_warmup_then_timed(ping_pong_once, &capacity);
    bench_report("ping_pong", impl, ROUNDS / s, "roundtrips/s");
}

int main(void)
{
    run("weft", 1);
    run("weft-rendezvous", 0);
    run("weft-unbounded", WEFT_CHAN_UNBOUNDED);
    return 0;
}
