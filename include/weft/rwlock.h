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

/* As weft_rwlock_read_acquire_for with an absolute deadline (weft_deadline_in). */
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

/* As weft_rwlock_write_acquire_for with an absolute deadline. */
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
    weft__rwlock_read_undo(rw, slot); /* a writer came: withdraw */
    return false;
}

WEFT_INLINE bool weft_rwlock_read_try_acquire(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return false;
    return weft__rwlock_read_fast(rw) || weft__rwlock_read_slow(rw, WEFT_DEADLINE_NEVER, true) == 0;
}

WEFT_INLINE int weft_rwlock_read_acquire(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (__builtin_expect(weft__rwlock_read_fast(rw), 1))
        return 0;
    return weft__rwlock_read_slow(rw, WEFT_DEADLINE_NEVER, false);
}

WEFT_INLINE int weft_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (__builtin_expect(weft__rwlock_read_fast(rw), 1))
        return 0;
    return weft__rwlock_read_slow(rw, d, false);
}

WEFT_INLINE int weft_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    if (__builtin_expect(weft__rwlock_read_fast(rw), 1))
        return 0;
    if (timeout_ns == 0)
        return weft__rwlock_read_slow(rw, WEFT_DEADLINE_NEVER, true) == 0 ? 0 : ETIMEDOUT;
    return weft__rwlock_read_slow(rw, weft_deadline_in(timeout_ns), false);
}

WEFT_INLINE int weft_rwlock_read_release(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
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
                weft__rwlock_wake_drain(rw);
            return 0;
        }
    }
    return weft__rwlock_read_release_slow(rw);
}

WEFT_INLINE bool weft_rwlock_write_try_acquire(weft_rwlock *rw)
{
    if (__builtin_expect(rw == NULL, 0))
        return false;
    /* relaxed: the CAS below decides. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    /* acquire: the section must see what the last holder wrote. Free, with no
     * reader about and none in the table: take it whole at once. */
    if (__builtin_expect(s == 0, 1) &&
        atomic_compare_exchange_strong_explicit(&rw->state, &s,
                                                WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD,
                                                memory_order_acquire, memory_order_relaxed))
        return true;
    return weft__rwlock_write_slow(rw, WEFT_DEADLINE_NEVER, true) == 0;
}

WEFT_INLINE int weft_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    if (__builtin_expect(rw == NULL, 0))
        return EINVAL;
    /* relaxed, acquire: as weft_rwlock_write_try_acquire. */
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    if (__builtin_expect(s == 0, 1) &&
        atomic_compare_exchange_strong_explicit(&rw->state, &s,
                                                WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD,
                                                memory_order_acquire, memory_order_relaxed))
        return 0;
    return weft__rwlock_write_slow(rw, d, false);
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
            weft__rwlock_wake_writer(rw);
        return 0;
    }
    return weft__rwlock_write_release_slow(rw);
}
#endif

WEFT_END_DECLS

#endif
