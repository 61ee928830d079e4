/* Bounded stress for weft_cond, with exact invariants:
 *  - notify(1) storms: 10^5 notifies, each wakes exactly one waiter (a waiter that
 *    returns without a notify pending for it, or a notify that wakes nobody, fails);
 *  - ping-pong on one condition: no lost wakeup in 3 x 10^4 handoffs;
 *  - notify_all storms on a lock and on an rlock: every waiter sees every
 *    broadcast, mutual exclusion holds while they come back through the lock;
 *  - timeouts racing notifies: never more wakes than notifies, nobody stranded.
 * A lost wakeup shows as a wait that runs into its 10-second guard timeout. */
#include "../check.h"

#include <sched.h>
#include <unistd.h>

#define GUARD WEFT_SEC(10) /* far beyond any legitimate wait here */

static weft_lock lock = WEFT_LOCK_INIT;
static weft_cond cond = WEFT_COND_INIT; /* waiters wait here for a notify */
static weft_cond idle = WEFT_COND_INIT; /* notifiers wait here for a waiter */

/* ---- notify(1): exactly one wake per notify ------------------------------------- */

/* All under `lock`. */
static long waiting;  /* threads inside weft_cond_wait on `cond` */
static long tokens;   /* notifies issued whose waiter has not returned yet */
static long notifies; /* notify(1) calls made while a waiter was queued */
static long wakes;    /* waits that returned 0 */
static bool stop;

static void *one_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    while (!stop) {
        waiting++;
        CHECK_EQ(weft_cond_notify(&idle, 1), 0);
        int rc = weft_cond_wait(&cond, &lock, GUARD);
        waiting--;
        CHECK_EQ(rc, 0);     /* no notify lost */
        CHECK(tokens > 0);   /* nor one that woke two, nor a spurious return */
        tokens--;
        wakes++;
    }
    CHECK_EQ(weft_lock_release(&lock), 0);
    return NULL;
}

static long rounds_per_notifier;

static void *one_notifier(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds_per_notifier; i++) {
        CHECK_EQ(weft_lock_acquire(&lock), 0);
        /* waiting - tokens waiters are queued and not yet notified. */
        while (waiting - tokens == 0)
            CHECK_EQ(weft_cond_wait(&idle, &lock, GUARD), 0);
        tokens++;
        notifies++;
        CHECK_EQ(weft_cond_notify(&cond, 1), 0);
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
    return NULL;
}

static void notify_one_storm(void)
{
    enum { WAITERS = 4, NOTIFIERS = 2 };
    rounds_per_notifier = wf_test_scale(100000) / NOTIFIERS;
    waiting = tokens = notifies = wakes = 0;
    stop = false;
    pthread_t w[WAITERS], n[NOTIFIERS];
    for (int i = 0; i < WAITERS; i++)
        CHECK_EQ(pthread_create(&w[i], NULL, one_waiter, NULL), 0);
    for (int i = 0; i < NOTIFIERS; i++)
        CHECK_EQ(pthread_create(&n[i], NULL, one_notifier, NULL), 0);
    for (int i = 0; i < NOTIFIERS; i++)
        pthread_join(n[i], NULL);

    /* Let every notified waiter return, then release the rest. */
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    CHECK_EQ(notifies, rounds_per_notifier * NOTIFIERS);
    stop = true;
    while (waiting > 0) {
        long queued = waiting - tokens;
        tokens += queued;
        for (long i = 0; i < queued; i++)
            CHECK_EQ(weft_cond_notify(&cond, 1), 0);
        notifies += queued;
        CHECK_EQ(weft_lock_release(&lock), 0);
        usleep(1000);
        CHECK_EQ(weft_lock_acquire(&lock), 0);
    }
    CHECK_EQ(weft_lock_release(&lock), 0);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(w[i], NULL);
    CHECK_EQ(tokens, 0);
    CHECK_EQ(wakes, notifies); /* exactly one wake per notify */
    CHECK_EQ(cond.waiters, 0);
    CHECK_EQ(idle.waiters, 0);
}

/* ---- ping-pong: no lost wakeup ----------------------------------------------------- */

static int turn; /* under `lock` */
static long pingpong_rounds;

static void *player(void *arg)
{
    int me = *(int *)arg;
    for (long i = 0; i < pingpong_rounds; i++) {
        CHECK_EQ(weft_lock_acquire(&lock), 0);
        while (turn != me)
            CHECK_EQ(weft_cond_wait(&cond, &lock, GUARD), 0);
        turn = 1 - me;
        CHECK_EQ(weft_cond_notify(&cond, 1), 0);
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
    return NULL;
}

static void pingpong(void)
{
    pingpong_rounds = wf_test_scale(30000);
    turn = 0;
    int ids[2] = {0, 1};
    wf_test_run_threads(2, player, ids, sizeof ids[0]);
    CHECK_EQ(turn, 0);
    CHECK_EQ(cond.waiters, 0);
}

/* ---- notify_all storms: every waiter sees every broadcast ------------------------ */

static weft_rlock rlock = WEFT_RLOCK_INIT;
static long generation;   /* under the storm's lock */
static long arrived;      /* waiters waiting for the current generation */
static int inside;        /* mutual exclusion check */
static long broadcasts;
static bool use_rlock;

static void storm_lock(void)
{
    if (use_rlock) {
        CHECK_EQ(weft_rlock_acquire(&rlock), 0);
        CHECK_EQ(weft_rlock_acquire(&rlock), 0); /* recursion: released fully by the wait */
    } else {
        CHECK_EQ(weft_lock_acquire(&lock), 0);
    }
    CHECK_EQ(inside, 0);
    inside = 1;
}

static void storm_unlock(void)
{
    CHECK_EQ(inside, 1);
    inside = 0;
    if (use_rlock) {
        CHECK_EQ(weft_rlock_release(&rlock), 0);
        CHECK_EQ(weft_rlock_release(&rlock), 0);
    } else {
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
}

static int storm_wait(weft_cond *c)
{
    inside = 0;
    int rc = use_rlock ? weft_cond_wait_r(c, &rlock, GUARD) : weft_cond_wait(c, &lock, GUARD);
    CHECK_EQ(inside, 0);
    inside = 1;
    if (use_rlock)
        CHECK_EQ(rlock.count, 2);
    return rc;
}

static void *all_waiter(void *arg)
{
    (void)arg;
    storm_lock();
    for (long seen = 0; seen < broadcasts; seen++) {
        long mine = generation;
        arrived++;
        CHECK_EQ(weft_cond_notify(&idle, 1), 0);
        while (generation == mine)
            CHECK_EQ(storm_wait(&cond), 0);
        CHECK_EQ(generation, mine + 1); /* none missed: the broadcaster waits for us */
    }
    storm_unlock();
    return NULL;
}

static void notify_all_storm_with(bool rlock_flavour, int waiters)
{
    use_rlock = rlock_flavour;
    broadcasts = wf_test_scale(5000);
    generation = arrived = 0;
    pthread_t th[8];
    for (int i = 0; i < waiters; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, all_waiter, NULL), 0);
    for (long b = 0; b < broadcasts; b++) {
        storm_lock();
        while (arrived < waiters)
            CHECK_EQ(storm_wait(&idle), 0);
        arrived = 0;
        generation++;
        /* Alternate: broadcast holding the lock (they queue on it) or not. */
        if (b % 2 == 0) {
            CHECK_EQ(weft_cond_notify_all(&cond), 0);
            storm_unlock();
        } else {
            storm_unlock();
            CHECK_EQ(weft_cond_notify_all(&cond), 0);
        }
    }
    for (int i = 0; i < waiters; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(generation, broadcasts);
    CHECK_EQ(cond.waiters, 0);
    CHECK(!weft_lock_locked(&lock));
    CHECK(!weft_rlock_locked(&rlock));
}

static void notify_all_storm(void)
{
    notify_all_storm_with(false, 8);
}

static void notify_all_storm_rlock(void)
{
    notify_all_storm_with(true, 6);
}

/* ---- timeouts racing notifies ---------------------------------------------------- */

static _Atomic long timed_done; /* waiters finished */
static long timed_rounds;

static void *timed_waiter(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    long wakes = 0;
    for (long i = 0; i < timed_rounds; i++) {
        CHECK_EQ(weft_lock_acquire(&lock), 0);
        CHECK_EQ(inside, 0);
        int64_t timeout = (int64_t)(rand_r(&seed) % 50) * 1000; /* 0 .. 49 us */
        int64_t t0 = weft_now_ns();
        int rc = weft_cond_wait(&cond, &lock, timeout);
        CHECK_EQ(inside, 0); /* we hold the lock again */
        if (rc == ETIMEDOUT) {
            CHECK(weft_now_ns() - t0 >= timeout); /* never early */
        } else {
            CHECK_EQ(rc, 0);
            wakes++;
        }
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
    atomic_fetch_add(&timed_done, 1);
    return (void *)(intptr_t)wakes;
}

static void timeouts_race_notifies(void)
{
    enum { WAITERS = 4 };
    timed_rounds = wf_test_scale(5000);
    atomic_store(&timed_done, 0);
    pthread_t th[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, timed_waiter, (void *)(uintptr_t)(i + 1)), 0);
    long notified = 0; /* an upper bound of the waiters the notifies may have woken */
    for (long i = 0; atomic_load(&timed_done) < WAITERS; i++) {
        if (i % 3 == 0) {
            CHECK_EQ(weft_lock_acquire(&lock), 0);
            inside = 1;
            CHECK_EQ(weft_cond_notify(&cond, 1 + (int)(i % 2)), 0);
            notified += 1 + i % 2;
            inside = 0;
            CHECK_EQ(weft_lock_release(&lock), 0);
        } else if (i % 3 == 1) {
            CHECK_EQ(weft_cond_notify(&cond, 1), 0);
            notified += 1;
        } else {
            CHECK_EQ(weft_cond_notify_all(&cond), 0);
            notified += WAITERS;
        }
        sched_yield();
    }
    long wakes = 0;
    for (int i = 0; i < WAITERS; i++) {
        void *w;
        pthread_join(th[i], &w);
        wakes += (long)(intptr_t)w;
    }
    CHECK(wakes <= notified); /* no wake without a notify */
    CHECK_EQ(cond.waiters, 0); /* every waiter left the queue */
    CHECK(!weft_lock_locked(&lock));
}

TEST_MAIN(TEST(notify_one_storm), TEST(pingpong), TEST(notify_all_storm),
          TEST(notify_all_storm_rlock), TEST(timeouts_race_notifies))
