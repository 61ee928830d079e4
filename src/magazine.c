/* The per-thread object caches (src/magazine.h).
 *
 * Invariant: a magazine is owned by exactly one of: a thread's cache (loaded or
 * previous, that thread alone touches it) or its class's depot (under the class
 * lock). Objects in a magazine are free and, under ASan, poisoned.
 *
 * Under ThreadSanitizer (its runtime present at run time, src/tsan.h) there are no
 * magazines: every object is its own malloc and free. The depot's lock would order
 * one thread's free before another's alloc (to TSan, everything the first thread
 * did before everything the second does after: races between them hidden), and a
 * reused object would keep the clocks of its previous life at its address. TSan's
 * free and malloc reset the block instead, as reuse needs. No thread then ever
 * loads a magazine, so the inline paths always come here. */
#include "magazine.h"
#include "waiting.h"

#include <stdlib.h>

/* Every thread's caches (declared in magazine.h, for the inline fast paths). */
_Thread_local struct wf_magazine_cache wf_magazine_caches[WF_MAGAZINE_CLASSES]
    __attribute__((tls_model("initial-exec")));

static void wf_magazine_free_all(wf_magazine_class *c, struct wf_magazine *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        WF_UNPOISON(m->items[i], c->size);
        free(m->items[i]);
    }
    free(m);
}

/* Gives magazine m to the depot (any fill level); the caller holds c->lock. Returns
 * m when the depot has no room for it: the caller frees it, after the unlock. */
static struct wf_magazine *wf_depot_put_locked(wf_magazine_class *c, struct wf_magazine *m)
{
    if (m->n == 0) {
        m->next = c->empty;
        c->empty = m;
    } else if (c->full_count < c->depot_max) {
        m->next = c->full;
        c->full = m;
        c->full_count++;
    } else {
        return m;
    }
    return NULL;
}

/* Gives magazine m to the depot, or frees it if the depot is full. */
static void wf_depot_put(wf_magazine_class *c, struct wf_magazine *m)
{
    weft_lock_acquire(&c->lock);
    struct wf_magazine *spill = wf_depot_put_locked(c, m);
    weft_lock_release(&c->lock);
    if (spill)
        wf_magazine_free_all(c, spill);
}

/* A magazine from the depot was last written by another thread, and we are about to
 * read (a full one) or write (an empty one) its whole array, one pointer per object
 * handed out or taken back: fetch all its lines at once, so that their misses
 * overlap instead of costing one, in turn, every eight objects. (Measured on the
 * unbounded queue, whose producer allocates what its consumer frees: without it the
 * magazines cost 10-30% of its throughput against nodes linked through themselves.) */
static void wf_magazine_prefetch_read(const struct wf_magazine *m)
{
    for (size_t off = 0; off < sizeof *m; off += WF_CACHE_LINE)
        __builtin_prefetch((const char *)m + off, 0);
}

static void wf_magazine_prefetch_write(struct wf_magazine *m)
{
    for (size_t off = 0; off < sizeof *m; off += WF_CACHE_LINE)
        __builtin_prefetch((char *)m + off, 1);
}

/* WF_EXIT_CACHES: the exiting thread's magazines go to the depots. */
static void wf_magazine_thread_exit(void)
{
    for (int id = 0; id < WF_MAGAZINE_CLASSES; id++) {
        struct wf_magazine_cache *t = &wf_magazine_caches[id];
        if (t->loaded)
            wf_depot_put(t->cls, t->loaded);
        if (t->previous)
            wf_depot_put(t->cls, t->previous);
        t->loaded = t->previous = NULL;
        t->cls = NULL; /* a later use in this thread (a later hook) arms again */
    }
}

/* The first time this thread uses class c: arm the exit flush. */
static void wf_cache_first_use(struct wf_magazine_cache *t, wf_magazine_class *c)
{
    t->cls = c;
    wf_exit_register(WF_EXIT_CACHES, wf_magazine_thread_exit);
    wf_exit_arm();
}

/* A fresh object: one of its own, or for a slab class one of a fresh slab of
 * WF_MAGAZINE_SIZE, the others loaded into this thread's (empty) magazine. */
static void *wf_magazine_fresh(wf_magazine_class *c, struct wf_magazine_cache *t)
{
    if (!c->slabs)
        return aligned_alloc(c->align, c->size);
    struct wf_magazine *m = t->loaded;
    if (!m && !(m = malloc(sizeof *m)))
        return NULL;
    char *slab = aligned_alloc(c->align, WF_MAGAZINE_SIZE * c->size);
    if (!slab) {
        if (m != t->loaded)
            free(m);
        return NULL;
    }
    /* Handed out in address order. */
    m->n = 0;
    for (size_t i = WF_MAGAZINE_SIZE - 1; i > 0; i--) {
        void *obj = slab + i * c->size;
        m->items[m->n++] = obj;
        WF_POISON(obj, c->size);
    }
    t->loaded = m;
    return slab;
}

void *wf_magazine_alloc_slow(wf_magazine_class *c)
{
    if (WF_UNLIKELY(wf_tsan_present()))
        return wf_tsan_alloc(c->align, c->size); /* no caches (see the top) */
    struct wf_magazine_cache *t = &wf_magazine_caches[c->id];
    if (WF_UNLIKELY(!t->loaded || t->loaded->n == 0)) {
        if (t->previous && t->previous->n > 0) {
            struct wf_magazine *m = t->previous;
            t->previous = t->loaded;
            t->loaded = m;
        } else {
            /* Both empty: trade the previous one for a full one from the depot. */
            if (!t->cls)
                wf_cache_first_use(t, c);
            weft_lock_acquire(&c->lock);
            struct wf_magazine *full = c->full;
            if (full) {
                c->full = full->next;
                c->full_count--;
                if (t->previous) {
                    t->previous->next = c->empty;
                    c->empty = t->previous;
                }
                t->previous = t->loaded;
                t->loaded = full;
            }
            weft_lock_release(&c->lock);
            if (!full)
                return wf_magazine_fresh(c, t);
            wf_magazine_prefetch_read(full);
        }
    }
    void *obj = t->loaded->items[--t->loaded->n];
    WF_UNPOISON(obj, c->size);
    return obj;
}

void wf_magazine_free_slow(wf_magazine_class *c, void *obj)
{
    if (WF_UNLIKELY(wf_tsan_present())) {
        wf_tsan_free(obj);
        return;
    }
    struct wf_magazine_cache *t = &wf_magazine_caches[c->id];
    if (WF_UNLIKELY(!t->loaded || t->loaded->n == WF_MAGAZINE_SIZE)) {
        if (t->previous && t->previous->n == 0) {
            struct wf_magazine *m = t->previous;
            t->previous = t->loaded;
            t->loaded = m;
        } else {
            /* Both full: give the previous one to the depot, load an empty one; in
             * one lock hold when the depot has an empty one (the depot's lock is
             * what every thread of the class trades through). */
            if (!t->cls)
                wf_cache_first_use(t, c);
            struct wf_magazine *give = t->previous, *spill = NULL;
            weft_lock_acquire(&c->lock);
            struct wf_magazine *empty = c->empty;
            if (empty) {
                c->empty = empty->next;
                if (give)
                    spill = wf_depot_put_locked(c, give);
                give = NULL;
            }
            weft_lock_release(&c->lock);
            if (spill)
                wf_magazine_free_all(c, spill);
            if (!empty && !(empty = malloc(sizeof *empty))) {
                /* The previous magazine stays ours. A slab's object cannot be freed
                 * alone: it is lost instead (memory is exhausted anyway). */
                if (!c->slabs)
                    free(obj);
                return;
            }
            wf_magazine_prefetch_write(empty);
            empty->n = 0;
            if (give)
                wf_depot_put(c, give);
            t->previous = t->loaded;
            t->loaded = empty;
        }
    }
    t->loaded->items[t->loaded->n++] = obj;
    WF_POISON(obj, c->size);
}
