/* weft/waitlist.h: layouts the inline fast paths of several families embed; not
 * for direct use. The code and the protocol live in the waiting core
 * (src/waiting.h).
 *
 * weft__list: an intrusive doubly linked list, NULL-terminated at both ends so
 * that all-zero memory is an empty list.
 *
 * weft__waitlist: an event count. A FIFO list of sleepers under a weft_lock, and
 * `waiters`, how many are listed. A notifier changes the state its sleepers wait
 * for first, then reads `waiters`: only when a thread is listed does it take the
 * lock, unlist up to n sleepers and wake each one. A woken sleeper is unlisted by
 * its waker, so the next change makes no system call unless another thread has
 * gone to sleep since. */
#ifndef WEFT_WAITLIST_H
#define WEFT_WAITLIST_H

#include "lock.h"

WEFT_BEGIN_DECLS

typedef struct weft__list_node {
    struct weft__list_node *next, *prev;
} weft__list_node;

typedef struct weft__list {
    weft__list_node *first, *last; /* oldest first */
} weft__list;

typedef struct weft__waitlist {
    WEFT_ATOMIC(uint32_t) waiters; /* sleepers listed */
    weft_lock lock;                /* guards the list */
    weft__list sleepers;           /* of the waiting core's waiter records */
} weft__waitlist;

/* The notifier's slow half (src/waiting.c); not for direct use. */
WEFT_API void weft__waitlist_notify(weft__waitlist *wl, int n);

WEFT_END_DECLS

#endif
