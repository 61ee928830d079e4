/* weft/cancel.h: weft_cancel, a cancellation token for any blocking call.
 *
 * A token is fired once, by any thread (weft_cancel_fire), and then stays fired.
 * It rides on a deadline (weft_deadline_with_cancel), so every `_until` call of
 * every family takes one with no new blocking function: once the token fires, a
 * call waiting under that deadline returns ECANCELED, having consumed nothing (no
 * item taken, no permit, no lock acquired; a barrier is broken, as a timeout breaks
 * it). weft_wait_any (weft/select.h) also takes a token as one of its sources.
 *
 * When the token is looked at: whenever a call would block, before it spins or
 * sleeps, and at each wakeup. A call that can complete without blocking completes,
 * fired token or not (a lock that is free is taken, an item that is there is
 * returned), as a call whose deadline has passed does. A token that fires while
 * the call sleeps wakes it at once (it sleeps on the token's word too).
 *
 * A tree of tokens: weft_cancel_init_child makes a token that counts as fired
 * once it or any ancestor has fired (cancel a request, and every sub-request made
 * under it is cancelled too). A wait on a child watches the word of the child and
 * of each ancestor, so chains are short: at most WEFT_CANCEL_MAX_DEPTH tokens.
 *
 * Lifetime: a child points to its parent, and a parent knows nothing of its
 * children. A child may therefore go away at any time (once no call uses it)
 * without leaving its parent a dangling pointer, and nothing needs to be
 * unregistered; but a parent must outlive all its children.
 *
 * Layout: 16 bytes; all-zero memory (WEFT_CANCEL_INIT) is a live root token and no
 * destroy call is needed. The word is 0 while the token is live and FIRED once it
 * has fired (final). Waiting threads sleep on the words of the token and its
 * ancestors without writing them (so a wait takes a `const weft_cancel *`), and the
 * one fire that sets FIRED wakes them all: one system call per token's life. */
#ifndef WEFT_CANCEL_H
#define WEFT_CANCEL_H

#include "common.h"

WEFT_BEGIN_DECLS

#define WEFT_CANCEL_FIRED 1u /* word: the token has fired */

/* The longest chain a token may have: itself and its ancestors. */
#define WEFT_CANCEL_MAX_DEPTH 8

typedef struct weft_cancel {
    WEFT_ATOMIC(uint32_t) word;       /* 0, or FIRED */
    uint32_t depth;                   /* ancestors: 0 for a root; set by init_child */
    const struct weft_cancel *parent; /* NULL for a root; set by init_child */
} weft_cancel;

#define WEFT_CANCEL_INIT {0, 0, NULL}

/* Make *c a live root token. Not thread-safe: nobody may use *c meanwhile, and it
 * must have no children. Never blocks. Returns 0, or EINVAL if c is NULL. */
WEFT_API int weft_cancel_init(weft_cancel *c);

/* Make *child a live token that also fires when `parent` (or an ancestor of it)
 * fires; if one already has, child counts as fired at once. `parent` must outlive
 * child. Not thread-safe for child (nobody may use it meanwhile, and it must have
 * no children of its own). Never blocks. Returns 0, or EINVAL (nothing changes) if
 * child or parent is NULL, if child is parent or one of its ancestors, or if the
 * chain would be longer than WEFT_CANCEL_MAX_DEPTH. */
WEFT_API int weft_cancel_init_child(weft_cancel *child, const weft_cancel *parent);

/* Fire the token: every call waiting under it, or under any of its descendants,
 * gives up with ECANCELED (weft_wait_any: returns the index of a cancel source, or
 * -ECANCELED for the deadline's token). Idempotent; never blocks. Returns 0, or EINVAL if c is NULL. What the
 * firing thread wrote before is visible to a thread that sees the token fired. The
 * first fire makes one system call (a wake of the token's word), later ones none. */
WEFT_API int weft_cancel_fire(weft_cancel *c);

/* True once c or one of its ancestors has fired (false for NULL). Never blocks. */
WEFT_API bool weft_cancel_fired(const weft_cancel *c);

WEFT_END_DECLS

#endif
