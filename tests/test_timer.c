/* test_timer.c — the timing wheel against a reference model (a sorted list)
 * over random operation sequences, and the public weft_timer in a runtime. */
#include "core.h"
#include "support.h"

#include <stdlib.h>

/* ---- the reference model ---- */

enum { MAXT = 512 };

typedef struct model_timer {
    weft_timer t;
    int pending;
    uint64_t key; /* when it is expected to fire: its deadline, or "now" if already past */
    uint64_t seq;
} model_timer;

typedef struct model {
    weft__wheel wheel;
    model_timer timers[MAXT];
    uint64_t seq;
    int fired[MAXT * 4];
    int nfired;
} model;

static void on_fire(weft_timer *t, void *arg)
{
    model *m = arg;
    model_timer *mt = (model_timer *)t;
    m->fired[m->nfired++] = (int)(mt - m->timers);
}

static void model_insert(model *m, int i, uint64_t deadline)
{
    model_timer *mt = &m->timers[i];
    if (mt->pending)
        weft__timer_disarm(&mt->t);
    weft_timer_init(&mt->t);
    mt->t.deadline = deadline;
    mt->t.cb = on_fire;
    mt->t.arg = m;
    weft__wheel_insert(&m->wheel, &mt->t);
    mt->pending = 1;
    /* Past deadlines fire at the next advance, before anything else (they
     * are all earlier than what the wheel holds), in deadline order. */
    mt->key = deadline;
    mt->seq = m->seq++;
}

static int cmp_expected(const void *a, const void *b)
{
    const model_timer *x = *(model_timer *const *)a, *y = *(model_timer *const *)b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void model_advance(model *m, uint64_t now)
{
    model_timer *due[MAXT];
    int n = 0;
    for (int i = 0; i < MAXT; i++)
        if (m->timers[i].pending && m->timers[i].key <= now)
            due[n++] = &m->timers[i];
    qsort(due, (size_t)n, sizeof due[0], cmp_expected);
    m->nfired = 0;
    size_t fired = weft__wheel_advance(&m->wheel, now);
    ck_assert_uint_eq(fired, (size_t)n);
    ck_assert_int_eq(m->nfired, n);
    for (int k = 0; k < n; k++) {
        ck_assert_msg(m->fired[k] == (int)(due[k] - m->timers),
                      "fire #%d at now=%llu: wheel fired timer %d (deadline %llu), model expects %d (deadline %llu)",
                      k, (unsigned long long)now, m->fired[k],
                      (unsigned long long)m->timers[m->fired[k]].t.deadline, (int)(due[k] - m->timers),
                      (unsigned long long)due[k]->t.deadline);
        due[k]->pending = 0;
    }
}

/* The earliest deadline pending (UINT64_MAX: none). */
static uint64_t model_next(model *m)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < MAXT; i++)
        if (m->timers[i].pending && m->timers[i].key < best)
            best = m->timers[i].key;
    return best;
}

static uint64_t pick_deadline(uint64_t *rng, uint64_t now)
{
    uint64_t r = weft__xoshiro_next(rng);
    switch (r % 8) {
    case 0: return now + (r >> 8) % 64;                 /* level 0 */
    case 1: return now + (r >> 8) % 5000;               /* a few levels */
    case 2: return now + (r >> 8) % 4000000000ull;      /* seconds */
    case 3: return now + ((r >> 8) % 4) * 1000;         /* many equal deadlines */
    case 4: return now > 100 ? now - (r >> 8) % 100 : 0; /* already past */
    case 5: return now + ((r >> 8) & 0xFFFFFFFFFFFull);  /* far levels */
    case 6: return now;                                  /* exactly now */
    default: return now + 64 * ((r >> 8) % 200);        /* slot boundaries */
    }
}

static void run_model(uint64_t seed, uint64_t start)
{
    model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    weft__wheel_init(&m->wheel, start, true);
    uint64_t rng[4];
    weft__xoshiro_seed(rng, seed);
    uint64_t now = start;
    for (int op = 0; op < 4000; op++) {
        uint64_t r = weft__xoshiro_next(rng);
        int i = (int)(r % MAXT);
        switch ((r >> 16) % 10) {
        case 0: case 1: case 2: case 3:
            model_insert(m, i, pick_deadline(rng, now));
            break;
        case 4: case 5:
            if (m->timers[i].pending) {
                weft__timer_disarm(&m->timers[i].t);
                m->timers[i].pending = 0;
            }
            break;
        case 6:
            ck_assert_uint_eq(weft__wheel_next_deadline(&m->wheel), model_next(m));
            break;
        default: {
            uint64_t step = (r >> 24) % 8 == 0 ? (r >> 30) % 3000000000ull : (r >> 24) % 3000;
            now += step;
            model_advance(m, now);
        }
        }
        uint64_t pending = 0;
        for (int k = 0; k < MAXT; k++)
            pending += m->timers[k].pending;
        ck_assert_uint_eq(m->wheel.count.v, pending);
    }
    /* Drain: jumping to each next deadline fires everything in order. */
    for (uint64_t next; (next = weft__wheel_next_deadline(&m->wheel)) != UINT64_MAX;) {
        ck_assert_uint_eq(next, model_next(m));
        if (next > now)
            now = next;
        model_advance(m, now);
    }
    free(m);
}

START_TEST(wheel_matches_reference_model)
{
    for (uint64_t seed = 1; seed <= 60; seed++)
        run_model(seed, seed % 3 == 0 ? 0 : seed * 0x123456789ull);
}
END_TEST

START_TEST(wheel_equal_deadlines_fire_in_insertion_order_across_levels)
{
    /* Timer A is set far ahead (a high level); B is set for the same time
     * later, when it lands in level 0 directly. A must still fire first. */
    model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    weft__wheel_init(&m->wheel, 0, true);
    model_insert(m, 0, 100000);
    model_advance(m, 99990);
    model_insert(m, 1, 100000);
    model_insert(m, 2, 100000);
    model_advance(m, 100000);
    ck_assert_int_eq(m->nfired, 3);
    ck_assert_int_eq(m->fired[0], 0);
    ck_assert_int_eq(m->fired[1], 1);
    ck_assert_int_eq(m->fired[2], 2);
    free(m);
}
END_TEST

START_TEST(wheel_extreme_deadlines)
{
    model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    weft__wheel_init(&m->wheel, 0, true);
    model_insert(m, 0, UINT64_MAX - 1);
    model_insert(m, 1, 1ull << 63);
    ck_assert_uint_eq(weft__wheel_next_deadline(&m->wheel), 1ull << 63);
    model_advance(m, (1ull << 63) + 5);
    ck_assert_int_eq(m->nfired, 1);
    ck_assert_uint_eq(weft__wheel_next_deadline(&m->wheel), UINT64_MAX - 1);
    model_advance(m, UINT64_MAX - 1);
    ck_assert_int_eq(m->nfired, 1);
    ck_assert_uint_eq(m->wheel.count.v, 0);
    free(m);
}
END_TEST

/* ---- the public timer in a runtime ---- */

typedef struct fires {
    int order[8];
    uint64_t at[8];
    int n;
} fires;

static weft_timer g_timers[4];

static void record_which(weft_timer *t, void *arg)
{
    fires *f = arg;
    f->order[f->n] = (int)(t - g_timers);
    f->at[f->n++] = weft_now();
}

static void *public_timer_body(void *arg)
{
    fires *f = arg;
    uint64_t t0 = weft_now();
    for (int i = 0; i < 4; i++)
        ck_assert_weft(weft_timer_init(&g_timers[i]), 0);
    /* Same deadline for 1, 2, 3 (set in that order), earlier for 0. */
    ck_assert_weft(weft_timer_start(&g_timers[1], t0 + 5000, record_which, f), 0);
    ck_assert_weft(weft_timer_start(&g_timers[2], t0 + 5000, record_which, f), 0);
    ck_assert_weft(weft_timer_start(&g_timers[3], t0 + 5000, record_which, f), 0);
    ck_assert_weft(weft_timer_start(&g_timers[0], t0 + 1000, record_which, f), 0);
    ck_assert_int_eq(weft_timer_pending(&g_timers[0]), 1);
    ck_assert_weft(weft_sleep(10000), 0);
    ck_assert_int_eq(f->n, 4);
    ck_assert_uint_eq(f->at[0], t0 + 1000); /* virtual time: exactly the deadline */
    ck_assert_int_eq(weft_timer_pending(&g_timers[0]), 0);
    ck_assert_weft(weft_timer_stop(&g_timers[0]), WEFT_EALREADY);
    /* Stop before it fires: it never fires; re-arm moves it. */
    uint64_t t1 = weft_now();
    ck_assert_weft(weft_timer_start(&g_timers[0], t1 + 100, record_which, f), 0);
    ck_assert_weft(weft_timer_stop(&g_timers[0]), 0);
    ck_assert_weft(weft_timer_start(&g_timers[1], t1 + 100, record_which, f), 0);
    ck_assert_weft(weft_timer_start(&g_timers[1], t1 + 300, record_which, f), 0);
    ck_assert_weft(weft_sleep(1000), 0);
    ck_assert_int_eq(f->n, 5);
    ck_assert_uint_eq(f->at[4], t1 + 300);
    return NULL;
}

START_TEST(public_timers_fire_in_deadline_then_start_order)
{
    fires f = {0};
    ck_assert_weft(run_sim(1, 0, public_timer_body, &f), 0);
    ck_assert_int_eq(f.n, 5);
    int want[5] = {0, 1, 2, 3, 1};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(f.order[i], want[i]);
    /* Virtual time: exactly the deadlines. */
    ck_assert_uint_eq(f.at[1] - f.at[0], 4000);
    ck_assert_uint_eq(f.at[3], f.at[1]);
    ck_assert_uint_eq(f.at[4] - f.at[3], 10000 - 5000 + 300);
}
END_TEST

START_TEST(timer_bad_input)
{
    weft_timer t;
    memset(&t, 0xAB, sizeof t);
    ck_assert_weft(weft_timer_start(&t, 1, record_which, NULL), WEFT_EINVAL); /* not initialized */
    ck_assert_weft(weft_timer_stop(&t), WEFT_EINVAL);
    ck_assert_weft(weft_timer_init(NULL), WEFT_EINVAL);
    ck_assert_weft(weft_timer_init(&t), 0);
    ck_assert_weft(weft_timer_start(&t, 1, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_timer_start(&t, 1, record_which, NULL), WEFT_EPERM); /* outside a runtime */
    ck_assert_weft(weft_timer_stop(&t), WEFT_EALREADY);
    ck_assert_int_eq(weft_timer_pending(NULL), 0);
}
END_TEST

Suite *suite_timer(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("wheel");
    tcase_add_test(tc, wheel_matches_reference_model);
    tcase_add_test(tc, wheel_equal_deadlines_fire_in_insertion_order_across_levels);
    tcase_add_test(tc, wheel_extreme_deadlines);
    tcase_add_test(tc, public_timers_fire_in_deadline_then_start_order);
    tcase_add_test(tc, timer_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
