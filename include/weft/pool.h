/* weft/pool.h: weft_pool, Python's concurrent.futures.ThreadPoolExecutor.
 *
 * A pool of up to max_workers weft threads (named "<prefix>_0", "<prefix>_1", ...)
 * runs tasks `int fn(void *arg, void **result)`: a non-zero return is the task's
 * error (Python's exception), *result its result. Workers start on demand, one per
 * submit that finds no idle worker, until max_workers run; idle workers are reused
 * first, and sleep (no CPU, no timer) while there is nothing to do.
 *
 * Scheduling: work stealing. Every worker owns a deque; a task submitted by a
 * worker of the pool goes to that worker's own deque (taken newest first, which
 * suits recursive fork-join work), tasks from other threads go to the pool's
 * injection queue (one shard per submitting thread, first in first out for each),
 * and a worker with nothing to do takes a batch from the injection queue or
 * steals the oldest task of another worker. Submitting makes no
 * system call unless a worker sleeps and none is already looking for work.
 *
 * Nested work cannot deadlock: a worker that waits on a future of its own pool
 * (weft_future_result, weft_pool_map from a task) runs the pool's pending tasks
 * meanwhile, its own deque first, so a task may submit to its own pool and wait
 * even with max_workers = 1. What can only ever wait for itself is refused: a
 * task waiting on its own future, or on one its thread is running further down
 * the stack (a task it runs while helping waits on it), gets EDEADLK from
 * weft_future_result at once, whatever the timeout.
 *
 * Workers belong to the pool for their whole life: weft_thread_exit called by a
 * task (or by the initializer) returns EPERM and the worker goes on, so a task
 * cannot strand its future or shrink the pool. The same holds for a task that
 * runs on a submitting thread (see weft_pool_submit) or in weft_pool_destroy.
 *
 * Unlike Python's executor the backlog can be bounded (opts.max_pending): a submit
 * from outside the pool then waits for room (backpressure); submits from the
 * pool's own workers never wait (they would block the tasks that make room) but
 * do count.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include "common.h"
#include "future.h"

WEFT_BEGIN_DECLS

typedef struct weft_pool weft_pool;

/* A task: a non-zero return is its error; *result (NULL on entry) its result. */
typedef int (*weft_task_fn)(void *arg, void **result);

/* Options for weft_pool_create; all-zero (WEFT_POOL_OPTIONS_INIT) are the defaults. */
typedef struct weft_pool_options {
    size_t max_workers;           /* 0: Python's min(32, usable CPUs + 4), counting
                                     the CPUs in the process's affinity mask */
    const char *name_prefix;      /* copied; NULL: "ThreadPoolExecutor-<n>" */
    int (*initializer)(void *arg); /* run first by every worker; a non-zero return
                                     breaks the pool (see weft_pool_submit) */
    void *initializer_arg;
    size_t max_pending;           /* most tasks submitted and not yet started;
                                     0: no bound */
} weft_pool_options;

#define WEFT_POOL_OPTIONS_INIT {0, NULL, NULL, NULL, 0}

/* Make a pool; opts NULL means the defaults. Starts no thread yet. Never blocks.
 * Returns 0 (*p is the pool: weft_pool_destroy it); EINVAL if p is NULL or
 * max_workers is over 65535; ENOMEM. On an error *p is unchanged. */
WEFT_API int weft_pool_create(weft_pool **p, const weft_pool_options *opts);

/* Schedule fn(arg) and set *fut to its future (one reference: release it). With
 * max_pending, waits as long as it takes for room (not on a worker of the pool).
 * Returns 0; ESHUTDOWN after weft_pool_shutdown (a submit racing the shutdown
 * either returns 0, and the task runs, unless cancel_futures cancels it, or
 * returns ESHUTDOWN, and it never runs: a task queued just after the workers left
 * runs on the submitting thread before the submit returns); EPIPE once the pool is
 * broken (a worker's initializer failed); EAGAIN if no worker runs and none could be started;
 * EINVAL if p, fn or fut is NULL; ENOMEM. On an error *fut is unchanged (as after
 * every failed create or start in weft). */
WEFT_API int weft_pool_submit(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut);

/* As weft_pool_submit, waiting at most timeout_ns for room under max_pending.
 * Returns also EAGAIN (timeout 0 and no room) or ETIMEDOUT (timeout > 0 passed with
 * no room; never earlier). */
WEFT_API int weft_pool_submit_for(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                                  int64_t timeout_ns);

/* As weft_pool_submit_for with an absolute deadline (WEFT_DEADLINE_NEVER: as
 * weft_pool_submit; a deadline already passed: EAGAIN if there is no room).
 * ECANCELED once d's token (weft/cancel.h, or an ancestor) has fired while there is
 * no room, before the call or while it waits: nothing is queued, no room taken,
 * *fut NULL. With room the submit goes ahead, fired token or not. */
WEFT_API int weft_pool_submit_until(weft_pool *p, weft_task_fn fn, void *arg,
                                    weft_future **fut, weft_deadline d);

/* Fire and forget: schedule fn(arg) with no future (its result and error are
 * dropped). Cheaper than a submit and a release. Waits for room as submit does.
 * Returns as weft_pool_submit. */
WEFT_API int weft_pool_post(weft_pool *p, weft_task_fn fn, void *arg);

/* As weft_pool_post, waiting at most timeout_ns (or until d) for room. Returns as
 * weft_pool_submit_for / weft_pool_submit_until (EAGAIN, ETIMEDOUT, ECANCELED
 * included). */
WEFT_API int weft_pool_post_for(weft_pool *p, weft_task_fn fn, void *arg, int64_t timeout_ns);
WEFT_API int weft_pool_post_until(weft_pool *p, weft_task_fn fn, void *arg, weft_deadline d);

/* Run fn(args[i]) for i < n on the pool and store each result in results[i] (if
 * results is not NULL), in order, waiting at most timeout_ns in all (Python's
 * map, collected). On an error the tasks not yet started are cancelled; those
 * running finish in the background and touch nothing of the caller's.
 * Returns 0 (every task returned 0); the error of the first task (in order) that
 * failed (results before it are stored); ETIMEDOUT; ECANCELED (a task was
 * cancelled by a shutdown); a submit error (ESHUTDOWN, EPIPE, EAGAIN, ENOMEM);
 * EINVAL if p or fn is NULL, or args is NULL with n > 0. */
WEFT_API int weft_pool_map(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                           void **results, int64_t timeout_ns);

/* As weft_pool_map with an absolute deadline. Also ECANCELED once d's token has
 * fired while the map waits (for room or for a result): as on a timeout, the tasks
 * not yet started are cancelled. */
WEFT_API int weft_pool_map_until(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                                 void **results, weft_deadline d);

/* Stop accepting tasks (later submits return ESHUTDOWN). With cancel_futures,
 * cancel every task not yet started (their futures end CANCELLED, posts are
 * dropped); otherwise the workers run all pending tasks. With wait, return only
 * once every worker has ended; without, return at once. May be called again
 * (to wait, say).
 * Returns 0; EINVAL if p is NULL; EDEADLK if wait is asked by a worker of this
 * pool (it would wait for itself; nothing changes). */
WEFT_API int weft_pool_shutdown(weft_pool *p, bool wait, bool cancel_futures);

/* Shut down (waiting, without cancelling) if not yet done, join every worker and
 * free the pool. Blocks until every pending task has run and every worker has
 * ended. Futures handed out stay valid until released.
 * Returns 0; EINVAL if p is NULL; EDEADLK if called by a worker of this pool;
 * EBUSY if a submit, post or map is waiting for room under max_pending (call
 * again once it has returned). On EDEADLK and EBUSY nothing changes: the pool is
 * not shut down.
 * Destroy detects only calls that are already waiting: any other call on p that
 * runs while destroy does (a submit that has not yet begun to wait, a shutdown,
 * a worker count), and every call after it returned 0, is the caller's bug. */
WEFT_API int weft_pool_destroy(weft_pool *p);

/* How many workers have been started (a snapshot; at most max_workers; 0 for NULL).
 * Never blocks. */
WEFT_API size_t weft_pool_worker_count(const weft_pool *p);

/* The pool's max_workers (with the default resolved); 0 for NULL. Never blocks. */
WEFT_API size_t weft_pool_max_workers(const weft_pool *p);

WEFT_END_DECLS

#endif
