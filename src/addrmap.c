/* addrmap.c: the address-keyed map (layout and invariant in addrmap.h). */
#include "addrmap.h"

#include <stdlib.h>

enum { WF_ADDRMAP_MIN_CAP = 64 };

static size_t wf_addrmap_home(const void *key, size_t cap)
{
    return wf_hash_address(key, (unsigned)__builtin_ctzll(cap));
}

/* The slot that holds key, or the empty slot that ends its probe run. */
static wf_addrmap_slot *wf_addrmap_probe(const wf_addrmap *m, const void *key)
{
    size_t i = wf_addrmap_home(key, m->cap);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

void **wf_addrmap_find(const wf_addrmap *m, const void *key)
{
    if (!m->cap)
        return NULL;
    wf_addrmap_slot *s = wf_addrmap_probe(m, key);
    return s->key ? &s->value : NULL;
}

static bool wf_addrmap_grow(wf_addrmap *m)
{
    size_t cap = m->cap ? 2 * m->cap : WF_ADDRMAP_MIN_CAP;
    wf_addrmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    wf_addrmap old = *m;
    *m = (wf_addrmap){slots, cap, old.n};
    WF_ADDRMAP_FOREACH(s, &old)
        *wf_addrmap_probe(m, s->key) = *s;
    free(old.slots);
    return true;
}

void **wf_addrmap_insert(wf_addrmap *m, const void *key)
{
    if (m->cap) {
        wf_addrmap_slot *s = wf_addrmap_probe(m, key);
        if (s->key)
            return &s->value;
    }
    if (2 * (m->n + 1) > m->cap && !wf_addrmap_grow(m))
        return NULL;
    wf_addrmap_slot *s = wf_addrmap_probe(m, key);
    *s = (wf_addrmap_slot){key, NULL};
    m->n++;
    return &s->value;
}

void *wf_addrmap_remove(wf_addrmap *m, const void *key)
{
    if (!m->cap)
        return NULL;
    wf_addrmap_slot *hole = wf_addrmap_probe(m, key);
    if (!hole->key)
        return NULL;
    void *value = hole->value;
    m->n--;
    /* Backward shift: a later slot of the run moves into the hole unless its home
     * lies cyclically in (hole, slot], where a lookup would no longer reach it. */
    size_t mask = m->cap - 1, h = (size_t)(hole - m->slots);
    for (size_t i = (h + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
        size_t home = wf_addrmap_home(m->slots[i].key, m->cap);
        if (((i - home) & mask) >= ((i - h) & mask)) {
            m->slots[h] = m->slots[i];
            h = i;
        }
    }
    m->slots[h] = (wf_addrmap_slot){NULL, NULL};
    return value;
}
