/* weft_sem, plain and bounded: every verb and error code, timeouts never early,
 * wake counts, and the WAITERS bit's state table. */
#include "check.h"

#include <unistd.h>

static void layout_and_zero_init(void)
{
    CHECK(sizeof(weft_sem) <= 8);
    weft_sem zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(weft_sem_value(&zero), 0);
    CHECK(!weft_sem_try_acquire(&zero));
    CHECK_EQ(weft_sem_release(&zero, 1), 0);
    CHECK_EQ(weft_sem_value(&zero), 1);
    CHECK(weft_sem_try_acquire(&zero));
    weft_sem init = WEFT_SEM_INIT(0);
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0);
    weft_sem three = WEFT_SEM_INIT(3);
    CHECK_EQ(weft_sem_value(&three), 3);
    weft_sem b = WEFT_SEM_BOUNDED_INIT(2);
    CHECK_EQ(weft_sem_value(&b), 2);
    CHECK_EQ(weft_sem_release(&b, 1), EOVERFLOW);
}

static void init(void)
{
    weft_sem s, b;
    CHECK_EQ(weft_sem_init(&s, 5), 0);
    CHECK_EQ(weft_sem_value(&s), 5);
    CHECK_EQ(weft_sem_init(&s, WEFT_SEM_VALUE_MAX), 0);
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX);
    CHECK_EQ(weft_sem_init(&s, WEFT_SEM_VALUE_MAX + 1u), EINVAL);
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX); /* unchanged */
    CHECK_EQ(weft_sem_init(&s, UINT32_MAX), EINVAL);
    CHECK_EQ(weft_sem_init(NULL, 1), EINVAL);
    CHECK_EQ(weft_sem_init_bounded(&b, 3), 0);
    CHECK_EQ(weft_sem_value(&b), 3);
    CHECK_EQ(weft_sem_init_bounded(&b, WEFT_SEM_VALUE_MAX + 1u), EINVAL);
    CHECK_EQ(weft_sem_value(&b), 3);
    CHECK_EQ(weft_sem_init_bounded(NULL, 1), EINVAL);
    weft_sem zero_init = WEFT_SEM_INIT(0);
    CHECK_EQ(weft_sem_init(&s, 0), 0);
    CHECK_EQ(memcmp(&s, &zero_init, sizeof s), 0);
}

static void acquire_verbs(void)
{
    weft_sem s;
    CHECK_EQ(weft_sem_init(&s, 4), 0);
    CHECK_EQ(weft_sem_acquire(&s), 0);
    CHECK(weft_sem_try_acquire(&s));
    CHECK_EQ(weft_sem_acquire_for(&s, 0), 0);
    CHECK_EQ(weft_sem_acquire_until(&s, weft_deadline_in(0)), 0);
    CHECK_EQ(weft_sem_value(&s), 0);
    CHECK(!weft_sem_try_acquire(&s));
    CHECK_EQ(weft_sem_acquire_for(&s, 0), ETIMEDOUT);
    CHECK_EQ(weft_sem_acquire_until(&s, weft_deadline_in(0)), ETIMEDOUT);
    CHECK_EQ(weft_sem_value(&s), 0);
    CHECK_EQ(weft_sem_release(&s, 3), 0);
    CHECK_EQ(weft_sem_value(&s), 3);
    CHECK_EQ(weft_sem_acquire_for(&s, WEFT_MS(10)), 0);
    CHECK_EQ(weft_sem_acquire_for(&s, WEFT_FOREVER), 0);
    CHECK_EQ(weft_sem_acquire_until(&s, WEFT_DEADLINE_NEVER), 0);
    CHECK_EQ(weft_sem_value(&s), 0);
}

static void bad_input(void)
{
    weft_sem s = WEFT_SEM_INIT(1);
    CHECK_EQ(weft_sem_release(&s, 0), EINVAL);
    CHECK_EQ(weft_sem_value(&s), 1);
    CHECK_EQ(weft_sem_release(NULL, 1), EINVAL);
    CHECK_EQ(weft_sem_acquire(NULL), EINVAL);
    CHECK_EQ(weft_sem_acquire_for(NULL, 0), EINVAL);
    CHECK_EQ(weft_sem_acquire_for(NULL, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_sem_acquire_until(NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK(!weft_sem_try_acquire(NULL));
    CHECK_EQ(weft_sem_value(NULL), 0);
}

static void bounded_over_release(void)
{
    weft_sem b;
    CHECK_EQ(weft_sem_init_bounded(&b, 2), 0);
    CHECK_EQ(weft_sem_release(&b, 1), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&b), 2);
    CHECK_EQ(weft_sem_acquire(&b), 0);
    CHECK_EQ(weft_sem_release(&b, 2), EOVERFLOW); /* all or nothing */
    CHECK_EQ(weft_sem_value(&b), 1);
    CHECK_EQ(weft_sem_release(&b, 1), 0);
    CHECK_EQ(weft_sem_value(&b), 2);
    CHECK_EQ(weft_sem_acquire(&b), 0);
    CHECK_EQ(weft_sem_acquire(&b), 0);
    CHECK_EQ(weft_sem_release(&b, 2), 0);
    CHECK_EQ(weft_sem_release(&b, 1), EOVERFLOW);
    CHECK_EQ(weft_sem_release(&b, UINT32_MAX), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&b), 2);

    /* A bounded semaphore of 0 (Python allows it) can never be released. */
    weft_sem z;
    CHECK_EQ(weft_sem_init_bounded(&z, 0), 0);
    CHECK_EQ(weft_sem_release(&z, 1), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&z), 0);
    weft_sem zi = WEFT_SEM_BOUNDED_INIT(0);
    CHECK_EQ(weft_sem_release(&zi, 1), EOVERFLOW);
}

static void counter_overflow(void)
{
    weft_sem s;
    CHECK_EQ(weft_sem_init(&s, WEFT_SEM_VALUE_MAX - 1), 0);
    CHECK_EQ(weft_sem_release(&s, 2), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX - 1);
    CHECK_EQ(weft_sem_release(&s, 1), 0);
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX);
    CHECK_EQ(weft_sem_release(&s, 1), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX);
    CHECK(weft_sem_try_acquire(&s));
    CHECK_EQ(weft_sem_value(&s), WEFT_SEM_VALUE_MAX - 1);

    weft_sem z = WEFT_SEM_INIT(0);
    CHECK_EQ(weft_sem_release(&z, WEFT_SEM_VALUE_MAX + 1u), EOVERFLOW);
    CHECK_EQ(weft_sem_release(&z, UINT32_MAX), EOVERFLOW);
    CHECK_EQ(weft_sem_value(&z), 0);
    CHECK_EQ(weft_sem_release(&z, WEFT_SEM_VALUE_MAX), 0);
    CHECK_EQ(weft_sem_value(&z), WEFT_SEM_VALUE_MAX);
}

static weft_sem shared;

static void *timed_acquirer(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_sem_acquire_for(&shared, timeout), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout); /* never early */
    weft_deadline d = weft_deadline_in(timeout);
    CHECK_EQ(weft_sem_acquire_until(&shared, d), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    return NULL;
}

static void timeouts_never_early(void)
{
    CHECK_EQ(weft_sem_init(&shared, 0), 0);
    int64_t timeouts[4] = {WEFT_US(100), WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    wf_test_run_threads(4, timed_acquirer, timeouts, sizeof timeouts[0]);
    CHECK_EQ(weft_sem_value(&shared), 0); /* timed-out waiters took nothing */
    CHECK_EQ(weft_sem_release(&shared, 1), 0);
    CHECK_EQ(weft_sem_value(&shared), 1);
    CHECK(weft_sem_try_acquire(&shared));
}

static _Atomic int acquired;

static void *blocking_acquirer(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_sem_acquire(&shared), 0);
    atomic_fetch_add(&acquired, 1);
    return NULL;
}

static void wait_for_count(int want)
{
    while (atomic_load(&acquired) < want)
        usleep(1000);
}

/* release(n) lets exactly n of the sleepers through; the others sleep on. */
static void release_n_wakes_n(void)
{
    enum { N = 6 };
    CHECK_EQ(weft_sem_init(&shared, 0), 0);
    atomic_store(&acquired, 0);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, blocking_acquirer, NULL), 0);
    usleep(20000);
    CHECK_EQ(atomic_load(&acquired), 0);
    CHECK_EQ(weft_sem_release(&shared, 2), 0);
    wait_for_count(2);
    usleep(20000);
    CHECK_EQ(atomic_load(&acquired), 2);
    CHECK_EQ(weft_sem_release(&shared, 1), 0);
    wait_for_count(3);
    CHECK_EQ(weft_sem_release(&shared, 1), 0);
    CHECK_EQ(weft_sem_release(&shared, 1), 0); /* back to back: a woken thread passes it on */
    wait_for_count(5);
    CHECK_EQ(weft_sem_release(&shared, 4), 0); /* more units than sleepers */
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&acquired), N);
    CHECK_EQ(weft_sem_value(&shared), 3);
}

/* The state table: WAITERS only with count 0, cleared by the release that lifts
 * the count; no trace left once the sleepers are through. */
static void waiters_bit(void)
{
    CHECK_EQ(weft_sem_init(&shared, 0), 0);
    atomic_store(&acquired, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocking_acquirer, NULL), 0);
    while (atomic_load(&shared.value) != WEFT_SEM_WAITERS)
        usleep(1000); /* the sleeper announced itself */
    CHECK_EQ(weft_sem_value(&shared), 0);
    CHECK_EQ(weft_sem_release(&shared, 2), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&shared.value), 1); /* the woken thread left one unit, no flag */
    CHECK(weft_sem_try_acquire(&shared));
    CHECK_EQ(atomic_load(&shared.value), 0);
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(init), TEST(acquire_verbs), TEST(bad_input),
          TEST(bounded_over_release), TEST(counter_overflow), TEST(timeouts_never_early),
          TEST(release_n_wakes_n), TEST(waiters_bit))
