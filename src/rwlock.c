/* weft_rwlock slow paths. The words' state table is in include/weft/rwlock.h.
 *
 * The lock is phase-fair (Brandenburg and Anderson's phase-fair reader-writer
 * locks, here sleeping on the words instead of spinning): a writer first claims
 * the lock (WRITER), which stops new readers at once, then waits for the readers
 * it found to leave (HELD). Readers that come meanwhile queue (QUEUED). When the
 * writer lets go (a release, a downgrade, a claim given up) it clears WRITER and
 * wakes them; each queued reader then moves itself from QUEUED to READERS, and no
 * writer claims while QUEUED is not zero: the next writer lets them in for as
 * long as a lock's spin (WF_SPIN_LOCK, tens of microseconds: far longer than a
 * woken thread takes to run where a CPU is free), then claims all the same (readers
 * not yet run stay queued, behind it). Queued readers are counted as readers only
 * once they run: counting them in at the release (as a phase-fair lock with a phase
 * bit does) lets readers that are still asleep, or preempted, hold the lock, and
 * with more threads than CPUs every next writer then waits out their wakeups while
 * all other readers queue behind it: a convoy (3-4x less read-mostly throughput at
 * 8 threads on 2 CPUs, measured). With this order, readers that run keep coming in while the
 * queued ones catch up. QUEUED only grows while WRITER is set, so the wait is for
 * a set of readers fixed when the writer let go. (The turn is a spin: yielding or
 * sleeping through it costs the writer the scheduler's delay, milliseconds on a
 * loaded 2-CPU machine, measured; waiting with no bound, all of that delay.)
 *
 * The visible-readers table (BRAVO, Dice and Kogan, USENIX ATC 2019; the rows per
 * thread are ck_brlock's per-reader records, shared by all locks, and the writer's
 * barrier before it sleeps is the asymmetric fence of Linux's percpu-rwsem and of
 * liburcu's membarrier flavour). Every thread that reads gets a row of
 * WEFT_RWLOCK_ROW_SLOTS slots; a lock's slot in a row is its address hashed. While
 * a lock's BIAS is on, a reader writes the lock's address into its own slot (only
 * the row's thread ever stores into a row) and a release stores 0 there. A writer
 * clears BIAS with its claim and counts, in every row handed out, the slots that
 * hold the lock. Folly's SharedMutex lets writers move such readers into the lock
 * word instead; that needs the reader's release to be a compare-and-swap, two
 * locked instructions per read hold where this design has one.
 *
 * Releases by another thread. The lock is not owned, so a read hold announced in
 * one thread's row may be released by another thread, which cannot touch that
 * row. If the word counts a reader it takes that one (holds are interchangeable);
 * if not, it records a debt against the lock: the number of table slots holding
 * the lock that nobody will release. A lock's readers are then
 *
 *     READERS + (slots holding it) - (its debts),
 *
 * which every path keeps exact. A debt and a slot are settled together (both
 * removed) by the slot's thread: when it next releases that lock, when it reads
 * the lock again (the slot becomes its new hold), or when it exits; a slot in a
 * row no thread owns is simply cleared by the releaser. Debts live in a table
 * beside the rows, keyed by address, so that they settle even after the lock's
 * memory is gone. The lock's DEBTS flag sends its releases to the slow path while
 * it may have debts; wf_rw_debts counts them all, so that writers (almost always)
 * skip the table.
 *
 * Sleeping. Queued readers sleep on `state` (RSLEEP, flag-then-wait); writers
 * waiting to claim sleep on `writers`, counted in its low bits; the claiming
 * writer sleeps on `writers` with DRAIN until the readers leave. Every waker
 * changes the word slept on before it wakes.
 *
 * Cancellation. A deadline's token is looked at wherever a call would block:
 * before a reader queues, before each spin and at each wakeup (wf_sleep watches
 * it); a fired token unwinds exactly as a timeout does (a queued reader leaves the
 * queue, a claiming writer gives its claim up through wf_rw_let_go, which clears
 * WRITER and wakes the readers queued behind it, so none stays stopped by a
 * writer that has gone), and the public boundary turns the ETIMEDOUT into
 * ECANCELED (wf_cancel_result).
 *
 * TSan (src/tsan.h). A TSan program's fast paths tell its own handoffs, as mutex
 * operations or as instrumented atomics (WEFT_TSAN_NO_MUTEX); what the library
 * does out of sight is told here, as its atomics would tell it: every release
 * done here publishes on `state` (wf_tsan_release), a slow read acquire acquires
 * it, and a slow write acquire (or an upgrade) acquires it and the lock's slot in
 * every row, where readers in the table release with a store of their own fast
 * path. (A slot is shared by the locks that hash to it: a writer may so seem to
 * follow a reader of another lock, which can only hide a race, never invent one.)
 * The row allocation and its return at thread exit take wf_rw_lock with TSan's
 * view of it ignored (wf_tsan_ignore_begin): bookkeeping, which must not order
 * one thread's first read after another's exit or first read. The one edge it
 * does carry is told instead: a row handed from an exited thread to a new one
 * (wf_rw_thread_exit), whose stores into its slots must carry the old one's
 * releases on to the writers that look there. */
#include "os.h"
#include "waiting.h"

extern inline bool weft__rwlock_read_fast(weft_rwlock *rw);
extern inline int weft_rwlock_read_acquire(weft_rwlock *rw);
extern inline bool weft_rwlock_read_try_acquire(weft_rwlock *rw);
extern inline int weft_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns);
extern inline int weft_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d);
extern inline int weft_rwlock_read_release(weft_rwlock *rw);
extern inline int weft_rwlock_write_acquire(weft_rwlock *rw);
extern inline bool weft_rwlock_write_try_acquire(weft_rwlock *rw);
extern inline int weft_rwlock_write_acquire_for(weft_rwlock *rw, int64_t timeout_ns);
extern inline int weft_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d);
extern inline int weft_rwlock_write_release(weft_rwlock *rw);

enum {
    WF_RW_ROWS = 256,           /* threads with a row at a time */
    WF_RW_ROW_ALIGN = 128,      /* a row's two lines, as the adjacent-line prefetcher pairs them */
    WF_RW_DEBTS_MAX = 2 * WF_RW_ROWS * WEFT_RWLOCK_ROW_SLOTS, /* locks with debts: see wf_rw_debt_add */
    WF_RW_INHIBIT_SLOTS = 64,   /* the bias's inhibit times, by lock address */
    WF_RW_INHIBIT_SHIFT = 58,   /* 64 - log2(WF_RW_INHIBIT_SLOTS) */
    /* After a revocation that took t, the bias stays off for this many times t, so
     * that revoking costs a writer at most 1/(1 + this) of its time (BRAVO's N). */
    WF_RW_INHIBIT_FACTOR = 9,
    /* A thread looks at the clock for the bias once every this many of its reads
     * through the word: a clock read costs as much as several reads (20-150 ns on
     * a virtual machine), and while the bias is off every read comes this way. */
    WF_RW_BIAS_LOOK_EVERY = 16,
    /* A writer that cannot have readers' releases fenced re-checks the table every
     * eighth of the time it has waited, within these bounds. */
    WF_RW_POLL_DIVISOR = 8,
};
#define WF_RW_POLL_MIN_NS WEFT_US(50)
#define WF_RW_POLL_MAX_NS WEFT_MS(10)
/* The value of every slot of the row of a thread that got none: never 0 (so never
 * taken) and never a lock's address (locks are 4-aligned). */
#define WF_RW_TAKEN ((uintptr_t)1)

#define WF_RW_READERS(s) ((s) >> WEFT_RWLOCK_READERS_SHIFT)
#define WF_RW_QUEUED(s) (((s) & WEFT_RWLOCK_QUEUED_MASK) >> WEFT_RWLOCK_QUEUED_SHIFT)

/* ---- the table ---------------------------------------------------------------------- */

_Thread_local _Atomic uintptr_t *weft__rwlock_row __attribute__((tls_model("initial-exec")));
/* Debts outstanding over all locks. */
static _Atomic uint32_t wf_rw_debts;

static _Alignas(WF_RW_ROW_ALIGN) _Atomic uintptr_t wf_rw_table[WF_RW_ROWS][WEFT_RWLOCK_ROW_SLOTS];
static _Alignas(WF_RW_ROW_ALIGN) _Atomic uintptr_t wf_rw_no_row[WEFT_RWLOCK_ROW_SLOTS];
/* Rows handed out so far: a writer looks at rows [0, rows_used). Only grows. */
static _Atomic uint32_t wf_rw_rows_used;

/* wf_rw_lock guards the row allocation and the debts. */
static weft_lock wf_rw_lock = WEFT_LOCK_INIT;
static uint64_t wf_rw_rows_taken[WF_RW_ROWS / 64];
static bool wf_rw_no_row_ready;
static struct wf_rw_debt {
    uintptr_t lock;
    uint32_t count;
} wf_rw_debt_table[WF_RW_DEBTS_MAX];
static uint32_t wf_rw_debt_used; /* entries [0, wf_rw_debt_used) are live, in no order */

static _Atomic int64_t wf_rw_inhibit[WF_RW_INHIBIT_SLOTS];

static void wf_rw_thread_exit(void);

/* The calling thread's row, handed out on its first read. */
static _Atomic uintptr_t *wf_rw_row(void)
{
    _Atomic uintptr_t *row = weft__rwlock_row;
    if (WF_LIKELY(row != NULL))
        return row;
    wf_tsan_ignore_begin(); /* bookkeeping (see the top) */
    weft_lock_acquire(&wf_rw_lock);
    if (!wf_rw_no_row_ready) {
        for (int i = 0; i < WEFT_RWLOCK_ROW_SLOTS; i++)
            /* relaxed: published by wf_rw_lock, and only ever read. */
            atomic_store_explicit(&wf_rw_no_row[i], WF_RW_TAKEN, memory_order_relaxed);
        wf_rw_no_row_ready = true;
    }
    row = wf_rw_no_row;
    for (uint32_t r = 0; r < WF_RW_ROWS; r++) {
        uint64_t bit = (uint64_t)1 << (r % 64);
        if (wf_rw_rows_taken[r / 64] & bit)
            continue;
        wf_rw_rows_taken[r / 64] |= bit;
        row = wf_rw_table[r];
        /* seq_cst: a writer that reads rows_used after clearing BIAS either counts
         * this row or clears BIAS before our first announcement in it, which then
         * sees BIAS clear (the pair in weft__rwlock_read_fast). */
        if (atomic_load_explicit(&wf_rw_rows_used, memory_order_relaxed) < r + 1)
            atomic_store_explicit(&wf_rw_rows_used, r + 1, memory_order_seq_cst);
        break;
    }
    weft_lock_release(&wf_rw_lock);
    wf_tsan_ignore_end();
    /* The row's last thread's releases, stored in its slots, are carried on by
     * our stores there (see wf_rw_thread_exit). */
    if (row != wf_rw_no_row)
        wf_tsan_acquire(row);
    weft__rwlock_row = row;
    wf_exit_register(WF_EXIT_READERS, wf_rw_thread_exit);
    wf_exit_arm();
    return row;
}

/* The rows a claiming writer still watches: those whose slot held the lock at its
 * first look after the claim. A reader announcing itself later sees BIAS clear and
 * withdraws (the pair in weft__rwlock_read_fast), so it is no hold; and a slot that
 * let go of the lock cannot take it back while WRITER is set. So later looks need
 * only these rows, and drop each as it empties. */
typedef struct wf_rw_watch {
    bool known;
    uint64_t rows[WF_RW_ROWS / 64];
} wf_rw_watch;

/* Slots of the handed-out rows holding rw (with `watch`: of its rows, or, the first
 * time, of all rows, noting them in it). */
static uint32_t wf_rw_entries(const weft_rwlock *rw, wf_rw_watch *watch)
{
    size_t i = WEFT__RWLOCK_SLOT(rw);
    uint32_t n = 0;
    if (watch && watch->known) {
        for (uint32_t w = 0; w < WF_RW_ROWS / 64; w++) {
            for (uint64_t bits = watch->rows[w]; bits; bits &= bits - 1) {
                uint32_t r = w * 64 + (uint32_t)__builtin_ctzll(bits);
                /* seq_cst, acquire: as below. */
                if (atomic_load_explicit(&wf_rw_table[r][i], memory_order_seq_cst) == (uintptr_t)rw)
                    n++;
                else
                    watch->rows[w] &= ~((uint64_t)1 << (r % 64));
            }
        }
        return n;
    }
    /* seq_cst: after the claim that cleared BIAS (see wf_rw_row). */
    uint32_t rows = atomic_load_explicit(&wf_rw_rows_used, memory_order_seq_cst);
    for (uint32_t r = 0; r < rows; r++) {
        /* seq_cst: the writer's half of the store-load pairs with announcing
         * readers (after its claim) and with withdrawing ones (after DRAIN); also
         * acquire: a slot found empty shows that reader's section done. */
        if (atomic_load_explicit(&wf_rw_table[r][i], memory_order_seq_cst) == (uintptr_t)rw) {
            n++;
            if (watch)
                watch->rows[r / 64] |= (uint64_t)1 << (r % 64);
        }
    }
    if (watch)
        watch->known = true;
    return n;
}

/* Under wf_rw_lock: rw's debt entry, or NULL. */
static struct wf_rw_debt *wf_rw_debt_find(const weft_rwlock *rw)
{
    for (uint32_t i = 0; i < wf_rw_debt_used; i++)
        if (wf_rw_debt_table[i].lock == (uintptr_t)rw)
            return &wf_rw_debt_table[i];
    return NULL;
}

/* Under wf_rw_lock: records one debt against rw; false if the table is full. It
 * cannot be while every debt has its slot (at most ROWS * ROW_SLOTS locks); the
 * factor 2 leaves room for debts whose slot was taken back by a racing misuse. */
static bool wf_rw_debt_add(const weft_rwlock *rw)
{
    struct wf_rw_debt *d = wf_rw_debt_find(rw);
    if (!d) {
        if (wf_rw_debt_used == WF_RW_DEBTS_MAX)
            return false;
        d = &wf_rw_debt_table[wf_rw_debt_used++];
        *d = (struct wf_rw_debt){(uintptr_t)rw, 0};
    }
    d->count++;
    /* relaxed: routes rw's releases to the slow path, which looks under wf_rw_lock. */
    atomic_fetch_or_explicit(&((weft_rwlock *)rw)->writers, WEFT_RWLOCK_DEBTS, memory_order_relaxed);
    /* seq_cst: a writer that then reads 0 here has counted the slot this debt is
     * against (see wf_rw_table_readers). */
    atomic_fetch_add_explicit(&wf_rw_debts, 1, memory_order_seq_cst);
    return true;
}

/* Under wf_rw_lock: settles one debt of rw (its caller removes the slot that goes
 * with it); false if rw has none. */
static bool wf_rw_debt_take(const weft_rwlock *rw)
{
    struct wf_rw_debt *d = wf_rw_debt_find(rw);
    if (!d)
        return false;
    if (--d->count == 0)
        *d = wf_rw_debt_table[--wf_rw_debt_used];
    /* relaxed: fewer debts only makes others take the fast path, which is right
     * once this slot is gone too (we hold wf_rw_lock while both go). */
    atomic_fetch_sub_explicit(&wf_rw_debts, 1, memory_order_relaxed);
    return true;
}

/* rw's readers in the table: slots holding it less its debts. *entries gets the
 * slots. A consistent count under wf_rw_lock when debts exist; without debts the
 * unlocked count can only be high (slots only empty while a writer waits, save a
 * withdrawing announcement), never low. */
static int64_t wf_rw_table_readers(const weft_rwlock *rw, uint32_t *entries, wf_rw_watch *watch)
{
    uint32_t n = wf_rw_entries(rw, watch);
    *entries = n;
    /* seq_cst: after the slots (see wf_rw_debt_add). */
    if (n == 0 || atomic_load_explicit(&wf_rw_debts, memory_order_seq_cst) == 0)
        return n;
    weft_lock_acquire(&wf_rw_lock);
    n = wf_rw_entries(rw, watch);
    struct wf_rw_debt *d = wf_rw_debt_find(rw);
    int64_t readers = (int64_t)n - (d ? d->count : 0);
    weft_lock_release(&wf_rw_lock);
    *entries = n;
    return readers;
}

/* Under wf_rw_lock: clears one slot holding rw in a row no thread owns (its thread
 * exited holding rw); false if there is none. Rows are handed out under the lock,
 * so nobody else can store into such a slot meanwhile. */
static bool wf_rw_clear_unowned(const weft_rwlock *rw)
{
    uint32_t rows = atomic_load_explicit(&wf_rw_rows_used, memory_order_relaxed);
    size_t i = WEFT__RWLOCK_SLOT(rw);
    for (uint32_t r = 0; r < rows; r++) {
        if (wf_rw_rows_taken[r / 64] & ((uint64_t)1 << (r % 64)))
            continue;
        /* relaxed: an unowned row, under wf_rw_lock. */
        if (atomic_load_explicit(&wf_rw_table[r][i], memory_order_relaxed) == (uintptr_t)rw) {
            /* seq_cst: as a reader's own release (release, and the pair with DRAIN). */
            atomic_store_explicit(&wf_rw_table[r][i], 0, memory_order_seq_cst);
            return true;
        }
    }
    return false;
}

/* The exit hook: settle the debts against our slots and give the row back. Slots
 * without a debt stay: they are holds this thread took and did not release
 * (another thread may still release them). */
static void wf_rw_thread_exit(void)
{
    _Atomic uintptr_t *row = weft__rwlock_row;
    if (row == NULL)
        return;
    weft__rwlock_row = NULL;
    if (row == wf_rw_no_row)
        return;
    size_t r = ((uintptr_t)row - (uintptr_t)wf_rw_table) / sizeof wf_rw_table[0];
    /* Under TSan: a writer that looks at a slot of this row sees our releases (a
     * TSan program's own release stores there) only as long as no other thread
     * stores into it, and the next thread to get the row will: it acquires this
     * (wf_rw_row), so its stores there carry ours on, as wf_rw_lock does when the
     * lock's instrumented atomics would. On the row's first slot, which nobody
     * stores into (as TSan sees it) while no thread owns the row. */
    wf_tsan_release(row);
    wf_tsan_ignore_begin(); /* bookkeeping (see the top) */
    weft_lock_acquire(&wf_rw_lock);
    /* relaxed: debts only change under wf_rw_lock, which we hold. */
    if (atomic_load_explicit(&wf_rw_debts, memory_order_relaxed)) {
        for (int i = 0; i < WEFT_RWLOCK_ROW_SLOTS; i++) {
            /* relaxed: our own row. */
            uintptr_t e = atomic_load_explicit(&row[i], memory_order_relaxed);
            if (e != 0 && wf_rw_debt_take((const weft_rwlock *)e))
                /* relaxed: a slot and its debt going together change no count. */
                atomic_store_explicit(&row[i], 0, memory_order_relaxed);
        }
    }
    wf_rw_rows_taken[r / 64] &= ~((uint64_t)1 << (r % 64));
    weft_lock_release(&wf_rw_lock);
    wf_tsan_ignore_end();
}

#ifdef WEFT_CHECKS
int64_t wf_rwlock_read_holds(const weft_rwlock *rw)
{
    /* relaxed: a snapshot for the checker's bookkeeping. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    if (s & WEFT_RWLOCK_HELD)
        return 0;
    uint32_t entries = 0;
    int64_t table = (s & WEFT_RWLOCK_SLOTS) ? wf_rw_table_readers(rw, &entries, NULL) : 0;
    return (int64_t)WF_RW_READERS(s) + table;
}
#endif

/* ---- the bias -------------------------------------------------------------------- */

#define WF_RW_INHIBIT_SLOT(rw)                                                           \
    ((size_t)(((uint64_t)(uintptr_t)(rw) * WEFT__RWLOCK_HASH_MUL) >> WF_RW_INHIBIT_SHIFT))

/* Reads through the word this thread has left before it next looks at the clock. */
static _Thread_local unsigned wf_rw_bias_countdown;

static bool wf_rw_bias_allowed(const weft_rwlock *rw)
{
    if (wf_rw_bias_countdown > 0) {
        wf_rw_bias_countdown--;
        return false;
    }
    wf_rw_bias_countdown = WF_RW_BIAS_LOOK_EVERY - 1;
    /* relaxed: a hint; turning the bias on early or late costs only time. Locks that
     * hash together share an inhibit time, which also costs only time. */
    return weft_now_ns() >= atomic_load_explicit(&wf_rw_inhibit[WF_RW_INHIBIT_SLOT(rw)],
                                                 memory_order_relaxed);
}

static void wf_rw_inhibit_after(const weft_rwlock *rw, int64_t revoke_started)
{
    int64_t now = weft_now_ns();
    /* relaxed: see wf_rw_bias_allowed. */
    atomic_store_explicit(&wf_rw_inhibit[WF_RW_INHIBIT_SLOT(rw)],
                          now + WF_RW_INHIBIT_FACTOR * (now - revoke_started), memory_order_relaxed);
}

/* ---- waking ------------------------------------------------------------------------ */

void weft__rwlock_wake_drain(weft_rwlock *rw)
{
    /* relaxed: only the change matters here; the writer's own acquire loads of the
     * state and the table give it the readers' sections. */
    uint32_t w = atomic_load_explicit(&rw->writers, memory_order_relaxed);
    while (w & WEFT_RWLOCK_DRAIN) {
        if (atomic_compare_exchange_weak_explicit(&rw->writers, &w,
                                                  (w & ~WEFT_RWLOCK_DRAIN) + WEFT_RWLOCK_SEQ_ONE,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            /* Lost wakeup avoided: the word left the value the draining writer sleeps
             * on before this wake. All: writers waiting to claim sleep here too. */
            wf_wake(&rw->writers, INT_MAX);
            return;
        }
    }
}

void weft__rwlock_wake_writer(weft_rwlock *rw)
{
    /* relaxed: the woken writer claims with an acquire CAS on `state`. */
    atomic_fetch_add_explicit(&rw->writers, WEFT_RWLOCK_SEQ_ONE, memory_order_relaxed);
    /* Lost wakeup avoided: the sequence moved before this wake, so a writer that
     * counted itself in but has not slept yet finds the word changed. */
    wf_wake(&rw->writers, 1);
}

/* Lets go of a claim whose bits `need` are set (WRITER: a claim given up;
 * WRITER|HELD: a release, or a downgrade keeping `keep` = 1 read hold); false,
 * changing nothing, if they are not set. The queued readers then come in. */
static bool wf_rw_let_go(weft_rwlock *rw, uint32_t need, uint32_t keep)
{
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    uint32_t want;
    do {
        if ((s & need) != need)
            return false;
        want = (s & ~(WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD | WEFT_RWLOCK_RSLEEP)) +
               keep * WEFT_RWLOCK_READER_ONE;
        /* seq_cst: release for the section, and ordered before the look at
         * `writers` below (the pair with wf_rw_writer_sleep). */
    } while (!atomic_compare_exchange_weak_explicit(&rw->state, &s, want, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* Lost wakeup avoided: the word left the value queued readers sleep on
     * (WRITER and RSLEEP cleared) before this wake. */
    if (s & WEFT_RWLOCK_RSLEEP)
        wf_wake(&rw->state, INT_MAX);
    /* seq_cst: the other half of the pair with wf_rw_writer_sleep. */
    uint32_t w = atomic_load_explicit(&rw->writers, memory_order_seq_cst);
    if (w & WEFT_RWLOCK_DRAIN) /* our own, from a drain given up */
        weft__rwlock_wake_drain(rw);
    else if (w & WEFT_RWLOCK_WSLEEPERS_MASK)
        weft__rwlock_wake_writer(rw);
    return true;
}

/* ---- read side ------------------------------------------------------------------- */

/* A queued reader, once WRITER is clear, moves itself from QUEUED to READERS;
 * false if the word moved (*seen reloaded). */
static bool wf_rw_come_in(weft_rwlock *rw, uint32_t *seen)
{
    /* acquire: the section follows the writer's, which released with the CAS that
     * cleared WRITER. */
    return atomic_compare_exchange_weak_explicit(
        &rw->state, seen, *seen - WEFT_RWLOCK_QUEUED_ONE + WEFT_RWLOCK_READER_ONE,
        memory_order_acquire, memory_order_acquire);
}

/* A queued reader (its registration made `seen`) waits for WRITER to clear, then
 * comes in; no writer claims before it has (it is counted in QUEUED). */
static int wf_rw_read_wait(weft_rwlock *rw, uint32_t seen, weft_deadline d)
{
    wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF);
    for (;;) {
        if (!(seen & WEFT_RWLOCK_WRITER)) {
            if (wf_rw_come_in(rw, &seen))
                return 0;
            continue;
        }
        /* A brief spin, for a writer about to let go; none once others sleep
         * (with more threads than CPUs the spinner holds a CPU the writer, or the
         * readers it waits for, may need), nor once the token has fired. */
        bool cancelled = wf_cancelled(d);
        if (!cancelled && !(seen & WEFT_RWLOCK_RSLEEP) && wf_spin(&spin)) {
            /* relaxed: only a look; wf_rw_come_in acquires. */
            seen = atomic_load_explicit(&rw->state, memory_order_relaxed);
            continue;
        }
        /* Lost wakeup avoided: the writer clears WRITER (and RSLEEP) before it wakes
         * us; we sleep only while the word still shows WRITER and RSLEEP. (A fired
         * token makes the sleep return ETIMEDOUT at once.) */
        if (!cancelled && wf_sleep_flagged(&rw->state, &seen, WEFT_RWLOCK_RSLEEP, d) != ETIMEDOUT)
            continue;
        /* Past the deadline, or cancelled: leave the queue, unless the writer let go
         * meanwhile (then the hold is ours: the call completes). QUEUED is only a
         * count, so leaving it takes nothing from the readers still queued; the
         * last to leave clears RSLEEP too, so the word is as if we never came. */
        while (seen & WEFT_RWLOCK_WRITER) {
            uint32_t left = seen - WEFT_RWLOCK_QUEUED_ONE;
            if (WF_RW_QUEUED(left) == 0)
                left &= ~WEFT_RWLOCK_RSLEEP; /* nobody queued: nobody asleep */
            /* relaxed: leaving publishes nothing. */
            if (atomic_compare_exchange_weak_explicit(&rw->state, &seen, left, memory_order_relaxed,
                                                      memory_order_relaxed))
                return ETIMEDOUT;
        }
    }
}

/* We have just come in through the word while our own slot holds rw and debts
 * exist: if rw has a debt, that slot is nobody's hold; make it ours and give back a
 * reader counted in the word (the count of readers stays the same). The word may
 * count none any more: a release by another thread may have taken the one we
 * added (holds are interchangeable); then the debt stays. */
static void wf_rw_settle_on_acquire(weft_rwlock *rw, _Atomic uintptr_t *row)
{
    _Atomic uintptr_t *slot = row + WEFT__RWLOCK_SLOT(rw);
    /* relaxed: our own row. */
    if (atomic_load_explicit(slot, memory_order_relaxed) != (uintptr_t)rw)
        return;
    weft_lock_acquire(&wf_rw_lock);
    if (wf_rw_debt_find(rw)) {
        /* relaxed: the CAS below decides. */
        uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
        while (WF_RW_READERS(s) > 0) {
            /* relaxed: the readers' count does not change (a word reader becomes a
             * table reader), so nothing is published and no writer is let in. */
            if (atomic_compare_exchange_weak_explicit(&rw->state, &s, s - WEFT_RWLOCK_READER_ONE,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                wf_rw_debt_take(rw);
                break;
            }
        }
    }
    weft_lock_release(&wf_rw_lock);
}

static int wf_rw_read(weft_rwlock *rw, weft_deadline d, bool try_only)
{
    _Atomic uintptr_t *row = wf_rw_row();
    int allowed = -1; /* whether we may turn the bias on: looked up once, if needed */
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    for (;;) {
        if (!(s & WEFT_RWLOCK_WRITER)) {
            if (WF_RW_READERS(s) + WF_RW_QUEUED(s) >= WEFT_RWLOCK_READERS_MAX) {
                if (try_only)
                    return EBUSY;
                if (wf_cancelled(d))
                    return ETIMEDOUT;
                sched_yield(); /* full: wait for room */
                s = atomic_load_explicit(&rw->state, memory_order_relaxed);
                continue;
            }
            uint32_t want = s + WEFT_RWLOCK_READER_ONE;
            if (!(s & WEFT_RWLOCK_BIAS) && row != wf_rw_no_row) {
                if (allowed < 0)
                    allowed = wf_rw_bias_allowed(rw);
                if (allowed)
                    want |= WEFT_RWLOCK_BIAS | WEFT_RWLOCK_SLOTS;
            }
            /* acq_rel: acquire for the section (pairs with the release by which the
             * last writer let go); release so that a reader who then sees our BIAS
             * also sees that writer's section. */
            if (atomic_compare_exchange_weak_explicit(&rw->state, &s, want, memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                /* relaxed: a routing hint, as in the fast release. */
                if (atomic_load_explicit(&wf_rw_debts, memory_order_relaxed))
                    wf_rw_settle_on_acquire(rw, row);
                return 0;
            }
            continue;
        }
        if (try_only)
            return EBUSY;
        /* A writer has claimed the lock: we would block. A fired token ends the
         * call here, before it queues (the boundary makes it ECANCELED). */
        if (wf_cancelled(d))
            return ETIMEDOUT;
        /* Queue behind the writer. */
        if (WF_RW_QUEUED(s) == WEFT_RWLOCK_QUEUED_MAX ||
            WF_RW_READERS(s) + WF_RW_QUEUED(s) >= WEFT_RWLOCK_READERS_MAX) {
            sched_yield(); /* full: wait for room */
            s = atomic_load_explicit(&rw->state, memory_order_relaxed);
            continue;
        }
        /* relaxed: queueing publishes nothing; the writer counts us in with a CAS
         * that reads this one. */
        if (atomic_compare_exchange_weak_explicit(&rw->state, &s, s + WEFT_RWLOCK_QUEUED_ONE,
                                                  memory_order_relaxed, memory_order_relaxed))
            return wf_rw_read_wait(rw, s + WEFT_RWLOCK_QUEUED_ONE, d);
    }
}

int weft__rwlock_read_slow(weft_rwlock *rw, weft_deadline d, bool try_only)
{
    if (rw == NULL)
        return EINVAL;
    int r = wf_rw_read(rw, d, try_only);
    /* The writer before us let go on `state` (in a TSan program's own fast path,
     * or here, told by wf_tsan_release). */
    if (r == 0)
        wf_tsan_acquire(&rw->state);
    return wf_cancel_result(r, d);
}

void weft__rwlock_read_undo(weft_rwlock *rw, _Atomic uintptr_t *slot)
{
    /* seq_cst: withdrawn before the look at DRAIN (a store-load pair with a writer
     * that sets DRAIN and then looks at our slot: this path has a full fence of its
     * own and needs no barrier from the writer). */
    atomic_store_explicit(slot, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&rw->writers, memory_order_seq_cst) & WEFT_RWLOCK_DRAIN)
        weft__rwlock_wake_drain(rw);
}

int weft__rwlock_read_release_slow(weft_rwlock *rw)
{
    if (rw == NULL)
        return EINVAL;
    /* Before any of the releases below, whichever it is (an EPERM tells one more,
     * harmlessly): the next writer acquires it. */
    wf_tsan_release(&rw->state);
    _Atomic uintptr_t *row = weft__rwlock_row;
    _Atomic uintptr_t *slot = row ? row + WEFT__RWLOCK_SLOT(rw) : NULL;
    /* relaxed: our own row. */
    if (slot && atomic_load_explicit(slot, memory_order_relaxed) == (uintptr_t)rw) {
        /* Our slot holds rw but debts exist (else the fast path had done this). If
         * rw has one, the slot and the debt settle each other and the release
         * still has a hold to take; if not, the slot is the hold. */
        weft_lock_acquire(&wf_rw_lock);
        bool settled = wf_rw_debt_take(rw);
        if (!wf_rw_debt_find(rw))
            /* relaxed: only routing; set again under wf_rw_lock if a debt comes. */
            atomic_fetch_and_explicit(&rw->writers, ~WEFT_RWLOCK_DEBTS, memory_order_relaxed);
        /* seq_cst: release for the section; and the store-load pair with a writer's
         * DRAIN, as in weft__rwlock_read_undo. */
        atomic_store_explicit(slot, 0, memory_order_seq_cst);
        weft_lock_release(&wf_rw_lock);
        if (!settled) {
            if (atomic_load_explicit(&rw->writers, memory_order_seq_cst) & WEFT_RWLOCK_DRAIN)
                weft__rwlock_wake_drain(rw);
            return 0;
        }
    }
    /* A reader counted in the word. */
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    while (WF_RW_READERS(s) > 0) {
        /* seq_cst: release for the section, and ordered before the look at DRAIN
         * (the pair with a draining writer, which sets DRAIN and then looks here). */
        if (atomic_compare_exchange_weak_explicit(&rw->state, &s, s - WEFT_RWLOCK_READER_ONE,
                                                  memory_order_seq_cst, memory_order_relaxed)) {
            if (atomic_load_explicit(&rw->writers, memory_order_seq_cst) & WEFT_RWLOCK_DRAIN)
                weft__rwlock_wake_drain(rw);
            return 0;
        }
    }
    /* A reader announced in another thread's row: clear it if no thread owns the
     * row, else record a debt against it. */
    int r = EPERM;
    weft_lock_acquire(&wf_rw_lock);
    if (wf_rw_clear_unowned(rw))
        r = 0;
    else {
        uint32_t entries = wf_rw_entries(rw, NULL);
        struct wf_rw_debt *debt = wf_rw_debt_find(rw);
        if (entries > (debt ? debt->count : 0) && wf_rw_debt_add(rw))
            r = 0;
    }
    weft_lock_release(&wf_rw_lock);
    /* seq_cst: after the debt, which lowers the readers a draining writer counts
     * (it looks at the debts under wf_rw_lock, after setting DRAIN). */
    if (r == 0 && (atomic_load_explicit(&rw->writers, memory_order_seq_cst) & WEFT_RWLOCK_DRAIN))
        weft__rwlock_wake_drain(rw);
    return r;
}

/* ---- write side ------------------------------------------------------------------ */

/* A writer waiting to claim sleeps until a writer lets go. */
static int wf_rw_writer_sleep(weft_rwlock *rw, weft_deadline d)
{
    /* relaxed: the CAS below decides. */
    uint32_t w = atomic_load_explicit(&rw->writers, memory_order_relaxed);
    do {
        if ((w & WEFT_RWLOCK_WSLEEPERS_MASK) == WEFT_RWLOCK_WSLEEPERS_MASK) {
            sched_yield(); /* the count is full: wait awake */
            return 0;
        }
        /* seq_cst: counted in before the look at WRITER below, as a writer letting go
         * clears WRITER before it looks at this count (wf_rw_let_go). */
    } while (!atomic_compare_exchange_weak_explicit(&rw->writers, &w, w + WEFT_RWLOCK_WSLEEPER_ONE,
                                                    memory_order_seq_cst, memory_order_relaxed));
    w += WEFT_RWLOCK_WSLEEPER_ONE;
    int r = 0;
    /* seq_cst: the other half of that pair. */
    if (atomic_load_explicit(&rw->state, memory_order_seq_cst) & WEFT_RWLOCK_WRITER)
        /* Lost wakeup avoided: a writer letting go after our look sees our count and
         * moves the sequence before it wakes; we sleep only on `w`. */
        r = wf_sleep(&rw->writers, w, d);
    /* relaxed: a count; a waker that still sees us wakes one sleeper too many. */
    atomic_fetch_sub_explicit(&rw->writers, WEFT_RWLOCK_WSLEEPER_ONE, memory_order_relaxed);
    return r;
}

/* The claimer sleeps until a reader leaves (or `d`, or its token). `table` says
 * the table held readers at the last look. Returns 0 or ETIMEDOUT. */
static int wf_rw_drain_sleep(weft_rwlock *rw, wf_rw_watch *watch, bool table, int64_t started,
                             weft_deadline d)
{
    /* relaxed: the CAS below decides. */
    uint32_t w = atomic_load_explicit(&rw->writers, memory_order_relaxed);
    if (!(w & WEFT_RWLOCK_DRAIN)) {
        /* seq_cst: DRAIN is set before we look at the readers again (the pairs
         * with leaving readers, which change the word or a slot, then look here). */
        if (!atomic_compare_exchange_strong_explicit(&rw->writers, &w, w | WEFT_RWLOCK_DRAIN,
                                                     memory_order_seq_cst, memory_order_relaxed))
            return 0; /* the word moved: look again */
        w |= WEFT_RWLOCK_DRAIN;
    }
    /* Readers in the table release with a plain store and a compiler barrier; make
     * that a fence on every CPU now, so each of them either has released or will
     * see DRAIN (see weft_rwlock_read_release). */
    bool fenced = !table || wf_os_barrier_all();
    uint32_t entries = 0;
    /* seq_cst: after DRAIN (the pair above). */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_seq_cst);
    if ((int64_t)WF_RW_READERS(s) + (watch ? wf_rw_table_readers(rw, &entries, watch) : 0) <= 0)
        return 0;
    weft_deadline until = d;
    if (entries > 0 && !fenced) {
        /* Nothing orders their releases before our sleep: re-check at intervals. */
        int64_t now = weft_now_ns(), step = (now - started) / WF_RW_POLL_DIVISOR;
        step = step < WF_RW_POLL_MIN_NS ? WF_RW_POLL_MIN_NS : step;
        step = step > WF_RW_POLL_MAX_NS ? WF_RW_POLL_MAX_NS : step;
        if (now + step < d.ns)
            until.ns = now + step;
    }
    /* Lost wakeup avoided: a reader leaving after the look above finds DRAIN and
     * moves the word before it wakes (weft__rwlock_wake_drain); we sleep on `w`. */
    int r = wf_sleep(&rw->writers, w, until);
    /* A poll's own timeout is no timeout; a fired token (until carries it) is. */
    return r == ETIMEDOUT && (until.ns == d.ns || wf_cancelled(d)) ? ETIMEDOUT : 0;
}

/* The claimer of `claimed` (its CAS cleared BIAS if `revoking`) waits for the readers
 * it found to leave, then holds the lock. A try gives up at once; a timeout or a
 * fired token gives the claim up (wf_rw_let_go: WRITER clears and the readers
 * queued behind it are woken, so no reader stays stopped by a writer gone). */
static int wf_rw_drain(weft_rwlock *rw, uint32_t claimed, bool revoking, weft_deadline d,
                       bool try_only)
{
    int64_t started = revoking || !try_only ? weft_now_ns() : 0;
    bool scan = (claimed & WEFT_RWLOCK_SLOTS) != 0;
    wf_rw_watch watch = {.known = false};
    /* Brief: readers' sections are short when they run; when they do not (more
     * threads than CPUs), spinning only keeps them off the CPU. */
    wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF);
    bool timed_out = false;
    for (;;) {
        /* seq_cst: after the claim (the pair with announcing readers); acquire:
         * the readers' sections happen before ours. */
        uint32_t s = atomic_load_explicit(&rw->state, memory_order_seq_cst);
        uint32_t entries = 0;
        int64_t table = scan ? wf_rw_table_readers(rw, &entries, &watch) : 0;
        if ((int64_t)WF_RW_READERS(s) + table <= 0) {
            uint32_t drop = entries == 0 ? WEFT_RWLOCK_SLOTS : 0; /* no slot left: stop looking */
            /* relaxed: queued readers may change the word; we own it otherwise. */
            while (!atomic_compare_exchange_weak_explicit(&rw->state, &s, (s | WEFT_RWLOCK_HELD) & ~drop,
                                                          memory_order_relaxed, memory_order_relaxed))
                ;
            /* relaxed: our own flag, if a reader did not clear it with its wake. */
            atomic_fetch_and_explicit(&rw->writers, ~WEFT_RWLOCK_DRAIN, memory_order_relaxed);
            if (revoking)
                wf_rw_inhibit_after(rw, started);
            return 0;
        }
        if (try_only || timed_out || wf_cancelled(d)) {
            if (revoking) /* revoked all the same: the bias stays off a while */
                wf_rw_inhibit_after(rw, started);
            wf_rw_let_go(rw, WEFT_RWLOCK_WRITER, 0);
            return try_only ? EBUSY : ETIMEDOUT;
        }
        if (wf_spin(&spin))
            continue;
        timed_out = wf_rw_drain_sleep(rw, scan ? &watch : NULL, entries > 0, started, d) == ETIMEDOUT;
    }
}

static int wf_rw_write(weft_rwlock *rw, weft_deadline d, bool try_only)
{
    wf_spinner spin = wf_spinner_start(WF_SPIN_LOCK);
    wf_spinner turn = wf_spinner_start(WF_SPIN_LOCK); /* the queued readers' turn */
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    for (;;) {
        if (!(s & WEFT_RWLOCK_WRITER)) {
            if (try_only && (WF_RW_READERS(s) > 0 || WF_RW_QUEUED(s) > 0))
                return EBUSY;
            if (WF_RW_QUEUED(s) > 0) {
                /* Waiting for them is blocking: a fired token ends the call. */
                if (wf_cancelled(d))
                    return ETIMEDOUT;
                if (wf_spin(&turn)) {
                    /* Readers that queued behind the last writer are coming in
                     * (woken when it let go); they go first, for as long as a
                     * lock's spin. */
                    s = atomic_load_explicit(&rw->state, memory_order_relaxed);
                    continue;
                }
            }
            uint32_t claimed = (s | WEFT_RWLOCK_WRITER) & ~WEFT_RWLOCK_BIAS;
            /* seq_cst: BIAS clears before we look at the table (the pair with an
             * announcing reader); acquire for the section. */
            if (atomic_compare_exchange_weak_explicit(&rw->state, &s, claimed, memory_order_seq_cst,
                                                      memory_order_relaxed))
                return wf_rw_drain(rw, claimed, (s & WEFT_RWLOCK_BIAS) != 0, d, try_only);
            wf_spin_count(&spin);
            continue;
        }
        if (try_only)
            return EBUSY;
        /* Another writer has it: we would block. Nothing of ours is in the words
         * yet, so a fired token ends the call here. */
        if (wf_cancelled(d))
            return ETIMEDOUT;
        if (wf_spin(&spin)) {
            s = atomic_load_explicit(&rw->state, memory_order_relaxed);
            continue;
        }
        int r = wf_rw_writer_sleep(rw, d);
        if (r == ETIMEDOUT) {
            /* A last look; and a wake we took without claiming goes to the next. */
            if (wf_rw_write(rw, d, true) == 0)
                return 0;
            s = atomic_load_explicit(&rw->state, memory_order_relaxed);
            if (!(s & WEFT_RWLOCK_WRITER) &&
                (atomic_load_explicit(&rw->writers, memory_order_relaxed) & WEFT_RWLOCK_WSLEEPERS_MASK))
                weft__rwlock_wake_writer(rw);
            return ETIMEDOUT;
        }
        s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    }
}

/* Under TSan: what the readers before a new write hold did, they published on
 * `state` (released here, or by a TSan program's own atomics) or, in the table,
 * with the store that emptied their slot (in a TSan program's fast path): acquire
 * both. One predictable branch without TSan. */
static void wf_rw_tsan_acquire_readers(const weft_rwlock *rw)
{
    if (WF_LIKELY(__tsan_acquire == NULL))
        return;
    wf_tsan_acquire(&rw->state);
    /* relaxed: a row handed out later held no reader of ours before the claim. */
    uint32_t rows = atomic_load_explicit(&wf_rw_rows_used, memory_order_relaxed);
    size_t i = WEFT__RWLOCK_SLOT(rw);
    for (uint32_t r = 0; r < rows; r++)
        wf_tsan_acquire(&wf_rw_table[r][i]);
}

int weft__rwlock_write_slow(weft_rwlock *rw, weft_deadline d, bool try_only)
{
    if (rw == NULL)
        return EINVAL;
    int r = wf_rw_write(rw, d, try_only);
    if (r == 0)
        wf_rw_tsan_acquire_readers(rw);
    return wf_cancel_result(r, d);
}

int weft__rwlock_write_release_slow(weft_rwlock *rw)
{
    if (rw == NULL)
        return EINVAL;
    /* Before the release (an EPERM tells one more, harmlessly). */
    wf_tsan_release(&rw->state);
    return wf_rw_let_go(rw, WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD, 0) ? 0 : EPERM;
}

/* ---- changing sides -------------------------------------------------------------- */

int weft_rwlock_downgrade(weft_rwlock *rw)
{
    if (rw == NULL)
        return EINVAL;
    /* The readers let in with us follow the write section. */
    wf_tsan_release(&rw->state);
    return wf_rw_let_go(rw, WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD, 1) ? 0 : EPERM;
}

bool weft_rwlock_try_upgrade(weft_rwlock *rw)
{
    if (rw == NULL)
        return false;
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    do {
        if ((s & WEFT_RWLOCK_WRITER) || WF_RW_QUEUED(s) > 0 || WF_RW_READERS(s) > 1)
            return false;
        /* seq_cst, acquire: a claim, as in weft__rwlock_write_slow. */
    } while (!atomic_compare_exchange_weak_explicit(&rw->state, &s,
                                                    (s | WEFT_RWLOCK_WRITER) & ~WEFT_RWLOCK_BIAS,
                                                    memory_order_seq_cst, memory_order_relaxed));
    bool revoking = (s & WEFT_RWLOCK_BIAS) != 0;
    int64_t started = revoking ? weft_now_ns() : 0;
    uint32_t entries = 0;
    int64_t table = (s & WEFT_RWLOCK_SLOTS) ? wf_rw_table_readers(rw, &entries, NULL) : 0;
    _Atomic uintptr_t *row = weft__rwlock_row;
    _Atomic uintptr_t *slot = row ? row + WEFT__RWLOCK_SLOT(rw) : NULL;
    /* seq_cst: after the claim, as in wf_rw_drain. */
    s = atomic_load_explicit(&rw->state, memory_order_seq_cst);
    bool ok = false;
    if ((int64_t)WF_RW_READERS(s) + table == 1) {
        /* One reader, assumed the caller: drop its hold and keep the claim. */
        if (WF_RW_READERS(s) == 1) {
            /* relaxed: queued readers may change the word; we own it otherwise. */
            while (!(ok = atomic_compare_exchange_weak_explicit(
                         &rw->state, &s, (s - WEFT_RWLOCK_READER_ONE) | WEFT_RWLOCK_HELD,
                         memory_order_relaxed, memory_order_relaxed)) &&
                   WF_RW_READERS(s) == 1)
                ;
        } else if (slot && atomic_load_explicit(slot, memory_order_relaxed) == (uintptr_t)rw) {
            /* relaxed: our own row; nobody waits for it but us. */
            atomic_store_explicit(slot, 0, memory_order_relaxed);
            s = atomic_load_explicit(&rw->state, memory_order_relaxed);
            while (!atomic_compare_exchange_weak_explicit(&rw->state, &s, s | WEFT_RWLOCK_HELD,
                                                          memory_order_relaxed, memory_order_relaxed))
                ;
            ok = true;
        }
    }
    if (!ok) {
        wf_rw_let_go(rw, WEFT_RWLOCK_WRITER, 0);
        return false;
    }
    if (revoking)
        wf_rw_inhibit_after(rw, started);
    wf_rw_tsan_acquire_readers(rw);
    return true;
}
