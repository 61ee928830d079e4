/* weft/local.h: weft_local, Python's threading.local.
 *
 * A key names one block of `size` bytes per thread. A thread's first
 * weft_local_get(key) makes its block (zero-filled, then passed to `init`); later
 * gets return the same block. When a thread exits, `dtor` runs on each block it
 * made and the block is freed: for weft threads before join returns, for any other
 * pthread during its thread-exit destructors. weft_local_delete runs `dtor` on
 * every live thread's block and frees them all. Every block gets its `dtor`
 * exactly once.
 *
 * At exit the destructors run in up to 4 passes (as pthread's key destructors
 * do). A destructor may get blocks anew, of any key (of its own key too: its
 * entry is already cleared, so the get makes a new block); those are destroyed in
 * the next pass. In the last pass such a get returns NULL instead, so no block is
 * left without its destructor. (A thread weft did not start that makes blocks
 * afterwards, from its own pthread key destructors, has them destroyed only while
 * pthread still runs key destructors.) A destructor running at a weft thread's
 * exit cannot end the thread: weft_thread_exit there returns EINVAL. Keys are unlimited (pthread keys
 * stop at PTHREAD_KEYS_MAX, 1024); a deleted key's slot is reused under a new
 * generation, so a stale copy of the old key is never confused with the new one.
 *
 * The get fast path is inline: one thread-local load, a bounds check and a
 * generation check against this thread's slot table. Blocks are aligned to a cache
 * line (64 bytes) so two threads' blocks never share one.
 */
#ifndef WEFT_LOCAL_H
#define WEFT_LOCAL_H

#include "common.h"

WEFT_BEGIN_DECLS

/* A key: a value type, copied freely. `gen` is never 0 for a created key, so
 * all-zero memory is a key that never matches. */
typedef struct weft_local {
    uint32_t slot; /* index into every thread's slot table */
    uint32_t gen;  /* the generation of the slot this key was created at */
} weft_local;

#define WEFT_LOCAL_INIT {0, 0}

/* Internals of the fast path; not for direct use. Each thread's table: entry i
 * holds the block of the key at slot i whose generation is `gen` (gen 0: none).
 * Only the owning thread reads it without the library's lock. */
struct weft__local_entry {
    uint32_t gen;
    void *block;
};
struct weft__local_table {
    struct weft__local_entry *entries;
    uint32_t cap;
};
WEFT_API void *weft__local_get_slow(weft_local key);

/* Create a key for per-thread blocks of `size` bytes. init (may be NULL) runs on
 * each new block, zero-filled, in the thread that first gets it; dtor (may be NULL)
 * runs on each block before it is freed, at its thread's exit or at delete.
 * Returns 0; EINVAL if key is NULL or size is 0; ENOMEM (on an error *key is
 * unchanged). Never blocks for long. */
WEFT_API int weft_local_create(weft_local *key, size_t size, void (*init)(void *block),
                               void (*dtor)(void *block));

/* This thread's block for `key`, made (and init run) on the thread's first get.
 * NULL if the key was not created or was deleted (or is being deleted), if a
 * first get finds no memory, or if it would make a block in the last destructor
 * pass of the thread's exit. Never blocks for long (a first get takes the
 * library's lock). A get made by init on the same key returns the block being
 * initialized. One made by dtor on the same key returns, at the thread's exit, a
 * new block (destroyed in the next pass; NULL in the last); during
 * weft_local_delete, NULL. */
WEFT_INLINE void *weft_local_get(weft_local key);

/* Delete `key`: runs dtor on every live thread's block of it (in this thread),
 * frees them, and waits for the destructors that exiting threads are running on
 * its blocks at the same moment. No thread may use the key meanwhile or after:
 * gets of it then return NULL (in its destructors too). Blocks while destructors
 * run.
 * Returns 0, or EINVAL if the key was not created or is already deleted. */
WEFT_API int weft_local_delete(weft_local key);

#ifdef WEFT_HAVE_INLINE
/* initial-exec: one %fs-relative load, no __tls_get_addr call (the library is
 * loaded at startup, or fits the static TLS surplus glibc keeps for dlopen). */
WEFT_API extern _Thread_local struct weft__local_table weft__local_tls
    __attribute__((tls_model("initial-exec")));

WEFT_INLINE void *weft_local_get(weft_local key)
{
    /* Plain loads: only this thread writes its table (under the library's lock);
     * other threads only clear entries of a key being deleted, which no thread
     * may use meanwhile. */
    struct weft__local_table *t = &weft__local_tls;
    if (__builtin_expect(key.slot < t->cap, 1)) {
        struct weft__local_entry *e = &t->entries[key.slot];
        /* An empty entry is {0, NULL}: the never-created key {0, 0} gets NULL. */
        if (__builtin_expect(e->gen == key.gen, 1))
            return e->block;
    }
    return weft__local_get_slow(key);
}
#endif

WEFT_END_DECLS

#endif
