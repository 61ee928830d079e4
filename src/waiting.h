/* waiting.h: the waiting core, between the wait layer (wf_wait/wf_wake, one per
 * backend) and the primitives. Every blocking call of every family sleeps through
 * it, so what cuts across them all is written here once:
 *
 *   wf_sleep           the one place a weft thread goes to sleep on a word: where
 *                      a deadline's cancel token adds its words (wf_sleep_any:
 *                      several words, for wait-for-any), and where TSan
 *                      annotations and the contention profile's timing belong;
 *   wf_sleep_flagged   "set the sleeper flag, then sleep on the flagged value":
 *                      the protocol every word-with-a-WAITERS-bit family uses;
 *   wf_spinner         the spin policy: every spin-before-sleeping loop, with its
 *                      constants named here (WF_SPIN_*) and nowhere else;
 *   wf_waitlist        a FIFO of waiter records with wakeup tokens (an event
 *                      count), for waits on state that is not one 32-bit word
 *                      (queues, joins of several things);
 *   wf_exit_*          the one thread-exit hook: families register a function per
 *                      stage; it runs when any thread that used them exits.
 *
 * The per-thread object caches (magazines) are in magazine.h, the one list in
 * list.h, the one heap in heap.h, and the OS seam (CPU count, thread ids, names)
 * in os.h. */
#ifndef WF_WAITING_H
#define WF_WAITING_H

#include "internal.h"
#include "list.h"
#include "tsan.h" /* every family tells TSan its handoffs through it */

#include <sched.h>
#include <sys/types.h>

/* ---- sleeping ---------------------------------------------------------------------
 * wf_sleep: sleep while *word == expected, until woken or `d` passes: wf_wait's
 * contract exactly (0 when woken, changed or spuriously; ETIMEDOUT only once d has
 * passed). Every family calls this, never wf_wait.
 *
 * wf_sleep_flagged: the sleeper's half of the flag-then-wait protocol. `*seen` is
 * the caller's last load of `word`, which showed its condition unmet. If `flag` is
 * not set in it, set it (a relaxed CAS: announcing a sleeper publishes nothing);
 * if the word changed meanwhile, return 0 at once with *seen reloaded. Else sleep
 * while the word still reads seen|flag. On return *seen holds a fresh acquire load
 * of the word; the caller re-checks its condition and loops. Returns 0, or
 * ETIMEDOUT once d has passed (*seen is still fresh: a last look is allowed).
 *
 * Lost wakeup avoided (the wakers' side of the contract): a waker changes the word
 * away from any value with `flag` set (to a value the sleeper does not wait for)
 * BEFORE it calls wf_wake when it saw `flag`. Then either the sleep's compare sees
 * the change, or the wake finds the sleeper queued. */
WF_HIDDEN int wf_sleep(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d);
/* wf_sleep without the contention profile's sampling (the profile itself sleeps
 * through it): the wait on the word and on the deadline's cancel token. */
WF_HIDDEN int wf_sleep_plain(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d);
WF_HIDDEN int wf_sleep_flagged(_Atomic uint32_t *word, uint32_t *seen, uint32_t flag,
                               weft_deadline d);

/* ---- cancellation -------------------------------------------------------------------
 * A deadline may carry a token (weft/cancel.h). wf_sleep with d.cancel set sleeps on
 * `word` and on the words of the token and of each ancestor at once (wf_wait_any),
 * and returns ETIMEDOUT as soon as the token has fired (before sleeping, or on
 * waking), so the caller unwinds exactly as on a timeout: nothing consumed, a
 * barrier broken, a wakeup token passed on. weft_deadline_passed(d) is true once the
 * token has fired, so a family's "deadline passed: stop" check before it blocks
 * covers the token too; before a spin, wf_cancelled(d) is the cheaper look (the rule
 * of weft/cancel.h: the token is looked at whenever a call would block, before it
 * spins or sleeps, and at each wakeup). A deadline without a token costs one
 * predictable branch.
 *
 * At the public boundary an `_until` call returns wf_cancel_result(r, d): ETIMEDOUT
 * becomes ECANCELED when the token (or an ancestor) has fired; calls that return a
 * negative errno (queue batches) use wf_cancel_result_neg.
 *
 * wf_sleep_any: wf_sleep on several words (1 <= n, and n plus the token's chain
 * <= WF_WAIT_ANY_MAX, else EINVAL): sleeps while every word holds its expected value,
 * until any is woken, d passes or its token fires. For weft_wait_any. Sampled by
 * the contention profile as wf_sleep is (a wf_sleep under a token counts once). */
WF_HIDDEN int wf_sleep_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                           weft_deadline d);
/* wf_sleep_any without the contention profile's sampling (wf_sleep_plain's and the
 * profile's own sleep on several words). */
WF_HIDDEN int wf_sleep_any_plain(const _Atomic uint32_t *const *words, const uint32_t *expected,
                                 int n, weft_deadline d);

/* Whether d's token (or an ancestor) has fired: the look a family takes before it
 * spins (a deadline without a token costs one predictable branch). */
static inline bool wf_cancelled(weft_deadline d)
{
    return WF_UNLIKELY(d.cancel != NULL) && weft_cancel_fired(d.cancel);
}

static inline int wf_cancel_result(int r, weft_deadline d)
{
    return r == ETIMEDOUT && wf_cancelled(d) ? ECANCELED : r;
}

static inline ssize_t wf_cancel_result_neg(ssize_t r, weft_deadline d)
{
    return r == -ETIMEDOUT && wf_cancelled(d) ? -ECANCELED : r;
}

/* The token's side (src/cancel.c). wf_cancel_watch stores into words[] and
 * expected[] (room entries at most) the word of c and of each ancestor with its live
 * value, the values to sleep on; returns how many (0 for NULL), -ECANCELED if one of
 * them has fired, -EINVAL if they do not fit. wf_cancel_chain_length: how many words
 * a wait under c watches (0 for NULL). */
WF_HIDDEN int wf_cancel_watch(const weft_cancel *c, const _Atomic uint32_t **words,
                              uint32_t *expected, int room);
WF_HIDDEN int wf_cancel_chain_length(const weft_cancel *c);

/* ---- spinning ---------------------------------------------------------------------
 * A spin-before-sleeping loop:
 *
 *     wf_spinner s = wf_spinner_start(WF_SPIN_LOCK);
 *     while (!ready()) if (!wf_spin(&s)) { sleep; }
 *
 * A policy spends up to `pauses` pause instructions, in runs that double from 1 up
 * to `max_run` between two looks at the word (exponential backoff: a spinner that
 * loads a contended line only between ever longer runs leaves it to the thread
 * making progress), then `yields` sched_yield()s, then says "sleep". */
typedef struct wf_spin_policy {
    uint16_t pauses;  /* pause instructions spent in all before yielding */
    uint16_t max_run; /* the longest run of pauses between two looks */
    uint16_t yields;  /* sched_yield()s after the pauses, before sleeping */
} wf_spin_policy;

/* The policies: the only spin constants of the library. A pause costs 10-40 ns on
 * a 2020s x86 (18.7 ns on the AMD EPYC of BENCHMARKS.md). */
/* Locks: 1000 pauses, about what a futex sleep and wake cost on a virtual machine,
 * so spinning costs at most twice what sleeping would (competitive spinning). */
#define WF_SPIN_LOCK ((wf_spin_policy){.pauses = 1000, .max_run = 256, .yields = 0})
/* Queues waiting for a peer to fill or drain: as a lock (about 20 us). */
#define WF_SPIN_QUEUE ((wf_spin_policy){.pauses = 1000, .max_run = 256, .yields = 0})
/* A short wait for a signal that may be a few hundred ns away (sem, event, cond):
 * 100 single pauses, a few microseconds. */
#define WF_SPIN_BRIEF ((wf_spin_policy){.pauses = 100, .max_run = 1, .yields = 0})
/* Waits whose waker may need this very CPU (a barrier's missing party, a future's
 * task, with more threads than cores): a brief spin, then 8 yields. */
#define WF_SPIN_YIELDING ((wf_spin_policy){.pauses = 100, .max_run = 1, .yields = 8})
/* Only yields (a spin would hold the CPU the waker needs). */
#define WF_SPIN_YIELD_ONLY ((wf_spin_policy){.pauses = 0, .max_run = 1, .yields = 8})
/* A pool worker polling every queue for work before it parks (Go's spinning
 * threads): a lap is 7 polls 32 pauses apart (a flat spinner: backing off from one
 * pause made the pool's post and fork-join benchmarks slower), then a yield for a
 * submitter that may need this core; a search is WF_SPIN_SEARCH_LAPS laps. */
#define WF_SPIN_SEARCH ((wf_spin_policy){.pauses = 224, .max_run = 32, .yields = 1})
#define WF_SPIN_SEARCH_LAPS 8
/* A peer half way through an operation (it is running, never sleeping): 128 pauses,
 * then yield for as long as it takes (it may be preempted on our CPU). */
#define WF_SPIN_PEER ((wf_spin_policy){.pauses = 128, .max_run = 1, .yields = UINT16_MAX})

typedef struct wf_spinner {
    wf_spin_policy policy;
    unsigned spent;   /* pauses spent */
    unsigned run;     /* the next run's length */
    unsigned yielded; /* yields spent */
} wf_spinner;

static inline wf_spinner wf_spinner_start(wf_spin_policy p)
{
    return (wf_spinner){.policy = p, .spent = 0, .run = 1, .yielded = 0};
}

/* A spinner whose runs are max_run pauses from the first (no backoff): for a poll
 * of many words, where a short first run would only repeat the caller's look. */
static inline wf_spinner wf_spinner_start_flat(wf_spin_policy p)
{
    return (wf_spinner){.policy = p, .spent = 0, .run = p.max_run, .yielded = 0};
}

/* One step of the policy: a run of pauses or one yield. Returns false (and does
 * nothing) once the policy is spent: time to sleep. A WF_SPIN_PEER spinner yields
 * on forever. */
static inline bool wf_spin(wf_spinner *s)
{
    if (s->spent < s->policy.pauses) {
        s->spent += wf_backoff(&s->run, s->policy.max_run);
        return true;
    }
    if (s->yielded < s->policy.yields) {
        if (s->policy.yields != UINT16_MAX)
            s->yielded++;
        sched_yield();
        return true;
    }
    return false;
}

/* Counts an attempt that lost a race (a failed CAS) against the spin budget, so a
 * spin stays bounded however often it loses. */
static inline void wf_spin_count(wf_spinner *s)
{
    s->spent++;
}

/* True once the policy's pauses are spent (by runs or by lost races): the bound of
 * a loop that retries a lost race at once, without a run of pauses in between. */
static inline bool wf_spin_spent(const wf_spinner *s)
{
    return s->spent >= s->policy.pauses;
}

/* ---- wait lists ------------------------------------------------------------------
 * A sleeper:  wf_waitlist_prepare(wl, &w); re-check with seq_cst loads; if still
 *             blocked, wf_waiter_sleep(&w, d); else wf_waitlist_cancel(wl, &w).
 * A notifier: change the state with a seq_cst store/RMW, then wf_waitlist_notify.
 *
 * Lost wakeup avoided: the sleeper's listing (a seq_cst RMW of `waiters`) and the
 * notifier's change are each followed by a seq_cst load of the other's word, so at
 * least one sees the other (store buffering is forbidden under seq_cst): either the
 * re-check sees the change, or the notifier sees waiters > 0 and wakes a listed
 * sleeper (setting its word to WOKEN before waking it, so a sleeper that has not
 * reached its sleep yet does not sleep).
 *
 * Wakeups are tokens: the notifier unlists the sleeper it wakes. A sleeper that got
 * a token it cannot use passes it on (wf_waitlist_notify(wl, 1)), so none is lost
 * to a timeout or to a re-check that succeeded anyway. */
typedef weft__waitlist wf_waitlist;

typedef struct wf_waiter {
    wf_list_node link;      /* in the wait list, under its lock */
    _Atomic uint32_t state; /* WF_WAITER_LISTED -> WF_WAITER_WOKEN, once */
} wf_waiter;

enum { WF_WAITER_LISTED = 0, WF_WAITER_WOKEN = 1 };

WF_HIDDEN void wf_waitlist_prepare(wf_waitlist *wl, wf_waiter *w);
/* Sleeps until woken (true) or `d` passes (false: still listed, or woken meanwhile:
 * call wf_waitlist_cancel). */
WF_HIDDEN bool wf_waiter_sleep(wf_waiter *w, weft_deadline d);
/* Unlists w; true if a notifier had already unlisted (woken) it. */
WF_HIDDEN bool wf_waitlist_cancel(wf_waitlist *wl, wf_waiter *w);

/* Wakes up to n listed sleepers of wl (INT_MAX: all); no lock and no system call
 * when none is listed. */
static inline void wf_waitlist_notify(wf_waitlist *wl, int n)
{
    /* seq_cst: the notifier's half of the pair (after its seq_cst change). */
    if (atomic_load_explicit(&wl->waiters, memory_order_seq_cst))
        weft__waitlist_notify(wl, n);
}

/* Whether any sleeper is listed (a snapshot). */
static inline bool wf_waitlist_has_waiters(const wf_waitlist *wl)
{
    /* relaxed: a snapshot; callers that act on it hold the object exclusively. */
    return atomic_load_explicit(&wl->waiters, memory_order_relaxed) != 0;
}

/* ---- thread exit -------------------------------------------------------------------
 * One hook for every family's per-thread state. A family registers one function per
 * stage (idempotent) and calls wf_exit_arm() in a thread the first time that thread
 * acquires state to clean up; when the thread exits (pthread_exit, return from its
 * function, or weft_thread_exit) the registered functions run, stage by stage.
 * Threads weft started call wf_exit_run() themselves before they count as finished;
 * other threads get it from one pthread key destructor. A function that re-creates
 * state (a local destructor using a future) re-arms, and runs again on the next
 * pass (pthread runs key destructors up to PTHREAD_DESTRUCTOR_ITERATIONS times). */
enum wf_exit_stage {
    WF_EXIT_LOCALS, /* weft_local blocks: user destructors may still use weft */
    WF_EXIT_CHECKS, /* a checking build's report of locks still held */
    WF_EXIT_CACHES, /* per-thread object caches, after anything that may free */
    WF_EXIT_READERS, /* the thread's row of the rwlock readers' table */
    WF_EXIT_THREAD, /* the thread's own descriptor (foreign and main threads) */
    WF_EXIT_STAGES
};

WF_HIDDEN void wf_exit_register(enum wf_exit_stage stage, void (*fn)(void));
/* Makes sure this thread runs the hooks when it exits. Cheap after the first call. */
WF_HIDDEN void wf_exit_arm(void);
/* Runs every stage's hook now, for the calling thread. */
WF_HIDDEN void wf_exit_run(void);

#endif
