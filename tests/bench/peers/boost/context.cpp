// Boost.Context peer for weft's benchmark suite: raw context-switch cost.
//
// Usage: peer_boost_context <workload>   (only workload: fiber_switch)
//        peer_boost_context --list
//
// Two measurements, both "ns per one-way switch" = elapsed / (2 * round trips):
//   boost.context           boost::context::fiber, resume() ping-pong
//   boost.context-fcontext  the low-level make_fcontext/jump_fcontext pair
//                           (boost/context/detail/fcontext.hpp) under it
//   glibc-ucontext          POSIX swapcontext ping-pong, for reference: it
//                           saves/restores the signal mask with a system call
//                           on every switch (as Boost.Context's ucontext
//                           backend, BOOST_USE_UCONTEXT, does)
// Output lines: "BENCH <workload> <impl> <value> <unit>" (value as %.6g).
//
// Build: g++ -O2 -std=c++17 context.cpp -lboost_context

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <ucontext.h>
#include <utility>

#include "harness.hpp"

namespace ctx = boost::context;
using Clock = std::chrono::steady_clock;

static constexpr long kWarmupRounds = 1000000;
static constexpr long kRounds = 10000000;

// ----------------------------------------------------- boost::context::fiber
static double fiber_round_trips(long rounds) {
    bool stop = false;
    ctx::fiber f{[&stop](ctx::fiber &&caller) {
        while (!stop) caller = std::move(caller).resume();
        return std::move(caller);
    }};
    auto t0 = Clock::now();
    for (long i = 0; i < rounds; i++) f = std::move(f).resume();
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    stop = true;
    f = std::move(f).resume();  // lets the fiber return; f is empty after
    return ns;
}

// ---------------------------------------------------------------- fcontext
static long g_fcontext_bounces = 0;

static void fcontext_entry(ctx::detail::transfer_t t) {
    for (;;) {
        g_fcontext_bounces++;
        t = ctx::detail::jump_fcontext(t.fctx, nullptr);
    }
}

static double fcontext_round_trips(long rounds) {
    ctx::fixedsize_stack alloc;
    ctx::stack_context sc = alloc.allocate();
    ctx::detail::fcontext_t c = ctx::detail::make_fcontext(sc.sp, sc.size, fcontext_entry);
    ctx::detail::transfer_t t = ctx::detail::jump_fcontext(c, nullptr);  // enter once
    auto t0 = Clock::now();
    for (long i = 0; i < rounds; i++) t = ctx::detail::jump_fcontext(t.fctx, nullptr);
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    // The context is parked inside fcontext_entry; its stack holds nothing
    // that needs unwinding, so just free it.
    alloc.deallocate(sc);
    return ns;
}

// ------------------------------------------------------------------ ucontext
static ucontext_t g_uc_main, g_uc_fiber;

static void ucontext_entry() {
    for (;;) swapcontext(&g_uc_fiber, &g_uc_main);
}

static double ucontext_round_trips(long rounds) {
    ctx::fixedsize_stack alloc;
    ctx::stack_context sc = alloc.allocate();
    if (getcontext(&g_uc_fiber) != 0) std::abort();
    g_uc_fiber.uc_stack.ss_sp = static_cast<char *>(sc.sp) - sc.size;
    g_uc_fiber.uc_stack.ss_size = sc.size;
    g_uc_fiber.uc_link = nullptr;
    makecontext(&g_uc_fiber, ucontext_entry, 0);
    swapcontext(&g_uc_main, &g_uc_fiber);  // enter once
    auto t0 = Clock::now();
    for (long i = 0; i < rounds; i++) swapcontext(&g_uc_main, &g_uc_fiber);
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    alloc.deallocate(sc);  // parked in ucontext_entry, nothing to unwind
    return ns;
}

static void fiber_switch() {
    if (variant("fiber_switch", "boost.context")) {
        if (!cold()) fiber_round_trips(kWarmupRounds);
        double ns = fiber_round_trips(kRounds);
        report("fiber_switch", "boost.context", ns / (2.0 * kRounds), "ns");
    }

    if (variant("fiber_switch", "boost.context-fcontext")) {
        if (!cold()) fcontext_round_trips(kWarmupRounds);
        g_fcontext_bounces = 0;
        double ns = fcontext_round_trips(kRounds);
        // +1: the entry into fcontext_entry before the timed loop also bounces.
        if (g_fcontext_bounces != kRounds + 1) {
            std::fprintf(stderr, "fcontext: expected %ld bounces, saw %ld\n", kRounds + 1,
                         g_fcontext_bounces);
            std::abort();
        }
        report("fiber_switch", "boost.context-fcontext", ns / (2.0 * kRounds), "ns");
    }

    if (variant("fiber_switch", "glibc-ucontext")) {
        // Each switch is a system call here; fewer rounds keep the run short.
        if (!cold()) ucontext_round_trips(kWarmupRounds / 10);
        double ns = ucontext_round_trips(kRounds / 5);
        report("fiber_switch", "glibc-ucontext", ns / (2.0 * (kRounds / 5)), "ns");
    }
}

int main(int argc, char **argv) {
    std::string arg = argc > 1 ? argv[1] : "";
    if (arg == "--list") {
        std::printf("fiber_switch\n");
        return 0;
    }
    if (arg == "fiber_switch") {
        fiber_switch();
        return 0;
    }
    std::fprintf(stderr, "usage: %s fiber_switch|--list\n", argv[0]);
    return 2;
}
