/* weft_once slow path. The word's state table is in include/weft/once.h.
 *
 * The first caller to move the word from 0 to RUNNING runs the function; later
 * callers set WAITERS and sleep until the runner stores DONE (the waiting core's
 * flag-then-wait, wf_sleep_flagged). Recursion is caught with a per-thread list
 * of the flags this thread is running (frames on its own stack), read only on the
 * slow path. */
#include "waiting.h"

extern inline int weft_once_call(weft_once *o, void (*fn)(void *), void *arg);
extern inline bool weft_once_done(const weft_once *o);

struct wf_once_frame {
    const weft_once *once;
    struct wf_once_frame *outer;
};

/* The flags whose function this thread is inside, innermost first. */
static _Thread_local struct wf_once_frame *wf_once_running;

static bool wf_once_running_here(const weft_once *o)
{
    for (const struct wf_once_frame *f = wf_once_running; f; f = f->outer)
        if (f->once == o)
            return true;
    return false;
}

static void wf_once_run(weft_once *o, void (*fn)(void *), void *arg)
{
    struct wf_once_frame frame = {o, wf_once_running};
    wf_once_running = &frame;
    fn(arg);
    wf_once_running = frame.outer;
    /* release: publishes everything fn wrote to the callers that load DONE (told
     * to TSan too, src/tsan.h). */
    wf_tsan_release(&o->state);
    uint32_t old = atomic_exchange_explicit(&o->state, WEFT_ONCE_DONE, memory_order_release);
    /* Lost wakeup avoided: the word is DONE before we wake, so a caller about to
     * sleep on RUNNING|WAITERS finds it changed and does not sleep. */
    if (old & WEFT_ONCE_WAITERS)
        wf_wake(&o->state, INT_MAX);
}

int weft__once_call_slow(weft_once *o, void (*fn)(void *), void *arg)
{
    if (!o || !fn)
        return EINVAL;
    /* acquire: if this shows DONE, fn's writes are visible to us. */
    uint32_t old = atomic_load_explicit(&o->state, memory_order_acquire);
    for (;;) {
        if (old == WEFT_ONCE_DONE) {
            wf_tsan_acquire(&o->state);
            return 0;
        }
        if (old == 0) {
            /* relaxed: winning orders nothing (no function has run); on failure we
             * re-load with acquire. */
            if (atomic_compare_exchange_strong_explicit(&o->state, &old, WEFT_ONCE_RUNNING,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed)) {
                wf_once_run(o, fn, arg);
                return 0;
            }
            old = atomic_load_explicit(&o->state, memory_order_acquire);
            continue;
        }
        if (wf_once_running_here(o))
            return EDEADLK;
        /* Lost wakeup avoided: we sleep only while the word still reads RUNNING
         * with WAITERS set; the runner stores DONE before it wakes. `old` comes
         * back as a fresh acquire load (as above). */
        wf_sleep_flagged(&o->state, &old, WEFT_ONCE_WAITERS, WEFT_DEADLINE_NEVER);
    }
}
