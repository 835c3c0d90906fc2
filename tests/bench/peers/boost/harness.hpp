// harness.hpp — what both Boost peers share with every bench program
// (tests/bench/bench.h): result lines, and the environment:
//   BENCH_COLD=1       no warm-up pass, the first pass is the timed one, and
//                      every impl gets the suffix "-cold" (workloads measured
//                      once anyway, as the RSS ones, report with report_raw).
//   BENCH_VARIANT=k    make only the k-th measurement of the workload (0-based);
//   BENCH_VARIANT=list print "VARIANT <workload> <impl>" per measurement
//                      instead of measuring.
#ifndef WEFT_BENCH_BOOST_HARNESS_HPP
#define WEFT_BENCH_BOOST_HARNESS_HPP

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// A result line as is (for the workloads with no cold mode).
static void report_raw(const char *workload, const char *impl, double value, const char *unit) {
    std::printf("BENCH %s %s %.6g %s\n", workload, impl, value, unit);
    std::fflush(stdout);
}

static bool cold() {
    const char *e = std::getenv("BENCH_COLD");
    return e && std::strcmp(e, "1") == 0;
}

static std::string impl_name(const char *impl) {
    return cold() ? std::string(impl) + "-cold" : std::string(impl);
}

// Whether to make the next measurement; called once before each one, in
// order, also for those skipped.
static bool variant(const char *workload, const char *impl) {
    static long next = 0;
    long k = next++;
    const char *e = std::getenv("BENCH_VARIANT");
    if (!e || !*e) return true;
    if (std::strcmp(e, "list") == 0) {
        std::printf("VARIANT %s %s\n", workload, impl_name(impl).c_str());
        std::fflush(stdout);
        return false;
    }
    char *end;
    long want = std::strtol(e, &end, 10);
    if (*end || want < 0) {
        std::fprintf(stderr, "BENCH_VARIANT=%s: want a number or \"list\"\n", e);
        std::exit(2);
    }
    return want == k;
}

// A result line; "-cold" is appended to the impl when cold.
static void report(const char *workload, const char *impl, double value, const char *unit) {
    report_raw(workload, impl_name(impl).c_str(), value, unit);
}

#endif
