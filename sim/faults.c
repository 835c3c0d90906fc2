/* faults.c — fault injection decided by the seed: WEFT_BUGGIFY sites and
 * allocation failures (the simulator's allocator, in front of the configured
 * one). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

/* An enabled site fires on one visit in four (FoundationDB's choice: often
 * enough to matter, rare enough that code around it still makes progress). */
#define WEFT__BUGGIFY_FIRE_ONE_IN 4u

static uint64_t site_key(const char *file, int line)
{
    return (weft__hash_str(WEFT__HASH_INIT, file) ^ (uint64_t)(uint32_t)line) * 0x9E3779B97F4A7C15ull;
}

static weft__buggify_site *find_site(weft__sim *s, uint64_t key)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (s->sites[i].key == key)
            return &s->sites[i];
    if (weft__grow(&s->rt->base_alloc, (void **)&s->sites, &s->sites_cap, s->nsites, sizeof *s->sites, 16) < 0)
        return NULL;
    weft__buggify_site *site = &s->sites[s->nsites++];
    site->key = key;
    site->state = 0;
    return site;
}

int weft__sim_buggify(weft__worker *w, const char *file, int line)
{
    weft_rt *rt = w->rt;
    weft__sim *s = weft__sim_of(rt);
    weft__buggify_site *site = find_site(s, site_key(file, line));
    if (!site)
        return 0;
    if (site->state == 0) {
        unsigned permille = rt->cfg.sim.buggify_permille ? rt->cfg.sim.buggify_permille : 250;
        site->state = weft__decide(s, WEFT__S_FAULT, 1000, false) < permille ? 2 : 1;
    }
    if (site->state != 2)
        return 0;
    return weft__decide(s, WEFT__S_FAULT, WEFT__BUGGIFY_FIRE_ONE_IN, false) == 0;
}

/* Should this allocation fail? The n-th one, or with the configured chance
 * when a task asks (the decision needs a worker to be drawn on). */
static bool fail_now(weft__sim *s)
{
    const weft_sim_config *c = &s->rt->cfg.sim;
    s->allocs++;
    if (c->fail_alloc_nth && s->allocs == c->fail_alloc_nth)
        return true;
    if (c->fail_alloc_permille && weft__tls_worker)
        return weft__decide(s, WEFT__S_FAULT, 1000, false) < c->fail_alloc_permille;
    return false;
}

static void *sim_alloc(void *ctx, size_t size)
{
    weft__sim *s = ctx;
    if (fail_now(s))
        return NULL;
    return s->rt->base_alloc.alloc(s->rt->base_alloc.ctx, size);
}

static void sim_free(void *ctx, void *p, size_t size)
{
    weft__sim *s = ctx;
    s->rt->base_alloc.free(s->rt->base_alloc.ctx, p, size);
}

void weft__sim_wrap_alloc(weft__sim *s)
{
    weft_rt *rt = s->rt;
    rt->alloc.alloc = sim_alloc;
    rt->alloc.free = sim_free;
    rt->alloc.ctx = s;
}
