/* bench/thread.c: weft_thread beside pthreads and C11 threads.
 *
 *  thread/start_join/<impl>        start a thread that does nothing and join it
 *                                  (weft: start + join(WEFT_FOREVER) + release)
 *  thread/start_join_timed/<impl>  the same, joined with a finite timeout: weft waits
 *                                  on its FINISHED word through the wait layer, then
 *                                  reaps; the peer is pthread_timedjoin_np
 *
 * Target: start+join at most 1.1x pthread_create + pthread_join's time. */
#include "bench.h"
#include "weft/thread.h"

#include <pthread.h>
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

WF_BENCH(start_join_weft, "thread/start_join/weft", .target_peer = "pthread",
         .target = 1.1);
WF_BENCH(start_join_pthread, "thread/start_join/pthread");
WF_BENCH(start_join_c11, "thread/start_join/c11");
WF_BENCH(start_join_timed_weft, "thread/start_join_timed/weft");
WF_BENCH(start_join_timed_pthread, "thread/start_join_timed/pthread");
