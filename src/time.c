/* Time: every timeout becomes one absolute CLOCK_MONOTONIC deadline, computed once
 * at the start of a call; retries after spurious wakeups wait for what is left. A
 * deadline may carry a cancellation token (src/cancel.c): a fired token counts as a
 * deadline that has passed. */
#include "internal.h"

#include <time.h>

int64_t weft_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

weft_deadline weft_deadline_in(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return WEFT_DEADLINE_NEVER;
    int64_t now = weft_now_ns();
    if (timeout_ns >= INT64_MAX - now)
        return WEFT_DEADLINE_NEVER;
    return (weft_deadline){now + timeout_ns, NULL};
}

weft_deadline weft_deadline_at(int64_t ns)
{
    return (weft_deadline){ns, NULL};
}

weft_deadline weft_deadline_with_cancel(weft_deadline d, const weft_cancel *cancel)
{
    d.cancel = cancel;
    return d;
}

int64_t weft_deadline_remaining(weft_deadline d)
{
    if (WF_UNLIKELY(d.cancel != NULL) && weft_cancel_fired(d.cancel))
        return 0;
    if (d.ns == INT64_MAX)
        return INT64_MAX;
    int64_t left = d.ns - weft_now_ns();
    return left > 0 ? left : 0;
}

bool weft_deadline_passed(weft_deadline d)
{
    /* A fired token ends a wait as its deadline does (weft/cancel.h). */
    if (WF_UNLIKELY(d.cancel != NULL) && weft_cancel_fired(d.cancel))
        return true;
    return d.ns != INT64_MAX && weft_now_ns() >= d.ns;
}

struct timespec wf_timespec(weft_deadline d)
{
    return (struct timespec){.tv_sec = d.ns / 1000000000, .tv_nsec = d.ns % 1000000000};
}
