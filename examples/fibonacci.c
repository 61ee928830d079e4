/* Recursive parallel Fibonacci with nested submits: each task submits fib(n-1) to
 * its own pool, computes fib(n-2) itself, then waits for the submitted half. A
 * worker that waits runs pending tasks meanwhile (its own deque first), so this
 * cannot deadlock even on one worker, and idle workers steal the other halves
 * (work stealing). Below a cutoff the recursion is serial: a task must be worth
 * more than the cost of a submit. */
#include <sched.h>
#include <stdio.h>

#include "weft.h"

enum { N = 35, CUTOFF = 20 };

static weft_pool *pool;

static long fib_serial(long n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static int fib_task(void *arg, void **result)
{
    long n = (long)(intptr_t)arg;
    if (n <= CUTOFF) {
        *result = (void *)(intptr_t)fib_serial(n);
        return 0;
    }
    weft_future *left;
    int r = weft_pool_submit(pool, fib_task, (void *)(intptr_t)(n - 1), &left);
    if (r != 0)
        return r;
    void *right;
    fib_task((void *)(intptr_t)(n - 2), &right);
    void *l;
    r = weft_future_result(left, WEFT_FOREVER, &l); /* helps while it waits */
    weft_future_release(left);
    *result = (void *)((intptr_t)l + (intptr_t)right);
    return r;
}

static long fib_on(size_t workers, double *seconds)
{
    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = workers;
    if (weft_pool_create(&pool, &opts) != 0)
        return -1;
    int64_t t0 = weft_now_ns();
    *seconds = 0;
    weft_future *f;
    void *r = (void *)(intptr_t)-1;
    if (weft_pool_submit(pool, fib_task, (void *)(intptr_t)N, &f) == 0) {
        if (weft_future_result(f, WEFT_FOREVER, &r) != 0)
            r = (void *)(intptr_t)-1;
        weft_future_release(f);
    }
    *seconds = (double)(weft_now_ns() - t0) / 1e9;
    weft_pool_destroy(pool);
    return (long)(intptr_t)r;
}

int main(void)
{
    int64_t t0 = weft_now_ns();
    long want = fib_serial(N);
    double serial_s = (double)(weft_now_ns() - t0) / 1e9;
    printf("fib(%d) = %ld serially in %.3f s\n", N, want, serial_s);

    cpu_set_t set;
    size_t cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? (size_t)CPU_COUNT(&set) : 1;
    size_t counts[] = {1, cpus};
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        double s = 0;
        long got = fib_on(counts[i], &s);
        printf("fib(%d) = %ld on %zu worker(s) in %.3f s: %.2fx\n", N, got, counts[i], s,
               serial_s / s);
        ok &= got == want;
    }
    return ok ? 0 : 1;
}
