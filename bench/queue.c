/* bench/queue.c: weft_queue beside the textbook bounded buffer (a ring under one
 * mutex with two condition variables: "naive"), Concurrency Kit's ck_ring (MPMC,
 * lock-free; it cannot block, so its callers spin on full and empty: "ck") and
 * liburcu's wait-free queue (cds_wfcq; unbounded, one mutex among dequeuers, a node
 * malloc'd per item, dequeuers spin on empty: "urcu").
 *
 *  queue/mpmc/<impl>       P producers and P consumers through one queue of capacity
 *                          1024 (threads 2, 4, 8, 16 = 1P1C .. 8P8C; even thread
 *                          numbers put, odd ones get). An iteration is one put or one
 *                          get, blocking (weft, naive) or retried (ck, urcu); the
 *                          report's items/s counts items moved (one per put).
 *  queue/unbounded/<impl>  the same through an unbounded FIFO: weft_queue with
 *                          maxsize 0, weft_simplequeue ("weft-simple"), cds_wfcq with
 *                          malloc/free per item ("urcu").
 *  queue/batch/<impl>      put_many / get_many of 32 items per call through the
 *                          capacity-1024 ring (weft; "weft-single": the same items one
 *                          call each); an iteration moves 32 items.
 *
 * Targets: weft at least 2x the naive ring's throughput at every point (time
 * ratio at most 0.5), and at least ck_ring's at 1P1C and 2P2C while blocking instead
 * of spinning (reported beside it), no collapse at 8P8C (oversubscribed on small
 * machines). */
#include "bench.h"
#include "weft/queue.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#if WF_HAVE_CK
#include <ck_pr.h>
#include <ck_ring.h>
#endif
#if WF_HAVE_URCU
#include <urcu/wfcqueue.h>
#endif

enum { CAPACITY = 1024, BATCH = 32 };

#define PRODUCER(s) (wf_bench_thread_index(s) % 2 == 0)

/* A spinning peer's retry: pause, and after a while give the CPU away, as a user of
 * a queue that cannot block must when threads outnumber CPUs (pure spinning there
 * burns whole time slices while the thread that would make progress waits). */
static inline void spin_retry(int *tries)
{
    if (++*tries < 4096) {
        __builtin_ia32_pause();
    } else {
        *tries = 0;
        sched_yield();
    }
}

/* Items are counted at the producers. */
static void count_items(wf_bench_state *s, int64_t per_iteration)
{
    if (PRODUCER(s))
        wf_bench_set_items_processed(s, wf_bench_iterations(s) * per_iteration);
}

/* ---- weft ------------------------------------------------------------------------- */

static weft_queue *wq;

static void weft_run(wf_bench_state *s, size_t maxsize)
{
    if (wf_bench_thread_index(s) == 0 && weft_queue_create(&wq, maxsize, WEFT_FIFO) != 0)
        wf_bench_skip_with_error(s, "weft_queue_create failed");
    if (PRODUCER(s)) {
        WF_BENCH_LOOP(s) weft_queue_put(wq, s, WEFT_FOREVER);
    } else {
        void *item;
        WF_BENCH_LOOP(s) weft_queue_get(wq, &item, WEFT_FOREVER);
    }
    count_items(s, 1);
    if (wf_bench_thread_index(s) == 0) {
        if (!weft_queue_empty(wq))
            wf_bench_skip_with_error(s, "items left behind: the queue is broken");
        weft_queue_destroy(wq);
    }
}

static void queue_mpmc_weft(wf_bench_state *s) { weft_run(s, CAPACITY); }
static void queue_unbounded_weft(wf_bench_state *s) { weft_run(s, 0); }

static weft_simplequeue *wsq;

static void queue_unbounded_simple(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0 && weft_simplequeue_create(&wsq) != 0)
        wf_bench_skip_with_error(s, "weft_simplequeue_create failed");
    if (PRODUCER(s)) {
        WF_BENCH_LOOP(s) weft_simplequeue_put(wsq, s);
    } else {
        void *item;
        WF_BENCH_LOOP(s) weft_simplequeue_get(wsq, &item, WEFT_FOREVER);
    }
    count_items(s, 1);
    if (wf_bench_thread_index(s) == 0)
        weft_simplequeue_destroy(wsq);
}

static void queue_batch_weft(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0 && weft_queue_create(&wq, CAPACITY, WEFT_FIFO) != 0)
        wf_bench_skip_with_error(s, "weft_queue_create failed");
    void *items[BATCH];
    for (int i = 0; i < BATCH; i++)
        items[i] = s;
    bool producer = PRODUCER(s);
    WF_BENCH_LOOP(s)
    {
        /* Exactly BATCH items per iteration on both sides, however the calls split. */
        for (size_t moved = 0; moved < BATCH;) {
            ssize_t n = producer ? weft_queue_put_many(wq, items + moved, BATCH - moved, WEFT_FOREVER)
                                 : weft_queue_get_many(wq, items + moved, BATCH - moved, WEFT_FOREVER);
            moved += n > 0 ? (size_t)n : 0;
        }
    }
    count_items(s, BATCH);
    if (wf_bench_thread_index(s) == 0)
        weft_queue_destroy(wq);
}

static void queue_batch_single(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0 && weft_queue_create(&wq, CAPACITY, WEFT_FIFO) != 0)
        wf_bench_skip_with_error(s, "weft_queue_create failed");
    void *item = s;
    bool producer = PRODUCER(s);
    WF_BENCH_LOOP(s)
    {
        for (int i = 0; i < BATCH; i++) {
            if (producer)
                weft_queue_put(wq, item, WEFT_FOREVER);
            else
                weft_queue_get(wq, &item, WEFT_FOREVER);
        }
    }
    count_items(s, BATCH);
    if (wf_bench_thread_index(s) == 0)
        weft_queue_destroy(wq);
}

/* ---- naive: a ring under one mutex, two condition variables ------------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    size_t head, count;
    void *items[CAPACITY];
} naive;

static void naive_put(void *item)
{
    pthread_mutex_lock(&naive.lock);
    while (naive.count == CAPACITY)
        pthread_cond_wait(&naive.not_full, &naive.lock);
    naive.items[(naive.head + naive.count++) % CAPACITY] = item;
    pthread_cond_signal(&naive.not_empty);
    pthread_mutex_unlock(&naive.lock);
}

static void *naive_get(void)
{
    pthread_mutex_lock(&naive.lock);
    while (naive.count == 0)
        pthread_cond_wait(&naive.not_empty, &naive.lock);
    void *item = naive.items[naive.head];
    naive.head = (naive.head + 1) % CAPACITY;
    naive.count--;
    pthread_cond_signal(&naive.not_full);
    pthread_mutex_unlock(&naive.lock);
    return item;
}

static void queue_mpmc_naive(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0) {
        pthread_mutex_init(&naive.lock, NULL);
        pthread_cond_init(&naive.not_empty, NULL);
        pthread_cond_init(&naive.not_full, NULL);
        naive.head = naive.count = 0;
    }
    if (PRODUCER(s)) {
        WF_BENCH_LOOP(s) naive_put(s);
    } else {
        WF_BENCH_LOOP(s) wf_bench_do_not_optimize(naive_get());
    }
    count_items(s, 1);
    if (wf_bench_thread_index(s) == 0) {
        pthread_cond_destroy(&naive.not_full);
        pthread_cond_destroy(&naive.not_empty);
        pthread_mutex_destroy(&naive.lock);
    }
}

/* ---- ck_ring: MPMC, spinning ------------------------------------------------------- */

#if WF_HAVE_CK
static ck_ring_t ckr;
static ck_ring_buffer_t ckr_buffer[CAPACITY];

static void queue_mpmc_ck(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0)
        ck_ring_init(&ckr, CAPACITY);
    if (PRODUCER(s)) {
        WF_BENCH_LOOP(s)
        {
            int tries = 0;
            while (!ck_ring_enqueue_mpmc(&ckr, ckr_buffer, s))
                spin_retry(&tries);
        }
    } else {
        void *item;
        WF_BENCH_LOOP(s)
        {
            int tries = 0;
            while (!ck_ring_dequeue_mpmc(&ckr, ckr_buffer, &item))
                spin_retry(&tries);
        }
    }
    count_items(s, 1);
}
#endif

/* ---- urcu: cds_wfcq, a node malloc'd per item, spinning on empty -------------------- */

#if WF_HAVE_URCU
struct urcu_item {
    struct cds_wfcq_node node;
    void *item;
};

static struct cds_wfcq_head urcu_head;
static struct cds_wfcq_tail urcu_tail;

static void urcu_run(wf_bench_state *s)
{
    if (wf_bench_thread_index(s) == 0)
        cds_wfcq_init(&urcu_head, &urcu_tail);
    if (PRODUCER(s)) {
        WF_BENCH_LOOP(s)
        {
            struct urcu_item *it = malloc(sizeof *it);
            cds_wfcq_node_init(&it->node);
            it->item = s;
            cds_wfcq_enqueue(&urcu_head, &urcu_tail, &it->node);
        }
    } else {
        WF_BENCH_LOOP(s)
        {
            struct cds_wfcq_node *n;
            int tries = 0;
            while (!(n = cds_wfcq_dequeue_blocking(&urcu_head, &urcu_tail)))
                spin_retry(&tries);
            struct urcu_item *it = caa_container_of(n, struct urcu_item, node);
            wf_bench_do_not_optimize(it->item);
            free(it);
        }
    }
    count_items(s, 1);
    if (wf_bench_thread_index(s) == 0)
        cds_wfcq_destroy(&urcu_head, &urcu_tail);
}

static void queue_mpmc_urcu(wf_bench_state *s) { urcu_run(s); }
static void queue_unbounded_urcu(wf_bench_state *s) { urcu_run(s); }
#endif

/* Registration order is the report's column order: weft first, then the peers. */
#define MPMC .threads = {2, 4, 8, 16}
WF_BENCH(queue_mpmc_weft, "queue/mpmc/weft", MPMC, .headline = true, .target_peer = "naive",
         .target = 0.5);
WF_BENCH(queue_mpmc_naive, "queue/mpmc/naive", MPMC);
#if WF_HAVE_CK
/* ck_ring's producers also spin inside ck_ring_enqueue_mpmc, waiting for an earlier
 * producer to publish its slot: a producer preempted there stalls the others for a
 * time slice. With threads beyond the CPUs that is the common case: on 2 CPUs a run
 * at 2P2C has taken from 0.1 s to over a minute, and at 4P4C and 8P8C several
 * minutes. So 2P2C runs a fixed, small number of iterations (its figure is still per
 * item), and 4P4C and 8P8C are left out. */
static void queue_mpmc_ck_2p2c(wf_bench_state *s) { queue_mpmc_ck(s); }
WF_BENCH(queue_mpmc_ck, "queue/mpmc/ck", .threads = {2});
WF_BENCH(queue_mpmc_ck_2p2c, "queue/mpmc/ck", .threads = {4}, .iterations = 20000);
#endif
#if WF_HAVE_URCU
WF_BENCH(queue_mpmc_urcu, "queue/mpmc/urcu", MPMC);
#endif

WF_BENCH(queue_unbounded_weft, "queue/unbounded/weft", MPMC);
WF_BENCH(queue_unbounded_simple, "queue/unbounded/weft-simple", MPMC);
#if WF_HAVE_URCU
WF_BENCH(queue_unbounded_urcu, "queue/unbounded/urcu", MPMC);
#endif

WF_BENCH(queue_batch_weft, "queue/batch/weft", .threads = {2, 8});
WF_BENCH(queue_batch_single, "queue/batch/weft-single", .threads = {2, 8});
