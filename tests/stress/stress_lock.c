/* Bounded stress: 8 threads x 10^5 lock;increment;unlock with the total exact, on
 * all three acquire flavours, and a mutual-exclusion check inside the section. */
#include "../check.h"

#include <sched.h>
#include <unistd.h>

static weft_lock lock = WEFT_LOCK_INIT;
static long counter;
static int inside; /* plain int: the lock alone protects it (TSan checks this) */
static long iterations;

static void *worker(void *arg)
{
    int flavour = *(int *)arg;
    for (long i = 0; i < iterations; i++) {
        switch ((flavour + i) % 3) {
        case 0:
            CHECK_EQ(weft_lock_acquire(&lock), 0);
            break;
        case 1:
            while (!weft_lock_try_acquire(&lock))
                ;
            break;
        default:
            while (weft_lock_acquire_for(&lock, WEFT_US(50)) != 0)
                ;
            break;
        }
        CHECK_EQ(inside, 0);
        inside = 1;
        counter++;
        inside = 0;
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
    return NULL;
}

static void eight_threads_exact_total(void)
{
    enum { T = 8 };
    iterations = wf_test_scale(100000);
    int flavours[T];
    for (int i = 0; i < T; i++)
        flavours[i] = i;
    counter = 0;
    wf_test_run_threads(T, worker, flavours, sizeof flavours[0]);
    CHECK_EQ(counter, (long)T * iterations);
    CHECK(!weft_lock_locked(&lock));
}

static void two_threads_exact_total(void)
{
    int flavours[2] = {0, 0};
    iterations = wf_test_scale(200000);
    counter = 0;
    wf_test_run_threads(2, worker, flavours, sizeof flavours[0]);
    CHECK_EQ(counter, 2 * iterations);
}

/* Timed acquirers that time out just as they are woken must pass the wakeup on:
 * half the threads use 50 us timeouts, half sleep untimed, and all yield inside
 * the section so that sleepers pile up. A stranded sleeper (the word unlocked,
 * nobody awake to take it) shows up as no progress for 10 s. */
static _Atomic long progress;
static _Atomic int finished;

static void *mixed_worker(void *arg)
{
    int id = *(int *)arg;
    for (long i = 0; i < iterations; i++) {
        if (id % 2)
            while (weft_lock_acquire_for(&lock, WEFT_US(50)) != 0)
                ;
        else
            CHECK_EQ(weft_lock_acquire(&lock), 0);
        if (i % 64 == 0)
            sched_yield();
        counter++;
        CHECK_EQ(weft_lock_release(&lock), 0);
        atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    return NULL;
}

static void timed_waiters_never_strand_sleepers(void)
{
    enum { T = 8 };
    iterations = wf_test_scale(30000);
    counter = 0;
    pthread_t th[T];
    int ids[T];
    for (int i = 0; i < T; i++) {
        ids[i] = i;
        CHECK_EQ(pthread_create(&th[i], NULL, mixed_worker, &ids[i]), 0);
    }
    long last = -1;
    int64_t since = weft_now_ns();
    while (atomic_load_explicit(&finished, memory_order_acquire) < T) {
        long p = atomic_load_explicit(&progress, memory_order_relaxed);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        }
        CHECK(weft_now_ns() - since < WEFT_SEC(10)); /* a stranded sleeper */
        usleep(2000);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(counter, (long)T * iterations);
    CHECK(!weft_lock_locked(&lock));
}

TEST_MAIN(TEST(eight_threads_exact_total), TEST(two_threads_exact_total),
          TEST(timed_waiters_never_strand_sleepers))
