/* weft_simplequeue, Python's queue.SimpleQueue: an unbounded FIFO queue without task
 * tracking or shutdown. It is the unbounded weft_queue's linked implementation
 * (queue_linked.c: liburcu's wait-free queue, per-thread node recycling) and blocking
 * loop, with the API cut down to what SimpleQueue has; its state tables are there. */
#include "queue_internal.h"

struct weft_simplequeue {
    weft_queue q;
};

int weft_simplequeue_create(weft_simplequeue **q)
{
    if (!q)
        return EINVAL;
    int err;
    weft_queue *made = wf_queue_alloc(sizeof(weft_simplequeue), 0, WEFT_FIFO, &err);
    if (made) /* only on success: a failed create leaves *q as it was */
        *q = WF_CONTAINER(made, weft_simplequeue, q);
    return err;
}

int weft_simplequeue_destroy(weft_simplequeue *q)
{
    if (!q)
        return EINVAL;
    if (wf_queue_busy(&q->q))
        return EBUSY;
    wf_queue_free(&q->q);
    return 0;
}

int weft_simplequeue_put(weft_simplequeue *q, void *item)
{
    if (!q)
        return EINVAL;
    wf_queue_op op = {.in = &item, .n = 1};
    /* Unbounded and never shut down: the only failure is ENOMEM. */
    wf_tsan_release(&q->q.tail); /* as a weft_queue's put (src/queue.c) */
    ssize_t r = wf_linked_put(&q->q, &op, false);
    return r > 0 ? 0 : (int)-r;
}

static int wf_simplequeue_get(weft_simplequeue *q, void **item, weft_deadline d, bool nowait)
{
    if (!q || !item)
        return EINVAL;
    wf_queue_op op = {.out = item, .n = 1};
    ssize_t r = wf_queue_block(&q->q, wf_linked_get, &op, &q->q.not_empty, wf_linked_can_get, d,
                               nowait);
    if (r > 0)
        wf_tsan_acquire(&q->q.tail);
    return r > 0 ? 0 : (int)-r;
}

int weft_simplequeue_get(weft_simplequeue *q, void **item, int64_t timeout_ns)
{
    return wf_simplequeue_get(q, item, weft_deadline_in(timeout_ns), timeout_ns == 0);
}

int weft_simplequeue_get_until(weft_simplequeue *q, void **item, weft_deadline d)
{
    return wf_simplequeue_get(q, item, d, false);
}

size_t weft_simplequeue_qsize(const weft_simplequeue *q)
{
    return q ? weft_queue_qsize(&q->q) : 0;
}

bool weft_simplequeue_empty(const weft_simplequeue *q)
{
    return weft_simplequeue_qsize(q) == 0;
}
