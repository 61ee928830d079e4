/* bench/timer.c: weft_timer's start + cancel with many timers pending.
 *
 *  timer/start_cancel/weft/pending:N   N timers (0, 10^3, 10^5) are pending on the
 *                                      service thread, due in an hour; each
 *                                      iteration starts one more, due among them,
 *                                      and cancels it (two O(log N) heap
 *                                      operations under the service's lock).
 *
 * No peer: a Python-style Timer is a thread per timer (pthread_create + a timed
 * wait + join, tens of microseconds), and POSIX timers are one system call each;
 * the figure shows that the cost grows with log N only.
 */
#include "bench.h"
#include "weft/timer.h"

#include <stdlib.h>

static void nop(void *arg)
{
    (void)arg;
}

static void timer_start_cancel_weft(wf_bench_state *s)
{
    int64_t pending = wf_bench_arg(s);
    weft_timer *many = calloc((size_t)pending + 1, sizeof *many);
    if (!many) {
        wf_bench_skip_with_error(s, "out of memory");
        return;
    }
    unsigned seed = 1;
    for (int64_t i = 0; i < pending; i++)
        weft_timer_start(&many[i], WEFT_SEC(3600) + rand_r(&seed) % WEFT_SEC(60), nop, NULL);
    weft_timer *t = &many[pending];
    int64_t k = 0;
    WF_BENCH_LOOP(s)
    {
        /* Due somewhere among the others: a sift through part of the heap. */
        weft_timer_start(t, WEFT_SEC(3600) + (k++ % 60) * WEFT_SEC(1), nop, NULL);
        weft_timer_cancel(t);
    }
    for (int64_t i = 0; i < pending; i++)
        weft_timer_cancel(&many[i]);
    free(many);
}

WF_BENCH(timer_start_cancel_weft, "timer/start_cancel/weft", .args = {0, 1000, 100000},
         .n_args = 3, .arg_name = "pending");
