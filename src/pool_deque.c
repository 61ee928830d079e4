/* A pool worker's task deque: Chase and Lev's work-stealing deque ("Dynamic
 * Circular Work-Stealing Deque", SPAA 2005) in a fixed array, with the C11 orders
 * of Le, Pop, Cohen and Zappa Nardelli ("Correct and Efficient Work-Stealing for
 * Weak Memory Models", PPoPP 2013). Each of the paper's seq_cst fences is a
 * seq_cst store, load or RMW here, which TSan understands.
 *
 * Layout (src/pool_deque.h): top and bottom, each on its own cache line, then the
 * slots. The owner pushes and takes at the bottom, thieves take the oldest at the
 * top. Invariant: top and bottom only grow (an int64_t never wraps in practice);
 * indices [top, bottom) hold tasks, each at slots[index % WF_DEQUE_SIZE]; the
 * owner alone writes bottom and the slots, and reuses a slot only once top has
 * passed it. The one task left (top == bottom - 1) is raced for by the owner and
 * the thieves with a CAS on top, so each task is taken exactly once.
 *
 * The deque is also half of the pool's Dekker pairs (src/pool.c): a push's store
 * of bottom is seq_cst, and so are the loads of wf_deque_nonempty.
 *
 * Under ThreadSanitizer the deque is the pool's bookkeeping: every call runs in the
 * pool's TSan-quiet section (src/pool.c), since its top and bottom would order a
 * thief after everything the owner did, not only the task it takes. A task's own
 * edge is told on its future. */
#include "pool_deque.h"

void wf_deque_init(struct wf_deque *q)
{
    atomic_init(&q->top, 0);
    atomic_init(&q->bottom, 0);
    for (int k = 0; k < WF_DEQUE_SIZE; k++)
        atomic_init(&q->slots[k], NULL);
}

/* ---- the owner's side (push and take are inline in the header) -------------------- */

void wf_deque_push_batch(struct wf_deque *q, weft_future *const *fs, int n)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed); /* ours alone */
    for (int i = 0; i < n; i++)
        /* relaxed: published by the store of bottom below. */
        atomic_store_explicit(&q->slots[(b + n - 1 - i) & (WF_DEQUE_SIZE - 1)], fs[i],
                              memory_order_relaxed);
    /* seq_cst: as in wf_deque_push. */
    atomic_store_explicit(&q->bottom, b + n, memory_order_seq_cst);
}


/* ---- the thieves' side ------------------------------------------------------------ */

weft_future *wf_deque_steal(struct wf_deque *q, bool *lost)
{
    /* seq_cst loads: the paper's acquire loads with the fence between them. The
     * load of bottom acquires the owner's push (slot and task). */
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_seq_cst);
    if (t >= b)
        return NULL;
    /* relaxed: the slot may be stale only if top moved, and then the CAS fails. */
    weft_future *f =
        atomic_load_explicit(&q->slots[t & (WF_DEQUE_SIZE - 1)], memory_order_relaxed);
    /* seq_cst: as in the paper; it decides between thieves and the owner's last take. */
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        *lost = true;
        return NULL;
    }
    return f;
}

bool wf_deque_nonempty(struct wf_deque *q)
{
    /* seq_cst: the second half of the pool's parking and exit Dekkers. */
    return atomic_load_explicit(&q->bottom, memory_order_seq_cst) >
           atomic_load_explicit(&q->top, memory_order_seq_cst);
}
