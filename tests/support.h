/* support.h — helpers shared by the test suites: running a body in a fresh
 * runtime, an allocator that fails on demand and counts what is live, and a
 * way to know whether valgrind is watching. */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

#include <check.h>
#include <stdint.h>
#include <weft.h>

/* Run fn(arg) as the root of a fresh runtime with cfg (NULL: defaults, quiet,
 * no environment); returns block_on's code and frees the runtime. */
int run_in(const weft_config *cfg, weft_fn fn, void *arg, void **result);
/* A simulated runtime with `workers` virtual workers and `seed`. */
int run_sim(unsigned workers, uint64_t seed, weft_fn fn, void *arg);
/* A base config: simulation, quiet, environment ignored. */
weft_config test_config(unsigned workers, uint64_t seed);

/* An allocator that counts live bytes and fails the n-th call (1-based; 0 =
 * never) or every call after `fail_from` (0 = never). */
typedef struct counting_alloc {
    weft_allocator a;
    uint64_t calls, live_bytes, live_blocks;
    uint64_t fail_nth, fail_from;
} counting_alloc;
void counting_alloc_init(counting_alloc *c);

/* 1 under valgrind (WEFT_VALGRIND=1 is set by `scons valgrind`). */
int under_valgrind(void);
/* 1 in a ThreadSanitizer build. TSan tracks each fiber like a thread and
 * allows about 8,000 of them, so tests that keep tens of thousands of fibers
 * alive run smaller there. */
int under_tsan(void);
/* 1 in an AddressSanitizer build (its SIGSEGV handler reports overflows). */
int under_asan(void);

/* How many seeds a property test should run: n, or fewer under valgrind. */
uint64_t seeds_for(uint64_t n);

/* Assert a weft call returned `want`, showing both codes. */
#define ck_assert_weft(expr, want)                                                                        \
    do {                                                                                                  \
        int ck_got_ = (expr);                                                                             \
        int ck_want_ = (want);                                                                            \
        ck_assert_msg(ck_got_ == ck_want_, "%s returned %d (%s), expected %d (%s)", #expr, ck_got_,        \
                      weft_strerror(ck_got_), ck_want_, weft_strerror(ck_want_));                         \
    } while (0)

#endif
