/* pool_internal.h: what src/future.c and src/pool.c share: the future's layout
 * (a pool task is its future: one allocation per submit), the watch hook that lets
 * a waiter learn of completions under the future's lock, and the pool's hooks the
 * future calls. */
#ifndef WEFT_POOL_INTERNAL_H
#define WEFT_POOL_INTERNAL_H

#include "internal.h"
#include "weft/pool.h"

/* The future's state word. State table (phase in the low bits, flags above):
 *
 *   phase       meaning                          leaves by
 *   PENDING     queued, may be cancelled         claim -> RUNNING, cancel -> CANCELLED,
 *                                                set_result/error -> FINISHED
 *   RUNNING     claimed by its runner            finish -> FINISHED
 *   FINISHED    result and error published       (final)
 *   CANCELLED   never ran, never will            (final)
 *
 *   SLEEPERS    a weft_future_result caller may sleep on this word: leaving for a
 *               final phase wakes all (set by the sleeper, never cleared)
 *   LISTENERS   callbacks or watches were added under `lock`: leaving for a final
 *               phase takes the lock to run them (set by the adder, never cleared)
 *   SETTING     a set_result/set_error of an executor outside the pools claimed the
 *               right to finish (with phase RUNNING): a second setter fails
 *   POST        a pool task with no future handed out (set at creation)
 *
 * Only the thread that moves a future out of PENDING (a CAS, so exactly one) may
 * move it on; done = phase >= FINISHED. */
#define WF_FUTURE_PENDING 0u
#define WF_FUTURE_RUNNING 1u
#define WF_FUTURE_FINISHED 2u
#define WF_FUTURE_CANCELLED 3u
#define WF_FUTURE_PHASE 3u
#define WF_FUTURE_SLEEPERS 4u
#define WF_FUTURE_LISTENERS 8u
#define WF_FUTURE_SETTING 16u
#define WF_FUTURE_POST 32u

struct wf_watch;
/* Called under the future's lock, once, when the watched future becomes done. It
 * must be short and take no lock of a future. */
typedef void (*wf_watch_fn)(struct wf_watch *w, weft_future *f);

/* A listener on one future: a watch (a waiter's registration: weft_futures_wait,
 * as_completed, a pool worker helping while it waits; fn set, memory the
 * waiter's) or a done callback (fn NULL, allocated by add_done_callback). Linked
 * newest first while `linked`; list and flag under the future's lock. */
struct wf_watch {
    struct wf_watch *next, *prev;
    wf_watch_fn fn;
    weft_future_callback callback;
    void *callback_arg;
    bool linked;
    struct wf_watch *done_next; /* the waiter's list of fired watches; callbacks to run */
};

/* One cache line: what a worker touches to run a task. */
struct weft_future {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    weft_lock lock; /* guards listeners */
    int error;      /* written before the release that publishes FINISHED */
    void *result;   /* likewise */
    struct wf_watch *listeners;
    /* The task, for a future that belongs to a pool (pool NULL otherwise). */
    struct weft_pool *pool;
    weft_task_fn fn;
    void *arg;
} __attribute__((aligned(64)));

/* future.c, for pool.c ---------------------------------------------------------- */

/* A new PENDING future with `refs` references and the given flags (POST), from the
 * allocation caches; NULL when out of memory. */
WF_HIDDEN weft_future *wf_future_new(uint32_t refs, uint32_t flags);

/* PENDING -> RUNNING; false if it was cancelled (or otherwise not pending). */
WF_HIDDEN bool wf_future_claim(weft_future *f);

/* PENDING -> CANCELLED (waking waiters, running callbacks); false if not pending.
 * Calls wf_pool_unpend for a pool future. */
WF_HIDDEN bool wf_future_cancel_pending(weft_future *f);

/* RUNNING -> FINISHED with result and error, waking waiters and running listeners. */
WF_HIDDEN void wf_future_finish(weft_future *f, void *result, int error);

/* Register `w` (w->fn set) to fire when f is done: false if f already is (w is then
 * not registered). */
WF_HIDDEN bool wf_future_watch(weft_future *f, struct wf_watch *w);

/* Unregister `w` if it has not fired; once this returns, w->fn is not running and
 * will not run. */
WF_HIDDEN void wf_future_unwatch(weft_future *f, struct wf_watch *w);

/* pool.c, for future.c ------------------------------------------------------------ */

/* A task of p left PENDING without being claimed by a worker (it was cancelled):
 * gives its room back under max_pending. */
WF_HIDDEN void wf_pool_unpend(struct weft_pool *p);

/* True if the calling thread is a worker of p. */
WF_HIDDEN bool wf_pool_is_own_worker(const struct weft_pool *p);

/* The calling worker of f's pool runs the pool's tasks until f is done (0) or d
 * passes (ETIMEDOUT). */
WF_HIDDEN int wf_pool_help_until(weft_future *f, weft_deadline d);

#endif
