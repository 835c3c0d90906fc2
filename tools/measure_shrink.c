/* measure_shrink.c — how far shrinking cuts failing schedules: for each of
 * the bank demo's two bugs (examples/bank.h), three tasks in a lock cycle
 * and a check-then-act deadlock (tests/shrink_cases.h), the first ten
 * failing seeds of a random walk on 2 and on 4 virtual workers, each shrunk
 * with the default budget; prints decisions before and after
 * (MEASURE_VERBOSE=1: each seed, with its choices).
 *
 * It uses only what every version of weft_explore has, so the same source
 * measures an older build (for a before/after):
 *   cc -O2 -Isrc/include tools/measure_shrink.c build/release/lib/libweft.a -lpthread -o measure_shrink
 */
#include "../examples/bank.h"
#include "../tests/shrink_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILING 10

/* The choices (non-zero decisions) of a printed schedule: "S<v>." then
 * base64url of varints; a varint equal to the current bound (which starts
 * at 2) escapes to a new bound, and a bound of 0 prefixes each value with 0. */
static size_t choices(const char *sched)
{
    const char *p = strchr(sched, '.');
    if (!p)
        return 0;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[65536];
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (p++; *p && n < sizeof raw; p++) {
        acc = (acc << 6) | (unsigned)(strchr(b64, *p) - b64);
        if ((bits += 6) >= 8)
            raw[n++] = (unsigned char)(acc >> (bits -= 8));
    }
    size_t at = 0, count = 0;
    unsigned long long bound = 2;
    while (at < n) {
        unsigned long long v = 0;
        for (int shift = 0; at < n; shift += 7) {
            v |= (unsigned long long)(raw[at] & 0x7f) << shift;
            if (!(raw[at++] & 0x80))
                break;
        }
        if (bound ? v == bound : v == 1) {
            unsigned long long b = 0;
            for (int shift = 0; at < n; shift += 7) {
                b |= (unsigned long long)(raw[at] & 0x7f) << shift;
                if (!(raw[at++] & 0x80))
                    break;
            }
            bound = b;
            continue;
        }
        if (bound == 0) {
            v = 0;
            for (int shift = 0; at < n; shift += 7) {
                v |= (unsigned long long)(raw[at] & 0x7f) << shift;
                if (!(raw[at++] & 0x80))
                    break;
            }
        }
        count += v != 0;
    }
    return count;
}

static int cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *what, weft_fn test, unsigned workers)
{
    size_t before[FAILING], after[FAILING];
    int n = 0;
    unsigned long long first = 0;
    for (uint64_t seed = 0; seed < 20000 && n < FAILING; seed++) {
        weft_explore_opts o;
        memset(&o, 0, sizeof o);
        o.cfg.workers = workers;
        o.cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
        o.seed_start = seed;
        o.seeds = 1;
        o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_SHRINK;
        weft_explore_result r;
        if (weft_explore(&o, test, NULL, &r) != 0) {
            fprintf(stderr, "%s: exploration failed\n", what);
            exit(1);
        }
        if (r.failures && r.shrunk) {
            if (n == 0)
                first = (unsigned long long)seed;
            before[n] = r.schedule_len;
            after[n] = r.shrunk_len;
            if (getenv("MEASURE_VERBOSE"))
                printf("  %s seed %llu: %zu decisions (%zu choices) -> %zu (%zu choices)\n", what,
                       (unsigned long long)seed, r.schedule_len, choices(r.schedule), r.shrunk_len,
                       choices(r.shrunk));
            n++;
        }
        weft_explore_result_free(&r);
    }
    printf("%-18s %u workers: first failing seed %llu: %zu -> %zu decisions;", what, workers, first,
           n ? before[0] : 0, n ? after[0] : 0);
    qsort(before, (size_t)n, sizeof *before, cmp);
    qsort(after, (size_t)n, sizeof *after, cmp);
    printf(" %d failing seeds: median %zu -> %zu, max %zu -> %zu\n", n, n ? before[n / 2] : 0, n ? after[n / 2] : 0,
           n ? before[n - 1] : 0, n ? after[n - 1] : 0);
}

int main(void)
{
    for (unsigned workers = 2; workers <= 4; workers += 2) {
        measure("bank lost update", bank_lost_update_test, workers);
        measure("bank deadlock", bank_deadlock_test, workers);
        measure("3-task deadlock", three_task_deadlock_test, workers);
        measure("check-then-act", check_then_act_test, workers);
    }
    return 0;
}
