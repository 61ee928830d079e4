/* future_internal.h: the future's layout and state table, and what an executor
 * uses to drive its futures.
 *
 * The future knows nothing of pools. An executor (src/pool.c) plugs in through a
 * wf_executor, a small table of hooks the future calls: give back what a submit
 * took when a pending future is cancelled, and, for a thread that waits on one of
 * the executor's futures, whether it should run the executor's tasks meanwhile.
 * The executor moves its futures on only through the wf_future_* functions below.
 *
 * A pool task is its future (one allocation per submit): the future carries the
 * call (fn, arg) that its executor makes, and nothing else of the executor's. */
#ifndef WEFT_FUTURE_INTERNAL_H
#define WEFT_FUTURE_INTERNAL_H

#include "internal.h"
#include "list.h"
#include "magazine.h"

/* The future's state word. State table (phase in the low bits, flags above):
 *
 *   phase       meaning                          leaves by
 *   PENDING     queued, may be cancelled         set_running -> RUNNING,
 *                                                cancel -> CANCELLED,
 *                                                set_result/error -> FINISHED
 *   RUNNING     claimed by its runner            finish -> FINISHED
 *   FINISHED    result and error published       (final)
 *   CANCELLED   never ran, never will            (final)
 *
 *   SLEEPERS    a weft_future_result caller may sleep on this word: leaving for a
 *               final phase wakes all (set by the sleeper, never cleared)
 *   LISTENERS   callbacks or watches were added under `lock`: leaving for a final
 *               phase takes the lock to run them (set by the adder, never cleared)
 *   SETTING     a set_result/set_error of an executor outside weft claimed the
 *               right to finish (with phase RUNNING): a second setter fails
 *   POST        nobody but its executor holds the future (a pool's post): its
 *               result is dropped, never published (set at creation)
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

/* The call a future stands for: a non-zero return is its error, *result its
 * result (the shape of weft_task_fn). */
typedef int (*wf_call_fn)(void *arg, void **result);

/* How the calling thread waits for a future of an executor that is not done. */
enum wf_exec_wait {
    WF_EXEC_SLEEP, /* it cannot run the executor's tasks: sleep on the future */
    WF_EXEC_HELP,  /* it can (a worker of the pool): help_until */
    WF_EXEC_SELF,  /* it is running this very future: the wait could only ever
                      wait for itself (EDEADLK) */
};

/* The executor hook. The executor fills it in (ctx is the executor's own object)
 * and keeps it alive as long as any of its futures is not done. */
typedef struct wf_executor {
    void *ctx;
    /* A PENDING future of ctx's was cancelled (it will never be set running):
     * give back what its submit took. Called once, on the cancelling thread. */
    void (*unpend)(void *ctx);
    /* How the calling thread should wait for f (not done). Never blocks. */
    enum wf_exec_wait (*wait_how)(void *ctx, const struct weft_future *f);
    /* For a thread told WF_EXEC_HELP: run ctx's tasks until f is done (0) or d
     * passes (ETIMEDOUT); may return later than either, never earlier. */
    int (*help_until)(void *ctx, struct weft_future *f, weft_deadline d);
} wf_executor;

struct wf_watch;
/* Called under the future's lock, once, when the watched future becomes done. It
 * must be short and take no lock of a future. */
typedef void (*wf_watch_fn)(struct wf_watch *w, weft_future *f);

/* A listener on one future: a watch (a waiter's registration: weft_futures_wait,
 * as_completed, a pool worker helping while it waits; fn set, memory the
 * waiter's) or a done callback (fn NULL, allocated by add_done_callback). In the
 * future's listeners, oldest first, while `linked`; list and flag under the
 * future's lock. */
struct wf_watch {
    wf_list_node link;
    wf_watch_fn fn;
    weft_future_callback callback;
    void *callback_arg;
    bool linked;
    struct wf_watch *done_next; /* the waiter's stack of fired watches */
};

/* One cache line: what a worker touches to run a task. */
struct weft_future {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    weft_lock lock; /* guards listeners */
    int error;      /* written before the release that publishes FINISHED */
    void *result;   /* likewise */
    wf_list listeners;
    const wf_executor *exec; /* NULL: a future of weft_future_create */
    wf_call_fn fn;           /* the executor's call, set at creation */
    void *arg;
} __attribute__((aligned(WF_CACHE_LINE)));

/* ---- for executors ---------------------------------------------------------------- */

/* The futures' magazine class (src/future.c). */
WF_HIDDEN extern wf_magazine_class wf_future_magazine;

/* A new PENDING future with `refs` references and the given flags (POST), driven
 * by `exec`, standing for fn(arg); from the allocation caches; NULL when out of
 * memory. Inline: a pool makes one per submit. */
static inline weft_future *wf_future_new(uint32_t refs, uint32_t flags, const wf_executor *exec,
                                         wf_call_fn fn, void *arg)
{
    weft_future *f = wf_magazine_alloc(&wf_future_magazine);
    if (!f)
        return NULL;
    atomic_init(&f->state, WF_FUTURE_PENDING | flags);
    atomic_init(&f->refs, refs);
    atomic_init(&f->lock.word, 0);
    f->error = 0;
    f->result = NULL;
    f->listeners = (wf_list){NULL, NULL};
    f->exec = exec;
    f->fn = fn;
    f->arg = arg;
    return f;
}

/* PENDING -> RUNNING; false if it was cancelled (or otherwise not pending). */
WF_HIDDEN bool wf_future_set_running(weft_future *f);

/* Makes f's call (f RUNNING, the caller its runner): returns the call's error and
 * leaves its result in *result. */
static inline int wf_future_call(weft_future *f, void **result)
{
    return f->fn(f->arg, result);
}

/* Whether f is a post (its result goes nowhere). */
static inline bool wf_future_is_post(const weft_future *f)
{
    /* relaxed: the flag is set at creation, before f is shared, and never changes. */
    return atomic_load_explicit(&f->state, memory_order_relaxed) & WF_FUTURE_POST;
}

/* Whether f is RUNNING (a snapshot). */
static inline bool wf_future_is_running(const weft_future *f)
{
    /* relaxed: a snapshot that orders nothing. */
    return (atomic_load_explicit(&f->state, memory_order_relaxed) & WF_FUTURE_PHASE) ==
           WF_FUTURE_RUNNING;
}

/* RUNNING -> FINISHED with result and error, waking waiters and running listeners. */
WF_HIDDEN void wf_future_finish(weft_future *f, void *result, int error);

/* PENDING -> CANCELLED (waking waiters, running callbacks); false if not pending.
 * Calls the executor's unpend. */
WF_HIDDEN bool wf_future_cancel_pending(weft_future *f);

/* Register `w` (w->fn set) to fire when f is done: false if f already is (w is then
 * not registered). */
WF_HIDDEN bool wf_future_watch(weft_future *f, struct wf_watch *w);

/* Unregister `w` if it has not fired; once this returns, w->fn is not running and
 * will not run. */
WF_HIDDEN void wf_future_unwatch(weft_future *f, struct wf_watch *w);

#endif
