/* bench/barrier.c: weft_barrier beside pthread_barrier_t.
 *
 *  barrier/cycle/<impl>   every thread of the run loops on one barrier of as many
 *                         parties. The figure is wall time per wait of all threads
 *                         together (bench.h); a cycle takes `threads` times that.
 *                         Target: at most 0.8x pthread_barrier's time, at
 *                         2 and 8 threads.
 */
#include "bench.h"
#include "weft/barrier.h"

#include <pthread.h>

static weft_barrier weft_b;
static pthread_barrier_t posix_b;

static void barrier_cycle_weft(wf_bench_state *s)
{
    /* Thread 0 sets up before the loop; the loop's start is a barrier for all. */
    if (wf_bench_thread_index(s) == 0)
        weft_barrier_init(&weft_b, (uint32_t)wf_bench_threads(s), NULL, NULL, WEFT_FOREVER);
    WF_BENCH_LOOP(s)
    {
        weft_barrier_wait(&weft_b, WEFT_FOREVER, NULL);
    }
}

static void barrier_cycle_pthread(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0)
        pthread_barrier_init(&posix_b, NULL, (unsigned)wf_bench_threads(s));
    WF_BENCH_LOOP(s)
    {
        pthread_barrier_wait(&posix_b);
    }
    /* The loop's end is a barrier: everyone has left the last wait. */
    if (wf_bench_thread_index(s) == 0)
        pthread_barrier_destroy(&posix_b);
}

WF_BENCH(barrier_cycle_weft, "barrier/cycle/weft", .threads = {2, 8},
         .target_peer = "pthread", .target = 0.8);
WF_BENCH(barrier_cycle_pthread, "barrier/cycle/pthread", .threads = {2, 8});
