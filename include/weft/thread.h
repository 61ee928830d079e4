/* weft/thread.h: weft_thread, Python's threading.Thread (and current_thread,
 * main_thread, active_count, enumerate), on pthreads.
 *
 * A weft_thread is a handle: a pointer to a library-allocated, reference-counted
 * descriptor. weft_thread_start gives the caller one handle; weft_thread_enumerate
 * gives one per thread listed. Each such handle stays valid, after the thread has
 * ended too, until it is passed to weft_thread_release. weft_thread_current and
 * weft_thread_main return borrowed handles: current()'s is valid while the calling
 * thread runs, main()'s for the life of the process; neither is released.
 *
 * A started thread is reaped (pthread_join or pthread_detach) by the library: by
 * the join that returns 0, or, if it is never joined, once its last handle is
 * released (it is then detached and can no longer be joined). A daemon thread is
 * never waited for by weft_thread_join_all.
 *
 * Threads weft did not start (the main thread, foreign pthreads) get a descriptor
 * on their first weft_thread_current(): they are live, listed and counted until
 * they exit, when the descriptor is freed (if no handle to it is held). They
 * cannot be joined.
 *
 * Thread-local blocks (weft/local.h) of a weft thread are destroyed before the
 * thread counts as finished: once join returns, their destructors have run.
 *
 * fork(): as POSIX says of a multi-threaded process, the child may only make
 * async-signal-safe calls until it execs; weft does not rebuild its thread list
 * in the child.
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include "common.h"

WEFT_BEGIN_DECLS

typedef struct weft_thread_desc *weft_thread;

/* Options for weft_thread_start; all-zero (WEFT_THREAD_OPTS_INIT) are the
 * defaults: named "Thread-<ident>", not a daemon, the default stack size. */
typedef struct weft_thread_opts {
    const char *name;  /* copied; NULL: "Thread-<ident>". The OS thread gets it too
                          where the OS names threads (the linux backend), cut to the
                          OS limit (Linux: 15 bytes) at a UTF-8 character boundary */
    bool daemon;       /* true: weft_thread_join_all does not wait for it */
    size_t stack_size; /* 0: the default; otherwise at least PTHREAD_STACK_MIN */
} weft_thread_opts;

#define WEFT_THREAD_OPTS_INIT {NULL, false, 0}

/* Start a thread running fn(arg); fn's return value is the thread's result. On
 * success *th is a new handle (release it with weft_thread_release) and the thread
 * is live: counted and listed before this call returns. In the new thread,
 * weft_thread_current() returns this very handle (the same pointer, borrowed
 * there: the thread does not release it). opts NULL means the defaults. Does not
 * wait for the new thread to run.
 * Returns 0; EINVAL if th or fn is NULL or opts.stack_size is too small; EAGAIN
 * (the system lacks resources, or the stack could not be mapped) or ENOMEM: then
 * nothing was started, nothing is kept, and *th is unchanged. */
WEFT_API int weft_thread_start(weft_thread *th, void *(*fn)(void *), void *arg,
                               const weft_thread_opts *opts);

/* Wait for the thread to finish, at most timeout_ns (WEFT_FOREVER: no limit, 0:
 * just check), and reap it; on 0, *result (if result is not NULL) is fn's return
 * value or weft_thread_exit's argument. One join succeeds per thread.
 * Returns 0; ETIMEDOUT if it still runs when the timeout has passed (join again
 * later); EDEADLK if th is the calling thread; EINVAL if th is NULL, was not
 * started by weft (main or foreign thread), was already joined, is being joined by
 * another thread right now, or was detached (all its handles were released). */
WEFT_API int weft_thread_join(weft_thread th, int64_t timeout_ns, void **result);

/* As weft_thread_join with an absolute deadline (see weft_deadline_in). Also
 * ECANCELED once d's token (weft/cancel.h, or an ancestor) has fired with the
 * thread still running: nothing is reaped, and it can be joined again later. */
WEFT_API int weft_thread_join_until(weft_thread th, weft_deadline d, void **result);

/* True from start until the thread's function has returned (or it called
 * weft_thread_exit) and its thread-local blocks are destroyed; for main and
 * foreign threads, until they exit. False for NULL. Never blocks. */
WEFT_API bool weft_thread_is_alive(weft_thread th);

/* True if the thread was started as a daemon; foreign threads are daemons (as
 * Python's dummy threads are), the main thread is not. False for NULL. Never
 * blocks. */
WEFT_API bool weft_thread_daemon(weft_thread th);

/* Copy the thread's name, NUL-terminated, into buf (size bytes). Default names:
 * "Thread-<ident>", "MainThread", "Dummy-<ident>" for foreign threads. Never blocks
 * for long (a per-thread lock guards against weft_thread_set_name).
 * Returns 0; ERANGE if it did not fit (buf holds as much as fit); EINVAL if th or
 * buf is NULL or size is 0. */
WEFT_API int weft_thread_name(weft_thread th, char *buf, size_t size);

/* Rename the thread (the name is copied). If th is the calling thread, its OS name
 * changes too (cut as in weft_thread_opts.name); the OS name of another thread is
 * left as it was, since that thread may be exiting meanwhile. Never blocks for long
 * (it takes the per-thread name lock).
 * Returns 0; EINVAL if th or name is NULL; ENOMEM (the name is unchanged). */
WEFT_API int weft_thread_set_name(weft_thread th, const char *name);

/* The thread's weft identifier: unique for the life of the process, never reused,
 * never 0. 0 for NULL. Never blocks. */
WEFT_API uint64_t weft_thread_ident(weft_thread th);

/* The OS's id of the thread: with the linux backend the kernel's thread id
 * (gettid); with the portable backend (POSIX has no integer thread id) a number
 * weft gives each thread, unique among live threads, never 0. -1 for NULL. For a
 * thread just started this waits until the thread has begun running (it learns
 * its own id). The id of a thread that has ended may since have been reused. */
WEFT_API int64_t weft_thread_native_id(weft_thread th);

/* The calling thread's handle (borrowed: do not release it). Works on any thread;
 * a thread weft did not start gets a descriptor on its first call, freed when it
 * exits. NULL only if that first call finds no memory. Never blocks for long (a
 * first call takes the thread registry's lock; later ones are one TLS load). */
WEFT_API weft_thread weft_thread_current(void);

/* The main thread's handle (borrowed): the thread that loaded the library. NULL
 * only if the library found no memory when it was loaded. Never blocks (beyond the
 * library's one-time setup). */
WEFT_API weft_thread weft_thread_main(void);

/* How many threads are live: started and not yet finished weft threads, the main
 * thread, and foreign threads that have called weft_thread_current. Exact at any
 * moment no thread starts or finishes. Never blocks for long. */
WEFT_API size_t weft_thread_active_count(void);

/* Store handles to up to n live threads in buf (a snapshot: each was live at one
 * moment, none twice) and return how many were stored. Each stored handle is new:
 * release it with weft_thread_release. Never blocks for long. */
WEFT_API size_t weft_thread_enumerate(weft_thread *buf, size_t n);

/* Wait, at most timeout_ns, until every non-daemon weft thread other than the
 * caller has finished, including those started meanwhile (what Python does at
 * interpreter exit). On 0, every such thread started before the call (and every
 * one it found meanwhile) is finished: weft_thread_is_alive is false for it. Does
 * not join them: each can still be joined or released.
 * Two non-daemon weft threads calling it at once wait for each other (until their
 * timeouts): call it from one thread, as Python does from the main thread at exit.
 * Returns 0 or ETIMEDOUT. */
WEFT_API int weft_thread_join_all(int64_t timeout_ns);

/* As weft_thread_join_all with an absolute deadline; ECANCELED once d's token has
 * fired with a thread still running. */
WEFT_API int weft_thread_join_all_until(weft_deadline d);

/* End the calling weft thread now with `result` (what join reports), as if its
 * function had returned it: its thread-local blocks are destroyed and its joiners
 * woken. Does not return, except with an error when nothing happens:
 * EINVAL when called on a thread weft did not start (main or foreign), or from a
 * thread that is already ending (a weft_local destructor running at its exit: the
 * exit goes on as it was); EPERM on a thread weft must keep running (a
 * weft_pool worker: a task that ended it would leave its future unfinished and
 * the pool a worker short; return from the task instead). */
WEFT_API int weft_thread_exit(void *result);

/* Give back a handle from weft_thread_start or weft_thread_enumerate. When the
 * last one goes, a thread that was never joined is detached (it runs on; its
 * resources go when it ends). Never blocks.
 * Returns 0; EINVAL if th is NULL or no handle to it is held (over-release of a
 * thread that is still alive, or release of a borrowed current()/main() handle);
 * a handle must not be used after its release. */
WEFT_API int weft_thread_release(weft_thread th);

WEFT_END_DECLS

#endif
