/* Cancellation of the queue, future, thread and pool families: a thread blocked in
 * an `_until` call whose deadline carries only a token (no timeout) is cancelled
 * from another thread and returns ECANCELED with the object's state intact (no item
 * lost or taken, a future still pending that completes later, a thread still
 * joinable, a submission not queued); the same with the token fired before the
 * call, and with a child token whose parent fires. A call that can complete at once
 * completes, fired token or not.
 *
 * Deterministic: the firing thread waits until the victim really sleeps in its call
 * (white box where the family has a count or flag to read, and the victim's task
 * state in /proc, 'S', for every family), never for a stretch of time. */
#include "check.h"
#include "future_internal.h"
#include "queue_internal.h"

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* An item the victims put, which must never be found in a queue. */
#define VICTIM_ITEM ((void *)(uintptr_t)0xdead)
/* What an out parameter holds before a call that must not write it. */
#define UNTOUCHED ((void *)(uintptr_t)0xbeef)

static void *item_of(size_t i)
{
    return (void *)(uintptr_t)(i + 1);
}

/* ---- the victim: a thread blocked in one call ------------------------------------ */

struct victim {
    pthread_t th;
    int (*call)(struct victim *v);
    bool (*asleep)(struct victim *v); /* white box: announced as a sleeper (may be NULL) */
    void *ctx;
    weft_deadline d;
    _Atomic pid_t tid;
    _Atomic bool returned;
    int result;
};

static void *victim_main(void *arg)
{
    struct victim *v = arg;
    atomic_store(&v->tid, (pid_t)syscall(SYS_gettid));
    v->result = v->call(v);
    atomic_store(&v->returned, true);
    return NULL;
}

/* Waits until the victim sleeps in its call; fails if it returns instead. */
static void victim_await_sleep(struct victim *v)
{
    int64_t end = weft_now_ns() + WEFT_SEC(10);
    for (;;) {
        CHECK(!atomic_load(&v->returned));
        pid_t tid = atomic_load(&v->tid);
        if (tid && (!v->asleep || v->asleep(v)) && wf_test_task_sleeps(tid))
            return;
        CHECK(weft_now_ns() < end);
        usleep(1000);
    }
}

enum mode {
    FIRED_WHILE_BLOCKED, /* the deadline's token fires while the victim sleeps */
    FIRED_BEFORE,        /* ... before the call */
    PARENT_FIRED,        /* the token is a child; its parent fires while it sleeps */
};

static const enum mode all_modes[] = {FIRED_WHILE_BLOCKED, FIRED_BEFORE, PARENT_FIRED};

/* Runs v->call in a thread under a deadline with a token and no timeout, cancels it
 * as `mode` says, and returns what the call returned. */
static int run_cancelled(struct victim *v, enum mode mode)
{
    weft_cancel root = WEFT_CANCEL_INIT, child;
    CHECK_EQ(weft_cancel_init_child(&child, &root), 0);
    v->d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, mode == PARENT_FIRED ? &child : &root);
    atomic_store(&v->tid, 0);
    atomic_store(&v->returned, false);
    if (mode == FIRED_BEFORE)
        CHECK_EQ(weft_cancel_fire(&root), 0);
    CHECK_EQ(pthread_create(&v->th, NULL, victim_main, v), 0);
    if (mode != FIRED_BEFORE) {
        victim_await_sleep(v);
        CHECK(!weft_cancel_fired(v->d.cancel));
        CHECK_EQ(weft_cancel_fire(&root), 0);
    }
    CHECK_EQ(pthread_join(v->th, NULL), 0);
    CHECK(atomic_load(&v->returned));
    return v->result;
}

/* ---- queues ------------------------------------------------------------------------ */

struct queue_kind {
    int kind;
    size_t maxsize;
};

/* Every implementation: the ring, the linked queue unbounded and bounded by its
 * counter, the locked stack and heap. */
static const struct queue_kind queue_kinds[] = {
    {WEFT_FIFO, 2},
    {WEFT_FIFO, 0},
    {WEFT_FIFO, WEFT_QUEUE_RING_MAX + 1},
    {WEFT_LIFO, 2},
    {WEFT_PRIORITY, 2},
};

struct queue_ctx {
    weft_queue *q;
    void *item;
    void *items[4];
};

static struct queue_ctx *qctx(struct victim *v)
{
    return v->ctx;
}

static int call_get(struct victim *v)
{
    return weft_queue_get_until(qctx(v)->q, &qctx(v)->item, v->d);
}

static int call_get_many(struct victim *v)
{
    return (int)weft_queue_get_many_until(qctx(v)->q, qctx(v)->items, N_OF(qctx(v)->items), v->d);
}

static int call_put(struct victim *v)
{
    return weft_queue_put_until(qctx(v)->q, VICTIM_ITEM, v->d);
}

static int call_put_prio(struct victim *v)
{
    return weft_queue_put_prio_until(qctx(v)->q, -1, VICTIM_ITEM, v->d);
}

static int call_put_many(struct victim *v)
{
    void *const items[3] = {VICTIM_ITEM, VICTIM_ITEM, VICTIM_ITEM};
    return (int)weft_queue_put_many_until(qctx(v)->q, items, N_OF(items), v->d);
}

static int call_join(struct victim *v)
{
    return weft_queue_join_until(qctx(v)->q, v->d);
}

static bool getter_listed(struct victim *v)
{
    return atomic_load(&qctx(v)->q->not_empty.waiters) > 0;
}

static bool putter_listed(struct victim *v)
{
    return atomic_load(&qctx(v)->q->not_full.waiters) > 0;
}

static bool joiner_listed(struct victim *v)
{
    return atomic_load(&qctx(v)->q->all_done.waiters) > 0;
}

/* Nobody is left waiting on q: the lists are empty and destroy would not refuse. */
static void check_no_waiter(const weft_queue *q)
{
    CHECK_EQ(atomic_load(&q->not_empty.waiters), 0);
    CHECK_EQ(atomic_load(&q->not_full.waiters), 0);
    CHECK_EQ(atomic_load(&q->all_done.waiters), 0);
    CHECK_EQ(atomic_load(&q->waiting), 0);
}

/* A get or get_many on an empty queue: cancelled, nothing taken, the queue works. */
static void queue_get_is_cancelled(void)
{
    int (*const calls[])(struct victim *) = {call_get, call_get_many};
    for (size_t k = 0; k < N_OF(queue_kinds); k++) {
        for (size_t c = 0; c < N_OF(calls); c++) {
            for (size_t m = 0; m < N_OF(all_modes); m++) {
                struct queue_ctx ctx = {.item = UNTOUCHED};
                for (size_t i = 0; i < N_OF(ctx.items); i++)
                    ctx.items[i] = UNTOUCHED;
                CHECK_EQ(weft_queue_create(&ctx.q, queue_kinds[k].maxsize, queue_kinds[k].kind),
                         0);
                struct victim v = {.call = calls[c], .asleep = getter_listed, .ctx = &ctx};
                int r = run_cancelled(&v, all_modes[m]);
                CHECK_EQ(r, calls[c] == call_get ? ECANCELED : -ECANCELED);
                CHECK(ctx.item == UNTOUCHED);
                for (size_t i = 0; i < N_OF(ctx.items); i++)
                    CHECK(ctx.items[i] == UNTOUCHED);
                CHECK_EQ(weft_queue_qsize(ctx.q), 0);
                check_no_waiter(ctx.q);
                /* The queue goes on: a put and a get, and join sees one task. */
                void *got = NULL;
                CHECK_EQ(weft_queue_put(ctx.q, item_of(7), 0), 0);
                CHECK_EQ(weft_queue_get(ctx.q, &got, 0), 0);
                CHECK(got == item_of(7));
                CHECK_EQ(weft_queue_join(ctx.q, 0), ETIMEDOUT);
                CHECK_EQ(weft_queue_task_done(ctx.q), 0);
                CHECK_EQ(weft_queue_join(ctx.q, 0), 0);
                CHECK_EQ(weft_queue_destroy(ctx.q), 0);
            }
        }
    }
}

/* A put, put_prio or put_many on a full queue: cancelled, nothing put, every item
 * that was there still there in its order, the queue works. */
static void queue_put_is_cancelled(void)
{
    int (*const calls[])(struct victim *) = {call_put, call_put_prio, call_put_many};
    for (size_t k = 0; k < N_OF(queue_kinds); k++) {
        size_t max = queue_kinds[k].maxsize;
        if (max == 0)
            continue; /* never full */
        for (size_t c = 0; c < N_OF(calls); c++) {
            if (calls[c] == call_put_prio && queue_kinds[k].kind != WEFT_PRIORITY)
                continue;
            for (size_t m = 0; m < N_OF(all_modes); m++) {
                struct queue_ctx ctx = {0};
                CHECK_EQ(weft_queue_create(&ctx.q, max, queue_kinds[k].kind), 0);
                for (size_t i = 0; i < max; i++)
                    CHECK_EQ(weft_queue_put(ctx.q, item_of(i), 0), 0);
                struct victim v = {.call = calls[c], .asleep = putter_listed, .ctx = &ctx};
                int r = run_cancelled(&v, all_modes[m]);
                CHECK_EQ(r, calls[c] == call_put_many ? -ECANCELED : ECANCELED);
                CHECK_EQ(weft_queue_qsize(ctx.q), max);
                CHECK(weft_queue_full(ctx.q));
                check_no_waiter(ctx.q);
                /* Exactly the items put before, in the kind's order. */
                for (size_t i = 0; i < max; i++) {
                    void *got = NULL;
                    CHECK_EQ(weft_queue_get(ctx.q, &got, 0), 0);
                    size_t want = queue_kinds[k].kind == WEFT_LIFO ? max - 1 - i : i;
                    CHECK(got == item_of(want));
                }
                void *got = NULL;
                CHECK_EQ(weft_queue_get(ctx.q, &got, 0), EAGAIN);
                /* Every task put is counted once: none for the cancelled put. */
                for (size_t i = 0; i < max; i++)
                    CHECK_EQ(weft_queue_task_done(ctx.q), 0);
                CHECK_EQ(weft_queue_task_done(ctx.q), EINVAL);
                CHECK_EQ(weft_queue_join(ctx.q, 0), 0);
                CHECK_EQ(weft_queue_put(ctx.q, item_of(9), 0), 0);
                CHECK_EQ(weft_queue_get(ctx.q, &got, 0), 0);
                CHECK(got == item_of(9));
                CHECK_EQ(weft_queue_destroy(ctx.q), 0);
            }
        }
    }
}

/* join with a task unfinished: cancelled; the task's done still ends the next join. */
static void queue_join_is_cancelled(void)
{
    for (size_t k = 0; k < N_OF(queue_kinds); k++) {
        for (size_t m = 0; m < N_OF(all_modes); m++) {
            struct queue_ctx ctx = {0};
            CHECK_EQ(weft_queue_create(&ctx.q, queue_kinds[k].maxsize, queue_kinds[k].kind), 0);
            CHECK_EQ(weft_queue_put(ctx.q, item_of(0), 0), 0);
            struct victim v = {.call = call_join, .asleep = joiner_listed, .ctx = &ctx};
            CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
            CHECK_EQ(weft_queue_qsize(ctx.q), 1);
            check_no_waiter(ctx.q);
            void *got = NULL;
            CHECK_EQ(weft_queue_get(ctx.q, &got, 0), 0);
            CHECK(got == item_of(0));
            CHECK_EQ(weft_queue_join(ctx.q, 0), ETIMEDOUT);
            CHECK_EQ(weft_queue_task_done(ctx.q), 0);
            CHECK_EQ(weft_queue_join_until(ctx.q, v.d), 0); /* nothing to wait for */
            CHECK_EQ(weft_queue_destroy(ctx.q), 0);
        }
    }
}

/* A fired token stops only calls that would wait: what can move at once moves, a
 * batch moving what there is (or what fits), as a passed deadline lets it. */
static void queue_moves_what_it_can_under_a_fired_token(void)
{
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_fire(&c), 0);
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c);
    for (size_t k = 0; k < N_OF(queue_kinds); k++) {
        weft_queue *q;
        CHECK_EQ(weft_queue_create(&q, queue_kinds[k].maxsize, queue_kinds[k].kind), 0);
        void *items[4] = {item_of(0), item_of(1), item_of(2), item_of(3)};
        void *out[4] = {UNTOUCHED, UNTOUCHED, UNTOUCHED, UNTOUCHED};
        ssize_t put = weft_queue_put_many_until(q, items, 4, d);
        CHECK_EQ(put, queue_kinds[k].maxsize == 2 ? 2 : 4); /* what fits */
        CHECK_EQ(weft_queue_get_many_until(q, out, 4, d), put);
        CHECK(out[put - 1] != UNTOUCHED);
        CHECK_EQ(weft_queue_get_many_until(q, out, 4, d), -ECANCELED);
        CHECK_EQ(weft_queue_put_until(q, item_of(5), d), 0);
        void *got = NULL;
        CHECK_EQ(weft_queue_get_until(q, &got, d), 0);
        CHECK(got == item_of(5));
        CHECK_EQ(weft_queue_get_until(q, &got, d), ECANCELED);
        for (ssize_t i = 0; i < put + 1; i++)
            CHECK_EQ(weft_queue_task_done(q), 0);
        CHECK_EQ(weft_queue_join_until(q, d), 0);
        /* A passed deadline without a token still times out (not ECANCELED). */
        CHECK_EQ(weft_queue_get_until(q, &got, weft_deadline_in(0)), ETIMEDOUT);
        CHECK_EQ(weft_queue_get_many_until(q, out, 4, weft_deadline_in(0)), -ETIMEDOUT);
        check_no_waiter(q);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

struct simplequeue_ctx {
    weft_simplequeue *q;
    void *item;
};

static int call_simple_get(struct victim *v)
{
    struct simplequeue_ctx *c = v->ctx;
    return weft_simplequeue_get_until(c->q, &c->item, v->d);
}

static void simplequeue_get_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        struct simplequeue_ctx ctx = {.item = UNTOUCHED};
        CHECK_EQ(weft_simplequeue_create(&ctx.q), 0);
        struct victim v = {.call = call_simple_get, .ctx = &ctx};
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        CHECK(ctx.item == UNTOUCHED);
        CHECK(weft_simplequeue_empty(ctx.q));
        CHECK_EQ(weft_simplequeue_put(ctx.q, item_of(3)), 0);
        CHECK_EQ(weft_simplequeue_get(ctx.q, &ctx.item, 0), 0);
        CHECK(ctx.item == item_of(3));
        CHECK_EQ(weft_simplequeue_destroy(ctx.q), 0); /* nobody waits: not EBUSY */
    }
}

/* ---- futures ------------------------------------------------------------------------ */

struct future_ctx {
    weft_future *fs[2];
    void *result;
    int handed;           /* as_completed: futures handed back */
    weft_future *seen[2]; /* ... which */
};

static struct future_ctx *fctx(struct victim *v)
{
    return v->ctx;
}

static uint32_t state_of(const weft_future *f)
{
    return atomic_load(&f->state);
}

static int call_result(struct victim *v)
{
    return weft_future_result_until(fctx(v)->fs[0], v->d, &fctx(v)->result);
}

static bool result_sleeper(struct victim *v)
{
    return state_of(fctx(v)->fs[0]) & WF_FUTURE_SLEEPERS;
}

static int call_wait(struct victim *v)
{
    return weft_futures_wait_until(fctx(v)->fs, 2, v->d, WEFT_ALL_COMPLETED);
}

static bool both_watched(struct victim *v)
{
    return (state_of(fctx(v)->fs[0]) & WF_FUTURE_LISTENERS) &&
           (state_of(fctx(v)->fs[1]) & WF_FUTURE_LISTENERS);
}

static int hand_back(weft_future *f, void *arg)
{
    struct future_ctx *c = arg;
    c->seen[c->handed++] = f;
    return 0;
}

static int call_as_completed(struct victim *v)
{
    return weft_futures_as_completed_until(fctx(v)->fs, 2, v->d, hand_back, fctx(v));
}

static bool second_watched(struct victim *v)
{
    return state_of(fctx(v)->fs[1]) & WF_FUTURE_LISTENERS;
}

/* No watch of a waiter is left on f. */
static bool unwatched(const weft_future *f)
{
    return f->listeners.first == NULL;
}

static void future_result_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        struct future_ctx ctx = {.result = UNTOUCHED};
        CHECK_EQ(weft_future_create(&ctx.fs[0]), 0);
        struct victim v = {.call = call_result, .asleep = result_sleeper, .ctx = &ctx};
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        CHECK(ctx.result == UNTOUCHED);
        CHECK(!weft_future_done(ctx.fs[0]) && !weft_future_cancelled(ctx.fs[0]));
        /* Still pending: it completes as usual, and its result is there to read. */
        CHECK_EQ(weft_future_set_result(ctx.fs[0], item_of(4)), 0);
        CHECK_EQ(weft_future_result_until(ctx.fs[0], v.d, &ctx.result), 0);
        CHECK(ctx.result == item_of(4));
        CHECK_EQ(weft_future_release(ctx.fs[0]), 0);
    }
    /* A task's error (the "exception") is read the same way after a cancelled wait. */
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_fire(&c), 0);
    weft_deadline d = weft_deadline_with_cancel(weft_deadline_in(WEFT_SEC(60)), &c);
    CHECK_EQ(weft_future_result_until(f, d, NULL), ECANCELED);
    CHECK_EQ(weft_future_set_error(f, EPIPE), 0);
    CHECK_EQ(weft_future_result_until(f, d, NULL), EPIPE); /* done: the token is not looked at */
    CHECK_EQ(weft_future_release(f), 0);
}

static void futures_wait_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        struct future_ctx ctx = {0};
        CHECK_EQ(weft_future_create(&ctx.fs[0]), 0);
        CHECK_EQ(weft_future_create(&ctx.fs[1]), 0);
        struct victim v = {.call = call_wait, .asleep = both_watched, .ctx = &ctx};
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        for (int i = 0; i < 2; i++) {
            CHECK(!weft_future_done(ctx.fs[i]));
            CHECK(unwatched(ctx.fs[i]));
        }
        CHECK_EQ(weft_future_set_result(ctx.fs[0], NULL), 0);
        CHECK_EQ(weft_future_set_result(ctx.fs[1], NULL), 0);
        CHECK_EQ(weft_futures_wait_until(ctx.fs, 2, v.d, WEFT_ALL_COMPLETED), 0);
        CHECK_EQ(weft_future_release(ctx.fs[0]), 0);
        CHECK_EQ(weft_future_release(ctx.fs[1]), 0);
    }
}

static void as_completed_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        struct future_ctx ctx = {0};
        CHECK_EQ(weft_future_create(&ctx.fs[0]), 0);
        CHECK_EQ(weft_future_create(&ctx.fs[1]), 0);
        CHECK_EQ(weft_future_set_result(ctx.fs[0], NULL), 0); /* done: handed back first */
        struct victim v = {.call = call_as_completed, .asleep = second_watched, .ctx = &ctx};
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        CHECK_EQ(ctx.handed, 1);
        CHECK(ctx.seen[0] == ctx.fs[0]);
        CHECK(!weft_future_done(ctx.fs[1]));
        CHECK(unwatched(ctx.fs[1]));
        CHECK_EQ(weft_future_set_result(ctx.fs[1], NULL), 0);
        ctx.handed = 0;
        CHECK_EQ(weft_futures_as_completed_until(ctx.fs, 2, v.d, hand_back, &ctx), 0);
        CHECK_EQ(ctx.handed, 2);
        CHECK_EQ(weft_future_release(ctx.fs[0]), 0);
        CHECK_EQ(weft_future_release(ctx.fs[1]), 0);
    }
}

/* ---- threads ------------------------------------------------------------------------ */

static weft_event thread_gate = WEFT_EVENT_INIT;

static void *gated_thread(void *arg)
{
    CHECK_EQ(weft_event_wait(&thread_gate, WEFT_FOREVER), 0);
    return arg;
}

struct thread_ctx {
    weft_thread t;
    void *result;
};

static int call_join_thread(struct victim *v)
{
    struct thread_ctx *c = v->ctx;
    return weft_thread_join_until(c->t, v->d, &c->result);
}

static int call_join_all(struct victim *v)
{
    return weft_thread_join_all_until(v->d);
}

static void thread_join_is_cancelled(void)
{
    int (*const calls[])(struct victim *) = {call_join_thread, call_join_all};
    for (size_t c = 0; c < N_OF(calls); c++) {
        for (size_t m = 0; m < N_OF(all_modes); m++) {
            weft_event_clear(&thread_gate);
            struct thread_ctx ctx = {.result = UNTOUCHED};
            CHECK_EQ(weft_thread_start(&ctx.t, gated_thread, item_of(6), NULL), 0);
            struct victim v = {.call = calls[c], .ctx = &ctx};
            CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
            CHECK(ctx.result == UNTOUCHED);
            CHECK(weft_thread_is_alive(ctx.t));
            /* Still joinable: its join reaps it and reports its result. */
            weft_event_set(&thread_gate);
            CHECK_EQ(weft_thread_join(ctx.t, WEFT_FOREVER, &ctx.result), 0);
            CHECK(ctx.result == item_of(6));
            CHECK_EQ(weft_thread_release(ctx.t), 0);
        }
    }
}

/* A thread that has finished is joined under a fired token: no wait, no ECANCELED. */
static void thread_join_of_a_finished_thread_ignores_the_token(void)
{
    weft_event_set(&thread_gate);
    weft_thread t;
    CHECK_EQ(weft_thread_start(&t, gated_thread, item_of(8), NULL), 0);
    EVENTUALLY(!weft_thread_is_alive(t));
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_fire(&c), 0);
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c);
    CHECK_EQ(weft_thread_join_all_until(d), 0);
    void *result = NULL;
    CHECK_EQ(weft_thread_join_until(t, d, &result), 0);
    CHECK(result == item_of(8));
    CHECK_EQ(weft_thread_release(t), 0);
}

/* ---- pools -------------------------------------------------------------------------- */

static weft_event pool_gate = WEFT_EVENT_INIT;
static _Atomic int runs[8];

/* Task i: counts its run; task 0 first waits for the gate (it holds the worker). */
static int counted_task(void *arg, void **result)
{
    uintptr_t i = (uintptr_t)arg;
    if (i == 0)
        CHECK_EQ(weft_event_wait(&pool_gate, WEFT_FOREVER), 0);
    atomic_fetch_add(&runs[i], 1);
    *result = item_of(i);
    return 0;
}

struct pool_ctx {
    weft_pool *p;
    weft_future *fut;
    void *results[2];
    weft_future *running; /* task 0, holding the only worker */
};

static struct pool_ctx *pctx(struct victim *v)
{
    return v->ctx;
}

static int call_submit(struct victim *v)
{
    pctx(v)->fut = UNTOUCHED;
    return weft_pool_submit_until(pctx(v)->p, counted_task, (void *)(uintptr_t)2, &pctx(v)->fut,
                                  v->d);
}

static int call_post(struct victim *v)
{
    return weft_pool_post_until(pctx(v)->p, counted_task, (void *)(uintptr_t)3, v->d);
}

static int call_map(struct victim *v)
{
    void *const args[2] = {(void *)(uintptr_t)4, (void *)(uintptr_t)5};
    return weft_pool_map_until(pctx(v)->p, counted_task, args, 2, pctx(v)->results, v->d);
}

static int call_running_result(struct victim *v)
{
    void *result = UNTOUCHED;
    int r = weft_future_result_until(pctx(v)->running, v->d, &result);
    CHECK(result == UNTOUCHED || r == 0);
    return r;
}

static bool running_sleeper(struct victim *v)
{
    return state_of(pctx(v)->running) & WF_FUTURE_SLEEPERS;
}

/* One worker held by task 0, and max_pending 1 taken by task 1: full. */
static void pool_fill(struct pool_ctx *c, weft_future **queued)
{
    for (size_t i = 0; i < N_OF(runs); i++)
        atomic_store(&runs[i], 0);
    weft_event_clear(&pool_gate);
    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = 1;
    opts.max_pending = 1;
    CHECK_EQ(weft_pool_create(&c->p, &opts), 0);
    CHECK_EQ(weft_pool_submit(c->p, counted_task, (void *)(uintptr_t)0, &c->running), 0);
    EVENTUALLY(weft_future_running(c->running));
    CHECK_EQ(weft_pool_submit_for(c->p, counted_task, (void *)(uintptr_t)1, queued, 0), 0);
}

/* Opens the gate, checks the pool runs tasks 0 and 1 and a new one, and destroys it
 * (not EBUSY: nobody waits for room). */
static void pool_drain(struct pool_ctx *c, weft_future *queued)
{
    weft_future *f;
    void *result = NULL;
    /* Still full: the cancelled call took no room and gave none back. */
    CHECK_EQ(weft_pool_submit_for(c->p, counted_task, (void *)(uintptr_t)7, &f, 0), EAGAIN);
    weft_event_set(&pool_gate);
    CHECK_EQ(weft_future_result(c->running, WEFT_FOREVER, &result), 0);
    CHECK(result == item_of(0));
    CHECK_EQ(weft_future_result(queued, WEFT_FOREVER, &result), 0);
    CHECK(result == item_of(1));
    CHECK_EQ(weft_pool_submit(c->p, counted_task, (void *)(uintptr_t)6, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &result), 0);
    CHECK(result == item_of(6));
    CHECK_EQ(weft_future_release(f), 0);
    CHECK_EQ(weft_future_release(queued), 0);
    CHECK_EQ(weft_future_release(c->running), 0);
    CHECK_EQ(weft_pool_destroy(c->p), 0);
    /* Every task queued has run by now: those of the cancelled calls never were. */
    CHECK_EQ(atomic_load(&runs[0]), 1);
    CHECK_EQ(atomic_load(&runs[1]), 1);
    CHECK_EQ(atomic_load(&runs[6]), 1);
    for (int i = 2; i <= 5; i++)
        CHECK_EQ(atomic_load(&runs[i]), 0);
}

/* submit, post and map waiting for room under max_pending: cancelled, nothing queued. */
static void pool_submit_is_cancelled(void)
{
    int (*const calls[])(struct victim *) = {call_submit, call_post, call_map};
    for (size_t c = 0; c < N_OF(calls); c++) {
        for (size_t m = 0; m < N_OF(all_modes); m++) {
            struct pool_ctx ctx = {.results = {UNTOUCHED, UNTOUCHED}};
            weft_future *queued;
            pool_fill(&ctx, &queued);
            struct victim v = {.call = calls[c], .ctx = &ctx};
            CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
            if (calls[c] == call_submit)
                CHECK(ctx.fut == UNTOUCHED); /* a failed submit leaves *fut unchanged */
            CHECK(ctx.results[0] == UNTOUCHED && ctx.results[1] == UNTOUCHED);
            pool_drain(&ctx, queued);
        }
    }
}

/* A pool task's future, waited on from outside the pool: cancelled, still running. */
static void pool_result_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        struct pool_ctx ctx = {0};
        weft_future *queued;
        pool_fill(&ctx, &queued);
        struct victim v = {.call = call_running_result, .asleep = running_sleeper, .ctx = &ctx};
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        CHECK(weft_future_running(ctx.running));
        pool_drain(&ctx, queued);
    }
}

/* With room, a submit under a fired token goes ahead; without, it is ECANCELED, not
 * the EAGAIN of a passed deadline, which stays as it was. */
static void pool_submit_under_a_fired_token(void)
{
    struct pool_ctx ctx = {0};
    weft_future *queued;
    pool_fill(&ctx, &queued);
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_fire(&c), 0);
    weft_deadline fired = weft_deadline_with_cancel(weft_deadline_in(0), &c);
    weft_future *f = UNTOUCHED;
    CHECK_EQ(weft_pool_submit_until(ctx.p, counted_task, (void *)(uintptr_t)2, &f, fired),
             ECANCELED);
    CHECK(f == UNTOUCHED); /* a failed submit leaves *fut unchanged */
    CHECK_EQ(weft_pool_post_until(ctx.p, counted_task, (void *)(uintptr_t)3, fired), ECANCELED);
    CHECK_EQ(weft_pool_submit_until(ctx.p, counted_task, (void *)(uintptr_t)2, &f,
                                    weft_deadline_in(0)),
             EAGAIN);
    pool_drain(&ctx, queued);

    /* Room: the submit and the post go ahead. */
    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = 1;
    opts.max_pending = 4;
    CHECK_EQ(weft_pool_create(&ctx.p, &opts), 0);
    CHECK_EQ(weft_pool_submit_until(ctx.p, counted_task, (void *)(uintptr_t)6, &f, fired), 0);
    CHECK_EQ(weft_pool_post_until(ctx.p, counted_task, (void *)(uintptr_t)7, fired), 0);
    void *result = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &result), 0);
    CHECK(result == item_of(6));
    CHECK_EQ(weft_future_release(f), 0);
    CHECK_EQ(weft_pool_destroy(ctx.p), 0);
    CHECK_EQ(atomic_load(&runs[7]), 1);
}

/* A map that waits for its results (no backpressure): cancelled, the tasks not yet
 * started are cancelled as on a timeout, the one running finishes. */
static void pool_map_waiting_for_results_is_cancelled(void)
{
    for (size_t m = 0; m < N_OF(all_modes); m++) {
        for (size_t i = 0; i < N_OF(runs); i++)
            atomic_store(&runs[i], 0);
        weft_event_clear(&pool_gate);
        struct pool_ctx ctx = {.results = {UNTOUCHED, UNTOUCHED}};
        weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
        opts.max_workers = 1;
        CHECK_EQ(weft_pool_create(&ctx.p, &opts), 0);
        struct victim v = {.call = call_map, .ctx = &ctx};
        /* Task 0 holds the only worker on the gate: the map's tasks 4 and 5 stay
         * queued behind it, and the map waits for task 4's result. */
        CHECK_EQ(weft_pool_submit(ctx.p, counted_task, (void *)(uintptr_t)0, &ctx.running), 0);
        EVENTUALLY(weft_future_running(ctx.running));
        CHECK_EQ(run_cancelled(&v, all_modes[m]), ECANCELED);
        CHECK(ctx.results[0] == UNTOUCHED && ctx.results[1] == UNTOUCHED);
        weft_event_set(&pool_gate);
        CHECK_EQ(weft_future_result(ctx.running, WEFT_FOREVER, NULL), 0);
        CHECK_EQ(weft_future_release(ctx.running), 0);
        CHECK_EQ(weft_pool_destroy(ctx.p), 0);
        CHECK_EQ(atomic_load(&runs[0]), 1);
        CHECK_EQ(atomic_load(&runs[4]), 0);
        CHECK_EQ(atomic_load(&runs[5]), 0);
    }
}

TEST_MAIN(TEST(queue_get_is_cancelled), TEST(queue_put_is_cancelled),
          TEST(queue_join_is_cancelled), TEST(queue_moves_what_it_can_under_a_fired_token),
          TEST(simplequeue_get_is_cancelled), TEST(future_result_is_cancelled),
          TEST(futures_wait_is_cancelled), TEST(as_completed_is_cancelled),
          TEST(thread_join_is_cancelled), TEST(thread_join_of_a_finished_thread_ignores_the_token),
          TEST(pool_submit_is_cancelled), TEST(pool_result_is_cancelled),
          TEST(pool_submit_under_a_fired_token), TEST(pool_map_waiting_for_results_is_cancelled))
