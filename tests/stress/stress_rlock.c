/* Bounded stress: 8 threads take a weft_rlock 1-3 levels deep with every acquire
 * flavour, count inside at every level, and check mutual exclusion and the owner;
 * outsiders' releases fail with EPERM and change nothing. Totals are exact. */
#include "../check.h"

#include <sched.h>

static weft_rlock rlock = WEFT_RLOCK_INIT;
static long counter;
static int inside; /* plain: the rlock alone protects it (TSan checks this) */
static long iterations;
static _Atomic long eperms, progress;
static _Atomic int finished;

static void take(int flavour)
{
    switch (flavour % 3) {
    case 0:
        CHECK_EQ(weft_rlock_acquire(&rlock), 0);
        break;
    case 1:
        while (!weft_rlock_try_acquire(&rlock))
            ;
        break;
    default:
        while (weft_rlock_acquire_for(&rlock, WEFT_US(50)) != 0)
            ;
        break;
    }
}

static void *worker(void *arg)
{
    int id = *(int *)arg;
    unsigned seed = (unsigned)id * 2654435761u;
    for (long i = 0; i < iterations; i++) {
        seed = seed * 1103515245u + 12345u;
        int depth = 1 + (int)(seed >> 16) % 3;
        if ((seed >> 8) % 16 == 0) {
            /* Not the holder (or nobody is): must be refused, changing nothing. */
            if (weft_rlock_release(&rlock) == EPERM)
                atomic_fetch_add_explicit(&eperms, 1, memory_order_relaxed);
            else
                CHECK(0);
        }
        take(id + (int)i);
        CHECK_EQ(inside, 0);
        inside = 1;
        for (int d = 1; d < depth; d++) {
            take(id + (int)i + d);
            CHECK_EQ(rlock.count, (uint32_t)d + 1);
        }
        CHECK(weft_rlock_owned(&rlock));
        counter += depth;
        if (i % 256 == 0)
            sched_yield(); /* holding it: the others pile up and sleep */
        for (int d = depth; d > 1; d--) {
            CHECK_EQ(weft_rlock_release(&rlock), 0);
            CHECK(weft_rlock_owned(&rlock));
        }
        inside = 0;
        CHECK_EQ(weft_rlock_release(&rlock), 0);
        CHECK(!weft_rlock_owned(&rlock));
        atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

/* Runs n workers and joins them, aborting if nobody progresses for 20 s: a lost
 * wakeup shows as a failure, not a hang. */
static void run_watched(int n, int *ids)
{
    pthread_t th[16];
    CHECK(n <= 16);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, worker, &ids[i]), 0);
    long last = -1;
    int64_t since = weft_now_ns();
    while (atomic_load(&finished) < n) {
        long p = atomic_load(&progress);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        } else if (weft_now_ns() - since > WEFT_SEC(20)) {
            fprintf(stderr, "stuck: lock word %#x, owner %#llx, %d of %d threads done\n",
                    (unsigned)atomic_load(&rlock.lock.word),
                    (unsigned long long)atomic_load(&rlock.owner), atomic_load(&finished), n);
            abort();
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
}

static void eight_threads_exact_total(void)
{
    enum { T = 8 };
    iterations = wf_test_scale(30000);
    int ids[T];
    for (int i = 0; i < T; i++)
        ids[i] = i;
    counter = 0;
    run_watched(T, ids);
    /* Each thread's depths come from its own seed: replay them for the total. */
    long expected = 0;
    for (int t = 0; t < T; t++) {
        unsigned seed = (unsigned)t * 2654435761u;
        for (long i = 0; i < iterations; i++) {
            seed = seed * 1103515245u + 12345u;
            expected += 1 + (int)(seed >> 16) % 3;
        }
    }
    CHECK_EQ(counter, expected);
    CHECK(!weft_rlock_locked(&rlock));
    CHECK(atomic_load(&eperms) > 0);
}

TEST_MAIN(TEST(eight_threads_exact_total))
