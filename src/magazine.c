/* The per-thread object caches (src/magazine.h).
 *
 * Invariant: a magazine is owned by exactly one of: a thread's cache (loaded or
 * previous, that thread alone touches it) or its class's depot (under the class
 * lock). Objects in a magazine are free and, under ASan, poisoned. */
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

/* Gives magazine m to the depot (any fill level), or frees it if the depot is full. */
static void wf_depot_put(wf_magazine_class *c, struct wf_magazine *m)
{
    weft_lock_acquire(&c->lock);
    bool room = m->n == 0 || c->full_count < c->depot_max;
    if (room && m->n == 0) {
        m->next = c->empty;
        c->empty = m;
    } else if (room) {
        m->next = c->full;
        c->full = m;
        c->full_count++;
    }
    weft_lock_release(&c->lock);
    if (!room)
        wf_magazine_free_all(c, m);
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

static void *wf_magazine_fresh(wf_magazine_class *c)
{
    return aligned_alloc(c->align, c->size);
}

void *wf_magazine_alloc_slow(wf_magazine_class *c)
{
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
                return wf_magazine_fresh(c);
            wf_magazine_prefetch_read(full);
        }
    }
    void *obj = t->loaded->items[--t->loaded->n];
    WF_UNPOISON(obj, c->size);
    return obj;
}

void wf_magazine_free_slow(wf_magazine_class *c, void *obj)
{
    struct wf_magazine_cache *t = &wf_magazine_caches[c->id];
    if (WF_UNLIKELY(!t->loaded || t->loaded->n == WF_MAGAZINE_SIZE)) {
        if (t->previous && t->previous->n == 0) {
            struct wf_magazine *m = t->previous;
            t->previous = t->loaded;
            t->loaded = m;
        } else {
            /* Both full: give the previous one to the depot, load an empty one. */
            if (!t->cls)
                wf_cache_first_use(t, c);
            weft_lock_acquire(&c->lock);
            struct wf_magazine *empty = c->empty;
            if (empty)
                c->empty = empty->next;
            weft_lock_release(&c->lock);
            if (!empty && !(empty = malloc(sizeof *empty))) {
                free(obj);
                return;
            }
            wf_magazine_prefetch_write(empty);
            empty->n = 0;
            if (t->previous)
                wf_depot_put(c, t->previous);
            t->previous = t->loaded;
            t->loaded = empty;
        }
    }
    t->loaded->items[t->loaded->n++] = obj;
    WF_POISON(obj, c->size);
}
