/* bench/local.c: weft_local_get beside pthread_getspecific, C11 tss_get and a plain
 * _Thread_local variable.
 *
 *  local/get/<impl>   get this thread's block and increment a counter in it. A
 *                     compiler barrier per iteration keeps every implementation from
 *                     hoisting the lookup out of the loop (it costs no instruction).
 *
 * Target: at most 1.0x pthread_getspecific's time; _Thread_local (the
 * floor: one %fs-relative access) is shown for scale. */
#include "bench.h"
#include "weft/local.h"

#include <pthread.h>
#include <stdlib.h>
#include <threads.h>

static void get_weft(wf_bench_state *s)
{
    weft_local key;
    if (weft_local_create(&key, sizeof(long), NULL, NULL) != 0) {
        wf_bench_skip_with_error(s, "weft_local_create failed");
        return;
    }
    weft_local_get(key); /* the first get makes the block: not what is measured */
    WF_BENCH_LOOP(s)
    {
        ++*(long *)weft_local_get(key);
        wf_bench_clobber_memory();
    }
    weft_local_delete(key);
}

static void get_pthread(wf_bench_state *s)
{
    pthread_key_t key;
    static long block;
    if (pthread_key_create(&key, NULL) != 0 || pthread_setspecific(key, &block) != 0) {
        wf_bench_skip_with_error(s, "pthread_key_create failed");
        return;
    }
    WF_BENCH_LOOP(s)
    {
        ++*(long *)pthread_getspecific(key);
        wf_bench_clobber_memory();
    }
    pthread_key_delete(key);
}

static void get_c11(wf_bench_state *s)
{
    tss_t key;
    static long block;
    if (tss_create(&key, NULL) != thrd_success || tss_set(key, &block) != thrd_success) {
        wf_bench_skip_with_error(s, "tss_create failed");
        return;
    }
    WF_BENCH_LOOP(s)
    {
        ++*(long *)tss_get(key);
        wf_bench_clobber_memory();
    }
    tss_delete(key);
}

static _Thread_local long tls_counter;

static void get_thread_local(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        ++tls_counter;
        wf_bench_clobber_memory();
    }
}

WF_BENCH(get_weft, "local/get/weft", .target_peer = "pthread", .target = 1.0);
WF_BENCH(get_pthread, "local/get/pthread");
WF_BENCH(get_c11, "local/get/c11");
WF_BENCH(get_thread_local, "local/get/c11-thread_local");
