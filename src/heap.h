/* heap.h: the house's one binary min-heap, over an array the caller owns.
 *
 * Elements are fixed-size values (a pointer, a small struct) stored in `base`;
 * `*len` counts them. The caller grows the array (a push needs room for *len + 1)
 * and guards it (every user holds a lock around its heap). `before` is a strict
 * order: the element that must come out first is before the others; ties must be
 * broken by the caller (an arrival number) when order among equals matters.
 * `placed`, if set, is told every element's new index as it moves, so an element
 * can be removed from the middle (a cancelled timer) in O(log n).
 *
 * The functions are static inline over a `static const wf_heap_ops`, so each user
 * gets a copy specialised to its element size and order. */
#ifndef WF_HEAP_H
#define WF_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum { WF_HEAP_MAX_ELEM = 64 }; /* bytes: an element is copied through the stack */

typedef struct wf_heap_ops {
    size_t size;                                  /* bytes per element, <= WF_HEAP_MAX_ELEM */
    bool (*before)(const void *a, const void *b); /* a comes out before b */
    void (*placed)(void *elem, size_t index);     /* NULL, or told each new slot */
} wf_heap_ops;

static inline void *wf_heap_at(const wf_heap_ops *ops, void *base, size_t i)
{
    return (char *)base + i * ops->size;
}

/* Stores elem at slot i. */
static inline void wf_heap_place(const wf_heap_ops *ops, void *base, size_t i, const void *elem)
{
    void *slot = wf_heap_at(ops, base, i);
    memcpy(slot, elem, ops->size);
    if (ops->placed)
        ops->placed(slot, i);
}

/* Moves elem (which belongs at or above slot i) up from slot i to its place. */
static inline void wf_heap_sift_up(const wf_heap_ops *ops, void *base, size_t i, const void *elem)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        void *p = wf_heap_at(ops, base, parent);
        if (!ops->before(elem, p))
            break;
        wf_heap_place(ops, base, i, p);
        i = parent;
    }
    wf_heap_place(ops, base, i, elem);
}

/* Moves elem (which belongs at or below slot i) down from slot i to its place. */
static inline void wf_heap_sift_down(const wf_heap_ops *ops, void *base, size_t len, size_t i,
                                     const void *elem)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= len)
            break;
        if (child + 1 < len &&
            ops->before(wf_heap_at(ops, base, child + 1), wf_heap_at(ops, base, child)))
            child++;
        void *c = wf_heap_at(ops, base, child);
        if (!ops->before(c, elem))
            break;
        wf_heap_place(ops, base, i, c);
        i = child;
    }
    wf_heap_place(ops, base, i, elem);
}

/* Adds a copy of elem; the array must have room for *len + 1 elements. */
static inline void wf_heap_push(const wf_heap_ops *ops, void *base, size_t *len, const void *elem)
{
    wf_heap_sift_up(ops, base, (*len)++, elem);
}

/* Removes the element at slot i (0: the first out), copying it to out (if set).
 * *len must be > i. */
static inline void wf_heap_remove(const wf_heap_ops *ops, void *base, size_t *len, size_t i,
                                  void *out)
{
    unsigned char last[WF_HEAP_MAX_ELEM];
    if (out)
        memcpy(out, wf_heap_at(ops, base, i), ops->size);
    size_t n = --*len;
    if (i == n)
        return;
    memcpy(last, wf_heap_at(ops, base, n), ops->size);
    /* The former last element may belong above slot i (a removal from the middle)
     * or below it. */
    if (i > 0 && ops->before(last, wf_heap_at(ops, base, (i - 1) / 2)))
        wf_heap_sift_up(ops, base, i, last);
    else
        wf_heap_sift_down(ops, base, n, i, last);
}

/* Removes the first element out into `out`; *len must be > 0. */
static inline void wf_heap_pop(const wf_heap_ops *ops, void *base, size_t *len, void *out)
{
    wf_heap_remove(ops, base, len, 0, out);
}

#endif
