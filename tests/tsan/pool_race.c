/* A weft user's pool under ThreadSanitizer (built and run as tests/tsan/user.c
 * is): whether the pool's own bookkeeping hides a race between two tasks, and
 * whether correct pool use still reports nothing. `pool_race NAME` runs one
 * scenario; run.sh says which must be reported.
 *
 * race_pool: two posted tasks, A and B, bump one counter with no synchronisation
 * between them, on two different workers, B after A in time. Both workers go
 * through the pool's machinery between A's bump and B's (A's worker finishes A
 * and takes another task; B's worker finishes a task and takes B), which is
 * where internal locks and atomics would order A before B if TSan saw them. The
 * placement is forced with holder tasks and relaxed atomics only, which TSan
 * treats as no synchronisation:
 *
 *   main            worker X                 worker Y
 *   post H1         H1: spins until go1
 *   post A                                   A: counter++ (first bump)
 *   post H2                                  H2: spins until go2
 *   go1 = 1         H1 returns
 *   post B          B: counter++ (second bump)
 *   go2 = 1                                  H2 returns
 *
 * race_pool_pthread: the same A and B on two pthreads (the reference: TSan
 * reports it every time). pool_sync: correct uses (submit and result, fork-join
 * with helping, map, posts then shutdown, submits from several threads, done
 * callbacks): zero reports. */
#include "weft.h"
#include "scenario.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- relaxed handshakes (no happens-before for TSan) --------------------------------- */

static uintptr_t self_id(void)
{
    return (uintptr_t)pthread_self();
}

/* Spins (yielding) until *flag is non-zero, for at most about 20 seconds. */
static void await(_Atomic uintptr_t *flag)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* relaxed: TSan must see no synchronisation here (see the top). */
    while (!atomic_load_explicit(flag, memory_order_relaxed)) {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
        CHECK(now.tv_sec - start.tv_sec < 20);
    }
}

static void signal_flag(_Atomic uintptr_t *flag, uintptr_t v)
{
    atomic_store_explicit(flag, v, memory_order_relaxed); /* relaxed: as in await */
}

/* ---- the race -------------------------------------------------------------------- */

static long counter; /* the unprotected data */
static _Atomic uintptr_t ran_a, ran_b, ran_h1, ran_h2, go1, go2, warm;

static int task_a(void *arg, void **result)
{
    (void)arg, (void)result;
    counter++; /* the race, first side */
    signal_flag(&ran_a, self_id());
    return 0;
}

static int task_b(void *arg, void **result)
{
    (void)arg, (void)result;
    counter++; /* the race, second side */
    signal_flag(&ran_b, self_id());
    return 0;
}

static int task_h1(void *arg, void **result)
{
    (void)arg, (void)result;
    signal_flag(&ran_h1, self_id());
    await(&go1);
    return 0;
}

static int task_h2(void *arg, void **result)
{
    (void)arg, (void)result;
    signal_flag(&ran_h2, self_id());
    await(&go2);
    return 0;
}

/* Both workers at once: each arrives, then waits for the other. */
static int task_warm(void *arg, void **result)
{
    (void)arg, (void)result;
    /* relaxed: as in await. */
    atomic_fetch_add_explicit(&warm, 1, memory_order_relaxed);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (atomic_load_explicit(&warm, memory_order_relaxed) < 2) {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
        CHECK(now.tv_sec - start.tv_sec < 20);
    }
    return 0;
}

static void scenario_race_pool(void)
{
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    CHECK(weft_pool_create(&p, &o) == 0);
    weft_future *w1, *w2;
    CHECK(weft_pool_submit(p, task_warm, NULL, &w1) == 0);
    CHECK(weft_pool_submit(p, task_warm, NULL, &w2) == 0);
    CHECK(weft_future_result(w1, WEFT_FOREVER, NULL) == 0);
    CHECK(weft_future_result(w2, WEFT_FOREVER, NULL) == 0);
    weft_future_release(w1);
    weft_future_release(w2);
    CHECK(weft_pool_worker_count(p) == 2);

    CHECK(weft_pool_post(p, task_h1, NULL) == 0);
    await(&ran_h1);
    CHECK(weft_pool_post(p, task_a, NULL) == 0); /* the other worker's: X is in H1 */
    await(&ran_a);
    CHECK(weft_pool_post(p, task_h2, NULL) == 0); /* A's worker, the only one free */
    await(&ran_h2);
    signal_flag(&go1, 1);
    CHECK(weft_pool_post(p, task_b, NULL) == 0); /* H1's worker, the only one free */
    await(&ran_b);
    signal_flag(&go2, 1);
    /* relaxed: as in await. */
    uintptr_t a = atomic_load_explicit(&ran_a, memory_order_relaxed);
    CHECK(atomic_load_explicit(&ran_h2, memory_order_relaxed) == a);
    CHECK(atomic_load_explicit(&ran_b, memory_order_relaxed) ==
          atomic_load_explicit(&ran_h1, memory_order_relaxed));
    CHECK(atomic_load_explicit(&ran_b, memory_order_relaxed) != a);
    CHECK(weft_pool_shutdown(p, true, false) == 0);
    CHECK(weft_pool_destroy(p) == 0);
}

static void *run_a(void *arg)
{
    task_a(arg, NULL);
    return NULL;
}

static void *run_b(void *arg)
{
    await(&ran_a);
    task_b(arg, NULL);
    return NULL;
}

static void scenario_race_pool_pthread(void)
{
    pthread_t x, y;
    CHECK(pthread_create(&y, NULL, run_b, NULL) == 0);
    CHECK(pthread_create(&x, NULL, run_a, NULL) == 0);
    pthread_join(x, NULL);
    pthread_join(y, NULL);
}

/* ---- correct use ------------------------------------------------------------------ */

enum { ITEMS = 64, SUBMITTERS = 3, FIB_CUTOFF = 8 };

typedef struct box {
    long v[4];
} box;

static box *box_new(long v)
{
    box *b = malloc(sizeof *b);
    CHECK(b);
    for (int i = 0; i < 4; i++)
        b->v[i] = v + i;
    return b;
}

static long box_take(box *b)
{
    for (int i = 1; i < 4; i++)
        CHECK(b->v[i] == b->v[0] + i);
    long v = b->v[0];
    free(b);
    return v;
}

/* Reads what the submitter wrote, returns what the waiter reads. */
static int task_inc(void *arg, void **result)
{
    *result = box_new(box_take(arg) + 1);
    return 0;
}

static weft_pool *fib_pool;

/* Fork-join: each child's box is written by the child and read by the parent
 * after its result(), which from a worker runs other tasks meanwhile. */
static int task_fib(void *arg, void **result)
{
    long n = box_take(arg);
    if (n < FIB_CUTOFF) {
        long a = 0, b = 1;
        for (long i = 0; i < n; i++) {
            long t = a + b;
            a = b;
            b = t;
        }
        *result = box_new(a);
        return 0;
    }
    weft_future *l, *r;
    CHECK(weft_pool_submit(fib_pool, task_fib, box_new(n - 1), &l) == 0);
    CHECK(weft_pool_submit(fib_pool, task_fib, box_new(n - 2), &r) == 0);
    void *lv, *rv;
    CHECK(weft_future_result(r, WEFT_FOREVER, &rv) == 0);
    CHECK(weft_future_result(l, WEFT_FOREVER, &lv) == 0);
    weft_future_release(l);
    weft_future_release(r);
    *result = box_new(box_take(lv) + box_take(rv));
    return 0;
}

static long posted[ITEMS];

static int task_post(void *arg, void **result)
{
    (void)result;
    long i = box_take(arg);
    posted[i] = i * 3; /* read by main after shutdown(wait) */
    return 0;
}

static void *submitter(void *arg)
{
    weft_pool *p = arg;
    weft_future *fs[ITEMS];
    for (long i = 0; i < ITEMS; i++)
        CHECK(weft_pool_submit(p, task_inc, box_new(i * 10), &fs[i]) == 0);
    for (long i = 0; i < ITEMS; i++) {
        void *res;
        CHECK(weft_future_result(fs[i], WEFT_FOREVER, &res) == 0);
        CHECK(box_take(res) == i * 10 + 1);
        weft_future_release(fs[i]);
    }
    return NULL;
}

static weft_sem callback_done = WEFT_SEM_INIT(0);
static long callback_seen;

static void on_done(weft_future *f, void *arg)
{
    (void)arg;
    void *res;
    CHECK(weft_future_result(f, 0, &res) == 0);
    callback_seen = box_take(res);
    weft_sem_release(&callback_done, 1);
}

static void scenario_pool_sync(void)
{
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    CHECK(weft_pool_create(&p, &o) == 0);

    /* Submit, result, release; the futures' memory is reused throughout. */
    for (long i = 0; i < ITEMS; i++) {
        weft_future *f;
        void *res;
        CHECK(weft_pool_submit(p, task_inc, box_new(i), &f) == 0);
        CHECK(weft_future_result(f, WEFT_FOREVER, &res) == 0);
        CHECK(box_take(res) == i + 1);
        weft_future_release(f);
    }

    /* Several submitting threads at once, each waiting on its own futures. */
    pthread_t t[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++)
        CHECK(pthread_create(&t[i], NULL, submitter, p) == 0);
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(t[i], NULL);

    /* Fork-join. */
    fib_pool = p;
    weft_future *f;
    void *res;
    CHECK(weft_pool_submit(p, task_fib, box_new(16), &f) == 0);
    CHECK(weft_future_result(f, WEFT_FOREVER, &res) == 0);
    CHECK(box_take(res) == 987);
    weft_future_release(f);

    /* map. */
    void *args[ITEMS], *results[ITEMS];
    for (long i = 0; i < ITEMS; i++)
        args[i] = box_new(i * 2);
    CHECK(weft_pool_map(p, task_inc, args, ITEMS, results, WEFT_FOREVER) == 0);
    for (long i = 0; i < ITEMS; i++)
        CHECK(box_take(results[i]) == i * 2 + 1);

    /* Done callbacks, added before or after the task ends. */
    for (long i = 0; i < 8; i++) {
        CHECK(weft_pool_submit(p, task_inc, box_new(i), &f) == 0);
        CHECK(weft_future_add_done_callback(f, on_done, NULL) == 0);
        CHECK(weft_sem_acquire(&callback_done) == 0);
        CHECK(callback_seen == i + 1);
        weft_future_release(f);
    }

    /* Posts, then shutdown(wait): every post's work is visible after it. */
    for (long i = 0; i < ITEMS; i++)
        CHECK(weft_pool_post(p, task_post, box_new(i)) == 0);
    CHECK(weft_pool_shutdown(p, true, false) == 0);
    for (long i = 0; i < ITEMS; i++)
        CHECK(posted[i] == i * 3);
    CHECK(weft_pool_destroy(p) == 0);
}

/* ---- driver ----------------------------------------------------------------------- */

static const scenario scenarios[] = {
    {"pool_sync", scenario_pool_sync},
    {"race_pool", scenario_race_pool},
    {"race_pool_pthread", scenario_race_pool_pthread},
};

int main(int argc, char **argv)
{
    return scenario_main(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0]);
}
