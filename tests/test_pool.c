/* weft_pool: every verb and error code. Tasks that must block wait on a "gate", a
 * plain future (weft_future_create) the test finishes to open it. */
#include "check.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

static weft_future *gate_new(void)
{
    weft_future *g;
    CHECK_EQ(weft_future_create(&g), 0);
    return g;
}

static void gate_open(weft_future *g)
{
    CHECK_EQ(weft_future_set_result(g, NULL), 0);
}

/* Task: wait for the gate in arg. */
static int wait_gate(void *arg, void **result)
{
    (void)result;
    return weft_future_result(arg, WEFT_FOREVER, NULL);
}

/* Task: return arg as the result. */
static int echo(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* Task: fail with the error in arg. */
static int fail_with(void *arg, void **result)
{
    (void)result;
    return (int)(intptr_t)arg;
}

static _Atomic long counter;

static int count(void *arg, void **result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&counter, 1);
    return 0;
}

static weft_pool *pool_new(size_t max_workers)
{
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = max_workers;
    weft_pool *p = NULL;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    return p;
}

static void wait_counter(long want)
{
    while (atomic_load(&counter) < want)
        usleep(100);
    CHECK_EQ(atomic_load(&counter), want);
}

/* Whether thread `tid` of this process is asleep (state S in /proc): for a test to
 * know that a thread has reached a blocking wait. */
static bool thread_sleeps(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *end = strrchr(buf, ')'); /* the name may hold spaces and parens */
    CHECK(end != NULL && end[1] == ' ');
    return end[2] == 'S';
}

/* ---- create ----------------------------------------------------------------------- */

static void create_arguments_and_defaults(void)
{
    CHECK_EQ(weft_pool_create(NULL, NULL), EINVAL);
    weft_pool *p = NULL;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 65536;
    p = (weft_pool *)&p; /* a failed create leaves *p unchanged */
    CHECK_EQ(weft_pool_create(&p, &o), EINVAL);
    CHECK(p == (weft_pool *)&p);

    CHECK_EQ(weft_pool_create(&p, NULL), 0);
    cpu_set_t set;
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    size_t cpus = (size_t)CPU_COUNT(&set);
    CHECK_EQ(weft_pool_max_workers(p), cpus + 4 < 32 ? cpus + 4 : 32);
    CHECK_EQ(weft_pool_worker_count(p), 0); /* started on demand */
    CHECK_EQ(weft_pool_destroy(p), 0);

    CHECK_EQ(weft_pool_max_workers(NULL), 0);
    CHECK_EQ(weft_pool_worker_count(NULL), 0);
    CHECK_EQ(weft_pool_destroy(NULL), EINVAL);
    CHECK_EQ(weft_pool_shutdown(NULL, true, false), EINVAL);
}

/* ---- submit, result, post ------------------------------------------------------------ */

static void submit_and_result(void)
{
    weft_pool *p = pool_new(2);
    int x = 5;
    weft_future *f = NULL;
    CHECK_EQ(weft_pool_submit(p, echo, &x, &f), 0);
    void *res = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &res), 0);
    CHECK(res == &x);
    CHECK(weft_future_done(f) && !weft_future_cancelled(f) && !weft_future_running(f));
    CHECK_EQ(weft_future_cancel(f), EBUSY);
    /* Pool futures are driven by the pool alone. */
    CHECK_EQ(weft_future_set_result(f, NULL), EPERM);
    CHECK_EQ(weft_future_set_error(f, EIO), EPERM);
    CHECK_EQ(weft_future_set_running_or_notify_cancel(f), EPERM);
    weft_future_release(f);

    /* The task's error is the future's. */
    CHECK_EQ(weft_pool_submit(p, fail_with, (void *)(intptr_t)ENOTCONN, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), ENOTCONN);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void submit_arguments(void)
{
    weft_pool *p = pool_new(1);
    weft_future *f = (weft_future *)&f; /* left unchanged on errors */
    CHECK_EQ(weft_pool_submit(NULL, echo, NULL, &f), EINVAL);
    CHECK(f == (weft_future *)&f);
    CHECK_EQ(weft_pool_submit(p, NULL, NULL, &f), EINVAL);
    CHECK(f == (weft_future *)&f);
    CHECK_EQ(weft_pool_submit(p, echo, NULL, NULL), EINVAL);
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, NULL, 0), EINVAL);
    CHECK_EQ(weft_pool_submit_until(NULL, echo, NULL, &f, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_pool_post(NULL, count, NULL), EINVAL);
    CHECK_EQ(weft_pool_post(p, NULL, NULL), EINVAL);
    CHECK_EQ(weft_pool_post_for(p, NULL, NULL, 0), EINVAL);
    CHECK_EQ(weft_pool_post_until(NULL, count, NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_pool_map(NULL, echo, NULL, 0, NULL, 0), EINVAL);
    CHECK_EQ(weft_pool_map(p, NULL, NULL, 0, NULL, 0), EINVAL);
    CHECK_EQ(weft_pool_map(p, echo, NULL, 3, NULL, 0), EINVAL);
    CHECK_EQ(weft_pool_worker_count(p), 0); /* nothing started by bad calls */
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void post_runs(void)
{
    weft_pool *p = pool_new(3);
    atomic_store(&counter, 0);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(weft_pool_post(p, count, NULL), 0);
    CHECK_EQ(weft_pool_post_for(p, count, NULL, 0), 0);
    CHECK_EQ(weft_pool_post_until(p, count, NULL, WEFT_DEADLINE_NEVER), 0);
    wait_counter(1002);
    /* A failing post's error goes nowhere. */
    CHECK_EQ(weft_pool_post(p, fail_with, (void *)(intptr_t)EIO), 0);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- workers ------------------------------------------------------------------------- */

static int get_name(void *arg, void **result)
{
    (void)arg;
    char *buf = malloc(64);
    CHECK(buf != NULL);
    CHECK_EQ(weft_thread_name(weft_thread_current(), buf, 64), 0);
    *result = buf;
    return 0;
}

static void worker_names(void)
{
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 1;
    o.name_prefix = "crawler";
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(p, get_name, NULL, &f), 0);
    void *name = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &name), 0);
    CHECK(strcmp(name, "crawler_0") == 0);
    free(name);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(p), 0);

    /* The default prefix is Python's: ThreadPoolExecutor-<n>_<i>. */
    CHECK_EQ(weft_pool_create(&p, NULL), 0);
    CHECK_EQ(weft_pool_submit(p, get_name, NULL, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &name), 0);
    CHECK(strncmp(name, "ThreadPoolExecutor-", 19) == 0);
    CHECK(strcmp(name + strlen(name) - 2, "_0") == 0);
    free(name);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void idle_workers_are_reused(void)
{
    weft_pool *p = pool_new(4);
    /* One task at a time: the one worker is idle at each submit. */
    for (int i = 0; i < 20; i++) {
        weft_future *f;
        CHECK_EQ(weft_pool_submit(p, echo, NULL, &f), 0);
        CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
        weft_future_release(f);
    }
    CHECK_EQ(weft_pool_worker_count(p), 1);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void workers_start_on_demand_up_to_max(void)
{
    enum { MAX = 3, TASKS = 8 };
    weft_pool *p = pool_new(MAX);
    weft_future *gate = gate_new();
    weft_future *fs[TASKS];
    for (int i = 0; i < TASKS; i++) {
        CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &fs[i]), 0);
        CHECK(weft_pool_worker_count(p) <= MAX);
    }
    /* Every worker is blocked at each submit, so each submit started one. */
    CHECK_EQ(weft_pool_worker_count(p), MAX);
    gate_open(gate);
    CHECK_EQ(weft_futures_wait(fs, TASKS, WEFT_FOREVER, WEFT_ALL_COMPLETED), 0);
    for (int i = 0; i < TASKS; i++) {
        CHECK_EQ(weft_future_result(fs[i], 0, NULL), 0);
        weft_future_release(fs[i]);
    }
    CHECK_EQ(weft_pool_worker_count(p), MAX);
    weft_future_release(gate);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- initializer ------------------------------------------------------------------------ */

static _Atomic int init_calls;

static int init_ok(void *arg)
{
    CHECK(arg == &init_calls);
    atomic_fetch_add(&init_calls, 1);
    return 0;
}

static int init_fails(void *arg)
{
    (void)arg;
    atomic_fetch_add(&init_calls, 1);
    return EIO;
}

static void initializer_runs_per_worker(void)
{
    atomic_store(&init_calls, 0);
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    o.initializer = init_ok;
    o.initializer_arg = &init_calls;
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    weft_future *gate = gate_new();
    weft_future *fs[2];
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &fs[0]), 0);
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &fs[1]), 0);
    gate_open(gate);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(weft_future_result(fs[i], WEFT_FOREVER, NULL), 0);
        weft_future_release(fs[i]);
    }
    CHECK_EQ(weft_pool_destroy(p), 0);
    CHECK_EQ(atomic_load(&init_calls), 2);
    weft_future_release(gate);
}

static void failing_initializer_breaks_pool(void)
{
    atomic_store(&init_calls, 0);
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 1;
    o.initializer = init_fails;
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    /* The pending task fails with EPIPE (or the submit sees the broken pool). */
    weft_future *f = NULL;
    int r = weft_pool_submit(p, echo, NULL, &f);
    CHECK(r == 0 || r == EPIPE);
    if (r == 0) {
        CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), EPIPE);
        weft_future_release(f);
    }
    /* Once broken, submits fail at once. */
    for (;;) {
        f = (weft_future *)&f;
        if (weft_pool_submit(p, echo, NULL, &f) == EPIPE)
            break;
        CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), EPIPE);
        weft_future_release(f);
    }
    CHECK(f == (weft_future *)&f);
    CHECK_EQ(weft_pool_post(p, count, NULL), EPIPE);
    CHECK_EQ(weft_pool_map(p, echo, (void *[]){NULL}, 1, NULL, WEFT_FOREVER), EPIPE);
    CHECK_EQ(weft_pool_destroy(p), 0);
    CHECK_EQ(atomic_load(&init_calls), 1);
}

/* ---- max_pending ------------------------------------------------------------------------ */

static void *open_gate_later(void *arg)
{
    usleep(20000);
    gate_open(arg);
    return NULL;
}

static void backpressure(void)
{
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 1;
    o.max_pending = 2;
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    weft_future *gate = gate_new(), *running, *queued[2], *f = NULL;
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &running), 0);
    while (!weft_future_running(running)) /* started: no longer pending */
        usleep(100);
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &queued[0]), 0);
    CHECK_EQ(weft_pool_post(p, count, NULL), 0);
    /* Full: 0 is EAGAIN at once, > 0 waits and times out, never early. */
    f = (weft_future *)&f;
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, &f, 0), EAGAIN);
    CHECK(f == (weft_future *)&f);
    CHECK_EQ(weft_pool_post_for(p, count, NULL, 0), EAGAIN);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, &f, WEFT_MS(10)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    t0 = weft_now_ns();
    CHECK_EQ(weft_pool_post_for(p, count, NULL, WEFT_MS(5)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(5));
    CHECK_EQ(weft_pool_submit_until(p, echo, NULL, &f, weft_deadline_in(0)), EAGAIN);
    /* Cancelling a pending task makes room. */
    CHECK_EQ(weft_future_cancel(queued[0]), 0);
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, &queued[1], 0), 0);
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, &f, 0), EAGAIN);
    /* A blocked submit goes through once the worker moves on. */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, open_gate_later, gate), 0);
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &f), 0);
    pthread_join(th, NULL);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_future_result(queued[0], 0, NULL), ECANCELED);
    CHECK_EQ(weft_future_result(queued[1], WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_future_result(running, WEFT_FOREVER, NULL), 0);
    weft_future_release(f);
    weft_future_release(queued[0]);
    weft_future_release(queued[1]);
    weft_future_release(running);
    weft_future_release(gate);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- map ---------------------------------------------------------------------------------- */

static int square(void *arg, void **result)
{
    intptr_t x = (intptr_t)arg;
    if (x < 0)
        return (int)-x;
    *result = (void *)(x * x);
    return 0;
}

static void map_keeps_order(void)
{
    enum { N = 100 };
    weft_pool *p = pool_new(4);
    void *args[N], *results[N];
    for (int i = 0; i < N; i++)
        args[i] = (void *)(intptr_t)i;
    CHECK_EQ(weft_pool_map(p, square, args, N, results, WEFT_FOREVER), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ((intptr_t)results[i], (intptr_t)i * i);
    CHECK_EQ(weft_pool_map(p, square, args, N, NULL, WEFT_SEC(60)), 0);
    CHECK_EQ(weft_pool_map(p, square, NULL, 0, NULL, 0), 0);
    /* The first failing task in order gives the error; results before it are kept. */
    for (int i = 0; i < N; i++)
        results[i] = NULL;
    args[40] = (void *)(intptr_t)-EDOM;
    args[70] = (void *)(intptr_t)-ERANGE;
    CHECK_EQ(weft_pool_map(p, square, args, N, results, WEFT_FOREVER), EDOM);
    for (int i = 0; i < 40; i++)
        CHECK_EQ((intptr_t)results[i], (intptr_t)i * i);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void map_timeout(void)
{
    weft_pool *p = pool_new(2);
    weft_future *gate = gate_new();
    void *args[3] = {gate, gate, gate};
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_pool_map(p, wait_gate, args, 3, NULL, WEFT_MS(10)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    gate_open(gate); /* the running ones finish in the background */
    CHECK_EQ(weft_pool_destroy(p), 0);
    weft_future_release(gate);
}

/* ---- cancel, callbacks --------------------------------------------------------------------- */

static _Atomic int callbacks_run;
static _Thread_local bool on_worker;

static int mark_worker(void *arg, void **result)
{
    (void)arg;
    (void)result;
    on_worker = true;
    return 0;
}

static void count_callback(weft_future *f, void *arg)
{
    CHECK(weft_future_done(f));
    if (arg)
        CHECK(on_worker); /* ran on the worker that finished the task */
    atomic_fetch_add(&callbacks_run, 1);
}

static void cancel_and_callbacks(void)
{
    atomic_store(&callbacks_run, 0);
    weft_pool *p = pool_new(1);
    /* Make the one worker say it is a worker (thread-local). */
    weft_future *f;
    CHECK_EQ(weft_pool_submit(p, mark_worker, NULL, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    weft_future_release(f);

    weft_future *gate = gate_new(), *running, *pending;
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &running), 0);
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &pending), 0);
    while (!weft_future_running(running))
        usleep(100);
    CHECK_EQ(weft_future_add_done_callback(running, count_callback, (void *)1), 0);
    CHECK_EQ(weft_future_add_done_callback(pending, count_callback, NULL), 0);
    CHECK_EQ(weft_future_cancel(running), EBUSY);
    CHECK(!weft_future_cancelled(running));
    CHECK_EQ(weft_future_cancel(pending), 0);
    CHECK_EQ(atomic_load(&callbacks_run), 1); /* the cancel ran pending's callback */
    CHECK(weft_future_cancelled(pending));
    CHECK_EQ(weft_future_result(pending, 0, NULL), ECANCELED);
    gate_open(gate);
    CHECK_EQ(weft_future_result(running, WEFT_FOREVER, NULL), 0);
    /* The worker ran the callback before publishing... or just after: wait. */
    while (atomic_load(&callbacks_run) < 2)
        usleep(100);
    CHECK_EQ(atomic_load(&callbacks_run), 2);
    weft_future_release(running);
    weft_future_release(pending);
    weft_future_release(gate);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- nested work ------------------------------------------------------------------------- */

static weft_pool *nested_pool;

static int fib_task(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    if (n < 2) {
        *result = (void *)n;
        return 0;
    }
    weft_future *a, *b;
    CHECK_EQ(weft_pool_submit(nested_pool, fib_task, (void *)(n - 1), &a), 0);
    CHECK_EQ(weft_pool_submit(nested_pool, fib_task, (void *)(n - 2), &b), 0);
    void *ra, *rb;
    CHECK_EQ(weft_future_result(a, WEFT_FOREVER, &ra), 0);
    CHECK_EQ(weft_future_result(b, WEFT_FOREVER, &rb), 0);
    weft_future_release(a);
    weft_future_release(b);
    *result = (void *)((intptr_t)ra + (intptr_t)rb);
    return 0;
}

static void nested_submit_one_worker(void)
{
    /* Python's executor deadlocks here; weft's waiting worker runs the subtasks. */
    nested_pool = pool_new(1);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(nested_pool, fib_task, (void *)(intptr_t)15, &f), 0);
    void *r;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &r), 0);
    CHECK_EQ((intptr_t)r, 610);
    CHECK_EQ(weft_pool_worker_count(nested_pool), 1);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(nested_pool), 0);
}

static void nested_submit_many_workers(void)
{
    nested_pool = pool_new(4);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(nested_pool, fib_task, (void *)(intptr_t)18, &f), 0);
    void *r;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &r), 0);
    CHECK_EQ((intptr_t)r, 2584);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(nested_pool), 0);
}

static int nested_map(void *arg, void **result)
{
    (void)arg;
    void *args[8], *results[8];
    for (int i = 0; i < 8; i++)
        args[i] = (void *)(intptr_t)i;
    int r = weft_pool_map(nested_pool, square, args, 8, results, WEFT_FOREVER);
    intptr_t sum = 0;
    for (int i = 0; i < 8; i++)
        sum += (intptr_t)results[i];
    *result = (void *)sum;
    return r;
}

static void nested_map_one_worker(void)
{
    nested_pool = pool_new(1);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(nested_pool, nested_map, NULL, &f), 0);
    void *r;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &r), 0);
    CHECK_EQ((intptr_t)r, 140);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(nested_pool), 0);
}

/* A worker waiting with a timeout on a future running elsewhere (blocked). */
static int wait_for_other(void *arg, void **result)
{
    (void)result;
    CHECK_EQ(weft_future_result(arg, 0, NULL), ETIMEDOUT);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_future_result(arg, WEFT_MS(20), NULL), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(20));
    weft_deadline d = weft_deadline_in(WEFT_MS(5));
    CHECK_EQ(weft_future_result_until(arg, d, NULL), ETIMEDOUT);
    CHECK(weft_deadline_passed(d));
    return 0;
}

static void nested_wait_times_out(void)
{
    weft_pool *p = pool_new(2);
    weft_future *gate = gate_new(), *a, *b;
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &a), 0);
    while (!weft_future_running(a))
        usleep(100);
    CHECK_EQ(weft_pool_submit(p, wait_for_other, a, &b), 0); /* on the other worker */
    CHECK_EQ(weft_future_result(b, WEFT_FOREVER, NULL), 0);
    gate_open(gate);
    CHECK_EQ(weft_future_result(a, WEFT_FOREVER, NULL), 0);
    weft_future_release(a);
    weft_future_release(b);
    weft_future_release(gate);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- shutdown ------------------------------------------------------------------------------- */

static void shutdown_rejects_submits(void)
{
    weft_pool *p = pool_new(2);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &f), 0);
    CHECK_EQ(weft_pool_shutdown(p, true, false), 0);
    CHECK_EQ(weft_future_result(f, 0, NULL), 0); /* ran before shutdown returned */
    weft_future_release(f);
    f = (weft_future *)&f;
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &f), ESHUTDOWN);
    CHECK(f == (weft_future *)&f);
    CHECK_EQ(weft_pool_submit_for(p, echo, NULL, &f, 0), ESHUTDOWN);
    CHECK_EQ(weft_pool_post(p, count, NULL), ESHUTDOWN);
    CHECK_EQ(weft_pool_map(p, echo, (void *[]){NULL}, 1, NULL, WEFT_FOREVER), ESHUTDOWN);
    CHECK_EQ(weft_pool_shutdown(p, true, true), 0); /* again: fine */
    CHECK_EQ(weft_pool_destroy(p), 0);
}

static void shutdown_waits_for_pending(void)
{
    enum { N = 50 };
    weft_pool *p = pool_new(2);
    weft_future *gate = gate_new(), *fs[N];
    atomic_store(&counter, 0);
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &fs[0]), 0);
    for (int i = 1; i < N; i++)
        CHECK_EQ(weft_pool_submit(p, count, NULL, &fs[i]), 0);
    CHECK_EQ(weft_pool_shutdown(p, false, false), 0); /* returns at once */
    CHECK(!weft_future_done(fs[0]));
    gate_open(gate);
    CHECK_EQ(weft_pool_shutdown(p, true, false), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_future_result(fs[i], 0, NULL), 0); /* all ran */
        weft_future_release(fs[i]);
    }
    CHECK_EQ(atomic_load(&counter), N - 1);
    CHECK_EQ(weft_pool_destroy(p), 0);
    weft_future_release(gate);
}

static void shutdown_cancel_futures(void)
{
    enum { N = 50 };
    weft_pool *p = pool_new(1);
    weft_future *gate = gate_new(), *fs[N];
    atomic_store(&counter, 0);
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &fs[0]), 0);
    while (!weft_future_running(fs[0]))
        usleep(100);
    for (int i = 1; i < N; i++)
        CHECK_EQ(weft_pool_submit(p, count, NULL, &fs[i]), 0);
    CHECK_EQ(weft_pool_post(p, count, NULL), 0);
    CHECK_EQ(weft_pool_shutdown(p, false, true), 0);
    for (int i = 1; i < N; i++) /* cancelled synchronously */
        CHECK_EQ(weft_future_result(fs[i], 0, NULL), ECANCELED);
    CHECK(weft_future_running(fs[0])); /* the running one goes on */
    gate_open(gate);
    CHECK_EQ(weft_pool_destroy(p), 0);
    CHECK_EQ(weft_future_result(fs[0], 0, NULL), 0);
    CHECK_EQ(atomic_load(&counter), 0); /* nothing cancelled ran, the post neither */
    for (int i = 0; i < N; i++)
        weft_future_release(fs[i]);
    weft_future_release(gate);
}

static weft_pool *self_pool;

static int shutdown_self(void *arg, void **result)
{
    (void)arg;
    (void)result;
    CHECK_EQ(weft_pool_shutdown(self_pool, true, false), EDEADLK);
    CHECK_EQ(weft_pool_destroy(self_pool), EDEADLK);
    /* Without waiting it is allowed; then submits fail, even from a worker. */
    CHECK_EQ(weft_pool_shutdown(self_pool, false, false), 0);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(self_pool, echo, NULL, &f), ESHUTDOWN);
    return 0;
}

static void shutdown_from_worker(void)
{
    self_pool = pool_new(2);
    weft_future *f;
    CHECK_EQ(weft_pool_submit(self_pool, shutdown_self, NULL, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    weft_future_release(f);
    CHECK_EQ(weft_pool_destroy(self_pool), 0);
}

static void destroy_without_shutdown(void)
{
    /* destroy waits for pending work; futures outlive the pool. */
    weft_pool *p = pool_new(2);
    weft_future *fs[10];
    for (int i = 0; i < 10; i++)
        CHECK_EQ(weft_pool_submit(p, echo, (void *)(intptr_t)i, &fs[i]), 0);
    CHECK_EQ(weft_pool_destroy(p), 0);
    for (int i = 0; i < 10; i++) {
        void *r;
        CHECK_EQ(weft_future_result(fs[i], 0, &r), 0);
        CHECK_EQ((intptr_t)r, i);
        CHECK_EQ(weft_future_cancel(fs[i]), EBUSY);
        weft_future_release(fs[i]);
    }
    /* A pool never used. */
    CHECK_EQ(weft_pool_destroy(pool_new(0)), 0);
}

static int as_completed_count(weft_future *f, void *arg)
{
    (void)f;
    (*(int *)arg)++;
    return 0;
}

static void wait_and_as_completed_on_pool(void)
{
    enum { N = 30 };
    weft_pool *p = pool_new(3);
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_pool_submit(p, echo, NULL, &fs[i]), 0);
    int n = 0;
    CHECK_EQ(weft_futures_as_completed(fs, N, WEFT_FOREVER, as_completed_count, &n), 0);
    CHECK_EQ(n, N);
    CHECK_EQ(weft_futures_wait(fs, N, 0, WEFT_ALL_COMPLETED), 0);
    for (int i = 0; i < N; i++)
        weft_future_release(fs[i]);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* ---- what a task may not do ------------------------------------------------------------ */

static _Atomic int exit_result = -1;

static int try_thread_exit(void *arg, void **result)
{
    atomic_store(&exit_result, weft_thread_exit(arg));
    *result = arg;
    return 0;
}

static void task_cannot_end_its_worker(void)
{
    weft_pool *p = pool_new(1);
    int x;
    weft_future *f;
    CHECK_EQ(weft_pool_submit(p, try_thread_exit, &x, &f), 0);
    /* Bounded, so that a worker that did exit fails the test instead of hanging it. */
    void *res = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_SEC(30), &res), 0);
    CHECK(res == &x);
    CHECK_EQ(atomic_load(&exit_result), EPERM);
    weft_future_release(f);
    /* The one worker still serves. */
    CHECK_EQ(weft_pool_submit(p, echo, &x, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_SEC(30), &res), 0);
    CHECK(res == &x);
    weft_future_release(f);
    CHECK_EQ(weft_pool_worker_count(p), 1);
    /* The initializer and a post may not either; a pool broken by neither. */
    atomic_store(&exit_result, -1);
    CHECK_EQ(weft_pool_post(p, try_thread_exit, NULL), 0);
    EVENTUALLY(atomic_load(&exit_result) == EPERM);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

/* A task told its own future (through a gate it waits on first). */
struct self_wait {
    weft_future *gate;
    weft_future *self; /* written before the gate opens */
    weft_pool *pool;
};

static int wait_on_self(void *arg, void **result)
{
    (void)result;
    struct self_wait *s = arg;
    CHECK_EQ(weft_future_result(s->gate, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_future_result(s->self, 0, NULL), EDEADLK);
    CHECK_EQ(weft_future_result(s->self, WEFT_MS(50), NULL), EDEADLK);
    CHECK_EQ(weft_future_result(s->self, WEFT_FOREVER, NULL), EDEADLK);
    CHECK_EQ(weft_future_result_until(s->self, WEFT_DEADLINE_NEVER, NULL), EDEADLK);
    CHECK(weft_future_running(s->self)); /* and nothing changed */
    return 0;
}

/* Runs on the same (only) worker while `arg`'s task waits for it below. */
static int wait_on_outer(void *arg, void **result)
{
    (void)result;
    return weft_future_result(arg, 0, NULL);
}

static int wait_on_inner(void *arg, void **result)
{
    (void)result;
    struct self_wait *s = arg;
    CHECK_EQ(weft_future_result(s->gate, WEFT_FOREVER, NULL), 0);
    weft_future *inner;
    CHECK_EQ(weft_pool_submit(s->pool, wait_on_outer, s->self, &inner), 0);
    int r = weft_future_result(inner, WEFT_FOREVER, NULL);
    weft_future_release(inner);
    return r;
}

static void task_waiting_on_itself(void)
{
    for (size_t workers = 1; workers <= 2; workers++) {
        struct self_wait s = {.gate = gate_new(), .self = NULL, .pool = pool_new(workers)};
        weft_future *f;
        CHECK_EQ(weft_pool_submit(s.pool, wait_on_self, &s, &f), 0);
        s.self = f;
        gate_open(s.gate);
        CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
        weft_future_release(f);
        weft_future_release(s.gate);
        CHECK_EQ(weft_pool_destroy(s.pool), 0);
    }
    /* Further down the stack: with one worker, the inner task runs on the worker
     * that waits for it, on top of the outer task it waits on. */
    struct self_wait s = {.gate = gate_new(), .self = NULL, .pool = pool_new(1)};
    weft_future *f;
    CHECK_EQ(weft_pool_submit(s.pool, wait_on_inner, &s, &f), 0);
    s.self = f;
    gate_open(s.gate);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), EDEADLK);
    weft_future_release(f);
    weft_future_release(s.gate);
    CHECK_EQ(weft_pool_destroy(s.pool), 0);
}

/* ---- destroy while a submit waits for room ------------------------------------------------ */

struct waiting_submit {
    weft_pool *pool;
    _Atomic pid_t tid;
    int r;
    weft_future *f;
};

static void *submit_waiting_for_room(void *arg)
{
    struct waiting_submit *w = arg;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    w->r = weft_pool_submit(w->pool, echo, w, &w->f);
    return NULL;
}

static void *open_gate_much_later(void *arg)
{
    usleep(200000); /* only a destroy that did not refuse waits for this */
    gate_open(arg);
    return NULL;
}

static void destroy_refuses_while_a_submit_waits(void)
{
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 1;
    o.max_pending = 1;
    weft_pool *p;
    CHECK_EQ(weft_pool_create(&p, &o), 0);
    weft_future *gate = gate_new(), *running, *queued;
    CHECK_EQ(weft_pool_submit(p, wait_gate, gate, &running), 0);
    EVENTUALLY(weft_future_running(running));
    CHECK_EQ(weft_pool_submit(p, echo, NULL, &queued), 0); /* full now */
    struct waiting_submit w = {.pool = p, .tid = 0, .r = -1, .f = NULL};
    pthread_t th, opener;
    CHECK_EQ(pthread_create(&th, NULL, submit_waiting_for_room, &w), 0);
    EVENTUALLY(atomic_load(&w.tid) != 0 && thread_sleeps(atomic_load(&w.tid)));
    CHECK_EQ(pthread_create(&opener, NULL, open_gate_much_later, gate), 0);
    CHECK_EQ(weft_pool_destroy(p), EBUSY);
    CHECK_EQ(weft_pool_destroy(p), EBUSY);
    /* Nothing changed: the pool is not shut down (a post finds it full, or, once
     * the gate has opened, room), and the waiting submit goes through once the
     * worker moves on. */
    int r = weft_pool_post_for(p, count, NULL, 0);
    CHECK(r == EAGAIN || r == 0);
    CHECK_EQ(pthread_join(opener, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(w.r, 0);
    void *res = NULL;
    CHECK_EQ(weft_future_result(w.f, WEFT_FOREVER, &res), 0);
    CHECK(res == &w);
    CHECK_EQ(weft_future_result(running, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_future_result(queued, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_pool_destroy(p), 0);
    weft_future_release(w.f);
    weft_future_release(running);
    weft_future_release(queued);
    weft_future_release(gate);
}

/* Many futures alive at once, from two submitting threads, each result its own
 * argument; twice, so that the second round reuses the first round's futures (freed
 * by whichever holder dropped last, on either side). */
enum { HELD = 20000 };

struct holder {
    weft_pool *pool;
    weft_future **fs;
    intptr_t base;
};

static void *submit_held(void *arg)
{
    struct holder *h = arg;
    long n = wf_test_scale(HELD);
    for (long i = 0; i < n; i++)
        CHECK_EQ(weft_pool_submit(h->pool, echo, (void *)(h->base + i), &h->fs[i]), 0);
    return NULL;
}

static void many_outstanding_futures(void)
{
    weft_pool *p = pool_new(2);
    long n = wf_test_scale(HELD);
    weft_future **fs = calloc(2 * (size_t)n, sizeof *fs);
    CHECK(fs != NULL);
    for (int round = 0; round < 2; round++) {
        struct holder h[2] = {{p, fs, 1}, {p, fs + n, 1 + n}};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, submit_held, &h[1]), 0);
        submit_held(&h[0]);
        CHECK_EQ(pthread_join(th, NULL), 0);
        for (long i = 0; i < 2 * n; i++) {
            void *res = NULL;
            CHECK_EQ(weft_future_result(fs[i], WEFT_FOREVER, &res), 0);
            CHECK(res == (void *)(1 + i));
            CHECK_EQ(weft_future_release(fs[i]), 0);
        }
    }
    free(fs);
    CHECK_EQ(weft_pool_destroy(p), 0);
}

TEST_MAIN(TEST(create_arguments_and_defaults), TEST(submit_and_result), TEST(submit_arguments),
          TEST(post_runs), TEST(worker_names), TEST(idle_workers_are_reused),
          TEST(workers_start_on_demand_up_to_max), TEST(initializer_runs_per_worker),
          TEST(failing_initializer_breaks_pool), TEST(backpressure), TEST(map_keeps_order),
          TEST(map_timeout), TEST(cancel_and_callbacks), TEST(nested_submit_one_worker),
          TEST(nested_submit_many_workers), TEST(nested_map_one_worker),
          TEST(nested_wait_times_out), TEST(shutdown_rejects_submits),
          TEST(shutdown_waits_for_pending), TEST(shutdown_cancel_futures),
          TEST(shutdown_from_worker), TEST(destroy_without_shutdown),
          TEST(wait_and_as_completed_on_pool), TEST(task_cannot_end_its_worker),
          TEST(task_waiting_on_itself), TEST(destroy_refuses_while_a_submit_waits),
          TEST(many_outstanding_futures))
