/* Bounded stress for weft_timer, with exact invariants: 10^5 timers started
 * from 4 threads with random intervals, half of them cancelled (at once or a
 * moment later, racing the service thread). Every timer whose cancel returned 0
 * never fires; every other one fires exactly once, never before its interval.
 * Checked once the service thread has gone (so nothing is left to fire). Then
 * the same with timers that restart themselves from their function. */
#include "../check.h"

#include <sched.h>
#include <unistd.h>

bool wf_timer_service_alive(void); /* hidden in the library, for the tests */

/* 10^5 timers under a sanitizer may take a while to drain: a longer bound. */
#define EVENTUALLY_SLOW(cond) EVENTUALLY_WITHIN(cond, WEFT_SEC(60))

typedef struct {
    weft_timer timer;
    int64_t not_before;
    _Atomic int fired;
    int cancel_result; /* -1: not cancelled */
    int restarts_left;
} item;

static item *items;
static long n_items;
static _Atomic long fired_total;

static void fire(void *arg)
{
    item *it = arg;
    CHECK(weft_now_ns() >= it->not_before); /* never early */
    atomic_fetch_add(&it->fired, 1);
    atomic_fetch_add(&fired_total, 1);
}

enum { THREADS = 4 };

static void *starter(void *arg)
{
    int me = *(int *)arg;
    unsigned seed = (unsigned)me * 7919u + 1;
    long per = n_items / THREADS;
    item *mine = items + me * per;
    for (long i = 0; i < per; i++) {
        item *it = &mine[i];
        int64_t interval = (int64_t)(rand_r(&seed) % 20000) * 1000; /* 0 .. 20 ms */
        it->not_before = weft_now_ns() + interval;
        it->cancel_result = -1;
        CHECK_EQ(weft_timer_start(&it->timer, interval, fire, it), 0);
        /* Cancel every other one: i % 4 == 1 at once, i % 4 == 3 sixty-four
         * starts later (some of those have fired by then, or are firing). */
        if (i % 4 == 1)
            it->cancel_result = weft_timer_cancel(&it->timer);
        if (i >= 64 && (i - 64) % 4 == 3)
            mine[i - 64].cancel_result = weft_timer_cancel(&mine[i - 64].timer);
        if (i % 1024 == 0)
            sched_yield();
    }
    /* The last few late cancels. */
    for (long i = per > 64 ? per - 64 : 0; i < per; i++)
        if (i % 4 == 3)
            mine[i].cancel_result = weft_timer_cancel(&mine[i].timer);
    return NULL;
}

static void hundred_thousand_half_cancelled(void)
{
    n_items = wf_test_scale(100000) / (4 * THREADS) * (4 * THREADS);
    items = calloc((size_t)n_items, sizeof *items);
    CHECK(items);
    atomic_store(&fired_total, 0);
    int ids[THREADS];
    for (int i = 0; i < THREADS; i++)
        ids[i] = i;
    wf_test_run_threads(THREADS, starter, ids, sizeof ids[0]);

    long cancelled = 0, busy = 0;
    for (long i = 0; i < n_items; i++) {
        if (items[i].cancel_result == 0)
            cancelled++;
        else if (items[i].cancel_result == EBUSY)
            busy++;
        else
            CHECK_EQ(items[i].cancel_result, -1);
    }
    CHECK_EQ(cancelled + busy, n_items / 2); /* half were cancelled */
    /* Wait for the service thread to go: then no timer is pending any more. */
    EVENTUALLY_SLOW(!wf_timer_service_alive() && atomic_load(&fired_total) == n_items - cancelled);
    for (long i = 0; i < n_items; i++) {
        CHECK(!weft_timer_pending(&items[i].timer));
        CHECK_EQ(atomic_load(&items[i].fired), items[i].cancel_result == 0 ? 0 : 1);
    }
    printf("%ld timers: %ld cancelled in time, %ld cancelled too late, %ld fired\n", n_items,
           cancelled, busy, atomic_load(&fired_total));
    free(items);
}

/* ---- self-restarting timers, cancelled from outside ----------------------------- */

static void fire_and_restart(void *arg)
{
    item *it = arg;
    CHECK(weft_now_ns() >= it->not_before);
    atomic_fetch_add(&it->fired, 1);
    atomic_fetch_add(&fired_total, 1);
    if (it->restarts_left-- > 0) {
        it->not_before = weft_now_ns() + WEFT_US(200);
        CHECK_EQ(weft_timer_start(&it->timer, WEFT_US(200), fire_and_restart, it), 0);
    }
}

static void restarting_timers(void)
{
    enum { N = 200, RESTARTS = 20 };
    item *its = calloc(N, sizeof *its);
    CHECK(its);
    atomic_store(&fired_total, 0);
    for (int i = 0; i < N; i++) {
        its[i].restarts_left = RESTARTS;
        its[i].not_before = weft_now_ns() + WEFT_US(i);
        CHECK_EQ(weft_timer_start(&its[i].timer, WEFT_US(i), fire_and_restart, &its[i]), 0);
    }
    usleep(2000);
    /* Cancel the odd ones, whatever state their cycle is in. cancel waits for a
     * running function, so after it returns nothing touches the item; it may
     * return EBUSY while the function runs, and the function may restart the
     * timer: cancel again until it is stopped or finished. */
    for (int i = 1; i < N; i += 2) {
        int rc;
        do
            rc = weft_timer_cancel(&its[i].timer);
        while (rc == EBUSY && weft_timer_pending(&its[i].timer));
    }
    EVENTUALLY_SLOW(!wf_timer_service_alive());
    long total = 0;
    for (int i = 0; i < N; i++) {
        int f = atomic_load(&its[i].fired);
        if (i % 2 == 0)
            CHECK_EQ(f, RESTARTS + 1); /* every round ran */
        else
            CHECK(f <= RESTARTS + 1);
        total += f;
        CHECK(!weft_timer_pending(&its[i].timer));
    }
    CHECK_EQ(total, atomic_load(&fired_total));
    free(its);
}

TEST_MAIN(TEST(hundred_thousand_half_cancelled), TEST(restarting_timers))
