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

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t weft__xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void weft__xoshiro_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        s[i] = weft__splitmix64(&sm);
}

/* Uniform in [0, bound) (Lemire 2019: multiply and reject), exact and the
 * same on every platform. */
uint64_t weft__bounded(uint64_t s[4], uint32_t bound)
{
    uint64_t x = weft__xoshiro_next(s) >> 32;
    uint64_t m = x * bound;
    uint32_t low = (uint32_t)m;
    if (low < bound) {
        uint32_t threshold = (uint32_t)(-bound) % bound;
        while (low < threshold) {
            x = weft__xoshiro_next(s) >> 32;
            m = x * bound;
            low = (uint32_t)m;
        }
    }
    return m >> 32;
}
