/* weft_wait_any: one loop over any mix of sources (the contract is in
 * include/weft/select.h; each kind's moves live with its family, or in
 * src/select_sources.c, and are described in src/select_internal.h).
 *
 * The loop, per call:
 *   1. look: try_complete each source once, starting one further along than this
 *      thread's last call (fairness); the first that completes is the answer;
 *   2. would block: the deadline's token and the deadline are looked at (a ready
 *      source has won already); then a brief spin of looks;
 *   3. a round: prepare each source (announce, collect the words to sleep on), look
 *      again (WF_TRY_RECHECK), sleep on all words at once (wf_sleep_any adds the
 *      deadline's token), look again (WF_TRY_SLEPT), then abandon every prepared
 *      source (the winner too: it may owe a passed-on wakeup), and repeat until a
 *      source completes, the token fires or the deadline passes.
 * A prepare that finds its source ready ends the round's preparing: the look after
 * it completes that source (or, if it lost a race, the next round prepares again).
 *
 * Exactly one completes: a look stops at the first try_complete that succeeds, and
 * nothing else is ever taken.
 *
 * Lost wakeup avoided: every source's prepare follows its family's protocol (the
 * sleeper's flag or listing before the re-check; the waker's change before its
 * wake), and wf_sleep_any sleeps only while every word holds the value its prepare
 * read, so a change to any source after its prepare either makes the sleep return
 * at once or wakes it. */
#include "select_internal.h"

extern inline weft_source weft_source_queue_get(weft_queue *q);
extern inline weft_source weft_source_queue_put(weft_queue *q, void *item);
extern inline weft_source weft_source_event(weft_event *e);
extern inline weft_source weft_source_sem(weft_sem *s);
extern inline weft_source weft_source_future(weft_future *f);
extern inline weft_source weft_source_lock(weft_lock *l);
extern inline weft_source weft_source_cancel(const weft_cancel *c);

/* Where this thread's next call starts its looks. initial-exec: one %fs-relative
 * access, no __tls_get_addr in the shared library. */
static _Thread_local unsigned wf_select_turn __attribute__((tls_model("initial-exec")));

/* Checks every source and counts the words a sleep would watch: 0 or EINVAL. */
static int wf_select_check(const weft_source *src, size_t n, weft_deadline d,
                           const wf_source_ops **ops)
{
    if ((!src && n > 0) || n > WEFT_WAIT_ANY_MAX)
        return EINVAL;
    int words = wf_cancel_chain_length(d.cancel);
    for (size_t i = 0; i < n; i++) {
        ops[i] = wf_source_ops_of(&src[i]);
        if (!ops[i])
            return EINVAL;
        words += ops[i]->words(&src[i]);
    }
    return words > WF_WAIT_ANY_MAX ? EINVAL : 0;
}

/* One look at every source, from `start` on; returns the index completed or -1. */
static int wf_select_look(weft_source *src, wf_select_slot *slots, const wf_source_ops **ops,
                          size_t n, size_t start, unsigned flags)
{
    for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1)
        if (ops[i]->try_complete(&src[i], &slots[i], flags))
            return (int)i;
    return -1;
}

/* Why a call that found nothing ready gives up now, if it does: -ECANCELED (the
 * deadline's token), -ETIMEDOUT (the deadline), else 0. */
static int wf_select_over(weft_deadline d)
{
    if (wf_cancelled(d))
        return -ECANCELED;
    if (d.ns != INT64_MAX && weft_now_ns() >= d.ns)
        return -ETIMEDOUT;
    return 0;
}

int weft_wait_any_until(weft_source *src, size_t n, weft_deadline d)
{
    const wf_source_ops *ops[WEFT_WAIT_ANY_MAX];
    if (wf_select_check(src, n, d, ops) != 0)
        return -EINVAL;
    wf_select_slot slots[WEFT_WAIT_ANY_MAX];
    size_t start = n ? wf_select_turn++ % n : 0;
    for (size_t i = 0; i < n; i++) {
        slots[i].prepared = false;
        if (ops[i]->start)
            ops[i]->start(&src[i], &slots[i]);
    }

    int won = wf_select_look(src, slots, ops, n, start, 0);
    if (won >= 0)
        return won;
    int over = wf_select_over(d);
    if (over)
        return over;
    /* A brief spin: a source may be a few hundred nanoseconds from ready. Each
     * source looked at counts as a pause, so the spin costs about the same at any n. */
    for (wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF); wf_spin(&spin);) {
        for (size_t i = 0; i < n; i++)
            wf_spin_count(&spin);
        if ((won = wf_select_look(src, slots, ops, n, start, 0)) >= 0)
            return won;
    }

    /* With no source, the call sleeps on a word nobody wakes: only the deadline
     * and its token end it. */
    _Atomic uint32_t idle = 0;
    const _Atomic uint32_t *words[WF_WAIT_ANY_MAX];
    uint32_t expected[WF_WAIT_ANY_MAX];
    unsigned slept = 0;
    for (;;) {
        int nw = 0;
        bool ready = false;
        for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
            int w = ops[i]->prepare(&src[i], &slots[i], slept, words + nw, expected + nw,
                                    WF_WAIT_ANY_MAX - nw);
            if (w == 0) {
                ready = true;
                break;
            }
            slots[i].prepared = true;
            nw += w;
        }
        if (n == 0) {
            words[nw] = &idle;
            expected[nw++] = 0;
        }
        won = wf_select_look(src, slots, ops, n, start, WF_TRY_RECHECK | slept);
        if (won < 0 && !ready) {
            wf_sleep_any(words, expected, nw, d);
            slept = WF_TRY_SLEPT;
            won = wf_select_look(src, slots, ops, n, start, WF_TRY_RECHECK | slept);
        }
        for (size_t i = 0; i < n; i++) {
            if (!slots[i].prepared)
                continue;
            ops[i]->abandon(&src[i], &slots[i], (int)i == won, slept != 0);
            slots[i].prepared = false;
        }
        if (won >= 0)
            return won;
        if ((over = wf_select_over(d)) != 0)
            return over;
    }
}

int weft_wait_any(weft_source *src, size_t n, int64_t timeout_ns)
{
    return weft_wait_any_until(src, n, weft_deadline_in(timeout_ns));
}
