/* addrmap.h: the one map keyed by an address, for the library's side tables (the
 * lock-order checker's nodes, the contention profile's sites, primitives' names).
 *
 * Layout: open addressing with linear probing over `cap` slots (a power of two),
 * at most half full, so a probe ends within a few slots; grows by doubling. A slot
 * with key NULL is empty (NULL is never a key). Removal shifts the rest of its
 * probe run back (no tombstones), so a lookup stops at the first empty slot.
 *
 * Not thread-safe: each user keeps its map under its own lock. Never on a fast
 * path: the users are reports, naming and the checked build. */
#ifndef WF_ADDRMAP_H
#define WF_ADDRMAP_H

#include "internal.h"

typedef struct wf_addrmap_slot {
    const void *key; /* NULL: empty */
    void *value;
} wf_addrmap_slot;

typedef struct wf_addrmap {
    wf_addrmap_slot *slots;
    size_t cap, n; /* cap: 0 or a power of two; n: keys held */
} wf_addrmap;

#define WF_ADDRMAP_INIT {NULL, 0, 0}

/* The value slot of key, or NULL if key is absent. */
WF_HIDDEN void **wf_addrmap_find(const wf_addrmap *m, const void *key);
/* The value slot of key, made (its value NULL) if key was absent; NULL if the map
 * had to grow and could not (nothing changed). Moves other slots: a pointer from
 * an earlier find or insert is stale afterwards. */
WF_HIDDEN void **wf_addrmap_insert(wf_addrmap *m, const void *key);
/* Forgets key (nothing if absent); returns its value, or NULL. */
WF_HIDDEN void *wf_addrmap_remove(wf_addrmap *m, const void *key);

/* Every held slot: WF_ADDRMAP_FOREACH(s, &map) { s->key, s->value }. */
#define WF_ADDRMAP_FOREACH(s, m)                                                            \
    for (wf_addrmap_slot *s = (m)->slots; s && s < (m)->slots + (m)->cap; s++)              \
        if (s->key)

#endif
