/* profile_internal.h: the contention profile's hooks (src/profile.c). The waiting
 * core times sampled sleeps (wf_sleep, wf_sleep_any); a slow path's public entry
 * names the wait's site, and a lock's slow release names the holder a waiter
 * blames. Each hook sits behind wf_profile_on(), the one branch the slow paths pay
 * while the profile is off. */
#ifndef WF_PROFILE_INTERNAL_H
#define WF_PROFILE_INTERNAL_H

#include "internal.h"

WF_HIDDEN extern _Atomic bool wf_profiling;

static inline bool wf_profile_on(void)
{
    /* relaxed: a switch; a wait that misses a change by a moment is unsampled. */
    return atomic_load_explicit(&wf_profiling, memory_order_relaxed);
}

/* Makes `site` the site of this thread's waits until wf_profile_leave, unless an
 * outer entry named one (an rlock's acquire around its lock's); returns what
 * wf_profile_leave restores. */
WF_HIDDEN void *wf_profile_enter(void *site);
WF_HIDDEN void wf_profile_leave(void *outer);

/* wf_sleep and wf_sleep_any while profiling: the plain sleep on the n words, timed
 * and recorded if sampled. `fallback` is the site when no entry named one (the
 * family function that slept). */
WF_HIDDEN int wf_profile_sleep(const _Atomic uint32_t *const *words, const uint32_t *expected,
                               int n, weft_deadline d, void *fallback);

/* A slow release of the lock with this word, at `site`: the holder its next
 * woken sleeper blames. */
WF_HIDDEN void wf_profile_release(const void *word, void *site);

#endif
