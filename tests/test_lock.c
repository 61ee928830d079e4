#include "check.h"

#include <unistd.h>

static void layout_and_zero_init(void)
{
    CHECK_EQ(sizeof(weft_lock), 4);
    weft_lock zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!weft_lock_locked(&zero));
    CHECK(weft_lock_try_acquire(&zero));
    weft_lock init = WEFT_LOCK_INIT;
    CHECK(!weft_lock_locked(&init));
}

static void acquire_release(void)
{
    weft_lock l = WEFT_LOCK_INIT;
    CHECK_EQ(weft_lock_acquire(&l), 0);
    CHECK(weft_lock_locked(&l));
    CHECK(!weft_lock_try_acquire(&l));
    CHECK_EQ(weft_lock_acquire_for(&l, 0), ETIMEDOUT);
    CHECK_EQ(weft_lock_release(&l), 0);
    CHECK(!weft_lock_locked(&l));
    CHECK_EQ(weft_lock_acquire_for(&l, 0), 0);
    CHECK_EQ(weft_lock_release(&l), 0);
    CHECK_EQ(weft_lock_acquire_for(&l, WEFT_FOREVER), 0);
    CHECK_EQ(weft_lock_release(&l), 0);
}

static void null_is_einval(void)
{
    weft_lock *none = NULL;
    CHECK_EQ(weft_lock_acquire(none), EINVAL);
    CHECK_EQ(weft_lock_acquire_for(none, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_lock_acquire_for(none, 0), EINVAL);
    CHECK_EQ(weft_lock_acquire_until(none, weft_deadline_in(WEFT_MS(1))), EINVAL);
    CHECK(!weft_lock_try_acquire(none));
    CHECK_EQ(weft_lock_release(none), EINVAL);
    CHECK(!weft_lock_locked(none));
}

static void release_unlocked_is_eperm(void)
{
    weft_lock l = WEFT_LOCK_INIT;
    CHECK_EQ(weft_lock_release(&l), EPERM);
    CHECK(!weft_lock_locked(&l));
    CHECK_EQ(weft_lock_acquire(&l), 0);
    CHECK_EQ(weft_lock_release(&l), 0);
    CHECK_EQ(weft_lock_release(&l), EPERM); /* double release */
    CHECK(weft_lock_try_acquire(&l));      /* and the lock still works */
    CHECK_EQ(weft_lock_release(&l), 0);
}

static weft_lock shared_lock = WEFT_LOCK_INIT;

static void *release_from_other_thread(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_lock_release(&shared_lock), 0);
    return NULL;
}

static void any_thread_may_release(void)
{
    CHECK_EQ(weft_lock_acquire(&shared_lock), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, release_from_other_thread, NULL), 0);
    pthread_join(th, NULL);
    CHECK(!weft_lock_locked(&shared_lock));
}

static void *timed_acquirer(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    int r = weft_lock_acquire_for(&shared_lock, timeout);
    CHECK_EQ(r, ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout); /* never early */
    return NULL;
}

static void timeout_while_held(void)
{
    CHECK_EQ(weft_lock_acquire(&shared_lock), 0);
    int64_t timeouts[3] = {WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    wf_test_run_threads(3, timed_acquirer, timeouts, sizeof timeouts[0]);
    CHECK_EQ(weft_lock_release(&shared_lock), 0);
    CHECK(!weft_lock_locked(&shared_lock)); /* timed-out waiters left nothing behind */
    CHECK(weft_lock_try_acquire(&shared_lock));
    CHECK_EQ(weft_lock_release(&shared_lock), 0);
}

static _Atomic int handed;

static void *blocking_acquirer(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_lock_acquire(&shared_lock), 0);
    atomic_store(&handed, 1);
    CHECK_EQ(weft_lock_release(&shared_lock), 0);
    return NULL;
}

static void sleeper_is_woken(void)
{
    atomic_store(&handed, 0);
    CHECK_EQ(weft_lock_acquire(&shared_lock), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocking_acquirer, NULL), 0);
    usleep(20000); /* let it reach its sleep */
    CHECK_EQ(atomic_load(&handed), 0);
    CHECK_EQ(weft_lock_release(&shared_lock), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&handed), 1);
    CHECK(!weft_lock_locked(&shared_lock));
}

/* Eventual fairness: a sleeper gets the lock while another thread re-acquires it
 * in a tight loop. The hog gives up only after 10^9 rounds (far past any sane
 * handoff), so a lock without handoff fails this test. */
static _Atomic int waiter_done;

static void *hog(void *arg)
{
    (void)arg;
    for (long i = 0; i < 1000000000L && !atomic_load_explicit(&waiter_done, memory_order_relaxed);
         i++) {
        weft_lock_acquire(&shared_lock);
        weft_lock_release(&shared_lock);
    }
    return NULL;
}

static void *starved_waiter(void *arg)
{
    (void)arg;
    usleep(5000);
    weft_lock_acquire(&shared_lock);
    atomic_store(&waiter_done, 1);
    weft_lock_release(&shared_lock);
    return NULL;
}

static void fairness_handoff(void)
{
    for (int round = 0; round < 3; round++) {
        atomic_store(&waiter_done, 0);
        pthread_t h1, h2, w;
        CHECK_EQ(pthread_create(&h1, NULL, hog, NULL), 0);
        CHECK_EQ(pthread_create(&h2, NULL, hog, NULL), 0);
        CHECK_EQ(pthread_create(&w, NULL, starved_waiter, NULL), 0);
        pthread_join(w, NULL);
        pthread_join(h1, NULL);
        pthread_join(h2, NULL);
        CHECK_EQ(atomic_load(&waiter_done), 1);
        CHECK(!weft_lock_locked(&shared_lock));
    }
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(acquire_release), TEST(null_is_einval), TEST(release_unlocked_is_eperm),
          TEST(any_thread_may_release), TEST(timeout_while_held), TEST(sleeper_is_woken),
          TEST(fairness_handoff))
