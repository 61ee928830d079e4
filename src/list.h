/* list.h: the house's one intrusive doubly linked list.
 *
 * A node is embedded in the record it links; WF_CONTAINER gets the record back.
 * Both ends are NULL-terminated (not circular), so all-zero memory is an empty
 * list and a node that was never linked reads as unlinked after wf_list_node_init.
 * No locking: every list is guarded by its owner (a bucket lock, a registry lock). */
#ifndef WF_LIST_H
#define WF_LIST_H

#include "weft/waitlist.h"

#include <stddef.h>

typedef weft__list_node wf_list_node;
typedef weft__list wf_list;

#define WF_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline bool wf_list_empty(const wf_list *l)
{
    return l->first == NULL;
}

static inline wf_list_node *wf_list_first(const wf_list *l)
{
    return l->first;
}

static inline void wf_list_push_back(wf_list *l, wf_list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static inline void wf_list_push_front(wf_list *l, wf_list_node *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

/* Unlinks n, which must be linked in l. */
static inline void wf_list_remove(wf_list *l, wf_list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->next = n->prev = NULL;
}

/* Unlinks and returns the oldest node, or NULL. */
static inline wf_list_node *wf_list_pop_front(wf_list *l)
{
    wf_list_node *n = l->first;
    if (n)
        wf_list_remove(l, n);
    return n;
}

/* for (wf_list_node *n = ..., *next; ...): safe against removing n. */
#define WF_LIST_FOREACH(n, next, l)                                                            \
    for (wf_list_node *n = (l)->first, *next = n ? n->next : NULL; n;                          \
         n = next, next = n ? n->next : NULL)

#endif
