/* weft_rlock: recursion, ownership (EPERM for non-owners, nothing changes; an
 * owner that exited is inherited by no later thread), timeouts never early, bad
 * input, recursion overflow, and the condition variable's release_all/restore
 * hooks. */
#include "check.h"
#include "internal.h"

#include <unistd.h>

static void layout_and_zero_init(void)
{
    CHECK(sizeof(weft_rlock) <= 16);
    weft_rlock zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!weft_rlock_locked(&zero));
    CHECK(!weft_rlock_owned(&zero));
    CHECK(weft_rlock_try_acquire(&zero));
    CHECK(weft_rlock_owned(&zero));
    CHECK_EQ(weft_rlock_release(&zero), 0);
    weft_rlock init = WEFT_RLOCK_INIT;
    CHECK(!weft_rlock_locked(&init));
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0); /* released = all zero again */
}

static void recursion(void)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    CHECK_EQ(weft_rlock_acquire(&r), 0);
    CHECK(weft_rlock_try_acquire(&r));
    CHECK_EQ(weft_rlock_acquire_for(&r, 0), 0); /* re-entry never blocks */
    CHECK_EQ(weft_rlock_acquire_for(&r, WEFT_MS(1)), 0);
    CHECK_EQ(weft_rlock_acquire_until(&r, weft_deadline_in(0)), 0);
    CHECK_EQ(weft_rlock_acquire_for(&r, WEFT_FOREVER), 0);
    CHECK_EQ(r.count, 6);
    for (int i = 0; i < 6; i++) {
        CHECK(weft_rlock_locked(&r));
        CHECK(weft_rlock_owned(&r));
        CHECK_EQ(weft_rlock_release(&r), 0);
    }
    CHECK(!weft_rlock_locked(&r));
    CHECK(!weft_rlock_owned(&r));
    CHECK_EQ(weft_rlock_release(&r), EPERM); /* one release too many */
    CHECK(!weft_rlock_locked(&r));
    CHECK(weft_rlock_try_acquire(&r)); /* still works */
    CHECK_EQ(weft_rlock_release(&r), 0);
}

static void bad_input(void)
{
    CHECK_EQ(weft_rlock_acquire(NULL), EINVAL);
    CHECK_EQ(weft_rlock_acquire_for(NULL, 0), EINVAL);
    CHECK_EQ(weft_rlock_acquire_for(NULL, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_rlock_acquire_until(NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK(!weft_rlock_try_acquire(NULL));
    CHECK_EQ(weft_rlock_release(NULL), EINVAL);
    CHECK(!weft_rlock_locked(NULL));
    CHECK(!weft_rlock_owned(NULL));
}

static void recursion_overflow(void)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    CHECK_EQ(weft_rlock_acquire(&r), 0);
    r.count = UINT32_MAX - 1; /* the holder's own field: pretend 2^32 - 2 entries */
    CHECK_EQ(weft_rlock_acquire(&r), 0);
    CHECK_EQ(r.count, UINT32_MAX);
    CHECK_EQ(weft_rlock_acquire(&r), EAGAIN);
    CHECK_EQ(weft_rlock_acquire_for(&r, 0), EAGAIN);
    CHECK_EQ(weft_rlock_acquire_for(&r, WEFT_MS(1)), EAGAIN);
    CHECK(!weft_rlock_try_acquire(&r));
    CHECK_EQ(r.count, UINT32_MAX); /* unchanged */
    CHECK_EQ(weft_rlock_release(&r), 0);
    CHECK_EQ(r.count, UINT32_MAX - 1);
    r.count = 1;
    CHECK_EQ(weft_rlock_release(&r), 0);
    CHECK(!weft_rlock_locked(&r));
}

static weft_rlock shared = WEFT_RLOCK_INIT;

static void *non_owner(void *arg)
{
    (void)arg;
    CHECK(!weft_rlock_owned(&shared));
    CHECK(weft_rlock_locked(&shared));
    CHECK_EQ(weft_rlock_release(&shared), EPERM);
    CHECK(!weft_rlock_try_acquire(&shared));
    CHECK_EQ(weft_rlock_acquire_for(&shared, 0), ETIMEDOUT);
    return NULL;
}

static void non_owner_release_is_eperm(void)
{
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, non_owner, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(shared.count, 2); /* nothing changed */
    CHECK(weft_rlock_owned(&shared));
    CHECK_EQ(weft_rlock_release(&shared), 0);
    CHECK_EQ(weft_rlock_release(&shared), 0);
    CHECK(!weft_rlock_locked(&shared));
}

static void *timed_acquirer(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_rlock_acquire_for(&shared, timeout), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout); /* never early */
    t0 = weft_now_ns();
    weft_deadline d = weft_deadline_in(timeout);
    CHECK_EQ(weft_rlock_acquire_until(&shared, d), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    CHECK(!weft_rlock_owned(&shared));
    return NULL;
}

static void timeout_while_held(void)
{
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    int64_t timeouts[3] = {WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    wf_test_run_threads(3, timed_acquirer, timeouts, sizeof timeouts[0]);
    CHECK_EQ(shared.count, 1);
    CHECK_EQ(weft_rlock_release(&shared), 0);
    CHECK(!weft_rlock_locked(&shared));
}

static _Atomic int got_it;

static void *blocking_acquirer(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    CHECK(weft_rlock_owned(&shared));
    CHECK_EQ(shared.count, 1); /* a fresh holder starts at one */
    atomic_store(&got_it, 1);
    CHECK_EQ(weft_rlock_release(&shared), 0);
    return NULL;
}

static void last_release_wakes_sleeper(void)
{
    atomic_store(&got_it, 0);
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    CHECK_EQ(weft_rlock_acquire(&shared), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocking_acquirer, NULL), 0);
    usleep(10000);
    CHECK_EQ(weft_rlock_release(&shared), 0); /* still held once */
    usleep(10000);
    CHECK_EQ(atomic_load(&got_it), 0);
    CHECK_EQ(weft_rlock_release(&shared), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&got_it), 1);
    CHECK(!weft_rlock_locked(&shared));
    CHECK_EQ(weft_rlock_release(&shared), EPERM);
}

static void *take_and_drop(void *arg)
{
    (void)arg;
    CHECK(weft_rlock_try_acquire(&shared)); /* free while the owner "waits" */
    CHECK_EQ(weft_rlock_release(&shared), 0);
    return NULL;
}

static void release_all_and_restore(void)
{
    CHECK_EQ(wf_rlock_release_all(&shared), 0); /* not held: nothing happens */
    CHECK(!weft_rlock_locked(&shared));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_rlock_acquire(&shared), 0);
    CHECK_EQ(wf_rlock_release_all(&shared), 3);
    CHECK(!weft_rlock_locked(&shared));
    CHECK(!weft_rlock_owned(&shared));
    CHECK_EQ(weft_rlock_release(&shared), EPERM);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, take_and_drop, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(weft_lock_acquire(&shared.lock), 0); /* what a condition waiter does */
    wf_rlock_restore(&shared, 3);
    CHECK(weft_rlock_owned(&shared));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_rlock_release(&shared), 0);
    CHECK_EQ(weft_rlock_release(&shared), EPERM);
    CHECK(!weft_rlock_locked(&shared));
}

/* An owner that exits holding the lock leaves it held for good, by nobody: the
 * threads started after it (which glibc gives the dead thread's pthread_t, its
 * stack and descriptor being cached for reuse) must not own it. */
static weft_rlock orphan = WEFT_RLOCK_INIT;
static pthread_t orphan_owner;

static void *take_and_exit(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rlock_acquire(&orphan), 0);
    CHECK_EQ(weft_rlock_acquire(&orphan), 0);
    orphan_owner = pthread_self(); /* read after the join */
    return NULL;
}

static void *successor(void *arg)
{
    int *same_id = arg;
    *same_id = pthread_equal(pthread_self(), orphan_owner) != 0;
    CHECK(weft_rlock_locked(&orphan));
    CHECK(!weft_rlock_owned(&orphan));
    CHECK(!weft_rlock_try_acquire(&orphan));
    CHECK_EQ(weft_rlock_acquire_for(&orphan, 0), ETIMEDOUT);
    CHECK_EQ(weft_rlock_acquire_for(&orphan, WEFT_MS(1)), ETIMEDOUT);
    CHECK_EQ(weft_rlock_release(&orphan), EPERM);
    CHECK(weft_rlock_locked(&orphan));
    return NULL;
}

static void owner_exit_is_not_inherited(void)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, take_and_exit, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    int same_id_seen = 0;
    /* One after another, so that each may get the dead owner's pthread_t. */
    for (int i = 0; i < 16; i++) {
        int same_id = 0;
        CHECK_EQ(pthread_create(&th, NULL, successor, &same_id), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        same_id_seen += same_id;
    }
    CHECK(!weft_rlock_owned(&orphan));
    CHECK_EQ(weft_rlock_release(&orphan), EPERM);
    if (!same_id_seen)
        printf("  (no successor got the owner's pthread_t: the check ran without reuse)\n");
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(recursion), TEST(bad_input), TEST(recursion_overflow),
          TEST(non_owner_release_is_eperm), TEST(timeout_while_held),
          TEST(last_release_wakes_sleeper), TEST(release_all_and_restore),
          TEST(owner_exit_is_not_inherited))
