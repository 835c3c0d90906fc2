/* fuzz_timer_wheel.c — the timing wheel against a sorted-list model, with
 * the operation sequence taken from the fuzzer's bytes. After every
 * operation the wheel's count and next deadline must match the model's; each
 * advance must fire exactly what the model says is due, in its order. */
#include "core.h"

#include <stdlib.h>

enum { N = 64 };

typedef struct slot {
    weft_timer t;
    int pending;
    uint64_t key, seq;
} slot;

static slot timers[N];
static int fired[N], nfired;
static uint64_t seq;

static void on_fire(weft_timer *t, void *arg)
{
    (void)arg;
    if (nfired == N) /* more firings than timers: one fired twice */
        abort();
    fired[nfired++] = (int)((slot *)t - timers);
}

/* The model's count of pending timers and its earliest deadline. */
static void model_state(uint64_t *count, uint64_t *next)
{
    *count = 0;
    *next = UINT64_MAX;
    for (int k = 0; k < N; k++)
        if (timers[k].pending) {
            ++*count;
            if (timers[k].key < *next)
                *next = timers[k].key;
        }
}

static uint64_t take(const uint8_t **p, const uint8_t *end, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && *p < end; i++)
        v = (v << 8) | *(*p)++;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft__wheel *wh = calloc(1, sizeof *wh);
    if (!wh)
        abort();
    memset(timers, 0, sizeof timers);
    const uint8_t *p = data, *end = data + size;
    uint64_t now = take(&p, end, 4);
    weft__wheel_init(wh, now, true);
    seq = 0;
    while (p < end) {
        uint8_t op = *p++;
        int i = op % N;
        switch (op >> 6) {
        case 0:
        case 1: {
            uint64_t d = now + take(&p, end, 1 + (op & 3) * 2);
            if (timers[i].pending)
                weft__timer_disarm(&timers[i].t);
            weft_timer_init(&timers[i].t);
            timers[i].t.deadline = d;
            timers[i].t.cb = on_fire;
            weft__wheel_insert(wh, &timers[i].t);
            timers[i].pending = 1;
            timers[i].key = d; /* overdue ones too fire in deadline order */
            timers[i].seq = seq++;
            break;
        }
        case 2:
            if (timers[i].pending) {
                weft__timer_disarm(&timers[i].t);
                timers[i].pending = 0;
            }
            break;
        default: {
            now += take(&p, end, 1 + (op & 3));
            /* The model: everything due, by (key, seq). */
            int want[N], n = 0;
            for (int k = 0; k < N; k++)
                if (timers[k].pending && timers[k].key <= now)
                    want[n++] = k;
            for (int a = 1; a < n; a++)
                for (int b = a; b > 0; b--) {
                    slot *x = &timers[want[b - 1]], *y = &timers[want[b]];
                    if (x->key > y->key || (x->key == y->key && x->seq > y->seq)) {
                        int t = want[b];
                        want[b] = want[b - 1];
                        want[b - 1] = t;
                    }
                }
            nfired = 0;
            if (weft__wheel_advance(wh, now) != (size_t)n || nfired != n)
                abort();
            for (int k = 0; k < n; k++) {
                if (fired[k] != want[k])
                    abort();
                timers[want[k]].pending = 0;
            }
        }
        }
        uint64_t count, next;
        model_state(&count, &next);
        if (wh->count.v != count || weft__wheel_next_deadline(wh) != next)
            abort();
    }
    free(wh);
    return 0;
}
