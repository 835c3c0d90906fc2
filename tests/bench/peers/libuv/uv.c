/* libuv peer for weft's benchmark suite.
 *
 * Usage: peer_libuv <workload>   (timers | idle_rss)
 *        peer_libuv --list
 *        peer_libuv echo_server   an echo server on 127.0.0.1 (prints "PORT <n>",
 *                                 serves until killed), for bench_echo's load
 *
 * timers:   1,000,000 uv_timer_t in one array, uv_timer_init'ed (untimed),
 *           then uv_timer_start with a timeout drawn uniformly from
 *           0..1000 ms (fixed-seed xorshift64*), then uv_timer_stop on every
 *           other one. Reported: (1,000,000 starts + 500,000 stops) /
 *           elapsed. The loop is never run, so nothing fires.
 * idle_rss: uv_default_loop() with one 50 ms timer, uv_run until it fired,
 *           VmRSS read in the timer callback.
 *
 * Output lines: "BENCH <workload> <impl> <value> <unit>" (value as %.6g).
 * Build: cc -O2 uv.c $(pkg-config --cflags --libs libuv)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <uv.h>

#define NUM_TIMERS 1000000
#define TIMER_MAX_MS 1000

/* A result line as is (idle_rss has no cold mode). */
static void report_raw(const char *workload, const char *impl, double value, const char *unit) {
    printf("BENCH %s %s %.6g %s\n", workload, impl, value, unit);
    fflush(stdout);
}

/* Environment, as for every bench program (tests/bench/bench.h):
 *   BENCH_COLD=1       no warm-up pass, the first pass is the timed one, and
 *                      every impl gets the suffix "-cold"; idle_rss ignores it (measured once,
 *                      in a fresh process, anyway).
 *   BENCH_VARIANT=k    make only the k-th measurement of the workload (0-based);
 *   BENCH_VARIANT=list print "VARIANT <workload> <impl>" per measurement
 *                      instead of measuring. */
static int cold(void) {
    const char *e = getenv("BENCH_COLD");
    return e && strcmp(e, "1") == 0;
}

static const char *impl_name(const char *impl, char *buf, size_t size) {
    if (!cold()) return impl;
    snprintf(buf, size, "%s-cold", impl);
    return buf;
}

/* Whether to make the next measurement; called once before each one, in
 * order, also for those skipped. */
static int variant(const char *workload, const char *impl) {
    static long next = 0;
    long k = next++;
    const char *e = getenv("BENCH_VARIANT");
    if (!e || !*e) return 1;
    if (strcmp(e, "list") == 0) {
        char buf[128];
        printf("VARIANT %s %s\n", workload, impl_name(impl, buf, sizeof buf));
        fflush(stdout);
        return 0;
    }
    char *end;
    long want = strtol(e, &end, 10);
    if (*end || want < 0) {
        fprintf(stderr, "BENCH_VARIANT=%s: want a number or \"list\"\n", e);
        exit(2);
    }
    return want == k;
}

/* A result line; "-cold" is appended to the impl when cold. */
static void report(const char *workload, const char *impl, double value, const char *unit) {
    char buf[128];
    report_raw(workload, impl_name(impl, buf, sizeof buf), value, unit);
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long vm_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) abort();
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    if (kb < 0) abort();
    return kb * 1024;
}

/* xorshift64*, same generator and seed as the other peers. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void never_cb(uv_timer_t *t) {
    (void)t;
    abort(); /* the loop is never run */
}

static double timers_once(uv_timer_t *timers, const uint64_t *timeouts) {
    double t0 = now_sec();
    for (int i = 0; i < NUM_TIMERS; i++) {
        if (uv_timer_start(&timers[i], never_cb, timeouts[i], 0) != 0) abort();
    }
    for (int i = 0; i < NUM_TIMERS; i += 2) uv_timer_stop(&timers[i]);
    double elapsed = now_sec() - t0;
    for (int i = 1; i < NUM_TIMERS; i += 2) uv_timer_stop(&timers[i]); /* untimed */
    return elapsed;
}

static int timers(void) {
    if (!variant("timers", "libuv")) return 0;
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *t = calloc(NUM_TIMERS, sizeof *t);
    uint64_t *timeouts = malloc(NUM_TIMERS * sizeof *timeouts);
    if (!t || !timeouts) abort();
    for (int i = 0; i < NUM_TIMERS; i++) {
        uv_timer_init(loop, &t[i]);
        timeouts[i] = rng_next() % (TIMER_MAX_MS + 1);
    }
    if (!cold()) timers_once(t, timeouts); /* warm-up */
    double s = timers_once(t, timeouts);
    report("timers", "libuv", (NUM_TIMERS + NUM_TIMERS / 2) / s, "ops/s");
    /* 1M inactive handles are still on the loop's handle queue; no teardown. */
    return 0;
}

static long idle_rss_value = -1;

static void idle_cb(uv_timer_t *t) {
    idle_rss_value = vm_rss_bytes();
    uv_close((uv_handle_t *)t, NULL);
}

static int idle_rss(void) {
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, idle_cb, 50, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    if (idle_rss_value < 0) abort();
    report_raw("idle_rss", "libuv", (double)idle_rss_value, "bytes");
    uv_loop_close(loop);
    return 0;
}

/* ---- echo_server: the libuv echo server (uv_read_start / uv_write) ---- */

typedef struct echo_write {
    uv_write_t req;
    uv_buf_t buf;
} echo_write;

static void echo_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)h;
    (void)suggested;
    b->base = malloc(4096);
    b->len = b->base ? 4096 : 0;
}

static void echo_closed(uv_handle_t *h) { free(h); }

static void echo_written(uv_write_t *req, int status) {
    (void)status;
    echo_write *w = (echo_write *)req;
    free(w->buf.base);
    free(w);
}

static void echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n > 0) {
        echo_write *w = malloc(sizeof *w);
        w->buf = uv_buf_init(b->base, (unsigned)n);
        if (uv_write(&w->req, s, &w->buf, 1, echo_written) == 0)
            return;
        free(w);
    }
    free(b->base);
    if (n < 0 && !uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, echo_closed);
}

static void echo_accept(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, echo_alloc, echo_read);
    } else {
        uv_close((uv_handle_t *)c, echo_closed);
    }
}

static int echo_server(void) {
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in a;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 1024, echo_accept) != 0)
        return 1;
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("PORT %d\n", ntohs(bound.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv) {
    const char *arg = argc > 1 ? argv[1] : "";
    if (strcmp(arg, "--list") == 0) {
        printf("timers\nidle_rss\n");
        return 0;
    }
    if (strcmp(arg, "timers") == 0) return timers();
    if (strcmp(arg, "idle_rss") == 0) return idle_rss();
    if (strcmp(arg, "echo_server") == 0) return echo_server();
    fprintf(stderr, "usage: %s timers|idle_rss|--list\n", argv[0]);
    return 2;
}
