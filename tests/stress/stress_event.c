/* Bounded stress for weft_event:
 *  - set/clear storms with no lost wakeup: waiters loop on wait() while a stormer
 *    sets and at once clears; every wait must come back (a stranded sleeper trips
 *    the watchdog), timed ones never early;
 *  - rounds: waiters are let through by exactly the set of their round, never
 *    before it (no spurious return) and never left behind. */
#include "../check.h"

#include <sched.h>

static weft_event event;
static _Atomic long progress;
static _Atomic int finished;
static _Atomic bool stop;

/* Joins n threads, aborting if `progress` stands still for 20 s. */
static void join_watched(pthread_t *th, int n, int must_finish)
{
    long last = -1;
    int64_t since = weft_now_ns();
    while (atomic_load(&finished) < must_finish) {
        long p = atomic_load(&progress);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        } else if (weft_now_ns() - since > WEFT_SEC(20)) {
            fprintf(stderr, "stuck: progress %ld, word %#x, %d threads done\n", p,
                    (unsigned)atomic_load(&event.word), atomic_load(&finished));
            abort();
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
}

/* ---- storm ------------------------------------------------------------------------ */
static long waits_per_thread;

static void *storm_waiter(void *arg)
{
    int id = *(int *)arg;
    for (long i = 0; i < waits_per_thread; i++) {
        if (id % 2 == 0 || i % 3) {
            CHECK_EQ(weft_event_wait(&event, WEFT_FOREVER), 0);
        } else {
            int64_t t0 = weft_now_ns();
            int r = weft_event_wait(&event, WEFT_US(20));
            CHECK(r == 0 || (r == ETIMEDOUT && weft_now_ns() - t0 >= WEFT_US(20)));
        }
        atomic_fetch_add(&progress, 1);
        /* Make the next wait need a new set: most of them then sleep. */
        while (weft_event_is_set(&event))
            sched_yield();
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *stormer(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        CHECK_EQ(weft_event_set(&event), 0);
        if (i % 4 == 0)
            sched_yield(); /* sometimes leave it set a while */
        CHECK_EQ(weft_event_clear(&event), 0);
        if (i % 8 == 0)
            sched_yield(); /* and sometimes unset, so the waiters sleep */
    }
    return NULL;
}

static void set_clear_storm(void)
{
    enum { W = 5 };
    waits_per_thread = wf_test_scale(20000);
    atomic_store(&event.word, 0);
    atomic_store(&progress, 0);
    atomic_store(&finished, 0);
    atomic_store(&stop, false);
    pthread_t th[W + 1];
    int ids[W];
    for (int i = 0; i < W; i++) {
        ids[i] = i;
        CHECK_EQ(pthread_create(&th[i], NULL, storm_waiter, &ids[i]), 0);
    }
    CHECK_EQ(pthread_create(&th[W], NULL, stormer, NULL), 0);
    join_watched(th, W + 1, W);
    CHECK_EQ(atomic_load(&progress), W * waits_per_thread);
    weft_event_clear(&event);
    CHECK_EQ(atomic_load(&event.word) & (WEFT_EVENT_SET | WEFT_EVENT_WAITERS), 0);
}

/* ---- rounds ----------------------------------------------------------------------- */
enum { ROUND_WAITERS = 4 };
static long rounds;
static _Atomic long arrived, acked, round_set, round_cleared;

static void *round_waiter(void *arg)
{
    (void)arg;
    for (long r = 1; r <= rounds; r++) {
        while (atomic_load(&round_cleared) < r - 1)
            sched_yield(); /* the last round's set is still up */
        atomic_fetch_add(&arrived, 1);
        CHECK_EQ(weft_event_wait(&event, WEFT_FOREVER), 0);
        CHECK(atomic_load(&round_set) >= r); /* not before this round's set */
        atomic_fetch_add(&acked, 1);
        atomic_fetch_add(&progress, 1);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *round_master(void *arg)
{
    (void)arg;
    for (long r = 1; r <= rounds; r++) {
        while (atomic_load(&arrived) < r * ROUND_WAITERS)
            sched_yield();
        atomic_store(&round_set, r);
        CHECK_EQ(weft_event_set(&event), 0);
        while (atomic_load(&acked) < r * ROUND_WAITERS)
            sched_yield();
        CHECK_EQ(weft_event_clear(&event), 0);
        atomic_store(&round_cleared, r);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void rounds_exact(void)
{
    rounds = wf_test_scale(3000);
    atomic_store(&event.word, 0);
    atomic_store(&progress, 0);
    atomic_store(&finished, 0);
    atomic_store(&stop, false);
    pthread_t th[ROUND_WAITERS + 1];
    for (int i = 0; i < ROUND_WAITERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, round_waiter, NULL), 0);
    CHECK_EQ(pthread_create(&th[ROUND_WAITERS], NULL, round_master, NULL), 0);
    join_watched(th, ROUND_WAITERS + 1, ROUND_WAITERS + 1);
    CHECK_EQ(atomic_load(&acked), rounds * ROUND_WAITERS);
    CHECK(!weft_event_is_set(&event));
}

TEST_MAIN(TEST(set_clear_storm), TEST(rounds_exact))
