/* The unbounded FIFO (and the FIFO whose maxsize is too large for a preallocated
 * ring), shared with weft_simplequeue: liburcu's wait-free concurrent queue
 * (cds_wfcq). A put is one exchange on the list's tail; gets take turns on a
 * weft_lock (cds_wfcq allows one dequeuer at a time).
 *
 * Counters (the CLOSED bit 63 as in include/weft/queue.h):
 *
 *   q->tail   puts counted, bit 63 CLOSED: shut down. A put counts itself BEFORE it
 *             links its node, so "tail > head" means "an item exists or is about to":
 *             a get that finds the list empty then waits for the running put
 *             (-EINPROGRESS) instead of sleeping, and seq_cst on this counter is
 *             the put's half of the not_empty event count pair. A put refused by a
 *             shutdown takes its count back at once.
 *   q->head   gets taken, written under the get lock; bit 63 CLOSED: shut down
 *             immediately (the drain left nothing, gets fail).
 *
 * With maxsize > 0 a put reserves its count with a CAS that keeps
 * tail - head <= maxsize; without, one fetch_add.
 *
 * Nodes: cds_wfcq links nodes; ours carry the item. A node is freed as soon as it
 * is dequeued (cds_wfcq never touches a dequeued node again), into the house's
 * ordered block cache (src/blocks.h, class WF_BLOCK_QUEUE_NODE): no malloc per
 * item, one depot lock per block of 255 nodes, and each producer's nodes in
 * address order whatever the queue did before (see below).
 *
 * TSan: liburcu's own synchronization is inline assembly, invisible to TSan, and
 * runs inside the (uninstrumented) library. The edges our code depends on are all
 * carried by C11 atomics here: the item is stored with release before the node is
 * linked and loaded with acquire after it is unlinked; under TSan each node is its
 * own malloc (src/blocks.h); counters are atomics. */
#include "blocks.h"
#include "queue_internal.h"

#include <stdlib.h>
#include <urcu/wfcqueue.h>

/* ---- nodes ---------------------------------------------------------------------- */

typedef struct wf_node {
    /* Inside liburcu once enqueued. Before that the node is the put's own, and the
     * put chains the nodes it has allocated through link.next (wf_chain_*). */
    struct cds_wfcq_node link;
    _Atomic(void *) item; /* release by the put, acquire by the get */
} wf_node;

/* Nodes come from blocks reused whole (src/blocks.h), never given back to malloc.
 * Measured on the unbounded benchmark, whose producers run ahead of their
 * consumers (a backlog of 0.3-2.3 million nodes): with one malloc per fresh node
 * about one item in four at 4P4C paid a malloc and a free, 10-20% slower; with the
 * magazines, which hand nodes back in the order they were freed, a process's
 * twelfth round took 2.2x its first (83 to 183 ns an item), the consumers' walk of
 * the list having become a random walk of memory; with blocks, 58-76 ns an item
 * in every round. */
static wf_block_class wf_node_class =
    WF_BLOCK_CLASS_INIT(WF_BLOCK_QUEUE_NODE, sizeof(wf_node), _Alignof(wf_node));

static wf_node *wf_node_alloc(void)
{
    return wf_block_alloc(&wf_node_class);
}

static void wf_node_free(wf_node *n)
{
    wf_block_free(&wf_node_class, n);
}

/* A put's private chain of fresh nodes, oldest first. */
typedef struct wf_chain {
    wf_node *first, *last;
} wf_chain;

static void wf_chain_append(wf_chain *c, wf_node *n)
{
    n->link.next = NULL;
    if (c->last)
        c->last->link.next = &n->link;
    else
        c->first = n;
    c->last = n;
}

static wf_node *wf_chain_take(wf_chain *c)
{
    wf_node *n = c->first;
    if (n) {
        c->first = n->link.next ? caa_container_of(n->link.next, wf_node, link) : NULL;
        if (!c->first)
            c->last = NULL;
    }
    return n;
}

/* Returns the nodes left in the chain to this thread's cache. */
static void wf_chain_free(wf_chain *c)
{
    wf_node *n;
    while ((n = wf_chain_take(c)) != NULL)
        wf_node_free(n);
}

/* ---- state ---------------------------------------------------------------------- */

typedef struct wf_linked {
    /* Consumers' end: the list head and the lock they take turns on. */
    struct __cds_wfcq_head head;
    weft_lock get_lock;
    /* Producers' end, on its own cache line. */
    struct cds_wfcq_tail tail __attribute__((aligned(WF_CACHE_LINE)));
} wf_linked;

static wf_linked *wf_linked_of(const weft_queue *q)
{
    return q->state;
}

/* ---- put ---------------------------------------------------------------------- */

/* Reserves up to n puts in the counter: returns how many, or -ESHUTDOWN / -EAGAIN. */
static ssize_t wf_linked_reserve(weft_queue *q, size_t n)
{
    if (q->maxsize == 0) {
        /* seq_cst: the put's half of the not_empty pair: a get that then finds the
         * list empty sees this count and waits for our link instead of sleeping. */
        uint64_t old = atomic_fetch_add_explicit(&q->tail, n, memory_order_seq_cst);
        if (WF_UNLIKELY(old & WEFT__QUEUE_CLOSED)) {
            /* relaxed: a refused put takes its count back; only counts depend on it. */
            atomic_fetch_sub_explicit(&q->tail, n, memory_order_relaxed);
            return -ESHUTDOWN;
        }
        return (ssize_t)n;
    }
    /* relaxed: the CAS re-validates. */
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        if (tail & WEFT__QUEUE_CLOSED)
            return -ESHUTDOWN;
        /* seq_cst: the putter's re-check half of the not_full pair (a get's seq_cst
         * store of head comes before its waiters load). */
        uint64_t head = atomic_load_explicit(&q->head, memory_order_seq_cst) & ~WEFT__QUEUE_CLOSED;
        uint64_t used = tail - head;
        if (used > tail) { /* head is newer than tail: re-read */
            tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
            continue;
        }
        if (used >= q->maxsize)
            return -EAGAIN;
        uint64_t k = q->maxsize - used;
        if (k > n)
            k = n;
        /* seq_cst: as the fetch_add above. */
        if (atomic_compare_exchange_weak_explicit(&q->tail, &tail, tail + k, memory_order_seq_cst,
                                                  memory_order_relaxed))
            return (ssize_t)k;
    }
}

ssize_t wf_linked_put(weft_queue *q, wf_queue_op *op, bool recheck)
{
    (void)recheck; /* the reservation's loads are seq_cst anyway */
    wf_linked *l = wf_linked_of(q);
    size_t want = op->n;
    if (q->maxsize && want > 1) {
        /* Allocate no more nodes than there is room for. relaxed: an estimate; the
         * reservation decides. */
        uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed) & ~WEFT__QUEUE_CLOSED;
        uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed) & ~WEFT__QUEUE_CLOSED;
        uint64_t room = tail >= head && tail - head < q->maxsize ? q->maxsize - (tail - head) : 1;
        if (want > room)
            want = room;
    }
    /* Nodes first, so that a counted put is never taken back for want of memory (an
     * immediate shutdown drains exactly the puts counted). */
    wf_chain fresh = {NULL, NULL};
    for (size_t i = 0; i < want; i++) {
        wf_node *n = wf_node_alloc();
        if (!n) {
            wf_chain_free(&fresh);
            return -ENOMEM;
        }
        wf_chain_append(&fresh, n);
    }
    ssize_t k = wf_linked_reserve(q, want);
    if (k <= 0) {
        wf_chain_free(&fresh);
        return k;
    }
    /* A batch is linked privately first, then spliced in with one exchange. */
    struct __cds_wfcq_head batch_head;
    struct cds_wfcq_tail batch_tail;
    if (k > 1)
        __cds_wfcq_init(&batch_head, &batch_tail);
    for (ssize_t i = 0; i < k; i++) {
        wf_node *n = wf_chain_take(&fresh); /* off the chain before liburcu's init */
        /* release: the getter that loads the item (acquire) sees what the caller
         * wrote before putting it, and our own last writes to the node. */
        atomic_store_explicit(&n->item, op->in[i], memory_order_release);
        cds_wfcq_node_init(&n->link);
        if (k == 1)
            cds_wfcq_enqueue(&l->head, &l->tail, &n->link);
        else
            cds_wfcq_enqueue(&batch_head, &batch_tail, &n->link);
    }
    if (k > 1)
        __cds_wfcq_splice_blocking(&l->head, &l->tail, &batch_head, &batch_tail);
    wf_chain_free(&fresh); /* the nodes past the k reserved */
    /* Lost wakeup avoided: our count went up (seq_cst) before this load; a getter that
     * announced itself after it sees the count and waits for the link. */
    wf_waitlist_notify(&q->not_empty, k > INT_MAX ? INT_MAX : (int)k);
    return k;
}

/* ---- get ---------------------------------------------------------------------- */

/* Takes the next node off the list, waiting out a put that is half way through
 * linking it, and drops its item (as a get would, so the acquire load makes the node
 * ours to reuse). Caller holds the get lock and knows a put was counted and not
 * taken yet. */
static wf_node *wf_linked_take(wf_linked *l)
{
    wf_spinner peer = wf_spinner_start(WF_SPIN_PEER);
    for (;;) {
        struct cds_wfcq_node *n = __cds_wfcq_dequeue_nonblocking(&l->head, &l->tail);
        if (n && n != CDS_WFCQ_WOULDBLOCK) {
            wf_node *node = caa_container_of(n, wf_node, link);
            /* acquire: pairs with the put's release store, after its last touch. */
            (void)atomic_load_explicit(&node->item, memory_order_acquire);
            return node;
        }
        wf_spin(&peer); /* counted, not linked yet: the put is running */
    }
}

ssize_t wf_linked_get(weft_queue *q, wf_queue_op *op, bool recheck)
{
    (void)recheck; /* the count load below is seq_cst anyway */
    wf_linked *l = wf_linked_of(q);
    weft_lock_acquire(&l->get_lock);
    /* relaxed: only get-lock holders write head. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (head & WEFT__QUEUE_CLOSED) {
        weft_lock_release(&l->get_lock);
        return -ESHUTDOWN;
    }
    size_t k = 0;
    while (k < op->n) {
        struct cds_wfcq_node *n = __cds_wfcq_dequeue_nonblocking(&l->head, &l->tail);
        if (!n || n == CDS_WFCQ_WOULDBLOCK)
            break;
        wf_node *node = caa_container_of(n, wf_node, link);
        /* acquire: pairs with the put's release store of the item. */
        op->out[k++] = atomic_load_explicit(&node->item, memory_order_acquire);
        wf_node_free(node);
    }
    if (k > 0) {
        /* seq_cst: the get's half of the not_full pair (before the waiters load in
         * wf_waitlist_notify). */
        atomic_store_explicit(&q->head, head + k, memory_order_seq_cst);
        weft_lock_release(&l->get_lock);
        if (q->maxsize)
            wf_waitlist_notify(&q->not_full, k > INT_MAX ? INT_MAX : (int)k);
        return (ssize_t)k;
    }
    weft_lock_release(&l->get_lock);
    /* seq_cst: the getter's re-check half of the not_empty pair (see wf_linked_reserve). */
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_seq_cst);
    if ((tail & ~WEFT__QUEUE_CLOSED) != head)
        return -EINPROGRESS; /* a put is counted but not linked yet */
    return tail & WEFT__QUEUE_CLOSED ? -ESHUTDOWN : -EAGAIN;
}

/* ---- the rest ----------------------------------------------------------------- */

bool wf_linked_can_get(const weft_queue *q)
{
    /* relaxed: a snapshot (a hint for passing a wakeup on). */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return !(head & WEFT__QUEUE_CLOSED) && (tail & ~WEFT__QUEUE_CLOSED) != head;
}

static bool wf_linked_can_put(const weft_queue *q)
{
    /* relaxed: a snapshot, as above. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed) & ~WEFT__QUEUE_CLOSED;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return !(tail & WEFT__QUEUE_CLOSED) && (q->maxsize == 0 || tail - head < q->maxsize);
}

static size_t wf_linked_qsize(const weft_queue *q)
{
    /* relaxed: a snapshot; head first, so that the later tail cannot be behind it
     * (except by a refused put's passing count, which the clamp hides). */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed) & ~WEFT__QUEUE_CLOSED;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed) & ~WEFT__QUEUE_CLOSED;
    uint64_t n = tail >= head ? tail - head : 0;
    if (q->maxsize && n > q->maxsize)
        n = q->maxsize;
    return (size_t)n;
}

static uint64_t wf_linked_puts(const weft_queue *q)
{
    /* seq_cst: task accounting's half of the all_done pair (see queue.c). */
    return atomic_load_explicit(&q->tail, memory_order_seq_cst) & ~WEFT__QUEUE_CLOSED;
}

static uint64_t wf_linked_shutdown(weft_queue *q, bool immediate)
{
    /* seq_cst: the change half of the event count pairs; the wakeups follow
     * (queue.c). The value returned counts exactly the puts accepted: later ones
     * see CLOSED. */
    uint64_t tail = atomic_fetch_or_explicit(&q->tail, WEFT__QUEUE_CLOSED, memory_order_seq_cst) &
                    ~WEFT__QUEUE_CLOSED;
    if (!immediate)
        return 0;
    wf_linked *l = wf_linked_of(q);
    weft_lock_acquire(&l->get_lock);
    /* relaxed: we hold the get lock. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t n = 0;
    if (!(head & WEFT__QUEUE_CLOSED)) {
        for (; head + n != tail; n++)
            wf_node_free(wf_linked_take(l));
        /* seq_cst: as a get's store of head. */
        atomic_store_explicit(&q->head, tail | WEFT__QUEUE_CLOSED, memory_order_seq_cst);
    }
    weft_lock_release(&l->get_lock);
    return n;
}

static int wf_linked_init(weft_queue *q)
{
    wf_linked *l;
    if (posix_memalign((void **)&l, WF_CACHE_LINE, sizeof *l) != 0)
        return ENOMEM;
    __cds_wfcq_init(&l->head, &l->tail);
    l->get_lock = (weft_lock)WEFT_LOCK_INIT;
    q->state = l;
    return 0;
}

static void wf_linked_fini(weft_queue *q)
{
    wf_linked *l = wf_linked_of(q);
    struct cds_wfcq_node *n;
    while ((n = __cds_wfcq_dequeue_blocking(&l->head, &l->tail)) != NULL) {
        wf_node *node = caa_container_of(n, wf_node, link);
        /* acquire: as in wf_linked_take (the caller's own synchronization with the
         * putters already orders this; the edge keeps the node's history uniform). */
        (void)atomic_load_explicit(&node->item, memory_order_acquire);
        wf_node_free(node);
    }
    free(l);
}

const wf_queue_impl wf_queue_linked_impl = {
    .init = wf_linked_init,
    .fini = wf_linked_fini,
    .put = wf_linked_put,
    .get = wf_linked_get,
    .can_put = wf_linked_can_put,
    .can_get = wf_linked_can_get,
    .qsize = wf_linked_qsize,
    .puts = wf_linked_puts,
    .shutdown = wf_linked_shutdown,
};
