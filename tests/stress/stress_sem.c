/* Bounded stress for weft_sem:
 *  - a semaphore guarding a resource never lets more than its count in;
 *  - release(n)/acquire storms with sleepers lose no wakeup: every unit released
 *    is taken, by untimed sleepers too (a stranded sleeper trips the watchdog);
 *  - a ping-pong hands data across with the semaphore alone ordering it. */
#include "../check.h"

#include <sched.h>

/* Runs n threads and joins them, aborting (with the semaphore word) if `progress`
 * stands still for 20 s: a lost wakeup shows as a failure, not a hang. */
static void run_watched(int n, void *(*fn)(void *), void *args, size_t size,
                        _Atomic long *progress, _Atomic int *finished, weft_sem *s)
{
    pthread_t th[16];
    CHECK(n <= 16);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size), 0);
    long last = -1;
    int64_t since = weft_now_ns();
    while (atomic_load(finished) < n) {
        long p = atomic_load(progress);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        } else if (weft_now_ns() - since > WEFT_SEC(20)) {
            fprintf(stderr, "stuck: progress %ld, word %#x, %d of %d threads done\n", p,
                    (unsigned)atomic_load(&s->value), atomic_load(finished), n);
            abort();
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
}

/* ---- a resource guarded by a bounded semaphore ---------------------------------- */
enum { SLOTS = 3 };
static weft_sem guard;
static _Atomic int in_use, max_in_use;
static _Atomic long uses;
static _Atomic int finished;
static long guard_iterations;

static void *user(void *arg)
{
    int id = *(int *)arg;
    for (long i = 0; i < guard_iterations; i++) {
        switch ((id + i) % 3) {
        case 0:
            CHECK_EQ(weft_sem_acquire(&guard), 0);
            break;
        case 1:
            while (!weft_sem_try_acquire(&guard))
                sched_yield();
            break;
        default:
            while (weft_sem_acquire_for(&guard, WEFT_US(50)) != 0)
                ;
            break;
        }
        int now = atomic_fetch_add(&in_use, 1) + 1;
        CHECK(now <= SLOTS);
        int seen = atomic_load(&max_in_use);
        while (now > seen && !atomic_compare_exchange_weak(&max_in_use, &seen, now))
            ;
        atomic_fetch_sub(&in_use, 1);
        atomic_fetch_add(&uses, 1);
        CHECK_EQ(weft_sem_release(&guard, 1), 0); /* matched: never over the bound */
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void guard_never_over_count(void)
{
    enum { T = 8 };
    guard_iterations = wf_test_scale(40000);
    CHECK_EQ(weft_sem_init_bounded(&guard, SLOTS), 0);
    atomic_store(&finished, 0);
    int ids[T];
    for (int i = 0; i < T; i++)
        ids[i] = i;
    run_watched(T, user, ids, sizeof ids[0], &uses, &finished, &guard);
    CHECK_EQ(atomic_load(&uses), T * guard_iterations);
    CHECK(atomic_load(&max_in_use) >= 1 && atomic_load(&max_in_use) <= SLOTS);
    CHECK_EQ(weft_sem_value(&guard), SLOTS);
    CHECK_EQ(weft_sem_release(&guard, 1), EOVERFLOW);
    CHECK_EQ(atomic_load(&guard.value), SLOTS); /* no flag left behind */
}

/* ---- release(n) / acquire storms ------------------------------------------------- */
enum { PRODUCERS = 3, CONSUMERS = 5 };
static weft_sem storm;
static _Atomic long taken;
static long quota; /* per consumer */

struct role {
    int id;
    bool producer;
};

static void *storm_thread(void *arg)
{
    const struct role *r = arg;
    unsigned seed = (unsigned)r->id * 2654435761u + 1;
    if (r->producer) {
        /* The producers release quota * CONSUMERS units in all, in chunks of 1-4. */
        long share = quota * CONSUMERS / PRODUCERS + (r->id == 0 ? quota * CONSUMERS % PRODUCERS : 0);
        while (share > 0) {
            seed = seed * 1103515245u + 12345u;
            uint32_t n = 1 + (seed >> 16) % 4;
            if (n > share)
                n = (uint32_t)share;
            CHECK_EQ(weft_sem_release(&storm, n), 0);
            share -= n;
            if ((seed >> 20) % 8 == 0)
                sched_yield(); /* let the consumers fall asleep now and then */
        }
    } else {
        for (long i = 0; i < quota; i++) {
            seed = seed * 1103515245u + 12345u;
            if (r->id % 2 == 0 || (seed >> 16) % 4 != 0) {
                CHECK_EQ(weft_sem_acquire(&storm), 0); /* untimed: must be woken */
            } else {
                int64_t t0 = weft_now_ns();
                int rc;
                while ((rc = weft_sem_acquire_for(&storm, WEFT_US(30))) != 0) {
                    CHECK_EQ(rc, ETIMEDOUT);
                    CHECK(weft_now_ns() - t0 >= WEFT_US(30));
                    t0 = weft_now_ns();
                }
            }
            atomic_fetch_add(&taken, 1);
        }
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void storm_loses_no_wakeup(void)
{
    quota = wf_test_scale(40000);
    struct role roles[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        roles[i] = (struct role){i < PRODUCERS ? i : i - PRODUCERS, i < PRODUCERS};
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(weft_sem_init(&storm, 0), 0);
        atomic_store(&finished, 0);
        atomic_store(&taken, 0);
        run_watched(PRODUCERS + CONSUMERS, storm_thread, roles, sizeof roles[0], &taken,
                    &finished, &storm);
        CHECK_EQ(atomic_load(&taken), quota * CONSUMERS);
        CHECK_EQ(weft_sem_value(&storm), 0); /* nothing lost, nothing duplicated */
    }
}

/* ---- ping-pong ------------------------------------------------------------------- */
static weft_sem ping, pong;
static long ball; /* plain: each side touches it only between the two semaphores */
static long rounds;

static void *pinger(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        ball = i;
        CHECK_EQ(weft_sem_release(&ping, 1), 0);
        CHECK_EQ(weft_sem_acquire(&pong), 0);
        CHECK_EQ(ball, -i);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *ponger(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        CHECK_EQ(weft_sem_acquire(&ping), 0);
        CHECK_EQ(ball, i);
        ball = -i;
        atomic_fetch_add(&taken, 1);
        CHECK_EQ(weft_sem_release(&pong, 1), 0);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *ping_pong_thread(void *arg)
{
    return *(int *)arg ? ponger(NULL) : pinger(NULL);
}

static void ping_pong(void)
{
    rounds = wf_test_scale(50000);
    CHECK_EQ(weft_sem_init(&ping, 0), 0);
    CHECK_EQ(weft_sem_init(&pong, 0), 0);
    atomic_store(&finished, 0);
    atomic_store(&taken, 0);
    int sides[2] = {0, 1};
    run_watched(2, ping_pong_thread, sides, sizeof sides[0], &taken, &finished, &ping);
    CHECK_EQ(atomic_load(&taken), rounds);
    CHECK_EQ(weft_sem_value(&ping), 0);
    CHECK_EQ(weft_sem_value(&pong), 0);
}

TEST_MAIN(TEST(guard_never_over_count), TEST(storm_loses_no_wakeup), TEST(ping_pong))
