/* task.c — task records and their handles: spawn (from a task or from any
 * thread), join, detach, cancel, and the checked state transitions.
 *
 * Records live in a chunked table and are recycled through free lists (the
 * worker's own, then the runtime's), so a spawn in steady state allocates
 * nothing. A handle is (generation, slot): a second join, or a join after
 * detach, finds another generation and gets WEFT_ESRCH instead of touching a
 * recycled record. THREADING.md rules 6 and 8 say who touches what.
 */
#include "core.h"

#include <stdio.h>

/* ------------------------------------------------------------------------ */
/* States                                                                    */
/* ------------------------------------------------------------------------ */

static const char *const state_names[WEFT__T_STATE_COUNT] = {
    "free", "new", "queued", "running", "parking", "notified", "parked", "finished", "abandoned"};

const char *weft__task_state_name(unsigned state)
{
    return state < WEFT__T_STATE_COUNT ? state_names[state] : "corrupt";
}

void weft__task_bad_transition(weft__task *t, unsigned from, unsigned to)
{
    unsigned was = weft__task_get_state(t);
    weft__invariant_failed(__FILE__, __LINE__, "task %llu (%s) went %s -> %s but was %s",
                           (unsigned long long)t->node.task_id, weft__task_label(t),
                           weft__task_state_name(from), weft__task_state_name(to), weft__task_state_name(was));
}

bool weft__task_cas(weft__task *t, unsigned from, unsigned to)
{
    if (t->serial) {
        if (t->state.v != from)
            return false;
        t->state.v = to;
        return true;
    }
    uint32_t expect = from;
    return weft__cas(&t->state, &expect, to, WEFT__ACQ_REL, WEFT__ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

static weft__task **chunk_index(weft_rt *rt)
{
    return weft__ld_s(rt->serial, &rt->chunks, WEFT__ACQUIRE);
}

weft__task *weft__task_at(weft_rt *rt, uint32_t slot)
{
    return &chunk_index(rt)[slot / WEFT__TASK_CHUNK][slot % WEFT__TASK_CHUNK];
}

uint32_t weft__task_slots(weft_rt *rt)
{
    return weft__ld(&rt->fresh_slots, WEFT__ACQUIRE);
}

uint32_t weft__task_records_in_use(weft_rt *rt)
{
    size_t free = rt->free_tasks.len + rt->free_batched;
    for (unsigned i = 0; i < rt->nworkers; i++)
        free += rt->workers[i].free_tasks.len;
    uint32_t made = weft__task_slots(rt);
    WEFT_INVARIANT(free <= made, "%zu free task records of %u made", free, made);
    return free > made ? made : made - (uint32_t)free; /* else: the walks, which are always right */
}

weft_task *weft__task_handle(const weft__task *t)
{
    return (weft_task *)(uintptr_t)(((uint64_t)t->gen << 32) | t->slot);
}

weft__task *weft__task_from_handle(weft_rt *rt, weft_task *h)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    uint32_t slot = (uint32_t)v, gen = (uint32_t)(v >> 32);
    if (!h || slot >= weft__task_slots(rt))
        return NULL;
    weft__task *t = weft__task_at(rt, slot);
    if (weft__ld(((weft__a32 *)&t->gen), WEFT__RELAXED) != gen)
        return NULL;
    /* The record may be re-made by another worker meanwhile: its state word
     * is the one field read here that is made to be read so. */
    return weft__record_state(rt, t) != WEFT__T_FREE ? t : NULL;
}

/* A chunk: its head at the end of a line of its own (read on every thread,
 * so nothing written often may share it), then the records on line
 * boundaries.
 * An allocator promises less alignment than a line: up to a line's worth of
 * slack before the head's line. Cold arrays are allocations of their own:
 * after the records they cost a burst of plain spawns a page per chunk that
 * only the allocator's bookkeeping touched (35,300 faults for 1 M tasks,
 * against 31,500 so). */
#define CHUNK_BYTES (2 * WEFT__CACHE_LINE + WEFT__TASK_CHUNK * sizeof(weft__task))
#define COLD_BYTES (WEFT__TASK_CHUNK * sizeof(weft__task_cold))

static weft__task *chunk_carve(weft_rt *rt, void *mem)
{
    uintptr_t first = ((uintptr_t)mem + 2 * WEFT__CACHE_LINE - 1) & ~(uintptr_t)(WEFT__CACHE_LINE - 1);
    weft__chunk_head *head = (weft__chunk_head *)first - 1;
    head->rt = rt;
    head->mem = mem;
    head->cold.v = NULL;
    return (weft__task *)first;
}

static void chunk_free(weft_rt *rt, weft__task *first)
{
    weft__chunk_head *head = (weft__chunk_head *)(void *)first - 1;
    weft__free(rt, head->cold.v, COLD_BYTES);
    weft__free(rt, head->mem, CHUNK_BYTES);
}

/* Out of line: a chunk's first task with a name, a node, a scope or a
 * select. Tasks of one chunk on two workers may race to make it: one array
 * wins, the other is given back. */
static WEFT_NOINLINE weft__task_cold *cold_array(weft__chunk_head *h)
{
    weft_rt *rt = h->rt;
    weft__task_cold *mine = weft__alloc(rt, COLD_BYTES);
    if (!mine)
        return NULL;
    void *none = NULL;
    if (weft__cas(&h->cold, &none, mine, WEFT__ACQ_REL, WEFT__ACQUIRE))
        return mine;
    weft__free(rt, mine, COLD_BYTES);
    return none;
}

weft__task_cold *weft__task_cold_make(weft__task *t)
{
    weft__chunk_head *h = (weft__chunk_head *)(void *)weft__chunk_first(t) - 1;
    weft__task_cold *cold = weft__ld(&h->cold, WEFT__ACQUIRE);
    if (WEFT_UNLIKELY(!cold) && !(cold = cold_array(h)))
        return NULL;
    return cold + t->slot % WEFT__TASK_CHUNK;
}

/* A chunk after the first is wanted by a burst of spawns, which will touch
 * every record in it: its whole pages are faulted in by one call, not one
 * fault each (cold spawn_many: 31,500 page faults -> 4,000 for 1 M tasks,
 * 8-20% more tasks/s in A/B runs on this VM). The first chunk is left
 * alone (an idle runtime touches one record of it), and so is memory of an
 * allocator the program configured and every simulated runtime's. */
static void chunk_prefault(weft_rt *rt, void *mem)
{
    if (rt->nchunks == 0 || rt->base_alloc.alloc != weft__malloc_allocator.alloc ||
        (rt->caps & WEFT__CAP_DETERMINISTIC))
        return;
    weft__os_prefault(&rt->os, mem, CHUNK_BYTES);
}

/* An old index stays readable until the runtime goes (rule 8). */
typedef struct retired_index {
    struct retired_index *next;
    weft__task **index;
    size_t cap;
} retired_index;

static int grow_chunks(weft_rt *rt)
{
    weft__task **index = chunk_index(rt);
    if (rt->nchunks == rt->chunk_cap) {
        uint32_t cap = rt->chunk_cap ? rt->chunk_cap * 2 : 8;
        weft__task **v = weft__alloc(rt, cap * sizeof *v);
        retired_index *old = index ? weft__alloc(rt, sizeof *old) : NULL;
        if (!v || (index && !old)) {
            weft__free(rt, v, cap * sizeof *v);
            weft__free(rt, old, sizeof *old);
            return WEFT_ENOMEM;
        }
        if (rt->nchunks)
            memcpy(v, index, rt->nchunks * sizeof *v);
        if (old) {
            old->index = index;
            old->cap = rt->chunk_cap;
            old->next = (retired_index *)rt->retired_chunks;
            rt->retired_chunks = (void *)old;
        }
        weft__st_s(rt->serial, &rt->chunks, (void *)v, WEFT__RELEASE);
        rt->chunk_cap = cap;
        index = v;
    }
    /* Not zeroed: a record is initialized when first handed out, so an
     * idle runtime touches one record's worth of the chunk, not all of it. */
    void *mem = weft__alloc(rt, CHUNK_BYTES);
    if (!mem)
        return WEFT_ENOMEM;
    chunk_prefault(rt, mem);
    index[rt->nchunks++] = chunk_carve(rt, mem);
    return 0;
}

/* Fresh records (never handed out) onto the caller's free list, lowest
 * slot on top: at most `want`, under tasks_lock. */
static size_t take_fresh(weft_rt *rt, weft_freelist *into, size_t want)
{
    uint32_t fresh = rt->fresh_slots.v;
    weft_freelist got = {NULL, 0};
    while (got.len < want && fresh != UINT32_MAX) {
        if (fresh == rt->nchunks * WEFT__TASK_CHUNK && grow_chunks(rt) < 0)
            break;
        weft__task *t = weft__task_at(rt, fresh);
        t->init_bits = 0; /* a store, before any read of the record (core.h) */
        t->serial = rt->serial; /* a record never changes runtimes */
        t->slot = fresh;
        t->gen = rt->gen_base;
        t->state.v = WEFT__T_FREE;
        weft__freelist_push(&got, &t->node.link);
        fresh++;
    }
    weft__st(&rt->fresh_slots, fresh, WEFT__RELEASE);
    size_t n = got.len;
    weft_link *l;
    while ((l = weft__freelist_pop(&got)) != NULL)
        weft__freelist_push(into, l);
    return n;
}

/* Workers spill their lists of free records whole, and the runtime keeps
 * each as a batch, chained through the batch's top record (a free record's
 * fields are free to use, but slot, gen and state, which handle checks read):
 * a spill and a refill move a batch without walking it (a walk chases
 * pointers through records that are no longer in the cache), and a burst of
 * spawns gets records back in the order they were freed, so it walks memory
 * in order. Under tasks_lock. */
static void batch_push(weft_rt *rt, weft_freelist *list)
{
    weft__task *top = (weft__task *)list->top;
    top->arg = rt->free_batches;
    top->stack_size = (uint32_t)list->len;
    rt->free_batches = top;
    rt->free_batched += list->len;
    list->top = NULL;
    list->len = 0;
}

static void batch_pop(weft_rt *rt, weft_freelist *into)
{
    weft__task *top = rt->free_batches;
    rt->free_batches = top->arg;
    into->top = &top->node.link;
    into->len = top->stack_size;
    rt->free_batched -= top->stack_size;
}

/* One record off the newest batch (a spawn from outside the runtime). */
static weft__task *batch_take_one(weft_rt *rt)
{
    weft__task *top = rt->free_batches;
    weft__task *next = (weft__task *)top->node.link.next;
    if (next) {
        next->arg = top->arg;
        next->stack_size = top->stack_size - 1;
        rt->free_batches = next;
    } else {
        rt->free_batches = top->arg;
    }
    top->node.link.next = NULL;
    rt->free_batched--;
    return top;
}

/* Free records from the runtime (the worker's own list is empty): a whole
 * batch for a worker, one record for a thread outside the runtime. */
static __attribute__((noinline)) weft__task *record_refill(weft_rt *rt, weft__worker *w)
{
    weft_freelist got = {NULL, 0}, *into = w ? &w->free_tasks : &got;
    size_t want = w ? WEFT__WORKER_CACHE / 2 : 1;
    weft__spin_lock(&rt->tasks_lock);
    if (rt->free_batches && w) {
        batch_pop(rt, into);
    } else if (rt->free_batches) {
        weft__freelist_push(into, &batch_take_one(rt)->node.link);
    } else {
        /* Records freed one by one (from outside the runtime), straight onto
         * the worker's empty list; or records never used. */
        weft__freelist_move(into, &rt->free_tasks, want);
        if (!into->top)
            take_fresh(rt, into, want);
    }
    weft__spin_unlock(&rt->tasks_lock);
    return (weft__task *)weft__freelist_pop(into);
}

/* A free record: the worker's own list, else a batch from the runtime's. */
static WEFT_ALWAYS_INLINE weft__task *record_take(weft_rt *rt, weft__worker *w)
{
    if (w && w->free_tasks.top) {
        weft__task *t = (weft__task *)weft__freelist_pop(&w->free_tasks);
        weft__task_prefetch(w->free_tasks.top); /* the next spawn's */
        return t;
    }
    return record_refill(rt, w);
}

/* A fresh task in record t: every field written once, but slot, gen, state
 * and serial (handle checks read the first three on any thread; state is
 * set last; serial was set when the record was made). Clearing
 * the record and then writing half of it again cost every spawn of a burst
 * (gcc turns the clear into a rep stos). A field added to weft__task must be
 * added here. */
static WEFT_ALWAYS_INLINE int task_init(weft__task *t, weft_rt *rt, const weft__task *parent, weft_fn fn, void *arg,
                                        const weft_spawn_opts *o, unsigned engine)
{
    t->node = (weft_runq_node){.priority = o ? o->priority : 0};
    t->ctx = (weft__ctx){0};
    t->stack = NULL;
    t->fn = fn;
    t->arg = arg;
    t->worker = NULL;
    t->join.v = WEFT__JOIN_NONE;
    t->wait = NULL;
    t->cancel.v = 0;
    t->wait_lock.v = 0;
    t->wait_result = 0;
    t->stack_size = o ? (uint32_t)o->stack_size : 0;
    t->flags = o && (o->flags & WEFT_SPAWN_NOSTACK) ? WEFT__F_NOSTACK : 0;
    t->engine = engine; /* [init]: a handle check may read this byte from now on */
    t->pin = 0;
    /* A task runs on the simulated node it is spawned on, else its parent's. */
    const char *name = o ? o->name : NULL;
    void *node = o && o->node ? o->node : parent && weft__task_rt(parent) == rt ? weft__task_node(parent) : NULL;
    t->has_cold = 0;
    if (WEFT_UNLIKELY(name || node)) {
        weft__task_cold *c = weft__task_cold_make(t);
        if (!c)
            return WEFT_ENOMEM;
        c->name = name;
        c->io_node = node;
        c->io_node_life = !node ? 0
                          : o && o->node ? ((const weft__node_head *)node)->life
                                         : weft__task_cold_of(parent)->io_node_life;
        t->has_cold = 1;
    }
    return 0;
}

/* A record taken for a spawn that failed goes back where it came from,
 * still free (its state was never set). */
static WEFT_NOINLINE void record_untake(weft_rt *rt, weft__worker *w, weft__task *t)
{
    if (w) {
        weft__freelist_push(&w->free_tasks, &t->node.link);
        return;
    }
    weft__spin_lock(&rt->tasks_lock);
    weft__freelist_push(&rt->free_tasks, &t->node.link);
    weft__spin_unlock(&rt->tasks_lock);
}

/* Inline in the spawn path; weft__task_new for the rest. */
static WEFT_ALWAYS_INLINE int task_new(weft_rt *rt, weft__worker *w, weft_fn fn, void *arg, const weft_spawn_opts *o,
                                       unsigned engine, weft__task **out)
{
    weft__task *t = record_take(rt, w);
    if (!t)
        return WEFT_ENOMEM;
    if (WEFT_UNLIKELY(task_init(t, rt, weft__current(), fn, arg, o, engine) < 0)) {
        record_untake(rt, w, t);
        return WEFT_ENOMEM;
    }
    weft__st_s(rt->serial, &t->state, WEFT__T_NEW, WEFT__RELEASE);
    *out = t;
    return 0;
}

int weft__task_new(weft_rt *rt, weft__worker *w, weft_fn fn, void *arg, const weft_spawn_opts *o, weft__task **out)
{
    return task_new(rt, w, fn, arg, o, 0, out);
}

void weft__task_records_spill(weft__worker *w)
{
    /* Too many: the whole list goes back for other workers, as one batch. */
    weft_rt *rt = w->rt;
    weft__spin_lock(&rt->tasks_lock);
    batch_push(rt, &w->free_tasks);
    weft__spin_unlock(&rt->tasks_lock);
}

void weft__task_release(weft_rt *rt, weft__task *t)
{
    weft__worker *w = weft__tls_worker;
    if (w && w->rt == rt) {
        weft__task_release_by(w, t);
        return;
    }
    weft__task_set_state(t, WEFT__T_FINISHED, WEFT__T_FREE);
    uint32_t gen = t->gen + 1;
    weft__st((weft__a32 *)&t->gen, gen ? gen : 1u, WEFT__RELEASE);
    weft__spin_lock(&rt->tasks_lock);
    weft__freelist_push(&rt->free_tasks, &t->node.link);
    weft__spin_unlock(&rt->tasks_lock);
}

void weft__tasks_free(weft_rt *rt)
{
    weft__task **index = chunk_index(rt);
    for (uint32_t i = 0; i < rt->nchunks; i++)
        chunk_free(rt, index[i]);
    weft__free(rt, index, rt->chunk_cap * sizeof *index);
    for (retired_index *r = (retired_index *)rt->retired_chunks; r;) {
        retired_index *next = r->next;
        weft__free(rt, r->index, r->cap * sizeof *r->index);
        weft__free(rt, r, sizeof *r);
        r = next;
    }
    rt->retired_chunks = NULL;
    rt->chunks.v = NULL;
    rt->nchunks = rt->chunk_cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Spawning                                                                  */
/* ------------------------------------------------------------------------ */

static int find_engine(weft_rt *rt, const char *name, unsigned *out)
{
    for (unsigned i = 0; i < rt->nengines; i++)
        if (!strcmp(rt->engines[i].name, name)) {
            *out = i;
            return 0;
        }
    return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn: no engine named '%s'", name);
}

/* Check o and work out the task's engine and, if it is bound to one, its
 * worker (*pin, else UINT_MAX). */
static int placement(weft_rt *rt, weft__worker *w, const weft_spawn_opts *o, unsigned *engine, unsigned *pin)
{
    *engine = w ? w->engine->index : 0;
    *pin = UINT32_MAX;
    if (o) {
        if (o->flags & ~(unsigned)(WEFT_SPAWN_NOSTACK | WEFT_SPAWN_PINNED | WEFT_SPAWN_DEDICATED))
            return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: unknown flags 0x%x", o->flags);
        if (o->stack_size && (o->stack_size < WEFT_STACK_MIN || o->stack_size > WEFT_STACK_MAX))
            return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: stack_size %zu outside [%u, %u]", o->stack_size,
                               WEFT_STACK_MIN, WEFT_STACK_MAX);
        if (o->priority < 0 || o->priority > WEFT_PRIO_MAX)
            return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: priority %d outside [0, %d]", o->priority,
                               WEFT_PRIO_MAX);
        int r;
        if (o->engine && (r = find_engine(rt, o->engine, engine)) < 0)
            return r;
    }
    weft__engine *e = &rt->engines[*engine];
    if (o && (o->flags & WEFT_SPAWN_DEDICATED)) {
        if (o->worker >= e->ndedicated)
            return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: dedicated worker %u of engine '%s', which has %u",
                               o->worker, e->name, e->ndedicated);
        *pin = e->first_dedicated + o->worker;
    } else if (o && (o->flags & WEFT_SPAWN_PINNED)) {
        if (o->worker >= e->nworkers)
            return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: pinned to worker %u but engine '%s' has %u", o->worker,
                               e->name, e->nworkers);
        *pin = e->first + o->worker;
    } else if (e->cfg.policy == WEFT_POLICY_PER_CORE) {
        /* Thread-per-core: it stays where it is spawned (from outside: the
         * worker whose turn it is). */
        if (w && w->engine == e && !w->dedicated)
            *pin = w->index;
        else
            *pin = e->first + (unsigned)(weft__fetch_add(&e->next_core, 1u, WEFT__RELAXED) % e->nworkers);
    }
    return 0;
}

/* Options placement would accept without naming an engine or a worker:
 * on a worker that shares work (so not per-core), the task goes where the
 * spawner is, as with no options. */
static inline bool plain_opts(const weft_spawn_opts *o)
{
    return !(o->flags & ~(unsigned)WEFT_SPAWN_NOSTACK) && !o->engine && o->priority >= 0 &&
           o->priority <= WEFT_PRIO_MAX &&
           (!o->stack_size || (o->stack_size >= WEFT_STACK_MIN && o->stack_size <= WEFT_STACK_MAX));
}

/* Ids a worker of a concurrent runtime takes at a time: unique, as every
 * task id is, but not in spawn order across workers (a serial runtime's
 * are: the simulator's traces name tasks by them). */
#define WEFT__ID_BLOCK 256u

/* A task id from w's block (w's own thread). */
static uint64_t next_id_here(weft__worker *w)
{
    if (WEFT_UNLIKELY(w->next_id == w->end_id)) {
        w->next_id = weft__fetch_add(&w->rt->next_task_id, WEFT__ID_BLOCK, WEFT__RELAXED) + 1;
        w->end_id = w->next_id + WEFT__ID_BLOCK;
    }
    return w->next_id++;
}

/* Counted by the runtime's own thread: id, live count, spawn event. */
static inline void count_spawn(weft_rt *rt, weft__worker *w, weft__task *t)
{
    if (rt->serial)
        t->node.task_id = ++rt->next_task_id.v;
    else
        t->node.task_id = w ? next_id_here(w) : weft__fetch_add(&rt->next_task_id, 1u, WEFT__RELAXED) + 1;
    weft__live_add(rt, w, 1u);
    if (w)
        weft__count(&w->stats.spawned, 1);
    else
        rt->stats.spawned++;
    weft__hook(rt, WEFT_HOOK_SPAWN, w, t, 0, NULL);
}

void weft__spawn_adopted(weft_rt *rt, weft__worker *w, weft__task *t)
{
    count_spawn(rt, w, t);
}

/* Out of line: the spawn paths stay short. The callers return the code
 * themselves, so the compiler sees that nothing was made. Said once per
 * runtime: a task that retries until shutdown ends would fill stderr. */
static WEFT_NOINLINE void say_spawn_refused(weft_rt *rt)
{
    if (!weft__xchg(&rt->said_spawn_refused, 1u, WEFT__RELAXED))
        (void)WEFT_MISUSE_RT(rt, WEFT_ESHUTDOWN, "weft_spawn: the runtime is shutting down; the task was not made");
}

static WEFT_ALWAYS_INLINE int spawn_prepare(weft_rt *rt, weft__worker *w, weft__task **out, weft_fn fn, void *arg,
                                            const weft_spawn_opts *o, bool detached)
{
    unsigned engine, pin;
    int r;
    if (WEFT_LIKELY(w && w->shares_work && (!o || plain_opts(o)))) {
        /* The common spawn: where the spawner is, unpinned (what placement
         * works out for these options on such a worker). */
        engine = w->engine->index;
        pin = UINT32_MAX;
    } else if ((r = placement(rt, w, o, &engine, &pin)) < 0) {
        return r;
    }
    if (weft__ld(&rt->shut_down, WEFT__ACQUIRE)) {
        say_spawn_refused(rt);
        return WEFT_ESHUTDOWN;
    }
    if (w)
        weft__sched_point(w);
    weft__task *t;
    if ((r = task_new(rt, w, fn, arg, o, engine, &t)) < 0)
        return r;
    if (pin != UINT32_MAX) {
        t->flags |= WEFT__F_PINNED;
        t->pin = (uint8_t)pin;
    }
    t->join.v = detached ? WEFT__JOIN_DETACHED : WEFT__JOIN_NONE;
    /* From a task of rt: counted now. From elsewhere: by the worker that
     * takes it in (rule 9: a foreign thread touches only the queues). */
    if (w)
        count_spawn(rt, w, t);
    *out = t;
    return 0;
}

int weft__spawn_prepare(weft_rt *rt, weft__worker *w, weft__task **out, weft_fn fn, void *arg,
                        const weft_spawn_opts *o, bool detached)
{
    return spawn_prepare(rt, w, out, fn, arg, o, detached);
}

void weft__spawn_commit(weft_rt *rt, weft__task *t)
{
    weft__schedule(rt, t, false);
}

int weft__spawn(weft_rt *rt, weft__worker *w, weft__task **out, weft_fn fn, void *arg, const weft_spawn_opts *o,
                bool detached)
{
    weft__task *t;
    int r = spawn_prepare(rt, w, &t, fn, arg, o, detached);
    if (r < 0)
        return r;
    /* The handle first: once scheduled, t may run, end and be reused. */
    if (out)
        *out = t;
    weft__schedule(rt, t, false);
    return 0;
}

/* weft__spawn of a detached task from a task of a worker alone in its
 * engine, with no options or plain ones: the task goes on that worker's own
 * list, as weft__schedule would put it there. The same effects in the same
 * order (shutdown check, scheduling point, record, count and spawn event,
 * queue), without the branches for handles, placement, pins and queues of
 * other workers: this is every spawn of a burst on one worker. */
static int spawn_here(weft__worker *w, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    weft_rt *rt = w->rt;
    if (weft__ld(&rt->shut_down, WEFT__ACQUIRE)) {
        say_spawn_refused(rt);
        return WEFT_ESHUTDOWN;
    }
    weft__sched_point(w);
    weft__task *t = record_take(rt, w);
    if (!t)
        return WEFT_ENOMEM;
    if (WEFT_UNLIKELY(task_init(t, rt, w->current, fn, arg, o, w->engine->index) < 0)) {
        record_untake(rt, w, t);
        return WEFT_ENOMEM;
    }
    weft__st_s(rt->serial, &t->state, WEFT__T_NEW, WEFT__RELEASE);
    t->join.v = WEFT__JOIN_DETACHED;
    count_spawn(rt, w, t);
    weft__sched_push_local(w, t);
    return 0;
}

/* Out of budget (and on real threads): a fiber task lets the rest of its
 * queue run, as after any runtime call. */
static WEFT_NOINLINE void spawn_budget_out(weft__worker *w)
{
    weft__task *t = w->current;
    if (!t || (t->flags & WEFT__F_NOSTACK) || w->in_hook)
        return; /* nothing that can yield: the budget stays spent */
    weft__budget_yield(w, t);
}

/* On a worker whose queue no other worker takes from, a spawn is a runtime
 * call that spends the coop budget as the others do (Erlang's spawn spends
 * reductions too): a task that spawns without ever waiting yields every
 * WEFT__COOP_BUDGET spawns, so a burst's tasks run as it goes, their records
 * come back hot and memory stays bounded, where queueing a million first
 * faulted in 128 MB of records. Where peers take from the queue they run the
 * burst meanwhile, and the spawner yielding would only stop it spawning (a
 * 2-worker burst lost a quarter of its rate). Simulation keeps its
 * schedules: there every spawn is a scheduling point, which explores
 * switching at any spawn, not only at every 128th. */
static WEFT_ALWAYS_INLINE int spawn_spent(weft__worker *w, int r)
{
    if (WEFT_UNLIKELY(r < 0) || !w->local_only || (w->rt->caps & WEFT__CAP_DETERMINISTIC))
        return r;
    if (WEFT_LIKELY(w->coop_budget > 1))
        w->coop_budget--;
    else
        spawn_budget_out(w);
    return r;
}

int weft_spawn_ex(weft_task **out, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    weft__worker *w = weft__tls_worker;
    /* local_only and shares_work: no other worker takes from w, and w is not
     * dedicated nor per-core, so a plain task goes on w's list (no LIFO slot
     * either: a lone worker has no peers). */
    if (WEFT_LIKELY(w && fn && !out && w->local_only && w->shares_work && (!o || plain_opts(o))))
        return spawn_spent(w, spawn_here(w, fn, arg, o));
    if (out)
        *out = NULL;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_spawn: not inside a runtime (weft_rt_block_on runs the first task; "
                                       "weft_rt_spawn hands in work from other threads)");
    if (!fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn: NULL function");
    weft__task *t;
    int r = weft__spawn(w->rt, w, out ? &t : NULL, fn, arg, o, out == NULL);
    if (r == 0 && out)
        *out = weft__task_handle(t);
    return spawn_spent(w, r);
}

int weft_spawn(weft_task **t, weft_fn fn, void *arg)
{
    return weft_spawn_ex(t, fn, arg, NULL);
}

int weft_rt_spawn(weft_rt *rt, weft_task **out, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    if (out)
        *out = NULL;
    if (!rt || !fn)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_spawn: NULL %s", rt ? "function" : "runtime");
    weft__worker *w = weft__tls_worker;
    if (w && w->rt != rt)
        w = NULL;
    /* Another thread's hand-in to a simulation: counted while it lasts, so
     * that a run starting meanwhile waits for it (rt.c, claim). */
    bool outsider = !w && weft__virtual(rt);
    if (outsider) {
        weft__fetch_add(&rt->outsiders, 1u, WEFT__SEQ_CST);
        weft__fence(WEFT__SEQ_CST);
        if (weft__refuses_outsider(rt)) {
            weft__fetch_sub(&rt->outsiders, 1u, WEFT__RELEASE);
            return WEFT_MISUSE_RT(rt, WEFT_EPERM,
                                  "weft_rt_spawn: a simulated runtime takes no work from another thread while it "
                                  "runs (spawn from its tasks, or before weft_rt_block_on)");
        }
    }
    weft__task *t;
    int r = weft__spawn(rt, w, out ? &t : NULL, fn, arg, o, out == NULL);
    if (outsider)
        weft__fetch_sub(&rt->outsiders, 1u, WEFT__RELEASE);
    if (r == 0 && out)
        *out = weft__task_handle(t);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Join, detach, cancel                                                      */
/* ------------------------------------------------------------------------ */

static weft__task *resolve(weft_task *h, const char *what, int *err)
{
    weft__worker *w = weft__tls_worker;
    if (!w) {
        *err = WEFT_MISUSE(WEFT_EPERM, "%s: not inside a runtime", what);
        return NULL;
    }
    weft__task *t = weft__task_from_handle(w->rt, h);
    uintptr_t j = t ? weft__ld_s(w->serial, &t->join, WEFT__ACQUIRE) : 0;
    /* (The root has no handle: only a forged one can name it.) */
    if (!t || j == WEFT__JOIN_DETACHED || t == w->rt->root) {
        *err = WEFT_MISUSE(WEFT_ESRCH, "%s: stale handle (already joined or detached, or never valid)", what);
        return NULL;
    }
    return t;
}

static bool unlink_joiner(weft__task *self)
{
    weft__task *target = self->wait->obj;
    uintptr_t expect = (uintptr_t)self;
    if (self->serial) {
        if (target->join.v != expect)
            return false;
        target->join.v = WEFT__JOIN_NONE;
        return true;
    }
    return weft__cas(&target->join, &expect, WEFT__JOIN_NONE, WEFT__ACQ_REL, WEFT__ACQUIRE);
}

static bool is_joiner(uintptr_t j)
{
    return j != WEFT__JOIN_NONE && j != WEFT__JOIN_DETACHED && j != WEFT__JOIN_FINISHED;
}

int weft_join(weft_task *h, void **result)
{
    int r;
    weft__task *t = resolve(h, "weft_join", &r);
    if (!t)
        return r;
    weft__worker *w = weft__tls_worker;
    weft__task *self = w->current;
    if (t == self)
        return WEFT_MISUSE(WEFT_EDEADLK, "weft_join: a task cannot join itself");
    bool serial = w->serial;
    uintptr_t j = weft__ld_s(serial, &t->join, WEFT__ACQUIRE);
    if (is_joiner(j))
        return WEFT_MISUSE(WEFT_EBUSY, "weft_join: task %llu is already being joined",
                           (unsigned long long)t->node.task_id);
    /* A finished task is reaped even by a cancelled caller: cleanup code
     * must be able to collect its children's results. */
    if (j != WEFT__JOIN_FINISHED) {
        if ((r = weft__blocking_entry(&self, "weft_join")) < 0)
            return r;
        uintptr_t expect = WEFT__JOIN_NONE;
        bool installed;
        if (serial) {
            installed = t->join.v == WEFT__JOIN_NONE;
            if (installed)
                t->join.v = (uintptr_t)self;
            expect = t->join.v;
        } else {
            installed = weft__cas(&t->join, &expect, (uintptr_t)self, WEFT__ACQ_REL, WEFT__ACQUIRE);
        }
        if (installed) {
            if ((r = weft__block(self, WEFT__W_JOIN, t, unlink_joiner, WEFT_NO_DEADLINE)) < 0)
                return r; /* left the wait: the handle stays valid */
        } else if (expect != WEFT__JOIN_FINISHED) {
            return WEFT_MISUSE(WEFT_EBUSY, "weft_join: task %llu is being joined by another task",
                               (unsigned long long)t->node.task_id);
        }
    }
    if (result)
        *result = t->result;
    int status = t->finish_status;
    weft__task_release(w->rt, t);
    return status;
}

int weft_detach(weft_task *h)
{
    int r;
    weft__task *t = resolve(h, "weft_detach", &r);
    if (!t)
        return r;
    weft__worker *w = weft__tls_worker;
    uintptr_t expect = WEFT__JOIN_NONE;
    bool done;
    if (w->serial) {
        expect = t->join.v;
        done = expect == WEFT__JOIN_NONE;
        if (done)
            t->join.v = WEFT__JOIN_DETACHED;
    } else {
        done = weft__cas(&t->join, &expect, WEFT__JOIN_DETACHED, WEFT__ACQ_REL, WEFT__ACQUIRE);
    }
    if (done)
        return 0;
    if (expect == WEFT__JOIN_FINISHED) {
        weft__task_release(w->rt, t);
        return 0;
    }
    return WEFT_MISUSE(WEFT_EBUSY, "weft_detach: task %llu is being joined", (unsigned long long)t->node.task_id);
}

int weft__cancel_task(weft_rt *rt, weft__task *t, int hook_status)
{
    unsigned s = weft__task_get_state(t);
    if (s == WEFT__T_FINISHED || s == WEFT__T_ABANDONED || s == WEFT__T_FREE)
        return 0;
    uint32_t bits = WEFT__CANCEL_REQUESTED | WEFT__CANCEL_LIVE;
    /* Atomic in every runtime: a blocking call's thread reads it (rule 6). */
    uint32_t was = weft__fetch_or(&t->cancel, bits, WEFT__ACQ_REL);
    if (was & WEFT__CANCEL_REQUESTED)
        return 0;
    weft__worker *w = weft__tls_worker;
    if (w && w->rt == rt)
        weft__count(&w->stats.cancelled, 1);
    else
        rt->stats.cancelled++;
    weft__hook(rt, WEFT_HOOK_CANCEL, w && w->rt == rt ? w : NULL, t, hook_status, NULL);
    weft__interrupt(t, WEFT_ECANCELED);
    return 0;
}

int weft_cancel(weft_task *h)
{
    int r;
    weft__task *t = resolve(h, "weft_cancel", &r);
    if (!t)
        return r;
    weft__sched_point(weft__tls_worker);
    return weft__cancel_task(weft__tls_worker->rt, t, WEFT_ECANCELED);
}

uint64_t weft_task_id(void)
{
    weft__task *t = weft__current();
    return t ? t->node.task_id : 0;
}

const char *weft_task_name(void)
{
    weft__task *t = weft__current();
    return t ? weft__task_name(t) : NULL;
}

int weft_worker_index(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? (int)w->index : -1;
}
