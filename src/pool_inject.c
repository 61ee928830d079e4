/* A pool's injection queue: where the tasks of threads outside the pool wait until
 * a worker takes them (a worker's own submits go to its deque).
 *
 * Each shard is an unbounded queue of task pointers in linked segments of
 * WF_SEG_SLOTS (crossbeam's SegQueue): a producer claims a position with a CAS on
 * the tail, then writes its slot; one consumer at a time, under the shard's lock,
 * takes slots in order at the head, in batches that the pool moves to the taker's
 * deque, where other workers steal them. A linked list of the tasks themselves
 * would cost the consumer one dependent cache miss per task (each task written by
 * another core); slots are read in order, and the tasks of a batch are prefetched
 * so that their misses overlap. There are WF_INJECT_SHARDS shards, each
 * submitting thread pushing to one (FIFO per submitter), so that several
 * submitters do not contend on one tail line.
 *
 * Layout and invariant: position i is slot i % WF_LAP of segment i / WF_LAP, so a
 * lap of WF_LAP positions has one position more than a segment has slots; a tail
 * at that extra position (slot WF_SEG_SLOTS) means the producer that claimed the
 * segment's last slot is installing the next segment (it made it before its
 * claim, so the install never fails). head <= tail; the positions in [head, tail)
 * are claimed, each slot NULL until its producer writes it, and written once. The
 * consumer frees nothing while producers may still write: a segment whose slots
 * were all taken is kept as the spare for the next lap, or freed.
 *
 * Under ThreadSanitizer the queue is the pool's bookkeeping, called only in the
 * pool's TSan-quiet section (src/pool.c): its tail, slots and shard locks would
 * order a taker after everything every producer of its batch did. A task's own edge
 * is told on its future. */
#include "pool_inject.h"
#include "waiting.h"

#include <stdlib.h>

/* ---- segments ------------------------------------------------------------------- */

/* A cleared segment: the spare one, or a new one. */
static struct wf_seg *wf_seg_new(struct wf_inject *q)
{
    /* acquire: the consumer that parked it there is done with it. */
    struct wf_seg *seg = atomic_exchange_explicit(&q->spare_seg, NULL, memory_order_acquire);
    if (!seg && !(seg = aligned_alloc(WF_CACHE_LINE, sizeof *seg)))
        return NULL;
    for (int i = 0; i < WF_SEG_SLOTS; i++)
        atomic_init(&seg->slots[i], NULL);
    atomic_init(&seg->next, NULL);
    return seg;
}

static void wf_seg_recycle(struct wf_inject *q, struct wf_seg *seg)
{
    /* acq_rel: hands seg over to the next wf_seg_new (release) and takes over the
     * one it replaces (acquire) to free it. */
    free(atomic_exchange_explicit(&q->spare_seg, seg, memory_order_acq_rel));
}

int wf_inject_init(struct wf_inject shards[WF_INJECT_SHARDS])
{
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        struct wf_inject *q = &shards[i];
        atomic_init(&q->spare_seg, NULL);
        struct wf_seg *seg = wf_seg_new(q);
        if (!seg) {
            while (i-- > 0)
                free(shards[i].head_seg);
            return ENOMEM;
        }
        atomic_init(&q->tail, 0);
        atomic_init(&q->tail_seg, seg);
        atomic_init(&q->head, 0);
        q->head_seg = seg;
        atomic_init(&q->lock.word, 0);
    }
    return 0;
}

void wf_inject_destroy(struct wf_inject shards[WF_INJECT_SHARDS])
{
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        for (struct wf_seg *seg = shards[i].head_seg, *next; seg; seg = next) {
            /* relaxed: no thread uses the queue any more. */
            next = atomic_load_explicit(&seg->next, memory_order_relaxed);
            free(seg);
        }
        /* relaxed: as above. */
        free(atomic_load_explicit(&shards[i].spare_seg, memory_order_relaxed));
    }
}

/* ---- producers ------------------------------------------------------------------- */

_Thread_local uint32_t wf_inject_shard_plus_one;

void wf_inject_pick_shard(void)
{
    static _Atomic uint32_t next_shard;
    /* relaxed: only a spread of numbers. */
    wf_inject_shard_plus_one =
        atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % WF_INJECT_SHARDS + 1;
}

/* The whole push (the inline one in the header is its common case): retries lost
 * claims, waits out a segment being installed, installs the next segment. */
int wf_inject_push_slow(struct wf_inject *q, weft_future *f)
{
    struct wf_seg *fresh = NULL;
    wf_spinner spin = wf_spinner_start(WF_SPIN_PEER);
    for (;;) {
        /* acquire: pairs with the release store of a new lap's position (below), so
         * tail_seg is that lap's segment, or a later one (then the CAS fails). */
        uint64_t pos = atomic_load_explicit(&q->tail, memory_order_acquire);
        uint32_t slot = (uint32_t)(pos % WF_LAP);
        if (slot == WF_SEG_SLOTS) {
            wf_spin(&spin); /* a producer is installing the next segment */
            continue;
        }
        /* acquire: the segment's initialisation by the producer that installed it. */
        struct wf_seg *seg = atomic_load_explicit(&q->tail_seg, memory_order_acquire);
        if (slot == WF_SEG_SLOTS - 1 && !fresh) {
            /* We may take the last slot: have the next segment ready first. */
            if (!(fresh = wf_seg_new(q)))
                return ENOMEM;
            continue;
        }
        /* seq_cst: claims position pos; the first half of the submit Dekker
         * (wf_pool_notify reads next) and of the submit/shutdown one. */
        if (!atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                   memory_order_seq_cst, memory_order_relaxed))
            continue;
        if (slot == WF_SEG_SLOTS - 1) {
            /* release (all three): the consumer reaches `fresh` through seg->next
             * after our slot below; producers of the next lap through the tail. */
            atomic_store_explicit(&seg->next, fresh, memory_order_release);
            atomic_store_explicit(&q->tail_seg, fresh, memory_order_release);
            atomic_store_explicit(&q->tail, pos + 2, memory_order_release);
            fresh = NULL;
        }
        /* release: the consumer's acquire load of the slot sees the task. */
        atomic_store_explicit(&seg->slots[slot], f, memory_order_release);
        if (fresh)
            wf_seg_recycle(q, fresh);
        /* Producers that outrun the workers only grow the queue (and the heap): past
         * WF_BACKLOG, give the core to a worker now and then. Looked at once a lap
         * (relaxed: a hint), so a push does not pull the head's line each time. */
        if (slot == 0 &&
            pos - atomic_load_explicit(&q->head, memory_order_relaxed) > WF_BACKLOG)
            sched_yield();
        return 0;
    }
}

/* ---- the consumer ---------------------------------------------------------------- */

/* Under q->lock: the oldest task, or NULL. *busy (busy non-NULL) is set when its
 * producer has claimed the position but not yet written the slot (not empty, only
 * not ready); a worker's take passes NULL, as it retries anyway.
 * The tail is read only when the slot is empty: every push writes the tail's line,
 * and a consumer reading it at each take would pull it away from the producers. */
static weft_future *wf_inject_pop(struct wf_inject *q, bool *busy)
{
    /* relaxed: the head is ours under the lock. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t slot = (uint32_t)(pos % WF_LAP);
    struct wf_seg *seg = q->head_seg;
    /* acquire: pairs with the producer's release store of the slot. */
    weft_future *f = atomic_load_explicit(&seg->slots[slot], memory_order_acquire);
    if (!f) {
        /* relaxed: only whether the position is claimed (the slot carries the task). */
        if (busy && pos != atomic_load_explicit(&q->tail, memory_order_relaxed))
            *busy = true;
        return NULL;
    }
    if (slot == WF_SEG_SLOTS - 1) {
        /* relaxed: written before the slot we acquired above. */
        q->head_seg = atomic_load_explicit(&seg->next, memory_order_relaxed);
        /* relaxed: readers outside the lock only compare it with the tail, and a
         * stale head only makes the queue look non-empty. */
        atomic_store_explicit(&q->head, pos + 2, memory_order_relaxed);
        wf_seg_recycle(q, seg); /* every slot of it was written and taken */
    } else {
        atomic_store_explicit(&q->head, pos + 1, memory_order_relaxed); /* as above */
    }
    return f;
}

int wf_inject_take(struct wf_inject *q, weft_future **out, int max)
{
    if (!weft_lock_try_acquire(&q->lock))
        return 0; /* another worker is taking: steal from it instead */
    int n = 0;
    while (n < max) {
        weft_future *f = wf_inject_pop(q, NULL);
        if (!f)
            break;
        /* The misses of the batch overlap; the first is written first thing. */
        __builtin_prefetch(f, 1);
        out[n++] = f;
    }
    weft_lock_release(&q->lock);
    return n;
}

weft_future *wf_inject_drain_one(struct wf_inject *q)
{
    wf_spinner spin = wf_spinner_start(WF_SPIN_PEER);
    for (;;) {
        /* The holder is a worker taking a batch, running: wait it out without
         * sleeping (the pool's drains run in its TSan-quiet section, src/pool.c). */
        while (!weft_lock_try_acquire(&q->lock))
            wf_spin(&spin);
        bool busy = false;
        weft_future *f = wf_inject_pop(q, &busy);
        weft_lock_release(&q->lock); /* not held while the caller runs the task */
        if (f || !busy)
            return f;
        wf_spin(&spin); /* a producer between its claim and its slot: it is running */
    }
}

bool wf_inject_nonempty(struct wf_inject shards[WF_INJECT_SHARDS])
{
    /* seq_cst: the second half of the parking Dekker and of the exit one (a claimed
     * position counts even before its slot is written). relaxed for the head: a
     * stale (smaller) one only makes the queue look non-empty, and one read after
     * the tail may have moved past it, which also reads non-empty. */
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        uint64_t tail = atomic_load_explicit(&shards[i].tail, memory_order_seq_cst);
        if (tail != atomic_load_explicit(&shards[i].head, memory_order_relaxed))
            return true;
    }
    return false;
}
