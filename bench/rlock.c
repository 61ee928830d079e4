/* bench/rlock.c: weft_rlock beside a recursive pthread_mutex_t and C11's
 * mtx_recursive.
 *
 *  rlock/uncontended/<impl>  acquire + release by one thread, nobody else on the lock
 *  rlock/reenter/<impl>      acquire twice + release twice (one entry, one re-entry)
 *  rlock/contended/<impl>    every thread loops lock; counter++; unlock on one lock;
 *                            wall time per increment of all threads together; the
 *                            counter is checked exact after the run */
#include "bench.h"
#include "weft/rlock.h"

#include <pthread.h>
#include <threads.h>

#define RLOCK_BODIES(id, T, INIT, FINI, LOCK, UNLOCK)                                      \
    static LOCKED_COUNTER(T) id##_shared;                                                  \
                                                                                           \
    static void rlock_uncontended_##id(wf_bench_state *s)                                  \
    {                                                                                      \
        T *l = &id##_shared.lock;                                                          \
        INIT(l);                                                                           \
        WF_BENCH_LOOP(s)                                                                   \
        {                                                                                  \
            LOCK(l);                                                                       \
            UNLOCK(l);                                                                     \
        }                                                                                  \
        FINI(l);                                                                           \
    }                                                                                      \
                                                                                           \
    static void rlock_reenter_##id(wf_bench_state *s)                                      \
    {                                                                                      \
        T *l = &id##_shared.lock;                                                          \
        INIT(l);                                                                           \
        WF_BENCH_LOOP(s)                                                                   \
        {                                                                                  \
            LOCK(l);                                                                       \
            LOCK(l);                                                                       \
            UNLOCK(l);                                                                     \
            UNLOCK(l);                                                                     \
        }                                                                                  \
        FINI(l);                                                                           \
    }                                                                                      \
                                                                                           \
    static void rlock_contended_##id(wf_bench_state *s)                                    \
    {                                                                                      \
        T *l = &id##_shared.lock;                                                          \
        if (wf_bench_thread_index(s) == 0) {                                               \
            INIT(l);                                                                       \
            id##_shared.counter = 0;                                                       \
        }                                                                                  \
        WF_BENCH_LOOP(s)                                                                   \
        {                                                                                  \
            LOCK(l);                                                                       \
            id##_shared.counter++;                                                         \
            UNLOCK(l);                                                                     \
        }                                                                                  \
        if (wf_bench_thread_index(s) == 0) {                                               \
            if (id##_shared.counter != wf_bench_iterations(s) * wf_bench_threads(s))       \
                wf_bench_skip_with_error(s, "lost increments: the lock is broken");        \
            FINI(l);                                                                       \
        }                                                                                  \
    }

#define NOTHING(l) ((void)(l))

/* weft_rlock: all-zero is unlocked. */
RLOCK_BODIES(weft, weft_rlock, NOTHING, NOTHING, weft_rlock_acquire, weft_rlock_release)

/* pthread_mutex_t of kind PTHREAD_MUTEX_RECURSIVE. */
static void pthread_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}
RLOCK_BODIES(pthread, pthread_mutex_t, pthread_init, pthread_mutex_destroy, pthread_mutex_lock,
             pthread_mutex_unlock)

/* C11 mtx_t of kind mtx_plain | mtx_recursive. */
static void c11_init(mtx_t *m) { mtx_init(m, mtx_plain | mtx_recursive); }
RLOCK_BODIES(c11, mtx_t, c11_init, mtx_destroy, mtx_lock, mtx_unlock)

WF_BENCH(rlock_uncontended_weft, "rlock/uncontended/weft");
WF_BENCH(rlock_uncontended_pthread, "rlock/uncontended/pthread");
WF_BENCH(rlock_uncontended_c11, "rlock/uncontended/c11");
WF_BENCH(rlock_reenter_weft, "rlock/reenter/weft");
WF_BENCH(rlock_reenter_pthread, "rlock/reenter/pthread");
WF_BENCH(rlock_reenter_c11, "rlock/reenter/c11");
#define CONTENDED .threads = {2, 8}
WF_BENCH(rlock_contended_weft, "rlock/contended/weft", CONTENDED);
WF_BENCH(rlock_contended_pthread, "rlock/contended/pthread", CONTENDED);
WF_BENCH(rlock_contended_c11, "rlock/contended/c11", CONTENDED);
