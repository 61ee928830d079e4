/* magazine.h: the per-thread object caches (Bonwick's magazines), the house's
 * allocator for small objects that one thread allocates and another frees (a
 * future: the submitter allocates, the worker's last release frees), the pattern
 * malloc handles worst. Objects freed in about the order they were allocated (a
 * queue's nodes) have the ordered block cache of blocks.h instead, which keeps
 * that order for the next use.
 *
 * A magazine is an array of free objects, so moving WF_MAGAZINE_SIZE of them
 * between threads touches none of them (a linked free list would cost one cache
 * miss per object, its lines last written by the other thread). Each thread holds,
 * per class, a loaded and a previous magazine and trades whole magazines with the
 * class's depot under one lock hold. The depot keeps at most `depot_max` full
 * magazines (beyond that, objects go back to malloc); an exiting thread's
 * magazines go to the depot (the WF_EXIT_CACHES hook).
 *
 * Under ASan a cached object is poisoned, so a use after free is still reported.
 * Under TSan (its runtime present at run time) there are no caches: each object
 * is malloc'd and freed (src/magazine.c says why). */
#ifndef WF_MAGAZINE_H
#define WF_MAGAZINE_H

#include "internal.h"

enum { WF_MAGAZINE_SIZE = 64 }; /* free objects in a magazine */

/* The classes: each thread has one cache per class. */
enum wf_magazine_id { WF_MAGAZINE_FUTURE, WF_MAGAZINE_CLASSES };

struct wf_magazine;

typedef struct wf_magazine_class {
    enum wf_magazine_id id;
    size_t size, align; /* of one object; align divides size */
    size_t depot_max;   /* full magazines the depot keeps */
    bool slabs;         /* fresh objects come a magazine at a time, never freed */
    weft_lock lock;     /* guards the three fields below */
    struct wf_magazine *full, *empty;
    size_t full_count;
} wf_magazine_class;

#define WF_MAGAZINE_CLASS_INIT(id_, size_, align_, depot_max_)                                   \
    {.id = (id_), .size = (size_), .align = (align_), .depot_max = (depot_max_),              \
     .lock = WEFT_LOCK_INIT, .full = NULL, .empty = NULL, .full_count = 0}

/* A class whose objects are never given back to malloc (its depot keeps them all)
 * and so come, when the caches run dry, WF_MAGAZINE_SIZE at a time in one
 * allocation: one malloc per magazine instead of one per object. */
#define WF_MAGAZINE_CLASS_INIT_SLABS(id_, size_, align_)                                     \
    {.id = (id_), .size = (size_), .align = (align_), .depot_max = SIZE_MAX, .slabs = true,   \
     .lock = WEFT_LOCK_INIT, .full = NULL, .empty = NULL, .full_count = 0}

struct wf_magazine {
    struct wf_magazine *next; /* in the depot */
    uint32_t n;
    void *items[WF_MAGAZINE_SIZE];
};

struct wf_magazine_cache {
    struct wf_magazine *loaded, *previous;
    wf_magazine_class *cls; /* set on first use: the exit hook needs it */
};

/* The calling thread's caches, one per class (src/magazine.c). initial-exec: no
 * __tls_get_addr call in the shared library (48 bytes of static TLS). */
WF_HIDDEN extern _Thread_local struct wf_magazine_cache wf_magazine_caches[WF_MAGAZINE_CLASSES]
    __attribute__((tls_model("initial-exec")));

/* The slow paths (src/magazine.c): a magazine swap, the depot, malloc. */
WF_HIDDEN void *wf_magazine_alloc_slow(wf_magazine_class *c);
WF_HIDDEN void wf_magazine_free_slow(wf_magazine_class *c, void *obj);

/* An object of the class (uninitialised memory), or NULL when out of memory.
 * Inline: the loaded magazine's top, when it has one (a pool task takes one). */
static inline void *wf_magazine_alloc(wf_magazine_class *c)
{
    struct wf_magazine *m = wf_magazine_caches[c->id].loaded;
    if (WF_UNLIKELY(!m || m->n == 0))
        return wf_magazine_alloc_slow(c);
    void *obj = m->items[--m->n];
    WF_UNPOISON(obj, c->size);
    return obj;
}

/* Gives obj (from wf_magazine_alloc of the same class) back. Never fails. */
static inline void wf_magazine_free(wf_magazine_class *c, void *obj)
{
    struct wf_magazine *m = wf_magazine_caches[c->id].loaded;
    if (WF_UNLIKELY(!m || m->n == WF_MAGAZINE_SIZE)) {
        wf_magazine_free_slow(c, obj);
        return;
    }
    m->items[m->n++] = obj;
    WF_POISON(obj, c->size);
}

#endif
