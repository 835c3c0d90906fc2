/* faults.c — fault injection decided by the seed: WEFT_BUGGIFY sites,
 * allocation failures, and the assertions that fail a simulated run. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

/* An enabled site fires on one visit in four (FoundationDB's choice: often
 * enough to matter, rare enough that code around it still makes progress). */
#define WEFT__BUGGIFY_FIRE_ONE_IN 4u

static uint64_t site_key(const char *file, int line)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const char *p = file; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001B3ull;
    return (h ^ (uint64_t)(uint32_t)line) * 0x9E3779B97F4A7C15ull;
}

static weft__buggify_site *find_site(weft__sim *s, uint64_t key)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (s->sites[i].key == key)
            return &s->sites[i];
    if (weft__grow(s->rt, false, (void **)&s->sites, &s->sites_cap, s->nsites, sizeof *s->sites, 16) < 0)
        return NULL;
    weft__buggify_site *site = &s->sites[s->nsites++];
    site->key = key;
    site->state = 0;
    return site;
}

int weft__sim_buggify(weft_rt *rt, const char *file, int line)
{
    weft__sim *s = rt->sim;
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

int weft_buggify(const char *file, int line)
{
    weft__worker *w = weft__tls_worker;
    if (!w || !w->rt->sim)
        return 0;
    return weft__sim_buggify(w->rt, file, line);
}

bool weft__sim_fail_alloc(weft_rt *rt)
{
    weft__sim *s = rt->sim;
    const weft_sim_config *c = &rt->cfg.sim;
    s->allocs++;
    if (c->fail_alloc_nth && s->allocs == c->fail_alloc_nth)
        return true;
    if (c->fail_alloc_permille && weft__tls_worker)
        return weft__decide(s, WEFT__S_FAULT, 1000, false) < c->fail_alloc_permille;
    return false;
}

int weft_in_simulation(void)
{
    weft__worker *w = weft__tls_worker;
    return w && w->rt->sim ? 1 : 0;
}

void weft_assert_fail(const char *expr, const char *file, int line)
{
    weft__worker *w = weft__tls_worker;
    if (w && w->rt->sim)
        weft__sim_failf(w->rt, WEFT_EFAILED, "assertion failed: %s (%s:%d)", expr, file, line);
    fprintf(stderr, "weft: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

void weft_fail(const char *message)
{
    weft__worker *w = weft__tls_worker;
    if (w && w->rt->sim)
        weft__sim_failf(w->rt, WEFT_EFAILED, "%s", message ? message : "weft_fail");
    fprintf(stderr, "weft: %s\n", message ? message : "weft_fail");
    abort();
}
