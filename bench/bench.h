/* bench/bench.h: write weft's benchmarks in C; bench/shim.cc runs them with Google
 * Benchmark (Debian's libbenchmark-dev 1.7.1), the only C++ in bench/.
 *
 * ---- Adding a benchmark -----------------------------------------------------------
 * 1. Write bench/<family>.c (include "bench.h" and the weft header) and add its name to
 *    the `bench_sources` list in bench/meson.build (one line). Peers that need a library
 *    test WF_HAVE_CK (Concurrency Kit) / WF_HAVE_URCU (liburcu), defined to 0 or 1.
 * 2. A body is `static void fn(wf_bench_state *s)`; the timed part is WF_BENCH_LOOP:
 *
 *        static void lock_uncontended_weft(wf_bench_state *s)
 *        {
 *            static weft_lock l = WEFT_LOCK_INIT;
 *            WF_BENCH_LOOP(s) {
 *                weft_lock_acquire(&l);
 *                weft_lock_release(&l);
 *            }
 *        }
 *        WF_BENCH(lock_uncontended_weft, "lock/uncontended/weft");
 *
 *    WF_BENCH_LOOP runs its body the number of times Google Benchmark asks for, timed,
 *    with no call per iteration (keep it for nanosecond bodies); never `break` out of
 *    it (the timer would not stop). `while (wf_bench_keep_running(s)) { ... }` is the
 *    plain form (one out-of-line call per iteration, ~1 ns): use it only when the body
 *    may stop early (after wf_bench_skip_with_error, say).
 * 3. Register at file scope with WF_BENCH(fn, "name", options...). Options are
 *    designated initializers of wf_bench_def:
 *        .threads = {2, 8}      thread counts (each thread runs the body; 0 ends the list)
 *        .sweep = true          also 1, 2, 4, ... up to --wf_max_threads (default
 *                               max(8, CPUs)): a throughput-vs-threads chart is drawn
 *                               for every case that has three thread counts or more
 *        .args = {1, 64}, .n_args = 2, .arg_name = "batch"   one run per argument,
 *                               read with wf_bench_arg(s)
 *        .min_time = 0.2        seconds per repetition (scaled down by --quick)
 *        .iterations = 1000     a fixed iteration count (expensive bodies)
 *        .cpu_time = true       report CPU time; the default is wall-clock time, which
 *                               is what a user of a threading library waits for
 *        .headline = true       this case appears in the README's headline table
 *        .target_peer = "pthread", .target = 0.9
 *                               an issue's target: weft's time / that peer's time must
 *                               be at most 0.9 (so 1/1.2 = 0.83 for "1.2x the
 *                               throughput"); applies to the rows of the case run at
 *                               the .threads counts. Set it on the weft entry.
 *
 * ---- Naming: how weft and its peers sit side by side ------------------------------
 * A name is "<family>/<case>/<impl>": family is the header (lock, rlock, sem, event,
 * cond, barrier, queue, pool, ...), case what is measured (uncontended, contended,
 * pingpong, ...), impl "weft" for weft itself and a peer's name otherwise:
 *        pthread   pthreads (pthread_mutex_t, pthread_cond_t, sem_t, pthread_barrier_t)
 *        c11       C11 <threads.h> (mtx_t, cnd_t)
 *        ck        Concurrency Kit (ck_spinlock, ck_ring, ...)
 *        urcu      liburcu (its wait-free queues, ...)
 *        naive     the textbook mutex + condition variable version
 *        (another peer may add a suffix: "ck-ticket", "pthread-adaptive")
 * Every case should have a weft entry; the report prints one row per case, thread
 * count and argument, with weft's figure, each peer's, and the ratio weft/peer of the
 * times (LOWER IS BETTER for weft: 0.5x means weft takes half the time, or does twice
 * the work per second). Ratios of throughput come out the same way: the time of a
 * multi-threaded run is wall time per operation of all threads together.
 *
 * ---- Threads, setup and what a figure means ---------------------------------------
 *  - The reported time is wall-clock time per iteration. With .threads = {n} the body
 *    runs on n threads at once, each doing the same number of iterations; the time is
 *    then the wall time from the first thread starting its loop to the last one ending
 *    it, divided by the iterations of all threads (inverse throughput; Google
 *    Benchmark's own real time would average the threads' times, which flatters unfair
 *    locks). Paused time is taken off (its average over the threads).
 *  - Setup before WF_BENCH_LOOP is not timed. With several threads, do shared setup on
 *    thread 0 (wf_bench_thread_index(s) == 0) before the loop and teardown on thread 0
 *    after it: the loop's start and end are barriers for all threads of the run. A
 *    partner thread the body needs (the other end of a ping-pong) is a pthread it
 *    creates before the loop and joins after it; the body then runs on one thread.
 *  - The shim starts one parked thread before any benchmark runs: glibc skips atomic
 *    instructions while a process has a single thread, which would flatter pthreads.
 *  - Items: call wf_bench_set_items_processed(s, n) after the loop when an iteration
 *    moves several items (batches); the report then shows items per second.
 *
 * ---- Running -------------------------------------------------------------------------
 *   scripts/bench [--quick] [--filter REGEX] [--reps N]   (build, run, report; see there)
 *   build/bench/bench/weft_bench --benchmark_filter=lock/  (Google Benchmark's own flags,
 *   plus --wf_max_threads=N, --wf_min_time_scale=F, --wf_progress=1 (a stderr line
 *   per repetition; =line rewrites one line) and --wf_progress_total=N (repetitions in
 *   the run, for done/total and the time left))
 */
#ifndef WF_BENCH_H
#define WF_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One thread's view of one benchmark run (a benchmark::State underneath). */
typedef struct wf_bench_state wf_bench_state;

typedef void wf_bench_fn(wf_bench_state *s);

enum { WF_BENCH_MAX_LIST = 16 };

/* A registration; fill it through WF_BENCH's designated initializers. */
typedef struct wf_bench_def {
    wf_bench_fn *fn;
    const char *name;                   /* "<family>/<case>/<impl>" */
    int threads[WF_BENCH_MAX_LIST];     /* thread counts, 0-terminated; none: 1 thread */
    bool sweep;                         /* add 1, 2, 4, ... --wf_max_threads */
    int64_t args[WF_BENCH_MAX_LIST];    /* one run per argument ... */
    int n_args;                         /* ... of the first n_args */
    const char *arg_name;               /* shown as "<arg_name>:<value>" in the name */
    double min_time;                    /* seconds per repetition; 0: the default */
    int64_t iterations;                 /* fixed iteration count; 0: chosen by time */
    bool cpu_time;                      /* report CPU time instead of wall time */
    bool headline;                      /* show this case in the README headline */
    const char *target_peer;            /* the peer an issue's target names ... */
    double target;                      /* ... and the most weft/peer time ratio allowed */
    struct wf_bench_def *next;          /* the shim's list; leave unset */
} wf_bench_def;

/* Adds `def` to the benchmarks the shim registers; WF_BENCH calls it for you. */
void wf_bench_register(wf_bench_def *def);

/* A lock of type T with the counter it guards on the same cache line, as in real
 * code: the lock families' contended benchmarks (bench/lock.c, bench/rlock.c). */
#define LOCKED_COUNTER(T)                                                            \
    struct {                                                                         \
        T lock;                                                                      \
        long counter;                                                                \
    } __attribute__((aligned(64)))

/* Registers `fn` at file scope. The name comes first among the variadic arguments so
 * that the variadic list is never empty. */
#define WF_BENCH(fn_, ...)                                                           \
    static wf_bench_def wf_bench_def_##fn_ = {.fn = fn_, .name = __VA_ARGS__};       \
    __attribute__((constructor)) static void wf_bench_register_##fn_(void)           \
    {                                                                                \
        wf_bench_register(&wf_bench_def_##fn_);                                      \
    }                                                                                \
    struct wf_bench_swallow_semicolon_##fn_

/* The timed loop without a call per iteration; never `break` out of it. */
#define WF_BENCH_LOOP(s)                                                             \
    for (int64_t wf_bench_left_ = wf_bench_begin(s);                                 \
         wf_bench_left_ > 0 || (wf_bench_end(s), 0); wf_bench_left_--)

/* Starts the timer and returns how many iterations to run (0: none; the run was
 * skipped). WF_BENCH_LOOP's halves; pair every begin with one end. */
int64_t wf_bench_begin(wf_bench_state *s);
void wf_bench_end(wf_bench_state *s);

/* The plain timed loop: true while another iteration should run. */
bool wf_bench_keep_running(wf_bench_state *s);

/* This thread's index in the run (0 .. threads-1) and the run's thread count. */
int wf_bench_thread_index(const wf_bench_state *s);
int wf_bench_threads(const wf_bench_state *s);

/* The run's argument (from .args); 0 when the benchmark has none. */
int64_t wf_bench_arg(const wf_bench_state *s);

/* Iterations this thread has run (valid after the loop). */
int64_t wf_bench_iterations(const wf_bench_state *s);

/* Items this thread processed in total (the report shows items per second). */
void wf_bench_set_items_processed(wf_bench_state *s, int64_t items);

/* Stop and restart the timer inside the loop (costly: ~100 ns each; avoid in
 * nanosecond bodies). */
void wf_bench_pause_timing(wf_bench_state *s);
void wf_bench_resume_timing(wf_bench_state *s);

/* A user counter shown beside the time: its value summed over threads, or (rate)
 * divided by the run's time. */
void wf_bench_counter(wf_bench_state *s, const char *name, double value);
void wf_bench_counter_rate(wf_bench_state *s, const char *name, double value);

/* Marks the run as failed with `message` (a setup that could not be done, a check
 * that failed); the loop then runs no more iterations. */
void wf_bench_skip_with_error(wf_bench_state *s, const char *message);

/* Keep the compiler from deleting a computation whose result is unused, or from
 * caching memory across the point (Google Benchmark's DoNotOptimize / ClobberMemory). */
#define wf_bench_do_not_optimize(value) __asm__ __volatile__("" : : "r,m"(value) : "memory")
#define wf_bench_clobber_memory() __asm__ __volatile__("" : : : "memory")

#ifdef __cplusplus
}
#endif

#endif
