/* Bounded stress for the queue family. Each run: P producers and P consumers (P = 1,
 * 2, 4, 8) move a fixed number of items (10^6 on the FIFO kinds in a plain build,
 * fewer under sanitizers through wf_test_scale) through one queue, with a random mix
 * of blocking, timed (random timeouts) and non-blocking calls, single and batched.
 * Checked exactly: every item arrives once (nothing lost, nothing duplicated); on a
 * FIFO queue each producer's items arrive in order at every consumer; every
 * task_done succeeds and join then returns at once. A run ends with a shutdown that
 * races the consumers still asleep in get.
 *
 * A second scenario shuts a small queue down (immediately or not) at a random point
 * while putters sleep on it full or getters sleep on it empty, and checks the
 * accounting: each accepted put was got, or discarded and counted done by join.
 *
 * A third destroys a queue while threads wait in it (spinning or asleep: a random
 * delay after they are all in): destroy must refuse (EBUSY); then they are let go
 * (fed, or shut out) and destroy is retried until it succeeds, racing their way
 * out, so that a thread touching the queue after destroy could free it shows as a
 * use after free (ASan) or a race (TSan). */
#include "../check.h"

#include <sched.h>
#include <unistd.h>

/* Items: producer number (from 1) in the high bits, sequence number in the low. */
#define SEQ_BITS 32
#define ITEM(p, seq) ((void *)(((uintptr_t)(p) + 1) << SEQ_BITS | (uintptr_t)(seq)))
#define ITEM_PRODUCER(x) ((int)(((uintptr_t)(x) >> SEQ_BITS) - 1))
#define ITEM_SEQ(x) ((long)((uintptr_t)(x) & ((UINT64_C(1) << SEQ_BITS) - 1)))

enum { MAX_THREADS = 8, MAX_BATCH = 8 };

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A random timeout: often none (forever), sometimes 0 (nowait), else 1..200 us. */
static int64_t random_timeout(uint64_t *s)
{
    uint64_t r = rng_next(s) % 8;
    if (r < 4)
        return WEFT_FOREVER;
    if (r < 6)
        return 0;
    return WEFT_US(1 + rng_next(s) % 200);
}

typedef struct {
    const char *name;
    int kind;
    size_t maxsize;
} queue_kind;

typedef struct run {
    weft_queue *q;
    const queue_kind *kind;
    int producers;
    long per_producer;
    _Atomic unsigned char *seen; /* [producer * per_producer + seq] */
    _Atomic long got;
    _Atomic long puts_ok;
    _Atomic bool stop_producers;
    bool fifo;
} run;

typedef struct {
    run *r;
    int id;
    uint64_t rng;
} worker;

/* ---- scenario 1: exact transfer ------------------------------------------------- */

static void *producer(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    long seq = 0;
    while (seq < r->per_producer) {
        uint64_t choice = rng_next(&w->rng) % 10;
        int64_t t = random_timeout(&w->rng);
        if (choice < 3) { /* a batch */
            void *batch[MAX_BATCH];
            long n = 1 + (long)(rng_next(&w->rng) % MAX_BATCH);
            if (n > r->per_producer - seq)
                n = r->per_producer - seq;
            for (long i = 0; i < n; i++)
                batch[i] = ITEM(w->id, seq + i);
            ssize_t moved = weft_queue_put_many(r->q, batch, (size_t)n, t);
            if (moved > 0) {
                CHECK(moved <= n);
                seq += moved;
            } else {
                CHECK((moved == -EAGAIN && t == 0) || (moved == -ETIMEDOUT && t > 0));
                sched_yield(); /* a nowait caller would do other work */
            }
            continue;
        }
        int rc = r->kind->kind == WEFT_PRIORITY && choice < 6
                     ? weft_queue_put_prio(r->q, (int64_t)(rng_next(&w->rng) % 5), ITEM(w->id, seq), t)
                     : weft_queue_put(r->q, ITEM(w->id, seq), t);
        if (rc == 0) {
            seq++;
        } else {
            CHECK((rc == EAGAIN && t == 0) || (rc == ETIMEDOUT && t > 0));
            sched_yield();
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    long last[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++)
        last[i] = -1;
    for (;;) {
        void *batch[MAX_BATCH];
        ssize_t n;
        int64_t t = random_timeout(&w->rng);
        if (rng_next(&w->rng) % 3 == 0) {
            n = weft_queue_get_many(r->q, batch, 1 + rng_next(&w->rng) % MAX_BATCH, t);
        } else {
            int rc = weft_queue_get(r->q, &batch[0], t);
            n = rc == 0 ? 1 : -rc;
        }
        if (n == -ESHUTDOWN)
            break;
        if (n < 0) {
            CHECK((n == -EAGAIN && t == 0) || (n == -ETIMEDOUT && t > 0));
            sched_yield();
            continue;
        }
        for (ssize_t i = 0; i < n; i++) {
            int p = ITEM_PRODUCER(batch[i]);
            long seq = ITEM_SEQ(batch[i]);
            CHECK(p >= 0 && p < r->producers && seq >= 0 && seq < r->per_producer);
            /* Nothing duplicated. */
            CHECK_EQ(atomic_exchange(&r->seen[(long)p * r->per_producer + seq], 1), 0);
            /* FIFO: each producer's items in order at this consumer. */
            if (r->fifo) {
                CHECK(seq > last[p]);
                last[p] = seq;
            }
            CHECK_EQ(weft_queue_task_done(r->q), 0);
        }
        atomic_fetch_add_explicit(&r->got, n, memory_order_relaxed);
    }
    return NULL;
}

static void transfer(const queue_kind *kind, int threads, long items)
{
    run r = {.kind = kind, .producers = threads, .per_producer = items / threads};
    r.fifo = kind->kind == WEFT_FIFO;
    long total = r.per_producer * threads;
    r.seen = calloc((size_t)total, 1);
    CHECK(r.seen != NULL);
    CHECK_EQ(weft_queue_create(&r.q, kind->maxsize, kind->kind), 0);

    pthread_t prod[MAX_THREADS], cons[MAX_THREADS];
    worker pw[MAX_THREADS], cw[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        cw[i] = (worker){&r, i, 0x9E3779B97F4A7C15u * (uint64_t)(i + 1)};
        pw[i] = (worker){&r, i, 0xD1B54A32D192ED03u * (uint64_t)(i + 1)};
        CHECK_EQ(pthread_create(&cons[i], NULL, consumer, &cw[i]), 0);
        CHECK_EQ(pthread_create(&prod[i], NULL, producer, &pw[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(prod[i], NULL);
    /* Every item is in; consumers drain and then meet the shutdown (some of them
     * asleep in get when it comes). */
    CHECK_EQ(weft_queue_shutdown(r.q, false), 0);
    for (int i = 0; i < threads; i++)
        pthread_join(cons[i], NULL);

    CHECK_EQ(atomic_load(&r.got), total); /* nothing lost */
    for (long i = 0; i < total; i++)
        CHECK_EQ(atomic_load_explicit(&r.seen[i], memory_order_relaxed), 1);
    CHECK(weft_queue_empty(r.q));
    CHECK_EQ(weft_queue_join(r.q, 0), 0);        /* every task done */
    CHECK_EQ(weft_queue_task_done(r.q), EINVAL); /* and not one more */
    CHECK_EQ(weft_queue_destroy(r.q), 0);
    free((void *)r.seen);
}

static const queue_kind ring = {"ring", WEFT_FIFO, 256};
static const queue_kind ring_tiny = {"ring-2", WEFT_FIFO, 2};
static const queue_kind linked = {"linked", WEFT_FIFO, 0};
static const queue_kind linked_bounded = {"linked-bounded", WEFT_FIFO, WEFT_QUEUE_RING_MAX + 1};
static const queue_kind lifo = {"lifo", WEFT_LIFO, 64};
static const queue_kind priority = {"priority", WEFT_PRIORITY, 0};

static void transfer_all(const queue_kind *kind, long items)
{
    for (int p = 1; p <= MAX_THREADS; p *= 2) {
        int64_t t0 = weft_now_ns();
        transfer(kind, p, items);
        printf("  %s %dP%dC: %ld items in %.0f ms\n", kind->name, p, p, items,
               (double)(weft_now_ns() - t0) / 1e6);
        fflush(stdout);
    }
}

static void ring_transfer(void) { transfer_all(&ring, wf_test_scale(1000000)); }
static void ring_tiny_transfer(void) { transfer_all(&ring_tiny, wf_test_scale(20000)); }
static void linked_transfer(void) { transfer_all(&linked, wf_test_scale(1000000)); }
static void linked_bounded_transfer(void) { transfer_all(&linked_bounded, wf_test_scale(200000)); }
static void lifo_transfer(void) { transfer_all(&lifo, wf_test_scale(100000)); }
static void priority_transfer(void) { transfer_all(&priority, wf_test_scale(100000)); }

/* ---- scenario 2: shutdown racing sleepers ------------------------------------------ */

typedef struct {
    run *r;
    int id;
    uint64_t rng;
    bool slow; /* this side dawdles, so the other side sleeps */
} racer;

static void dawdle(uint64_t *rng)
{
    if (rng_next(rng) % 4 == 0)
        usleep(50);
}

static void *racing_producer(void *arg)
{
    racer *w = arg;
    run *r = w->r;
    for (long seq = 0; seq < r->per_producer;) {
        int rc = weft_queue_put(r->q, ITEM(w->id, seq), rng_next(&w->rng) % 2 ? WEFT_FOREVER : WEFT_US(100));
        if (rc == ESHUTDOWN)
            break;
        if (rc == ETIMEDOUT)
            continue;
        CHECK_EQ(rc, 0);
        seq++;
        atomic_fetch_add(&r->puts_ok, 1);
        if (w->slow)
            dawdle(&w->rng);
    }
    return NULL;
}

static void *racing_consumer(void *arg)
{
    racer *w = arg;
    run *r = w->r;
    for (;;) {
        void *item;
        int rc = weft_queue_get(r->q, &item, rng_next(&w->rng) % 2 ? WEFT_FOREVER : WEFT_US(100));
        if (rc == ESHUTDOWN)
            break;
        if (rc == ETIMEDOUT)
            continue;
        CHECK_EQ(rc, 0);
        int p = ITEM_PRODUCER(item);
        long seq = ITEM_SEQ(item);
        CHECK(p >= 0 && p < r->producers && seq < r->per_producer);
        CHECK_EQ(atomic_exchange(&r->seen[(long)p * r->per_producer + seq], 1), 0);
        CHECK_EQ(weft_queue_task_done(r->q), 0);
        atomic_fetch_add(&r->got, 1);
        if (w->slow)
            dawdle(&w->rng);
    }
    return NULL;
}

static void shutdown_race(const queue_kind *kind, int threads, bool immediate, bool slow_consumers,
                          uint64_t seed)
{
    run r = {.kind = kind, .producers = threads, .per_producer = 1L << 20};
    r.seen = calloc((size_t)(r.per_producer * threads), 1);
    CHECK(r.seen != NULL);
    CHECK_EQ(weft_queue_create(&r.q, kind->maxsize, kind->kind), 0);
    pthread_t th[2 * MAX_THREADS];
    racer w[2 * MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        w[i] = (racer){&r, i, seed * (uint64_t)(i + 1), !slow_consumers};
        /* Slow consumers make putters sleep on a full queue; an unbounded one never
         * fills, and would only pile up items to drain. */
        w[threads + i] = (racer){&r, i, seed * (uint64_t)(i + 7), slow_consumers && kind->maxsize};
        CHECK_EQ(pthread_create(&th[i], NULL, racing_producer, &w[i]), 0);
        CHECK_EQ(pthread_create(&th[threads + i], NULL, racing_consumer, &w[threads + i]), 0);
    }
    uint64_t rng = seed;
    usleep((useconds_t)(2000 + rng_next(&rng) % 8000));
    CHECK_EQ(weft_queue_shutdown(r.q, immediate), 0);
    for (int i = 0; i < 2 * threads; i++)
        pthread_join(th[i], NULL);

    long put = atomic_load(&r.puts_ok), got = atomic_load(&r.got);
    CHECK(got <= put);
    if (!immediate)
        CHECK_EQ(got, put); /* getters drained everything accepted */
    CHECK(weft_queue_empty(r.q));
    /* Got items were marked done by the consumers, discarded ones by the shutdown. */
    CHECK_EQ(weft_queue_join(r.q, 0), 0);
    CHECK_EQ(weft_queue_task_done(r.q), EINVAL);
    CHECK_EQ(weft_queue_destroy(r.q), 0);
    free((void *)r.seen);
}

static void shutdown_races(void)
{
    const queue_kind *kinds[] = {&ring_tiny, &ring, &linked, &linked_bounded, &lifo, &priority};
    int rounds = (int)wf_test_scale(8) < 2 ? 2 : (int)wf_test_scale(8);
    uint64_t seed = 0x2545F4914F6CDD1Du;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int round = 0; round < rounds; round++) {
            int threads = 1 << (round % 4);
            int64_t t0 = weft_now_ns();
            shutdown_race(kinds[k], threads, round % 2, (round / 2) % 2, rng_next(&seed) | 1);
            printf("  %s %dP%dC, %s shutdown, slow %s: %.0f ms\n", kinds[k]->name, threads,
                   threads, round % 2 ? "immediate" : "plain",
                   (round / 2) % 2 ? "consumers" : "producers",
                   (double)(weft_now_ns() - t0) / 1e6);
        }
}

/* ---- scenario 3: destroy while threads wait ------------------------------------- */

enum { SIDE_GET, SIDE_PUT, SIDE_JOIN };

typedef struct {
    weft_queue *q;
    int side;
    uint64_t rng;
    long result;
} destroy_waiter;

static void *waiting_call(void *arg)
{
    destroy_waiter *w = arg;
    void *items[4] = {ITEM(0, 1), ITEM(0, 2), ITEM(0, 3), ITEM(0, 4)};
    uint64_t how = rng_next(&w->rng) % 3;
    /* Long timeouts rather than forever, for variety: none passes in a round. */
    int64_t t = how == 2 ? WEFT_SEC(60) : WEFT_FOREVER;
    if (w->side == SIDE_GET)
        w->result = how == 0 ? weft_queue_get_many(w->q, items, 1 + rng_next(&w->rng) % 4, t)
                             : -weft_queue_get(w->q, &items[0], t);
    else if (w->side == SIDE_PUT)
        w->result = how == 0 ? weft_queue_put_many(w->q, items, 1 + rng_next(&w->rng) % 4, t)
                             : -weft_queue_put(w->q, items[0], t);
    else
        w->result = -weft_queue_join(w->q, t);
    return NULL;
}

static void destroy_round(const queue_kind *kind, int side, int threads, uint64_t *rng)
{
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, kind->maxsize, kind->kind), 0);
    if (side == SIDE_PUT)
        for (size_t i = 0; i < kind->maxsize; i++)
            CHECK_EQ(weft_queue_put(q, ITEM(0, i), 0), 0);
    if (side == SIDE_JOIN)
        CHECK_EQ(weft_queue_put(q, ITEM(0, 0), 0), 0);
    pthread_t th[MAX_THREADS];
    destroy_waiter w[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        w[i] = (destroy_waiter){q, side, rng_next(rng) | 1, 0};
        CHECK_EQ(pthread_create(&th[i], NULL, waiting_call, &w[i]), 0);
    }
    /* White box: the count destroy checks; spinning, to catch the spinners. */
    int64_t end = weft_now_ns() + WEFT_SEC(10);
    while (atomic_load_explicit(&q->waiting, memory_order_relaxed) < (uint32_t)threads)
        CHECK(weft_now_ns() < end);
    uint64_t delay = rng_next(rng) % 4;
    if (delay == 1)
        for (uint64_t i = rng_next(rng) % 2000; i > 0; i--)
            atomic_signal_fence(memory_order_seq_cst); /* a few microseconds */
    else if (delay >= 2)
        usleep((useconds_t)(rng_next(rng) % 200));
    CHECK_EQ(weft_queue_destroy(q), EBUSY);

    /* Let them go: feed them (then shut the rest out), or shut the queue down. */
    bool feed = rng_next(rng) % 2, immediate = rng_next(rng) % 2;
    void *item;
    if (side == SIDE_JOIN) {
        if (feed)
            CHECK_EQ(weft_queue_task_done(q), 0);
        else
            CHECK_EQ(weft_queue_shutdown(q, true), 0); /* discards the task: done */
    } else {
        for (int i = 0; feed && i < threads; i++) {
            if (side == SIDE_GET)
                CHECK_EQ(weft_queue_put(q, ITEM(0, i), WEFT_FOREVER), 0);
            else
                CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), 0);
        }
        CHECK_EQ(weft_queue_shutdown(q, immediate), 0);
    }
    int rc;
    while ((rc = weft_queue_destroy(q)) == EBUSY)
        sched_yield();
    CHECK_EQ(rc, 0);
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].result >= 0 || w[i].result == -ESHUTDOWN);
        CHECK(side != SIDE_JOIN || w[i].result == 0);
    }
}

static void destroy_races(void)
{
    const queue_kind *kinds[] = {&ring_tiny, &ring, &linked, &lifo, &priority};
    long rounds = wf_test_scale(1000);
    uint64_t rng = 0x8CB92BA72F3D8DD7u;
    int64_t t0 = weft_now_ns();
    for (long round = 0; round < rounds; round++) {
        const queue_kind *kind = kinds[rng_next(&rng) % (sizeof kinds / sizeof kinds[0])];
        int side = (int)(rng_next(&rng) % 3);
        if (side == SIDE_PUT && kind->maxsize == 0)
            side = SIDE_GET; /* an unbounded queue is never full */
        destroy_round(kind, side, 1 + (int)(rng_next(&rng) % 4), &rng);
    }
    printf("  %ld rounds in %.0f ms\n", rounds, (double)(weft_now_ns() - t0) / 1e6);
}

TEST_MAIN(TEST(ring_transfer), TEST(ring_tiny_transfer), TEST(linked_transfer),
          TEST(linked_bounded_transfer), TEST(lifo_transfer), TEST(priority_transfer),
          TEST(shutdown_races), TEST(destroy_races))
