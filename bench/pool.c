/* bench/pool.c: weft_pool beside the textbook pool (one task queue under one mutex,
 * one condition variable: "naive") and a thread per task ("thread", pthreads).
 *
 *  pool/post/<impl>     fire-and-forget empty tasks (each bumps its submitter's
 *                       counter); 1 and 4 submitting threads. An iteration is one task;
 *                       each submitter waits for its own tasks to have run before its
 *                       clock stops, so a figure is the time per task from submit to
 *                       completion, not just to the queue.
 *  pool/submit/<impl>   the same tasks with futures: each submitter keeps up to 64
 *                       futures in flight, waits for the oldest (result) and releases
 *                       it before the next submit ("thread": pthread_create + join).
 *  pool/outstanding/<impl>  200 000 futures submitted by one thread, all of them held,
 *                       then each waited (result) and released, oldest first: the
 *                       cost of a future that is still pending when its submitter
 *                       moves on (submit, allocation, completion, result, free).
 *  pool/fib25/<impl>    recursive Fibonacci(25): "weft" submits fib(n-1) to its own pool
 *                       from inside the task, computes fib(n-2) itself and waits for the
 *                       submitted half (the waiting worker runs pending tasks); below
 *                       n = 15 the recursion is serial. "serial" is the plain recursion.
 *
 * Both pools have one worker per CPU of the process (the naive pool's workers all
 * start before the loop; weft's start on demand, and are warmed up before the loop).
 * Targets: post at least 5x the naive pool's throughput (time ratio at most
 * 0.2), submit at least 3x (0.33), outstanding at least 5x (0.2), fib25 at least
 * 1.6x serial (0.625). */
#include "bench.h"
#include "weft/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

enum {
    MAX_SUBMITTERS = 64,
    WINDOW = 64,
    THREAD_WINDOW = 16,
    OUTSTANDING = 200000,
    FIB_N = 25,
    FIB_CUTOFF = 15,
};

static int bench_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

/* One completion counter per submitting thread, each on its own cache line. */
static struct {
    _Atomic long done;
} __attribute__((aligned(64))) counters[MAX_SUBMITTERS];

static int count_task(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add_explicit((_Atomic long *)arg, 1, memory_order_relaxed);
    return 0;
}

static void wait_count(_Atomic long *c, long n)
{
    while (atomic_load_explicit(c, memory_order_acquire) < n)
        sched_yield();
}

static _Atomic long *my_counter(wf_bench_state *s)
{
    _Atomic long *c = &counters[wf_bench_thread_index(s) % MAX_SUBMITTERS].done;
    atomic_store_explicit(c, 0, memory_order_relaxed);
    return c;
}

/* ---- weft ------------------------------------------------------------------------------ */

static weft_pool *wpool;

static void weft_setup(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) != 0)
        return;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = (size_t)bench_cpus();
    if (weft_pool_create(&wpool, &o) != 0) {
        wf_bench_skip_with_error(s, "weft_pool_create failed");
        return;
    }
    /* Start the workers: tasks that wait for each other keep every worker busy. */
    _Atomic long warm = 0;
    for (int i = 0; i < 1000; i++)
        weft_pool_post(wpool, count_task, &warm);
    wait_count(&warm, 1000);
}

static void weft_teardown(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0)
        weft_pool_destroy(wpool);
}

static void pool_post_weft(wf_bench_state *s)
{
    weft_setup(s);
    _Atomic long *c = my_counter(s);
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++)
        if (weft_pool_post(wpool, count_task, (void *)c) != 0)
            wf_bench_skip_with_error(s, "weft_pool_post failed");
    wait_count(c, n);
    wf_bench_end(s);
    weft_teardown(s);
}
WF_BENCH(pool_post_weft, "pool/post/weft", .threads = {1, 4}, .headline = true,
         .target_peer = "naive", .target = 0.2);
/* 2 and 8 submitters complete the throughput-against-submitters chart (the
 * target is stated at 1 and 4). */
static void pool_post_weft_more(wf_bench_state *s) { pool_post_weft(s); }
WF_BENCH(pool_post_weft_more, "pool/post/weft", .threads = {2, 8});

static void pool_submit_weft(wf_bench_state *s)
{
    weft_setup(s);
    _Atomic long *c = my_counter(s);
    weft_future *ring[WINDOW] = {0};
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++) {
        weft_future **slot = &ring[i % WINDOW];
        if (*slot) {
            weft_future_result(*slot, WEFT_FOREVER, NULL);
            weft_future_release(*slot);
        }
        if (weft_pool_submit(wpool, count_task, (void *)c, slot) != 0)
            wf_bench_skip_with_error(s, "weft_pool_submit failed");
    }
    for (int i = 0; i < WINDOW; i++) {
        if (ring[i]) {
            weft_future_result(ring[i], WEFT_FOREVER, NULL);
            weft_future_release(ring[i]);
        }
    }
    wf_bench_end(s);
    if (atomic_load(c) != n)
        wf_bench_skip_with_error(s, "lost tasks");
    weft_teardown(s);
}
WF_BENCH(pool_submit_weft, "pool/submit/weft", .threads = {1, 4}, .headline = true,
         .target_peer = "naive", .target = 0.33);

static weft_future *held[OUTSTANDING];

static void pool_outstanding_weft(wf_bench_state *s)
{
    weft_setup(s);
    _Atomic long *c = my_counter(s);
    int64_t n = wf_bench_begin(s);
    if (n > OUTSTANDING)
        n = OUTSTANDING; /* .iterations says exactly this many */
    for (int64_t i = 0; i < n; i++)
        if (weft_pool_submit(wpool, count_task, (void *)c, &held[i]) != 0)
            wf_bench_skip_with_error(s, "weft_pool_submit failed");
    for (int64_t i = 0; i < n; i++) {
        weft_future_result(held[i], WEFT_FOREVER, NULL);
        weft_future_release(held[i]);
    }
    wf_bench_end(s);
    if (atomic_load(c) != n)
        wf_bench_skip_with_error(s, "lost tasks");
    weft_teardown(s);
}
WF_BENCH(pool_outstanding_weft, "pool/outstanding/weft", .iterations = OUTSTANDING,
         .target_peer = "naive", .target = 0.2);

/* ---- naive: one queue, one mutex, one condition variable ---------------------------------- */

typedef struct naive_task {
    struct naive_task *next;
    int (*fn)(void *, void **);
    void *arg;
} naive_task;

static struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    naive_task *head, *tail;
    bool stop;
    int n;
    pthread_t th[256];
} npool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false, 0, {0}};

static void *naive_worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&npool.m);
        while (!npool.head && !npool.stop)
            pthread_cond_wait(&npool.cv, &npool.m);
        naive_task *t = npool.head;
        if (!t) {
            pthread_mutex_unlock(&npool.m);
            return NULL;
        }
        npool.head = t->next;
        if (!npool.head)
            npool.tail = NULL;
        pthread_mutex_unlock(&npool.m);
        void *result;
        t->fn(t->arg, &result);
        free(t);
    }
}

static void naive_post(int (*fn)(void *, void **), void *arg)
{
    naive_task *t = malloc(sizeof *t);
    t->next = NULL;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&npool.m);
    if (npool.tail)
        npool.tail->next = t;
    else
        npool.head = t;
    npool.tail = t;
    pthread_cond_signal(&npool.cv);
    pthread_mutex_unlock(&npool.m);
}

static void naive_setup(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) != 0)
        return;
    npool.stop = false;
    npool.n = bench_cpus();
    if (npool.n > 256)
        npool.n = 256;
    for (int i = 0; i < npool.n; i++)
        pthread_create(&npool.th[i], NULL, naive_worker, NULL);
}

static void naive_teardown(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) != 0)
        return;
    pthread_mutex_lock(&npool.m);
    npool.stop = true;
    pthread_cond_broadcast(&npool.cv);
    pthread_mutex_unlock(&npool.m);
    for (int i = 0; i < npool.n; i++)
        pthread_join(npool.th[i], NULL);
}

static void pool_post_naive(wf_bench_state *s)
{
    naive_setup(s);
    _Atomic long *c = my_counter(s);
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++)
        naive_post(count_task, (void *)c);
    wait_count(c, n);
    wf_bench_end(s);
    naive_teardown(s);
}
WF_BENCH(pool_post_naive, "pool/post/naive", .threads = {1, 2, 4, 8});

/* The textbook future: a flag under its own mutex, a condition variable. */
typedef struct naive_future {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
    void *result;
    int error;
    int (*fn)(void *, void **);
    void *arg;
} naive_future;

static int naive_future_run(void *arg, void **unused)
{
    (void)unused;
    naive_future *f = arg;
    void *result = NULL;
    int error = f->fn(f->arg, &result);
    pthread_mutex_lock(&f->m);
    f->result = result;
    f->error = error;
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->m);
    return 0;
}

static naive_future *naive_submit(int (*fn)(void *, void **), void *arg)
{
    naive_future *f = malloc(sizeof *f);
    pthread_mutex_init(&f->m, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->done = false;
    f->fn = fn;
    f->arg = arg;
    naive_post(naive_future_run, f);
    return f;
}

static int naive_result_and_free(naive_future *f)
{
    pthread_mutex_lock(&f->m);
    while (!f->done)
        pthread_cond_wait(&f->cv, &f->m);
    int error = f->error;
    pthread_mutex_unlock(&f->m);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->m);
    free(f);
    return error;
}

static void pool_submit_naive(wf_bench_state *s)
{
    naive_setup(s);
    _Atomic long *c = my_counter(s);
    naive_future *ring[WINDOW] = {0};
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++) {
        naive_future **slot = &ring[i % WINDOW];
        if (*slot)
            naive_result_and_free(*slot);
        *slot = naive_submit(count_task, (void *)c);
    }
    for (int i = 0; i < WINDOW; i++)
        if (ring[i])
            naive_result_and_free(ring[i]);
    wf_bench_end(s);
    naive_teardown(s);
}
WF_BENCH(pool_submit_naive, "pool/submit/naive", .threads = {1, 4});

static naive_future *naive_held[OUTSTANDING];

static void pool_outstanding_naive(wf_bench_state *s)
{
    naive_setup(s);
    _Atomic long *c = my_counter(s);
    int64_t n = wf_bench_begin(s);
    if (n > OUTSTANDING)
        n = OUTSTANDING;
    for (int64_t i = 0; i < n; i++)
        naive_held[i] = naive_submit(count_task, (void *)c);
    for (int64_t i = 0; i < n; i++)
        naive_result_and_free(naive_held[i]);
    wf_bench_end(s);
    naive_teardown(s);
}
WF_BENCH(pool_outstanding_naive, "pool/outstanding/naive", .iterations = OUTSTANDING);

/* ---- a thread per task ----------------------------------------------------------------- */

typedef struct {
    int (*fn)(void *, void **);
    void *arg;
} thread_task;

static void *thread_run(void *arg)
{
    thread_task t = *(thread_task *)arg;
    free(arg);
    void *result = NULL;
    t.fn(t.arg, &result);
    return result;
}

static void pool_post_thread(wf_bench_state *s)
{
    _Atomic long *c = my_counter(s);
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++) {
        thread_task *t = malloc(sizeof *t);
        *t = (thread_task){count_task, (void *)c};
        pthread_t th;
        while (pthread_create(&th, &detached, thread_run, t) != 0)
            sched_yield(); /* too many at once: let some finish */
    }
    wait_count(c, n);
    wf_bench_end(s);
    pthread_attr_destroy(&detached);
}
WF_BENCH(pool_post_thread, "pool/post/thread", .threads = {1, 2, 4, 8});

static void pool_submit_thread(wf_bench_state *s)
{
    _Atomic long *c = my_counter(s);
    pthread_t ring[THREAD_WINDOW];
    bool used[THREAD_WINDOW] = {0};
    int64_t n = wf_bench_begin(s);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % THREAD_WINDOW);
        if (used[k])
            pthread_join(ring[k], NULL); /* the thread's join is its future */
        thread_task *t = malloc(sizeof *t);
        *t = (thread_task){count_task, (void *)c};
        while (pthread_create(&ring[k], NULL, thread_run, t) != 0)
            sched_yield();
        used[k] = true;
    }
    for (int k = 0; k < THREAD_WINDOW; k++)
        if (used[k])
            pthread_join(ring[k], NULL);
    wf_bench_end(s);
}
WF_BENCH(pool_submit_thread, "pool/submit/thread", .threads = {1, 4});

/* ---- nested fork-join: Fibonacci(25) ---------------------------------------------------------- */

static long fib_serial(long n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static int fib_task(void *arg, void **result)
{
    long n = (long)(intptr_t)arg;
    if (n <= FIB_CUTOFF) {
        *result = (void *)(intptr_t)fib_serial(n);
        return 0;
    }
    weft_future *left;
    int r = weft_pool_submit(wpool, fib_task, (void *)(intptr_t)(n - 1), &left);
    if (r != 0)
        return r;
    void *right;
    fib_task((void *)(intptr_t)(n - 2), &right);
    void *l;
    r = weft_future_result(left, WEFT_FOREVER, &l);
    weft_future_release(left);
    *result = (void *)((intptr_t)l + (intptr_t)right);
    return r;
}

static void pool_fib25_weft(wf_bench_state *s)
{
    weft_setup(s);
    long want = fib_serial(FIB_N);
    bool ok = true;
    WF_BENCH_LOOP(s)
    {
        weft_future *f;
        void *r = NULL;
        if (weft_pool_submit(wpool, fib_task, (void *)(intptr_t)FIB_N, &f) == 0) {
            weft_future_result(f, WEFT_FOREVER, &r);
            weft_future_release(f);
        }
        ok &= (long)(intptr_t)r == want;
    }
    if (!ok)
        wf_bench_skip_with_error(s, "wrong Fibonacci number");
    weft_teardown(s);
}
WF_BENCH(pool_fib25_weft, "pool/fib25/weft", .headline = true, .target_peer = "serial",
         .target = 0.625);

static void pool_fib25_serial(wf_bench_state *s)
{
    volatile long n = FIB_N; /* not a constant: the recursion must run */
    WF_BENCH_LOOP(s)
    {
        long r = fib_serial(n);
        wf_bench_do_not_optimize(r);
    }
}
WF_BENCH(pool_fib25_serial, "pool/fib25/serial");
