/* shrink.c — shrinking a failing run to the few decisions that matter, by
 * the structure of the run first and by position last:
 *
 *  1. drop a whole task's choices (every preemption and choice made while it
 *     ran), task by task;
 *  2. keep the fewest of the run's choices that still fail — each alone,
 *     then pairs — as preemption bounding (CHESS, Shuttle) searches fewest
 *     context switches first; then drop choices a group at a time, halving
 *     the groups down to single ones;
 *  3. then delete and lower decisions by position (ddmin), which also pulls
 *     the remaining choices earlier.
 *
 * Steps 1 and 2 name a choice by who made it, not by its position: "the 3rd
 * scheduling point of task 5 switches to worker 1". Removing one choice then
 * leaves every other one where it was in its task's own history, where a
 * positional schedule would shift all the decisions after it onto other
 * program points (which is why deleting by position alone barely shrinks a
 * deadlock). Every candidate is a real run; it is kept when it fails with the
 * same signature (the same assertion, the same deadlock shape) and is smaller:
 * in steps 1 and 2, fewer choices first (then fewer decisions); in step 3,
 * fewer decisions first (then fewer choices).
 *
 * Fewest switches and fewest decisions pull apart: one preemption deep in a
 * task can need more decisions before it than two early ones. So the
 * failing run is shrunk three ways — by position alone; by structure, then
 * position; by position, then structure, then position — and the shortest
 * result wins (then the one with fewer choices). It is never longer than
 * shrinking by position alone.
 */
#include "explore.h"

#include <stdio.h>
#include <stdlib.h>

/* Owners of decisions that no task made. */
#define OWNER_HOST UINT64_MAX
#define OWNER_LOOP (UINT64_MAX - 1 - WEFT_WORKERS_MAX) /* + worker index */

/* Who made one decision of a guided run, and what it chose. */
typedef struct ann {
    uint64_t owner;  /* task id, or a worker's loop, or the host */
    uint32_t idx;    /* its place among the owner's decisions of its stream */
    int32_t target;  /* interleaving: the worker that was chosen; else -1 */
} ann;

/* A choice named by who made it. */
typedef struct choice {
    uint64_t owner;
    uint32_t idx;
    uint8_t stream;
    int32_t target;
    uint64_t value;
} choice;

typedef struct slot {
    uint64_t key; /* 0: empty */
    uint64_t value;
    int32_t target;
} slot;

/* Open addressing, keys never 0. */
typedef struct map {
    slot *v;
    size_t cap, n;
} map;

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t h = a * 0x9E3779B97F4A7C15ull;
    h ^= (h >> 31) ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
    h ^= (h >> 29) ^ (c + 0x8CB92BA72F3D8DD7ull) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    return h ? h : 1;
}

static slot *map_find(map *m, uint64_t key, bool insert)
{
    if (insert && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        slot *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key)
                continue;
            size_t j = (size_t)m->v[i].key & (cap - 1);
            while (v[j].key)
                j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    size_t j = (size_t)key & (m->cap - 1);
    while (m->v[j].key) {
        if (m->v[j].key == key)
            return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!insert)
        return NULL;
    m->v[j].key = key;
    m->v[j].value = 0;
    m->v[j].target = -1;
    m->n++;
    return &m->v[j];
}

static void map_clear(map *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* The guide: positional (values by place) or keyed (choices by owner). */
typedef struct guide {
    bool keyed;
    const weft__decisions *pos;
    size_t at;
    map choices; /* keyed: key(owner, stream, idx) → value/target */
    map counts;  /* key(owner, stream) → decisions so far */
    ann *anns;
    size_t nanns, cap;
    bool oom;
} guide;

static uint64_t owner_now(void)
{
    weft__worker *w = weft__tls_worker;
    if (!w)
        return OWNER_HOST;
    if (w->current)
        return w->current->node.task_id;
    return OWNER_LOOP + w->index;
}

static uint64_t guide_cb(void *ctx, weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    (void)preempt;
    guide *g = ctx;
    uint64_t owner = owner_now();
    slot *c = map_find(&g->counts, mix3(owner, (uint64_t)stream, 0xC0), true);
    uint32_t idx = 0;
    if (c)
        idx = (uint32_t)c->value++;
    else
        g->oom = true;
    uint64_t v = 0;
    if (!g->keyed) {
        if (g->at < g->pos->len)
            v = g->pos->v[g->at].value;
        g->at++;
    } else {
        slot *e = map_find(&g->choices, mix3(owner, (uint64_t)stream, idx), false);
        if (e && stream == WEFT__S_INTERLEAVE && e->target >= 0) {
            for (uint32_t k = 0; k < bound; k++)
                if ((int32_t)s->cands[k]->index == e->target)
                    v = k;
        } else if (e) {
            v = e->value;
        }
    }
    if (bound && v >= bound)
        v = bound - 1;
    if (g->nanns == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        ann *a = realloc(g->anns, cap * sizeof *a);
        if (!a) {
            g->oom = true;
            return v;
        }
        g->anns = a;
        g->cap = cap;
    }
    g->anns[g->nanns++] = (ann){owner, idx, stream == WEFT__S_INTERLEAVE ? (int32_t)s->cands[v]->index : -1};
    return v;
}

/* The best run so far: its exact decisions (trailing defaults trimmed) and
 * who made each. */
typedef struct best {
    weft__decisions rec;
    ann *anns;
    size_t choices;
    uint64_t sum;
} best;

size_t weft__choices(const weft__decisions *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->len; i++)
        n += d->v[i].value != 0;
    return n;
}

static uint64_t value_sum(const weft__decisions *d)
{
    uint64_t n = 0;
    for (size_t i = 0; i < d->len; i++)
        n += d->v[i].value > 1000000 ? 1000000 : d->v[i].value;
    return n;
}

/* Is (choices, len, sum) smaller than b's — or (len, choices, sum) when
 * by_length? */
static bool smaller(size_t choices, size_t len, uint64_t sum, const best *b, bool by_length)
{
    if (by_length && len != b->rec.len)
        return len < b->rec.len;
    if (choices != b->choices)
        return choices < b->choices;
    if (len != b->rec.len)
        return len < b->rec.len;
    return sum < b->sum;
}

static void best_free(best *b)
{
    weft__decisions_release(&b->rec);
    free(b->anns);
    memset(b, 0, sizeof *b);
}

static int best_copy(best *dst, const best *src)
{
    memset(dst, 0, sizeof *dst);
    if (weft__decisions_copy(&dst->rec, &src->rec) < 0)
        return WEFT_ENOMEM;
    dst->anns = malloc((src->rec.len + 1) * sizeof *dst->anns);
    if (!dst->anns) {
        weft__decisions_release(&dst->rec);
        return WEFT_ENOMEM;
    }
    if (src->rec.len) /* (a run with no decisions has no annotations at all) */
        memcpy(dst->anns, src->anns, src->rec.len * sizeof *dst->anns);
    dst->choices = src->choices;
    dst->sum = src->sum;
    return 0;
}

typedef struct shrinker {
    const weft__run_spec *base;
    char sig[256];
    unsigned budget;
    double deadline; /* wall clock; 0: none */
    bool by_length;  /* the order candidates are kept by (see smaller) */
    best b;
} shrinker;

static bool out_of_budget(const shrinker *k)
{
    return !k->budget || (k->deadline > 0 && weft__wall_now() > k->deadline);
}

/* Run under the guide g; keep the run as the best if it fails the same way
 * and is smaller. 1 kept, 0 not, <0 error. */
static int attempt(shrinker *k, guide *g)
{
    if (out_of_budget(k))
        return 0;
    k->budget--;
    weft__run_spec sp = *k->base;
    sp.prefix = NULL;
    sp.guide = (weft__guide_fn)guide_cb;
    sp.guide_ctx = g;
    sp.keep = WEFT__KEEP_ALWAYS;
    sp.keep_rt = NULL;
    sp.record_trace = false;
    weft__outcome o;
    /* (The guide also sees the decisions of the runtime's shutdown, after
     * the run's record was taken: those annotations are never used.) */
    int r = weft__run_once(&sp, &o);
    map_clear(&g->counts);
    if (r < 0 || g->oom) {
        free(g->anns);
        weft__decisions_release(&o.rec);
        return r < 0 ? r : WEFT_ENOMEM;
    }
    int kept = 0;
    if (weft__is_failure(o.status) && o.rec.len <= g->nanns) {
        char sig[256];
        weft__signature(o.status, o.message, sig, sizeof sig);
        while (o.rec.len && o.rec.v[o.rec.len - 1].value == 0)
            o.rec.len--;
        size_t choices = weft__choices(&o.rec);
        uint64_t sum = value_sum(&o.rec);
        if (!strcmp(sig, k->sig) && smaller(choices, o.rec.len, sum, &k->b, k->by_length)) {
            weft__decisions_release(&k->b.rec);
            free(k->b.anns);
            k->b.rec = o.rec;
            k->b.anns = g->anns;
            k->b.choices = choices;
            k->b.sum = sum;
            memset(&o.rec, 0, sizeof o.rec);
            g->anns = NULL;
            kept = 1;
        }
    }
    free(g->anns);
    g->anns = NULL;
    g->nanns = g->cap = 0;
    weft__decisions_release(&o.rec);
    return kept;
}

static int try_positional(shrinker *k, const weft__decisions *values)
{
    guide g;
    memset(&g, 0, sizeof g);
    g.pos = values;
    return attempt(k, &g);
}

/* The best run's choices, by owner. */
static size_t choices_of(const best *b, choice *out)
{
    size_t n = 0;
    for (size_t i = 0; i < b->rec.len; i++)
        if (b->rec.v[i].value)
            out[n++] = (choice){b->anns[i].owner, b->anns[i].idx, b->rec.v[i].stream, b->anns[i].target,
                                b->rec.v[i].value};
    return n;
}

/* Run with the choices c[0..n) except those of `owner` (if != 0), those in
 * [skip, skip + len), and, when `only` is given, those it does not mark. */
static int try_keyed(shrinker *k, const choice *c, size_t n, uint64_t owner, size_t skip, size_t len,
                     const bool *only)
{
    guide g;
    memset(&g, 0, sizeof g);
    g.keyed = true;
    for (size_t i = 0; i < n; i++) {
        if ((owner && c[i].owner == owner) || (i >= skip && i < skip + len) || (only && !only[i]))
            continue;
        slot *e = map_find(&g.choices, mix3(c[i].owner, c[i].stream, c[i].idx), true);
        if (!e) {
            map_clear(&g.choices);
            return WEFT_ENOMEM;
        }
        e->value = c[i].value;
        e->target = c[i].target;
    }
    int r = attempt(k, &g);
    map_clear(&g.choices);
    return r;
}

/* 1: drop each task's choices whole. */
static int drop_tasks(shrinker *k, bool *progress)
{
    int r = 0;
    for (bool again = true; again && r >= 0 && !out_of_budget(k);) {
        again = false;
        choice *c = malloc((k->b.rec.len + 1) * sizeof *c);
        if (!c)
            return WEFT_ENOMEM;
        size_t n = choices_of(&k->b, c);
        for (size_t i = 0; i < n && !again && r >= 0; i++) {
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                first = c[j].owner != c[i].owner;
            if (!first)
                continue;
            /* Dropping an owner that is every choice is step 2's job. */
            if ((r = try_keyed(k, c, n, c[i].owner, 0, 0, NULL)) > 0)
                again = *progress = true;
        }
        free(c);
    }
    return r < 0 ? r : 0;
}

/* 2: drop groups of choices, halving the groups. */
static int drop_choices(shrinker *k, bool *progress)
{
    int r = 0;
    for (size_t len = k->b.choices / 2 ? k->b.choices / 2 : 1; len >= 1 && r >= 0 && !out_of_budget(k);) {
        choice *c = malloc((k->b.rec.len + 1) * sizeof *c);
        if (!c)
            return WEFT_ENOMEM;
        size_t n = choices_of(&k->b, c);
        bool kept = false;
        for (size_t i = 0; i + len <= n && r >= 0 && !out_of_budget(k); i += len)
            if ((r = try_keyed(k, c, n, 0, i, len, NULL)) > 0) {
                kept = *progress = true;
                break; /* the choices changed: name them again */
            }
        free(c);
        if (!kept) {
            if (len == 1)
                break;
            len /= 2;
        } else if (len > k->b.choices) {
            len = k->b.choices ? k->b.choices : 1;
        }
    }
    return r < 0 ? r : 0;
}

/* 2, first: the run's own choices alone, then in pairs — the fewest
 * context switches that still fail, as iterative preemption bounding
 * searches, but only among the choices this failing run made. Pairs only
 * while they are few. */
#define PAIRS_UP_TO 24u

static int fewest_first(shrinker *k, bool *progress)
{
    if (k->b.choices <= 1)
        return 0;
    choice *c = malloc((k->b.rec.len + 1) * sizeof *c);
    bool *only = calloc(k->b.rec.len + 1, sizeof *only);
    if (!c || !only) {
        free(c);
        free(only);
        return WEFT_ENOMEM;
    }
    size_t n = choices_of(&k->b, c);
    int r = 0;
    for (size_t i = 0; i < n && r == 0 && !out_of_budget(k); i++) {
        only[i] = true;
        r = try_keyed(k, c, n, 0, 0, 0, only);
        only[i] = false;
    }
    for (size_t i = 0; n <= PAIRS_UP_TO && k->b.choices > 2 && i < n && r == 0 && !out_of_budget(k); i++)
        for (size_t j = i + 1; j < n && r == 0 && !out_of_budget(k); j++) {
            only[i] = only[j] = true;
            r = try_keyed(k, c, n, 0, 0, 0, only);
            only[i] = only[j] = false;
        }
    free(c);
    free(only);
    if (r > 0)
        *progress = true;
    return r < 0 ? r : 0;
}

/* 3: delete chunks of decisions by position (halving), then lower each
 * choice to 0. */
static int by_position(shrinker *k, bool *progress)
{
    weft__decisions cand = {0};
    cand.v = malloc((k->b.rec.len + 1) * sizeof *cand.v);
    if (!cand.v)
        return WEFT_ENOMEM;
    int r = 0;
    for (size_t len = k->b.rec.len / 2 ? k->b.rec.len / 2 : 1; len >= 1 && r >= 0 && !out_of_budget(k); len /= 2) {
        for (size_t i = 0; i + len <= k->b.rec.len && r >= 0 && !out_of_budget(k);) {
            cand.len = 0;
            for (size_t j = 0; j < k->b.rec.len; j++)
                if (j < i || j >= i + len)
                    cand.v[cand.len++] = k->b.rec.v[j];
            if ((r = try_positional(k, &cand)) > 0)
                *progress = true; /* the best lost decisions at i: try i again */
            else
                i += len;
        }
        if (len == 1)
            break;
    }
    for (size_t i = 0; i < k->b.rec.len && r >= 0 && !out_of_budget(k); i++) {
        if (!k->b.rec.v[i].value)
            continue;
        cand.len = k->b.rec.len;
        memcpy(cand.v, k->b.rec.v, cand.len * sizeof *cand.v);
        cand.v[i].value = 0;
        if ((r = try_positional(k, &cand)) > 0)
            *progress = true;
    }
    free(cand.v);
    return r < 0 ? r : 0;
}

/* Structure (steps 1 and 2), then position (step 3), from `from`, into
 * *out. Each step repeats while it finds something smaller. */
static int pipeline(shrinker *k, const best *from, bool structure, best *out)
{
    int r = best_copy(&k->b, from);
    if (r < 0)
        return r;
    for (bool progress = structure; progress && r >= 0 && !out_of_budget(k);) {
        progress = false;
        k->by_length = false;
        if ((r = drop_tasks(k, &progress)) >= 0 && (r = fewest_first(k, &progress)) >= 0)
            r = drop_choices(k, &progress);
    }
    for (bool progress = true; progress && r >= 0 && !out_of_budget(k);) {
        progress = false;
        k->by_length = true;
        r = by_position(k, &progress);
    }
    *out = k->b;
    memset(&k->b, 0, sizeof k->b);
    if (r < 0)
        best_free(out);
    return r;
}

int weft__shrink(const weft__run_spec *base, const weft__decisions *failing, unsigned budget, double time_s,
                 weft__decisions *out)
{
    memset(out, 0, sizeof *out);
    shrinker k;
    memset(&k, 0, sizeof k);
    k.base = base;
    k.budget = budget;
    if (time_s > 0)
        k.deadline = weft__wall_now() + time_s;
    /* Run the failing decisions once, to learn who made each and what the
     * failure is. */
    guide g;
    memset(&g, 0, sizeof g);
    g.pos = failing;
    weft__run_spec sp = *base;
    sp.prefix = NULL;
    sp.guide = (weft__guide_fn)guide_cb;
    sp.guide_ctx = &g;
    sp.keep = WEFT__KEEP_ALWAYS;
    sp.keep_rt = NULL;
    weft__outcome o;
    int r = weft__run_once(&sp, &o);
    map_clear(&g.counts);
    if (r < 0 || g.oom || o.rec.len > g.nanns) {
        free(g.anns);
        weft__decisions_release(&o.rec);
        return r < 0 ? r : WEFT_ENOMEM;
    }
    if (!weft__is_failure(o.status)) {
        /* Not reproducible this way (it should be): hand back what we had. */
        free(g.anns);
        weft__decisions_release(&o.rec);
        return weft__decisions_copy(out, failing);
    }
    weft__signature(o.status, o.message, k.sig, sizeof k.sig);
    while (o.rec.len && o.rec.v[o.rec.len - 1].value == 0)
        o.rec.len--;
    best orig = {o.rec, g.anns, weft__choices(&o.rec), value_sum(&o.rec)};
    best got[3];
    memset(got, 0, sizeof got);
    if ((r = pipeline(&k, &orig, false, &got[0])) >= 0 && (r = pipeline(&k, &orig, true, &got[1])) >= 0)
        r = pipeline(&k, &got[0], true, &got[2]);
    best *win = &orig;
    for (int i = 0; i < 3 && r >= 0; i++)
        if (got[i].anns && smaller(got[i].choices, got[i].rec.len, got[i].sum, win, true))
            win = &got[i];
    if (r >= 0)
        r = weft__decisions_copy(out, &win->rec);
    for (int i = 0; i < 3; i++)
        best_free(&got[i]);
    best_free(&orig);
    return r;
}
