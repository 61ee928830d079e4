/* The bounded FIFO: a ring of exactly maxsize cells, each with a sequence number
 * (Dmitry Vyukov's bounded MPMC queue). State tables for the tail/head positions and
 * the cell sequence are in include/weft/queue.h; the single put/get attempts are the
 * inline fast paths there.
 *
 * Invariants (positions read as linear counts modulo count_mod = maxsize * 2^31):
 *  - head <= tail <= head + maxsize: tail counts puts claimed, head gets claimed;
 *  - a cell is written only by the put that claimed its position and read only by
 *    the get that claimed it; the sequence word hands it between the two;
 *  - a claimed position is always completed: claims happen only once the cell is
 *    free / full (single ops) or once the counters show it will be (batches), and a
 *    thread never sleeps between its claim and its sequence store.
 * So a thread that finds the cell it needs taken but not yet handed over is waiting
 * for a running peer (-EINPROGRESS: spin), while a genuinely full or empty ring
 * (-EAGAIN) is where it sleeps.
 *
 * Batches claim k positions with one CAS, sized from the other side's counter, then
 * wait for each cell's hand-over. Shutdown sets CLOSED on tail (puts stop; the value
 * returned is the final tail) and, when immediate, on head (gets stop), then drains
 * [head, tail) itself. */
#include "queue_internal.h"

#include <stdlib.h>

/* acquire: a cell's sequence number publishes its item (as in the inline fast
 * paths, which a TSan program sees); told to TSan here when `tell` (src/tsan.h). */
static WF_ALWAYS_INLINE uint32_t wf_ring_seq_told(weft__queue_cell *c, bool tell)
{
    uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (tell)
        wf_tsan_acquire(&c->seq);
    return seq;
}

static inline uint32_t wf_ring_seq(weft__queue_cell *c)
{
    return wf_ring_seq_told(c, wf_tsan_present());
}

/* The position k cells after `pos` (k <= cap). */
static uint64_t wf_ring_advance(const weft_queue *q, uint64_t pos, uint64_t k)
{
    uint64_t index = (pos & WEFT__QUEUE_INDEX_MASK) + k;
    if (index < q->cap)
        return pos + k;
    uint64_t lap = ((pos >> WEFT__QUEUE_LAP_SHIFT) + 1) & WEFT__QUEUE_LAP_MASK;
    return (lap << WEFT__QUEUE_LAP_SHIFT) | (index - q->cap);
}

static weft__queue_cell *wf_ring_cell(const weft_queue *q, uint64_t pos)
{
    return &q->cells[pos & WEFT__QUEUE_INDEX_MASK];
}

/* Waits until the cell of `pos` reads `seq`: its previous owner, who has claimed it,
 * is about to hand it over. A batch that has to spin for it counts itself waiting on
 * q (once: *waiting says whether it already does; it leaves after its last touch of
 * q, wf_ring_done_waiting); waiting is NULL for a caller counted already. */
static void wf_ring_await(weft_queue *q, weft__queue_cell *c, uint32_t seq, bool *waiting)
{
    /* acquire: pairs with the previous owner's release store; its item write (a put)
     * or read (a get) is done. */
    if (wf_ring_seq(c) == seq)
        return;
    if (waiting && !*waiting) {
        wf_queue_enter(q);
        *waiting = true;
    }
    wf_spinner peer = wf_spinner_start(WF_SPIN_PEER);
    /* acquire: as above. */
    while (wf_ring_seq(c) != seq)
        wf_spin(&peer);
}

/* The second half of a batch: moves the k claimed cells from pos on (a put fills
 * them from op->in, a get empties them into op->out), each once its previous owner
 * has handed it over, then hands each on (release: the item, or the read of it, is
 * done). Returns whether it had to wait. Specialised by `tell` (wf_ring_move picks):
 * without TSan the loop carries no annotation, not even an untaken call, which
 * would make the compiler keep every value in memory across it. */
static WF_ALWAYS_INLINE bool wf_ring_move_told(weft_queue *q, uint64_t pos, uint64_t k,
                                               wf_queue_op *op, bool put, bool tell)
{
    bool waiting = false;
    for (uint64_t i = 0; i < k; i++, pos = wf_ring_advance(q, pos, 1)) {
        weft__queue_cell *c = wf_ring_cell(q, pos);
        uint32_t seq = WEFT__QUEUE_LAP2(pos) + (put ? 0 : 1);
        if (wf_ring_seq_told(c, tell) != seq)
            wf_ring_await(q, c, seq, &waiting);
        if (put)
            c->item = op->in[i];
        else
            op->out[i] = c->item;
        if (tell)
            wf_tsan_release(&c->seq); /* the store below, told (src/tsan.h) */
        atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
    }
    return waiting;
}

static bool wf_ring_move(weft_queue *q, uint64_t pos, uint64_t k, wf_queue_op *op, bool put)
{
    return wf_tsan_present() ? wf_ring_move_told(q, pos, k, op, put, true)
                             : wf_ring_move_told(q, pos, k, op, put, false);
}

static void wf_ring_done_waiting(weft_queue *q, bool waiting)
{
    if (waiting)
        wf_queue_leave(q);
}

/* ---- put ---------------------------------------------------------------------- */

static ssize_t wf_ring_put_many(weft_queue *q, wf_queue_op *op, bool recheck)
{
    /* relaxed: picks the cell; its sequence decides. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t k;
    for (;;) {
        if (pos & WEFT__QUEUE_CLOSED)
            return -ESHUTDOWN;
        /* acquire: the get that freed the cell has finished reading it. */
        uint32_t seq = wf_ring_seq(wf_ring_cell(q, pos));
        int32_t delta = (int32_t)(seq - WEFT__QUEUE_LAP2(pos));
        if (delta > 0) { /* another put took it */
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
            continue;
        }
        /* relaxed: a free cell (acquire above) already ordered us after the claim of
         * the get that freed it; seq_cst when re-checking a full ring: the sleeper's
         * half of the not_full pair (a get's claim on head is the change). */
        uint64_t head = atomic_load_explicit(&q->head,
                                             recheck ? memory_order_seq_cst : memory_order_relaxed);
        uint64_t used = wf_ring_distance(q, head & ~WEFT__QUEUE_CLOSED, pos);
        if (delta < 0) /* full, unless a get that claimed the cell is still reading */
            return used < q->cap ? -EINPROGRESS : -EAGAIN;
        if (used >= q->cap) { /* pos is stale: gets have passed it */
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
            continue;
        }
        k = q->cap - used;
        if (k > op->n)
            k = op->n;
        /* seq_cst: the claim is the change half of the not_empty pair. */
        if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, wf_ring_advance(q, pos, k),
                                                  memory_order_seq_cst, memory_order_relaxed))
            break;
    }
    bool waiting = wf_ring_move(q, pos, k, op, true);
    wf_waitlist_notify(&q->not_empty, k > INT_MAX ? INT_MAX : (int)k);
    wf_ring_done_waiting(q, waiting);
    return (ssize_t)k;
}

static ssize_t wf_ring_put(weft_queue *q, wf_queue_op *op, bool recheck)
{
    if (op->n > 1)
        return wf_ring_put_many(q, op, recheck);
    int r = weft__queue_ring_put(q, op->in[0]);
    if (r == 0)
        return 1;
    if (r != EAGAIN)
        return -r;
    /* The cell at tail is not free. If the counters show room, a get that claimed it
     * is still reading it. relaxed for tail: a stale one only shows more room (a
     * retry); head: seq_cst when re-checking, the sleeper's half of the pair. */
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&q->head,
                                         recheck ? memory_order_seq_cst : memory_order_relaxed);
    if (tail & WEFT__QUEUE_CLOSED)
        return -ESHUTDOWN;
    return wf_ring_distance(q, head & ~WEFT__QUEUE_CLOSED, tail) < q->cap ? -EINPROGRESS
                                                                          : -EAGAIN;
}

/* ---- get ---------------------------------------------------------------------- */

/* After a failed get attempt: -EINPROGRESS if a put has claimed the position but not
 * published yet, -ESHUTDOWN if shut down and nothing is left, else -EAGAIN. */
static ssize_t wf_ring_get_failed(weft_queue *q, bool recheck)
{
    /* relaxed for head (only consumers move it; a stale one shows more items: a
     * retry); tail: seq_cst when re-checking, the sleeper's half of the not_empty pair
     * (a put's claim on tail is the change), read after head for the later view. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail,
                                         recheck ? memory_order_seq_cst : memory_order_relaxed);
    if (head & WEFT__QUEUE_CLOSED)
        return -ESHUTDOWN;
    if (wf_ring_distance(q, head, tail & ~WEFT__QUEUE_CLOSED) != 0)
        return -EINPROGRESS;
    return tail & WEFT__QUEUE_CLOSED ? -ESHUTDOWN : -EAGAIN;
}

static ssize_t wf_ring_get_many(weft_queue *q, wf_queue_op *op, bool recheck)
{
    /* relaxed: picks the cell; its sequence decides. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t k;
    for (;;) {
        if (pos & WEFT__QUEUE_CLOSED)
            return -ESHUTDOWN;
        /* acquire: pairs with the publishing store of the put that filled it. */
        uint32_t seq = wf_ring_seq(wf_ring_cell(q, pos));
        int32_t delta = (int32_t)(seq - (WEFT__QUEUE_LAP2(pos) + 1));
        if (delta > 0) { /* another get took it */
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
            continue;
        }
        if (delta < 0)
            return wf_ring_get_failed(q, recheck);
        /* relaxed: the cell check above (acquire) ordered us after the put that
         * filled it, so this reads at least that put's claim. */
        uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint64_t avail = wf_ring_distance(q, pos, tail & ~WEFT__QUEUE_CLOSED);
        if (avail == 0 || avail > q->cap) { /* pos is stale */
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
            continue;
        }
        k = avail < op->n ? avail : op->n;
        /* seq_cst: the claim is the change half of the not_full pair. */
        if (atomic_compare_exchange_weak_explicit(&q->head, &pos, wf_ring_advance(q, pos, k),
                                                  memory_order_seq_cst, memory_order_relaxed))
            break;
    }
    bool waiting = wf_ring_move(q, pos, k, op, false);
    wf_waitlist_notify(&q->not_full, k > INT_MAX ? INT_MAX : (int)k);
    wf_ring_done_waiting(q, waiting);
    return (ssize_t)k;
}

static ssize_t wf_ring_get(weft_queue *q, wf_queue_op *op, bool recheck)
{
    if (op->n > 1)
        return wf_ring_get_many(q, op, recheck);
    int r = weft__queue_ring_get(q, op->out);
    if (r == 0)
        return 1;
    if (r != EAGAIN)
        return -r;
    return wf_ring_get_failed(q, recheck);
}

/* ---- the rest ----------------------------------------------------------------- */

static bool wf_ring_can_put(const weft_queue *q)
{
    /* relaxed + acquire: a hint for passing a wakeup on; the woken thread re-checks. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t seq = wf_ring_seq(wf_ring_cell(q, pos));
    return !(pos & WEFT__QUEUE_CLOSED) && seq == WEFT__QUEUE_LAP2(pos);
}

static bool wf_ring_can_get(const weft_queue *q)
{
    /* relaxed + acquire: a hint, as above. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t seq = wf_ring_seq(wf_ring_cell(q, pos));
    return !(pos & WEFT__QUEUE_CLOSED) && seq == WEFT__QUEUE_LAP2(pos) + 1;
}

static size_t wf_ring_qsize(const weft_queue *q)
{
    /* relaxed: a snapshot. head first: head only grows towards tail, so a later tail
     * can only make the distance larger, which the clamp bounds. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t n = wf_ring_distance(q, head & ~WEFT__QUEUE_CLOSED, tail & ~WEFT__QUEUE_CLOSED);
    return n > q->cap ? q->cap : (size_t)n;
}

static uint64_t wf_ring_puts(const weft_queue *q)
{
    /* seq_cst: task accounting's half of the all_done pair (see queue.c). */
    return wf_ring_linear(q, atomic_load_explicit(&q->tail, memory_order_seq_cst));
}

static uint64_t wf_ring_shutdown(weft_queue *q, bool immediate)
{
    /* seq_cst: the change half of the event count pairs; the wakeups follow
     * (queue.c). */
    uint64_t tail = atomic_fetch_or_explicit(&q->tail, WEFT__QUEUE_CLOSED, memory_order_seq_cst) &
                    ~WEFT__QUEUE_CLOSED;
    if (!immediate)
        return 0;
    uint64_t head = atomic_fetch_or_explicit(&q->head, WEFT__QUEUE_CLOSED, memory_order_seq_cst);
    if (head & WEFT__QUEUE_CLOSED)
        return 0; /* an earlier immediate shutdown drained it */
    /* Gets can no longer claim (their CAS expects an open head): [head, tail) is ours.
     * Each cell is claimed by a put that will publish it. */
    uint64_t n = wf_ring_distance(q, head, tail);
    for (uint64_t pos = head; pos != tail; pos = wf_ring_advance(q, pos, 1)) {
        weft__queue_cell *c = wf_ring_cell(q, pos);
        uint32_t seq = WEFT__QUEUE_LAP2(pos) + 1;
        wf_ring_await(q, c, seq, NULL); /* weft_queue_shutdown counts itself */
        /* release: hands the cell on as a get would (nobody can claim it now). */
        wf_tsan_release(&c->seq); /* the store below, told (src/tsan.h) */
        atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
    }
    /* relaxed: only qsize reads this (it is a snapshot); no data hangs on it. */
    atomic_store_explicit(&q->head, tail | WEFT__QUEUE_CLOSED, memory_order_relaxed);
    return n;
}

static int wf_ring_init(weft_queue *q)
{
    q->cap = (uint32_t)q->maxsize;
    /* All-zero cells: sequence 0 is "free for lap 0". */
    q->cells = calloc(q->cap, sizeof *q->cells);
    return q->cells ? 0 : ENOMEM;
}

static void wf_ring_fini(weft_queue *q)
{
    free(q->cells);
}

const wf_queue_impl wf_queue_ring_impl = {
    .init = wf_ring_init,
    .fini = wf_ring_fini,
    .put = wf_ring_put,
    .get = wf_ring_get,
    .can_put = wf_ring_can_put,
    .can_get = wf_ring_can_get,
    .qsize = wf_ring_qsize,
    .puts = wf_ring_puts,
    .shutdown = wf_ring_shutdown,
};
