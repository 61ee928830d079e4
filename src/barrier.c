/* weft_barrier: Python's Barrier, written once over the waiting core.
 *
 * Everything lives in one 32-bit word (state table in include/weft/barrier.h):
 * the arrival count of the current cycle, its generation, and the BROKEN,
 * RESETTING and SLEEPERS flags. One word, so that an arrival reads the
 * generation it joins and counts itself in the same compare-and-swap.
 *
 * Fast path: an arrival is one CAS; the last one runs the action and starts the
 * next generation with one more. Waiters spin for a moment (unless the parties
 * outnumber the CPUs), yield a few times (the spin policy, wf_barrier_spinner),
 * then sleep on the word with SLEEPERS set; the last arrival makes a system call
 * only if somebody sleeps.
 *
 * Generations: a waiter remembers the generation it joined and returns 0 as soon
 * as the word shows another one; it never reads the count again. So a fast
 * thread already counted into cycle g+1 cannot disturb a slow leaver of cycle g.
 * The generation only moves on when cycle g completed (its waiters return 0) or
 * when a reset found cycle g's broken waiters all gone (so nobody can mistake a
 * reset for a completion). A broken cycle keeps its generation, and its COUNT
 * becomes the number of waiters still to leave (Python's drain on reset).
 *
 * The 13-bit generation wraps after 8192 cycles; a waiter only compares it for
 * equality while it is counted in its own cycle, which cannot be overtaken.
 *
 * Cancellation (weft/cancel.h): a token is a deadline that may pass early, so a
 * waiter whose token fires breaks the barrier as its timeout would (Python's rule),
 * and an arrival under a fired token that is not the last of its cycle joins and
 * breaks it at once, without spinning (the last one completes the cycle). The
 * public entry says ECANCELED where it would say ETIMEDOUT. */
#include "os.h"
#include "waiting.h"

extern inline uint32_t weft_barrier_parties(const weft_barrier *b);
extern inline uint32_t weft_barrier_n_waiting(const weft_barrier *b);
extern inline bool weft_barrier_broken(const weft_barrier *b);

/* The spin policy of one wait. Spinning only pays while every party can be running
 * at once: with more parties than CPUs, a spinner holds a CPU the missing party
 * needs, so it only yields. Both yield a few times before sleeping: a yield hands
 * the CPU to a party that has yet to arrive, and when the cycle completes meanwhile
 * nobody pays for a sleep and a wake (8 parties on 2 CPUs: a cycle in about 1 us
 * instead of 5; BENCHMARKS.md). Bounded, so a long wait still sleeps. */
static wf_spinner wf_barrier_spinner(const weft_barrier *b)
{
    return wf_spinner_start(b->parties <= (uint32_t)wf_os_cpu_count() ? WF_SPIN_YIELDING
                                                                       : WF_SPIN_YIELD_ONLY);
}

/* The barriers whose action this thread is running, innermost first (frames on
 * its own stack). An action runs in the last arrival of its cycle, so its wait on
 * its own barrier could only ever wait for itself. */
struct wf_barrier_frame {
    const weft_barrier *barrier;
    struct wf_barrier_frame *outer;
};

/* initial-exec: one %fs-relative load on every wait. */
static _Thread_local struct wf_barrier_frame *wf_barrier_acting
    __attribute__((tls_model("initial-exec")));

static bool wf_barrier_acting_on(const weft_barrier *b)
{
    for (const struct wf_barrier_frame *f = wf_barrier_acting; f; f = f->outer)
        if (f->barrier == b)
            return true;
    return false;
}

#define WF_COUNT(w) ((w) & WEFT_BARRIER_COUNT_MASK)
#define WF_GEN(w) ((w) & WEFT_BARRIER_GEN_MASK)

/* Wakes every sleeper if the change from `old` to `now` cleared SLEEPERS. */
static void wf_barrier_wake(weft_barrier *b, uint32_t old, uint32_t now)
{
    if ((old & WEFT_BARRIER_SLEEPERS) && !(now & WEFT_BARRIER_SLEEPERS))
        wf_wake(&b->word, INT_MAX);
}

/* One step of waiting for the word to differ from *w, the caller's last load of
 * it: a step of the spin policy while it lasts, else a sleep. On return *w holds a
 * fresh acquire load of the word (what a waiter needs: a new generation publishes
 * the cycle's work; an arrival only needs the value for its CAS). Returns
 * ETIMEDOUT once d has passed, else 0 (the caller looks at *w again). */
static int wf_barrier_wait_change(weft_barrier *b, uint32_t *w, weft_deadline d,
                                  wf_spinner *spin)
{
    /* A fired token does not spin: the sleep below returns at once. */
    if (!wf_cancelled(d) && wf_spin(spin)) {
        /* acquire: what a waiter needs (see above). */
        *w = atomic_load_explicit(&b->word, memory_order_acquire);
        return 0;
    }
    /* Lost wakeup avoided: every change a sleeper waits for (a new generation, a
     * break, the end of a reset) clears SLEEPERS before it wakes, so the word no
     * longer reads *w with SLEEPERS set: either the sleep sees that, or the wake
     * finds us. */
    return wf_sleep_flagged(&b->word, w, WEFT_BARRIER_SLEEPERS, d);
}

/* A waiter leaves its broken cycle (the word read `w`; it is counted in COUNT).
 * The last to leave a cycle with a reset pending starts the next generation. */
static int wf_barrier_leave(weft_barrier *b, uint32_t w)
{
    for (;;) {
        uint32_t next = w - 1; /* COUNT >= 1: we are counted */
        if ((w & WEFT_BARRIER_RESETTING) && WF_COUNT(next) == 0)
            next = WF_GEN(w) + WEFT_BARRIER_GEN_ONE; /* fresh: COUNT 0, no flags */
        /* relaxed: a broken barrier promises no ordering. */
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            wf_barrier_wake(b, w, next);
            return EPIPE;
        }
    }
}

static int wf_barrier_await(weft_barrier *b, uint32_t gen, weft_deadline d);

/* This waiter's deadline passed in cycle `gen`: break the barrier, unless the
 * cycle completed, is completing, or broke meanwhile. */
static int wf_barrier_timeout(weft_barrier *b, uint32_t gen)
{
    /* acquire: a new generation publishes the cycle's work (we return 0). */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    for (;;) {
        if (WF_GEN(w) != gen)
            return 0;
        if (WF_COUNT(w) == b->parties) /* the last arrived: complete, whatever our deadline */
            return wf_barrier_await(b, gen, WEFT_DEADLINE_NEVER);
        if (w & WEFT_BARRIER_BROKEN)
            return wf_barrier_leave(b, w);
        /* Break it, leaving the cycle (COUNT - 1) as we go. acquire: on failure
         * we may read a new generation, as above (breaking needs no order). */
        uint32_t next = ((w - 1) | WEFT_BARRIER_BROKEN) & ~WEFT_BARRIER_SLEEPERS;
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acquire,
                                                  memory_order_acquire)) {
            wf_barrier_wake(b, w, next);
            return ETIMEDOUT;
        }
    }
}

/* Wait, counted in cycle `gen`, until it completes (0) or breaks (EPIPE), or d
 * passes (ETIMEDOUT, breaking it). */
static int wf_barrier_await(weft_barrier *b, uint32_t gen, weft_deadline d)
{
    wf_spinner spin = wf_barrier_spinner(b);
    /* acquire: the new generation was stored with release by the last arrival,
     * after it had collected every party's work and run the action. (The loads in
     * wf_barrier_wait_change are acquire for the same reason.) */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    for (;;) {
        if (WF_GEN(w) != gen)
            return 0;
        if ((w & WEFT_BARRIER_BROKEN) && WF_COUNT(w) < b->parties)
            return wf_barrier_leave(b, w);
        if (wf_barrier_wait_change(b, &w, d, &spin) == ETIMEDOUT)
            return wf_barrier_timeout(b, gen);
    }
}

/* The last arrival (the word now reads `w`, COUNT == parties): run the action,
 * then release the cycle (or break it if the action failed). */
static int wf_barrier_complete(weft_barrier *b, uint32_t w, uint32_t *index)
{
    uint32_t parties = b->parties;
    int failed = 0;
    if (b->action) {
        struct wf_barrier_frame frame = {b, wf_barrier_acting};
        wf_barrier_acting = &frame;
        failed = b->action(b->arg);
        wf_barrier_acting = frame.outer;
    }
    wf_tsan_release(&b->word); /* the release below, told (src/tsan.h) */
    for (;;) {
        /* While completing only SLEEPERS and BROKEN (abort, reset) can change. A
         * success starts the next generation, keeping an abort's BROKEN; a
         * failure breaks this cycle, its other parties left to leave. */
        uint32_t next = failed ? WF_GEN(w) | WEFT_BARRIER_BROKEN | (parties - 1)
                               : (WF_GEN(w) + WEFT_BARRIER_GEN_ONE) | (w & WEFT_BARRIER_BROKEN);
        /* release: the waiters acquire the new generation and with it every
         * party's work (collected by our arrival's acquire) and the action's. */
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_release,
                                                  memory_order_relaxed)) {
            wf_barrier_wake(b, w, next);
            break;
        }
    }
    if (failed)
        return EPIPE;
    if (index)
        *index = parties - 1;
    return 0;
}

int weft_barrier_init(weft_barrier *b, uint32_t parties, int (*action)(void *arg), void *arg,
                      int64_t default_timeout_ns)
{
    if (!b || parties == 0 || parties > WEFT_BARRIER_MAX_PARTIES)
        return EINVAL;
    /* relaxed: init happens before the barrier is shared (by the caller's means). */
    atomic_store_explicit(&b->word, 0, memory_order_relaxed);
    b->parties = parties;
    b->action = action;
    b->arg = arg;
    b->default_timeout_ns = default_timeout_ns;
    return 0;
}

static bool wf_barrier_valid(const weft_barrier *b)
{
    return b && b->parties > 0 && b->parties <= WEFT_BARRIER_MAX_PARTIES;
}

/* The arrival and its wait; ETIMEDOUT also when d's token fired. */
static int wf_barrier_wait(weft_barrier *b, weft_deadline d, uint32_t *index)
{
    if (!wf_barrier_valid(b))
        return EINVAL;
    if (WF_UNLIKELY(wf_barrier_acting != NULL) && wf_barrier_acting_on(b))
        return EDEADLK;
    uint32_t parties = b->parties;
    wf_spinner spin = wf_barrier_spinner(b);
    /* relaxed: the CAS below orders the arrival. */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    for (;;) {
        if (WF_COUNT(w) == parties || (w & WEFT_BARRIER_RESETTING)) {
            /* The previous cycle is completing, or a reset drains: wait to join. */
            if (wf_barrier_wait_change(b, &w, d, &spin) == ETIMEDOUT)
                return ETIMEDOUT;
            continue;
        }
        if (w & WEFT_BARRIER_BROKEN)
            return EPIPE;
        /* acq_rel: release publishes this thread's work before the barrier; the
         * last arrival's acquire collects every earlier arrival's (their CASes
         * form one release sequence on the word). */
        wf_tsan_release(&b->word); /* the CAS's release and acquire, told */
        if (!atomic_compare_exchange_weak_explicit(&b->word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        wf_tsan_acquire(&b->word);
        uint32_t mine = WF_COUNT(w);
        if (mine + 1 == parties)
            return wf_barrier_complete(b, w + 1, index);
        int rc = wf_barrier_await(b, WF_GEN(w), d);
        if (rc == 0)
            wf_tsan_acquire(&b->word); /* the new generation's acquire, told */
        if (rc == 0 && index)
            *index = mine;
        return rc;
    }
}

/* The one exit: a timeout caused by the token is ECANCELED (the barrier broken or
 * not, exactly as for that timeout). */
int weft_barrier_wait_until(weft_barrier *b, weft_deadline d, uint32_t *index)
{
    return wf_cancel_result(wf_barrier_wait(b, d, index), d);
}

int weft_barrier_wait(weft_barrier *b, int64_t timeout_ns, uint32_t *index)
{
    if (!wf_barrier_valid(b))
        return EINVAL;
    if (timeout_ns == WEFT_BARRIER_DEFAULT)
        timeout_ns = b->default_timeout_ns;
    return weft_barrier_wait_until(b, weft_deadline_in(timeout_ns), index);
}

int weft_barrier_abort(weft_barrier *b)
{
    if (!wf_barrier_valid(b))
        return EINVAL;
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    for (;;) {
        uint32_t next;
        if (WF_COUNT(w) == b->parties)
            next = w | WEFT_BARRIER_BROKEN; /* completing: the next cycle starts broken */
        else if ((w & (WEFT_BARRIER_BROKEN | WEFT_BARRIER_RESETTING)) == WEFT_BARRIER_BROKEN)
            return 0; /* already broken */
        else /* filling (its waiters leave), or a pending reset (cancelled) */
            next = (w | WEFT_BARRIER_BROKEN) & ~(WEFT_BARRIER_RESETTING | WEFT_BARRIER_SLEEPERS);
        /* relaxed: an abort publishes nothing. */
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            wf_barrier_wake(b, w, next);
            return 0;
        }
    }
}

int weft_barrier_reset(weft_barrier *b)
{
    if (!wf_barrier_valid(b))
        return EINVAL;
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    for (;;) {
        uint32_t next;
        if (WF_COUNT(w) == b->parties) {
            if (!(w & WEFT_BARRIER_BROKEN))
                return 0; /* completing: the cycle stands */
            next = w & ~WEFT_BARRIER_BROKEN; /* cancel the abort that was to carry over */
        } else if (w & WEFT_BARRIER_RESETTING) {
            return 0; /* already pending */
        } else if (WF_COUNT(w) == 0) {
            if (!(w & WEFT_BARRIER_BROKEN))
                return 0; /* nothing to reset */
            next = WF_GEN(w) + WEFT_BARRIER_GEN_ONE; /* broken, nobody left inside: fresh */
        } else {
            /* Waiters inside (filling, or broken and leaving): they leave with
             * EPIPE, and the last of them starts the next generation. */
            next = (w | WEFT_BARRIER_BROKEN | WEFT_BARRIER_RESETTING) & ~WEFT_BARRIER_SLEEPERS;
        }
        /* relaxed: a reset publishes nothing. */
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            wf_barrier_wake(b, w, next);
            return 0;
        }
    }
}
