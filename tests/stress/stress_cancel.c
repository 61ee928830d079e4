/* Bounded stress of cancellation, in two parts.
 *
 * Across the families (cancellation_across_families). Threads wait under
 * token-carrying deadlines on one bounded queue (put, get, both batches, a select
 * put), two semaphores (permits that holders give back, units a releaser hands
 * out), a lock, an event, a condition, futures, and in weft_wait_any over all of
 * them at once, while two firers fire tokens at random moments: a waiter's own
 * call token, its family's group token (the parent of every call token armed in
 * that epoch) or the epoch's root (the grandparent of all); producers, releasers,
 * a setter, a notifier and a completer keep the work moving.
 *
 * Exact invariants:
 *  - every item put is got exactly once (by id: nothing lost, nothing doubled);
 *  - the permits are conserved (value back to its count, never more holders than
 *    permits, no release over the bound) and every unit released is taken once;
 *  - the lock is never held by two, and counts its sections exactly;
 *  - a condition's waits return 0 no more often than notifies found a waiter;
 *  - an event wait returns 0 only if a set happened since the last clear it saw;
 *  - a future's result matches how it was completed;
 *  - ECANCELED (-ECANCELED for wait_any and batches) only with the call's token
 *    fired, ETIMEDOUT only once the deadline passed, never under a token that had
 *    fired before the call; and a call under a fired token on an object that can
 *    never become ready returns ECANCELED at once (checked now and then by every
 *    waiter against its family's "dead" objects).
 * "Consumed nothing" shows in the counts: an item taken, a permit or a unit kept, a
 * lock left held by a cancelled call breaks an exact total or stalls the rest.
 *
 * Phases: while the producing side runs (bounded by iterations and by time), the
 * firers fire; once it is done they stop, the epoch moves to fresh tokens, and the
 * consumers drain what is left with no token firing: a wakeup lost to a cancelled
 * waiter then shows as a stall, which the watchdog turns into a failure (20 s).
 * Finally the common root fires and lets out whoever still waits.
 * WF_STRESS_VERBOSE=1 prints each waiter's counts.
 *
 * A cancel racing a handoff (cancel_races_handoff): rounds with nothing going on
 * but one handoff and one fire, so that a wakeup a cancelled waiter takes with it
 * cannot be rescued by later traffic (see that part's comment).
 *
 * Run with WF_TEST_FALLBACK=1, the Linux build uses its parking-lot fallback for
 * wait_any and for sleeps under a token. */
#include "../check.h"
#include "waiting.h"

#include <sched.h>

/* ---- tokens: the tree and the epochs ---------------------------------------------
 * stop -> epochs[e].root -> epochs[e].group[family] -> one waiter's call token.
 * Tokens of an epoch are made before the epoch is published and never made again,
 * so a firer may fire any of them at any time. A waiter's call token is made
 * afresh for each call under the waiter's mutex, the one the firers fire it under. */

enum { G_QUEUE, G_SEM, G_LOCK, G_EVENT, G_COND, G_FUTURE, G_SELECT, GROUPS };

typedef struct {
    weft_cancel root;
    weft_cancel group[GROUPS];
} epoch;

static weft_cancel stop;
static epoch *epochs;
static long max_epochs;
static _Atomic long cur_epoch;
static pthread_mutex_t epoch_mu = PTHREAD_MUTEX_INITIALIZER;

/* Publishes a fresh epoch; false (nothing changes) when only `reserve` are left. */
static bool advance_epoch(long reserve)
{
    bool moved = false;
    pthread_mutex_lock(&epoch_mu);
    long e = atomic_load(&cur_epoch) + 1;
    if (e < max_epochs - reserve) {
        CHECK_EQ(weft_cancel_init_child(&epochs[e].root, &stop), 0);
        for (int g = 0; g < GROUPS; g++)
            CHECK_EQ(weft_cancel_init_child(&epochs[e].group[g], &epochs[e].root), 0);
        atomic_store(&cur_epoch, e);
        moved = true;
    }
    pthread_mutex_unlock(&epoch_mu);
    return moved;
}

static _Atomic long progress; /* every completed operation: the watchdog's pulse */
static int64_t t_end;         /* the producing side stops here, done or not */

static bool time_up(void)
{
    return weft_now_ns() > t_end;
}

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 32);
}

/* A thread that waits under tokens. */
typedef struct waiter {
    pthread_mutex_t mu; /* the token's remaking (here) against the firers' fire */
    weft_cancel tok;
    int group;
    int nth; /* among the threads of its role */
    uint64_t rng;
    bool prefired; /* the token had fired before the call */
    long calls, cancelled, cancelled_prefired, timed_out;
} waiter;

/* Makes w's token afresh (a child of its family's group token in the current epoch,
 * fired at once 1 time in 8) and returns the call's deadline: never, or 1 time in 8
 * under 100 us, with the token. */
static weft_deadline arm(waiter *w)
{
    const weft_cancel *g = &epochs[atomic_load(&cur_epoch)].group[w->group];
    /* While its group has fired, each call would start cancelled: 3 times in 4 wait
     * for the next epoch instead of spinning through such calls. */
    if (rnd(&w->rng) % 4) {
        while (weft_cancel_fired(g) && !weft_cancel_fired(&stop)) {
            sched_yield();
            g = &epochs[atomic_load(&cur_epoch)].group[w->group];
        }
    }
    pthread_mutex_lock(&w->mu);
    CHECK_EQ(weft_cancel_init_child(&w->tok, g), 0);
    pthread_mutex_unlock(&w->mu);
    if (rnd(&w->rng) % 8 == 0)
        CHECK_EQ(weft_cancel_fire(&w->tok), 0);
    weft_deadline d = WEFT_DEADLINE_NEVER;
    if (rnd(&w->rng) % 8 == 0)
        d = weft_deadline_in(WEFT_US(rnd(&w->rng) % 100));
    w->prefired = weft_cancel_fired(&w->tok);
    w->calls++;
    return weft_deadline_with_cancel(d, &w->tok);
}

/* A call that gave up: ECANCELED with its token fired; ETIMEDOUT once its deadline
 * passed and never under a token fired before the call. */
static void gave_up(waiter *w, weft_deadline d, int r)
{
    if (r == ECANCELED) {
        CHECK(weft_cancel_fired(&w->tok));
        w->cancelled++;
        w->cancelled_prefired += w->prefired;
    } else if (r == ETIMEDOUT) {
        if (w->prefired || weft_now_ns() < d.ns)
            fprintf(stderr, "group %d: ETIMEDOUT %s\n", w->group,
                    w->prefired ? "under a token fired before the call" : "early");
        CHECK(!w->prefired);
        CHECK(weft_now_ns() >= d.ns);
        w->timed_out++;
    } else {
        fprintf(stderr, "unexpected result %d\n", r);
        CHECK(!"an _until call returned neither 0, ECANCELED nor ETIMEDOUT");
    }
}

/* The same for calls that return a count or a negative errno (batches, wait_any). */
static void gave_up_neg(waiter *w, weft_deadline d, ssize_t r)
{
    CHECK(r < 0);
    gave_up(w, d, (int)-r);
}

/* ---- the objects --------------------------------------------------------------------- */

enum { PRODUCERS = 2, CONSUMERS = 2, HOLDERS = 2, TAKERS = 2, LOCKERS = 3, EVENT_WAITERS = 2,
       COND_WAITERS = 3, FUTURE_WAITERS = 2, SELECTORS = 2, FIRERS = 2 };
enum { QUEUE_SIZE = 4, PERMITS = 2, UNITS_AHEAD = 8, TICKETS_AHEAD = 4, BATCH = 4 };

/* queue */
static weft_queue *q;
static long items_per_producer;
static _Atomic long put_count[PRODUCERS]; /* items producer p has put: ids p * per + [0, n) */
static _Atomic unsigned char *seen;      /* per id: how many times it was got */
static _Atomic long got_total;
static _Atomic int producers_done;

/* semaphores */
static weft_sem permits; /* bounded, PERMITS */
static _Atomic int in_use;
static long holds_per_holder;
static _Atomic int holders_done;
static weft_sem units;
static long units_target;
static _Atomic long units_released, units_taken;
static _Atomic bool releaser_done;

/* lock */
static weft_lock lock;
static long sections_per_locker;
static long in_section, sections; /* plain: guarded by `lock` */
static _Atomic long lock_wins;
static _Atomic int lockers_done;

/* event: sets counts before each set, clears after each clear, so while the event
 * is set sets > clears, and a set at or after a moment when clears read c has
 * sets > c from then on. */
static weft_event event;
static long event_rounds;
static _Atomic long sets, clears;
static _Atomic bool setter_done;

/* condition: tickets under cond_lock; notifies counts the notifies given while a
 * waiter waited, zeros the waits that returned 0. */
static weft_lock cond_lock;
static weft_cond cond;
static long tickets_target;
static _Atomic long tickets, tickets_given, tickets_got, notifies, zeros;
static _Atomic bool giver_done;

/* futures: completed in order; k % 11 == 5 cancelled, else k % 7 == 3 failed with
 * EIO, else finished with result k + 1. */
static weft_future **futures;
static long n_futures;
static _Atomic long futures_completed;
static _Atomic bool completer_done;

enum { FUT_OK, FUT_ERROR, FUT_CANCEL };
static int future_kind(long k)
{
    return k % 11 == 5 ? FUT_CANCEL : k % 7 == 3 ? FUT_ERROR : FUT_OK;
}

/* objects that never become ready: a fired token must end every wait on them */
static weft_queue *dead_empty, *dead_full;
static weft_sem dead_sem;
static weft_lock dead_lock;
static weft_event dead_event;
static weft_future *dead_future;

static bool producing_done(void)
{
    return atomic_load(&producers_done) == PRODUCERS && atomic_load(&releaser_done) &&
           atomic_load(&giver_done) && atomic_load(&setter_done) && atomic_load(&completer_done) &&
           atomic_load(&lockers_done) == LOCKERS && atomic_load(&holders_done) == HOLDERS;
}

static long put_total(void)
{
    long n = 0;
    for (int p = 0; p < PRODUCERS; p++)
        n += atomic_load(&put_count[p]);
    return n;
}

static bool queue_drained(void)
{
    return atomic_load(&producers_done) == PRODUCERS && atomic_load(&got_total) == put_total();
}

static bool units_drained(void)
{
    return atomic_load(&releaser_done) &&
           atomic_load(&units_taken) == atomic_load(&units_released);
}

static bool tickets_drained(void)
{
    return atomic_load(&giver_done) &&
           atomic_load(&tickets_got) == atomic_load(&tickets_given);
}

static bool all_done(void)
{
    return producing_done() && queue_drained() && units_drained() && tickets_drained();
}

/* ---- the fired-before check on dead objects ---------------------------------------- */

/* A token fired before the call, directly or through an ancestor. */
static void make_fired(waiter *w, weft_cancel *parent, weft_cancel *t)
{
    CHECK_EQ(weft_cancel_init(parent), 0);
    if (rnd(&w->rng) % 2) {
        CHECK_EQ(weft_cancel_init_child(t, parent), 0);
        CHECK_EQ(weft_cancel_fire(parent), 0);
    } else {
        CHECK_EQ(weft_cancel_init(t), 0);
        CHECK_EQ(weft_cancel_fire(t), 0);
    }
}

static void dead_check(waiter *w)
{
    weft_cancel parent, t;
    make_fired(w, &parent, &t);
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &t);
    if (rnd(&w->rng) % 2)
        d = weft_deadline_with_cancel(weft_deadline_in(WEFT_SEC(60)), &t);
    void *item = NULL, *items[BATCH] = {NULL};
    switch (w->group) {
    case G_QUEUE:
        CHECK_EQ(weft_queue_get_until(dead_empty, &item, d), ECANCELED);
        CHECK_EQ(weft_queue_put_until(dead_full, &item, d), ECANCELED);
        CHECK_EQ(weft_queue_get_many_until(dead_empty, items, BATCH, d), -ECANCELED);
        CHECK_EQ(weft_queue_put_many_until(dead_full, items, BATCH, d), -ECANCELED);
        break;
    case G_SEM:
        CHECK_EQ(weft_sem_acquire_until(&dead_sem, d), ECANCELED);
        break;
    case G_LOCK:
        CHECK_EQ(weft_lock_acquire_until(&dead_lock, d), ECANCELED);
        break;
    case G_EVENT:
        CHECK_EQ(weft_event_wait_until(&dead_event, d), ECANCELED);
        break;
    case G_COND: {
        weft_lock l = WEFT_LOCK_INIT;
        weft_cond c = WEFT_COND_INIT;
        CHECK_EQ(weft_lock_acquire(&l), 0);
        CHECK_EQ(weft_cond_wait_until(&c, &l, d), ECANCELED);
        CHECK(weft_lock_locked(&l));
        CHECK(!weft_cond_waiting(&c));
        CHECK_EQ(weft_lock_release(&l), 0);
        break;
    }
    case G_FUTURE: {
        weft_future *fs[2] = {dead_future, dead_future};
        CHECK_EQ(weft_future_result_until(dead_future, d, &item), ECANCELED);
        CHECK_EQ(weft_futures_wait_until(fs, 2, d, WEFT_ALL_COMPLETED), ECANCELED);
        break;
    }
    case G_SELECT: {
        weft_source s[7] = {
            weft_source_queue_get(dead_empty), weft_source_queue_put(dead_full, &item),
            weft_source_sem(&dead_sem),        weft_source_lock(&dead_lock),
            weft_source_event(&dead_event),    weft_source_future(dead_future),
        };
        CHECK_EQ(weft_wait_any_until(s, 6, d), -ECANCELED);
        /* A fired token among the sources is a ready source: its index. */
        size_t at = rnd(&w->rng) % 7;
        s[6] = s[at];
        s[at] = weft_source_cancel(&t);
        CHECK_EQ(weft_wait_any_until(s, 7, d), (int)at);
        break;
    }
    }
    w->calls++;
    w->cancelled++;
    w->cancelled_prefired++;
}

/* ---- queue ----------------------------------------------------------------------------- */

static void *item_of(int p, long i)
{
    return (void *)(uintptr_t)(p * items_per_producer + i + 1);
}

static void take_item(void *item)
{
    uintptr_t id = (uintptr_t)item - 1;
    CHECK(item != NULL && id < (uintptr_t)(PRODUCERS * items_per_producer));
    long i = (long)(id % (uintptr_t)items_per_producer);
    int p = (int)(id / (uintptr_t)items_per_producer);
    CHECK(i < atomic_load(&put_count[p]) + BATCH); /* put by now (a batch may be under way) */
    CHECK_EQ(atomic_fetch_add(&seen[id], 1), 0);
    atomic_fetch_add(&got_total, 1);
    atomic_fetch_add(&progress, 1);
}

static void *producer(void *arg)
{
    waiter *w = arg;
    int p = w->nth;
    long i = 0;
    while (i < items_per_producer && !time_up()) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        switch (rnd(&w->rng) % 4) {
        case 0:
        case 1: {
            int r = weft_queue_put_until(q, item_of(p, i), d);
            if (r == 0)
                i++;
            else
                gave_up(w, d, r);
            break;
        }
        case 2: {
            void *items[BATCH];
            size_t n = 1 + rnd(&w->rng) % BATCH;
            if (n > (size_t)(items_per_producer - i))
                n = (size_t)(items_per_producer - i);
            for (size_t k = 0; k < n; k++)
                items[k] = item_of(p, i + (long)k);
            ssize_t r = weft_queue_put_many_until(q, items, n, d);
            if (r > 0) {
                CHECK(r <= (ssize_t)n);
                i += r;
            } else {
                gave_up_neg(w, d, r);
            }
            break;
        }
        default: {
            /* a select put beside the select group's token */
            const weft_cancel *g = &epochs[atomic_load(&cur_epoch)].group[G_SELECT];
            weft_source s[2] = {weft_source_queue_put(q, item_of(p, i)), weft_source_cancel(g)};
            int r = weft_wait_any_until(s, 2, d);
            if (r == 0) {
                CHECK_EQ(s[0].result, 0);
                i++;
            } else if (r == 1) {
                CHECK(weft_cancel_fired(g));
            } else {
                gave_up_neg(w, d, r);
            }
            break;
        }
        }
        atomic_store(&put_count[p], i);
        atomic_fetch_add(&progress, 1);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    waiter *w = arg;
    while (!queue_drained()) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        if (rnd(&w->rng) % 2) {
            void *item = NULL;
            int r = weft_queue_get_until(q, &item, d);
            if (r == 0)
                take_item(item);
            else
                gave_up(w, d, r);
        } else {
            void *items[BATCH];
            size_t n = 1 + rnd(&w->rng) % BATCH;
            ssize_t r = weft_queue_get_many_until(q, items, n, d);
            if (r > 0) {
                CHECK(r <= (ssize_t)n);
                for (ssize_t k = 0; k < r; k++)
                    take_item(items[k]);
            } else {
                gave_up_neg(w, d, r);
            }
        }
    }
    return NULL;
}

/* ---- semaphores ------------------------------------------------------------------------- */

static void hold_permit(void)
{
    CHECK(atomic_fetch_add(&in_use, 1) < PERMITS);
    sched_yield();
    atomic_fetch_sub(&in_use, 1);
    CHECK_EQ(weft_sem_release(&permits, 1), 0); /* EOVERFLOW: a permit was made */
    atomic_fetch_add(&progress, 1);
}

static void *holder(void *arg)
{
    waiter *w = arg;
    for (long held = 0; held < holds_per_holder && !time_up();) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        int r = weft_sem_acquire_until(&permits, d);
        if (r == 0) {
            hold_permit();
            held++;
        } else {
            gave_up(w, d, r);
        }
    }
    atomic_fetch_add(&holders_done, 1);
    return NULL;
}

/* Releases units in bursts of 1 to 3, never more than UNITS_AHEAD untaken, so most
 * takes come after a sleep. */
static void *releaser(void *arg)
{
    waiter *w = arg;
    while (atomic_load(&units_released) < units_target && !time_up()) {
        if (atomic_load(&units_released) - atomic_load(&units_taken) >= UNITS_AHEAD) {
            sched_yield();
            continue;
        }
        uint32_t n = 1 + rnd(&w->rng) % 3;
        atomic_fetch_add(&units_released, n); /* before: taken never passes released */
        CHECK_EQ(weft_sem_release(&units, n), 0);
    }
    atomic_store(&releaser_done, true);
    return NULL;
}

static void take_unit(void)
{
    CHECK(atomic_fetch_add(&units_taken, 1) < atomic_load(&units_released));
    atomic_fetch_add(&progress, 1);
}

static void *taker(void *arg)
{
    waiter *w = arg;
    while (!units_drained()) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        int r = weft_sem_acquire_until(&units, d);
        if (r == 0)
            take_unit();
        else
            gave_up(w, d, r);
    }
    return NULL;
}

/* ---- lock --------------------------------------------------------------------------------- */

static void critical_section(void)
{
    CHECK_EQ(++in_section, 1); /* never held by two */
    if (++sections % 32 == 0)
        sched_yield(); /* a long hold now and then: waiters pile up */
    in_section--;
    atomic_fetch_add(&lock_wins, 1);
    CHECK_EQ(weft_lock_release(&lock), 0);
    atomic_fetch_add(&progress, 1);
}

static void *locker(void *arg)
{
    waiter *w = arg;
    for (long done = 0; done < sections_per_locker && !time_up();) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        int r = weft_lock_acquire_until(&lock, d);
        if (r == 0) {
            critical_section();
            done++;
        } else {
            gave_up(w, d, r);
        }
    }
    atomic_fetch_add(&lockers_done, 1);
    return NULL;
}

/* ---- event ---------------------------------------------------------------------------------- */

static void *setter(void *arg)
{
    waiter *w = arg;
    for (long i = 0; i < event_rounds && !time_up(); i++) {
        atomic_fetch_add(&sets, 1);
        CHECK_EQ(weft_event_set(&event), 0);
        if (rnd(&w->rng) % 2)
            sched_yield();
        CHECK_EQ(weft_event_clear(&event), 0);
        atomic_fetch_add(&clears, 1);
        atomic_fetch_add(&progress, 1);
        usleep(rnd(&w->rng) % 50);
    }
    atomic_store(&setter_done, true);
    return NULL;
}

/* A wait that returned 0 saw a set made since the clear count it read first. */
static void event_seen(long clears_before)
{
    CHECK(atomic_load(&sets) > clears_before);
    atomic_fetch_add(&progress, 1);
}

static void *event_waiter(void *arg)
{
    waiter *w = arg;
    while (!atomic_load(&setter_done)) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        long c = atomic_load(&clears);
        int r = weft_event_wait_until(&event, d);
        if (r == 0) {
            event_seen(c);
            /* This set is seen: wait for its clear rather than see it again. */
            while (atomic_load(&clears) == c)
                sched_yield();
        } else {
            gave_up(w, d, r);
        }
    }
    return NULL;
}

/* ---- condition ------------------------------------------------------------------------------ */

static void *giver(void *arg)
{
    (void)arg;
    while (atomic_load(&tickets_given) < tickets_target && !time_up()) {
        if (atomic_load(&tickets) >= TICKETS_AHEAD) {
            sched_yield();
            continue;
        }
        CHECK_EQ(weft_lock_acquire(&cond_lock), 0);
        atomic_fetch_add(&tickets, 1);
        atomic_fetch_add(&tickets_given, 1);
        /* Under the lock a waiter is either queued (and counted) or not yet waiting:
         * a notify with nobody queued must never reach a later waiter. */
        if (weft_cond_waiting(&cond))
            atomic_fetch_add(&notifies, 1);
        CHECK_EQ(weft_cond_notify(&cond, 1), 0);
        CHECK_EQ(weft_lock_release(&cond_lock), 0);
    }
    atomic_store(&giver_done, true);
    return NULL;
}

static bool have_ticket(void *arg)
{
    (void)arg;
    return atomic_load(&tickets) > 0;
}

static void *cond_waiter(void *arg)
{
    waiter *w = arg;
    while (!tickets_drained()) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        weft_deadline d = arm(w);
        int r = weft_lock_acquire_until(&cond_lock, d);
        if (r != 0) {
            gave_up(w, d, r);
            continue;
        }
        if (rnd(&w->rng) % 2) {
            while (atomic_load(&tickets) == 0 && r == 0) {
                r = weft_cond_wait_until(&cond, &cond_lock, d);
                CHECK(weft_lock_locked(&cond_lock)); /* re-taken, whatever the result */
                if (r == 0)
                    atomic_fetch_add(&zeros, 1);
            }
        } else {
            r = weft_cond_wait_for_until(&cond, &cond_lock, have_ticket, NULL, d);
            CHECK(weft_lock_locked(&cond_lock));
            CHECK(r != 0 || atomic_load(&tickets) > 0);
        }
        if (r == 0) {
            CHECK(atomic_fetch_sub(&tickets, 1) > 0);
            atomic_fetch_add(&tickets_got, 1);
            atomic_fetch_add(&progress, 1);
        } else {
            gave_up(w, d, r);
        }
        CHECK_EQ(weft_lock_release(&cond_lock), 0);
    }
    return NULL;
}

/* ---- futures ---------------------------------------------------------------------------------- */

static void *completer(void *arg)
{
    waiter *w = arg;
    for (long k = 0; k < n_futures; k++) {
        if (!time_up())
            usleep(rnd(&w->rng) % 60);
        switch (future_kind(k)) {
        case FUT_CANCEL:
            CHECK_EQ(weft_future_cancel(futures[k]), 0);
            break;
        case FUT_ERROR:
            CHECK_EQ(weft_future_set_error(futures[k], EIO), 0);
            break;
        default:
            CHECK_EQ(weft_future_set_result(futures[k], (void *)(uintptr_t)(k + 1)), 0);
        }
        atomic_store(&futures_completed, k + 1);
        atomic_fetch_add(&progress, 1);
    }
    atomic_store(&completer_done, true);
    return NULL;
}

/* A result of future k (r and res from a wait that ended with it done) is what it
 * was completed with. */
static void check_future(long k, int r, void *res)
{
    weft_future *f = futures[k];
    CHECK(weft_future_done(f));
    switch (future_kind(k)) {
    case FUT_CANCEL:
        CHECK_EQ(r, ECANCELED);
        CHECK(weft_future_cancelled(f));
        break;
    case FUT_ERROR:
        CHECK_EQ(r, EIO);
        CHECK(!weft_future_cancelled(f));
        break;
    default:
        CHECK_EQ(r, 0);
        CHECK(res == (void *)(uintptr_t)(k + 1));
    }
}

static void check_done_future(long k)
{
    void *res = NULL;
    int r = weft_future_result(futures[k], 0, &res);
    check_future(k, r, res);
}

static long future_index(waiter *w)
{
    long k = atomic_load(&futures_completed) + (long)(rnd(&w->rng) % 2);
    return k < n_futures ? k : n_futures - 1;
}

struct handed {
    long n;
};

static int hand_back(weft_future *f, void *arg)
{
    CHECK(weft_future_done(f));
    ((struct handed *)arg)->n++;
    return 0;
}

static void *future_waiter(void *arg)
{
    waiter *w = arg;
    while (!atomic_load(&completer_done)) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        long k = future_index(w), k2 = k + 1 < n_futures ? k + 1 : k;
        weft_future *fs[2] = {futures[k], futures[k2]};
        weft_deadline d = arm(w);
        switch (rnd(&w->rng) % 3) {
        case 0: {
            void *res = NULL;
            int r = weft_future_result_until(futures[k], d, &res);
            if (r == 0 || r == EIO || (r == ECANCELED && weft_future_cancelled(futures[k]))) {
                check_future(k, r, res);
                atomic_fetch_add(&progress, 1);
            } else {
                gave_up(w, d, r);
                /* The token did not touch the future (the completer may cancel it). */
                CHECK(future_kind(k) == FUT_CANCEL || !weft_future_cancelled(futures[k]));
            }
            break;
        }
        case 1: {
            int r = weft_futures_wait_until(fs, 2, d, WEFT_FIRST_COMPLETED);
            if (r == 0)
                CHECK(weft_future_done(fs[0]) || weft_future_done(fs[1]));
            else
                gave_up(w, d, r);
            break;
        }
        default: {
            struct handed h = {0};
            long distinct = k2 == k ? 1 : 2;
            int r = weft_futures_as_completed_until(fs, 2, d, hand_back, &h);
            if (r == 0) {
                CHECK_EQ(h.n, distinct);
            } else {
                gave_up(w, d, r);
                CHECK(h.n < distinct);
            }
        }
        }
    }
    return NULL;
}

/* ---- wait_any over every kind ------------------------------------------------------------ */

static void *selector(void *arg)
{
    waiter *w = arg;
    while (!(producing_done() && queue_drained() && units_drained())) {
        if (rnd(&w->rng) % 32 == 0)
            dead_check(w);
        enum { S_QUEUE, S_UNITS, S_PERMITS, S_LOCK, S_EVENT, S_FUTURE, S_CANCEL, KINDS };
        const weft_cancel *g = &epochs[atomic_load(&cur_epoch)].group[G_SELECT];
        long k = atomic_load(&futures_completed);
        long c = atomic_load(&clears);
        weft_source s[KINDS];
        int kind[KINDS], n = 0;
        size_t first = rnd(&w->rng) % KINDS; /* the sources in a rotated order */
        for (size_t j = 0; j < KINDS; j++) {
            int x = (int)((first + j) % KINDS);
            switch (x) {
            case S_QUEUE: s[n] = weft_source_queue_get(q); break;
            case S_UNITS: s[n] = weft_source_sem(&units); break;
            /* The permits and the lock are free most of the time, the event is
             * set for a while: each is left out half the time, so the call blocks. */
            case S_PERMITS:
                if (rnd(&w->rng) % 2)
                    continue;
                s[n] = weft_source_sem(&permits);
                break;
            case S_LOCK:
                if (rnd(&w->rng) % 2)
                    continue;
                s[n] = weft_source_lock(&lock);
                break;
            case S_EVENT:
                if (rnd(&w->rng) % 2)
                    continue;
                s[n] = weft_source_event(&event);
                break;
            case S_FUTURE:
                if (k >= n_futures)
                    continue;
                s[n] = weft_source_future(futures[k]);
                break;
            default: s[n] = weft_source_cancel(g); break;
            }
            kind[n++] = x;
        }
        weft_deadline d = arm(w);
        int r = weft_wait_any_until(s, (size_t)n, d);
        if (r < 0) {
            gave_up_neg(w, d, r);
            continue;
        }
        CHECK(r < n);
        CHECK_EQ(s[r].result, 0);
        switch (kind[r]) {
        case S_QUEUE: take_item(s[r].item); break;
        case S_UNITS: take_unit(); break;
        case S_PERMITS: hold_permit(); break;
        case S_LOCK: critical_section(); break;
        case S_EVENT: event_seen(c); break;
        case S_FUTURE: check_done_future(k); break;
        default: CHECK(weft_cancel_fired(g));
        }
    }
    return NULL;
}

/* ---- firers ---------------------------------------------------------------------------------- */

static waiter *all_waiters;
static int n_all_waiters;
static _Atomic bool firing;
static _Atomic long fires_call, fires_group, fires_root;

static void *firer(void *arg)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(uintptr_t)arg + 1;
    while (atomic_load(&firing)) {
        uint32_t x = rnd(&rng);
        if (x % 4 == 0) {
            usleep(x % 200);
        } else {
            for (volatile uint32_t spin = x % 4096; spin; spin--)
                ;
        }
        uint32_t pick = rnd(&rng) % 16;
        long e = atomic_load(&cur_epoch);
        bool room = e < max_epochs - 2 * FIRERS - 1; /* the epoch can move on afterwards */
        if (pick < 12 || !room) {
            waiter *w = &all_waiters[rnd(&rng) % (uint32_t)n_all_waiters];
            pthread_mutex_lock(&w->mu);
            CHECK_EQ(weft_cancel_fire(&w->tok), 0);
            pthread_mutex_unlock(&w->mu);
            atomic_fetch_add(&fires_call, 1);
            continue;
        }
        if (pick < 15) {
            CHECK_EQ(weft_cancel_fire(&epochs[e].group[rnd(&rng) % GROUPS]), 0);
            atomic_fetch_add(&fires_group, 1);
        } else {
            CHECK_EQ(weft_cancel_fire(&epochs[e].root), 0);
            atomic_fetch_add(&fires_root, 1);
        }
        /* Calls armed meanwhile start under a fired ancestor. */
        usleep(rnd(&rng) % 100);
        advance_epoch(FIRERS);
    }
    /* The drain runs on a fresh epoch: nothing fires there but the final stop. */
    CHECK(advance_epoch(0));
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------------------ */

static const struct role {
    const char *name;
    void *(*fn)(void *);
    int group, count;
} roles[] = {
    {"producer", producer, G_QUEUE, PRODUCERS},
    {"consumer", consumer, G_QUEUE, CONSUMERS},
    {"holder", holder, G_SEM, HOLDERS},
    {"releaser", releaser, G_SEM, 1},
    {"taker", taker, G_SEM, TAKERS},
    {"locker", locker, G_LOCK, LOCKERS},
    {"setter", setter, G_EVENT, 1},
    {"event waiter", event_waiter, G_EVENT, EVENT_WAITERS},
    {"giver", giver, G_COND, 1},
    {"cond waiter", cond_waiter, G_COND, COND_WAITERS},
    {"completer", completer, G_FUTURE, 1},
    {"future waiter", future_waiter, G_FUTURE, FUTURE_WAITERS},
    {"selector", selector, G_SELECT, SELECTORS},
};
enum { ROLES = sizeof roles / sizeof roles[0] };

/* Waits until done(), aborting if `progress` stands still for 20 s. */
static void watch(bool (*done)(void), const char *what)
{
    long last = -1;
    int64_t since = weft_now_ns();
    while (!done()) {
        long p = atomic_load(&progress);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        } else if (weft_now_ns() - since > WEFT_SEC(20)) {
            fprintf(stderr,
                    "%s: stuck (progress %ld): producers %d/%d put %ld got %ld; units %ld/%ld "
                    "(value %u); tickets %ld/%ld (%ld left); sections %ld; futures %ld/%ld\n",
                    what, p, atomic_load(&producers_done), PRODUCERS, put_total(),
                    atomic_load(&got_total), atomic_load(&units_taken),
                    atomic_load(&units_released), weft_sem_value(&units),
                    atomic_load(&tickets_got), atomic_load(&tickets_given),
                    atomic_load(&tickets), atomic_load(&lock_wins),
                    atomic_load(&futures_completed), n_futures);
            abort();
        }
        usleep(2000);
    }
}

static void cancellation_across_families(void)
{
    items_per_producer = wf_test_scale(40000);
    holds_per_holder = wf_test_scale(8000);
    units_target = wf_test_scale(40000);
    sections_per_locker = wf_test_scale(10000);
    event_rounds = wf_test_scale(6000);
    tickets_target = wf_test_scale(20000);
    n_futures = wf_test_scale(6000) + 2;
    max_epochs = 1 << 15; /* not scaled: the firers need them whatever the pace */
    t_end = weft_now_ns() + WEFT_MS(2000);

    CHECK_EQ(weft_cancel_init(&stop), 0);
    epochs = calloc((size_t)max_epochs, sizeof *epochs);
    CHECK(epochs != NULL);
    atomic_store(&cur_epoch, -1);
    CHECK(advance_epoch(0));

    CHECK_EQ(weft_queue_create(&q, QUEUE_SIZE, WEFT_FIFO), 0);
    seen = calloc((size_t)(PRODUCERS * items_per_producer), 1);
    CHECK(seen != NULL);
    CHECK_EQ(weft_sem_init_bounded(&permits, PERMITS), 0);
    CHECK_EQ(weft_sem_init(&units, 0), 0);
    futures = calloc((size_t)n_futures, sizeof *futures);
    CHECK(futures != NULL);
    for (long k = 0; k < n_futures; k++)
        CHECK_EQ(weft_future_create(&futures[k]), 0);

    CHECK_EQ(weft_queue_create(&dead_empty, 1, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&dead_full, 1, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_put(dead_full, &dead_full, 0), 0);
    CHECK_EQ(weft_sem_init(&dead_sem, 0), 0);
    CHECK_EQ(weft_lock_acquire(&dead_lock), 0);
    CHECK_EQ(weft_future_create(&dead_future), 0);

    int n = 0;
    for (int r = 0; r < ROLES; r++)
        n += roles[r].count;
    n_all_waiters = n;
    all_waiters = calloc((size_t)n, sizeof *all_waiters);
    CHECK(all_waiters != NULL);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    CHECK(th != NULL);
    for (int r = 0, i = 0; r < ROLES; r++) {
        for (int j = 0; j < roles[r].count; j++, i++) {
            waiter *w = &all_waiters[i];
            CHECK_EQ(pthread_mutex_init(&w->mu, NULL), 0);
            CHECK_EQ(weft_cancel_init(&w->tok), 0);
            w->group = roles[r].group;
            w->nth = j;
            w->rng = 0x2545f4914f6cdd1dull * (uint64_t)(i + 1);
        }
    }
    atomic_store(&firing, true);
    pthread_t fth[FIRERS];
    for (int i = 0; i < FIRERS; i++)
        CHECK_EQ(pthread_create(&fth[i], NULL, firer, (void *)(uintptr_t)(i + 1)), 0);
    for (int r = 0, i = 0; r < ROLES; r++)
        for (int j = 0; j < roles[r].count; j++, i++)
            CHECK_EQ(pthread_create(&th[i], NULL, roles[r].fn, &all_waiters[i]), 0);

    /* Phase 1: the producing side, with tokens firing. */
    watch(producing_done, "producing");
    atomic_store(&firing, false);
    for (int i = 0; i < FIRERS; i++)
        CHECK_EQ(pthread_join(fth[i], NULL), 0);
    /* Phase 2: the drain, with no token firing: a lost wakeup stalls it. */
    watch(all_done, "drain");
    CHECK_EQ(weft_cancel_fire(&stop), 0); /* lets out whoever still waits */
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);

    /* Every item put was got exactly once, and none is left. */
    for (int p = 0; p < PRODUCERS; p++) {
        long put = atomic_load(&put_count[p]);
        for (long i = 0; i < items_per_producer; i++)
            CHECK_EQ(atomic_load(&seen[p * items_per_producer + i]), i < put ? 1 : 0);
    }
    CHECK_EQ(atomic_load(&got_total), put_total());
    CHECK_EQ(weft_queue_qsize(q), 0);
    /* The permits are all back, every unit released was taken once. */
    CHECK_EQ(weft_sem_value(&permits), PERMITS);
    CHECK_EQ(atomic_load(&in_use), 0);
    CHECK_EQ(weft_sem_value(&units), 0);
    CHECK_EQ(atomic_load(&units_taken), atomic_load(&units_released));
    /* The lock: free, and every acquire that returned 0 made one section. */
    CHECK(!weft_lock_locked(&lock));
    CHECK_EQ(sections, atomic_load(&lock_wins));
    CHECK_EQ(in_section, 0);
    /* The condition: every ticket taken once, no wait returned 0 without a notify. */
    CHECK_EQ(atomic_load(&tickets), 0);
    CHECK_EQ(atomic_load(&tickets_got), atomic_load(&tickets_given));
    CHECK(atomic_load(&zeros) <= atomic_load(&notifies));
    CHECK(!weft_lock_locked(&cond_lock));
    CHECK(!weft_cond_waiting(&cond));
    /* The futures: each as it was completed. */
    for (long k = 0; k < n_futures; k++)
        check_done_future(k);
    /* The dead objects are as they were. */
    CHECK_EQ(weft_queue_qsize(dead_empty), 0);
    CHECK_EQ(weft_queue_qsize(dead_full), 1);
    CHECK_EQ(weft_sem_value(&dead_sem), 0);
    CHECK(weft_lock_locked(&dead_lock));
    CHECK(!weft_event_is_set(&dead_event));
    CHECK(!weft_future_done(dead_future));

    long calls = 0, cancelled = 0, prefired = 0, timed_out = 0;
    for (int i = 0; i < n; i++) {
        if (getenv("WF_STRESS_VERBOSE"))
            printf("  waiter %d group %d: %ld calls, %ld cancelled (%ld before), %ld timed out\n", i,
                   all_waiters[i].group, all_waiters[i].calls, all_waiters[i].cancelled,
                   all_waiters[i].cancelled_prefired, all_waiters[i].timed_out);
        calls += all_waiters[i].calls;
        cancelled += all_waiters[i].cancelled;
        prefired += all_waiters[i].cancelled_prefired;
        timed_out += all_waiters[i].timed_out;
    }
    printf("  %ld calls: %ld cancelled (%ld under a token fired before), %ld timed out; fired "
           "%ld call tokens, %ld groups, %ld roots over %ld epochs; items %ld, units %ld, "
           "sections %ld, tickets %ld (%ld zeros, %ld notifies), futures %ld\n",
           calls, cancelled, prefired, timed_out, atomic_load(&fires_call),
           atomic_load(&fires_group), atomic_load(&fires_root), atomic_load(&cur_epoch) + 1,
           atomic_load(&got_total), atomic_load(&units_taken), sections,
           atomic_load(&tickets_got), atomic_load(&zeros), atomic_load(&notifies), n_futures);
    /* Some calls were cancelled while they waited, not only before. */
    CHECK(cancelled > prefired);

    CHECK_EQ(weft_lock_release(&dead_lock), 0);
    CHECK_EQ(weft_future_release(dead_future), 0);
    CHECK_EQ(weft_queue_destroy(dead_empty), 0);
    CHECK_EQ(weft_queue_destroy(dead_full), 0);
    for (long k = 0; k < n_futures; k++)
        CHECK_EQ(weft_future_release(futures[k]), 0);
    CHECK_EQ(weft_queue_destroy(q), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_mutex_destroy(&all_waiters[i].mu), 0);
    free(th);
    free(all_waiters);
    free(futures);
    free((void *)seen);
    free(epochs);
}

/* ---- a cancel racing a handoff ---------------------------------------------------------
 * Rounds on one object at a time: VICTIMS threads wait under children of one token,
 * KEEPERS under another. The main thread hands k <= KEEPERS units over (releases, puts,
 * gets, notifies, unlocks) while a firer fires the victims' parent token at nearly
 * the same moment, most rounds once all of them are asleep. Then all k units must be
 * taken: a victim woken for a unit that leaves cancelled must pass the wakeup on,
 * else the unit sits there while keepers sleep, and the round stalls (a failure
 * after 20 s). Only then does the keepers' token fire to end the round, and the
 * counts must be exact: k taken (victims that won count), the object back where it
 * was. Nothing else happens during a round, so nothing else can rescue a stranded
 * sleeper, as the firing and the traffic of the first test can. */

enum { VICTIMS = 3, KEEPERS = 3, HOLD_QUEUE = 4 };

typedef struct handoff_kind {
    const char *name;
    void (*prepare)(void);        /* the object as a round starts */
    int (*wait)(weft_deadline d); /* one wait: 0 (took a unit), or the error */
    void (*hand)(int k);          /* hands k units over */
    void (*check)(int k);         /* the object after the round */
    bool every_keeper; /* the unit is passed on by each taker (a lock): all keepers get it */
} handoff_kind;

static const handoff_kind *hk;
static pthread_barrier_t round_start, round_end;
static weft_cancel victims_token, keepers_token;
static _Atomic long h_taken, h_keepers_taken;
static _Atomic bool h_go, h_over;

static weft_sem h_sem, h_never; /* h_never: a second source that is never ready */
static weft_queue *h_queue;
static weft_lock h_lock, h_cond_lock;
static weft_cond h_cond;
static long h_tickets; /* guarded by h_cond_lock */

/* A wait_any over the object's source and a never-ready one, in either order. */
static int wait_any_of(weft_source s, weft_deadline d)
{
    static _Atomic unsigned turn;
    bool first = atomic_fetch_add(&turn, 1) % 2;
    weft_source two[2] = {first ? s : weft_source_sem(&h_never), first ? weft_source_sem(&h_never) : s};
    int r = weft_wait_any_until(two, 2, d);
    if (r < 0)
        return -r;
    CHECK_EQ(r, first ? 0 : 1);
    CHECK_EQ(two[r].result, 0);
    return 0;
}

static void sem_prepare(void)
{
    CHECK_EQ(weft_sem_value(&h_sem), 0);
}

static int sem_wait(weft_deadline d)
{
    return weft_sem_acquire_until(&h_sem, d);
}

static int sem_wait_any(weft_deadline d)
{
    return wait_any_of(weft_source_sem(&h_sem), d);
}

static void sem_hand(int k)
{
    CHECK_EQ(weft_sem_release(&h_sem, (uint32_t)k), 0);
}

static void sem_check(int k)
{
    (void)k;
    CHECK_EQ(weft_sem_value(&h_sem), 0);
}

static void get_prepare(void)
{
    CHECK_EQ(weft_queue_qsize(h_queue), 0);
}

static int get_wait(weft_deadline d)
{
    void *item = NULL;
    int r = weft_queue_get_until(h_queue, &item, d);
    CHECK(r != 0 || item == &h_queue);
    return r;
}

static int get_wait_any(weft_deadline d)
{
    return wait_any_of(weft_source_queue_get(h_queue), d);
}

static void get_hand(int k)
{
    for (int i = 0; i < k; i++)
        CHECK_EQ(weft_queue_put(h_queue, &h_queue, 0), 0);
}

static void get_check(int k)
{
    (void)k;
    CHECK_EQ(weft_queue_qsize(h_queue), 0);
}

/* put: the queue is full as the round starts; the hand makes room for k */
static void put_prepare(void)
{
    while (weft_queue_qsize(h_queue) < HOLD_QUEUE)
        CHECK_EQ(weft_queue_put(h_queue, &h_queue, 0), 0);
}

static int put_wait(weft_deadline d)
{
    return weft_queue_put_until(h_queue, &h_queue, d);
}

static void put_hand(int k)
{
    for (int i = 0; i < k; i++) {
        void *item;
        CHECK_EQ(weft_queue_get(h_queue, &item, 0), 0);
    }
}

static void put_check(int k)
{
    (void)k;
    CHECK_EQ(weft_queue_qsize(h_queue), HOLD_QUEUE); /* k made room, k were put */
    void *item;
    while (weft_queue_get(h_queue, &item, 0) == 0)
        ;
}

/* lock: the main thread holds it as the round starts; each taker passes it on */
static void lock_prepare(void)
{
    CHECK_EQ(weft_lock_acquire(&h_lock), 0);
}

static int lock_taken(int r)
{
    if (r == 0)
        CHECK_EQ(weft_lock_release(&h_lock), 0);
    return r;
}

static int lock_wait(weft_deadline d)
{
    return lock_taken(weft_lock_acquire_until(&h_lock, d));
}

static int lock_wait_any(weft_deadline d)
{
    return lock_taken(wait_any_of(weft_source_lock(&h_lock), d));
}

static void lock_hand(int k)
{
    (void)k;
    CHECK_EQ(weft_lock_release(&h_lock), 0);
}

static void lock_check(int k)
{
    (void)k;
    CHECK(!weft_lock_locked(&h_lock));
}

/* condition: k tickets and notify(k) under the lock */
static void cond_prepare(void)
{
    CHECK_EQ(h_tickets, 0);
}

static int cond_wait(weft_deadline d)
{
    int r = weft_lock_acquire_until(&h_cond_lock, d);
    if (r != 0)
        return r;
    while (h_tickets == 0 && r == 0)
        r = weft_cond_wait_until(&h_cond, &h_cond_lock, d);
    if (r == 0)
        h_tickets--;
    CHECK_EQ(weft_lock_release(&h_cond_lock), 0);
    return r;
}

static void cond_hand(int k)
{
    CHECK_EQ(weft_lock_acquire(&h_cond_lock), 0);
    h_tickets += k;
    CHECK_EQ(weft_cond_notify(&h_cond, k), 0);
    CHECK_EQ(weft_lock_release(&h_cond_lock), 0);
}

static void cond_check(int k)
{
    (void)k;
    CHECK_EQ(weft_lock_acquire(&h_cond_lock), 0);
    CHECK_EQ(h_tickets, 0);
    CHECK_EQ(weft_lock_release(&h_cond_lock), 0);
    CHECK(!weft_cond_waiting(&h_cond));
}

static const handoff_kind handoff_kinds[] = {
    {"sem", sem_prepare, sem_wait, sem_hand, sem_check, false},
    {"sem/wait_any", sem_prepare, sem_wait_any, sem_hand, sem_check, false},
    {"queue get", get_prepare, get_wait, get_hand, get_check, false},
    {"queue get/wait_any", get_prepare, get_wait_any, get_hand, get_check, false},
    {"queue put", put_prepare, put_wait, put_hand, put_check, false},
    {"lock", lock_prepare, lock_wait, lock_hand, lock_check, true},
    {"lock/wait_any", lock_prepare, lock_wait_any, lock_hand, lock_check, true},
    {"cond", cond_prepare, cond_wait, cond_hand, cond_check, false},
};

/* A short random pause: none, a spin, or a yield. */
static void jitter(uint64_t *rng)
{
    uint32_t x = rnd(rng);
    if (x % 3 == 0)
        return;
    if (x % 3 == 1) {
        for (volatile uint32_t spin = x % 1024; spin; spin--)
            ;
    } else {
        sched_yield();
    }
}

static void *handoff_waiter(void *arg)
{
    int id = (int)(uintptr_t)arg;
    bool victim = id < VICTIMS;
    for (;;) {
        pthread_barrier_wait(&round_start);
        if (atomic_load(&h_over))
            return NULL;
        weft_cancel mine;
        const weft_cancel *t = &keepers_token;
        if (victim) {
            CHECK_EQ(weft_cancel_init_child(&mine, &victims_token), 0);
            t = &mine;
        }
        int r = hk->wait(weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, t));
        if (r == 0) {
            atomic_fetch_add(&h_taken, 1);
            if (!victim)
                atomic_fetch_add(&h_keepers_taken, 1);
        } else {
            CHECK_EQ(r, ECANCELED);
            CHECK(weft_cancel_fired(t));
        }
        pthread_barrier_wait(&round_end);
    }
}

static void *handoff_firer(void *arg)
{
    (void)arg;
    uint64_t rng = 0x853c49e6748fea9bull;
    for (;;) {
        pthread_barrier_wait(&round_start);
        if (atomic_load(&h_over))
            return NULL;
        while (!atomic_load(&h_go))
            ;
        jitter(&rng);
        CHECK_EQ(weft_cancel_fire(&victims_token), 0);
        pthread_barrier_wait(&round_end);
    }
}

static void cancel_races_handoff(void)
{
    enum { THREADS = VICTIMS + KEEPERS + 1 }; /* and the main thread */
    long rounds = wf_test_scale(400);
    CHECK_EQ(weft_sem_init(&h_sem, 0), 0);
    CHECK_EQ(weft_sem_init(&h_never, 0), 0);
    CHECK_EQ(weft_queue_create(&h_queue, HOLD_QUEUE, WEFT_FIFO), 0);
    CHECK_EQ(pthread_barrier_init(&round_start, NULL, THREADS + 1), 0);
    CHECK_EQ(pthread_barrier_init(&round_end, NULL, THREADS + 1), 0);
    atomic_store(&h_over, false);
    pthread_t th[THREADS];
    for (int i = 0; i < VICTIMS + KEEPERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, handoff_waiter, (void *)(uintptr_t)i), 0);
    CHECK_EQ(pthread_create(&th[THREADS - 1], NULL, handoff_firer, NULL), 0);

    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (size_t kind = 0; kind < sizeof handoff_kinds / sizeof handoff_kinds[0]; kind++) {
        hk = &handoff_kinds[kind];
        long victims_won = 0;
        for (long round = 0; round < rounds; round++) {
            int k = 1 + (int)(rnd(&rng) % KEEPERS);
            hk->prepare();
            CHECK_EQ(weft_cancel_init(&victims_token), 0);
            CHECK_EQ(weft_cancel_init(&keepers_token), 0);
            atomic_store(&h_taken, 0);
            atomic_store(&h_keepers_taken, 0);
            atomic_store(&h_go, false);
            pthread_barrier_wait(&round_start);
            if (rnd(&rng) % 4)
                usleep(100); /* most rounds: every waiter asleep by now */
            atomic_store(&h_go, true);
            jitter(&rng);
            hk->hand(k);
            int64_t limit = weft_now_ns() + WEFT_SEC(20);
            while (hk->every_keeper ? atomic_load(&h_keepers_taken) < KEEPERS
                                    : atomic_load(&h_taken) < k) {
                if (weft_now_ns() > limit) {
                    fprintf(stderr, "%s, round %ld: stuck with %ld of %d taken (%ld by keepers)\n",
                            hk->name, round, atomic_load(&h_taken), k,
                            atomic_load(&h_keepers_taken));
                    abort();
                }
                sched_yield();
            }
            CHECK_EQ(weft_cancel_fire(&keepers_token), 0);
            pthread_barrier_wait(&round_end);
            long taken = atomic_load(&h_taken);
            if (hk->every_keeper) {
                CHECK_EQ(atomic_load(&h_keepers_taken), KEEPERS);
            } else {
                CHECK_EQ(taken, k); /* no unit lost, none taken twice */
            }
            victims_won += taken - atomic_load(&h_keepers_taken);
            hk->check(k);
        }
        printf("  %s: %ld rounds, %ld units won by victims\n", hk->name, rounds, victims_won);
    }
    atomic_store(&h_over, true);
    pthread_barrier_wait(&round_start);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(pthread_barrier_destroy(&round_start), 0);
    CHECK_EQ(pthread_barrier_destroy(&round_end), 0);
    CHECK_EQ(weft_queue_destroy(h_queue), 0);
    CHECK_EQ(weft_sem_value(&h_never), 0);
}

int main(int argc, char **argv)
{
    if (getenv("WF_TEST_FALLBACK"))
        wf_wait_any_force_fallback();
    static const wf_test_case cases[] = {
        TEST(cancellation_across_families),
        TEST(cancel_races_handoff),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
