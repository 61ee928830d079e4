/* bench/sem.c: weft_sem beside pthreads' sem_t and the textbook counter under a
 * mutex with a condition variable ("naive"). Ping-pong round trips are in
 * bench/pingpong.c.
 *
 *  sem/uncontended/<impl>  acquire + release by one thread, nobody else on it
 *  sem/guard/<impl>        a semaphore of 2 guarding a resource: every thread loops
 *                          acquire; use; release; wall time per use of all threads
 *                          together; the use count is checked exact after the run */
#include "bench.h"
#include "weft/sem.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

enum { GUARD_SLOTS = 2 };

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    unsigned count;
} naive_sem;

static void naive_init(naive_sem *n, unsigned v)
{
    pthread_mutex_init(&n->m, NULL);
    pthread_cond_init(&n->c, NULL);
    n->count = v;
}
static void naive_fini(naive_sem *n)
{
    pthread_mutex_destroy(&n->m);
    pthread_cond_destroy(&n->c);
}
static void naive_acquire(naive_sem *n)
{
    pthread_mutex_lock(&n->m);
    while (n->count == 0)
        pthread_cond_wait(&n->c, &n->m);
    n->count--;
    pthread_mutex_unlock(&n->m);
}
static void naive_release(naive_sem *n)
{
    pthread_mutex_lock(&n->m);
    n->count++;
    pthread_cond_signal(&n->c);
    pthread_mutex_unlock(&n->m);
}

static void weft_init(weft_sem *s, unsigned v) { weft_sem_init(s, v); }
static void weft_fini(weft_sem *s) { (void)s; }
static void weft_acquire(weft_sem *s) { weft_sem_acquire(s); }
static void weft_release(weft_sem *s) { weft_sem_release(s, 1); }

static void posix_init(sem_t *s, unsigned v) { sem_init(s, 0, v); }
static void posix_fini(sem_t *s) { sem_destroy(s); }
static void posix_acquire(sem_t *s)
{
    while (sem_wait(s) != 0) /* EINTR */
        ;
}
static void posix_release(sem_t *s) { sem_post(s); }

#define SEM_BODIES(id, T)                                                                  \
    static struct {                                                                        \
        T sem;                                                                             \
        _Atomic long uses;                                                                 \
    } __attribute__((aligned(64))) id##_shared;                                            \
                                                                                           \
    static void sem_uncontended_##id(wf_bench_state *s)                                    \
    {                                                                                      \
        T *sem = &id##_shared.sem;                                                         \
        id##_init(sem, 1);                                                                 \
        WF_BENCH_LOOP(s)                                                                   \
        {                                                                                  \
            id##_acquire(sem);                                                             \
            id##_release(sem);                                                             \
        }                                                                                  \
        id##_fini(sem);                                                                    \
    }                                                                                      \
                                                                                           \
    static void sem_guard_##id(wf_bench_state *s)                                          \
    {                                                                                      \
        T *sem = &id##_shared.sem;                                                         \
        if (wf_bench_thread_index(s) == 0) {                                               \
            id##_init(sem, GUARD_SLOTS);                                                   \
            atomic_store_explicit(&id##_shared.uses, 0, memory_order_relaxed);             \
        }                                                                                  \
        WF_BENCH_LOOP(s)                                                                   \
        {                                                                                  \
            id##_acquire(sem);                                                             \
            atomic_fetch_add_explicit(&id##_shared.uses, 1, memory_order_relaxed);         \
            id##_release(sem);                                                             \
        }                                                                                  \
        if (wf_bench_thread_index(s) == 0) {                                               \
            if (atomic_load(&id##_shared.uses) != wf_bench_iterations(s) * wf_bench_threads(s)) \
                wf_bench_skip_with_error(s, "lost uses: the semaphore is broken");         \
            id##_fini(sem);                                                                \
        }                                                                                  \
    }

SEM_BODIES(weft, weft_sem)
SEM_BODIES(posix, sem_t)
SEM_BODIES(naive, naive_sem)

WF_BENCH(sem_uncontended_weft, "sem/uncontended/weft");
WF_BENCH(sem_uncontended_posix, "sem/uncontended/pthread");
WF_BENCH(sem_uncontended_naive, "sem/uncontended/naive");
#define CONTENDED .threads = {2, 8}
WF_BENCH(sem_guard_weft, "sem/guard/weft", CONTENDED);
WF_BENCH(sem_guard_posix, "sem/guard/pthread", CONTENDED);
WF_BENCH(sem_guard_naive, "sem/guard/naive", CONTENDED);
