/* bench/thread.c: weft_thread beside pthreads and C11 threads.
 *
 *  thread/start_join/<impl>        start a thread that does nothing and join it
 *                                  (weft: start + join(WEFT_FOREVER) + release)
 *  thread/start_join_timed/<impl>  the same, joined with a finite timeout: weft waits
 *                                  on its FINISHED word through the wait layer, then
 *                                  reaps; the peer is pthread_timedjoin_np
 *  thread/start_join_ab/weft-and-pthread
 *                                  start_join of weft and of pthreads in alternating
 *                                  rounds of AB_THREADS threads each, in one run (which
 *                                  goes first alternates): each round gives one
 *                                  weft/pthread ratio. Counters as lock/contended_ab's
 *                                  (bench/lock.c); the report shows them beside
 *                                  thread/start_join.
 *
 * Target: start+join at most 1.1x pthread_create + pthread_join's time. */
#include "bench.h"
#include "rounds.h"
#include "weft/thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static void *nothing(void *arg)
{
    return arg;
}

static int nothing_c11(void *arg)
{
    (void)arg;
    return 0;
}

static void start_join_weft(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        weft_thread th;
        void *res;
        if (weft_thread_start(&th, nothing, NULL, NULL) != 0)
            __builtin_trap();
        weft_thread_join(th, WEFT_FOREVER, &res);
        weft_thread_release(th);
    }
}

static void start_join_pthread(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        pthread_t th;
        void *res;
        if (pthread_create(&th, NULL, nothing, NULL) != 0)
            __builtin_trap();
        pthread_join(th, &res);
    }
}

static void start_join_c11(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        thrd_t th;
        int res;
        if (thrd_create(&th, nothing_c11, NULL) != thrd_success)
            __builtin_trap();
        thrd_join(th, &res);
    }
}

static void start_join_timed_weft(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        weft_thread th;
        void *res;
        if (weft_thread_start(&th, nothing, NULL, NULL) != 0)
            __builtin_trap();
        weft_thread_join(th, WEFT_SEC(10), &res);
        weft_thread_release(th);
    }
}

static void start_join_timed_pthread(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        pthread_t th;
        void *res;
        if (pthread_create(&th, NULL, nothing, NULL) != 0)
            __builtin_trap();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* timedjoin measures on CLOCK_REALTIME */
        ts.tv_sec += 10;
        pthread_timedjoin_np(th, &res, &ts);
    }
}

enum { AB_ROUNDS = 40, AB_THREADS = 100 };

/* AB_THREADS start+joins of one implementation: the time of one, in ns. */
static double ab_half(bool weft)
{
    double start = wf_rounds_now_ns();
    for (int i = 0; i < AB_THREADS; i++) {
        void *res;
        if (weft) {
            weft_thread th;
            if (weft_thread_start(&th, nothing, NULL, NULL) != 0)
                __builtin_trap();
            weft_thread_join(th, WEFT_FOREVER, &res);
            weft_thread_release(th);
        } else {
            pthread_t th;
            if (pthread_create(&th, NULL, nothing, NULL) != 0)
                __builtin_trap();
            pthread_join(th, &res);
        }
    }
    return (wf_rounds_now_ns() - start) / AB_THREADS;
}

static void start_join_ab(wf_bench_state *s)
{
    double weft_ns[AB_ROUNDS], pthread_ns[AB_ROUNDS];
    int r = 0;
    WF_BENCH_LOOP(s)
    {
        bool weft_first = r % 2 == 0;
        double first = ab_half(weft_first), second = ab_half(!weft_first);
        if (r < AB_ROUNDS) {
            weft_ns[r] = weft_first ? first : second;
            pthread_ns[r] = weft_first ? second : first;
        }
        r++;
    }
    wf_rounds_report(s, weft_ns, pthread_ns, r < AB_ROUNDS ? r : AB_ROUNDS, "pthread");
}

WF_BENCH(start_join_weft, "thread/start_join/weft", .target_peer = "pthread",
         .target = 1.1);
WF_BENCH(start_join_pthread, "thread/start_join/pthread");
WF_BENCH(start_join_c11, "thread/start_join/c11");
WF_BENCH(start_join_timed_weft, "thread/start_join_timed/weft");
WF_BENCH(start_join_timed_pthread, "thread/start_join_timed/pthread");
WF_BENCH(start_join_ab, "thread/start_join_ab/weft-and-pthread", .iterations = AB_ROUNDS);
