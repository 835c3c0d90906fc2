/* timer.c — the hierarchical timing wheel behind weft_timer, weft_sleep and
 * every timeout, under virtual and real time alike.
 *
 * A timer goes to the level of the highest 6-bit group in which its deadline
 * differs from `elapsed`, in the slot of its deadline's digit there: O(1)
 * insert and cancel. As time passes, a higher-level slot is cascaded into the
 * levels below it. The tick is 1 ns, so a level-0 slot holds one exact
 * deadline; its timers fire sorted by the order they were set, which keeps
 * "equal deadlines fire in insertion order" even when some arrived by cascade.
 */
#include "internal.h"

#define TIMER_MAGIC 0x7E3F0000u
#define TIMER_PENDING 0x1u
#define WHERE_DUE 0xFFFFu

static inline unsigned level_for(uint64_t elapsed, uint64_t deadline)
{
    uint64_t diff = (elapsed ^ deadline) | (WEFT__WHEEL_SLOTS - 1);
    return (unsigned)(63 - __builtin_clzll(diff)) / WEFT__WHEEL_BITS;
}

static inline unsigned digit(uint64_t t, unsigned level)
{
    return (unsigned)(t >> (level * WEFT__WHEEL_BITS)) & (WEFT__WHEEL_SLOTS - 1);
}

/* The start of `slot` at `level` within elapsed's enclosing block. */
static inline uint64_t slot_start(uint64_t elapsed, unsigned level, unsigned slot)
{
    unsigned shift = level * WEFT__WHEEL_BITS;
    unsigned block = shift + WEFT__WHEEL_BITS;
    uint64_t base = block >= 64 ? 0 : elapsed & ~((UINT64_C(1) << block) - 1);
    return base | ((uint64_t)slot << shift);
}

static void list_append(weft_timer **head, weft_timer **tail, weft_timer *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void list_unlink(weft_timer **head, weft_timer **tail, weft_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        *tail = t->prev;
    t->next = t->prev = NULL;
}

void weft__wheel_init(weft__wheel *wh, uint64_t now, weft__worker *w)
{
    memset(wh, 0, sizeof *wh);
    wh->elapsed = now;
    wh->worker = w;
}

/* Overdue timers wait in deadline order (equal deadlines in the order set),
 * so they fire as they would have on time. The list is short: it holds only
 * what was set in the past since the last pass. */
static void due_insert(weft__wheel *wh, weft_timer *t)
{
    weft_timer *after = wh->due_tail;
    while (after && after->deadline > t->deadline)
        after = after->prev;
    t->prev = after;
    t->next = after ? after->next : wh->due_head;
    if (t->next)
        t->next->prev = t;
    else
        wh->due_tail = t;
    if (after)
        after->next = t;
    else
        wh->due_head = t;
}

static void place(weft__wheel *wh, weft_timer *t)
{
    if (t->deadline < wh->elapsed) {
        due_insert(wh, t);
        t->where = WHERE_DUE;
        return;
    }
    unsigned level = level_for(wh->elapsed, t->deadline);
    unsigned slot = digit(t->deadline, level);
    list_append(&wh->head[level][slot], &wh->tail[level][slot], t);
    wh->occupied[level] |= UINT64_C(1) << slot;
    t->where = level * WEFT__WHEEL_SLOTS + slot;
}

void weft__wheel_insert(weft__wheel *wh, weft_timer *t)
{
    t->seq = wh->seq++;
    t->wheel = wh;
    t->state |= TIMER_PENDING;
    wh->count++;
    place(wh, t);
}

void weft__wheel_remove(weft__wheel *wh, weft_timer *t)
{
    if (t->where == WHERE_DUE) {
        list_unlink(&wh->due_head, &wh->due_tail, t);
    } else {
        unsigned level = t->where / WEFT__WHEEL_SLOTS, slot = t->where % WEFT__WHEEL_SLOTS;
        list_unlink(&wh->head[level][slot], &wh->tail[level][slot], t);
        if (!wh->head[level][slot])
            wh->occupied[level] &= ~(UINT64_C(1) << slot);
    }
    t->wheel = NULL;
    t->state &= ~TIMER_PENDING;
    wh->count--;
}

typedef struct expiry {
    unsigned level, slot;
    uint64_t start;
} expiry;

/* The occupied slot that starts first; on a tie the higher level wins, so a
 * cascade lands its timers before a level-0 slot of the same time fires. */
static bool next_expiry(const weft__wheel *wh, expiry *out)
{
    bool found = false;
    for (unsigned level = 0; level < WEFT__WHEEL_LEVELS; level++) {
        uint64_t occ = wh->occupied[level];
        if (!occ)
            continue;
        unsigned slot = (unsigned)__builtin_ctzll(occ);
        uint64_t start = slot_start(wh->elapsed, level, slot);
        if (!found || start <= out->start) {
            out->level = level;
            out->slot = slot;
            out->start = start;
            found = true;
        }
    }
    return found;
}

static void cascade(weft__wheel *wh, unsigned level, unsigned slot)
{
    weft_timer *t = wh->head[level][slot];
    wh->head[level][slot] = wh->tail[level][slot] = NULL;
    wh->occupied[level] &= ~(UINT64_C(1) << slot);
    while (t) {
        weft_timer *next = t->next;
        place(wh, t);
        t = next;
    }
}

/* Level-0 slots are almost always already in seq order; sort if not. */
static void sort_slot_by_seq(weft__wheel *wh, unsigned slot)
{
    weft_timer **head = &wh->head[0][slot], **tail = &wh->tail[0][slot];
    bool sorted = true;
    for (weft_timer *t = *head; t && t->next; t = t->next)
        if (t->next->seq < t->seq)
            sorted = false;
    if (sorted)
        return;
    weft_timer *in = *head, *out_head = NULL, *out_tail = NULL;
    while (in) {
        weft_timer *t = in;
        in = in->next;
        weft_timer *after = out_tail;
        while (after && after->seq > t->seq)
            after = after->prev;
        t->prev = after;
        t->next = after ? after->next : out_head;
        if (t->next)
            t->next->prev = t;
        else
            out_tail = t;
        if (after)
            after->next = t;
        else
            out_head = t;
    }
    *head = out_head;
    *tail = out_tail;
}

/* Cascade every slot whose range has begun, so the first occupied slot tells
 * the exact earliest deadline. */
uint64_t weft__wheel_next_deadline(weft__wheel *wh)
{
    if (wh->due_head)
        return wh->due_head->deadline;
    expiry e;
    while (next_expiry(wh, &e)) {
        if (e.level == 0)
            return e.start;
        if (e.start <= wh->elapsed) {
            cascade(wh, e.level, e.slot);
            continue;
        }
        uint64_t min = UINT64_MAX;
        for (weft_timer *t = wh->head[e.level][e.slot]; t; t = t->next)
            if (t->deadline < min)
                min = t->deadline;
        return min;
    }
    return UINT64_MAX;
}

static void fire(weft__wheel *wh, weft_timer *t, weft_timer **head, weft_timer **tail)
{
    list_unlink(head, tail, t);
    t->wheel = NULL;
    t->state &= ~TIMER_PENDING;
    wh->count--;
    t->cb(t, t->arg);
}

size_t weft__wheel_advance(weft__wheel *wh, uint64_t now)
{
    /* Timers set by the callbacks of this pass wait for the next pass: a
     * callback that re-arms itself for `now` cannot spin us forever. */
    uint64_t limit = wh->seq;
    size_t fired = 0;
    for (;;) { /* in deadline order; timers set by these callbacks wait */
        weft_timer *t = wh->due_head;
        while (t && t->seq >= limit)
            t = t->next;
        if (!t)
            break;
        fire(wh, t, &wh->due_head, &wh->due_tail);
        fired++;
    }
    expiry e;
    while (next_expiry(wh, &e) && e.start <= now) {
        if (e.level > 0) {
            if (e.start > wh->elapsed)
                wh->elapsed = e.start;
            cascade(wh, e.level, e.slot);
            continue;
        }
        wh->elapsed = e.start;
        sort_slot_by_seq(wh, e.slot);
        weft_timer **head = &wh->head[0][e.slot], **tail = &wh->tail[0][e.slot];
        while (*head && (*head)->seq < limit) {
            fire(wh, *head, head, tail);
            fired++;
        }
        if (*head)
            return fired; /* only timers newer than this pass remain here */
        wh->occupied[0] &= ~(UINT64_C(1) << e.slot);
    }
    if (now + 1 > wh->elapsed && now != UINT64_MAX)
        wh->elapsed = now + 1;
    return fired;
}

/* The runtime is going: disarm every timer still armed, so none is left
 * pointing into a wheel that no longer exists (a caller's weft_timer can be
 * initialised and started again on another runtime). */
void weft__wheel_clear(weft__wheel *wh)
{
    for (unsigned level = 0; level < WEFT__WHEEL_LEVELS; level++)
        for (unsigned slot = 0; slot < WEFT__WHEEL_SLOTS; slot++)
            while (wh->head[level][slot])
                weft__wheel_remove(wh, wh->head[level][slot]);
    while (wh->due_head)
        weft__wheel_remove(wh, wh->due_head);
}

/* ------------------------------------------------------------------------ */
/* The public caller-allocated timer                                         */
/* ------------------------------------------------------------------------ */

static bool timer_valid(const weft_timer *t)
{
    return t && (t->state & ~TIMER_PENDING) == TIMER_MAGIC;
}

int weft_timer_init(weft_timer *t)
{
    if (!t)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_init: NULL timer");
    memset(t, 0, sizeof *t);
    t->state = TIMER_MAGIC;
    return 0;
}

int weft_timer_start(weft_timer *t, uint64_t deadline, weft_timer_cb cb, void *arg)
{
    if (!timer_valid(t) || !cb)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_start: %s", cb ? "timer not initialized" : "NULL callback");
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_timer_start: not on a runtime (call it from a task or a timer)");
    if (t->wheel)
        weft__wheel_remove(t->wheel, t);
    t->deadline = deadline;
    t->cb = cb;
    t->arg = arg;
    weft__wheel_insert(&w->wheel, t);
    return 0;
}

int weft_timer_stop(weft_timer *t)
{
    if (!timer_valid(t))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_timer_stop: timer not initialized");
    if (!t->wheel)
        return WEFT_EALREADY;
    weft__wheel_remove(t->wheel, t);
    return 0;
}

int weft_timer_pending(const weft_timer *t)
{
    return timer_valid(t) && t->wheel != NULL;
}
