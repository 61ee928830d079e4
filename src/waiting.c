/* The waiting core (src/waiting.h): the one sleep, the flag-then-wait protocol,
 * wait lists, and the thread-exit hook. */
#include "waiting.h"
#include "tsan.h"

#include "profile_internal.h"

#include <pthread.h>
#include <string.h>

/* ---- sleeping ------------------------------------------------------------------- */

int wf_sleep(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    /* The contention profile's one branch while it is off. */
    if (WF_UNLIKELY(wf_profile_on()))
        return wf_profile_sleep(&word, &expected, 1, d, __builtin_return_address(0));
    return wf_sleep_plain(word, expected, d);
}

int wf_sleep_plain(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    if (WF_LIKELY(d.cancel == NULL))
        return wf_wait(word, expected, d);
    return wf_sleep_any_plain(&word, &expected, 1, d);
}

/* Sampled as wf_sleep is; the plain form below is what both sleep through, so a
 * wf_sleep under a token is sampled once, by wf_sleep. */
int wf_sleep_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                 weft_deadline d)
{
    if (WF_UNLIKELY(wf_profile_on()))
        return wf_profile_sleep(words, expected, n, d, __builtin_return_address(0));
    return wf_sleep_any_plain(words, expected, n, d);
}

int wf_sleep_any_plain(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                       weft_deadline d)
{
    if (d.cancel == NULL)
        return wf_wait_any(words, expected, n, d);
    if (n < 1 || n >= WF_WAIT_ANY_MAX)
        return EINVAL;
    const _Atomic uint32_t *all[WF_WAIT_ANY_MAX];
    uint32_t values[WF_WAIT_ANY_MAX];
    memcpy(all, words, (size_t)n * sizeof *all);
    memcpy(values, expected, (size_t)n * sizeof *values);
    int k = wf_cancel_watch(d.cancel, all + n, values + n, WF_WAIT_ANY_MAX - n);
    if (k == -ECANCELED)
        return ETIMEDOUT; /* fired before we slept: unwind as on a timeout */
    if (k < 0)
        return EINVAL;
    /* Lost wakeup avoided, for the token: we sleep only while each token word still
     * reads the live value wf_cancel_watch loaded; fire sets FIRED before it wakes
     * (src/cancel.c). The caller's own words keep their own protocol. */
    int r = wf_wait_any(all, values, n + k, d);
    return wf_cancelled(d) ? ETIMEDOUT : r;
}

int wf_sleep_flagged(_Atomic uint32_t *word, uint32_t *seen, uint32_t flag, weft_deadline d)
{
    uint32_t s = *seen;
    if (!(s & flag)) {
        /* acquire on failure: the new value may be the one the caller waits for,
         * and it acts on it without loading again (C11 wants success at least as
         * strong; announcing a sleeper itself would need only relaxed). */
        if (!atomic_compare_exchange_strong_explicit(word, &s, s | flag, memory_order_acquire,
                                                     memory_order_acquire)) {
            *seen = s;
            wf_tsan_acquire(word); /* the same acquire, told (src/tsan.h) */
            return 0;
        }
        s |= flag;
    }
    /* Lost wakeup avoided: we sleep only while the word still reads `s`, flag set;
     * a waker that saw the flag changed the word before it woke (see waiting.h). */
    int r = wf_sleep(word, s, d);
    /* acquire: pairs with the waker's release of the change we wait for (which
     * tells TSan with wf_tsan_release(word) before its store). */
    *seen = atomic_load_explicit(word, memory_order_acquire);
    wf_tsan_acquire(word);
    return r;
}

/* ---- wait lists ---------------------------------------------------------------- */

void wf_waitlist_prepare(wf_waitlist *wl, wf_waiter *w)
{
    /* relaxed: w is not shared until the lock below publishes it. */
    atomic_store_explicit(&w->state, WF_WAITER_LISTED, memory_order_relaxed);
    weft_lock_acquire(&wl->lock);
    wf_list_push_back(&wl->sleepers, &w->link);
    /* seq_cst: ordered before the caller's re-check (the pair in waiting.h). */
    atomic_fetch_add_explicit(&wl->waiters, 1, memory_order_seq_cst);
    weft_lock_release(&wl->lock);
}

bool wf_waiter_sleep(wf_waiter *w, weft_deadline d)
{
    for (;;) {
        /* acquire: pairs with the notifier's release store of WOKEN. */
        if (atomic_load_explicit(&w->state, memory_order_acquire) == WF_WAITER_WOKEN) {
            wf_tsan_acquire(&w->state);
            return true;
        }
        /* Lost wakeup avoided: the notifier stores WOKEN before it wakes, and the
         * sleep happens only while the word still reads LISTED. */
        if (wf_sleep(&w->state, WF_WAITER_LISTED, d) == ETIMEDOUT) {
            bool woken = atomic_load_explicit(&w->state, memory_order_acquire) == WF_WAITER_WOKEN;
            if (woken)
                wf_tsan_acquire(&w->state);
            return woken;
        }
    }
}

bool wf_waitlist_cancel(wf_waitlist *wl, wf_waiter *w)
{
    weft_lock_acquire(&wl->lock);
    /* relaxed: WOKEN is only stored under this lock, together with the unlisting. */
    bool woken = atomic_load_explicit(&w->state, memory_order_relaxed) == WF_WAITER_WOKEN;
    if (!woken) {
        wf_list_remove(&wl->sleepers, &w->link);
        /* relaxed: a count; a notifier that still sees us finds the list shorter. */
        atomic_fetch_sub_explicit(&wl->waiters, 1, memory_order_relaxed);
    }
    weft_lock_release(&wl->lock);
    return woken;
}

void weft__waitlist_notify(wf_waitlist *wl, int n)
{
    weft_lock_acquire(&wl->lock);
    for (; n > 0; n--) {
        wf_list_node *node = wf_list_pop_front(&wl->sleepers);
        if (!node)
            break;
        wf_waiter *w = WF_CONTAINER(node, wf_waiter, link);
        /* relaxed: a count (see wf_waitlist_cancel). */
        atomic_fetch_sub_explicit(&wl->waiters, 1, memory_order_relaxed);
        /* release: the woken thread sees the change it was woken for. This is our
         * last touch of w's memory: once it reads WOKEN its owner may return, and
         * wf_wake below uses only the address. */
        wf_tsan_release(&w->state);
        atomic_store_explicit(&w->state, WF_WAITER_WOKEN, memory_order_release);
        /* Lost wakeup avoided: the word changed before this wake (wf_waiter_sleep). */
        wf_wake(&w->state, 1);
    }
    weft_lock_release(&wl->lock);
}

/* ---- thread exit --------------------------------------------------------------- */

static void (*_Atomic wf_exit_hooks[WF_EXIT_STAGES])(void);

/* initial-exec: one %fs-relative load on every wf_exit_arm. */
static _Thread_local bool wf_exit_armed __attribute__((tls_model("initial-exec")));
static pthread_key_t wf_exit_key;
static pthread_once_t wf_exit_once = PTHREAD_ONCE_INIT;
static bool wf_exit_key_ok;

static void wf_exit_key_destructor(void *p)
{
    (void)p;
    wf_exit_run();
}

static void wf_exit_init(void)
{
    wf_exit_key_ok = pthread_key_create(&wf_exit_key, wf_exit_key_destructor) == 0;
}

void wf_exit_register(enum wf_exit_stage stage, void (*fn)(void))
{
    /* release: pairs with the acquire in wf_exit_run, which calls fn. */
    atomic_store_explicit(&wf_exit_hooks[stage], fn, memory_order_release);
}

void wf_exit_arm(void)
{
    if (WF_LIKELY(wf_exit_armed))
        return;
    pthread_once(&wf_exit_once, wf_exit_init);
    /* Any non-NULL value arms the destructor. Without a key (creation failed at
     * first use) foreign threads leak their state at exit; weft threads still run
     * wf_exit_run themselves. */
    if (wf_exit_key_ok && pthread_setspecific(wf_exit_key, &wf_exit_armed) == 0)
        wf_exit_armed = true;
}

void wf_exit_run(void)
{
    /* Disarmed first: a hook that re-creates state re-arms, and the key's next
     * destructor pass (or the caller's next call) runs the hooks again. */
    wf_exit_armed = false;
    if (wf_exit_key_ok)
        pthread_setspecific(wf_exit_key, NULL);
    for (int stage = 0; stage < WF_EXIT_STAGES; stage++) {
        /* acquire: pairs with wf_exit_register. */
        void (*fn)(void) = atomic_load_explicit(&wf_exit_hooks[stage], memory_order_acquire);
        if (fn)
            fn();
    }
}
