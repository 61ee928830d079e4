/* bench/once.c: the fast path of one-time initialization, called after the function
 * has run (the common case: every use of a lazily built object), beside
 * pthread_once and C11 call_once.
 *
 *  once/done/<impl>   one call on a flag whose function has already run */
#include "bench.h"
#include "weft/once.h"

#include <pthread.h>
#include <threads.h>

static int initialized;
static void init_arg(void *arg) { (void)arg; initialized++; }
static void init_void(void) { initialized++; }

static weft_once weft_flag = WEFT_ONCE_INIT;
static pthread_once_t pthread_flag = PTHREAD_ONCE_INIT;
static once_flag c11_flag = ONCE_FLAG_INIT;

static void once_done_weft(wf_bench_state *s)
{
    weft_once_call(&weft_flag, init_arg, NULL);
    WF_BENCH_LOOP(s)
    {
        weft_once_call(&weft_flag, init_arg, NULL);
        wf_bench_clobber_memory();
    }
}

static void once_done_pthread(wf_bench_state *s)
{
    pthread_once(&pthread_flag, init_void);
    WF_BENCH_LOOP(s)
    {
        pthread_once(&pthread_flag, init_void);
        wf_bench_clobber_memory();
    }
}

static void once_done_c11(wf_bench_state *s)
{
    call_once(&c11_flag, init_void);
    WF_BENCH_LOOP(s)
    {
        call_once(&c11_flag, init_void);
        wf_bench_clobber_memory();
    }
}

WF_BENCH(once_done_weft, "once/done/weft");
WF_BENCH(once_done_pthread, "once/done/pthread");
WF_BENCH(once_done_c11, "once/done/c11");
