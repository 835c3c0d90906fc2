// Boost.Fiber peer for weft's benchmark suite.
//
// Usage: peer_boost_fiber <workload>   run one workload, print BENCH lines
//        peer_boost_fiber --list       print the workload names
//
// Everything runs on the main thread with Boost.Fiber's default scheduler
// (round_robin) and the default stack allocator
// (boost::fibers::default_stack == boost::context::fixedsize_stack:
// std::malloc'd stacks of stack_traits::default_size(), 128 KiB here).
// Output lines: "BENCH <workload> <impl> <value> <unit>" (value as %.6g).
//
// Build: g++ -O2 -std=c++17 fiber.cpp -lboost_fiber -lboost_context -pthread

#include <boost/context/stack_traits.hpp>
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "harness.hpp"

namespace fibers = boost::fibers;
namespace this_fiber = boost::this_fiber;
using Clock = std::chrono::steady_clock;

static constexpr long kSpawnManyTasks = 1000000;
static constexpr long kSpawnBatch = 1024;  // see spawn_many below
static constexpr int kYieldTasks = 1000;
static constexpr int kYieldsPerTask = 1000;
static constexpr long kChainDepth = 1000000;
static constexpr long kPingPongRounds = 1000000;
static constexpr long kSleepingTasks = 100000;

static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

static long vm_rss_bytes() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) std::abort();
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            kb = std::strtol(line + 6, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    if (kb < 0) std::abort();
    return kb * 1024;
}

// A one-shot "all done" signal usable from fibers on one thread.
struct Done {
    fibers::mutex m;
    fibers::condition_variable cv;
    bool done = false;
    void signal() {
        {
            std::unique_lock<fibers::mutex> lk(m);
            done = true;
        }
        cv.notify_one();
    }
    void wait() {
        std::unique_lock<fibers::mutex> lk(m);
        cv.wait(lk, [this] { return done; });
    }
};

// ---------------------------------------------------------------- spawn_many
// One fiber spawns 1,000,000 detached fibers; each bumps a counter, the last
// one signals. Two variants:
//
//   boost.fiber           launch::post (the default): the child is queued and
//                         the spawner keeps going. With 128 KiB malloc'd
//                         stacks, 1M fibers alive at once would need ~128 GB
//                         of address space and GBs of RSS, so the spawner
//                         yields once every kSpawnBatch spawns, letting the
//                         queued fibers run and finish (<= ~kSpawnBatch alive).
//                         Most of the cost is glibc malloc growing/trimming
//                         the heap for the stacks and the resulting page
//                         faults.
//   boost.fiber-dispatch  launch::dispatch: the child runs at once, to
//                         completion, then the spawner resumes; one child
//                         stack is alive at a time and malloc reuses it.
template <fibers::launch Policy>
static double spawn_many_once() {
    double secs = 0;
    fibers::fiber root([&secs] {
        long left = kSpawnManyTasks;
        Done done;
        auto t0 = Clock::now();
        for (long i = 0; i < kSpawnManyTasks; i++) {
            fibers::fiber(Policy, [&left, &done] {
                if (--left == 0) done.signal();
            }).detach();
            if (Policy == fibers::launch::post && (i + 1) % kSpawnBatch == 0) this_fiber::yield();
        }
        done.wait();
        secs = seconds_since(t0);
    });
    root.join();
    return secs;
}

static void spawn_many() {
    if (variant("spawn_many", "boost.fiber")) {
        if (!cold()) spawn_many_once<fibers::launch::post>();
        double s = spawn_many_once<fibers::launch::post>();
        report("spawn_many", "boost.fiber", kSpawnManyTasks / s, "tasks/s");
    }
    if (variant("spawn_many", "boost.fiber-dispatch")) {
        if (!cold()) spawn_many_once<fibers::launch::dispatch>();
        double s = spawn_many_once<fibers::launch::dispatch>();
        report("spawn_many", "boost.fiber-dispatch", kSpawnManyTasks / s, "tasks/s");
    }
}

// ---------------------------------------------------------------- yield_many
static double yield_many_once() {
    double secs = 0;
    fibers::fiber root([&secs] {
        int left = kYieldTasks;
        Done done;
        auto t0 = Clock::now();
        for (int i = 0; i < kYieldTasks; i++) {
            fibers::fiber([&left, &done] {
                for (int j = 0; j < kYieldsPerTask; j++) this_fiber::yield();
                if (--left == 0) done.signal();
            }).detach();
        }
        done.wait();
        secs = seconds_since(t0);
    });
    root.join();
    return secs;
}

static void yield_many() {
    if (!variant("yield_many", "boost.fiber")) return;
    if (!cold()) yield_many_once();
    double s = yield_many_once();
    report("yield_many", "boost.fiber", double(kYieldTasks) * kYieldsPerTask / s, "yields/s");
}

// ------------------------------------------------------------- chained_spawn
static void chain(Done *done, long n) {
    if (n == 0) {
        done->signal();
        return;
    }
    fibers::fiber([done, n] { chain(done, n - 1); }).detach();
}

static double chained_spawn_once() {
    double secs = 0;
    fibers::fiber root([&secs] {
        Done done;
        auto t0 = Clock::now();
        chain(&done, kChainDepth);
        done.wait();
        secs = seconds_since(t0);
    });
    root.join();
    return secs;
}

static void chained_spawn() {
    if (!variant("chained_spawn", "boost.fiber")) return;
    if (!cold()) chained_spawn_once();
    double s = chained_spawn_once();
    report("chained_spawn", "boost.fiber", kChainDepth / s, "tasks/s");
}

// ----------------------------------------------------------------- ping_pong
template <typename Chan, typename... Cap>
static double ping_pong_once(Cap... cap) {
    Chan ping(cap...), pong(cap...);
    double secs = 0;
    fibers::fiber ponger([&] {
        long v;
        while (ping.pop(v) == fibers::channel_op_status::success) pong.push(v);
    });
    fibers::fiber pinger([&] {
        auto t0 = Clock::now();
        for (long i = 0; i < kPingPongRounds; i++) {
            ping.push(i);
            long v = -1;
            pong.pop(v);
            if (v != i) std::abort();
        }
        secs = seconds_since(t0);
        ping.close();
    });
    pinger.join();
    ponger.join();
    return secs;
}

static void ping_pong() {
    // buffered_channel capacity must be a power of two >= 2 and holds
    // capacity-1 items, so 2 gives a one-slot channel (like tokio's
    // mpsc::channel(1)).
    using Buffered = fibers::buffered_channel<long>;
    using Unbuffered = fibers::unbuffered_channel<long>;
    if (variant("ping_pong", "boost.fiber")) {
        if (!cold()) ping_pong_once<Buffered>(std::size_t(2));
        double s = ping_pong_once<Buffered>(std::size_t(2));
        report("ping_pong", "boost.fiber", kPingPongRounds / s, "roundtrips/s");
    }
    if (variant("ping_pong", "boost.fiber-unbuffered")) {
        if (!cold()) ping_pong_once<Unbuffered>();
        double s = ping_pong_once<Unbuffered>();
        report("ping_pong", "boost.fiber-unbuffered", kPingPongRounds / s, "roundtrips/s");
    }
}

// ----------------------------------------------------- rss_per_sleeping_task
// Before measuring, one fiber is run and joined. That sets up the scheduler
// and, more importantly, frees one stack: glibc then raises its dynamic mmap
// threshold above the 128 KiB stack size, so later stacks come from the brk
// heap (~5 KiB touched per sleeping fiber) instead of one mmap each (~8 KiB,
// the chunk-header page is touched too). Any Boost.Fiber program that has
// ever finished a fiber is in that state; a cold process is not.
static void rss_per_sleeping_task() {
    fibers::fiber([] {}).join();
    long started = 0;
    long before = vm_rss_bytes();
    for (long i = 0; i < kSleepingTasks; i++) {
        fibers::fiber([&started] {
            started++;
            this_fiber::sleep_for(std::chrono::hours(1));
        }).detach();
    }
    while (started < kSleepingTasks) this_fiber::yield();
    this_fiber::yield();
    long after = vm_rss_bytes();
    std::fprintf(stderr,
                 "# boost.fiber stack allocator: default_stack (fixedsize_stack, malloc), "
                 "%zu bytes per stack\n",
                 boost::context::stack_traits::default_size());
    report_raw("rss_per_sleeping_task", "boost.fiber", double(after - before) / kSleepingTasks, "bytes");
    // 100k fibers are still asleep; skip the scheduler's teardown.
    std::fflush(nullptr);
    _exit(0);
}

// ------------------------------------------------------------------ idle_rss
static void idle_rss() {
    this_fiber::sleep_for(std::chrono::milliseconds(50));
    report_raw("idle_rss", "boost.fiber", double(vm_rss_bytes()), "bytes");
}

struct Workload {
    const char *name;
    void (*fn)();
};
static const Workload kWorkloads[] = {
    {"spawn_many", spawn_many},
    {"yield_many", yield_many},
    {"chained_spawn", chained_spawn},
    {"ping_pong", ping_pong},
    {"rss_per_sleeping_task", rss_per_sleeping_task},
    {"idle_rss", idle_rss},
};

int main(int argc, char **argv) {
    std::string arg = argc > 1 ? argv[1] : "";
    if (arg == "--list") {
        for (const auto &w : kWorkloads) std::printf("%s\n", w.name);
        return 0;
    }
    for (const auto &w : kWorkloads) {
        if (arg == w.name) {
            w.fn();
            return 0;
        }
    }
    std::fprintf(stderr, "usage: %s <workload>|--list\n", argv[0]);
    return 2;
}
