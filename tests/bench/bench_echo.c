/* bench_echo.c — the echo benchmark: one load generator, every server.
 *
 * The load: CONNS connections on 127.0.0.1, each sending a MSG-byte message
 * and waiting for its echo before the next (a closed loop), from one client
 * thread with its own epoll loop (no weft in it, so every server meets the
 * same client). Measured: messages per second, the 99th percentile of the
 * round trip, and the server's CPU time per message (all its threads, user
 * and kernel: the load and the server share this machine's CPUs, so the
 * rate is theirs together, while this is the server's cost alone).
 *
 * The servers, each a process of its own that prints "PORT <n>" and serves
 * until killed: weft (this program with --serve: epoll and io_uring, 1 and 2
 * workers), the bare servers with no runtime (--serve-bare, echo_bare.h: the
 * floor of each interface), and the peers built by tests/bench/run.py
 * (libuv, tokio on 1 and 2 workers, Go on 1 and 2 Ps), found under the
 * peers' build directory (WEFT_BENCH_PEERS, else ../../bench-peers from this
 * program). A peer that is not built is skipped with a note.
 *
 *   bench_echo                          every server, BENCH lines
 *   bench_echo --serve REACTOR WORKERS  a weft echo server
 *   bench_echo --serve-bare REACTOR     a bare one (epoll or uring)
 *   bench_echo --load PORT              the load alone, against a server there
 *   WEFT_ECHO_SECONDS (2), WEFT_ECHO_CONNS (50), WEFT_ECHO_MSG (64)
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_echo"
/* No cold mode: the load runs 2 s after a 0.5 s warm-up against a server
 * process; BENCH_COLD is ignored (see bench.h). */
#define BENCH_NO_COLD
#include "bench.h"

#define ECHO_SERVER_BUF 4096
#include "echo_server.h"
#include "echo_bare.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the weft server (echo_server.h) ------------------------------------------------ */

static int serve_main(const char *reactor, const char *workers)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.mode = WEFT_MODE_THREADED;
    c.flags = WEFT_CFG_NO_ENV;
    c.workers = (unsigned)atoi(workers);
    c.reactor = !strcmp(reactor, "uring") ? WEFT_REACTOR_URING : WEFT_REACTOR_EPOLL;
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &c), "weft_rt_new");
    if (strcmp(weft_rt_reactor(rt), !strcmp(reactor, "uring") ? "io_uring" : "epoll") != 0)
        bench_fail("asked for %s, got %s", reactor, weft_rt_reactor(rt));
    bench_check(weft_rt_block_on(rt, echo_server, (void *)(intptr_t)1024, NULL), "block_on");
    weft_rt_free(rt);
    return 0;
}

/* ---- the load generator ------------------------------------------------------------ */

static unsigned env_u(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? (unsigned)atoi(v) : dflt;
}

static double now_s(void)
{
    return bench_now_sec();
}

typedef struct lconn {
    int fd;
    size_t got;
    double sent_at;
} lconn;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The CPU time the process of `clock` has used, in seconds; false when the
 * clock cannot be read (the process is gone). */
static bool cpu_of(clockid_t clock, double *s)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return false;
    *s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return true;
}

/* Drive the server at port; *p99_us receives the 99th percentile round trip
 * and, for a server process pid (0: none), *cpu_us its CPU time a message. */
static double load(int port, pid_t pid, double *p99_us, double *cpu_us)
{
    clockid_t clock;
    bool has_cpu = pid > 0 && clock_getcpuclockid(pid, &clock) == 0, cpu_started = false;
    double cpu_start = 0, cpu_end = 0;
    unsigned conns = env_u("WEFT_ECHO_CONNS", 50), msg = env_u("WEFT_ECHO_MSG", 64);
    double seconds = env_u("WEFT_ECHO_SECONDS", 2);
    char out[65536], in[65536];
    if (msg > sizeof out)
        msg = sizeof out;
    memset(out, 'x', msg);
    lconn *cs = calloc(conns, sizeof *cs);
    int ep = epoll_create1(0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (unsigned i = 0; i < conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            bench_fail("connect to port %d: %s", port, strerror(errno));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    }
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    double start = now_s(), warm = start + 0.5, end = warm + seconds;
    uint64_t done = 0;
    for (unsigned i = 0; i < conns; i++) {
        cs[i].sent_at = now_s();
        if (write(cs[i].fd, out, msg) != (ssize_t)msg)
            bench_fail("write: %s", strerror(errno));
    }
    struct epoll_event ev[256];
    for (double t = now_s(); t < end; t = now_s()) {
        if (has_cpu && !cpu_started && t >= warm)
            has_cpu = cpu_started = cpu_of(clock, &cpu_start);
        int n = epoll_wait(ep, ev, 256, 100);
        for (int k = 0; k < n; k++) {
            lconn *c = &cs[ev[k].data.u32];
            ssize_t r = read(c->fd, in, sizeof in);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                bench_fail("read: %s", r ? strerror(errno) : "the server closed");
            }
            for (ssize_t i = 0; i < r; i++)
                if (in[i] != 'x')
                    bench_fail("a wrong byte came back");
            c->got += (size_t)r;
            if (c->got < msg)
                continue;
            if (c->got > msg)
                bench_fail("more came back than was sent");
            double now = now_s();
            if (now >= warm) {
                done++;
                if (nlat == cap)
                    lat = realloc(lat, (cap *= 2) * sizeof *lat);
                lat[nlat++] = now - c->sent_at;
            }
            c->got = 0;
            c->sent_at = now;
            if (write(c->fd, out, msg) != (ssize_t)msg)
                bench_fail("write: %s", strerror(errno));
        }
    }
    double rate = (double)done / (now_s() - warm);
    has_cpu = has_cpu && cpu_started && cpu_of(clock, &cpu_end);
    *cpu_us = has_cpu && done ? (cpu_end - cpu_start) / (double)done * 1e6 : 0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    *p99_us = nlat ? lat[nlat * 99 / 100] * 1e6 : 0;
    for (unsigned i = 0; i < conns; i++)
        close(cs[i].fd);
    close(ep);
    free(cs);
    free(lat);
    return rate;
}

/* ---- running a server --------------------------------------------------------------- */

static void measure(const char *impl, char *const argv[])
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        bench_fail("pipe");
    pid_t pid = fork();
    if (pid < 0)
        bench_fail("fork");
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    char line[128] = {0};
    size_t n = 0;
    while (n < sizeof line - 1 && read(pipefd[0], line + n, 1) == 1 && line[n] != '\n')
        n++;
    close(pipefd[0]);
    int port = 0;
    if (sscanf(line, "PORT %d", &port) != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        bench_fail("%s did not say its port (\"%s\")", impl, line);
    }
    double p99, cpu;
    double rate = load(port, pid, &p99, &cpu);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    bench_report("echo", impl, rate, "msgs/s");
    bench_report("echo_p99", impl, p99, "us");
    bench_report("echo_cpu", impl, cpu, "us");
}

static int exists(const char *path)
{
    return access(path, X_OK) == 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--serve"))
        return serve_main(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "--serve-bare"))
        return !strcmp(argv[2], "uring") ? echo_bare_uring() : echo_bare_epoll();
    if (argc == 3 && !strcmp(argv[1], "--load")) {
        double p99, cpu, rate = load(atoi(argv[2]), 0, &p99, &cpu);
        bench_report("echo", "server", rate, "msgs/s");
        bench_report("echo_p99", "server", p99, "us");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        bench_fail("cannot find myself");
    self[len] = 0;
    const struct {
        const char *impl, *reactor, *workers;
    } wefts[] = {{"weft-epoll-1w", "epoll", "1"},
                 {"weft-epoll-2w", "epoll", "2"},
                 {"weft-uring-1w", "uring", "1"},
                 {"weft-uring-2w", "uring", "2"}};
    for (size_t i = 0; i < sizeof wefts / sizeof *wefts; i++) {
        char *av[] = {self, "--serve", (char *)wefts[i].reactor, (char *)wefts[i].workers, NULL};
        measure(wefts[i].impl, av);
    }
    const char *bare[] = {"epoll", "uring"};
    for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) {
        char impl[32];
        snprintf(impl, sizeof impl, "bare-%s", bare[i]);
        char *av[] = {self, "--serve-bare", (char *)bare[i], NULL};
        measure(impl, av);
    }
    char peers[PATH_MAX], dir[PATH_MAX];
    const char *env = getenv("WEFT_BENCH_PEERS");
    snprintf(dir, sizeof dir, "%s", self);
    if (env)
        snprintf(peers, sizeof peers, "%s", env);
    else
        snprintf(peers, sizeof peers, "%s/../../bench-peers", dirname(dir));
    const struct {
        const char *impl, *path, *workers;
    } others[] = {{"libuv", "peers/peer_libuv", "1"},
                  {"tokio-1w", "cargo-target/release/peer_tokio", "1"},
                  {"tokio-2w", "cargo-target/release/peer_tokio", "2"},
                  {"go-1p", "peers/peer_go", "1"},
                  {"go-2p", "peers/peer_go", "2"}};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", peers, others[i].path);
        if (!exists(path)) {
            fprintf(stderr, "bench_echo: %s skipped: %s is not built\n", others[i].impl, path);
            continue;
        }
        char *av[] = {path, "echo_server", (char *)others[i].workers, NULL};
        measure(others[i].impl, av);
    }
    return 0;
}
