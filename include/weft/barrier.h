/* weft/barrier.h: weft_barrier, Python's threading.Barrier.
 *
 * `parties` threads meet: each calls weft_barrier_wait, and all return together
 * once the last of them has arrived, each with a distinct index 0..parties-1 (the
 * order of arrival; the last arrival gets parties-1). The optional action runs
 * exactly once per cycle, in the last arriving thread, before any is released;
 * if it fails (returns non-zero) the barrier breaks. It may abort or reset the
 * barrier, but a wait on it returns EDEADLK (it could only wait for itself). The
 * barrier is reusable: cycle after cycle, and a fast thread that enters the next
 * cycle never disturbs the slow leavers of the previous one (a generation counter
 * tells them apart).
 *
 * Broken barrier: a waiter's timeout, a failing action or weft_barrier_abort
 * breaks it; its current waiters and every later arrival get EPIPE (the waiter
 * that timed out gets ETIMEDOUT) until weft_barrier_reset. A cycle whose last
 * party arrived is complete: its waiters return 0 even if an abort, a reset or a
 * waiter's deadline comes while the action runs.
 *
 * No destroy call is needed; weft_barrier_init (or WEFT_BARRIER_INIT) sets it up.
 */
#ifndef WEFT_BARRIER_H
#define WEFT_BARRIER_H

#include "common.h"

WEFT_BEGIN_DECLS

/* The barrier word. Layout: COUNT (bits 0-15), BROKEN, RESETTING, SLEEPERS, and
 * the generation (the top 13 bits, counting completed cycles, wrapping).
 * State table, for generation g and p parties:
 *
 *   COUNT  BROKEN RESETTING  meaning
 *   c < p  0      0          filling: c threads wait in cycle g
 *   p      0/1    0          completing: the last party arrived and runs the
 *                            action; it then starts generation g+1 with COUNT 0
 *                            (BROKEN here is an abort during the action: it
 *                            carries over, so g+1 starts broken)
 *   c < p  1      0          broken: c waiters of cycle g still have to leave
 *                            (with EPIPE); arrivals fail at once with EPIPE
 *   c < p  1      1          broken, reset pending: when the last of the c
 *                            leavers goes, generation g+1 starts, fresh;
 *                            arrivals wait for that
 *
 * SLEEPERS (any state): a thread may sleep on the word. Whoever makes a change
 * sleepers wait for (a new generation, a break) clears it and wakes them all.
 * Waiters of cycle g know they were released by the generation moving on, and
 * never look at COUNT again. */
#define WEFT_BARRIER_COUNT_MASK ((1u << 16) - 1u)
#define WEFT_BARRIER_BROKEN (1u << 16)
#define WEFT_BARRIER_RESETTING (1u << 17)
#define WEFT_BARRIER_SLEEPERS (1u << 18)
#define WEFT_BARRIER_GEN_SHIFT 19
#define WEFT_BARRIER_GEN_ONE (1u << WEFT_BARRIER_GEN_SHIFT)
#define WEFT_BARRIER_GEN_MASK (~(WEFT_BARRIER_GEN_ONE - 1u))

/* The most parties a barrier can have (COUNT must hold `parties`). */
#define WEFT_BARRIER_MAX_PARTIES WEFT_BARRIER_COUNT_MASK

/* Passed as timeout_ns to weft_barrier_wait: use the barrier's default timeout.
 * (Any other negative value is WEFT_FOREVER.) */
#define WEFT_BARRIER_DEFAULT INT64_MIN

typedef struct weft_barrier {
    WEFT_ATOMIC(uint32_t) word;   /* the state above */
    uint32_t parties;             /* set by init, then read-only */
    int (*action)(void *arg);     /* run once per cycle; non-zero breaks the barrier */
    void *arg;
    int64_t default_timeout_ns;   /* for WEFT_BARRIER_DEFAULT; negative: forever */
} weft_barrier;

/* A barrier of `parties` threads with no action and no default timeout. */
#define WEFT_BARRIER_INIT(parties) {0, (parties), NULL, NULL, WEFT_FOREVER}

/* Set up a barrier for `parties` threads (1 .. WEFT_BARRIER_MAX_PARTIES), with an
 * optional action (NULL for none) run with `arg` once per cycle, and the timeout
 * weft_barrier_wait uses when passed WEFT_BARRIER_DEFAULT (negative: forever).
 * Not to be called while threads use the barrier. Never blocks. Returns 0, or
 * EINVAL (b NULL, parties out of range; nothing changes). */
WEFT_API int weft_barrier_init(weft_barrier *b, uint32_t parties, int (*action)(void *arg),
                               void *arg, int64_t default_timeout_ns);

/* Wait until `parties` threads have called this, or the barrier breaks, or the
 * timeout passes (WEFT_FOREVER: no limit; WEFT_BARRIER_DEFAULT: the barrier's
 * default). On return 0, *index (if index is not NULL) is this thread's index
 * in the cycle. Returns 0; ETIMEDOUT when this thread's timeout passed first (it
 * breaks the barrier); EPIPE when the barrier is or becomes broken (abort, reset,
 * another waiter's timeout, the action failed, including in this thread);
 * EDEADLK at once, changing nothing, when called from inside b's own action
 * (which runs in the last arrival, so the wait could only wait for itself; also
 * from an action of another barrier run inside it); EINVAL if b is NULL or was
 * never set up. A thread arriving while the previous
 * cycle's action runs, or while a reset is pending, waits for it first; if its
 * timeout passes then, it returns ETIMEDOUT without breaking the barrier. */
WEFT_API int weft_barrier_wait(weft_barrier *b, int64_t timeout_ns, uint32_t *index);

/* As weft_barrier_wait with an absolute deadline; ECANCELED where a timeout would
 * give ETIMEDOUT, once d's token (weft_deadline_with_cancel) or an ancestor of it
 * has fired: the token is a deadline that passed, so the waiter breaks the
 * barrier (its other waiters get EPIPE) as its timeout would, and an arrival under
 * a fired token breaks it at once unless it is the last of its cycle (then the
 * cycle completes: 0). An arrival still waiting to join (the previous cycle's
 * action running, a reset pending) leaves with ECANCELED without breaking it. */
WEFT_API int weft_barrier_wait_until(weft_barrier *b, weft_deadline d, uint32_t *index);

/* Python's reset(): waiters of the current cycle return EPIPE, and the barrier is
 * usable again (once they have left; arrivals meanwhile wait). Clears a break.
 * While the last party runs the action, only clears a pending abort. Never
 * blocks. Returns 0, or EINVAL (b NULL or never set up). */
WEFT_API int weft_barrier_reset(weft_barrier *b);

/* Python's abort(): break the barrier until weft_barrier_reset; its waiters and
 * every later arrival get EPIPE. While the last party runs the action, that cycle
 * still completes and the next one starts broken. Never blocks. Returns 0, or
 * EINVAL (b NULL or never set up). */
WEFT_API int weft_barrier_abort(weft_barrier *b);

/* How many threads must call weft_barrier_wait to complete a cycle (0 for NULL).
 * Never blocks. */
WEFT_INLINE uint32_t weft_barrier_parties(const weft_barrier *b);

/* How many threads wait in the current cycle (a snapshot; 0 while it is broken
 * or completing, and for NULL). Never blocks. */
WEFT_INLINE uint32_t weft_barrier_n_waiting(const weft_barrier *b);

/* True while the barrier is broken (a snapshot; false once a reset is pending,
 * and for NULL). Never blocks. */
WEFT_INLINE bool weft_barrier_broken(const weft_barrier *b);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE uint32_t weft_barrier_parties(const weft_barrier *b)
{
    return b ? b->parties : 0;
}

WEFT_INLINE uint32_t weft_barrier_n_waiting(const weft_barrier *b)
{
    if (!b)
        return 0;
    /* relaxed: a snapshot that orders nothing. */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    uint32_t count = w & WEFT_BARRIER_COUNT_MASK;
    return (w & WEFT_BARRIER_BROKEN) || count >= b->parties ? 0 : count;
}

WEFT_INLINE bool weft_barrier_broken(const weft_barrier *b)
{
    if (!b)
        return false;
    /* relaxed: a snapshot that orders nothing. */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    return (w & (WEFT_BARRIER_BROKEN | WEFT_BARRIER_RESETTING)) == WEFT_BARRIER_BROKEN;
}
#endif

WEFT_END_DECLS

#endif
