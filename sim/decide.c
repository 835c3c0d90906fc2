/* decide.c — the one door every simulated choice goes through: decision
 * sources (seed, bytes, recorded schedule, prefix), the streams a seed is split
 * into, and the interleaving strategies (random walk, PCT).
 *
 * The generator is fixed forever: splitmix64 expands the seed, and each
 * stream is a xoshiro256** seeded from splitmix64(seed ^ stream constant), so a
 * new fault knob draws from its own stream and never reshuffles interleavings.
 * Bounded values use Lemire's multiply-and-reject, which is exact and
 * platform-independent. Every decision, whatever its source, is recorded so
 * the run can be printed as a schedule and replayed.
 */
#include "sim.h"

#include <stdio.h>

/* Each stream's salt, by stream number (a retired number keeps its slot, so
 * no other stream's draws move). */
static const uint64_t stream_salt[WEFT__S_COUNT] = {
    [WEFT__S_INTERLEAVE] = 0x1D8E4E27C47D124Full, [WEFT__S_PLACE] = 0xA0761D6478BD642Full,
    [WEFT__S_TIMING] = 0xE7037ED1A0B428DBull,
    [WEFT__S_FAULT] = 0x8EBC6AF09C88C6E3ull,      [WEFT__S_RAND] = 0x589965CC75374CC3ull,
    [WEFT__S_SELECT] = 0x1D8E4E27C47D125Bull,     [WEFT__S_MEMORY] = 0xD6E8FEB86659FD93ull,
};

/* The simulator's own books never fail: they use the configured allocator,
 * not the one it wraps to inject failures. */
int weft__decisions_push(weft_rt *rt, weft__decisions *d, const weft__decision *x)
{
    if (d->len == d->cap && weft__grow(&rt->base_alloc, (void **)&d->v, &d->cap, d->len, sizeof *d->v, 256) < 0)
        return WEFT_ENOMEM;
    d->v[d->len++] = *x;
    return 0;
}

void weft__decisions_free(weft_rt *rt, weft__decisions *d)
{
    if (d->v)
        rt->base_alloc.free(rt->base_alloc.ctx, d->v, d->cap * sizeof *d->v);
    memset(d, 0, sizeof *d);
}

#define bounded weft__bounded

static uint64_t from_bytes(weft__sim *s, uint32_t bound)
{
    unsigned need = bound == 0 ? 8 : bound <= 256 ? 1 : bound <= 65536 ? 2 : 4;
    uint64_t v = 0;
    for (unsigned i = 0; i < need; i++) {
        if (s->bytes_pos >= s->bytes_len)
            return 0; /* out of input: the fixed default choice */
        v = (v << 8) | s->bytes[s->bytes_pos++];
    }
    return bound ? v % bound : v;
}

static uint64_t from_replay(weft__sim *s, int stream, uint32_t bound)
{
    if (s->replay_pos >= s->replay.len)
        return 0;
    const weft__decision *d = &s->replay.v[s->replay_pos++];
    if (s->source == WEFT__SRC_REPLAY && (d->bound != bound || (bound && d->value >= bound))) {
        weft__sim_failf(s->rt, WEFT_ESCHEDULE,
                        "the schedule does not fit this program: decision %zu offers %u choice(s) (stream %d) but the "
                        "schedule recorded %u — was it recorded from a different program or configuration?",
                        s->replay_pos, bound, stream, d->bound);
        return 0;
    }
    /* A prefix being shrunk may have shifted: clamp rather than fail. */
    return bound && d->value >= bound ? bound - 1 : d->value;
}

static void pct_init(weft__sim *s, const weft_config *cfg)
{
    weft_rt *rt = s->rt;
    unsigned n = rt->nworkers;
    s->pct_steps = cfg->sim.pct_steps ? cfg->sim.pct_steps : WEFT__PCT_STEPS_DEFAULT;
    uint64_t *st = s->streams[WEFT__S_INTERLEAVE];
    /* Initial priorities d .. d+n-1 in random order (a Fisher-Yates shuffle);
     * the change points lower the running worker to 1 .. d-1. */
    for (unsigned i = 0; i < n; i++)
        s->pct_prio[i] = s->pct_depth + i;
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)bounded(st, i);
        uint32_t t = s->pct_prio[i - 1];
        s->pct_prio[i - 1] = s->pct_prio[j];
        s->pct_prio[j] = t;
    }
    for (unsigned k = 0; k + 1 < s->pct_depth; k++)
        s->pct_change_at[k] = 1 + bounded(st, (uint32_t)(s->pct_steps > UINT32_MAX ? UINT32_MAX : s->pct_steps));
}

int weft__decide_init(weft__sim *s, const weft_config *cfg)
{
    weft_rt *rt = s->rt;
    s->seed = cfg->seed;
    s->strategy = cfg->sim.strategy;
    for (int i = 0; i < WEFT__S_COUNT; i++)
        weft__xoshiro_seed(s->streams[i], cfg->seed ^ stream_salt[i]);
    if (cfg->schedule) {
        char why[256];
        int r = weft__schedule_decode(rt, cfg->schedule, &s->replay, why, sizeof why);
        if (r == WEFT_ENOMEM)
            return r;
        if (r < 0) {
            if (!rt->quiet)
                fprintf(stderr, "weft: WEFT_SCHEDULE is not a valid schedule: %s\n", why);
            return WEFT_EINVAL;
        }
        s->source = WEFT__SRC_REPLAY;
    } else if (cfg->sim.strategy == WEFT_STRATEGY_BYTES) {
        s->source = WEFT__SRC_BYTES;
        s->bytes = cfg->sim.bytes;
        s->bytes_len = cfg->sim.bytes ? cfg->sim.bytes_len : 0;
    }
    if (s->strategy == WEFT_STRATEGY_PCT) {
        /* pct_depth is set before the allocations so free sizes them right
         * even when one of them fails. */
        s->pct_depth = cfg->sim.pct_depth ? cfg->sim.pct_depth : WEFT__PCT_DEPTH_DEFAULT;
        s->pct_prio = rt->base_alloc.alloc(rt->base_alloc.ctx, rt->nworkers * sizeof *s->pct_prio);
        s->pct_change_at = rt->base_alloc.alloc(rt->base_alloc.ctx, s->pct_depth * sizeof *s->pct_change_at);
        if (s->pct_prio)
            memset(s->pct_prio, 0, rt->nworkers * sizeof *s->pct_prio);
        if (s->pct_change_at)
            memset(s->pct_change_at, 0, s->pct_depth * sizeof *s->pct_change_at);
        if (!s->pct_prio || !s->pct_change_at)
            return WEFT_ENOMEM;
        pct_init(s, cfg);
    }
    return 0;
}

void weft__decide_free(weft__sim *s)
{
    weft_rt *rt = s->rt;
    weft__decisions_free(rt, &s->replay);
    weft__decisions_free(rt, &s->rec);
    if (s->pct_prio)
        rt->base_alloc.free(rt->base_alloc.ctx, s->pct_prio, rt->nworkers * sizeof *s->pct_prio);
    if (s->pct_change_at)
        rt->base_alloc.free(rt->base_alloc.ctx, s->pct_change_at, s->pct_depth * sizeof *s->pct_change_at);
}

/* Out of memory for the record: the run goes on (the seed still replays it),
 * but the schedule is marked incomplete so it is never printed as if it were
 * whole. */
static WEFT_NOINLINE void record_grow(weft__sim *s, const weft__decision *d)
{
    if (!s->rec_truncated && weft__decisions_push(s->rt, &s->rec, d) < 0)
        s->rec_truncated = true;
}

/* A choice that kept the running worker changed nothing a reader of the
 * timeline needs to see: it is marked (outside the hash) to be folded. */
static inline const char *kept_text(int stream, uint64_t value, bool preempt)
{
    return preempt && stream == WEFT__S_INTERLEAVE && value == 0 ? "kept" : NULL;
}

static inline void record(weft__sim *s, int stream, uint32_t bound, uint64_t value, bool preempt)
{
    weft__decision d = {value, bound, (uint8_t)stream, preempt};
    weft__decisions *rec = &s->rec;
    if (WEFT_LIKELY(rec->len < rec->cap))
        rec->v[rec->len++] = d; /* a truncated record never has room: it stopped growing */
    else
        record_grow(s, &d);
    weft__trace_inline(s, WEFT__EV_DECIDE, weft__decider(), (unsigned)stream, (int32_t)bound, value,
                       kept_text(stream, value, preempt));
}

/* Every source but the seed's. */
static WEFT_NOINLINE uint64_t from_source(weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    switch (s->source) {
    case WEFT__SRC_BYTES: return from_bytes(s, bound);
    case WEFT__SRC_REPLAY:
    case WEFT__SRC_PREFIX: return from_replay(s, stream, bound);
    case WEFT__SRC_GUIDE: return s->guide(s->guide_ctx, s, stream, bound, preempt);
    default: return bound ? weft__bounded(s->streams[stream], bound) : weft__xoshiro_next(s->streams[stream]);
    }
}

/* Any decision: every source, a 64-bit value, a record to grow. */
uint64_t weft__decide_any(weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    uint64_t v;
    if (s->source == WEFT__SRC_SEED)
        v = bound ? weft__bounded_inline(s->streams[stream], bound) : weft__xoshiro_step(s->streams[stream]);
    else
        v = from_source(s, stream, bound, preempt);
    record(s, stream, bound, v, preempt);
    return v;
}

uint64_t weft__decide_rejected(weft__sim *s, int stream, uint32_t bound, bool preempt, uint64_t m)
{
    uint64_t v = weft__bounded_reject(s->streams[stream], bound, m);
    record(s, stream, bound, v, preempt);
    return v;
}

uint64_t weft__decide_recorded(weft__sim *s, int worker, int stream, uint32_t bound, uint64_t v, bool preempt)
{
    weft__trace_record_inline(s, WEFT__EV_DECIDE, worker, (unsigned)stream, (int32_t)bound, v,
                              kept_text(stream, v, preempt));
    return v;
}

uint64_t weft__decide(weft__sim *s, int stream, uint32_t bound, bool preempt)
{
    return weft__decide_inline(s, stream, bound, preempt);
}

/* PCT: the enabled worker with the highest priority runs; at each change
 * point the running worker drops below every initial priority. */
static unsigned pct_pick(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first)
{
    if (cur_first) {
        s->pct_step++;
        for (unsigned k = 0; k + 1 < s->pct_depth; k++)
            if (s->pct_change_at[k] == s->pct_step)
                s->pct_prio[cands[0]->index] = k + 1;
    }
    unsigned best = 0;
    for (unsigned i = 1; i < n; i++)
        if (s->pct_prio[cands[i]->index] > s->pct_prio[cands[best]->index])
            best = i;
    return best;
}

unsigned weft__decide_pct(weft__sim *s, weft__worker **cands, unsigned n, bool cur_first)
{
    unsigned v = pct_pick(s, cands, n, cur_first);
    record(s, WEFT__S_INTERLEAVE, n, v, cur_first);
    return v;
}
