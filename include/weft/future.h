/* weft/future.h: weft_future, Python's concurrent.futures.Future, with wait() and
 * as_completed().
 *
 * A future is the result of a call that runs elsewhere (a pool task, or any
 * executor built on weft_future_set_*): it is PENDING, then RUNNING, then either
 * FINISHED (with a result pointer and an error code: the task's "exception", 0 for
 * success) or, if cancelled while still pending, CANCELLED. FINISHED and CANCELLED
 * are final and both count as done.
 *
 * Futures are heap objects with a reference count. weft_pool_submit and
 * weft_future_create hand the caller one reference; weft_future_retain takes
 * another; weft_future_release gives one back, and the last one frees the future.
 * A future must not be used after the caller's last reference is released (like
 * free, a release too many cannot always be detected).
 *
 * Waiting costs no system call on a future that is already done; a waiter spins
 * briefly and then sleeps on the future's state word. A pool worker that waits on
 * a future of its own pool runs that pool's pending tasks meanwhile (see
 * weft/pool.h), so nested submit-and-wait cannot deadlock the pool; a task that
 * waits on its own future is told EDEADLK.
 *
 * Nothing here is inline: a future is reached through a pointer anyway, and its
 * layout stays private to the library.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "common.h"

WEFT_BEGIN_DECLS

typedef struct weft_future weft_future;

/* A done callback: runs once, with the future done, on the thread that finished or
 * cancelled it (or on the adding thread if it was already done). */
typedef void (*weft_future_callback)(weft_future *f, void *arg);

/* weft_futures_wait's return_when (Python's FIRST_COMPLETED, FIRST_EXCEPTION,
 * ALL_COMPLETED). */
enum {
    WEFT_FIRST_COMPLETED = 1, /* any future is done */
    WEFT_FIRST_EXCEPTION = 2, /* any future finished with an error (not cancelled),
                                 or all are done */
    WEFT_ALL_COMPLETED = 3,   /* all futures are done */
};

/* ---- the executor's side (Python's Future() and its set_* methods) ---------------- */

/* Make a new PENDING future with one reference, for an executor of your own (pool
 * futures come from weft_pool_submit). Never blocks.
 * Returns 0; EINVAL if f is NULL; ENOMEM (*f is then unchanged). */
WEFT_API int weft_future_create(weft_future **f);

/* Mark a pending future RUNNING, or learn that it was cancelled (Python's
 * set_running_or_notify_cancel). Never blocks.
 * Returns 0 (now RUNNING: it can no longer be cancelled); ECANCELED (it was
 * cancelled: do not run the call); EINVAL if f is NULL or it was not PENDING;
 * EPERM if it belongs to a pool (the pool alone drives its futures). */
WEFT_API int weft_future_set_running_or_notify_cancel(weft_future *f);

/* Finish a PENDING or RUNNING future with `result` (and error 0) or with `error`
 * (non-zero), waking its waiters and running its done callbacks on this thread
 * before returning. Never blocks (beyond those callbacks). The caller must hold a
 * reference.
 * Returns 0; EINVAL if f is NULL, error is 0 (set_error), or the future is already
 * done; EPERM if it belongs to a pool. */
WEFT_API int weft_future_set_result(weft_future *f, void *result);
WEFT_API int weft_future_set_error(weft_future *f, int error);

/* ---- the caller's side ------------------------------------------------------------ */

/* Wait until the future is done, at most timeout_ns (WEFT_FOREVER: no limit; 0:
 * just look). On 0 *result (if result is not NULL) is the task's result; on the
 * task's error it is the result the task left (usually NULL).
 * Returns 0 (finished successfully); the task's error (finished with it);
 * ECANCELED (cancelled); ETIMEDOUT (not done once the timeout has passed; never
 * earlier); EDEADLK, at once whatever the timeout, if the calling thread is
 * running f's task itself (a pool task waiting on its own future, or on a task
 * further down its thread's stack): it could only ever wait for itself, and
 * nothing changes; EINVAL if f is NULL. A pool worker waiting on a future of its
 * own pool runs pending tasks of the pool meanwhile, so it may return some time
 * after the future is done or the timeout has passed (never before). */
WEFT_API int weft_future_result(weft_future *f, int64_t timeout_ns, void **result);

/* As weft_future_result with an absolute deadline (see weft_deadline_in). Also
 * ECANCELED once d's token (weft/cancel.h, or an ancestor) has fired with f not
 * done: f is left as it was (pending or running; it completes as usual and its
 * result can be read later). weft_future_cancelled tells this from a cancelled
 * future. */
WEFT_API int weft_future_result_until(weft_future *f, weft_deadline d, void **result);

/* Cancel the future if it is still PENDING: it then never runs, its waiters wake
 * with ECANCELED and its done callbacks run on this thread before this returns.
 * Never blocks (beyond the callbacks).
 * Returns 0 (it is now cancelled, or already was); EBUSY if it is running or
 * finished (nothing changes); EINVAL if f is NULL. */
WEFT_API int weft_future_cancel(weft_future *f);

/* Snapshots; false for NULL. Never block. done is true for FINISHED and CANCELLED. */
WEFT_API bool weft_future_cancelled(const weft_future *f);
WEFT_API bool weft_future_running(const weft_future *f);
WEFT_API bool weft_future_done(const weft_future *f);

/* Call fn(f, arg) once the future is done: at once, on this thread, if it already
 * is; otherwise on the thread that finishes or cancels it. Each added callback runs
 * exactly once, those added before completion in the order they were added. Never
 * blocks (beyond fn itself when it runs at once).
 * Returns 0; EINVAL if f or fn is NULL; ENOMEM (fn will not be called). */
WEFT_API int weft_future_add_done_callback(weft_future *f, weft_future_callback fn, void *arg);

/* Take another reference to f; returns f (NULL for NULL). Never blocks. */
WEFT_API weft_future *weft_future_retain(weft_future *f);

/* Give back one reference; the last one frees the future (a pending future then
 * stays pending forever for whoever was to run it, which must hold its own
 * reference). Never blocks. Returns 0; EINVAL if f is NULL. */
WEFT_API int weft_future_release(weft_future *f);

/* ---- several futures ---------------------------------------------------------------- */

/* Wait until the futures fs[0..n-1] meet `return_when`, at most timeout_ns. As in
 * Python, the caller then sorts done from not done with weft_future_done. A future
 * may appear more than once. The arguments are checked first: with valid ones,
 * n = 0 returns 0 at once.
 * Returns 0 (the condition holds); ETIMEDOUT (it did not hold once the timeout had
 * passed); EINVAL, before anything else and for any n (n = 0 included), if
 * return_when is not one of the WEFT_* constants above, and if fs is NULL with
 * n > 0 or an entry is NULL; ENOMEM. */
WEFT_API int weft_futures_wait(weft_future *const *fs, size_t n, int64_t timeout_ns,
                               int return_when);

/* As weft_futures_wait with an absolute deadline; ECANCELED (instead of ETIMEDOUT)
 * once d's token has fired with the condition not met (the futures untouched). */
WEFT_API int weft_futures_wait_until(weft_future *const *fs, size_t n, weft_deadline d,
                                     int return_when);

/* Hand each distinct future of fs[0..n-1] to fn(f, arg) once, on this thread, in the
 * order they complete (those already done first, in the order given), waiting at
 * most timeout_ns in all (Python's as_completed as a loop body). fn returning
 * non-zero stops the loop.
 * Returns 0 (all handed back); ETIMEDOUT (the timeout passed with some not done;
 * those were not handed back); fn's non-zero return; EINVAL if fs is NULL with
 * n > 0, an entry is NULL, or fn is NULL; ENOMEM. */
WEFT_API int weft_futures_as_completed(weft_future *const *fs, size_t n, int64_t timeout_ns,
                                       int (*fn)(weft_future *f, void *arg), void *arg);

/* As weft_futures_as_completed with an absolute deadline; ECANCELED (instead of
 * ETIMEDOUT) once d's token has fired with some not done (those not handed back,
 * and left as they were). */
WEFT_API int weft_futures_as_completed_until(weft_future *const *fs, size_t n,
                                             weft_deadline d,
                                             int (*fn)(weft_future *f, void *arg), void *arg);

WEFT_END_DECLS

#endif
