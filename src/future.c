/* weft_future: one state word (table in src/future_internal.h) over the waiting
 * core.
 *
 * Layout and invariant: `state` holds the phase and four flags; `result` and
 * `error` are written by the one thread that moves the future to FINISHED, before
 * the release CAS that publishes FINISHED, and read only after an acquire load has
 * seen a final phase. Callbacks and watches live in one list under `lock`; an adder
 * sets LISTENERS with an RMW on `state` under that lock, so in the word's
 * modification order the adder's RMW and the finisher's CAS come one before the
 * other: either the adder sees the future done (and runs its callback itself), or
 * the finisher sees LISTENERS (and takes the lock, after the adder has linked its
 * entry). Each callback therefore runs exactly once.
 *
 * Fast paths: result() on a done future is one acquire load; finishing a future
 * nobody waits on is one CAS. A waiter spins (WF_SPIN_YIELDING), then sets
 * SLEEPERS and sleeps on the word (wf_sleep_flagged); the finisher wakes the word
 * only if SLEEPERS was set. A future of an executor (a pool) asks the executor's
 * hook how to wait: a worker of the pool runs its tasks meanwhile.
 *
 * Several futures (wait, as_completed): the waiter links one watch per future; a
 * future becoming done pushes its watch onto the waiter's lock-free stack of fired
 * watches, then counts it in the waiter's sequence word and wakes it, under the
 * future's lock. The waiter leaves only once it has unwatched every future not
 * fired and the sequence word has counted every watch that did fire, so no
 * finisher can still touch the waiter's memory. Fired watches popped in a batch
 * are reversed, which hands futures back in completion order.
 *
 * Allocation: a future is one cache line from the magazine class
 * WF_MAGAZINE_FUTURE (src/magazine.h): a pool's workers free what its submitters
 * allocate.
 *
 * Cancellation (weft/cancel.h): every wait here sleeps through the waiting core
 * under the caller's deadline, so its token ends the wait as a timeout would; the
 * `_until` calls then return ECANCELED with the futures untouched (still pending
 * or running, no result taken, every watch unregistered as on a timeout).
 *
 * Wait for any: the future's source for weft_wait_any is at the end
 * (src/select_internal.h describes the moves).
 */
#include "future_internal.h"
#include "select_internal.h"
#include "waiting.h"

#include <stdlib.h>

/* acquire: the state publishes the result, the task's work and the callbacks'
 * list; told to TSan too (src/tsan.h), as is every release of it below. */
static inline uint32_t wf_future_state(const weft_future *f)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    wf_tsan_acquire(&f->state);
    return s;
}

enum {
    WF_WAIT_ON_STACK = 16,       /* watches of a wait() kept on the stack */
    WF_FUTURE_DEPOT_MAX = 2048,  /* full magazines the depot keeps (128 Ki futures, 8 MiB) */
};

wf_magazine_class wf_future_magazine = WF_MAGAZINE_CLASS_INIT(
    WF_MAGAZINE_FUTURE, sizeof(weft_future), WF_CACHE_LINE, WF_FUTURE_DEPOT_MAX);

static inline uint32_t wf_phase(uint32_t s)
{
    return s & WF_FUTURE_PHASE;
}

static inline bool wf_is_done(uint32_t s)
{
    return wf_phase(s) >= WF_FUTURE_FINISHED;
}

/* ---- allocation (wf_future_new is inline in future_internal.h) ------------------- */

int weft_future_create(weft_future **f)
{
    if (!f)
        return EINVAL;
    weft_future *made = wf_future_new(1, 0, NULL, NULL, NULL);
    if (!made)
        return ENOMEM; /* *f unchanged, as after any failed create */
    *f = made;
    return 0;
}

/* ---- completion ------------------------------------------------------------------ */

/* Runs the listeners of a future that has just become done: watches under the
 * lock (they are short and must not outlive their waiter's unwatch), callbacks
 * after it, oldest first. A watch is not touched once its fn has run: its waiter
 * may be gone. */
static void wf_future_fire(weft_future *f)
{
    weft_lock_acquire(&f->lock);
    wf_tsan_acquire(&f->lock); /* see wf_future_link */
    wf_list callbacks = {NULL, NULL};
    WF_LIST_FOREACH(n, next, &f->listeners) {
        struct wf_watch *w = WF_CONTAINER(n, struct wf_watch, link);
        w->linked = false;
        if (w->fn)
            w->fn(w, f);
        else
            wf_list_push_back(&callbacks, &w->link);
    }
    f->listeners = (wf_list){NULL, NULL};
    weft_lock_release(&f->lock);
    for (wf_list_node *n; (n = wf_list_pop_front(&callbacks));) {
        struct wf_watch *cb = WF_CONTAINER(n, struct wf_watch, link);
        cb->callback(f, cb->callback_arg);
        free(cb);
    }
}

/* After the CAS that made f done (`old` is the word it replaced). */
static void wf_future_after_done(weft_future *f, uint32_t old)
{
    /* Lost wakeup avoided: the phase changed before this wake, and a sleeper
     * sleeps only while the word still reads its value with SLEEPERS set, so
     * either its sleep sees the change or this wake finds it. */
    if (old & WF_FUTURE_SLEEPERS)
        wf_wake(&f->state, INT_MAX);
    if (old & WF_FUTURE_LISTENERS)
        wf_future_fire(f);
}

/* The owner of a RUNNING future (its runner or setter) publishes FINISHED. */
static void wf_future_publish_finished(weft_future *f)
{
    /* relaxed: a first guess for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    uint32_t want;
    wf_tsan_release(&f->state); /* the release below, told */
    do {
        want = (old & ~(WF_FUTURE_PHASE | WF_FUTURE_SETTING)) | WF_FUTURE_FINISHED;
        /* release: result and error, written just before, reach every reader that
         * sees FINISHED with acquire. */
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &old, want, memory_order_release,
                                                    memory_order_relaxed));
    wf_future_after_done(f, old);
}

void wf_future_finish(weft_future *f, void *result, int error)
{
    f->result = result;
    f->error = error;
    wf_future_publish_finished(f);
}

bool wf_future_set_running(weft_future *f)
{
    /* relaxed: a first guess for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (wf_phase(old) != WF_FUTURE_PENDING)
            return false;
        /* relaxed: the claim only decides who runs the task; the task itself came
         * with acquire through the queue it was taken from. */
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &old,
                                                    (old & ~WF_FUTURE_PHASE) | WF_FUTURE_RUNNING,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

bool wf_future_cancel_pending(weft_future *f)
{
    /* relaxed: a first guess for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (wf_phase(old) != WF_FUTURE_PENDING)
            return false;
        /* release, as every move to a final phase: a thread that sees the future
         * done with acquire also sees what its mover did before. */
        wf_tsan_release(&f->state); /* the release below, told */
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &old, (old & ~WF_FUTURE_PHASE) | WF_FUTURE_CANCELLED, memory_order_release,
        memory_order_relaxed));
    if (f->exec)
        f->exec->unpend(f->exec->ctx);
    wf_future_after_done(f, old);
    return true;
}

/* ---- the executor's side ------------------------------------------------------------ */

int weft_future_set_running_or_notify_cancel(weft_future *f)
{
    if (!f)
        return EINVAL;
    if (f->exec)
        return EPERM;
    /* relaxed: a first guess for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    for (;;) {
        if (wf_phase(old) == WF_FUTURE_CANCELLED)
            return ECANCELED;
        if (wf_phase(old) != WF_FUTURE_PENDING)
            return EINVAL;
        /* relaxed: decides only that the caller runs the call. */
        if (atomic_compare_exchange_weak_explicit(&f->state, &old,
                                                  (old & ~WF_FUTURE_PHASE) | WF_FUTURE_RUNNING,
                                                  memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

static int wf_future_set(weft_future *f, void *result, int error)
{
    if (!f)
        return EINVAL;
    if (f->exec)
        return EPERM;
    /* relaxed: a first guess for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (wf_is_done(old) || (old & WF_FUTURE_SETTING))
            return EINVAL;
        /* relaxed: claims the right to write result and error; the publishing CAS
         * below releases them. Phase RUNNING makes a racing cancel fail. */
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &old, (old & ~WF_FUTURE_PHASE) | WF_FUTURE_RUNNING | WF_FUTURE_SETTING,
        memory_order_relaxed, memory_order_relaxed));
    wf_future_finish(f, result, error);
    return 0;
}

int weft_future_set_result(weft_future *f, void *result)
{
    return wf_future_set(f, result, 0);
}

int weft_future_set_error(weft_future *f, int error)
{
    if (error == 0)
        return EINVAL;
    return wf_future_set(f, NULL, error);
}

/* ---- the caller's side ----------------------------------------------------------------- */

/* Waits until f is done (0) or d passes (ETIMEDOUT), for a thread that cannot
 * run f's executor's tasks meanwhile. WF_SPIN_YIELDING: a task about to end is
 * caught by the pauses; with more threads than cores the yields give the task's
 * worker the core, and nobody pays for a sleep and a wake (two system calls). */
static int wf_future_sleep(weft_future *f, weft_deadline d)
{
    /* The token is looked at before the spin (weft/cancel.h); a deadline of never
     * without one skips the call. */
    if ((d.ns != INT64_MAX || d.cancel) && weft_deadline_passed(d))
        return ETIMEDOUT;
    wf_spinner spin = wf_spinner_start(WF_SPIN_YIELDING);
    do {
        /* relaxed: the caller re-reads with acquire once done. */
        if (wf_is_done(atomic_load_explicit(&f->state, memory_order_relaxed)))
            return 0;
    } while (wf_spin(&spin));
    /* relaxed: as above. */
    uint32_t seen = atomic_load_explicit(&f->state, memory_order_relaxed);
    while (!wf_is_done(seen)) {
        /* Lost wakeup avoided: we sleep only while the word still reads `seen` with
         * SLEEPERS set; the finisher changes the phase before it wakes. */
        if (wf_sleep_flagged(&f->state, &seen, WF_FUTURE_SLEEPERS, d) == ETIMEDOUT)
            return wf_is_done(seen) ? 0 : ETIMEDOUT;
    }
    return 0;
}

int weft_future_result_until(weft_future *f, weft_deadline d, void **result)
{
    if (!f)
        return EINVAL;
    /* acquire: pairs with the release that published the final phase, so result
     * and error are complete. */
    uint32_t s = wf_future_state(f);
    if (!wf_is_done(s)) {
        enum wf_exec_wait how = f->exec ? f->exec->wait_how(f->exec->ctx, f) : WF_EXEC_SLEEP;
        if (how == WF_EXEC_SELF)
            return EDEADLK;
        int r = how == WF_EXEC_HELP ? f->exec->help_until(f->exec->ctx, f, d)
                                    : wf_future_sleep(f, d);
        if (r != 0)
            return wf_cancel_result(r, d); /* the token's ECANCELED: f not done */
        /* acquire: as above. */
        s = wf_future_state(f);
    }
    if (wf_phase(s) == WF_FUTURE_CANCELLED)
        return ECANCELED;
    if (result)
        *result = f->result;
    return f->error;
}

int weft_future_result(weft_future *f, int64_t timeout_ns, void **result)
{
    if (!f)
        return EINVAL;
    /* acquire: as in result_until; the done case needs no deadline. */
    if (wf_is_done(wf_future_state(f)))
        return weft_future_result_until(f, WEFT_DEADLINE_NEVER, result);
    return weft_future_result_until(f, weft_deadline_in(timeout_ns), result);
}

int weft_future_cancel(weft_future *f)
{
    if (!f)
        return EINVAL;
    if (wf_future_cancel_pending(f))
        return 0;
    /* relaxed: a snapshot; the phase is final once it is not PENDING. */
    return wf_phase(atomic_load_explicit(&f->state, memory_order_relaxed)) == WF_FUTURE_CANCELLED
               ? 0
               : EBUSY;
}

bool weft_future_cancelled(const weft_future *f)
{
    /* acquire: a caller that sees the final phase may go on to read results. */
    return f && wf_phase(wf_future_state(f)) ==
                    WF_FUTURE_CANCELLED;
}

bool weft_future_running(const weft_future *f)
{
    /* relaxed: a snapshot that orders nothing. */
    return f &&
           wf_phase(atomic_load_explicit(&f->state, memory_order_relaxed)) == WF_FUTURE_RUNNING;
}

bool weft_future_done(const weft_future *f)
{
    /* acquire: as for cancelled. */
    return f && wf_is_done(wf_future_state(f));
}

/* Links w at the end of f's listeners, unless f is done (false). */
static bool wf_future_link(weft_future *f, struct wf_watch *w)
{
    weft_lock_acquire(&f->lock);
    /* acquire: a caller told "done" may read the result. The RMW is what orders us
     * against the finisher's CAS (see the top of the file). */
    uint32_t old = atomic_fetch_or_explicit(&f->state, WF_FUTURE_LISTENERS, memory_order_acquire);
    wf_tsan_acquire(&f->state);
    if (wf_is_done(old)) {
        weft_lock_release(&f->lock);
        return false;
    }
    wf_list_push_back(&f->listeners, &w->link);
    w->linked = true;
    wf_tsan_release(&f->lock); /* the listener's making, told: f->lock carries it */
    weft_lock_release(&f->lock);
    return true;
}

int weft_future_add_done_callback(weft_future *f, weft_future_callback fn, void *arg)
{
    if (!f || !fn)
        return EINVAL;
    /* acquire: the callback may read what the finisher published. */
    if (wf_is_done(wf_future_state(f))) {
        fn(f, arg);
        return 0;
    }
    struct wf_watch *cb = malloc(sizeof *cb);
    if (!cb)
        return ENOMEM;
    cb->fn = NULL;
    cb->callback = fn;
    cb->callback_arg = arg;
    if (!wf_future_link(f, cb)) {
        free(cb);
        fn(f, arg);
    }
    return 0;
}

bool wf_future_watch(weft_future *f, struct wf_watch *w)
{
    /* acquire: a caller told "done" may read the future's result. */
    if (wf_is_done(wf_future_state(f)))
        return false;
    return wf_future_link(f, w);
}

void wf_future_unwatch(weft_future *f, struct wf_watch *w)
{
    weft_lock_acquire(&f->lock);
    if (w->linked) {
        wf_list_remove(&f->listeners, &w->link);
        w->linked = false;
    }
    weft_lock_release(&f->lock);
}

weft_future *weft_future_retain(weft_future *f)
{
    /* relaxed: the caller holds a reference, so the count cannot reach zero
     * meanwhile; nothing is published by taking one. */
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

int weft_future_release(weft_future *f)
{
    if (!f)
        return EINVAL;
    /* acq_rel: release orders this holder's uses of f before the free; acquire,
     * on the last reference, makes every other holder's uses happen before it
     * (an RMW rather than a standalone fence, which TSan would not see). */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        /* Callbacks of a future that never completed never run. */
        WF_LIST_FOREACH(n, next, &f->listeners) {
            struct wf_watch *w = WF_CONTAINER(n, struct wf_watch, link);
            if (!w->fn)
                free(w);
        }
        wf_magazine_free(&wf_future_magazine, f);
    }
    return 0;
}

/* ---- several futures --------------------------------------------------------------------- */

/* A waiter on several futures. A fired watch is pushed on `fired`, then counted in
 * `fires` (the word the waiter sleeps on) and woken. */
struct wf_futures_waiter {
    _Atomic(struct wf_watch *) fired;
    _Atomic uint32_t fires; /* watches pushed on `fired` so far */
    uint32_t taken;         /* the waiter's own: watches it has popped */
};

struct wf_waiter_watch {
    struct wf_watch watch; /* first: the watch callback casts back */
    struct wf_futures_waiter *waiter;
    size_t index;    /* in the caller's array */
    bool registered; /* linked, or fired and not yet taken */
    bool repeat;     /* as_completed: the future is at an earlier index too */
};

static void wf_waiter_init(struct wf_futures_waiter *waiter)
{
    atomic_init(&waiter->fired, NULL);
    atomic_init(&waiter->fires, 0);
    waiter->taken = 0;
}

static void wf_waiter_fire(struct wf_watch *w, weft_future *f)
{
    (void)f;
    struct wf_futures_waiter *waiter = ((struct wf_waiter_watch *)w)->waiter;
    /* relaxed: only the CAS below publishes. */
    struct wf_watch *top = atomic_load_explicit(&waiter->fired, memory_order_relaxed);
    do {
        w->done_next = top;
        /* release: the waiter that pops this watch (acquire) sees the future done
         * with everything its finisher published (we run after that CAS). */
    } while (!atomic_compare_exchange_weak_explicit(&waiter->fired, &top, w,
                                                    memory_order_release, memory_order_relaxed));
    /* release: pairs with the waiter's acquire loads of fires (wf_waiter_next, and
     * wf_waiter_leave, which waits for this count before the waiter's memory goes:
     * this is our last touch of it; the wake below uses only the address). */
    atomic_fetch_add_explicit(&waiter->fires, 1, memory_order_release);
    /* Lost wakeup avoided: fires changed before this wake, and the waiter sleeps
     * only while it reads the value it loaded before finding `fired` empty. */
    wf_wake(&waiter->fires, 1);
}

/* Takes the fired watches, oldest first. */
static struct wf_watch *wf_waiter_take(struct wf_futures_waiter *waiter)
{
    /* acquire: pairs with the release pushes. */
    struct wf_watch *w = atomic_exchange_explicit(&waiter->fired, NULL, memory_order_acquire);
    struct wf_watch *in_order = NULL;
    while (w) {
        struct wf_watch *next = w->done_next;
        w->done_next = in_order;
        in_order = w;
        w = next;
        waiter->taken++;
    }
    return in_order;
}

/* The watches fired since the last take, oldest first, sleeping until one fires.
 * Once d passes: sets *timed_out and returns what fired by then (maybe NULL). */
static struct wf_watch *wf_waiter_next(struct wf_futures_waiter *waiter, weft_deadline d,
                                       bool *timed_out)
{
    for (;;) {
        /* acquire: pairs with the fire's release increment (wf_waiter_fire). */
        uint32_t seen = atomic_load_explicit(&waiter->fires, memory_order_acquire);
        struct wf_watch *w = wf_waiter_take(waiter);
        if (w)
            return w;
        /* Sleeps only while fires still reads `seen` (see wf_waiter_fire). */
        if (wf_sleep(&waiter->fires, seen, d) == ETIMEDOUT) {
            *timed_out = true;
            return wf_waiter_take(waiter);
        }
    }
}

/* The waiter's last step, once every watch still registered is unwatched: no
 * future can fire another watch now, so `fired` holds the last ones; wait until
 * every finisher that pushed a watch has also counted it (it may be between the
 * two, and it touches the waiter's memory until then). */
static void wf_waiter_leave(struct wf_futures_waiter *waiter)
{
    wf_waiter_take(waiter);
    wf_spinner spin = wf_spinner_start(WF_SPIN_PEER);
    /* acquire: pairs with the fire's release increment, its last touch. */
    while (atomic_load_explicit(&waiter->fires, memory_order_acquire) != waiter->taken)
        wf_spin(&spin);
}

static inline bool wf_future_failed(const weft_future *f)
{
    /* acquire: error is read only after seeing FINISHED. */
    return wf_phase(wf_future_state(f)) == WF_FUTURE_FINISHED &&
           f->error != 0;
}

static bool wf_wait_met(int return_when, size_t done, size_t n, bool failed)
{
    if (done == n)
        return true;
    if (return_when == WEFT_FIRST_COMPLETED)
        return done > 0;
    if (return_when == WEFT_FIRST_EXCEPTION)
        return failed;
    return false;
}

int weft_futures_wait_until(weft_future *const *fs, size_t n, weft_deadline d, int return_when)
{
    if ((!fs && n > 0) || (return_when != WEFT_FIRST_COMPLETED &&
                           return_when != WEFT_FIRST_EXCEPTION &&
                           return_when != WEFT_ALL_COMPLETED))
        return EINVAL;
    size_t done = 0;
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return EINVAL;
        if (weft_future_done(fs[i])) {
            done++;
            failed |= wf_future_failed(fs[i]);
        }
    }
    if (wf_wait_met(return_when, done, n, failed))
        return 0;
    if (weft_deadline_passed(d))
        return wf_cancel_result(ETIMEDOUT, d);

    struct wf_waiter_watch on_stack[WF_WAIT_ON_STACK];
    struct wf_waiter_watch *ws = n <= WF_WAIT_ON_STACK ? on_stack : malloc(n * sizeof *ws);
    if (!ws)
        return ENOMEM;
    struct wf_futures_waiter waiter;
    wf_waiter_init(&waiter);
    done = 0;
    failed = false;
    for (size_t i = 0; i < n; i++) {
        ws[i].watch.fn = wf_waiter_fire;
        ws[i].waiter = &waiter;
        ws[i].index = i;
        ws[i].registered = wf_future_watch(fs[i], &ws[i].watch);
        if (!ws[i].registered) {
            done++;
            failed |= wf_future_failed(fs[i]);
        }
    }
    int r = 0;
    bool timed_out = false;
    while (!wf_wait_met(return_when, done, n, failed)) {
        for (struct wf_watch *w = wf_waiter_next(&waiter, d, &timed_out); w;
             w = w->done_next) {
            struct wf_waiter_watch *fired = (struct wf_waiter_watch *)w;
            fired->registered = false;
            done++;
            failed |= wf_future_failed(fs[fired->index]);
        }
        if (timed_out) {
            if (!wf_wait_met(return_when, done, n, failed))
                r = wf_cancel_result(ETIMEDOUT, d);
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (ws[i].registered)
            wf_future_unwatch(fs[i], &ws[i].watch);
    wf_waiter_leave(&waiter);
    if (ws != on_stack)
        free(ws);
    return r;
}

int weft_futures_wait(weft_future *const *fs, size_t n, int64_t timeout_ns, int return_when)
{
    return weft_futures_wait_until(fs, n, weft_deadline_in(timeout_ns), return_when);
}

/* Sorting (pointer, position) pairs finds repeated futures in O(n log n). */
struct wf_ptr_pos {
    uintptr_t ptr;
    size_t pos;
};

static int wf_ptr_pos_cmp(const void *a, const void *b)
{
    const struct wf_ptr_pos *x = a, *y = b;
    if (x->ptr != y->ptr)
        return x->ptr < y->ptr ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Marks ws[i].repeat for every position holding a future seen at an earlier one. */
static int wf_mark_repeats(weft_future *const *fs, size_t n, struct wf_waiter_watch *ws)
{
    struct wf_ptr_pos *order = malloc(n * sizeof *order);
    if (!order)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        order[i] = (struct wf_ptr_pos){(uintptr_t)fs[i], i};
        ws[i].repeat = false;
    }
    qsort(order, n, sizeof *order, wf_ptr_pos_cmp);
    for (size_t i = 1; i < n; i++)
        if (order[i].ptr == order[i - 1].ptr)
            ws[order[i].pos].repeat = true;
    free(order);
    return 0;
}

int weft_futures_as_completed_until(weft_future *const *fs, size_t n, weft_deadline d,
                                    int (*fn)(weft_future *f, void *arg), void *arg)
{
    if ((!fs && n > 0) || !fn)
        return EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return EINVAL;
    if (n == 0)
        return 0;
    struct wf_waiter_watch *ws = malloc(n * sizeof *ws);
    if (!ws)
        return ENOMEM;
    if (wf_mark_repeats(fs, n, ws) != 0) {
        free(ws);
        return ENOMEM;
    }

    struct wf_futures_waiter waiter;
    wf_waiter_init(&waiter);
    /* Register every future first, so that those finishing meanwhile come back in
     * completion order; those done already are handed back first, in the order
     * given. A future is not touched after it is handed back: fn may release it. */
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        ws[i].registered = false;
        if (ws[i].repeat)
            continue;
        left++;
        ws[i].watch.fn = wf_waiter_fire;
        ws[i].waiter = &waiter;
        ws[i].index = i;
        ws[i].registered = wf_future_watch(fs[i], &ws[i].watch);
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (ws[i].repeat || ws[i].registered)
            continue;
        left--;
        r = fn(fs[i], arg);
    }
    while (r == 0 && left > 0) {
        bool timed_out = false;
        struct wf_watch *w = wf_waiter_next(&waiter, d, &timed_out);
        if (!w) {
            r = wf_cancel_result(ETIMEDOUT, d);
            break;
        }
        /* Fired watches are unlinked already: never unwatch them (fn may free
         * their futures). */
        for (struct wf_watch *x = w; x; x = x->done_next)
            ((struct wf_waiter_watch *)x)->registered = false;
        for (; w && r == 0; w = w->done_next) {
            left--;
            r = fn(fs[((struct wf_waiter_watch *)w)->index], arg);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (ws[i].registered)
            wf_future_unwatch(fs[i], &ws[i].watch);
    wf_waiter_leave(&waiter);
    free(ws);
    return r;
}

int weft_futures_as_completed(weft_future *const *fs, size_t n, int64_t timeout_ns,
                              int (*fn)(weft_future *f, void *arg), void *arg)
{
    return weft_futures_as_completed_until(fs, n, weft_deadline_in(timeout_ns), fn, arg);
}

/* ---- wait for any: future done -------------------------------------------------------
 * A sleeper sets SLEEPERS and sleeps on the state word; the move to a final phase
 * wakes all, so there is nothing to pass on. */

static bool wf_source_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    (void)flags;
    if (!weft_future_done(s->future))
        return false;
    s->result = 0;
    return true;
}

static int wf_source_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                             const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)flags;
    (void)room;
    _Atomic uint32_t *w = &s->future->state;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (wf_is_done(v))
            return 0;
        /* relaxed: announcing a sleeper orders no data (try re-reads with acquire). */
        if ((v & WF_FUTURE_SLEEPERS) ||
            atomic_compare_exchange_weak_explicit(w, &v, v | WF_FUTURE_SLEEPERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: we sleep only while the word reads not done with SLEEPERS
     * up; the finisher changes the phase before it wakes (wf_future_after_done). */
    words[0] = w;
    expected[0] = v | WF_FUTURE_SLEEPERS;
    return 1;
}

const wf_source_ops wf_future_ops = {NULL, wf_source_try, wf_source_prepare,
                                     wf_nothing_to_undo, wf_one_word};
