/* weft_barrier: Python's Barrier, written once over the wait layer.
 *
 * Everything lives in one 32-bit word (state table in include/weft/barrier.h):
 * the arrival count of the current cycle, its generation, and the BROKEN,
 * RESETTING and SLEEPERS flags. One word, so that an arrival reads the
 * generation it joins and counts itself in the same compare-and-swap.
 *
 * Fast path: an arrival is one CAS; the last one runs the action and starts the
 * next generation with one more. Waiters spin for a moment (unless the parties
 * outnumber the CPUs), yield a few times, then sleep on the word with SLEEPERS
 * set; the last arrival makes a system call only if somebody sleeps.
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
 * equality while it is counted in its own cycle, which cannot be overtaken. */
#include "internal.h"

#include <sched.h>

extern inline uint32_t weft_barrier_parties(const weft_barrier *b);
extern inline uint32_t weft_barrier_n_waiting(const weft_barrier *b);
extern inline bool weft_barrier_broken(const weft_barrier *b);

enum {
    WF_BARRIER_SPIN_LIMIT = 100, /* polls before sleeping: a few microseconds */
    /* Then yields before sleeping, also when the parties outnumber the CPUs: a yield
     * hands the CPU to a party that has yet to arrive, and when the cycle completes
     * meanwhile nobody pays for a futex sleep and wake (8 parties on 2 CPUs: a
     * cycle in about 1 us instead of 5; BENCHMARKS.md). Bounded, so a long wait
     * still sleeps. */
    WF_BARRIER_YIELDS = 8,
};

/* The CPUs this process may run on (its affinity mask), counted once. Spinning
 * only pays while every party can be running at once: with more parties than
 * CPUs, a spinner holds a CPU the missing party needs. */
static int wf_barrier_cpus(void)
{
    static _Atomic int cpus; /* 0: not counted yet */
    /* relaxed: every thread computes the same value; a race only repeats the count. */
    int n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n;
}

/* The spin budget of one wait: none when the parties outnumber the CPUs. */
static int wf_barrier_spin_start(const weft_barrier *b)
{
    return b->parties <= (uint32_t)wf_barrier_cpus() ? 0 : WF_BARRIER_SPIN_LIMIT;
}

#define WF_COUNT(w) ((w) & WEFT_BARRIER_COUNT_MASK)
#define WF_GEN(w) ((w) & WEFT_BARRIER_GEN_MASK)

/* Wakes every sleeper if the change from `old` to `now` cleared SLEEPERS. */
static void wf_barrier_wake(weft_barrier *b, uint32_t old, uint32_t now)
{
    if ((old & WEFT_BARRIER_SLEEPERS) && !(now & WEFT_BARRIER_SLEEPERS))
        wf_wake(&b->word, INT_MAX);
}

/* One step of waiting for the word to differ from `seen`: a poll while *spin is
 * under the limit (it counts up from wf_barrier_spin_start), a yield for the next
 * WF_BARRIER_YIELDS steps, else a sleep.
 * Returns ETIMEDOUT once d has passed, else 0 (the caller reloads the word and
 * looks again). */
static int wf_barrier_wait_change(weft_barrier *b, uint32_t seen, weft_deadline d, int *spin)
{
    if (*spin < WF_BARRIER_SPIN_LIMIT) {
        (*spin)++;
        wf_cpu_relax();
        return 0;
    }
    if (*spin < WF_BARRIER_SPIN_LIMIT + WF_BARRIER_YIELDS) {
        (*spin)++;
        sched_yield();
        return 0;
    }
    if (!(seen & WEFT_BARRIER_SLEEPERS)) {
        /* relaxed: announcing a sleeper publishes nothing. */
        if (!atomic_compare_exchange_strong_explicit(&b->word, &seen, seen | WEFT_BARRIER_SLEEPERS,
                                                     memory_order_relaxed, memory_order_relaxed))
            return 0; /* it changed: look again */
        seen |= WEFT_BARRIER_SLEEPERS;
    }
    /* Lost wakeup avoided: every change a sleeper waits for (a new generation, a
     * break, the end of a reset) clears SLEEPERS before it wakes, so the word no
     * longer reads `seen`: either wf_wait sees that, or the wake finds us. */
    return wf_wait(&b->word, seen, d);
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
    int spin = wf_barrier_spin_start(b);
    for (;;) {
        /* acquire: the new generation was stored with release by the last arrival,
         * after it had collected every party's work and run the action. */
        uint32_t w = atomic_load_explicit(&b->word, memory_order_acquire);
        if (WF_GEN(w) != gen)
            return 0;
        if ((w & WEFT_BARRIER_BROKEN) && WF_COUNT(w) < b->parties)
            return wf_barrier_leave(b, w);
        if (wf_barrier_wait_change(b, w, d, &spin) == ETIMEDOUT)
            return wf_barrier_timeout(b, gen);
    }
}

/* The last arrival (the word now reads `w`, COUNT == parties): run the action,
 * then release the cycle (or break it if the action failed). */
static int wf_barrier_complete(weft_barrier *b, uint32_t w, uint32_t *index)
{
    uint32_t parties = b->parties;
    int failed = b->action ? b->action(b->arg) : 0;
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

int weft_barrier_wait_until(weft_barrier *b, weft_deadline d, uint32_t *index)
{
    if (!wf_barrier_valid(b))
        return EINVAL;
    uint32_t parties = b->parties;
    int spin = wf_barrier_spin_start(b);
    /* relaxed: the CAS below orders the arrival. */
    uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    for (;;) {
        if (WF_COUNT(w) == parties || (w & WEFT_BARRIER_RESETTING)) {
            /* The previous cycle is completing, or a reset drains: wait to join. */
            if (wf_barrier_wait_change(b, w, d, &spin) == ETIMEDOUT)
                return ETIMEDOUT;
            w = atomic_load_explicit(&b->word, memory_order_relaxed);
            continue;
        }
        if (w & WEFT_BARRIER_BROKEN)
            return EPIPE;
        /* acq_rel: release publishes this thread's work before the barrier; the
         * last arrival's acquire collects every earlier arrival's (their CASes
         * form one release sequence on the word). */
        if (!atomic_compare_exchange_weak_explicit(&b->word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        uint32_t mine = WF_COUNT(w);
        if (mine + 1 == parties)
            return wf_barrier_complete(b, w + 1, index);
        int rc = wf_barrier_await(b, WF_GEN(w), d);
        if (rc == 0 && index)
            *index = mine;
        return rc;
    }
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
