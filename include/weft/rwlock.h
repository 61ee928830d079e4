/* weft/rwlock.h: weft_rwlock, a reader-writer lock (Python has none; the semantics
 * are weft's own).
 *
 * 8 bytes; all-zero memory (WEFT_RWLOCK_INIT) is unlocked and no destroy call is
 * needed. Any number of readers or one writer. Not owned: any thread may release
 * either side (a read hold taken in one thread and released in another costs the
 * releaser a look at the table described below).
 *
 * Fair both ways (phase-fair): a writer that is waiting stops new readers; when it
 * is done, the readers that queued behind it meanwhile all go in before the next
 * writer. So readers never starve writers and writers never starve readers. The
 * next writer waits for those readers to come in for as long as a lock's spin
 * (tens of microseconds); a reader that a busy machine has not run by then (woken,
 * but not yet on a CPU) goes in after that writer instead. Counting queued readers
 * in before they run would make every writer wait out their wakeups, and with more
 * threads than CPUs a convoy forms (see src/rwlock.c).
 *
 * Readers that scale. A central reader count costs every read a cache-line
 * transfer even with no writer about. So readers of an unwritten lock announce
 * themselves instead in a process-wide table of visible readers (BRAVO, Dice and
 * Kogan, USENIX ATC 2019): each thread has a row of the table to itself, and a
 * reader writes the lock's address into the slot of its row that the address
 * hashes to. An uncontended read acquire is then one locked store to a line only
 * this thread writes, and a release one plain store; readers on different CPUs
 * share nothing. The lock starts with this bias off: readers count in the lock
 * word, and one of the first of them turns it on (a thread looks at the clock for
 * that once every 16 of its reads through the word).
 *
 * What a writer pays. A writer that finds the bias on turns it off and waits for
 * the announced readers to leave: it reads the lock's slot in the row of every
 * thread that has read a weft_rwlock (one cache line per such thread: a few
 * hundred nanoseconds for a handful of threads, more when their lines are
 * hot in other CPUs). After such a revocation the bias stays off for nine times
 * as long as the revocation took, so that a writer spends at most a tenth of its
 * time revoking (BRAVO's rule); a reader after that turns it back on. A
 * lock that is only written never turns the bias on, and its writers never scan.
 * A writer that must sleep until announced readers leave first makes every CPU
 * running this process pass a memory barrier (Linux membarrier(2), a few
 * microseconds), so that a reader's release stays a plain store; where the OS has
 * no such call it re-checks at intervals instead (at most an eighth of the time
 * it has waited).
 *
 * Under ThreadSanitizer (a program built with -fsanitize=thread; see README) the
 * two sides are announced to TSan as one mutex, the read side with its read flag,
 * so its lock-order detector knows them, and a downgrade or an upgrade is told as
 * the release and the acquire it amounts to. As for weft_lock, a write hold
 * released by another thread is a mutex misuse to TSan: a translation unit that
 * does so defines WEFT_TSAN_NO_MUTEX (weft/common.h).
 *
 * In a checking build (meson -Dchecks=true, weft/config.h) every acquire and
 * release goes through the lock-order checker: both sides record the order
 * against the locks the thread holds (a read hold counts as a hold: a writer that
 * waits for one reader stops all new ones, so two readers taking two locks in
 * opposite orders can deadlock), and it reports a blocking acquire by a thread
 * that already holds the lock on either side (it waits for itself, or, for a
 * second read hold, for any writer that claims in between), the release or
 * downgrade of a write hold by a thread that did not take it (still done; the
 * checker knows who took it), and a thread that exits holding the lock. See
 * src/lockdep.c.
 *
 * Limits: 256 threads hold rows at a time (a row is given back when its thread
 * exits); readers in further threads, and a thread's second read hold of a lock
 * (or of two locks that hash to the same slot), count in the lock word. At most
 * 16383 readers at once (queued ones included); beyond that a reader yields until
 * there is room.
 */
#ifndef WEFT_RWLOCK_H
#define WEFT_RWLOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/* `state`. Bits and fields (they combine):
 *
 *   bits    name      meaning
 *   0       WRITER    a writer has claimed the lock: new readers queue behind it
 *   1       HELD      ... and holds it: the readers it found have left
 *   2       RSLEEP    a queued reader may be asleep on `state`
 *   3       BIAS      readers may announce themselves in the table
 *   4       SLOTS     the table may hold readers of this lock: a writer must look
 *   5..17   QUEUED    readers queued behind the writer; once WRITER clears, each
 *                     moves itself to READERS, and no writer claims before all have
 *   18..31  READERS   readers counted here rather than in the table
 *
 *   typical values                  meaning
 *   0                               free, never read (or read only in the word)
 *   BIAS|SLOTS                      free; readers announce in the table
 *   READERS=n (|BIAS|SLOTS)         read-held by n counted readers (and any in the table)
 *   WRITER|SLOTS|READERS=n          a writer waits for n readers and the table's to leave
 *   WRITER|HELD                     write-held
 *   WRITER|HELD|QUEUED=k|RSLEEP     write-held, k readers wait for it, some asleep
 *   QUEUED=k|READERS=n              let go: k readers on their way in, n in
 *
 * BIAS is only ever set with WRITER clear (by a reader coming in) and cleared by
 * the claim that sets WRITER. RSLEEP is only set with WRITER. QUEUED only grows
 * with WRITER set; with WRITER clear it only shrinks.
 *
 * `writers`: bits 0..13 count the writers asleep on it until WRITER clears; bit 14
 * DEBTS: a read hold announced in the table was released by another thread (the
 * owner's release then takes the slow path, see src/rwlock.c); bit 15 DRAIN: the
 * claiming writer is asleep on it until the readers leave; bits 16..31 a sequence
 * bumped before every wake of this word. */
#define WEFT_RWLOCK_WRITER 1u
#define WEFT_RWLOCK_HELD 2u
#define WEFT_RWLOCK_RSLEEP 4u
#define WEFT_RWLOCK_BIAS 8u
#define WEFT_RWLOCK_SLOTS 16u
#define WEFT_RWLOCK_QUEUED_SHIFT 5
#define WEFT_RWLOCK_QUEUED_ONE (1u << WEFT_RWLOCK_QUEUED_SHIFT)
#define WEFT_RWLOCK_QUEUED_MAX ((1u << 13) - 1)
#define WEFT_RWLOCK_QUEUED_MASK (WEFT_RWLOCK_QUEUED_MAX << WEFT_RWLOCK_QUEUED_SHIFT)
#define WEFT_RWLOCK_READERS_SHIFT 18
#define WEFT_RWLOCK_READER_ONE (1u << WEFT_RWLOCK_READERS_SHIFT)
#define WEFT_RWLOCK_READERS_MAX ((1u << 14) - 1)

#define WEFT_RWLOCK_WSLEEPER_ONE 1u
#define WEFT_RWLOCK_WSLEEPERS_MASK ((1u << 14) - 1)
#define WEFT_RWLOCK_DEBTS (1u << 14)
#define WEFT_RWLOCK_DRAIN (1u << 15)
#define WEFT_RWLOCK_SEQ_ONE (1u << 16)

/* Slots in each thread's row of the visible-readers table; a lock's slot is its
 * address hashed (Fibonacci hashing: the top bits of address * 2^64/phi). */
#define WEFT_RWLOCK_ROW_SLOTS 16
#define WEFT__RWLOCK_HASH_MUL 0x9E3779B97F4A7C15ull
#define WEFT__RWLOCK_HASH_SHIFT 60 /* 64 - log2(WEFT_RWLOCK_ROW_SLOTS) */
#define WEFT__RWLOCK_SLOT(rw)                                                           \
    ((size_t)(((uint64_t)(uintptr_t)(rw) * WEFT__RWLOCK_HASH_MUL) >> WEFT__RWLOCK_HASH_SHIFT))

typedef struct weft_rwlock {
    WEFT_ATOMIC(uint32_t) state;
    WEFT_ATOMIC(uint32_t) writers;
} weft_rwlock;

#define WEFT_RWLOCK_INIT {0, 0}

/* Slow paths and shared state behind the inline fast paths; not for direct use. */
WEFT_API int weft__rwlock_read_slow(weft_rwlock *rw, weft_deadline d, bool try_only);
WEFT_API int weft__rwlock_read_release_slow(weft_rwlock *rw);
WEFT_API void weft__rwlock_read_undo(weft_rwlock *rw, WEFT_ATOMIC(uintptr_t) *slot);
WEFT_API void weft__rwlock_wake_drain(weft_rwlock *rw);
WEFT_API int weft__rwlock_write_slow(weft_rwlock *rw, weft_deadline d, bool try_only);
WEFT_API int weft__rwlock_write_release_slow(weft_rwlock *rw);
WEFT_API void weft__rwlock_wake_writer(weft_rwlock *rw);
WEFT_INLINE bool weft__rwlock_read_fast(weft_rwlock *rw);

/* ---- read side ------------------------------------------------------------------ */

/* Acquire a read hold, blocking while a writer holds the lock or waits for it.
 * Returns 0 (EINVAL if rw is NULL). */
WEFT_INLINE int weft_rwlock_read_acquire(weft_rwlock *rw);

/* A read hold without blocking: true if no writer held or waited for the lock and
 * the hold is now the caller's (false for NULL). */
WEFT_INLINE bool weft_rwlock_read_try_acquire(weft_rwlock *rw);

/* Acquire a read hold, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0: a
 * try). Returns 0, ETIMEDOUT once the timeout has passed with a writer still
 * ahead, or EINVAL if rw is NULL. */
WEFT_INLINE int weft_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns);

/* As weft_rwlock_read_acquire_for with an absolute deadline (weft_deadline_in).
 * Also ECANCELED once the deadline's token (weft/cancel.h) has fired while the
 * call would block: it then holds nothing and has left the readers' queue (a
 * free lock is still taken, fired token or not). */
WEFT_INLINE int weft_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d);

/* Release a read hold; never blocks. Returns 0, EPERM if no reader holds the lock
 * (nothing changes), or EINVAL if rw is NULL. Wakes the writer waiting for the last
 * readers to leave, if any. */
WEFT_INLINE int weft_rwlock_read_release(weft_rwlock *rw);

/* ---- write side ----------------------------------------------------------------- */

/* Acquire the write hold, blocking while readers or another writer hold the lock.
 * Once this call has claimed the lock, new readers wait for it. Returns 0 (EINVAL
 * if rw is NULL). */
WEFT_INLINE int weft_rwlock_write_acquire(weft_rwlock *rw);

/* The write hold without blocking: true if the lock was free and is now the
 * caller's (false for NULL). A try that finds only readers announced in the table
 * still turns the bias off (as a writer would) before it gives up. */
WEFT_INLINE bool weft_rwlock_write_try_acquire(weft_rwlock *rw);

/* Acquire the write hold, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0:
 * a try). Returns 0, ETIMEDOUT once the timeout has passed with the lock still held
 * elsewhere (readers that queued behind this writer meanwhile are let in), or
 * EINVAL if rw is NULL. */
WEFT_INLINE int weft_rwlock_write_acquire_for(weft_rwlock *rw, int64_t timeout_ns);

/* As weft_rwlock_write_acquire_for with an absolute deadline. Also ECANCELED once
 * the deadline's token (weft/cancel.h) has fired while the call would block: it
 * then holds nothing, and a claim it had made is given up as on a timeout (the
 * readers queued behind it go in; new readers are no longer stopped; as a try
 * does, it may have turned the bias off). */
WEFT_INLINE int weft_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d);

/* Release the write hold; never blocks. Returns 0, EPERM if no writer holds the
 * lock (nothing changes), or EINVAL if rw is NULL. The readers queued behind it go
 * in first; one sleeping writer is woken, and lets them. */
WEFT_INLINE int weft_rwlock_write_release(weft_rwlock *rw);

/* ---- changing sides ------------------------------------------------------------- */

/* Turn the write hold into a read hold in one step: no writer can come in between.
 * The readers queued behind the writer come in with it; writers keep waiting (and
 * the first of them then stops new readers). Never blocks. Returns 0, EPERM if no
 * writer holds the lock (nothing changes), or EINVAL if rw is NULL. */
WEFT_API int weft_rwlock_downgrade(weft_rwlock *rw);

/* Turn the caller's read hold into the write hold, only if the caller is the only
 * reader and no writer waits: true, and the caller now holds the lock for writing;
 * false (the caller still holds its read hold), or false for NULL. Never blocks.
 * A failed try may have turned the bias off and let queued readers in. */
WEFT_API bool weft_rwlock_try_upgrade(weft_rwlock *rw);

#ifdef WEFT_HAVE_INLINE
/* Under TSan (weft/common.h) each acquire and release below is announced as a
 * mutex operation on rw, the read side with TSan's read flag; out-of-line calls
 * made inside an announcement run diverted (WEFT__TSAN_SLOW). This one is for the
 * calls that return nothing. */
#define WEFT__RWLOCK_SLOW_VOID(rw, call) ((void)WEFT__TSAN_SLOW(rw, ((call), 0)))

/* The calling thread's row of the visible-readers table: NULL until its first
 * read; a row of always-taken slots once all rows are taken. */
extern WEFT_API _Thread_local WEFT_ATOMIC(uintptr_t) *weft__rwlock_row
    __attribute__((tls_model("initial-exec")));

WEFT_INLINE bool weft__rwlock_read_fast(weft_rwlock *rw)
{
    WEFT_ATOMIC(uintptr_t) *row = weft__rwlock_row;
    /* relaxed: a hint; the seq_cst look below decides. */
    if (__builtin_expect(row == NULL, 0) ||
        !(atomic_load_explicit(&rw->state, memory_order_relaxed) & WEFT_RWLOCK_BIAS))
        return false;
    WEFT_ATOMIC(uintptr_t) *slot = row + WEFT__RWLOCK_SLOT(rw);
    /* relaxed: only this thread stores into its row. A taken slot (a second hold,
     * another lock hashed here) sends us to the word. */
    if (atomic_load_explicit(slot, memory_order_relaxed) != 0)
        return false;
    /* seq_cst: the announcement is ordered before the look at BIAS below, as a
     * writer's clearing of BIAS is before its look at our slot: one of us sees the
     * other (store-load pairs cannot both miss under seq_cst). */
    atomic_store_explicit(slot, (uintptr_t)rw, memory_order_seq_cst);
    /* seq_cst: the other half of that pair; also acquire for the section: the
     * reader that set BIAS came in after the last writer let go (acq_rel chain). */
    if (__builtin_expect(
            (atomic_load_explicit(&rw->state, memory_order_seq_cst) & WEFT_RWLOCK_BIAS) != 0, 1))
        return true;
    WEFT__RWLOCK_SLOW_VOID(rw, weft__rwlock_read_undo(rw, slot)); /* a writer came: withdraw */
    return false;
}

WEFT_INLINE bool weft_rwlock_read_try_acquire(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return false;
    WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TRY_LOCK);
    bool ok = weft__rwlock_read_fast(rw) ||
              WEFT__TSAN_SLOW(rw, weft__rwlock_read_slow(rw, WEFT_DEADLINE_NEVER, true)) == 0;
    WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TRY_LOCK, !ok);
    return ok;
}

WEFT_INLINE int weft_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TIMED(d));
    int r = __builtin_expect(weft__rwlock_read_fast(rw), 1)
                ? 0
                : WEFT__TSAN_SLOW(rw, weft__rwlock_read_slow(rw, d, false));
    WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TIMED(d), r != 0);
    return r;
}

WEFT_INLINE int weft_rwlock_read_acquire(weft_rwlock *rw)
{
    return weft_rwlock_read_acquire_until(rw, WEFT_DEADLINE_NEVER);
}

WEFT_INLINE int weft_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_READ_LOCK | (timeout_ns < 0 ? 0u : WEFT__TSAN_TRY_LOCK));
    int r = 0;
    /* The deadline is computed only once the fast path has failed. */
    if (!__builtin_expect(weft__rwlock_read_fast(rw), 1)) {
        if (timeout_ns == 0)
            r = WEFT__TSAN_SLOW(rw, weft__rwlock_read_slow(rw, WEFT_DEADLINE_NEVER, true)) == 0
                    ? 0
                    : ETIMEDOUT;
        else
            r = WEFT__TSAN_SLOW(rw, weft__rwlock_read_slow(rw, weft_deadline_in(timeout_ns), false));
    }
    WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_READ_LOCK | (timeout_ns < 0 ? 0u : WEFT__TSAN_TRY_LOCK),
                         r != 0);
    return r;
}

WEFT_INLINE int weft_rwlock_read_release(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
#ifdef WEFT__TSAN_MUTEX
    /* relaxed: a snapshot. A release that finds the lock write-held, or with no
     * reader in the word and none possible in the table, is EPERM and changes
     * nothing: no unlock to announce. */
    uint32_t seen = atomic_load_explicit(&rw->state, memory_order_relaxed);
    if ((seen & WEFT_RWLOCK_HELD) ||
        ((seen >> WEFT_RWLOCK_READERS_SHIFT) == 0 && !(seen & WEFT_RWLOCK_SLOTS)))
        return EPERM;
#endif
    WEFT__TSAN_PRE_UNLOCK(rw, WEFT__TSAN_READ_LOCK);
    bool done = false;
    WEFT_ATOMIC(uintptr_t) *row = weft__rwlock_row;
    if (__builtin_expect(row != NULL, 1)) {
        WEFT_ATOMIC(uintptr_t) *slot = row + WEFT__RWLOCK_SLOT(rw);
        /* relaxed: our own row (only we store into it); DEBTS only routes us:
         * with releases to settle, the slow path pairs them up. */
        if (atomic_load_explicit(slot, memory_order_relaxed) == (uintptr_t)rw &&
            !(atomic_load_explicit(&rw->writers, memory_order_relaxed) & WEFT_RWLOCK_DEBTS)) {
            /* release: a writer that finds the slot empty sees our section done. */
            atomic_store_explicit(slot, 0, memory_order_release);
            /* A compiler barrier only: a writer sets DRAIN and then runs a barrier
             * on every CPU of the process before it looks at our slot again and
             * sleeps (wf_os_barrier_all), which makes this a full fence whenever it
             * matters; so either it sees the slot empty or we see DRAIN. */
            atomic_signal_fence(memory_order_seq_cst);
            /* relaxed: see the fence above. */
            if (__builtin_expect(
                    (atomic_load_explicit(&rw->writers, memory_order_relaxed) & WEFT_RWLOCK_DRAIN) != 0,
                    0))
                WEFT__RWLOCK_SLOW_VOID(rw, weft__rwlock_wake_drain(rw));
            done = true;
        }
    }
    int r = done ? 0 : WEFT__TSAN_SLOW(rw, weft__rwlock_read_release_slow(rw));
    WEFT__TSAN_POST_UNLOCK(rw, WEFT__TSAN_READ_LOCK);
    return r;
}

/* The uncontended write acquire: free, with no reader about and none in the
 * table: take it whole at once. acquire: the section must see what the last
 * holder wrote. */
#define WEFT__RWLOCK_WRITE_CAS(rw, seen)                                                  \
    atomic_compare_exchange_strong_explicit(&(rw)->state, &(seen),                        \
                                            WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD,        \
                                            memory_order_acquire, memory_order_relaxed)

WEFT_INLINE bool weft_rwlock_write_try_acquire(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return false;
    WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_TRY_LOCK);
    /* relaxed: the CAS decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    bool ok = (__builtin_expect(s == 0, 1) && WEFT__RWLOCK_WRITE_CAS(rw, s)) ||
              WEFT__TSAN_SLOW(rw, weft__rwlock_write_slow(rw, WEFT_DEADLINE_NEVER, true)) == 0;
    WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_TRY_LOCK, !ok);
    return ok;
}

WEFT_INLINE int weft_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_TIMED(d));
    /* relaxed: the CAS decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    int r = __builtin_expect(s == 0, 1) && WEFT__RWLOCK_WRITE_CAS(rw, s)
                ? 0
                : WEFT__TSAN_SLOW(rw, weft__rwlock_write_slow(rw, d, false));
    WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_TIMED(d), r != 0);
    return r;
}

WEFT_INLINE int weft_rwlock_write_acquire(weft_rwlock *rw)
{
    return weft_rwlock_write_acquire_until(rw, WEFT_DEADLINE_NEVER);
}

WEFT_INLINE int weft_rwlock_write_acquire_for(weft_rwlock *rw, int64_t timeout_ns)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (timeout_ns == 0)
        return weft_rwlock_write_try_acquire(rw) ? 0 : ETIMEDOUT;
    return weft_rwlock_write_acquire_until(rw, weft_deadline_in(timeout_ns));
}

WEFT_INLINE int weft_rwlock_write_release(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
#ifdef WEFT__TSAN_MUTEX
    /* relaxed: a snapshot. A release that finds no write hold is EPERM and
     * changes nothing: no unlock to announce. */
    if ((atomic_load_explicit(&rw->state, memory_order_relaxed) &
         (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD)) != (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD))
        return EPERM;
#endif
    WEFT__TSAN_PRE_UNLOCK(rw, 0);
    int r = 0;
    uint32_t held = WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD;
    /* seq_cst: release for the section, and ordered before the look at `writers`
     * (a writer going to sleep counts itself there, then looks at WRITER). Held,
     * nobody queued, nothing in the table: let go in one step. */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&rw->state, &held, 0,
                                                                 memory_order_seq_cst,
                                                                 memory_order_relaxed),
                         1)) {
        /* seq_cst: the other half of that pair. */
        if (atomic_load_explicit(&rw->writers, memory_order_seq_cst) & WEFT_RWLOCK_WSLEEPERS_MASK)
            WEFT__RWLOCK_SLOW_VOID(rw, weft__rwlock_wake_writer(rw));
    } else {
        r = WEFT__TSAN_SLOW(rw, weft__rwlock_write_release_slow(rw));
    }
    WEFT__TSAN_POST_UNLOCK(rw, 0);
    return r;
}
#endif

#if defined(WEFT__TSAN_MUTEX) && !defined(WEFT_CHECKS)
/* Under TSan, changing sides is announced as what it amounts to: a downgrade lets
 * go of the write hold and takes a read hold, an upgrade lets go of the read hold
 * and takes the write hold (or takes its read hold back). The holds they take
 * cannot block: tries to TSan's lock-order detector. A call that will fail with
 * EINVAL or EPERM announces nothing. */
static inline int weft__tsan_rwlock_downgrade(weft_rwlock *rw)
{
    /* relaxed: a snapshot, as in weft_rwlock_write_release. */
    if (!rw || (atomic_load_explicit(&rw->state, memory_order_relaxed) &
                (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD)) != (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD))
        return (weft_rwlock_downgrade)(rw);
    WEFT__TSAN_PRE_UNLOCK(rw, 0);
    int r = WEFT__TSAN_SLOW(rw, (weft_rwlock_downgrade)(rw));
    WEFT__TSAN_POST_UNLOCK(rw, 0);
    if (r == 0) {
        WEFT__TSAN_PRE_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TRY_LOCK);
        WEFT__TSAN_POST_LOCK(rw, WEFT__TSAN_READ_LOCK | WEFT__TSAN_TRY_LOCK, false);
    }
    return r;
}

static inline bool weft__tsan_rwlock_try_upgrade(weft_rwlock *rw)
{
    if (!rw)
        return (weft_rwlock_try_upgrade)(rw);
    WEFT__TSAN_PRE_UNLOCK(rw, WEFT__TSAN_READ_LOCK);
    bool ok = WEFT__TSAN_SLOW(rw, (weft_rwlock_try_upgrade)(rw)) != 0;
    WEFT__TSAN_POST_UNLOCK(rw, WEFT__TSAN_READ_LOCK);
    unsigned flags = ok ? WEFT__TSAN_TRY_LOCK : WEFT__TSAN_READ_LOCK | WEFT__TSAN_TRY_LOCK;
    WEFT__TSAN_PRE_LOCK(rw, flags);
    WEFT__TSAN_POST_LOCK(rw, flags, false);
    return ok;
}

/* Calls (not the functions' addresses) go through the wrappers. */
#define weft_rwlock_downgrade(rw) weft__tsan_rwlock_downgrade(rw)
#define weft_rwlock_try_upgrade(rw) weft__tsan_rwlock_try_upgrade(rw)
#endif

#ifdef WEFT_CHECKS
/* A checking build (weft/config.h): every call goes out of line through the
 * lock-order checker (src/lockdep.c), which then runs the code above (the
 * library's own calls stay inline and unchecked). */
WEFT_API int weft__checked_rwlock_read_acquire(weft_rwlock *rw);
WEFT_API bool weft__checked_rwlock_read_try_acquire(weft_rwlock *rw);
WEFT_API int weft__checked_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns);
WEFT_API int weft__checked_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d);
WEFT_API int weft__checked_rwlock_read_release(weft_rwlock *rw);
WEFT_API int weft__checked_rwlock_write_acquire(weft_rwlock *rw);
WEFT_API bool weft__checked_rwlock_write_try_acquire(weft_rwlock *rw);
WEFT_API int weft__checked_rwlock_write_acquire_for(weft_rwlock *rw, int64_t timeout_ns);
WEFT_API int weft__checked_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d);
WEFT_API int weft__checked_rwlock_write_release(weft_rwlock *rw);
WEFT_API int weft__checked_rwlock_downgrade(weft_rwlock *rw);
WEFT_API bool weft__checked_rwlock_try_upgrade(weft_rwlock *rw);
#ifndef WEFT_BUILDING
#define weft_rwlock_read_acquire(rw) weft__checked_rwlock_read_acquire(rw)
#define weft_rwlock_read_try_acquire(rw) weft__checked_rwlock_read_try_acquire(rw)
#define weft_rwlock_read_acquire_for(rw, t) weft__checked_rwlock_read_acquire_for(rw, t)
#define weft_rwlock_read_acquire_until(rw, d) weft__checked_rwlock_read_acquire_until(rw, d)
#define weft_rwlock_read_release(rw) weft__checked_rwlock_read_release(rw)
#define weft_rwlock_write_acquire(rw) weft__checked_rwlock_write_acquire(rw)
#define weft_rwlock_write_try_acquire(rw) weft__checked_rwlock_write_try_acquire(rw)
#define weft_rwlock_write_acquire_for(rw, t) weft__checked_rwlock_write_acquire_for(rw, t)
#define weft_rwlock_write_acquire_until(rw, d) weft__checked_rwlock_write_acquire_until(rw, d)
#define weft_rwlock_write_release(rw) weft__checked_rwlock_write_release(rw)
#define weft_rwlock_downgrade(rw) weft__checked_rwlock_downgrade(rw)
#define weft_rwlock_try_upgrade(rw) weft__checked_rwlock_try_upgrade(rw)
#endif
#endif

WEFT_END_DECLS

#endif
