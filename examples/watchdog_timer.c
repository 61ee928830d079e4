/* A watchdog on the shared timer service (Python's threading.Timer, without a
 * thread per timer): a worker kicks the watchdog after every job by cancelling
 * and restarting its timer. While the jobs keep coming, the watchdog stays quiet;
 * when the worker stalls, it fires, on the timer service thread, and rescues the
 * worker (here: by setting the event the stalled worker waits on).
 *
 * Checked: the watchdog never fires before its timeout has passed since the last
 * kick, and it does fire once the worker stalls. (If the machine is so loaded
 * that a job outlasts the timeout, the watchdog rightly fires during the work;
 * that is reported as a false alarm, not a failure.) Exits non-zero on failure. */
#include <stdio.h>
#include <unistd.h>

#include "weft.h"

enum { JOBS = 50 };
#define TIMEOUT WEFT_MS(200)

static weft_timer watchdog = WEFT_TIMER_INIT;
static weft_lock kick_lock = WEFT_LOCK_INIT;
static int64_t last_kick;  /* under kick_lock */
static int fired, early;   /* under kick_lock */
static weft_event rescued = WEFT_EVENT_INIT;

static void bark(void *arg)
{
    (void)arg;
    weft_lock_acquire(&kick_lock);
    fired++;
    if (weft_now_ns() - last_kick < TIMEOUT)
        early++; /* would be a bug: fired before its interval */
    weft_lock_release(&kick_lock);
    weft_event_set(&rescued);
}

/* Restart the countdown. cancel returns EBUSY if the watchdog already fired. */
static int kick(void)
{
    int r = weft_timer_cancel(&watchdog);
    weft_lock_acquire(&kick_lock);
    last_kick = weft_now_ns();
    weft_lock_release(&kick_lock);
    weft_timer_start(&watchdog, TIMEOUT, bark, NULL);
    return r;
}

int main(void)
{
    weft_lock_acquire(&kick_lock);
    last_kick = weft_now_ns();
    weft_lock_release(&kick_lock);
    if (weft_timer_start(&watchdog, TIMEOUT, bark, NULL) != 0)
        return 1;
    int false_alarms = 0;
    for (int job = 0; job < JOBS; job++) {
        usleep(1000); /* a job */
        if (kick() == EBUSY)
            false_alarms++;
    }
    weft_event_clear(&rescued);
    /* Stall: no more kicks. Only the watchdog can get us out of here. */
    int64_t stalled_at = weft_now_ns();
    if (weft_event_wait(&rescued, WEFT_SEC(60)) != 0) {
        fprintf(stderr, "the watchdog never fired\n");
        return 1;
    }
    int64_t waited = weft_now_ns() - stalled_at;
    weft_timer_cancel(&watchdog); /* EBUSY: it fired; waits for bark to return */
    weft_lock_acquire(&kick_lock);
    int f = fired, e = early;
    weft_lock_release(&kick_lock);
    printf("%d jobs, %d false alarms; stalled worker rescued after %.1f ms (timeout %.0f ms)\n",
           JOBS, false_alarms, (double)waited / 1e6, (double)TIMEOUT / 1e6);
    if (e != 0 || f != false_alarms + 1) {
        fprintf(stderr, "%d early barks, %d barks in all\n", e, f);
        return 1;
    }
    return 0;
}
