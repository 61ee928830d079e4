/* bench/cond.c: weft_cond beside pthread_cond_t and C11 cnd_t, each with its own
 * lock (weft_lock, pthread_mutex_t, mtx_t).
 *
 *  cond/pingpong/<impl>     two threads hand a turn back and forth through one lock
 *                           and one condition: set turn, notify(1), wait until it
 *                           comes back. One iteration is one round trip, timed on A;
 *                           B is a pthread the body starts. Target: at most
 *                           0.7x pthread_cond's round trip.
 *  cond/notify_all8/<impl>  eight threads wait on one condition; the body (a ninth
 *                           thread) waits until all eight are waiting, then bumps a
 *                           generation and notifies all, holding the lock; the last
 *                           of the eight to come back (each re-takes the lock in
 *                           turn) tells the body. One iteration is one such round:
 *                           notify_all to all eight running again and back in their
 *                           wait. The counter wake_to_all_ns is the part from the
 *                           notify to the eighth waiter running, averaged.
 */
#include "bench.h"
#include "weft/cond.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One implementation's lock and condition, called through macros so that every
 * implementation's body is the same code. */
#define COND_BODIES(id, LOCK_T, COND_T, INIT, FINI, LOCK, UNLOCK, WAIT, SIGNAL, BROADCAST)      \
    static struct {                                                                            \
        LOCK_T lock __attribute__((aligned(64)));                                              \
        COND_T cond;                                                                           \
        COND_T idle; /* the notify_all body waits here for the waiters */                     \
        int turn;                                                                              \
        bool stop;                                                                             \
        long generation;                                                                       \
        int waiting, back;                                                                     \
        int64_t notified_at, all_back_at;                                                      \
    } id##_s;                                                                                  \
                                                                                               \
    static void *id##_pong(void *arg)                                                          \
    {                                                                                          \
        (void)arg;                                                                             \
        LOCK(&id##_s.lock);                                                                    \
        for (;;) {                                                                             \
            while (id##_s.turn != 1 && !id##_s.stop)                                           \
                WAIT(&id##_s.cond, &id##_s.lock);                                              \
            if (id##_s.stop)                                                                   \
                break;                                                                         \
            id##_s.turn = 0;                                                                   \
            SIGNAL(&id##_s.cond);                                                              \
        }                                                                                      \
        UNLOCK(&id##_s.lock);                                                                  \
        return NULL;                                                                           \
    }                                                                                          \
                                                                                               \
    static void cond_pingpong_##id(wf_bench_state *s)                                          \
    {                                                                                          \
        INIT(&id##_s.lock, &id##_s.cond, &id##_s.idle);                                        \
        id##_s.turn = 0;                                                                       \
        id##_s.stop = false;                                                                   \
        pthread_t b;                                                                           \
        if (pthread_create(&b, NULL, id##_pong, NULL) != 0) {                                  \
            wf_bench_skip_with_error(s, "pthread_create failed");                              \
            return;                                                                            \
        }                                                                                      \
        LOCK(&id##_s.lock);                                                                    \
        WF_BENCH_LOOP(s)                                                                       \
        {                                                                                      \
            id##_s.turn = 1;                                                                   \
            SIGNAL(&id##_s.cond);                                                              \
            while (id##_s.turn != 0)                                                           \
                WAIT(&id##_s.cond, &id##_s.lock);                                              \
        }                                                                                      \
        id##_s.stop = true;                                                                    \
        SIGNAL(&id##_s.cond);                                                                  \
        UNLOCK(&id##_s.lock);                                                                  \
        pthread_join(b, NULL);                                                                 \
        FINI(&id##_s.lock, &id##_s.cond, &id##_s.idle);                                        \
    }                                                                                          \
                                                                                               \
    static void *id##_sleeper(void *arg)                                                       \
    {                                                                                          \
        (void)arg;                                                                             \
        LOCK(&id##_s.lock);                                                                    \
        for (;;) {                                                                             \
            long mine = id##_s.generation;                                                     \
            id##_s.waiting++;                                                                  \
            if (id##_s.waiting == WAITERS)                                                     \
                SIGNAL(&id##_s.idle);                                                          \
            while (id##_s.generation == mine && !id##_s.stop)                                  \
                WAIT(&id##_s.cond, &id##_s.lock);                                              \
            if (id##_s.stop)                                                                   \
                break;                                                                         \
            if (++id##_s.back == WAITERS) {                                                    \
                id##_s.all_back_at = now_ns();                                                 \
                SIGNAL(&id##_s.idle);                                                          \
            }                                                                                  \
        }                                                                                      \
        UNLOCK(&id##_s.lock);                                                                  \
        return NULL;                                                                           \
    }                                                                                          \
                                                                                               \
    static void cond_notify_all8_##id(wf_bench_state *s)                                       \
    {                                                                                          \
        INIT(&id##_s.lock, &id##_s.cond, &id##_s.idle);                                        \
        id##_s.stop = false;                                                                   \
        id##_s.generation = 0;                                                                 \
        id##_s.waiting = id##_s.back = 0;                                                      \
        pthread_t th[WAITERS];                                                                 \
        for (int i = 0; i < WAITERS; i++)                                                      \
            if (pthread_create(&th[i], NULL, id##_sleeper, NULL) != 0)                         \
                abort();                                                                       \
        double wake_total = 0;                                                                 \
        LOCK(&id##_s.lock);                                                                    \
        WF_BENCH_LOOP(s)                                                                       \
        {                                                                                      \
            while (id##_s.waiting < WAITERS)                                                   \
                WAIT(&id##_s.idle, &id##_s.lock);                                              \
            id##_s.waiting = 0;                                                                \
            id##_s.back = 0;                                                                   \
            id##_s.generation++;                                                               \
            id##_s.notified_at = now_ns();                                                     \
            BROADCAST(&id##_s.cond);                                                           \
            while (id##_s.back < WAITERS)                                                      \
                WAIT(&id##_s.idle, &id##_s.lock);                                              \
            wake_total += (double)(id##_s.all_back_at - id##_s.notified_at);                   \
        }                                                                                      \
        id##_s.stop = true;                                                                    \
        BROADCAST(&id##_s.cond);                                                               \
        UNLOCK(&id##_s.lock);                                                                  \
        for (int i = 0; i < WAITERS; i++)                                                      \
            pthread_join(th[i], NULL);                                                         \
        int64_t n = wf_bench_iterations(s);                                                    \
        wf_bench_counter(s, "wake_to_all_ns", n ? wake_total / (double)n : 0);                 \
        FINI(&id##_s.lock, &id##_s.cond, &id##_s.idle);                                        \
    }

enum { WAITERS = 8 };

/* ---- weft: all-zero is ready, nothing to set up -------------------------------------- */
static void weft_init(weft_lock *l, weft_cond *c, weft_cond *idle)
{
    *l = (weft_lock)WEFT_LOCK_INIT;
    *c = (weft_cond)WEFT_COND_INIT;
    *idle = (weft_cond)WEFT_COND_INIT;
}
static void weft_fini(weft_lock *l, weft_cond *c, weft_cond *idle)
{
    (void)l, (void)c, (void)idle;
}
#define WEFT_WAIT(c, l) weft_cond_wait((c), (l), WEFT_FOREVER)
#define WEFT_SIGNAL(c) weft_cond_notify((c), 1)
COND_BODIES(weft, weft_lock, weft_cond, weft_init, weft_fini, weft_lock_acquire,
            weft_lock_release, WEFT_WAIT, WEFT_SIGNAL, weft_cond_notify_all)

/* ---- pthreads ------------------------------------------------------------------------ */
static void posix_init(pthread_mutex_t *m, pthread_cond_t *c, pthread_cond_t *idle)
{
    pthread_mutex_init(m, NULL);
    pthread_cond_init(c, NULL);
    pthread_cond_init(idle, NULL);
}
static void posix_fini(pthread_mutex_t *m, pthread_cond_t *c, pthread_cond_t *idle)
{
    pthread_mutex_destroy(m);
    pthread_cond_destroy(c);
    pthread_cond_destroy(idle);
}
COND_BODIES(pthread, pthread_mutex_t, pthread_cond_t, posix_init, posix_fini, pthread_mutex_lock,
            pthread_mutex_unlock, pthread_cond_wait, pthread_cond_signal, pthread_cond_broadcast)

/* ---- C11 <threads.h> ------------------------------------------------------------------ */
static void c11_init(mtx_t *m, cnd_t *c, cnd_t *idle)
{
    mtx_init(m, mtx_plain);
    cnd_init(c);
    cnd_init(idle);
}
static void c11_fini(mtx_t *m, cnd_t *c, cnd_t *idle)
{
    mtx_destroy(m);
    cnd_destroy(c);
    cnd_destroy(idle);
}
COND_BODIES(c11, mtx_t, cnd_t, c11_init, c11_fini, mtx_lock, mtx_unlock, cnd_wait, cnd_signal,
            cnd_broadcast)

/* ---- registration (weft first: the report's column order) ----------------------------- */
WF_BENCH(cond_pingpong_weft, "cond/pingpong/weft", .target_peer = "pthread",
         .target = 0.7);
WF_BENCH(cond_pingpong_pthread, "cond/pingpong/pthread");
WF_BENCH(cond_pingpong_c11, "cond/pingpong/c11");
WF_BENCH(cond_notify_all8_weft, "cond/notify_all8/weft");
WF_BENCH(cond_notify_all8_pthread, "cond/notify_all8/pthread");
WF_BENCH(cond_notify_all8_c11, "cond/notify_all8/c11");
