/* random.c — the generators behind seeds: splitmix64 to expand a seed and
 * xoshiro256** for the streams. Both are fixed forever: a seed must mean the
 * same run in every future version of weft. */
#include "core.h"

uint64_t weft__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t weft__xoshiro_next(uint64_t s[4])
{
    return weft__xoshiro_step(s);
}

void weft__xoshiro_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        s[i] = weft__splitmix64(&sm);
}

uint64_t weft__bounded(uint64_t s[4], uint32_t bound)
{
    return weft__bounded_inline(s, bound);
}

/* Draws again while the low part is under 2^32 mod bound, the zone that
 * would favour some values. */
uint64_t weft__bounded_reject(uint64_t s[4], uint32_t bound, uint64_t m)
{
    uint32_t threshold = (uint32_t)(-bound) % bound;
    while ((uint32_t)m < threshold)
        m = (weft__xoshiro_step(s) >> 32) * bound;
    return m >> 32;
}
