/* bench/cancel.c: cancellation and wait-for-any.
 *
 *  cancel/wake/<impl>        a thread asleep is woken: weft by firing the token of the
 *                            deadline it waits under (in weft_queue_get_until on a
 *                            queue nobody fills); "weft-child" the same with a token
 *                            three levels below the one fired (four words watched);
 *                            pthread by the textbook flag + pthread_cond_broadcast.
 *                            Target: weft at most 2x pthread (mean, and the p99
 *                            counter).
 *  select/wake/<impl>        a thread asleep in weft_wait_any over `sources`
 *                            semaphores (all empty) is woken by a release of one of
 *                            them (a different one each round), beside "single": the
 *                            same thread asleep in weft_sem_acquire on one semaphore.
 *                            Target: weft over 64 sources at most 3x single.
 *  select/pingpong/<impl>    round trips: A waits in weft_wait_any over `sources`
 *                            semaphores, B releases one (a different one each time)
 *                            and waits for A's reply on a semaphore of its own;
 *                            "single": A waits in weft_sem_acquire. The realistic
 *                            case (with spinning), no target.
 *
 * The wake cases: one iteration is one round, timed from the wake call to the sleeper
 * running again (it stamps the time; the body spins until it sees the stamp). Before
 * each round, untimed, the body waits for the sleeper to arrive at its wait and then
 * sleeps 50 us so that it is asleep in the kernel (past any spin). Counters p50_ns and
 * p99_ns are the median and 99th percentile of the rounds' wake latencies. The "_ab"
 * cases run two of them in alternating rounds of one run, so that both see the same
 * machine (on a shared, busy one the tails come from the scheduler); their counters
 * carry each one's name. */
#include "bench.h"
#include "weft/cancel.h"
#include "weft/queue.h"
#include "weft/select.h"
#include "weft/sem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the wake harness ------------------------------------------------------------- */

enum { ROUNDS = 2000, MAX_SOURCES = 64, ASLEEP_US = 50 };

/* One implementation: `arm` (body, untimed) readies round r; `wait` (sleeper) blocks
 * until woken; `wake` (body, timed) wakes it. */
typedef struct wake_ops {
    void (*arm)(long round);
    void (*wait)(long round);
    void (*wake)(long round);
} wake_ops;

enum { MAX_OPS = 2 };

static struct {
    const wake_ops *ops[MAX_OPS]; /* round r uses ops[r % n_ops] */
    int n_ops;
    _Atomic long go;      /* round the sleeper may start */
    _Atomic bool stop;
    _Atomic long arrived; /* round the sleeper is about to wait in */
    _Atomic int64_t woke_at;
    int64_t lat[MAX_OPS][ROUNDS];
} h;

static void *wake_sleeper(void *arg)
{
    (void)arg;
    for (long r = 0;; r++) {
        /* acquire: pairs with the body's release of go (after arm) or of stop. */
        while (atomic_load_explicit(&h.go, memory_order_acquire) < r)
            if (atomic_load_explicit(&h.stop, memory_order_acquire))
                return NULL;
        atomic_store_explicit(&h.arrived, r, memory_order_release);
        h.ops[r % h.n_ops]->wait(r);
        atomic_store_explicit(&h.woke_at, now_ns(), memory_order_release);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs the rounds, alternating between the n implementations (so that with two,
 * both see the same machine at the same time), and reports each one's median and
 * 99th percentile as <label>p50_ns, <label>p99_ns. */
static void wake_run_n(wf_bench_state *s, const wake_ops *const *ops, const char *const *labels,
                       int n)
{
    for (int i = 0; i < n; i++)
        h.ops[i] = ops[i];
    h.n_ops = n;
    atomic_store(&h.go, -1);
    atomic_store(&h.arrived, -1);
    atomic_store(&h.stop, false);
    pthread_t th;
    if (pthread_create(&th, NULL, wake_sleeper, NULL) != 0) {
        wf_bench_skip_with_error(s, "pthread_create failed");
        return;
    }
    long r = 0;
    WF_BENCH_LOOP(s)
    {
        const wake_ops *o = ops[r % n];
        wf_bench_pause_timing(s);
        o->arm(r);
        atomic_store_explicit(&h.woke_at, 0, memory_order_relaxed);
        atomic_store_explicit(&h.go, r, memory_order_release);
        while (atomic_load_explicit(&h.arrived, memory_order_acquire) < r)
            ;
        struct timespec nap = {0, ASLEEP_US * 1000};
        nanosleep(&nap, NULL);
        wf_bench_resume_timing(s);
        int64_t t0 = now_ns();
        o->wake(r);
        int64_t t1;
        while ((t1 = atomic_load_explicit(&h.woke_at, memory_order_acquire)) == 0)
            ;
        if (r / n < ROUNDS)
            h.lat[r % n][r / n] = t1 - t0;
        r++;
    }
    atomic_store_explicit(&h.stop, true, memory_order_release);
    pthread_join(th, NULL);
    for (int i = 0; i < n; i++) {
        long k = (r - i + n - 1) / n;
        if (k > ROUNDS)
            k = ROUNDS;
        if (k <= 0)
            continue;
        qsort(h.lat[i], (size_t)k, sizeof h.lat[i][0], cmp_i64);
        char name[64];
        snprintf(name, sizeof name, "%sp50_ns", labels[i]);
        wf_bench_counter(s, name, (double)h.lat[i][k / 2]);
        snprintf(name, sizeof name, "%sp99_ns", labels[i]);
        wf_bench_counter(s, name, (double)h.lat[i][k * 99 / 100]);
    }
}

static void wake_run(wf_bench_state *s, const wake_ops *ops)
{
    static const char *const none[] = {""};
    wake_run_n(s, &ops, none, 1);
}

/* ---- cancel/wake ------------------------------------------------------------------- */

static weft_queue *never; /* nobody puts into it */
static weft_cancel tokens[4]; /* tokens[3] is a child of [2], of [1], of [0] */
static const weft_cancel *waited_token;

static void weft_cancel_arm(long r)
{
    (void)r;
    weft_cancel_init(&tokens[0]);
    for (int i = 1; i < 4; i++)
        weft_cancel_init_child(&tokens[i], &tokens[i - 1]);
}

static void weft_cancel_wait(long r)
{
    (void)r;
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, waited_token);
    void *item;
    while (!weft_cancel_fired(waited_token))
        weft_queue_get_until(never, &item, d);
}

static void weft_cancel_wake(long r)
{
    (void)r;
    weft_cancel_fire(&tokens[0]);
}

static const wake_ops weft_cancel_ops = {weft_cancel_arm, weft_cancel_wait, weft_cancel_wake};

static void cancel_wake_run(wf_bench_state *s, const weft_cancel *waited)
{
    if (weft_queue_create(&never, 1, WEFT_FIFO) != 0) {
        wf_bench_skip_with_error(s, "weft_queue_create failed");
        return;
    }
    waited_token = waited;
    wake_run(s, &weft_cancel_ops);
    weft_queue_destroy(never);
}

static void cancel_wake_weft(wf_bench_state *s)
{
    cancel_wake_run(s, &tokens[0]);
}
WF_BENCH(cancel_wake_weft, "cancel/wake/weft", .iterations = ROUNDS, .target_peer = "pthread",
         .target = 2.0);

static void cancel_wake_weft_child(wf_bench_state *s)
{
    cancel_wake_run(s, &tokens[3]);
}
WF_BENCH(cancel_wake_weft_child, "cancel/wake/weft-child", .iterations = ROUNDS);

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag;
} pt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void pthread_arm(long r)
{
    (void)r;
    pthread_mutex_lock(&pt.m);
    pt.flag = 0;
    pthread_mutex_unlock(&pt.m);
}

static void pthread_wait(long r)
{
    (void)r;
    pthread_mutex_lock(&pt.m);
    while (!pt.flag)
        pthread_cond_wait(&pt.c, &pt.m);
    pthread_mutex_unlock(&pt.m);
}

static void pthread_wake(long r)
{
    (void)r;
    pthread_mutex_lock(&pt.m);
    pt.flag = 1;
    pthread_cond_broadcast(&pt.c);
    pthread_mutex_unlock(&pt.m);
}

static const wake_ops pthread_ops = {pthread_arm, pthread_wait, pthread_wake};

static void cancel_wake_pthread(wf_bench_state *s)
{
    wake_run(s, &pthread_ops);
}
WF_BENCH(cancel_wake_pthread, "cancel/wake/pthread", .iterations = ROUNDS);

/* Both at once, alternating rounds: the fairest comparison on a busy machine. */
static void cancel_wake_ab(wf_bench_state *s)
{
    if (weft_queue_create(&never, 1, WEFT_FIFO) != 0) {
        wf_bench_skip_with_error(s, "weft_queue_create failed");
        return;
    }
    waited_token = &tokens[0];
    static const wake_ops *const ops[] = {&weft_cancel_ops, &pthread_ops};
    static const char *const labels[] = {"weft_", "pthread_"};
    wake_run_n(s, ops, labels, 2);
    weft_queue_destroy(never);
}
WF_BENCH(cancel_wake_ab, "cancel/wake_ab/weft-and-pthread", .iterations = 2 * ROUNDS);

/* ---- select/wake ------------------------------------------------------------------- */

static weft_sem sems[MAX_SOURCES];
static int n_sources;

static void sems_arm(long r)
{
    (void)r;
    for (int i = 0; i < n_sources; i++)
        weft_sem_init(&sems[i], 0);
}

static void select_wait(long r)
{
    (void)r;
    weft_source src[MAX_SOURCES];
    for (int i = 0; i < n_sources; i++)
        src[i] = weft_source_sem(&sems[i]);
    if (weft_wait_any(src, (size_t)n_sources, WEFT_FOREVER) < 0)
        abort();
}

static void single_wait(long r)
{
    (void)r;
    weft_sem_acquire(&sems[0]);
}

static void sems_wake(long r)
{
    weft_sem_release(&sems[r % n_sources], 1);
}

static const wake_ops select_ops = {sems_arm, select_wait, sems_wake};
static const wake_ops single_ops = {sems_arm, single_wait, sems_wake};

static void select_wake_weft(wf_bench_state *s)
{
    n_sources = (int)wf_bench_arg(s);
    wake_run(s, &select_ops);
}
WF_BENCH(select_wake_weft, "select/wake/weft", .args = {1, 2, 64}, .n_args = 3,
         .arg_name = "sources", .iterations = ROUNDS, .target_peer = "single", .target = 3.0);

static void select_wake_single(wf_bench_state *s)
{
    n_sources = 1;
    wake_run(s, &single_ops);
}
WF_BENCH(select_wake_single, "select/wake/single", .args = {1, 2, 64}, .n_args = 3,
         .arg_name = "sources", .iterations = ROUNDS);

/* 64 sources and a single one, alternating rounds (the arm makes all 64). */
static int ab_round_sources(long r)
{
    return r % 2 ? 1 : MAX_SOURCES;
}

static void ab_arm(long r)
{
    n_sources = ab_round_sources(r);
    for (int i = 0; i < MAX_SOURCES; i++)
        weft_sem_init(&sems[i], 0);
}

static const wake_ops select64_ab_ops = {ab_arm, select_wait, sems_wake};
static const wake_ops single_ab_ops = {ab_arm, single_wait, sems_wake};

static void select_wake_ab(wf_bench_state *s)
{
    static const wake_ops *const ops[] = {&select64_ab_ops, &single_ab_ops};
    static const char *const labels[] = {"any64_", "single_"};
    wake_run_n(s, ops, labels, 2);
}
WF_BENCH(select_wake_ab, "select/wake_ab/any64-and-single", .iterations = 2 * ROUNDS);

/* ---- select/pingpong ---------------------------------------------------------------- */

static weft_sem pong;
static _Atomic bool pp_stop;

static void *pp_partner(void *arg)
{
    (void)arg;
    weft_source src[MAX_SOURCES];
    for (int i = 0; i < n_sources; i++)
        src[i] = weft_source_sem(&sems[i]);
    for (;;) {
        if (n_sources == 0)
            weft_sem_acquire(&sems[0]);
        else if (weft_wait_any(src, (size_t)n_sources, WEFT_FOREVER) < 0)
            abort();
        /* relaxed: the release that woke us carries it. */
        if (atomic_load_explicit(&pp_stop, memory_order_relaxed))
            return NULL;
        weft_sem_release(&pong, 1);
    }
}

/* n = 0: the partner waits in weft_sem_acquire (single). */
static void pingpong_run(wf_bench_state *s, int n)
{
    n_sources = n;
    for (int i = 0; i < MAX_SOURCES; i++)
        weft_sem_init(&sems[i], 0);
    weft_sem_init(&pong, 0);
    atomic_store(&pp_stop, false);
    pthread_t th;
    if (pthread_create(&th, NULL, pp_partner, NULL) != 0) {
        wf_bench_skip_with_error(s, "pthread_create failed");
        return;
    }
    long r = 0;
    WF_BENCH_LOOP(s)
    {
        weft_sem_release(&sems[n ? r % n : 0], 1);
        weft_sem_acquire(&pong);
        r++;
    }
    atomic_store_explicit(&pp_stop, true, memory_order_relaxed);
    weft_sem_release(&sems[0], 1);
    pthread_join(th, NULL);
}

static void select_pingpong_weft(wf_bench_state *s)
{
    pingpong_run(s, (int)wf_bench_arg(s));
}
WF_BENCH(select_pingpong_weft, "select/pingpong/weft", .args = {1, 2, 64}, .n_args = 3,
         .arg_name = "sources");

static void select_pingpong_single(wf_bench_state *s)
{
    pingpong_run(s, 0);
}
WF_BENCH(select_pingpong_single, "select/pingpong/single", .args = {1, 2, 64}, .n_args = 3,
         .arg_name = "sources");
