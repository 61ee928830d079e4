/* weft_event: set/clear/is_set/wait, bad input, timeouts never early, set wakes
 * every waiter, a waiter that was waiting across set+clear returns 0, and the
 * word's state table (generation, WAITERS only while unset). */
#include "check.h"

#include <unistd.h>

#define GEN_MASK (~(WEFT_EVENT_SET | WEFT_EVENT_WAITERS))

static void layout_and_zero_init(void)
{
    CHECK_EQ(sizeof(weft_event), 4);
    weft_event zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!weft_event_is_set(&zero));
    CHECK_EQ(weft_event_wait(&zero, 0), ETIMEDOUT);
    weft_event init = WEFT_EVENT_INIT;
    CHECK(!weft_event_is_set(&init));
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0);
}

static void set_clear_is_set(void)
{
    weft_event e = WEFT_EVENT_INIT;
    CHECK_EQ(weft_event_set(&e), 0);
    CHECK(weft_event_is_set(&e));
    CHECK_EQ(atomic_load(&e.word), WEFT_EVENT_GEN_ONE | WEFT_EVENT_SET);
    CHECK_EQ(weft_event_set(&e), 0); /* idempotent: no new generation */
    CHECK_EQ(atomic_load(&e.word), WEFT_EVENT_GEN_ONE | WEFT_EVENT_SET);
    CHECK_EQ(weft_event_wait(&e, 0), 0);
    CHECK_EQ(weft_event_wait(&e, WEFT_FOREVER), 0);
    CHECK_EQ(weft_event_wait(&e, WEFT_MS(1)), 0);
    CHECK_EQ(weft_event_wait_until(&e, weft_deadline_in(0)), 0);
    CHECK_EQ(weft_event_clear(&e), 0);
    CHECK(!weft_event_is_set(&e));
    CHECK_EQ(weft_event_clear(&e), 0);
    CHECK(!weft_event_is_set(&e));
    CHECK_EQ(atomic_load(&e.word), WEFT_EVENT_GEN_ONE);
    CHECK_EQ(weft_event_wait(&e, 0), ETIMEDOUT);
    CHECK_EQ(weft_event_wait_until(&e, weft_deadline_in(0)), ETIMEDOUT);
    CHECK_EQ(weft_event_set(&e), 0);
    CHECK_EQ(atomic_load(&e.word), 2 * WEFT_EVENT_GEN_ONE | WEFT_EVENT_SET);
}

static void bad_input(void)
{
    CHECK_EQ(weft_event_set(NULL), EINVAL);
    CHECK_EQ(weft_event_clear(NULL), EINVAL);
    CHECK(!weft_event_is_set(NULL));
    CHECK_EQ(weft_event_wait(NULL, 0), EINVAL);
    CHECK_EQ(weft_event_wait(NULL, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_event_wait(NULL, WEFT_FOREVER), EINVAL);
    CHECK_EQ(weft_event_wait_until(NULL, WEFT_DEADLINE_NEVER), EINVAL);
}

static weft_event shared;

static void *timed_waiter(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_event_wait(&shared, timeout), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout); /* never early */
    weft_deadline d = weft_deadline_in(timeout);
    CHECK_EQ(weft_event_wait_until(&shared, d), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    return NULL;
}

static void timeouts_never_early(void)
{
    atomic_store(&shared.word, 0);
    int64_t timeouts[4] = {WEFT_US(100), WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    wf_test_run_threads(4, timed_waiter, timeouts, sizeof timeouts[0]);
    CHECK(!weft_event_is_set(&shared));
    CHECK_EQ(weft_event_set(&shared), 0); /* wakes nobody, leaves a clean word */
    CHECK_EQ(atomic_load(&shared.word) & WEFT_EVENT_WAITERS, 0);
}

static _Atomic int returned;
static int payload; /* plain: the event alone orders it (TSan checks) */

static void *forever_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_event_wait(&shared, WEFT_FOREVER), 0);
    CHECK_EQ(payload, 42);
    atomic_fetch_add(&returned, 1);
    return NULL;
}

static void set_wakes_all(void)
{
    enum { N = 6 };
    atomic_store(&shared.word, 0);
    atomic_store(&returned, 0);
    payload = 0;
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, forever_waiter, NULL), 0);
    usleep(20000);
    CHECK_EQ(atomic_load(&returned), 0);
    payload = 42;
    CHECK_EQ(weft_event_set(&shared), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&returned), N);
    CHECK_EQ(atomic_load(&shared.word) & WEFT_EVENT_WAITERS, 0); /* set dropped the flag */
}

/* Python's semantics: a waiter that was waiting when set() happened returns 0
 * even though clear() follows at once. The waiter has read the generation once
 * WAITERS shows on the word, so the test knows when to set; one waiter per round
 * keeps that exact. */
static void *gen_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_event_wait(&shared, WEFT_FOREVER), 0);
    atomic_fetch_add(&returned, 1);
    return NULL;
}

static void set_then_clear_still_wakes(void)
{
    const uint32_t starts[3] = {0, 12345 * WEFT_EVENT_GEN_ONE, GEN_MASK /* about to wrap */};
    for (int round = 0; round < 30; round++) {
        atomic_store(&shared.word, starts[round % 3]);
        atomic_store(&returned, 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, gen_waiter, NULL), 0);
        while (!(atomic_load(&shared.word) & WEFT_EVENT_WAITERS))
            usleep(100);
        if (round % 2)
            usleep(2000); /* most likely asleep by now; either way it must return */
        CHECK_EQ(weft_event_set(&shared), 0);
        CHECK_EQ(weft_event_clear(&shared), 0);
        pthread_join(th, NULL);
        CHECK_EQ(atomic_load(&returned), 1);
        CHECK(!weft_event_is_set(&shared));
        CHECK_EQ(atomic_load(&shared.word),
                 (starts[round % 3] + WEFT_EVENT_GEN_ONE) & GEN_MASK); /* wrapped at the top */
    }
}

/* A waiter whose timeout runs out just as set happens returns 0 or ETIMEDOUT,
 * never ETIMEDOUT early, and the word stays consistent. */
static void *racing_waiter(void *arg)
{
    (void)arg;
    int64_t t0 = weft_now_ns();
    int r = weft_event_wait(&shared, WEFT_US(200));
    CHECK(r == 0 || (r == ETIMEDOUT && weft_now_ns() - t0 >= WEFT_US(200)));
    return NULL;
}

static void timeout_races_set(void)
{
    for (int round = 0; round < 50; round++) {
        atomic_store(&shared.word, 0);
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, racing_waiter, NULL), 0);
        usleep(round % 5 * 60);
        CHECK_EQ(weft_event_set(&shared), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&shared.word), WEFT_EVENT_GEN_ONE | WEFT_EVENT_SET);
    }
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(set_clear_is_set), TEST(bad_input),
          TEST(timeouts_never_early), TEST(set_wakes_all), TEST(set_then_clear_still_wakes),
          TEST(timeout_races_set))
