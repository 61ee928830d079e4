/* weft_cancel: the token (include/weft/cancel.h has the contract and the word's
 * states), and the waiting core's view of it (wf_cancel_watch, src/waiting.h).
 *
 * Invariant: `depth` and `parent` are written only by init / init_child, before the
 * token is shared, and read-only after; so a chain is a fixed list of at most
 * WEFT_CANCEL_MAX_DEPTH tokens, walked without locks (every walk is also bounded by
 * that depth, so even a chain made cyclic by misuse cannot hang one).
 *
 * Memory order: fire is a release RMW on the word, and a thread that sees FIRED
 * reads it with acquire, so what the firer wrote before firing (a reason, a
 * shutdown flag) is visible to a cancelled thread. */
#include "waiting.h"

int weft_cancel_init(weft_cancel *c)
{
    if (!c)
        return EINVAL;
    atomic_init(&c->word, 0);
    c->depth = 0;
    c->parent = NULL;
    return 0;
}

int weft_cancel_init_child(weft_cancel *child, const weft_cancel *parent)
{
    if (!child || !parent || parent->depth + 1 >= WEFT_CANCEL_MAX_DEPTH)
        return EINVAL;
    /* A child that is its own ancestor would make the chain a cycle. */
    const weft_cancel *a = parent;
    for (int i = 0; a && i < WEFT_CANCEL_MAX_DEPTH; i++, a = a->parent)
        if (a == child)
            return EINVAL;
    atomic_init(&child->word, 0);
    child->depth = parent->depth + 1;
    child->parent = parent;
    return 0;
}

int weft_cancel_fire(weft_cancel *c)
{
    if (!c)
        return EINVAL;
    /* release: publishes the firer's writes to whoever sees FIRED (acquire). */
    uint32_t old = atomic_fetch_or_explicit(&c->word, WEFT_CANCEL_FIRED, memory_order_release);
    /* Lost wakeup avoided: the word changed (FIRED) before this wake, and a sleeper
     * sleeps only while the word still reads the live value it loaded
     * (wf_cancel_watch): either its sleep sees FIRED, or this wake finds it. Only
     * the first fire wakes: anyone who sleeps later sees FIRED and does not. */
    if (!(old & WEFT_CANCEL_FIRED))
        wf_wake(&c->word, INT_MAX);
    return 0;
}

bool weft_cancel_fired(const weft_cancel *c)
{
    for (int i = 0; c && i < WEFT_CANCEL_MAX_DEPTH; i++, c = c->parent)
        /* acquire: pairs with fire's release (see the top). */
        if (atomic_load_explicit(&c->word, memory_order_acquire) & WEFT_CANCEL_FIRED)
            return true;
    return false;
}

int wf_cancel_watch(const weft_cancel *c, const _Atomic uint32_t **words, uint32_t *expected,
                    int room)
{
    int n = 0;
    for (int i = 0; c && i < WEFT_CANCEL_MAX_DEPTH; i++, c = c->parent) {
        /* relaxed: only the value to sleep on; whoever acts on FIRED re-reads it
         * with acquire (weft_cancel_fired). */
        uint32_t v = atomic_load_explicit(&c->word, memory_order_relaxed);
        if (v & WEFT_CANCEL_FIRED)
            return -ECANCELED;
        if (n == room)
            return -EINVAL;
        words[n] = &c->word;
        expected[n] = v;
        n++;
    }
    return n;
}

int wf_cancel_chain_length(const weft_cancel *c)
{
    int n = 0;
    for (; c && n < WEFT_CANCEL_MAX_DEPTH; c = c->parent)
        n++;
    return n;
}
