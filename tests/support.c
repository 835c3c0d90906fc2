/* support.c — the shared test helpers of support.h. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

weft_config test_config(unsigned workers, uint64_t seed)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.workers = workers;
    c.seed = seed;
    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    return c;
}

int run_in(const weft_config *cfg, weft_fn fn, void *arg, void **result)
{
    weft_config c = cfg ? *cfg : test_config(1, 0);
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    if (r < 0)
        return r;
    r = weft_rt_block_on(rt, fn, arg, result);
    weft_rt_free(rt);
    return r;
}

int run_sim(unsigned workers, uint64_t seed, weft_fn fn, void *arg)
{
    weft_config c = test_config(workers, seed);
    return run_in(&c, fn, arg, NULL);
}

static void *counting_malloc(void *ctx, size_t size)
{
    counting_alloc *c = ctx;
    c->calls++;
    if ((c->fail_nth && c->calls == c->fail_nth) || (c->fail_from && c->calls >= c->fail_from))
        return NULL;
    void *p = malloc(size);
    if (p) {
        c->live_bytes += size;
        c->live_blocks++;
    }
    return p;
}

static void counting_free(void *ctx, void *p, size_t size)
{
    counting_alloc *c = ctx;
    c->live_bytes -= size;
    c->live_blocks--;
    free(p);
}

void counting_alloc_init(counting_alloc *c)
{
    memset(c, 0, sizeof *c);
    c->a.alloc = counting_malloc;
    c->a.free = counting_free;
    c->a.ctx = c;
}

int under_valgrind(void)
{
    const char *v = getenv("WEFT_VALGRIND");
    return v && *v == '1';
}

int under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

int under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

uint64_t seeds_for(uint64_t n)
{
    return under_valgrind() ? (n > 50 ? 50 : n) : n;
}
