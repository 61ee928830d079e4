/* Bounded stress: 8 threads x 10^5 lock;increment;unlock with the total exact, on
 * all three acquire flavours, and a mutual-exclusion check inside the section. */
#include "../check.h"

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

TEST_MAIN(TEST(eight_threads_exact_total), TEST(two_threads_exact_total))
