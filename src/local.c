/* weft_local: Python's threading.local, with unlimited keys.
 *
 * Layout. Each thread has a slot table (weft__local_tls, in the header so that the
 * get fast path is inline): entry i holds the block of the key at slot i and that
 * key's generation. Globally, under wf_local.lock: one record per slot ever used
 * (allocated once, so its `busy` word can be waited on), a free list of slots, and
 * the list of threads that have a table (so that delete can reach their blocks).
 *
 * A slot record's state:
 *
 *   gen      on free list   meaning
 *   != 0     no             live key (slot, gen); last_gen == gen
 *   0        no             being deleted (blocks of generation last_gen remain)
 *   0        yes            free: the next create uses generation last_gen + 1
 *   0        no, retired    generations exhausted: never reused
 *
 *   busy     count of destructors exiting threads run (outside the lock) on blocks
 *            of this slot, + WF_BUSY_WAITING when a delete sleeps on the word
 *
 * Invariants: a table entry with gen != 0 is a block of the slot's live or dying
 * key; entries are written only under the lock (the owner also reads its own
 * without it); a block is taken (its entry cleared) under the lock by exactly one
 * of its thread's exit and delete, which then run the destructor outside the lock;
 * a slot is reused only after every block of its old generation is freed and every
 * destructor on them has returned, so a stale key never matches a new block.
 *
 * Thread exit: a thread's first block links it and arms the exit hook
 * (src/waiting.h); its WF_EXIT_LOCALS stage destroys the thread's blocks, before
 * a weft thread counts as finished and before a foreign thread's descriptor goes. */
#include "list.h"
#include "tsan.h"
#include "waiting.h"

#include <stdlib.h>
#include <string.h>

extern inline void *weft_local_get(weft_local key);

#define WF_BLOCK_ALIGN WF_CACHE_LINE /* threads' blocks never share a line */
#define WF_BUSY_WAITING (1u << 31)
#define WF_BUSY_COUNT (WF_BUSY_WAITING - 1)
#define WF_EXIT_ROUNDS 4 /* destructor passes at exit, as PTHREAD_DESTRUCTOR_ITERATIONS */
#define WF_DELETE_BATCH 64

_Thread_local struct weft__local_table weft__local_tls;

struct wf_local_slot {
    uint32_t gen, last_gen;
    bool retired;
    size_t size;
    void (*init)(void *);
    void (*dtor)(void *);
    _Atomic uint32_t busy;
    uint32_t next_free; /* slot index + 1 of the next free slot; 0 ends the list */
};

/* The calling thread's link in the list of threads with a table. */
struct wf_local_thread {
    wf_list_node link;               /* in wf_local.threads, under the lock */
    struct weft__local_table *table; /* &weft__local_tls of that thread */
    bool linked;
    bool closing; /* the last exit pass runs: a get makes no new block */
};

static struct {
    weft_lock lock;
    struct wf_local_slot **slots;
    uint32_t nslots, cap;
    uint32_t free_head; /* slot index + 1; 0: none free */
    wf_list threads;    /* of wf_local_thread.link, newest first */
} wf_local = {WEFT_LOCK_INIT, NULL, 0, 0, 0, {NULL, NULL}};

static _Thread_local struct wf_local_thread wf_local_me __attribute__((tls_model("initial-exec")));

static void wf_local_thread_exit(void);

/* The live slot record of `key`, or NULL. Caller holds the lock. */
static struct wf_local_slot *wf_slot_live(weft_local key)
{
    if (key.gen == 0 || key.slot >= wf_local.nslots)
        return NULL;
    struct wf_local_slot *s = wf_local.slots[key.slot];
    return s->gen == key.gen ? s : NULL;
}

/* The registry's lock, taken as bookkeeping: under ThreadSanitizer its critical
 * sections run with sync and access tracking off (src/tsan.h), so that threads
 * making their first block or exiting are not ordered by it. The one edge a
 * user is owed, exiting threads' destructors before the delete that waited for
 * them, is told on `busy`. */
static void wf_local_lock(void)
{
    wf_tsan_ignore_begin();
    weft_lock_acquire(&wf_local.lock);
}

static void wf_local_unlock(void)
{
    weft_lock_release(&wf_local.lock);
    wf_tsan_ignore_end();
}

/* ---- keys --------------------------------------------------------------------- */

int weft_local_create(weft_local *key, size_t size, void (*init)(void *), void (*dtor)(void *))
{
    if (!key || size == 0 || size > SIZE_MAX - WF_BLOCK_ALIGN)
        return EINVAL;
    wf_local_lock();
    struct wf_local_slot *s;
    uint32_t slot;
    if (wf_local.free_head) {
        slot = wf_local.free_head - 1;
        s = wf_local.slots[slot];
        wf_local.free_head = s->next_free;
    } else {
        if (wf_local.nslots == UINT32_MAX)
            goto nomem;
        if (wf_local.nslots == wf_local.cap) {
            uint32_t cap = wf_local.cap ? wf_local.cap * 2 : 16;
            struct wf_local_slot **slots = realloc(wf_local.slots, cap * sizeof *slots);
            if (!slots)
                goto nomem;
            wf_local.slots = slots;
            wf_local.cap = cap;
        }
        s = calloc(1, sizeof *s);
        if (!s)
            goto nomem;
        slot = wf_local.nslots++;
        wf_local.slots[slot] = s;
    }
    s->gen = ++s->last_gen;
    s->size = size;
    s->init = init;
    s->dtor = dtor;
    wf_local_unlock();
    *key = (weft_local){slot, s->last_gen};
    return 0;
nomem:
    wf_local_unlock();
    return ENOMEM;
}

/* Takes up to `max` blocks of (slot, gen) out of live threads' tables. Caller
 * holds the lock. */
static size_t wf_take_blocks(uint32_t slot, uint32_t gen, void **out, size_t max)
{
    size_t n = 0;
    for (wf_list_node *node = wf_list_first(&wf_local.threads); node && n < max;
         node = node->next) {
        struct weft__local_table *t = WF_CONTAINER(node, struct wf_local_thread, link)->table;
        if (slot < t->cap && t->entries[slot].gen == gen) {
            out[n++] = t->entries[slot].block;
            t->entries[slot] = (struct weft__local_entry){0, NULL};
        }
    }
    return n;
}

int weft_local_delete(weft_local key)
{
    wf_local_lock();
    struct wf_local_slot *s = wf_slot_live(key);
    if (!s) {
        wf_local_unlock();
        return EINVAL;
    }
    s->gen = 0; /* dying: gets fail from here on, no new block appears */
    void (*dtor)(void *) = s->dtor;
    for (;;) {
        void *blocks[WF_DELETE_BATCH];
        size_t n = wf_take_blocks(key.slot, key.gen, blocks, WF_DELETE_BATCH);
        if (n == 0)
            break;
        wf_local_unlock();
        for (size_t i = 0; i < n; i++) {
            if (dtor)
                dtor(blocks[i]);
            free(blocks[i]);
        }
        wf_local_lock();
    }
    /* Blocks exiting threads took before us: wait for their destructors. No block
     * of the key is left in any table, so busy only falls from here on: the sleep
     * needs no lock (and must not hold it: an exiting thread takes it between
     * destructors). acquire (and wf_sleep_flagged's reloads): the destructors'
     * effects happen before delete returns. */
    uint32_t b = atomic_load_explicit(&s->busy, memory_order_acquire);
    if (b & WF_BUSY_COUNT) {
        wf_local_unlock();
        /* Lost wakeup avoided: we sleep only while busy still reads this count with
         * WAITING; the last destructor to finish changes it before waking. */
        do
            wf_sleep_flagged(&s->busy, &b, WF_BUSY_WAITING, WEFT_DEADLINE_NEVER);
        while (b & WF_BUSY_COUNT);
        wf_local_lock();
    }
    wf_tsan_ignore_end(); /* the edge owed from the destructors, told */
    wf_tsan_acquire(&s->busy);
    wf_tsan_ignore_begin();
    /* relaxed: no destructor is left to race with; the lock publishes it. */
    atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
    if (s->last_gen == UINT32_MAX) {
        s->retired = true;
    } else {
        s->next_free = wf_local.free_head;
        wf_local.free_head = key.slot + 1;
    }
    wf_local_unlock();
    return 0;
}

/* ---- get ------------------------------------------------------------------------- */

/* Grows the calling thread's table to hold `slot`. Caller holds the lock. */
static bool wf_table_grow(struct weft__local_table *t, uint32_t slot)
{
    uint32_t cap = t->cap ? t->cap : 8;
    while (cap <= slot)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    struct weft__local_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return false;
    if (t->cap)
        memcpy(e, t->entries, t->cap * sizeof *e);
    free(t->entries);
    t->entries = e;
    t->cap = cap;
    return true;
}

void *weft__local_get_slow(weft_local key)
{
    struct weft__local_table *t = &weft__local_tls;
    wf_local_lock();
    struct wf_local_slot *s = wf_slot_live(key);
    void *block = NULL;
    if (!s)
        goto out;
    if (key.slot < t->cap && t->entries[key.slot].gen == key.gen) {
        block = t->entries[key.slot].block; /* the inline path was compiled out (C++) */
        goto out;
    }
    if (wf_local_me.closing)
        goto out; /* no pass is left to destroy a new block */
    if (!wf_local_me.linked) {
        /* The hook's WF_EXIT_LOCALS stage destroys this thread's blocks at exit. */
        wf_exit_register(WF_EXIT_LOCALS, wf_local_thread_exit);
        wf_exit_arm();
        wf_local_me.table = t;
        wf_list_push_front(&wf_local.threads, &wf_local_me.link);
        wf_local_me.linked = true;
    }
    if (key.slot >= t->cap && !wf_table_grow(t, key.slot))
        goto out;
    size_t size = (s->size + WF_BLOCK_ALIGN - 1) & ~(size_t)(WF_BLOCK_ALIGN - 1);
    block = aligned_alloc(WF_BLOCK_ALIGN, size);
    if (!block)
        goto out;
    memset(block, 0, size);
    /* Installed before init runs, so that a get from init returns this block. */
    t->entries[key.slot] = (struct weft__local_entry){key.gen, block};
    void (*init)(void *) = s->init;
    wf_local_unlock();
    if (init)
        init(block);
    return block;
out:
    wf_local_unlock();
    return block;
}

/* ---- thread exit ----------------------------------------------------------------- */

/* WF_EXIT_LOCALS: destroys the calling thread's blocks (running their destructors)
 * and frees its slot table. A later weft_local_get in the same thread starts
 * afresh (and arms the hook again). */
static void wf_local_thread_exit(void)
{
    if (!wf_local_me.linked)
        return;
    struct weft__local_table *t = &weft__local_tls;
    /* Destructors may get blocks anew (of any key): a few passes, as pthread does.
     * In the last one such a get returns NULL, so that every block made gets its
     * destructor and none is left when the passes end. */
    for (int round = 0; round < WF_EXIT_ROUNDS; round++) {
        wf_local_me.closing = round == WF_EXIT_ROUNDS - 1;
        bool any = false;
        for (uint32_t i = 0;; i++) {
            wf_local_lock();
            while (i < t->cap && t->entries[i].gen == 0)
                i++;
            if (i >= t->cap) {
                wf_local_unlock();
                break;
            }
            void *block = t->entries[i].block;
            t->entries[i] = (struct weft__local_entry){0, NULL};
            struct wf_local_slot *s = wf_local.slots[i];
            void (*dtor)(void *) = s->dtor;
            /* relaxed: under the lock, which a delete takes before it reads busy. */
            if (dtor)
                atomic_fetch_add_explicit(&s->busy, 1, memory_order_relaxed);
            wf_local_unlock();
            any = true;
            if (dtor) {
                dtor(block);
                free(block);
                /* release: the destructor's effects happen before delete returns. */
                wf_tsan_release(&s->busy);
                uint32_t old = atomic_fetch_sub_explicit(&s->busy, 1, memory_order_release);
                /* Lost wakeup avoided: the count changed before this wake, and a
                 * delete sleeps only on the value with WAITING it last read. */
                if ((old & WF_BUSY_WAITING) && (old & WF_BUSY_COUNT) == 1)
                    wf_wake(&s->busy, INT_MAX);
            } else {
                free(block);
            }
        }
        if (!any)
            break;
    }
    wf_local_me.closing = false; /* a later get starts afresh */
    wf_local_lock();
    /* Every entry is empty: a pass ended only once it found none, or was the
     * last, which made none. */
    free(t->entries);
    *t = (struct weft__local_table){NULL, 0};
    wf_list_remove(&wf_local.threads, &wf_local_me.link);
    wf_local_me.linked = false;
    wf_local_unlock();
}
