/* weft_future: one state word (table in src/pool_internal.h) over the wait layer.
 *
 * Layout and invariant: `state` holds the phase and two flags; `result` and `error`
 * are written by the one thread that moves the future to FINISHED, before the
 * release CAS that publishes FINISHED, and read only after an acquire load has seen
 * a final phase. Callbacks and watches live in lists under `lock`; an adder sets
 * LISTENERS with an RMW on `state` under that lock, so in the word's modification
 * order the adder's RMW and the finisher's CAS come one before the other: either
 * the adder sees the future done (and runs its callback itself), or the finisher
 * sees LISTENERS (and takes the lock, after the adder has linked its entry). Each
 * callback therefore runs exactly once.
 *
 * Fast paths: result() on a done future is one acquire load; finishing a future
 * nobody waits on is one CAS. A waiter spins briefly, then sets SLEEPERS and sleeps
 * on the word; the finisher wakes the word only if SLEEPERS was set.
 *
 * Several futures (wait, as_completed): the waiter links one watch per future; a
 * future becoming done pushes its watch onto the waiter's lock-free stack of fired
 * watches, bumps the waiter's sequence word and wakes it, all under the future's
 * lock, so once the waiter has unwatched every future no finisher can still touch
 * the waiter's memory. Fired watches popped in a batch are reversed, which hands
 * futures back in completion order.
 *
 * Allocation: a future is one cache line, recycled through per-thread magazines
 * and a global depot. A pool's workers free what its submitters allocate, the
 * pattern malloc handles worst (a third of the cost of a task in a profile); here a
 * thread trades a magazine of WF_MAG_SIZE futures with the depot in one lock hold.
 * The depot keeps at most WF_DEPOT_MAX magazines (the rest goes back to malloc),
 * and an exiting thread's magazines go to it.
 */
#include "pool_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define WF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WF_ASAN 1
#endif
#endif
#ifdef WF_ASAN
#include <sanitizer/asan_interface.h>
/* A cached future is poisoned, so ASan still sees a use after release. */
#define WF_POISON(f) ASAN_POISON_MEMORY_REGION((f), sizeof(weft_future))
#define WF_UNPOISON(f) ASAN_UNPOISON_MEMORY_REGION((f), sizeof(weft_future))
#else
#define WF_POISON(f) ((void)(f))
#define WF_UNPOISON(f) ((void)(f))
#endif

enum {
    WF_FUTURE_SPIN = 100,  /* polls before sleeping: covers a task about to end */
    WF_FUTURE_YIELDS = 8,  /* then yields: with more threads than cores, the task's
                              worker gets the core, and nobody pays for a sleep and a
                              wake (two system calls); alone, a yield is a short spin */
    WF_WAIT_ON_STACK = 16, /* watches of a wait() kept on the stack */
    WF_MAG_SIZE = 64,      /* free futures in a magazine */
    WF_DEPOT_MAX = 2048,   /* full magazines the depot keeps (128 Ki futures, 8 MiB) */
};

static inline uint32_t wf_phase(uint32_t s)
{
    return s & WF_FUTURE_PHASE;
}

static inline bool wf_is_done(uint32_t s)
{
    return wf_phase(s) >= WF_FUTURE_FINISHED;
}

/* ---- allocation ------------------------------------------------------------------ */

/* Bonwick's magazines: a magazine is an array of free futures, so moving 64 of them
 * touches none (a linked free list would cost one cache miss per future, the lines
 * being last written by the other thread). Each thread holds a loaded and a previous
 * magazine and trades whole magazines with the depot under one lock hold. */
struct wf_mag {
    struct wf_mag *next; /* in the depot */
    uint32_t n;
    weft_future *items[WF_MAG_SIZE];
};

static weft_lock wf_depot_lock = WEFT_LOCK_INIT;
static struct wf_mag *wf_depot_full;  /* under wf_depot_lock: magazines with futures */
static struct wf_mag *wf_depot_empty; /* under wf_depot_lock: empty magazines */
static size_t wf_depot_count;         /* under wf_depot_lock: full magazines */

/* initial-exec: no __tls_get_addr call in the shared library (24 bytes of static
 * TLS). */
static _Thread_local struct wf_cache {
    struct wf_mag *loaded, *previous;
    bool registered; /* its exit flush is set up */
} wf_cache __attribute__((tls_model("initial-exec")));

static pthread_key_t wf_cache_key;
static pthread_once_t wf_cache_once = PTHREAD_ONCE_INIT;

static void wf_mag_free_all(struct wf_mag *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        free(m->items[i]);
    free(m);
}

/* Gives magazine m to the depot (any fill level), or frees it if the depot is full. */
static void wf_depot_put(struct wf_mag *m)
{
    weft_lock_acquire(&wf_depot_lock);
    bool room = m->n == 0 || wf_depot_count < WF_DEPOT_MAX;
    if (room && m->n == 0) {
        m->next = wf_depot_empty;
        wf_depot_empty = m;
    } else if (room) {
        m->next = wf_depot_full;
        wf_depot_full = m;
        wf_depot_count++;
    }
    weft_lock_release(&wf_depot_lock);
    if (!room)
        wf_mag_free_all(m);
}

static void wf_cache_flush(void *arg)
{
    struct wf_cache *c = arg;
    c->registered = false; /* a later destructor's release registers again */
    if (c->loaded)
        wf_depot_put(c->loaded);
    if (c->previous)
        wf_depot_put(c->previous);
    c->loaded = c->previous = NULL;
}

static void wf_cache_make_key(void)
{
    pthread_key_create(&wf_cache_key, wf_cache_flush);
}

/* Sets up the flush of this thread's cache at its exit (pthread key destructors run
 * then); false if that cannot be done (the caller then bypasses the cache). */
static bool wf_cache_register(struct wf_cache *c)
{
    if (c->registered)
        return true;
    pthread_once(&wf_cache_once, wf_cache_make_key);
    if (pthread_setspecific(wf_cache_key, c) != 0)
        return false;
    c->registered = true;
    return true;
}

static weft_future *wf_future_alloc(void)
{
    struct wf_cache *c = &wf_cache;
    if (!c->loaded || c->loaded->n == 0) {
        if (c->previous && c->previous->n > 0) {
            struct wf_mag *m = c->previous;
            c->previous = c->loaded;
            c->loaded = m;
        } else {
            /* Both empty: trade the previous one for a full one from the depot. */
            if (!wf_cache_register(c))
                return aligned_alloc(64, sizeof(weft_future));
            weft_lock_acquire(&wf_depot_lock);
            struct wf_mag *full = wf_depot_full;
            if (full) {
                wf_depot_full = full->next;
                wf_depot_count--;
                if (c->previous) {
                    c->previous->next = wf_depot_empty;
                    wf_depot_empty = c->previous;
                }
                c->previous = c->loaded;
                c->loaded = full;
            }
            weft_lock_release(&wf_depot_lock);
            if (!full)
                return aligned_alloc(64, sizeof(weft_future));
        }
    }
    weft_future *f = c->loaded->items[--c->loaded->n];
    WF_UNPOISON(f);
    return f;
}

static void wf_future_free(weft_future *f)
{
    struct wf_cache *c = &wf_cache;
    if (!c->loaded || c->loaded->n == WF_MAG_SIZE) {
        if (c->previous && c->previous->n == 0) {
            struct wf_mag *m = c->previous;
            c->previous = c->loaded;
            c->loaded = m;
        } else {
            /* Both full: give the previous one to the depot, load an empty one. */
            if (!wf_cache_register(c)) {
                free(f);
                return;
            }
            weft_lock_acquire(&wf_depot_lock);
            struct wf_mag *empty = wf_depot_empty;
            if (empty)
                wf_depot_empty = empty->next;
            weft_lock_release(&wf_depot_lock);
            if (!empty && !(empty = malloc(sizeof *empty))) {
                free(f);
                return;
            }
            empty->n = 0;
            if (c->previous)
                wf_depot_put(c->previous);
            c->previous = c->loaded;
            c->loaded = empty;
        }
    }
    c->loaded->items[c->loaded->n++] = f;
    WF_POISON(f);
}

weft_future *wf_future_new(uint32_t refs, uint32_t flags)
{
    weft_future *f = wf_future_alloc();
    if (!f)
        return NULL;
    atomic_init(&f->state, WF_FUTURE_PENDING | flags);
    atomic_init(&f->refs, refs);
    atomic_init(&f->lock.word, 0);
    f->error = 0;
    f->result = NULL;
    f->listeners = NULL;
    f->pool = NULL;
    f->fn = NULL;
    f->arg = NULL;
    return f;
}

int weft_future_create(weft_future **f)
{
    if (!f)
        return EINVAL;
    weft_future *nf = wf_future_new(1, 0);
    if (!nf)
        return ENOMEM;
    *f = nf;
    return 0;
}

/* ---- completion ------------------------------------------------------------------ */

/* Runs the listeners of a future that has just become done: watches under the
 * lock (they are short and must not outlive their waiter's unwatch), callbacks
 * after it, oldest first (the list is newest first). */
static void wf_future_fire(weft_future *f)
{
    weft_lock_acquire(&f->lock);
    struct wf_watch *callbacks = NULL;
    for (struct wf_watch *w = f->listeners, *next; w; w = next) {
        next = w->next;
        w->linked = false;
        if (w->fn) {
            w->fn(w, f);
        } else {
            w->done_next = callbacks;
            callbacks = w;
        }
    }
    f->listeners = NULL;
    weft_lock_release(&f->lock);
    while (callbacks) {
        struct wf_watch *next = callbacks->done_next;
        callbacks->callback(f, callbacks->callback_arg);
        free(callbacks);
        callbacks = next;
    }
}

/* After the CAS that made f done (`old` is the word it replaced). */
static void wf_future_after_done(weft_future *f, uint32_t old)
{
    /* Lost wakeup avoided: the phase changed before this wake, and a sleeper
     * sleeps only while the word still reads its value with SLEEPERS set, so
     * either its wf_wait sees the change or this wake finds it. */
    if (old & WF_FUTURE_SLEEPERS)
        wf_wake(&f->state, INT_MAX);
    if (old & WF_FUTURE_LISTENERS)
        wf_future_fire(f);
}

/* The owner of a RUNNING future (its runner or setter) publishes FINISHED. */
static void wf_future_publish_finished(weft_future *f)
{
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    uint32_t want;
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

bool wf_future_claim(weft_future *f)
{
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
    uint32_t old = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (wf_phase(old) != WF_FUTURE_PENDING)
            return false;
        /* release, as every move to a final phase: a thread that sees the future
         * done with acquire also sees what its mover did before. */
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &old, (old & ~WF_FUTURE_PHASE) | WF_FUTURE_CANCELLED, memory_order_release,
        memory_order_relaxed));
    if (f->pool)
        wf_pool_unpend(f->pool);
    wf_future_after_done(f, old);
    return true;
}

/* ---- the executor's side ------------------------------------------------------------ */

int weft_future_set_running_or_notify_cancel(weft_future *f)
{
    if (!f)
        return EINVAL;
    if (f->pool)
        return EPERM;
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
    if (f->pool)
        return EPERM;
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

/* Waits until f is done (0) or d passes (ETIMEDOUT), for a thread that is not
 * helping a pool. */
static int wf_future_sleep(weft_future *f, weft_deadline d)
{
    if (d.ns != INT64_MAX && weft_deadline_passed(d))
        return ETIMEDOUT;
    for (int spin = 0; spin < WF_FUTURE_SPIN + WF_FUTURE_YIELDS; spin++) {
        /* relaxed: the caller re-reads with acquire once done. */
        if (wf_is_done(atomic_load_explicit(&f->state, memory_order_relaxed)))
            return 0;
        if (spin < WF_FUTURE_SPIN)
            wf_cpu_relax();
        else
            sched_yield();
    }
    for (;;) {
        uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
        if (wf_is_done(s))
            return 0;
        /* relaxed: announcing a sleeper orders no data. */
        if (!(s & WF_FUTURE_SLEEPERS) &&
            !atomic_compare_exchange_weak_explicit(&f->state, &s, s | WF_FUTURE_SLEEPERS,
                                                   memory_order_relaxed, memory_order_relaxed))
            continue;
        /* Lost wakeup avoided: we sleep only while the word still reads s with
         * SLEEPERS set; the finisher changes the phase before it wakes. */
        if (wf_wait(&f->state, s | WF_FUTURE_SLEEPERS, d) == ETIMEDOUT)
            return wf_is_done(atomic_load_explicit(&f->state, memory_order_relaxed)) ? 0
                                                                                     : ETIMEDOUT;
    }
}

int weft_future_result_until(weft_future *f, weft_deadline d, void **result)
{
    if (!f)
        return EINVAL;
    /* acquire: pairs with the release that published the final phase, so result
     * and error are complete. */
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    if (!wf_is_done(s)) {
        int r = f->pool && wf_pool_is_own_worker(f->pool) ? wf_pool_help_until(f, d)
                                                          : wf_future_sleep(f, d);
        if (r != 0)
            return r;
        s = atomic_load_explicit(&f->state, memory_order_acquire);
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
    if (wf_is_done(atomic_load_explicit(&f->state, memory_order_acquire)))
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
    return f && wf_phase(atomic_load_explicit(&f->state, memory_order_acquire)) ==
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
    return f && wf_is_done(atomic_load_explicit(&f->state, memory_order_acquire));
}

/* Links w at the head of f's listeners, unless f is done (false). */
static bool wf_future_link(weft_future *f, struct wf_watch *w)
{
    weft_lock_acquire(&f->lock);
    /* acquire: a caller told "done" may read the result. The RMW is what orders us
     * against the finisher's CAS (see the top of the file). */
    uint32_t old = atomic_fetch_or_explicit(&f->state, WF_FUTURE_LISTENERS, memory_order_acquire);
    if (wf_is_done(old)) {
        weft_lock_release(&f->lock);
        return false;
    }
    w->prev = NULL;
    w->next = f->listeners;
    if (f->listeners)
        f->listeners->prev = w;
    f->listeners = w;
    w->linked = true;
    weft_lock_release(&f->lock);
    return true;
}

int weft_future_add_done_callback(weft_future *f, weft_future_callback fn, void *arg)
{
    if (!f || !fn)
        return EINVAL;
    /* acquire: the callback may read what the finisher published. */
    if (wf_is_done(atomic_load_explicit(&f->state, memory_order_acquire))) {
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
    if (wf_is_done(atomic_load_explicit(&f->state, memory_order_acquire)))
        return false;
    return wf_future_link(f, w);
}

void wf_future_unwatch(weft_future *f, struct wf_watch *w)
{
    weft_lock_acquire(&f->lock);
    if (w->linked) {
        if (w->prev)
            w->prev->next = w->next;
        else
            f->listeners = w->next;
        if (w->next)
            w->next->prev = w->prev;
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
        for (struct wf_watch *w = f->listeners, *next; w; w = next) {
            next = w->next;
            if (!w->fn)
                free(w);
        }
        wf_future_free(f);
    }
    return 0;
}

/* ---- several futures --------------------------------------------------------------------- */

/* A waiter on several futures: fired watches are pushed on `fired`, then `seq` is
 * bumped and woken. The waiter sleeps on `seq`. */
struct wf_waiter {
    _Atomic(struct wf_watch *) fired;
    _Atomic uint32_t seq;
};

struct wf_waiter_watch {
    struct wf_watch watch; /* first: the watch callback casts back */
    struct wf_waiter *waiter;
    size_t index;          /* in the caller's array */
    bool registered;       /* linked, or fired and not yet taken */
    bool repeat;           /* as_completed: the future is at an earlier index too */
};

static void wf_waiter_fire(struct wf_watch *w, weft_future *f)
{
    (void)f;
    struct wf_waiter *wt = ((struct wf_waiter_watch *)w)->waiter;
    struct wf_watch *top = atomic_load_explicit(&wt->fired, memory_order_relaxed);
    do {
        w->done_next = top;
        /* release: the waiter that pops this watch (acquire) sees the future done
         * with everything its finisher published (we run after that CAS). */
    } while (!atomic_compare_exchange_weak_explicit(&wt->fired, &top, w, memory_order_release,
                                                    memory_order_relaxed));
    /* release: pairs with the waiter's acquire load of seq before it looks at
     * `fired` (see wf_waiter_next). */
    atomic_fetch_add_explicit(&wt->seq, 1, memory_order_release);
    /* Lost wakeup avoided: seq changed before this wake and the waiter sleeps only
     * while seq reads the value it loaded before finding `fired` empty. We hold the
     * future's lock, so the waiter cannot have unwatched and gone. */
    wf_wake(&wt->seq, 1);
}

/* Takes the fired watches, oldest first. */
static struct wf_watch *wf_waiter_take(struct wf_waiter *wt)
{
    /* acquire: pairs with the release pushes. */
    struct wf_watch *w = atomic_exchange_explicit(&wt->fired, NULL, memory_order_acquire);
    struct wf_watch *in_order = NULL;
    while (w) {
        struct wf_watch *next = w->done_next;
        w->done_next = in_order;
        in_order = w;
        w = next;
    }
    return in_order;
}

/* The watches fired since the last take, oldest first, sleeping until one fires.
 * Once d passes: sets *timed_out and returns what fired by then (maybe NULL). */
static struct wf_watch *wf_waiter_next(struct wf_waiter *wt, weft_deadline d, bool *timed_out)
{
    for (;;) {
        /* acquire: pairs with the fire's release increment (wf_waiter_fire). */
        uint32_t seen = atomic_load_explicit(&wt->seq, memory_order_acquire);
        struct wf_watch *w = wf_waiter_take(wt);
        if (w)
            return w;
        /* Sleeps only while seq still reads `seen` (see wf_waiter_fire). */
        if (wf_wait(&wt->seq, seen, d) == ETIMEDOUT) {
            *timed_out = true;
            return wf_waiter_take(wt);
        }
    }
}

static inline bool wf_future_failed(const weft_future *f)
{
    /* acquire: error is read only after seeing FINISHED. */
    return wf_phase(atomic_load_explicit(&f->state, memory_order_acquire)) == WF_FUTURE_FINISHED &&
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
        return ETIMEDOUT;

    struct wf_waiter_watch on_stack[WF_WAIT_ON_STACK];
    struct wf_waiter_watch *ws = n <= WF_WAIT_ON_STACK ? on_stack : malloc(n * sizeof *ws);
    if (!ws)
        return ENOMEM;
    struct wf_waiter wt;
    atomic_init(&wt.fired, NULL);
    atomic_init(&wt.seq, 0);
    done = 0;
    failed = false;
    for (size_t i = 0; i < n; i++) {
        ws[i].watch.fn = wf_waiter_fire;
        ws[i].waiter = &wt;
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
        for (struct wf_watch *w = wf_waiter_next(&wt, d, &timed_out); w; w = w->done_next) {
            struct wf_waiter_watch *ww = (struct wf_waiter_watch *)w;
            ww->registered = false;
            done++;
            failed |= wf_future_failed(fs[ww->index]);
        }
        if (timed_out) {
            if (!wf_wait_met(return_when, done, n, failed))
                r = ETIMEDOUT;
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (ws[i].registered)
            wf_future_unwatch(fs[i], &ws[i].watch);
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

    struct wf_waiter wt;
    atomic_init(&wt.fired, NULL);
    atomic_init(&wt.seq, 0);
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
        ws[i].waiter = &wt;
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
        struct wf_watch *w = wf_waiter_next(&wt, d, &timed_out);
        if (!w) {
            r = ETIMEDOUT;
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
    free(ws);
    return r;
}

int weft_futures_as_completed(weft_future *const *fs, size_t n, int64_t timeout_ns,
                              int (*fn)(weft_future *f, void *arg), void *arg)
{
    return weft_futures_as_completed_until(fs, n, weft_deadline_in(timeout_ns), fn, arg);
}
