/* The queue family, verb by verb and error by error, on every kind: the bounded FIFO
 * ring, the linked FIFO (unbounded, and bounded past WEFT_QUEUE_RING_MAX), LIFO,
 * PRIORITY and SimpleQueue. Timeouts are checked never to come early; the blocked
 * consumer's CPU time is checked to stay under a millisecond for a second's wait. */
#include "check.h"
#include "queue_internal.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITEM(i) ((void *)(uintptr_t)(i))
#define VALUE(p) ((uintptr_t)(p))

/* Every kind, with the maxsize each test starts from. */
typedef struct {
    const char *name;
    int kind;
    size_t maxsize;
} queue_kind;

static const queue_kind bounded_kinds[] = {
    {"ring", WEFT_FIFO, 4},
    {"linked-bounded", WEFT_FIFO, WEFT_QUEUE_RING_MAX + 1},
    {"lifo", WEFT_LIFO, 4},
    {"priority", WEFT_PRIORITY, 4},
};

static const queue_kind all_kinds[] = {
    {"ring", WEFT_FIFO, 4},       {"ring1", WEFT_FIFO, 1},
    {"linked", WEFT_FIFO, 0},     {"linked-bounded", WEFT_FIFO, WEFT_QUEUE_RING_MAX + 1},
    {"lifo", WEFT_LIFO, 4},       {"lifo-unbounded", WEFT_LIFO, 0},
    {"priority", WEFT_PRIORITY, 4}, {"priority-unbounded", WEFT_PRIORITY, 0},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static weft_queue *make(const queue_kind *k)
{
    weft_queue *q = NULL;
    CHECK_EQ(weft_queue_create(&q, k->maxsize, k->kind), 0);
    CHECK(q != NULL);
    return q;
}

/* Fills q to its maxsize (values 1..maxsize). */
static void fill(weft_queue *q, size_t maxsize)
{
    for (size_t i = 0; i < maxsize; i++)
        CHECK_EQ(weft_queue_put(q, ITEM(i + 1), 0), 0);
}

/* ---- create / destroy / bad arguments -------------------------------------------- */

static void create_and_bad_arguments(void)
{
    /* A failed create leaves *q as it was (not NULL: unchanged). */
    weft_queue *const unchanged = (weft_queue *)(uintptr_t)0x5eed;
    weft_queue *q = unchanged;
    CHECK_EQ(weft_queue_create(NULL, 4, WEFT_FIFO), EINVAL);
    CHECK_EQ(weft_queue_create(&q, 4, 3), EINVAL);
    CHECK_EQ(weft_queue_create(&q, 4, -1), EINVAL);
    CHECK(q == unchanged);
    CHECK_EQ(weft_queue_destroy(NULL), EINVAL);

    void *item = NULL;
    void *items[2] = {ITEM(1), ITEM(2)};
    CHECK_EQ(weft_queue_put(NULL, ITEM(1), 0), EINVAL);
    CHECK_EQ(weft_queue_put_until(NULL, ITEM(1), WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_queue_get(NULL, &item, 0), EINVAL);
    CHECK_EQ(weft_queue_get_until(NULL, &item, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_queue_put_prio(NULL, 0, ITEM(1), 0), EINVAL);
    CHECK_EQ(weft_queue_put_many(NULL, items, 2, 0), -EINVAL);
    CHECK_EQ(weft_queue_get_many(NULL, items, 2, 0), -EINVAL);
    /* A NULL queue is refused whatever n is, n = 0 included. */
    CHECK_EQ(weft_queue_put_many(NULL, NULL, 0, 0), -EINVAL);
    CHECK_EQ(weft_queue_get_many(NULL, NULL, 0, 0), -EINVAL);
    CHECK_EQ(weft_queue_put_many_until(NULL, NULL, 0, WEFT_DEADLINE_NEVER), -EINVAL);
    CHECK_EQ(weft_queue_get_many_until(NULL, NULL, 0, WEFT_DEADLINE_NEVER), -EINVAL);
    CHECK_EQ(weft_queue_task_done(NULL), EINVAL);
    CHECK_EQ(weft_queue_join(NULL, 0), EINVAL);
    CHECK_EQ(weft_queue_shutdown(NULL, false), EINVAL);
    CHECK_EQ(weft_queue_qsize(NULL), 0);
    CHECK_EQ(weft_queue_maxsize(NULL), 0);
    CHECK(weft_queue_empty(NULL));
    CHECK(!weft_queue_full(NULL));

    for (size_t i = 0; i < N_OF(all_kinds); i++) {
        q = make(&all_kinds[i]);
        CHECK_EQ(weft_queue_maxsize(q), all_kinds[i].maxsize);
        CHECK(weft_queue_empty(q));
        CHECK(!weft_queue_full(q));
        CHECK_EQ(weft_queue_get(q, NULL, 0), EINVAL);
        CHECK_EQ(weft_queue_get_until(q, NULL, WEFT_DEADLINE_NEVER), EINVAL);
        CHECK_EQ(weft_queue_put_many(q, NULL, 1, 0), -EINVAL);
        CHECK_EQ(weft_queue_get_many(q, NULL, 1, 0), -EINVAL);
        CHECK_EQ(weft_queue_put_many(q, items, 0, 0), 0); /* n == 0 moves nothing */
        CHECK_EQ(weft_queue_get_many(q, items, 0, 0), 0);
        CHECK_EQ(weft_queue_put_many(q, NULL, 0, WEFT_FOREVER), 0); /* nor reads items */
        CHECK_EQ(weft_queue_get_many(q, NULL, 0, WEFT_FOREVER), 0);
        if (all_kinds[i].kind != WEFT_PRIORITY)
            CHECK_EQ(weft_queue_put_prio(q, 1, ITEM(1), 0), EINVAL);
        CHECK(weft_queue_empty(q)); /* the refusals changed nothing */
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- order -------------------------------------------------------------------------- */

static void fifo_order_and_wraparound(void)
{
    const queue_kind fifo[] = {{"ring", WEFT_FIFO, 3}, {"ring1", WEFT_FIFO, 1},
                               {"linked", WEFT_FIFO, 0}};
    for (size_t k = 0; k < N_OF(fifo); k++) {
        weft_queue *q = make(&fifo[k]);
        uintptr_t next_put = 1, next_get = 1;
        /* Many laps of the ring, at every fill level it allows. */
        for (int round = 0; round < 200; round++) {
            size_t burst = 1 + (size_t)round % (fifo[k].maxsize ? fifo[k].maxsize : 5);
            for (size_t i = 0; i < burst; i++)
                CHECK_EQ(weft_queue_put(q, ITEM(next_put++), 0), 0);
            CHECK_EQ(weft_queue_qsize(q), burst);
            for (size_t i = 0; i < burst; i++) {
                void *item;
                CHECK_EQ(weft_queue_get(q, &item, 0), 0);
                CHECK_EQ(VALUE(item), next_get++);
            }
            CHECK(weft_queue_empty(q));
        }
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void null_items_are_items(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        CHECK_EQ(weft_queue_put(q, NULL, 0), 0);
        CHECK_EQ(weft_queue_qsize(q), 1);
        void *item = ITEM(99);
        CHECK_EQ(weft_queue_get(q, &item, 0), 0);
        CHECK(item == NULL);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void lifo_order(void)
{
    const size_t sizes[] = {8, 0};
    for (size_t s = 0; s < 2; s++) {
        weft_queue *q;
        CHECK_EQ(weft_queue_create(&q, sizes[s], WEFT_LIFO), 0);
        for (uintptr_t i = 1; i <= 8; i++)
            CHECK_EQ(weft_queue_put(q, ITEM(i), 0), 0);
        for (uintptr_t i = 8; i >= 1; i--) {
            void *item;
            CHECK_EQ(weft_queue_get(q, &item, 0), 0);
            CHECK_EQ(VALUE(item), i);
        }
        /* Unbounded: grows past its first allocation, and shrinks back. */
        if (sizes[s] == 0) {
            for (uintptr_t i = 1; i <= 1000; i++)
                CHECK_EQ(weft_queue_put(q, ITEM(i), 0), 0);
            for (uintptr_t i = 1000; i >= 1; i--) {
                void *item;
                CHECK_EQ(weft_queue_get(q, &item, 0), 0);
                CHECK_EQ(VALUE(item), i);
            }
        }
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void priority_order_stable(void)
{
    const size_t sizes[] = {64, 0};
    for (size_t s = 0; s < 2; s++) {
        weft_queue *q;
        CHECK_EQ(weft_queue_create(&q, sizes[s], WEFT_PRIORITY), 0);
        /* Priorities 5, 4, ..., -2 repeated, each tagged with its arrival. */
        uintptr_t arrival = 0;
        for (int rep = 0; rep < 4; rep++)
            for (int64_t p = 5; p >= -2; p--) {
                uintptr_t tag = (uintptr_t)(p + 10) << 16 | arrival++;
                CHECK_EQ(weft_queue_put_prio(q, p, ITEM(tag), 0), 0);
            }
        CHECK_EQ(weft_queue_put(q, ITEM((uintptr_t)10 << 16 | 999), 0), 0); /* prio 0 */
        uintptr_t last = 0;
        for (int i = 0; i < 33; i++) {
            void *item;
            CHECK_EQ(weft_queue_get(q, &item, 0), 0);
            /* Lowest priority first; equal priorities by arrival: the tag ascends. */
            CHECK(VALUE(item) > last);
            last = VALUE(item);
        }
        CHECK(weft_queue_empty(q));
        /* A big heap, in and out (up to the bound). */
        uintptr_t n = sizes[s] ? sizes[s] : 500;
        for (uintptr_t i = 0; i < n; i++)
            CHECK_EQ(weft_queue_put_prio(q, (int64_t)((i * 7919) % 101), ITEM(i), WEFT_FOREVER),
                     0);
        CHECK(sizes[s] == 0 || weft_queue_full(q));
        int64_t lastp = -1;
        for (uintptr_t i = 0; i < n; i++) {
            void *item;
            CHECK_EQ(weft_queue_get(q, &item, 0), 0);
            int64_t p = (int64_t)((VALUE(item) * 7919) % 101);
            CHECK(p >= lastp);
            lastp = p;
        }
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- full / empty / nowait / timeouts ------------------------------------------------ */

static void full_after_maxsize_puts(void)
{
    for (size_t k = 0; k < N_OF(bounded_kinds); k++) {
        weft_queue *q = make(&bounded_kinds[k]);
        size_t max = bounded_kinds[k].maxsize;
        for (size_t i = 0; i < max; i++) {
            CHECK(!weft_queue_full(q));
            CHECK_EQ(weft_queue_put(q, ITEM(i + 1), 0), 0);
            CHECK_EQ(weft_queue_qsize(q), i + 1);
        }
        CHECK(weft_queue_full(q));
        CHECK(!weft_queue_empty(q));
        CHECK_EQ(weft_queue_put(q, ITEM(0), 0), EAGAIN); /* put_nowait */
        void *more[3] = {ITEM(0), ITEM(0), ITEM(0)};
        CHECK_EQ(weft_queue_put_many(q, more, 3, 0), -EAGAIN);
        CHECK_EQ(weft_queue_qsize(q), max); /* the refusals changed nothing */
        void *item;
        CHECK_EQ(weft_queue_get(q, &item, 0), 0);
        CHECK(!weft_queue_full(q));
        CHECK_EQ(weft_queue_put(q, ITEM(0), 0), 0);
        CHECK(weft_queue_full(q));
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void get_nowait_on_empty(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        void *item = ITEM(7);
        CHECK_EQ(weft_queue_get(q, &item, 0), EAGAIN);
        CHECK_EQ(VALUE(item), 7); /* untouched */
        void *items[4];
        CHECK_EQ(weft_queue_get_many(q, items, 4, 0), -EAGAIN);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void timeouts_never_early(void)
{
    const int64_t t = WEFT_MS(10);
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        void *item, *items[2];
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_queue_get(q, &item, t), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= t);
        t0 = weft_now_ns();
        CHECK_EQ(weft_queue_get_many(q, items, 2, t), -ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= t);
        weft_deadline d = weft_deadline_in(t);
        CHECK_EQ(weft_queue_get_until(q, &item, d), ETIMEDOUT);
        CHECK(weft_deadline_passed(d));
        d = weft_deadline_in(t);
        CHECK_EQ(weft_queue_get_many_until(q, items, 2, d), -ETIMEDOUT);
        CHECK(weft_deadline_passed(d));
        if (all_kinds[k].maxsize && all_kinds[k].maxsize <= WEFT_QUEUE_RING_MAX) {
            fill(q, all_kinds[k].maxsize);
            t0 = weft_now_ns();
            CHECK_EQ(weft_queue_put(q, ITEM(0), t), ETIMEDOUT);
            CHECK(weft_now_ns() - t0 >= t);
            t0 = weft_now_ns();
            CHECK_EQ(weft_queue_put_many(q, items, 2, t), -ETIMEDOUT);
            CHECK(weft_now_ns() - t0 >= t);
            d = weft_deadline_in(t);
            CHECK_EQ(weft_queue_put_until(q, ITEM(0), d), ETIMEDOUT);
            CHECK(weft_deadline_passed(d));
            d = weft_deadline_in(t);
            CHECK_EQ(weft_queue_put_many_until(q, items, 2, d), -ETIMEDOUT);
            CHECK(weft_deadline_passed(d));
            if (all_kinds[k].kind == WEFT_PRIORITY) {
                t0 = weft_now_ns();
                CHECK_EQ(weft_queue_put_prio(q, 3, ITEM(0), t), ETIMEDOUT);
                CHECK(weft_now_ns() - t0 >= t);
                d = weft_deadline_in(t);
                CHECK_EQ(weft_queue_put_prio_until(q, 3, ITEM(0), d), ETIMEDOUT);
                CHECK(weft_deadline_passed(d));
            }
            CHECK_EQ(weft_queue_qsize(q), all_kinds[k].maxsize);
        }
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- blocking: a sleeper is woken ------------------------------------------------ */

typedef struct {
    weft_queue *q;
    int64_t delay_us;
    _Atomic int done;
    void *item;
    int result;
} helper_arg;

static void *put_later(void *arg)
{
    helper_arg *a = arg;
    usleep((useconds_t)a->delay_us);
    a->result = weft_queue_put(a->q, a->item, WEFT_FOREVER);
    atomic_store(&a->done, 1);
    return NULL;
}

static void *get_later(void *arg)
{
    helper_arg *a = arg;
    usleep((useconds_t)a->delay_us);
    a->result = weft_queue_get(a->q, &a->item, WEFT_FOREVER);
    atomic_store(&a->done, 1);
    return NULL;
}

static void sleepers_are_woken(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        /* A getter sleeping on an empty queue gets the item put later. */
        helper_arg a = {.q = q, .delay_us = 20000, .item = ITEM(42)};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, put_later, &a), 0);
        void *item = NULL;
        CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), 0);
        CHECK_EQ(VALUE(item), 42);
        pthread_join(th, NULL);
        CHECK_EQ(a.result, 0);

        /* A putter sleeping on a full queue gets in once a get makes room. */
        size_t max = all_kinds[k].maxsize;
        if (max && max <= WEFT_QUEUE_RING_MAX) {
            fill(q, max);
            helper_arg b = {.q = q, .delay_us = 20000};
            CHECK_EQ(pthread_create(&th, NULL, get_later, &b), 0);
            CHECK_EQ(weft_queue_put(q, ITEM(1000), WEFT_FOREVER), 0);
            pthread_join(th, NULL);
            CHECK_EQ(b.result, 0);
            CHECK_EQ(weft_queue_qsize(q), max);
        }
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* get_many waits for the first item only, then takes what is there. */
static void batches(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        size_t max = all_kinds[k].maxsize;
        size_t room = max && max < 3 ? max : 3;
        void *in[5] = {ITEM(1), ITEM(2), ITEM(3), ITEM(4), ITEM(5)}, *out[5];
        /* put_many moves as many as there is room for, in order. */
        CHECK_EQ(weft_queue_put_many(q, in, 3, 0), (ssize_t)room);
        CHECK_EQ(weft_queue_qsize(q), room);
        CHECK_EQ(weft_queue_get_many(q, out, 5, 0), (ssize_t)room);
        CHECK(weft_queue_empty(q));
        if (all_kinds[k].kind == WEFT_FIFO)
            for (size_t i = 0; i < room; i++)
                CHECK_EQ(VALUE(out[i]), i + 1);
        if (all_kinds[k].kind == WEFT_LIFO)
            for (size_t i = 0; i < room; i++)
                CHECK_EQ(VALUE(out[i]), room - i);
        /* Batches interleaved with single calls keep FIFO order across laps. */
        if (all_kinds[k].kind == WEFT_FIFO) {
            uintptr_t next_put = 1, next_get = 1;
            for (int round = 0; round < 100; round++) {
                void *batch[4];
                size_t n = 1 + (size_t)round % 4;
                for (size_t i = 0; i < n; i++)
                    batch[i] = ITEM(next_put + i);
                ssize_t moved = weft_queue_put_many(q, batch, n, 0);
                CHECK(moved >= 1 && (size_t)moved <= n);
                next_put += (uintptr_t)moved;
                if (round % 3 == 0 && !weft_queue_full(q))
                    CHECK_EQ(weft_queue_put(q, ITEM(next_put++), 0), 0);
                while (!weft_queue_empty(q)) {
                    ssize_t got = weft_queue_get_many(q, batch, 1 + (size_t)round % 3, 0);
                    CHECK(got >= 1);
                    for (ssize_t i = 0; i < got; i++)
                        CHECK_EQ(VALUE(batch[i]), next_get++);
                }
            }
            CHECK_EQ(next_get, next_put);
        }
        /* A batch getter sleeps until the first item arrives. */
        helper_arg a = {.q = q, .delay_us = 20000, .item = ITEM(77)};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, put_later, &a), 0);
        CHECK_EQ(weft_queue_get_many(q, out, 5, WEFT_FOREVER), 1);
        CHECK_EQ(VALUE(out[0]), 77);
        pthread_join(th, NULL);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- task_done / join ------------------------------------------------------------- */

static void *finish_tasks_later(void *arg)
{
    helper_arg *a = arg;
    usleep((useconds_t)a->delay_us);
    void *item;
    while (weft_queue_get(a->q, &item, 0) == 0)
        CHECK_EQ(weft_queue_task_done(a->q), 0);
    return NULL;
}

static void task_done_and_join(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        CHECK_EQ(weft_queue_task_done(q), EINVAL); /* nothing was put */
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK_EQ(weft_queue_join(q, WEFT_FOREVER), 0);
        CHECK_EQ(weft_queue_put(q, ITEM(1), 0), 0);
        CHECK_EQ(weft_queue_join(q, 0), ETIMEDOUT);
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_queue_join(q, WEFT_MS(10)), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
        weft_deadline d = weft_deadline_in(WEFT_MS(10));
        CHECK_EQ(weft_queue_join_until(q, d), ETIMEDOUT);
        CHECK(weft_deadline_passed(d));
        /* task_done counts against puts, not gets (as in Python). */
        CHECK_EQ(weft_queue_task_done(q), 0);
        CHECK_EQ(weft_queue_task_done(q), EINVAL);
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK_EQ(weft_queue_qsize(q), 1); /* the item is still there */
        void *item;
        CHECK_EQ(weft_queue_get(q, &item, 0), 0);
        CHECK_EQ(weft_queue_task_done(q), EINVAL); /* ...and the refusal changed nothing */
        CHECK_EQ(weft_queue_join(q, 0), 0);

        /* A joiner sleeps until another thread finishes the tasks. */
        size_t n = all_kinds[k].maxsize && all_kinds[k].maxsize < 3 ? all_kinds[k].maxsize : 3;
        fill(q, n);
        helper_arg a = {.q = q, .delay_us = 20000};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, finish_tasks_later, &a), 0);
        CHECK_EQ(weft_queue_join(q, WEFT_FOREVER), 0);
        pthread_join(th, NULL);
        CHECK(weft_queue_empty(q));
        CHECK_EQ(weft_queue_task_done(q), EINVAL);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* White box: start a ring just before its lap counter wraps (2^31 laps), and check
 * FIFO order, qsize, batches and task accounting across the wrap. */
static void ring_lap_wraparound(void)
{
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, 3, WEFT_FIFO), 0);
    CHECK(q->cells != NULL);
    uint64_t start = WEFT__QUEUE_LAP_MASK << WEFT__QUEUE_LAP_SHIFT; /* last lap, index 0 */
    for (uint32_t i = 0; i < 3; i++)
        atomic_store(&q->cells[i].seq, WEFT__QUEUE_LAP2(start));
    atomic_store(&q->tail, start);
    atomic_store(&q->head, start);
    atomic_store(&q->done, wf_ring_linear(q, start));
    CHECK(weft_queue_empty(q));
    CHECK_EQ(weft_queue_join(q, 0), 0);
    uintptr_t next_put = 1, next_get = 1;
    for (int round = 0; round < 20; round++) {
        void *batch[3] = {ITEM(next_put), ITEM(next_put + 1), ITEM(next_put + 2)};
        CHECK_EQ(weft_queue_put(q, ITEM(next_put), 0), 0);
        CHECK_EQ(weft_queue_put_many(q, batch + 1, 2, 0), 2);
        next_put += 3;
        CHECK(weft_queue_full(q));
        CHECK_EQ(weft_queue_join(q, 0), ETIMEDOUT);
        void *out[3];
        CHECK_EQ(weft_queue_get(q, &out[0], 0), 0);
        CHECK_EQ(weft_queue_get_many(q, out + 1, 2, 0), 2);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(VALUE(out[i]), next_get++);
            CHECK_EQ(weft_queue_task_done(q), 0);
        }
        CHECK_EQ(weft_queue_task_done(q), EINVAL);
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK(weft_queue_empty(q));
    }
    /* It did wrap: the lap is small again. */
    CHECK(((atomic_load(&q->tail) >> WEFT__QUEUE_LAP_SHIFT) & WEFT__QUEUE_LAP_MASK) < 100);
    CHECK_EQ(weft_queue_destroy(q), 0);
}

/* ---- shutdown ----------------------------------------------------------------------- */

static void shutdown_drains_then_fails(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        size_t n = all_kinds[k].maxsize && all_kinds[k].maxsize < 3 ? all_kinds[k].maxsize : 3;
        fill(q, n);
        CHECK_EQ(weft_queue_shutdown(q, false), 0);
        void *items[2] = {ITEM(1), ITEM(2)};
        CHECK_EQ(weft_queue_put(q, ITEM(9), 0), ESHUTDOWN);
        CHECK_EQ(weft_queue_put(q, ITEM(9), WEFT_FOREVER), ESHUTDOWN);
        CHECK_EQ(weft_queue_put_many(q, items, 2, WEFT_FOREVER), -ESHUTDOWN);
        if (all_kinds[k].kind == WEFT_PRIORITY)
            CHECK_EQ(weft_queue_put_prio(q, 1, ITEM(9), WEFT_FOREVER), ESHUTDOWN);
        CHECK_EQ(weft_queue_qsize(q), n);
        for (size_t i = 0; i < n; i++) {
            void *item;
            CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), 0);
            CHECK_EQ(weft_queue_task_done(q), 0);
        }
        void *item;
        CHECK_EQ(weft_queue_get(q, &item, 0), ESHUTDOWN);
        CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), ESHUTDOWN);
        CHECK_EQ(weft_queue_get_many(q, items, 2, WEFT_FOREVER), -ESHUTDOWN);
        CHECK_EQ(weft_queue_shutdown(q, false), 0); /* again: no change */
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void shutdown_immediate_discards(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        size_t n = all_kinds[k].maxsize && all_kinds[k].maxsize < 3 ? all_kinds[k].maxsize : 3;
        fill(q, n);
        void *item;
        CHECK_EQ(weft_queue_get(q, &item, 0), 0); /* one out, not yet done */
        CHECK_EQ(weft_queue_join(q, 0), ETIMEDOUT);
        CHECK_EQ(weft_queue_shutdown(q, true), 0);
        CHECK(weft_queue_empty(q));
        CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), ESHUTDOWN);
        CHECK_EQ(weft_queue_put(q, ITEM(1), WEFT_FOREVER), ESHUTDOWN);
        /* The discarded items count as done; the one taken still needs task_done. */
        CHECK_EQ(weft_queue_join(q, 0), ETIMEDOUT);
        CHECK_EQ(weft_queue_task_done(q), 0);
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK_EQ(weft_queue_task_done(q), EINVAL);
        CHECK_EQ(weft_queue_shutdown(q, true), 0);
        CHECK_EQ(weft_queue_destroy(q), 0);

        /* Non-immediate first, immediate later: the later call discards the rest. */
        q = make(&all_kinds[k]);
        fill(q, n);
        CHECK_EQ(weft_queue_shutdown(q, false), 0);
        CHECK_EQ(weft_queue_shutdown(q, true), 0);
        CHECK(weft_queue_empty(q));
        CHECK_EQ(weft_queue_get(q, &item, 0), ESHUTDOWN);
        CHECK_EQ(weft_queue_join(q, 0), 0);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

static void *blocked_getter(void *arg)
{
    helper_arg *a = arg;
    a->result = weft_queue_get(a->q, &a->item, WEFT_FOREVER);
    atomic_store(&a->done, 1);
    return NULL;
}

static void *blocked_putter(void *arg)
{
    helper_arg *a = arg;
    a->result = weft_queue_put(a->q, a->item, WEFT_FOREVER);
    atomic_store(&a->done, 1);
    return NULL;
}

static void *blocked_joiner(void *arg)
{
    helper_arg *a = arg;
    a->result = weft_queue_join(a->q, WEFT_FOREVER);
    atomic_store(&a->done, 1);
    return NULL;
}

/* Waits until `n` threads sleep on e (white box: its waiters count). */
static void await_sleepers(weft__waitlist *e, uint32_t n)
{
    while (atomic_load(&e->waiters) < n)
        usleep(1000);
    usleep(5000); /* and let them reach the sleep itself */
}

static void shutdown_wakes_sleepers(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        for (int immediate = 0; immediate < 2; immediate++) {
            weft_queue *q = make(&all_kinds[k]);
            pthread_t th[3];
            helper_arg getter = {.q = q};
            CHECK_EQ(pthread_create(&th[0], NULL, blocked_getter, &getter), 0);
            await_sleepers(&q->not_empty, 1);
            CHECK_EQ(weft_queue_shutdown(q, immediate), 0);
            pthread_join(th[0], NULL);
            CHECK_EQ(getter.result, ESHUTDOWN);
            CHECK_EQ(weft_queue_destroy(q), 0);

            size_t max = all_kinds[k].maxsize;
            if (!max || max > WEFT_QUEUE_RING_MAX)
                continue;
            q = make(&all_kinds[k]);
            fill(q, max);
            helper_arg putter = {.q = q, .item = ITEM(5)}, joiner = {.q = q};
            CHECK_EQ(pthread_create(&th[1], NULL, blocked_putter, &putter), 0);
            CHECK_EQ(pthread_create(&th[2], NULL, blocked_joiner, &joiner), 0);
            await_sleepers(&q->not_full, 1);
            await_sleepers(&q->all_done, 1);
            CHECK_EQ(weft_queue_shutdown(q, immediate), 0);
            pthread_join(th[1], NULL);
            CHECK_EQ(putter.result, ESHUTDOWN);
            if (immediate) { /* everything discarded: the joiner returns */
                pthread_join(th[2], NULL);
                CHECK_EQ(joiner.result, 0);
            } else { /* woken, the joiner waits on for the tasks */
                usleep(20000);
                CHECK_EQ(atomic_load(&joiner.done), 0);
                void *item;
                while (weft_queue_get(q, &item, 0) == 0)
                    CHECK_EQ(weft_queue_task_done(q), 0);
                pthread_join(th[2], NULL);
                CHECK_EQ(joiner.result, 0);
            }
            CHECK_EQ(weft_queue_destroy(q), 0);
        }
    }
}

static void destroy_with_a_sleeper_is_ebusy(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        helper_arg getter = {.q = q};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, blocked_getter, &getter), 0);
        await_sleepers(&q->not_empty, 1);
        CHECK_EQ(weft_queue_destroy(q), EBUSY);
        CHECK_EQ(weft_queue_put(q, ITEM(3), 0), 0); /* still intact */
        pthread_join(th, NULL);
        CHECK_EQ(getter.result, 0);
        CHECK_EQ(VALUE(getter.item), 3);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- destroy while a thread waits ------------------------------------------------ */

/* Waits (spinning: a waiter spins only some microseconds before it sleeps) until n
 * threads wait in q's calls (white box: the count destroy checks). */
static void await_waiting(weft_queue *q, uint32_t n)
{
    int64_t end = weft_now_ns() + WEFT_SEC(10);
    while (atomic_load_explicit(&q->waiting, memory_order_relaxed) < n)
        CHECK(weft_now_ns() < end);
}

typedef struct {
    weft_queue *q;
    weft_simplequeue *sq;
    int op;
    void *items[4];
    ssize_t result;
} waiter_arg;

enum { OP_GET, OP_GET_MANY, OP_PUT, OP_PUT_MANY, OP_PUT_PRIO, OP_JOIN, OP_SIMPLE_GET };

static void *waiter(void *arg)
{
    waiter_arg *a = arg;
    switch (a->op) {
    case OP_GET: a->result = weft_queue_get(a->q, &a->items[0], WEFT_FOREVER); break;
    case OP_GET_MANY: a->result = weft_queue_get_many(a->q, a->items, 4, WEFT_FOREVER); break;
    case OP_PUT: a->result = weft_queue_put(a->q, ITEM(100), WEFT_FOREVER); break;
    case OP_PUT_MANY: a->result = weft_queue_put_many(a->q, a->items, 2, WEFT_FOREVER); break;
    case OP_PUT_PRIO: a->result = weft_queue_put_prio(a->q, 1, ITEM(100), WEFT_FOREVER); break;
    case OP_JOIN: a->result = weft_queue_join(a->q, WEFT_FOREVER); break;
    case OP_SIMPLE_GET:
        a->result = weft_simplequeue_get(a->sq, &a->items[0], WEFT_FOREVER);
        break;
    }
    return NULL;
}

/* One waiter in `op` on q: destroy at once once it waits (most often while it still
 * spins) must refuse and free nothing (under ASan a freed queue would show as a
 * use after free in the waiter); then `release` lets it finish, and destroy works. */
static void destroy_refused_while(weft_queue *q, int op, void (*release)(weft_queue *))
{
    waiter_arg a = {.q = q, .op = op, .items = {ITEM(1), ITEM(2)}};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waiter, &a), 0);
    await_waiting(q, 1);
    CHECK_EQ(weft_queue_destroy(q), EBUSY);
    usleep(20000); /* asleep by now, or (a peer half way) still spinning */
    CHECK_EQ(weft_queue_destroy(q), EBUSY);
    release(q);
    pthread_join(th, NULL);
    CHECK(a.result >= 0);
    CHECK_EQ(atomic_load(&q->waiting), 0);
    CHECK_EQ(weft_queue_destroy(q), 0);
}

static void release_by_put(weft_queue *q)
{
    CHECK_EQ(weft_queue_put(q, ITEM(3), WEFT_FOREVER), 0);
}

static void release_by_get(weft_queue *q)
{
    void *item;
    CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), 0);
}

static void release_by_task_done(weft_queue *q)
{
    CHECK_EQ(weft_queue_task_done(q), 0);
}

/* White box: the ring's put of position 0 has claimed its cell (tail moved) but not
 * published it yet, as if its thread were half way; a get then spins on that peer
 * (it never sleeps on a running put) for as long as it takes. */
static void fake_put_half_way(weft_queue *q)
{
    atomic_store(&q->tail, (uint64_t)1);
}

static void finish_fake_put(weft_queue *q)
{
    q->cells[0].item = ITEM(4);
    atomic_store_explicit(&q->cells[0].seq, 1, memory_order_release);
}

static void destroy_while_waiting_is_ebusy(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        const queue_kind *kind = &all_kinds[k];
        destroy_refused_while(make(kind), OP_GET, release_by_put);
        destroy_refused_while(make(kind), OP_GET_MANY, release_by_put);
        weft_queue *q = make(kind);
        CHECK_EQ(weft_queue_put(q, ITEM(1), 0), 0); /* one task unfinished */
        destroy_refused_while(q, OP_JOIN, release_by_task_done);
        if (kind->maxsize && kind->maxsize <= WEFT_QUEUE_RING_MAX) {
            int ops[] = {OP_PUT, OP_PUT_MANY, OP_PUT_PRIO};
            for (int i = 0; i < (kind->kind == WEFT_PRIORITY ? 3 : 2); i++) {
                q = make(kind);
                fill(q, kind->maxsize);
                destroy_refused_while(q, ops[i], release_by_get);
            }
        }
    }
    /* A get spinning on a put half way spins until it finishes, never sleeping. */
    weft_queue *q = make(&all_kinds[0]);
    fake_put_half_way(q);
    destroy_refused_while(q, OP_GET, finish_fake_put);

    /* A shutdown wakes the waiters; destroy, tried again, then succeeds. */
    q = make(&all_kinds[0]);
    waiter_arg a = {.q = q, .op = OP_GET};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waiter, &a), 0);
    await_waiting(q, 1);
    CHECK_EQ(weft_queue_destroy(q), EBUSY);
    CHECK_EQ(weft_queue_shutdown(q, false), 0);
    int r;
    while ((r = weft_queue_destroy(q)) == EBUSY)
        sched_yield();
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    CHECK_EQ(a.result, ESHUTDOWN);

    /* SimpleQueue alike. */
    weft_simplequeue *sq;
    CHECK_EQ(weft_simplequeue_create(&sq), 0);
    waiter_arg b = {.sq = sq, .op = OP_SIMPLE_GET};
    CHECK_EQ(pthread_create(&th, NULL, waiter, &b), 0);
    /* A weft_simplequeue is a weft_queue underneath (src/simplequeue.c). */
    await_waiting((weft_queue *)(void *)sq, 1);
    CHECK_EQ(weft_simplequeue_destroy(sq), EBUSY);
    usleep(20000);
    CHECK_EQ(weft_simplequeue_destroy(sq), EBUSY);
    CHECK_EQ(weft_simplequeue_put(sq, ITEM(8)), 0);
    pthread_join(th, NULL);
    CHECK_EQ(b.result, 0);
    CHECK_EQ(VALUE(b.items[0]), 8);
    CHECK_EQ(weft_simplequeue_destroy(sq), 0);
}

/* ---- a failed create ------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

/* In a child process whose address space is capped just above what it uses: take
 * every byte malloc can still give, then check that each create fails with ENOMEM
 * and leaves *q unchanged; then free a little, so that the queue itself fits but
 * not a large ring's cells (the failure inside the kind's init). */
static void failed_create_leaves_q_unchanged(void)
{
#ifdef SANITIZED
    printf("  skipped: a sanitizer's shadow memory cannot live under an address-space cap\n");
#else
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        CHECK(f && fscanf(f, "%ld", &pages) == 1);
        fclose(f);
        void *reserve = malloc(64 * 1024);
        CHECK(reserve != NULL);
        struct rlimit cap = {.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (4 << 20),
                             .rlim_max = RLIM_INFINITY};
        CHECK_EQ(setrlimit(RLIMIT_AS, &cap), 0);
        for (size_t size = (size_t)1 << 20; size >= 16; size /= 2)
            while (malloc(size) != NULL) {
            }
        for (size_t i = 0; i < N_OF(all_kinds); i++) {
            weft_queue *const unchanged = (weft_queue *)(uintptr_t)0x5eed, *q = unchanged;
            CHECK_EQ(weft_queue_create(&q, all_kinds[i].maxsize, all_kinds[i].kind), ENOMEM);
            CHECK(q == unchanged);
        }
        weft_simplequeue *const unchanged = (weft_simplequeue *)(uintptr_t)0x5eed;
        weft_simplequeue *sq = unchanged;
        CHECK_EQ(weft_simplequeue_create(&sq), ENOMEM);
        CHECK(sq == unchanged);
        free(reserve); /* room for the queue, not for a ring of 1 MiB */
        weft_queue *q = NULL;
        CHECK_EQ(weft_queue_create(&q, WEFT_QUEUE_RING_MAX, WEFT_FIFO), ENOMEM);
        CHECK(q == NULL);
        _exit(0);
    }
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

/* Destroying a queue that still holds items frees them (ASan's leak checker runs). */
static void destroy_drops_items(void)
{
    for (size_t k = 0; k < N_OF(all_kinds); k++) {
        weft_queue *q = make(&all_kinds[k]);
        fill(q, all_kinds[k].maxsize && all_kinds[k].maxsize < 200 ? all_kinds[k].maxsize : 200);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }
}

/* ---- a blocked consumer uses no CPU --------------------------------------------- */

typedef struct {
    weft_queue *q;
    weft_simplequeue *sq;
    int64_t cpu_ns;
    void *item;
} cpu_arg;

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *measured_consumer(void *arg)
{
    cpu_arg *a = arg;
    int64_t c0 = thread_cpu_ns();
    if (a->q)
        CHECK_EQ(weft_queue_get(a->q, &a->item, WEFT_FOREVER), 0);
    else
        CHECK_EQ(weft_simplequeue_get(a->sq, &a->item, WEFT_FOREVER), 0);
    a->cpu_ns = thread_cpu_ns() - c0;
    return NULL;
}

static void blocked_consumer_uses_no_cpu(void)
{
    /* The three FIFO implementations at once: one second for all. */
    weft_queue *ring, *linked;
    weft_simplequeue *simple;
    CHECK_EQ(weft_queue_create(&ring, 16, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&linked, 0, WEFT_FIFO), 0);
    CHECK_EQ(weft_simplequeue_create(&simple), 0);
    cpu_arg args[3] = {{.q = ring}, {.q = linked}, {.sq = simple}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, measured_consumer, &args[i]), 0);
    usleep(1000000);
    CHECK_EQ(weft_queue_put(ring, ITEM(1), 0), 0);
    CHECK_EQ(weft_queue_put(linked, ITEM(2), 0), 0);
    CHECK_EQ(weft_simplequeue_put(simple, ITEM(3)), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(VALUE(args[i].item), (uintptr_t)i + 1);
        printf("  consumer %d blocked 1 s using %.3f ms of CPU\n", i, args[i].cpu_ns / 1e6);
        CHECK(args[i].cpu_ns < WEFT_MS(1));
    }
    CHECK_EQ(weft_queue_destroy(ring), 0);
    CHECK_EQ(weft_queue_destroy(linked), 0);
    CHECK_EQ(weft_simplequeue_destroy(simple), 0);
}

/* ---- SimpleQueue ------------------------------------------------------------------ */

static void *simple_put_later(void *arg)
{
    weft_simplequeue *q = arg;
    usleep(20000);
    CHECK_EQ(weft_simplequeue_put(q, ITEM(11)), 0);
    return NULL;
}

static void simplequeue_verbs(void)
{
    weft_simplequeue *q = NULL;
    void *item = NULL;
    CHECK_EQ(weft_simplequeue_create(NULL), EINVAL);
    CHECK(q == NULL);
    CHECK_EQ(weft_simplequeue_destroy(NULL), EINVAL);
    CHECK_EQ(weft_simplequeue_put(NULL, ITEM(1)), EINVAL);
    CHECK_EQ(weft_simplequeue_get(NULL, &item, 0), EINVAL);
    CHECK_EQ(weft_simplequeue_get_until(NULL, &item, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_simplequeue_qsize(NULL), 0);
    CHECK(weft_simplequeue_empty(NULL));

    CHECK_EQ(weft_simplequeue_create(&q), 0);
    CHECK(weft_simplequeue_empty(q));
    CHECK_EQ(weft_simplequeue_get(q, NULL, 0), EINVAL);
    CHECK_EQ(weft_simplequeue_get(q, &item, 0), EAGAIN);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_simplequeue_get(q, &item, WEFT_MS(20)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(20));
    weft_deadline d = weft_deadline_in(WEFT_MS(10));
    CHECK_EQ(weft_simplequeue_get_until(q, &item, d), ETIMEDOUT);
    CHECK(weft_deadline_passed(d));
    for (uintptr_t i = 1; i <= 1000; i++)
        CHECK_EQ(weft_simplequeue_put(q, ITEM(i)), 0);
    CHECK_EQ(weft_simplequeue_qsize(q), 1000);
    CHECK(!weft_simplequeue_empty(q));
    for (uintptr_t i = 1; i <= 1000; i++) {
        CHECK_EQ(weft_simplequeue_get(q, &item, 0), 0);
        CHECK_EQ(VALUE(item), i);
    }
    CHECK(weft_simplequeue_empty(q));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, simple_put_later, q), 0);
    CHECK_EQ(weft_simplequeue_get_until(q, &item, WEFT_DEADLINE_NEVER), 0);
    CHECK_EQ(VALUE(item), 11);
    pthread_join(th, NULL);
    CHECK_EQ(weft_simplequeue_put(q, ITEM(5)), 0);
    CHECK_EQ(weft_simplequeue_destroy(q), 0); /* with an item left */
}

TEST_MAIN(TEST(create_and_bad_arguments), TEST(fifo_order_and_wraparound),
          TEST(null_items_are_items), TEST(lifo_order), TEST(priority_order_stable),
          TEST(full_after_maxsize_puts), TEST(get_nowait_on_empty), TEST(timeouts_never_early),
          TEST(sleepers_are_woken), TEST(batches), TEST(task_done_and_join),
          TEST(ring_lap_wraparound), TEST(shutdown_drains_then_fails),
          TEST(shutdown_immediate_discards), TEST(shutdown_wakes_sleepers),
          TEST(destroy_with_a_sleeper_is_ebusy), TEST(destroy_while_waiting_is_ebusy),
          TEST(failed_create_leaves_q_unchanged), TEST(destroy_drops_items),
          TEST(blocked_consumer_uses_no_cpu), TEST(simplequeue_verbs))
