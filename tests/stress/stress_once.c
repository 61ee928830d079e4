/* Bounded stress for weft_once: round after round, 8 threads race to call a
 * fresh flag; its function runs exactly once, and every caller returns only
 * after it finished and sees what it wrote. */
#include "../check.h"

#include <sched.h>

enum { T = 8 };
static weft_once once;
static _Atomic int runs, finished_runs;
static long written; /* plain: published by the once alone (TSan checks) */
static long rounds;
static pthread_barrier_t start, end;

static void init_fn(void *arg)
{
    long round = *(long *)arg;
    atomic_fetch_add_explicit(&runs, 1, memory_order_relaxed);
    if (round % 4 == 0)
        sched_yield(); /* a slow init, so that callers pile up and sleep */
    written = round;
    atomic_fetch_add_explicit(&finished_runs, 1, memory_order_relaxed);
}

static void *caller(void *arg)
{
    (void)arg;
    for (long r = 0; r < rounds; r++) {
        pthread_barrier_wait(&start);
        long mine = r;
        CHECK_EQ(weft_once_call(&once, init_fn, &mine), 0);
        CHECK_EQ(written, r);
        CHECK_EQ(atomic_load_explicit(&finished_runs, memory_order_relaxed), (int)r + 1);
        CHECK(weft_once_done(&once));
        CHECK_EQ(weft_once_call(&once, init_fn, &mine), 0); /* the fast path now */
        pthread_barrier_wait(&end); /* the main thread resets the flag ... */
        pthread_barrier_wait(&end); /* ... between these two */
    }
    return NULL;
}

static void many_callers_exactly_once(void)
{
    rounds = wf_test_scale(4000);
    CHECK_EQ(pthread_barrier_init(&start, NULL, T + 1), 0);
    CHECK_EQ(pthread_barrier_init(&end, NULL, T + 1), 0);
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, caller, NULL), 0);
    for (long r = 0; r < rounds; r++) {
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&end);
        CHECK_EQ(atomic_load(&runs), (int)r + 1); /* exactly one run this round */
        atomic_store(&once.state, 0);                /* a fresh flag for the next */
        pthread_barrier_wait(&end);
    }
    for (int i = 0; i < T; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(atomic_load(&finished_runs), rounds);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
}

TEST_MAIN(TEST(many_callers_exactly_once))
