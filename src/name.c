/* Names for primitives (include/weft/name.h): one table keyed by address, a
 * fixed array of hash chains under one lock. Lookups come from reports and from
 * naming, never from a fast path, so one lock is enough. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum {
    WF_NAME_BUCKET_BITS = 10,
    WF_NAME_BUCKETS = 1 << WF_NAME_BUCKET_BITS,
};

typedef struct wf_name {
    struct wf_name *next; /* in its chain */
    const void *object;
    char name[]; /* NUL-terminated copy */
} wf_name;

static weft_lock wf_names_lock = WEFT_LOCK_INIT;
static wf_name *wf_names[WF_NAME_BUCKETS]; /* under wf_names_lock */

static wf_name **wf_name_chain(const void *object)
{
    /* Fibonacci hashing, as the condition buckets: spreads neighbouring objects. */
    uint64_t h = (uint64_t)(uintptr_t)object * UINT64_C(0x9E3779B97F4A7C15);
    return &wf_names[h >> (64 - WF_NAME_BUCKET_BITS)];
}

int weft_name_set(const void *object, const char *name)
{
    if (!object)
        return EINVAL;
    wf_name *fresh = NULL;
    if (name) {
        size_t n = strlen(name);
        fresh = malloc(sizeof *fresh + n + 1);
        if (!fresh)
            return ENOMEM;
        fresh->object = object;
        memcpy(fresh->name, name, n + 1);
    }
    weft_lock_acquire(&wf_names_lock);
    wf_name **at = wf_name_chain(object);
    while (*at && (*at)->object != object)
        at = &(*at)->next;
    wf_name *old = *at;
    if (old)
        *at = old->next;
    if (fresh) {
        fresh->next = *wf_name_chain(object);
        *wf_name_chain(object) = fresh;
    }
    weft_lock_release(&wf_names_lock);
    free(old);
    return 0;
}

const char *weft_name_get(const void *object)
{
    if (!object)
        return NULL;
    const char *found = NULL;
    weft_lock_acquire(&wf_names_lock);
    for (wf_name *n = *wf_name_chain(object); n; n = n->next)
        if (n->object == object) {
            found = n->name;
            break;
        }
    weft_lock_release(&wf_names_lock);
    return found;
}
