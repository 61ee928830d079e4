/* bench/rwlock.c: weft_rwlock beside pthread_rwlock_t (default, which prefers
 * readers, and PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), Concurrency Kit's
 * ck_rwlock and ck_brlock (big-reader lock: a counter per registered reader), and
 * the textbook mutex + condition variable reader-writer lock.
 *
 *  rwlock/read-uncontended/<impl>  read acquire + release by one thread
 *  rwlock/read-mostly/<impl>       every thread: one write (a counter pair ++) per
 *                                  1000 operations, reads of the pair otherwise;
 *                                  wall time per operation of all threads together.
 *                                  The pair is checked exact after the run
 *  rwlock/write-contended/<impl>   every thread writes: counter++ under the write hold
 *  rwlock/writer-wait/<impl>       4 threads read back to back (a flood: the lock is
 *                                  seldom free); a fifth takes the write hold every
 *                                  200 us. Counters: the writer's wait, median and
 *                                  worst (us), and how many waits hit the 20 ms cap
 *                                  (pthread's default, which prefers readers, may
 *                                  never let the writer in; the cap bounds the run)
 *
 * ck's locks only spin: readers go through their trylock with the bench's usual
 * pause-then-yield between tries (with more threads than CPUs a pure spinner burns
 * the time slice its lock's holder needs); ck writers use ck's own write_lock, which
 * claims the lock first and cannot starve as a write trylock loop would.
 *
 * Targets: read-uncontended at most 0.7x pthread's time; read-mostly at least 3x
 * pthread's throughput (time ratio 1/3) at 2 and 8 threads; write-contended at most
 * 1.0x pthread's time at 2 threads; worst writer wait under the flood below 10 ms. */
#include "bench.h"
#include "weft/rwlock.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if WF_HAVE_CK
#include <ck_brlock.h>
#include <ck_rwlock.h>
#endif

enum {
    WRITE_EVERY = 1000,   /* read-mostly: one write per this many operations */
    FLOOD_READERS = 4,    /* writer-wait: readers flooding the lock */
    WAITS = 100,          /* writer-wait: write acquisitions measured per run */
    WAIT_GAP_US = 200,    /* writer-wait: the writer's pause between acquisitions */
};
#define WAIT_CAP_NS ((int64_t)20 * 1000 * 1000) /* writer-wait: longest wait measured */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A spinning peer's retry, as bench/queue.c's: pause, and now and then give the CPU
 * away. */
static inline void spin_retry(int *tries)
{
    if (++*tries < 4096) {
        __builtin_ia32_pause();
    } else {
        *tries = 0;
        sched_yield();
    }
}

/* The lock and the data it guards, on one line as in real code. */
#define GUARDED(T)                                                                   \
    struct {                                                                         \
        T lock;                                                                      \
        long a, b;                                                                   \
    } __attribute__((aligned(64)))

/* One implementation's four bodies. INIT/FINI run on thread 0 around the timed loop;
 * ENTER/LEAVE run on every thread around its loop (ck_brlock registers its readers
 * there); RD/RU read-lock and unlock, WR/WU write; TIMED_WR(l, ns) write-locks with a
 * timeout and returns true if it got the lock. */
#define RWLOCK_BODIES(id, T, INIT, FINI, ENTER, LEAVE, RD, RU, WR, WU, TIMED_WR)            \
    static GUARDED(T) id##_shared;                                                          \
                                                                                            \
    static void rwlock_read_uncontended_##id(wf_bench_state *s)                             \
    {                                                                                       \
        T *l = &id##_shared.lock;                                                           \
        INIT(l);                                                                            \
        ENTER(l);                                                                           \
        WF_BENCH_LOOP(s)                                                                    \
        {                                                                                   \
            RD(l);                                                                          \
            wf_bench_clobber_memory();                                                      \
            RU(l);                                                                          \
        }                                                                                   \
        LEAVE(l);                                                                           \
        FINI(l);                                                                            \
    }                                                                                       \
                                                                                            \
    static void rwlock_read_mostly_##id(wf_bench_state *s)                                  \
    {                                                                                       \
        T *l = &id##_shared.lock;                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            INIT(l);                                                                        \
            id##_shared.a = id##_shared.b = 0;                                              \
        }                                                                                   \
        ENTER(l);                                                                           \
        long sum = 0;                                                                       \
        int k = wf_bench_thread_index(s) * 37 % WRITE_EVERY; /* threads write apart */      \
        WF_BENCH_LOOP(s)                                                                    \
        {                                                                                   \
            if (++k == WRITE_EVERY) {                                                       \
                k = 0;                                                                      \
                WR(l);                                                                      \
                id##_shared.a++;                                                            \
                id##_shared.b++;                                                            \
                WU(l);                                                                      \
            } else {                                                                        \
                RD(l);                                                                      \
                sum += id##_shared.a - id##_shared.b;                                       \
                RU(l);                                                                      \
            }                                                                               \
        }                                                                                   \
        if (sum != 0)                                                                       \
            wf_bench_skip_with_error(s, "a reader saw a half-done write: the lock is broken"); \
        LEAVE(l);                                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            if (id##_shared.a != id##_shared.b)                                             \
                wf_bench_skip_with_error(s, "lost writes: the lock is broken");             \
            FINI(l);                                                                        \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    static void rwlock_write_contended_##id(wf_bench_state *s)                              \
    {                                                                                       \
        T *l = &id##_shared.lock;                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            INIT(l);                                                                        \
            id##_shared.a = 0;                                                              \
        }                                                                                   \
        ENTER(l);                                                                           \
        WF_BENCH_LOOP(s)                                                                    \
        {                                                                                   \
            WR(l);                                                                          \
            id##_shared.a++;                                                                \
            WU(l);                                                                          \
        }                                                                                   \
        LEAVE(l);                                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            if (id##_shared.a != wf_bench_iterations(s) * wf_bench_threads(s))             \
                wf_bench_skip_with_error(s, "lost increments: the lock is broken");        \
            FINI(l);                                                                        \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    static _Atomic long id##_writes; /* writer-wait: acquisitions done */                   \
                                                                                            \
    static void rwlock_writer_wait_##id(wf_bench_state *s)                                  \
    {                                                                                       \
        T *l = &id##_shared.lock;                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            INIT(l);                                                                        \
            atomic_store(&id##_writes, 0);                                                  \
        }                                                                                   \
        ENTER(l);                                                                           \
        if (wf_bench_thread_index(s) == 0) {                                                \
            int64_t waits[WAITS];                                                           \
            int n = 0, capped = 0;                                                          \
            WF_BENCH_LOOP(s)                                                                \
            {                                                                               \
                usleep(WAIT_GAP_US);                                                        \
                int64_t t0 = now_ns();                                                      \
                bool got = TIMED_WR(l, WAIT_CAP_NS);                                        \
                int64_t waited = now_ns() - t0;                                             \
                if (got) {                                                                  \
                    id##_shared.a++;                                                        \
                    WU(l);                                                                  \
                } else {                                                                    \
                    capped++;                                                               \
                }                                                                           \
                if (n < WAITS)                                                              \
                    waits[n++] = waited;                                                    \
                atomic_fetch_add(&id##_writes, 1);                                          \
            }                                                                               \
            report_waits(s, waits, n, capped);                                              \
        } else {                                                                            \
            long seen = 0;                                                                  \
            WF_BENCH_LOOP(s)                                                                \
            {                                                                               \
                /* read back to back until the writer has done one more */                 \
                while (atomic_load_explicit(&id##_writes, memory_order_relaxed) <= seen) { \
                    RD(l);                                                                  \
                    wf_bench_do_not_optimize(id##_shared.a);                                \
                    RU(l);                                                                  \
                }                                                                           \
                seen++;                                                                     \
            }                                                                               \
        }                                                                                   \
        LEAVE(l);                                                                           \
        if (wf_bench_thread_index(s) == 0)                                                  \
            FINI(l);                                                                        \
    }

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void report_waits(wf_bench_state *s, int64_t *waits, int n, int capped)
{
    if (n == 0)
        return;
    qsort(waits, (size_t)n, sizeof waits[0], cmp_i64);
    wf_bench_counter(s, "wait_median_us", (double)waits[n / 2] / 1e3);
    wf_bench_counter(s, "wait_worst_us", (double)waits[n - 1] / 1e3);
    wf_bench_counter(s, "capped", capped);
}

#define NOTHING(l) ((void)(l))

/* ---- weft ---------------------------------------------------------------------------- */
#define WEFT_RD(l) weft_rwlock_read_acquire(l)
#define WEFT_RU(l) weft_rwlock_read_release(l)
#define WEFT_WR(l) weft_rwlock_write_acquire(l)
#define WEFT_WU(l) weft_rwlock_write_release(l)
#define WEFT_TIMED_WR(l, ns) (weft_rwlock_write_acquire_for(l, ns) == 0)
RWLOCK_BODIES(weft, weft_rwlock, NOTHING, NOTHING, NOTHING, NOTHING, WEFT_RD, WEFT_RU, WEFT_WR,
              WEFT_WU, WEFT_TIMED_WR)

/* ---- pthread_rwlock_t ---------------------------------------------------------------- */
static void pthread_init(pthread_rwlock_t *l) { pthread_rwlock_init(l, NULL); }
static void writer_init(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(l, &a);
    pthread_rwlockattr_destroy(&a);
}
static bool pthread_timed_wr(pthread_rwlock_t *l, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec += ns % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &ts) == 0;
}
RWLOCK_BODIES(pthread, pthread_rwlock_t, pthread_init, pthread_rwlock_destroy, NOTHING, NOTHING,
              pthread_rwlock_rdlock, pthread_rwlock_unlock, pthread_rwlock_wrlock,
              pthread_rwlock_unlock, pthread_timed_wr)
RWLOCK_BODIES(writer, pthread_rwlock_t, writer_init, pthread_rwlock_destroy, NOTHING, NOTHING,
              pthread_rwlock_rdlock, pthread_rwlock_unlock, pthread_rwlock_wrlock,
              pthread_rwlock_unlock, pthread_timed_wr)

/* ---- the textbook mutex + condition variable version (prefers readers) ---------------- */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t readers_cv, writers_cv;
    int readers, writers_waiting;
    bool writer;
} naive_rwlock;

static void naive_init(naive_rwlock *l)
{
    pthread_mutex_init(&l->m, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&l->readers_cv, &a);
    pthread_cond_init(&l->writers_cv, &a);
    pthread_condattr_destroy(&a);
    l->readers = l->writers_waiting = 0;
    l->writer = false;
}
static void naive_fini(naive_rwlock *l)
{
    pthread_cond_destroy(&l->readers_cv);
    pthread_cond_destroy(&l->writers_cv);
    pthread_mutex_destroy(&l->m);
}
static void naive_rd(naive_rwlock *l)
{
    pthread_mutex_lock(&l->m);
    while (l->writer)
        pthread_cond_wait(&l->readers_cv, &l->m);
    l->readers++;
    pthread_mutex_unlock(&l->m);
}
static void naive_ru(naive_rwlock *l)
{
    pthread_mutex_lock(&l->m);
    if (--l->readers == 0 && l->writers_waiting)
        pthread_cond_signal(&l->writers_cv);
    pthread_mutex_unlock(&l->m);
}
static bool naive_timed_wr(naive_rwlock *l, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec += ns % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    bool got = true;
    pthread_mutex_lock(&l->m);
    l->writers_waiting++;
    while (got && (l->writer || l->readers))
        got = ns < 0 ? pthread_cond_wait(&l->writers_cv, &l->m) == 0
                     : pthread_cond_timedwait(&l->writers_cv, &l->m, &ts) == 0 ||
                           !(l->writer || l->readers);
    l->writers_waiting--;
    if (got)
        l->writer = true;
    pthread_mutex_unlock(&l->m);
    return got;
}
static void naive_wr(naive_rwlock *l) { naive_timed_wr(l, -1); }
static void naive_wu(naive_rwlock *l)
{
    pthread_mutex_lock(&l->m);
    l->writer = false;
    pthread_cond_broadcast(&l->readers_cv);
    if (l->writers_waiting)
        pthread_cond_signal(&l->writers_cv);
    pthread_mutex_unlock(&l->m);
}
RWLOCK_BODIES(naive, naive_rwlock, naive_init, naive_fini, NOTHING, NOTHING, naive_rd, naive_ru,
              naive_wr, naive_wu, naive_timed_wr)

#if WF_HAVE_CK
/* ---- ck_rwlock: one reader counter, a writer flag; spins ------------------------------ */
static void ck_init(ck_rwlock_t *l) { ck_rwlock_init(l); }
static void ck_rd(ck_rwlock_t *l)
{
    int tries = 0;
    while (!ck_rwlock_read_trylock(l))
        spin_retry(&tries);
}
static bool ck_timed_wr(ck_rwlock_t *l, int64_t ns)
{
    (void)ns; /* ck has no timeout; its writers claim first and always get in */
    ck_rwlock_write_lock(l);
    return true;
}
RWLOCK_BODIES(ck, ck_rwlock_t, ck_init, NOTHING, NOTHING, NOTHING, ck_rd, ck_rwlock_read_unlock,
              ck_rwlock_write_lock, ck_rwlock_write_unlock, ck_timed_wr)

/* ---- ck_brlock: a counter per registered reader thread ------------------------------- */
static _Thread_local ck_brlock_reader_t br_reader;
enum { BR_TRY_STEPS = 64 }; /* pauses inside one ck_brlock_read_trylock */
static void br_enter(ck_brlock_t *l) { ck_brlock_read_register(l, &br_reader); }
static void br_leave(ck_brlock_t *l) { ck_brlock_read_unregister(l, &br_reader); }
static void br_rd(ck_brlock_t *l)
{
    int tries = 0;
    while (!ck_brlock_read_trylock(l, &br_reader, BR_TRY_STEPS))
        spin_retry(&tries);
}
static void br_ru(ck_brlock_t *l)
{
    (void)l;
    ck_brlock_read_unlock(&br_reader);
}
static bool br_timed_wr(ck_brlock_t *l, int64_t ns)
{
    (void)ns; /* as ck_rwlock */
    ck_brlock_write_lock(l);
    return true;
}
/* Every thread registers as a reader before the loop (the loop's start is a barrier,
 * so none reads before all have registered) and unregisters after it, leaving the
 * lock as its static initializer made it: no per-run init (it would race with the
 * other threads' registrations). */
RWLOCK_BODIES(br, ck_brlock_t, NOTHING, NOTHING, br_enter, br_leave, br_rd, br_ru,
              ck_brlock_write_lock, ck_brlock_write_unlock, br_timed_wr)
#endif

/* Registration order is the report's column order: weft first, then the peers. */
WF_BENCH(rwlock_read_uncontended_weft, "rwlock/read-uncontended/weft", .headline = true,
         .target_peer = "pthread", .target = 0.7);
WF_BENCH(rwlock_read_uncontended_pthread, "rwlock/read-uncontended/pthread");
WF_BENCH(rwlock_read_uncontended_writer, "rwlock/read-uncontended/pthread-writer");
#if WF_HAVE_CK
WF_BENCH(rwlock_read_uncontended_ck, "rwlock/read-uncontended/ck");
WF_BENCH(rwlock_read_uncontended_br, "rwlock/read-uncontended/ck-br");
#endif
WF_BENCH(rwlock_read_uncontended_naive, "rwlock/read-uncontended/naive");

/* Read-mostly: 2 and 8 threads for the target (3x pthread's throughput: a time ratio
 * of 1/3), and the sweep (1 .. --wf_max_threads) for the chart. */
#define READ_MOSTLY .threads = {2, 8}, .sweep = true
WF_BENCH(rwlock_read_mostly_weft, "rwlock/read-mostly/weft", READ_MOSTLY, .headline = true,
         .target_peer = "pthread", .target = 1.0 / 3);
WF_BENCH(rwlock_read_mostly_pthread, "rwlock/read-mostly/pthread", READ_MOSTLY);
WF_BENCH(rwlock_read_mostly_writer, "rwlock/read-mostly/pthread-writer", READ_MOSTLY);
#if WF_HAVE_CK
WF_BENCH(rwlock_read_mostly_ck, "rwlock/read-mostly/ck", READ_MOSTLY);
WF_BENCH(rwlock_read_mostly_br, "rwlock/read-mostly/ck-br", READ_MOSTLY);
#endif
WF_BENCH(rwlock_read_mostly_naive, "rwlock/read-mostly/naive", READ_MOSTLY);

#define WRITE_CONTENDED .threads = {2}, .sweep = true
WF_BENCH(rwlock_write_contended_weft, "rwlock/write-contended/weft", WRITE_CONTENDED,
         .target_peer = "pthread", .target = 1.0);
WF_BENCH(rwlock_write_contended_pthread, "rwlock/write-contended/pthread", WRITE_CONTENDED);
WF_BENCH(rwlock_write_contended_writer, "rwlock/write-contended/pthread-writer", WRITE_CONTENDED);
#if WF_HAVE_CK
WF_BENCH(rwlock_write_contended_ck, "rwlock/write-contended/ck", WRITE_CONTENDED);
WF_BENCH(rwlock_write_contended_br, "rwlock/write-contended/ck-br", WRITE_CONTENDED);
#endif
WF_BENCH(rwlock_write_contended_naive, "rwlock/write-contended/naive", WRITE_CONTENDED);

/* One writer and FLOOD_READERS readers; a fixed number of waits per run. */
#define WRITER_WAIT .threads = {1 + FLOOD_READERS}, .iterations = WAITS
WF_BENCH(rwlock_writer_wait_weft, "rwlock/writer-wait/weft", WRITER_WAIT);
WF_BENCH(rwlock_writer_wait_pthread, "rwlock/writer-wait/pthread", WRITER_WAIT);
WF_BENCH(rwlock_writer_wait_writer, "rwlock/writer-wait/pthread-writer", WRITER_WAIT);
#if WF_HAVE_CK
WF_BENCH(rwlock_writer_wait_ck, "rwlock/writer-wait/ck", WRITER_WAIT);
WF_BENCH(rwlock_writer_wait_br, "rwlock/writer-wait/ck-br", WRITER_WAIT);
#endif
WF_BENCH(rwlock_writer_wait_naive, "rwlock/writer-wait/naive", WRITER_WAIT);
