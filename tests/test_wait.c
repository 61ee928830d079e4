/* The wait layer itself, on whichever backend this build uses: wake counts are
 * exact, timeouts never come early, timed sleepers racing wakes all return. */
#include "check.h"
#include "internal.h"

#include <unistd.h>

static _Atomic uint32_t word_a, word_b;
static _Atomic int arrived, returned;

static void *sleeper(void *arg)
{
    const _Atomic uint32_t *w = arg;
    atomic_fetch_add(&arrived, 1);
    /* Callers loop: a return may be spurious. Here the "condition" is word_b
     * changing to 1 or this thread being woken, and the wake count tells. */
    while (wf_wait(w, 0, WEFT_DEADLINE_NEVER) != 0)
        ;
    atomic_fetch_add(&returned, 1);
    return NULL;
}

static void reset(void)
{
    atomic_store(&word_a, 0);
    atomic_store(&word_b, 0);
    atomic_store(&arrived, 0);
    atomic_store(&returned, 0);
}

/* Wakes `want` threads on w, retrying while they have not reached their sleep yet. */
static void wake_exactly(const _Atomic uint32_t *w, int want)
{
    int woken = 0;
    while (woken < want) {
        woken += wf_wake(w, want - woken);
        CHECK(woken <= want);
        if (woken < want)
            usleep(1000);
    }
}

static void value_mismatch_returns_at_once(void)
{
    reset();
    atomic_store(&word_a, 5);
    CHECK_EQ(wf_wait(&word_a, 4, WEFT_DEADLINE_NEVER), 0);
    CHECK_EQ(wf_wake(&word_a, INT_MAX), 0); /* nobody sleeps */
}

static void timeout_never_early(void)
{
    reset();
    CHECK_EQ(wf_wait(&word_a, 0, weft_deadline_in(0)), ETIMEDOUT);
    for (int i = 0; i < 5; i++) {
        int64_t t0 = weft_now_ns();
        weft_deadline d = weft_deadline_in(WEFT_MS(10));
        int r;
        while ((r = wf_wait(&word_a, 0, d)) == 0)
            ; /* spurious returns are the caller's to absorb */
        CHECK_EQ(r, ETIMEDOUT);
        CHECK(weft_now_ns() >= d.ns);
        CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    }
}

static void wake_counts_exact(void)
{
    enum { N = 4 };
    reset();
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, sleeper, &word_a), 0);
    while (atomic_load(&arrived) < N)
        usleep(1000);
    wake_exactly(&word_a, 1);
    while (atomic_load(&returned) < 1)
        usleep(1000);
    usleep(20000);
    CHECK_EQ(atomic_load(&returned), 1); /* a wake of 1 released exactly one */
    wake_exactly(&word_a, 2);
    while (atomic_load(&returned) < 3)
        usleep(1000);
    wake_exactly(&word_a, 1);
    CHECK_EQ(wf_wake(&word_a, INT_MAX), 0); /* and then nobody is left */
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&returned), N);
}

static void *timed_sleeper(void *arg)
{
    (void)arg;
    weft_deadline d = weft_deadline_in(WEFT_MS(30));
    int r;
    while ((r = wf_wait(&word_a, 0, d)) == 0 && atomic_load(&word_a) == 0)
        ;
    atomic_fetch_add(&returned, 1);
    return (void *)(intptr_t)r;
}

/* Timed sleepers racing wakes: every sleeper returns, none is lost. */
static void timeouts_race_wakes(void)
{
    for (int round = 0; round < 20; round++) {
        reset();
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, timed_sleeper, NULL), 0);
        usleep((useconds_t)(round * 1500));
        wf_wake(&word_a, 1);
        wf_wake(&word_a, 1);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&returned), 4);
    }
}

TEST_MAIN(TEST(value_mismatch_returns_at_once), TEST(timeout_never_early), TEST(wake_counts_exact),
          TEST(timeouts_race_wakes))
