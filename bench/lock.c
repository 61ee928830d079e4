/* bench/lock.c: weft_lock beside pthread_mutex_t (default and adaptive), C11 mtx_t and
 * a Concurrency Kit spinlock.
 *
 *  lock/uncontended/<impl>   acquire + release by one thread, nobody else on the lock
 *                            (the process has a second, parked thread: see bench.h)
 *  lock/contended/<impl>     every thread loops lock; counter++; unlock on one lock; the
 *                            time is wall time per increment of all threads together.
 *                            The counter is checked exact after the run.
 *  lock/contended_ab/weft-and-pthread
 *                            the same loop, weft_lock and pthread_mutex_t in
 *                            alternating rounds of one run (which goes first
 *                            alternates too), so that both see the same machine. A
 *                            round is AB_OPS increments of all threads together on
 *                            one lock, then the same on the other; each round gives
 *                            one weft/pthread ratio of the two times. Counters:
 *                            weft_ns and pthread_ns (median time per increment over
 *                            the rounds), ratio_p10, ratio_p50, ratio_p90 (the
 *                            rounds' ratios) and slower_frac (the fraction of rounds
 *                            in which weft was slower than pthread) of `rounds`
 *                            rounds. The report shows
 *                            them beside lock/contended.
 *
 * Targets: uncontended at most 0.9x pthread_mutex's time; contended at least
 * 1.2x its throughput (time ratio at most 1/1.2) at 2 and 8 threads. */
#include "bench.h"
#include "rounds.h"
#include "weft/lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>
#if WF_HAVE_CK
#include <ck_spinlock.h>
#endif

/* One implementation's two bodies, lock_uncontended_<id> and lock_contended_<id>.
 * INIT/FINI run on thread 0 around the timed loop (a mtx_t needs mtx_init); LOCK and
 * UNLOCK take a pointer to the lock. */
#define LOCK_BODIES(id, T, INIT, FINI, LOCK, UNLOCK)                                       \
    static LOCKED_COUNTER(T) id##_shared;                                                  \
                                                                                           \
    static void lock_uncontended_##id(wf_bench_state *s)                                   \
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
    static void lock_contended_##id(wf_bench_state *s)                                     \
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
            /* The loop's end is a barrier, and every thread ran as many iterations. */   \
            if (id##_shared.counter != wf_bench_iterations(s) * wf_bench_threads(s))       \
                wf_bench_skip_with_error(s, "lost increments: the lock is broken");        \
            FINI(l);                                                                       \
        }                                                                                  \
    }

#define NOTHING(l) ((void)(l))

/* weft_lock: all-zero is unlocked, nothing to set up. */
#define WEFT_LOCK(l) weft_lock_acquire(l)
#define WEFT_UNLOCK(l) weft_lock_release(l)
LOCK_BODIES(weft, weft_lock, NOTHING, NOTHING, WEFT_LOCK, WEFT_UNLOCK)

/* pthread_mutex_t, default kind (what most C code uses). */
static void pthread_init(pthread_mutex_t *m) { pthread_mutex_init(m, NULL); }
LOCK_BODIES(pthread, pthread_mutex_t, pthread_init, pthread_mutex_destroy, pthread_mutex_lock,
            pthread_mutex_unlock)

/* pthread_mutex_t, PTHREAD_MUTEX_ADAPTIVE_NP: glibc's spin-then-sleep kind. */
static void adaptive_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}
LOCK_BODIES(adaptive, pthread_mutex_t, adaptive_init, pthread_mutex_destroy, pthread_mutex_lock,
            pthread_mutex_unlock)

/* C11 <threads.h> mtx_t (glibc: a pthread mutex underneath, through a wrapper call). */
static void c11_init(mtx_t *m) { mtx_init(m, mtx_plain); }
LOCK_BODIES(c11, mtx_t, c11_init, mtx_destroy, mtx_lock, mtx_unlock)

#if WF_HAVE_CK
/* Concurrency Kit's default spinlock (fetch-and-store; spins, never sleeps). */
static void ck_init(ck_spinlock_t *l) { ck_spinlock_init(l); }
LOCK_BODIES(ck, ck_spinlock_t, ck_init, NOTHING, ck_spinlock_lock, ck_spinlock_unlock)
#endif

/* Registration order is the report's column order: weft first, then the peers. */
WF_BENCH(lock_uncontended_weft, "lock/uncontended/weft", .headline = true,
         .target_peer = "pthread", .target = 0.9);
WF_BENCH(lock_uncontended_pthread, "lock/uncontended/pthread");
WF_BENCH(lock_uncontended_adaptive, "lock/uncontended/pthread-adaptive");
WF_BENCH(lock_uncontended_c11, "lock/uncontended/c11");
#if WF_HAVE_CK
WF_BENCH(lock_uncontended_ck, "lock/uncontended/ck");
#endif

/* Contended: 2 and 8 threads for the target (throughput at least 1.2x pthread's,
 * so a time ratio of at most 1/1.2), and the sweep for the scaling chart. */
#define CONTENDED .threads = {2, 8}, .sweep = true
WF_BENCH(lock_contended_weft, "lock/contended/weft", CONTENDED, .headline = true,
         .target_peer = "pthread", .target = 1 / 1.2);
WF_BENCH(lock_contended_pthread, "lock/contended/pthread", CONTENDED);
WF_BENCH(lock_contended_adaptive, "lock/contended/pthread-adaptive", CONTENDED);
WF_BENCH(lock_contended_c11, "lock/contended/c11", CONTENDED);
#if WF_HAVE_CK
WF_BENCH(lock_contended_ck, "lock/contended/ck", CONTENDED);
#endif

/* ---- contended, weft and pthread in alternating rounds ---------------------------- */

enum {
    AB_ROUNDS = 40,     /* rounds of one run: one ratio each */
    AB_OPS = 1 << 18,   /* increments of all threads together, per lock per round:
                           about 5-10 ms here, several scheduler ticks */
    AB_MAX_THREADS = 64,
};

static struct {
    LOCKED_COUNTER(weft_lock) weft;
    LOCKED_COUNTER(pthread_mutex_t) pthread;
    pthread_barrier_t phase; /* untimed: separates the rounds' halves */
    double start[AB_MAX_THREADS], end[AB_MAX_THREADS];
    double weft_ns[AB_ROUNDS], pthread_ns[AB_ROUNDS];
} ab;

/* One half of a round on thread `me`: returns after every thread's loop is done; thread
 * 0 then returns the half's wall time per increment (first start to last end). */
static double ab_half(bool weft, int me, int n, long per_thread)
{
    pthread_barrier_wait(&ab.phase);
    ab.start[me] = wf_rounds_now_ns();
    if (weft) {
        for (long i = 0; i < per_thread; i++) {
            weft_lock_acquire(&ab.weft.lock);
            ab.weft.counter++;
            weft_lock_release(&ab.weft.lock);
        }
    } else {
        for (long i = 0; i < per_thread; i++) {
            pthread_mutex_lock(&ab.pthread.lock);
            ab.pthread.counter++;
            pthread_mutex_unlock(&ab.pthread.lock);
        }
    }
    ab.end[me] = wf_rounds_now_ns();
    pthread_barrier_wait(&ab.phase);
    if (me != 0)
        return 0;
    double first = ab.start[0], last = ab.end[0];
    for (int i = 1; i < n; i++) {
        first = ab.start[i] < first ? ab.start[i] : first;
        last = ab.end[i] > last ? ab.end[i] : last;
    }
    return (last - first) / (double)(per_thread * n);
}

static void lock_contended_ab(wf_bench_state *s)
{
    int me = wf_bench_thread_index(s), n = wf_bench_threads(s);
    long per_thread = AB_OPS / n;
    if (n > AB_MAX_THREADS) {
        if (me == 0)
            wf_bench_skip_with_error(s, "too many threads");
        return;
    }
    if (me == 0) {
        ab.weft.lock = (weft_lock)WEFT_LOCK_INIT;
        pthread_mutex_init(&ab.pthread.lock, NULL);
        pthread_barrier_init(&ab.phase, NULL, (unsigned)n);
    }
    long round = 0;
    WF_BENCH_LOOP(s)
    {
        bool weft_first = round % 2 == 0;
        double first = ab_half(weft_first, me, n, per_thread);
        double second = ab_half(!weft_first, me, n, per_thread);
        if (me == 0 && round < AB_ROUNDS) {
            ab.weft_ns[round] = weft_first ? first : second;
            ab.pthread_ns[round] = weft_first ? second : first;
        }
        round++;
    }
    if (me != 0)
        return;
    /* The loop's end is a barrier: every thread has finished every round. */
    long want = (long)round * per_thread * n;
    if (ab.weft.counter != want || ab.pthread.counter != want)
        wf_bench_skip_with_error(s, "lost increments: a lock is broken");
    ab.weft.counter = ab.pthread.counter = 0;
    pthread_barrier_destroy(&ab.phase);
    pthread_mutex_destroy(&ab.pthread.lock);
    wf_rounds_report(s, ab.weft_ns, ab.pthread_ns, (int)(round < AB_ROUNDS ? round : AB_ROUNDS),
                     "pthread");
}
WF_BENCH(lock_contended_ab, "lock/contended_ab/weft-and-pthread", .threads = {2, 8},
         .iterations = AB_ROUNDS);
