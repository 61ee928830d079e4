/* Bounded stress for weft_pool and weft_future, exact invariants:
 *  - 10^6 tiny tasks from 4 submitting threads, each run exactly once;
 *  - cancel racing completion: a future ends cancelled or finished, never both, its
 *    task runs iff it finished, each callback runs exactly once;
 *  - shutdown racing submit: an accepted task runs exactly once (or is cancelled by
 *    cancel_futures), a rejected one never runs;
 *  - nested fork-join (recursive Fibonacci) on 1, 2 and 4 workers;
 *  - backpressure with many submitters;
 *  - destroy racing calls that wait for room: EBUSY until every one has returned,
 *    then every accepted task has run exactly once.
 * Sizes go through wf_test_scale so sanitizer runs shrink. */
#include "../check.h"

#include <sys/syscall.h>
#include <unistd.h>

static int noop(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

/* ---- many tiny tasks --------------------------------------------------------------------- */

static _Atomic uint8_t *hits;
static _Atomic long completed;

static int hit(void *arg, void **result)
{
    size_t i = (size_t)(uintptr_t)arg;
    CHECK_EQ(atomic_fetch_add_explicit(&hits[i], 1, memory_order_relaxed), 0);
    atomic_fetch_add_explicit(&completed, 1, memory_order_relaxed);
    *result = arg;
    return 0;
}

struct submitter {
    weft_pool *pool;
    size_t first, n;
};

static void *submit_range(void *arg)
{
    struct submitter *s = arg;
    enum { RING = 64 };
    weft_future *ring[RING] = {0};
    for (size_t k = 0; k < s->n; k++) {
        size_t i = s->first + k;
        if (k % 4 != 0) {
            CHECK_EQ(weft_pool_post(s->pool, hit, (void *)(uintptr_t)i), 0);
            continue;
        }
        /* Every fourth with a future, kept a while and then checked. */
        weft_future **slot = &ring[(k / 4) % RING];
        if (*slot) {
            void *r;
            CHECK_EQ(weft_future_result(*slot, WEFT_FOREVER, &r), 0);
            CHECK_EQ(atomic_load(&hits[(size_t)(uintptr_t)r]), 1);
            weft_future_release(*slot);
        }
        CHECK_EQ(weft_pool_submit(s->pool, hit, (void *)(uintptr_t)i, slot), 0);
    }
    for (int j = 0; j < RING; j++) {
        if (!ring[j])
            continue;
        CHECK_EQ(weft_future_result(ring[j], WEFT_FOREVER, NULL), 0);
        weft_future_release(ring[j]);
    }
    return NULL;
}

static void million_tiny_tasks(void)
{
    enum { SUBMITTERS = 4 };
    size_t total = (size_t)wf_test_scale(1000000);
    hits = calloc(total, sizeof *hits);
    CHECK(hits != NULL);
    atomic_store(&completed, 0);
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, NULL), 0);
    struct submitter subs[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++)
        subs[i] = (struct submitter){p, total / SUBMITTERS * (size_t)i,
                                     i == SUBMITTERS - 1 ? total - total / SUBMITTERS * i
                                                         : total / SUBMITTERS};
    wf_test_run_threads(SUBMITTERS, submit_range, subs, sizeof subs[0]);
    CHECK_EQ(weft_pool_shutdown(p, true, false), 0); /* every post has run */
    CHECK_EQ(atomic_load(&completed), (long)total);
    for (size_t i = 0; i < total; i++)
        CHECK_EQ(atomic_load(&hits[i]), 1);
    CHECK_EQ(weft_pool_destroy(p), 0);
    free(hits);
}

/* ---- cancel racing completion -------------------------------------------------------------- */

enum { RACE_N = 256 };
static _Atomic int ran[RACE_N], callbacks[RACE_N];
static weft_future *race_fs[RACE_N];
static int cancel_result[RACE_N];

static int run_once(void *arg, void **result)
{
    (void)result;
    CHECK_EQ(atomic_fetch_add(&ran[(intptr_t)arg], 1), 0);
    return 0;
}

static void count_cb(weft_future *f, void *arg)
{
    CHECK(weft_future_done(f));
    atomic_fetch_add(&callbacks[(intptr_t)arg], 1);
}

static _Atomic int published; /* race_fs[0, published) are set */

static void *canceller(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACE_N; i++) {
        while (atomic_load(&published) <= i)
            sched_yield();
        cancel_result[i] = weft_future_cancel(race_fs[i]);
        /* Added while the task may be completing: still exactly once. */
        CHECK_EQ(weft_future_add_done_callback(race_fs[i], count_cb, (void *)(intptr_t)i), 0);
    }
    return NULL;
}

static void cancel_races_completion(void)
{
    long rounds = wf_test_scale(200);
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    long cancelled_total = 0, finished_total = 0;
    for (long round = 0; round < rounds; round++) {
        for (int i = 0; i < RACE_N; i++) {
            atomic_store(&ran[i], 0);
            atomic_store(&callbacks[i], 0);
        }
        /* The canceller chases the submits while the workers run them. */
        atomic_store(&published, 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, canceller, NULL), 0);
        for (int i = 0; i < RACE_N; i++) {
            CHECK_EQ(weft_pool_submit(p, run_once, (void *)(intptr_t)i, &race_fs[i]), 0);
            CHECK_EQ(weft_future_add_done_callback(race_fs[i], count_cb, (void *)(intptr_t)i), 0);
            atomic_store(&published, i + 1);
        }
        pthread_join(th, NULL);
        CHECK_EQ(weft_futures_wait(race_fs, RACE_N, WEFT_FOREVER, WEFT_ALL_COMPLETED), 0);
        for (int i = 0; i < RACE_N; i++) {
            weft_future *f = race_fs[i];
            int r = weft_future_result(f, 0, NULL);
            if (weft_future_cancelled(f)) {
                CHECK_EQ(r, ECANCELED);
                CHECK_EQ(cancel_result[i], 0);
                CHECK_EQ(atomic_load(&ran[i]), 0);
                cancelled_total++;
            } else {
                CHECK_EQ(r, 0);
                CHECK_EQ(cancel_result[i], EBUSY);
                finished_total++;
            }
            weft_future_release(f);
        }
        /* The tasks that finished ran once; callbacks each ran once. Wait for
         * callbacks of tasks whose result was published just before them. */
        for (int i = 0; i < RACE_N; i++) {
            while (atomic_load(&callbacks[i]) < 2)
                sched_yield();
            CHECK_EQ(atomic_load(&callbacks[i]), 2);
            CHECK(atomic_load(&ran[i]) <= 1);
        }
    }
    CHECK_EQ(cancelled_total + finished_total, rounds * RACE_N);
    CHECK_EQ(weft_pool_destroy(p), 0);
    printf("   cancel race: %ld cancelled, %ld finished\n", cancelled_total, finished_total);
}

/* ---- shutdown racing submit --------------------------------------------------------------- */

enum { SHUT_SUBMITTERS = 3, SHUT_MAX = 4096 };
static _Atomic int shut_ran[SHUT_SUBMITTERS][SHUT_MAX];

struct shut_submitter {
    weft_pool *pool;
    int id;
    int accepted;               /* tasks accepted (futures and posts) */
    weft_future *fs[SHUT_MAX];  /* NULL for a post or a rejected submit */
    bool is_post[SHUT_MAX];
    _Atomic bool *go;
};

static int shut_task(void *arg, void **result)
{
    (void)result;
    intptr_t code = (intptr_t)arg;
    CHECK_EQ(atomic_fetch_add(&shut_ran[code / SHUT_MAX][code % SHUT_MAX], 1), 0);
    return 0;
}

static void *submit_until_shutdown(void *arg)
{
    struct shut_submitter *s = arg;
    while (!atomic_load(s->go))
        sched_yield();
    for (int k = 0; k < SHUT_MAX; k++) {
        void *code = (void *)(intptr_t)(s->id * SHUT_MAX + k);
        int r;
        s->is_post[k] = k % 3 == 2;
        if (s->is_post[k])
            r = weft_pool_post(s->pool, shut_task, code);
        else
            r = weft_pool_submit(s->pool, shut_task, code, &s->fs[k]);
        if (r == ESHUTDOWN) {
            CHECK(s->fs[k] == NULL);
            break;
        }
        CHECK_EQ(r, 0);
        s->accepted = k + 1;
    }
    return NULL;
}

static void shutdown_races_submit(void)
{
    long rounds = wf_test_scale(100);
    for (long round = 0; round < rounds; round++) {
        bool cancel = round % 2 == 1;
        weft_pool *p;
        weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
        o.max_workers = 2;
        CHECK_EQ(weft_pool_create(&p, &o), 0);
        memset(shut_ran, 0, sizeof shut_ran);
        static struct shut_submitter subs[SHUT_SUBMITTERS];
        _Atomic bool go = false;
        pthread_t th[SHUT_SUBMITTERS];
        for (int i = 0; i < SHUT_SUBMITTERS; i++) {
            memset(&subs[i], 0, sizeof subs[i]);
            subs[i].pool = p;
            subs[i].id = i;
            subs[i].go = &go;
            CHECK_EQ(pthread_create(&th[i], NULL, submit_until_shutdown, &subs[i]), 0);
        }
        atomic_store(&go, true);
        usleep((useconds_t)(50 + round % 7 * 100));
        CHECK_EQ(weft_pool_shutdown(p, true, cancel), 0);
        for (int i = 0; i < SHUT_SUBMITTERS; i++)
            pthread_join(th[i], NULL);
        /* Every accepted task has run (or was cancelled), every rejected one never
         * runs: submits after the last accepted one were all rejected. */
        for (int i = 0; i < SHUT_SUBMITTERS; i++) {
            struct shut_submitter *s = &subs[i];
            for (int k = 0; k < SHUT_MAX; k++) {
                int n = atomic_load(&shut_ran[i][k]);
                if (k >= s->accepted) {
                    CHECK_EQ(n, 0);
                    continue;
                }
                if (s->is_post[k]) {
                    CHECK(n == 1 || (cancel && n == 0));
                    continue;
                }
                weft_future *f = s->fs[k];
                CHECK(weft_future_done(f));
                int r = weft_future_result(f, 0, NULL);
                if (n == 1)
                    CHECK_EQ(r, 0);
                else
                    CHECK(cancel && r == ECANCELED);
                weft_future_release(f);
            }
        }
        CHECK_EQ(weft_pool_destroy(p), 0);
    }
}

/* ---- nested fork-join ------------------------------------------------------------------------ */

static weft_pool *fib_pool;

static long fib_serial(long n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static int fib_task(void *arg, void **result)
{
    long n = (long)(intptr_t)arg;
    if (n < 8) {
        *result = (void *)(intptr_t)fib_serial(n);
        return 0;
    }
    weft_future *a;
    CHECK_EQ(weft_pool_submit(fib_pool, fib_task, (void *)(intptr_t)(n - 1), &a), 0);
    void *rb;
    CHECK_EQ(fib_task((void *)(intptr_t)(n - 2), &rb), 0); /* the other half here */
    void *ra;
    CHECK_EQ(weft_future_result(a, WEFT_FOREVER, &ra), 0);
    weft_future_release(a);
    *result = (void *)((intptr_t)ra + (intptr_t)rb);
    return 0;
}

static void nested_fork_join(void)
{
    long n = wf_test_scale(100) == 100 ? 22 : 18; /* smaller under sanitizers */
    size_t workers[] = {1, 2, 4};
    for (size_t w = 0; w < 3; w++) {
        weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
        o.max_workers = workers[w];
        CHECK_EQ(weft_pool_create(&fib_pool, &o), 0);
        for (int round = 0; round < 3; round++) {
            weft_future *f;
            CHECK_EQ(weft_pool_submit(fib_pool, fib_task, (void *)(intptr_t)n, &f), 0);
            void *r;
            CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &r), 0);
            CHECK_EQ((long)(intptr_t)r, fib_serial(n));
            weft_future_release(f);
        }
        CHECK_EQ(weft_pool_destroy(fib_pool), 0);
    }
}

/* ---- backpressure ------------------------------------------------------------------------- */

static _Atomic long bp_done;

static int bp_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&bp_done, 1);
    return 0;
}

struct bp_submitter {
    weft_pool *pool;
    long n, accepted;
};

static void *bp_submit(void *arg)
{
    struct bp_submitter *s = arg;
    for (long k = 0; k < s->n; k++) {
        int r;
        switch (k % 3) {
        case 0:
            r = weft_pool_post(s->pool, bp_task, NULL);
            break;
        case 1:
            r = weft_pool_post_for(s->pool, bp_task, NULL, 0);
            CHECK(r == 0 || r == EAGAIN);
            break;
        default:
            r = weft_pool_post_for(s->pool, bp_task, NULL, WEFT_US(200));
            CHECK(r == 0 || r == ETIMEDOUT);
            break;
        }
        if (r == 0)
            s->accepted++;
    }
    return NULL;
}

static void backpressure_many_submitters(void)
{
    enum { T = 4 };
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    o.max_pending = 4;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    atomic_store(&bp_done, 0);
    struct bp_submitter subs[T];
    for (int i = 0; i < T; i++)
        subs[i] = (struct bp_submitter){p, wf_test_scale(20000), 0};
    wf_test_run_threads(T, bp_submit, subs, sizeof subs[0]);
    CHECK_EQ(weft_pool_shutdown(p, true, false), 0);
    long accepted = 0;
    for (int i = 0; i < T; i++)
        accepted += subs[i].accepted;
    CHECK_EQ(atomic_load(&bp_done), accepted);
    CHECK(accepted >= T * subs[0].n / 3); /* the blocking third always gets in */
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- destroy while calls wait for room ------------------------------------------------------ */

static int echo(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* Whether thread `tid` of this process is asleep (state S in /proc). */
static bool thread_sleeps(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *end = strrchr(buf, ')');
    CHECK(end != NULL && end[1] == ' ');
    return end[2] == 'S';
}

enum { DW_CALLERS = 3, DW_MAP = 2 };

struct dw_caller {
    weft_pool *pool;
    int kind; /* 0: submit, 1: post, 2: map */
    _Atomic pid_t tid;
    int r;
    weft_future *f;
    void *map_args[DW_MAP], *map_results[DW_MAP];
};

static _Atomic long dw_posts;

static int dw_post(void *arg, void **result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&dw_posts, 1);
    return 0;
}

static void *dw_call(void *arg)
{
    struct dw_caller *c = arg;
    atomic_store(&c->tid, (pid_t)syscall(SYS_gettid));
    if (c->kind == 0)
        c->r = weft_pool_submit(c->pool, echo, c, &c->f);
    else if (c->kind == 1)
        c->r = weft_pool_post(c->pool, dw_post, NULL);
    else
        c->r = weft_pool_map(c->pool, echo, c->map_args, DW_MAP, c->map_results, WEFT_FOREVER);
    return NULL;
}

static int dw_gate(void *arg, void **result)
{
    (void)result;
    return weft_future_result(arg, WEFT_FOREVER, NULL);
}

static void destroy_races_waiting_calls(void)
{
    long rounds = wf_test_scale(100);
    for (long round = 0; round < rounds; round++) {
        weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
        o.max_workers = (size_t)(1 + round % 2);
        o.max_pending = 1;
        weft_pool *p;
        CHECK_EQ(weft_pool_create(&p, &o), 0);
        /* Every worker blocked on the gate, one task queued: full. */
        weft_future *gate, *blocked[2], *queued;
        CHECK_EQ(weft_future_create(&gate), 0);
        for (size_t i = 0; i < o.max_workers; i++) {
            CHECK_EQ(weft_pool_submit(p, dw_gate, gate, &blocked[i]), 0);
            EVENTUALLY(weft_future_running(blocked[i]));
        }
        CHECK_EQ(weft_pool_submit(p, echo, NULL, &queued), 0);
        atomic_store(&dw_posts, 0);
        struct dw_caller cs[DW_CALLERS];
        pthread_t th[DW_CALLERS];
        for (int i = 0; i < DW_CALLERS; i++) {
            cs[i] = (struct dw_caller){.pool = p, .kind = i, .tid = 0, .r = -1, .f = NULL};
            for (int k = 0; k < DW_MAP; k++)
                cs[i].map_args[k] = (void *)(intptr_t)(k + 1);
            CHECK_EQ(pthread_create(&th[i], NULL, dw_call, &cs[i]), 0);
        }
        for (int i = 0; i < DW_CALLERS; i++)
            EVENTUALLY(atomic_load(&cs[i].tid) != 0 && thread_sleeps(atomic_load(&cs[i].tid)));
        /* Every caller waits for room: destroy refuses until each has returned. */
        CHECK_EQ(weft_pool_destroy(p), EBUSY);
        CHECK_EQ(weft_future_set_result(gate, NULL), 0);
        int r;
        while ((r = weft_pool_destroy(p)) == EBUSY)
            sched_yield();
        CHECK_EQ(r, 0);
        /* Every call went through, and each task ran once. */
        for (int i = 0; i < DW_CALLERS; i++)
            CHECK_EQ(pthread_join(th[i], NULL), 0);
        for (int i = 0; i < DW_CALLERS; i++)
            CHECK_EQ(cs[i].r, 0);
        void *res = NULL;
        CHECK_EQ(weft_future_result(cs[0].f, 0, &res), 0);
        CHECK(res == &cs[0]);
        CHECK_EQ(atomic_load(&dw_posts), 1);
        for (int k = 0; k < DW_MAP; k++)
            CHECK_EQ((intptr_t)cs[2].map_results[k], k + 1);
        CHECK_EQ(weft_future_result(queued, 0, NULL), 0);
        for (size_t i = 0; i < o.max_workers; i++) {
            CHECK_EQ(weft_future_result(blocked[i], 0, NULL), 0);
            weft_future_release(blocked[i]);
        }
        weft_future_release(cs[0].f);
        weft_future_release(queued);
        weft_future_release(gate);
    }
}

/* ---- pools come and go ---------------------------------------------------------------------- */

static void create_destroy_churn(void)
{
    long rounds = wf_test_scale(200);
    for (long i = 0; i < rounds; i++) {
        weft_pool *p;
        weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
        o.max_workers = (size_t)(1 + i % 4);
        CHECK_EQ(weft_pool_create(&p, &o), 0);
        for (int k = 0; k < 8; k++)
            CHECK_EQ(weft_pool_post(p, noop, NULL), 0);
        if (i % 3 == 0)
            CHECK_EQ(weft_pool_shutdown(p, false, i % 2 == 0), 0);
        CHECK_EQ(weft_pool_destroy(p), 0);
    }
}

TEST_MAIN(TEST(million_tiny_tasks), TEST(cancel_races_completion), TEST(shutdown_races_submit),
          TEST(nested_fork_join), TEST(backpressure_many_submitters),
          TEST(create_destroy_churn), TEST(destroy_races_waiting_calls))
