/* Names for primitives (include/weft/name.h): one address map (src/addrmap.h)
 * from an object to a copy of its name, under one lock. Lookups come from reports
 * and from naming, never from a fast path, so one lock is enough. */
#include "addrmap.h"

#include <stdlib.h>
#include <string.h>

static weft_lock wf_names_lock = WEFT_LOCK_INIT;
static wf_addrmap wf_names = WF_ADDRMAP_INIT; /* object -> malloc'd name; under the lock */

int weft_name_set(const void *object, const char *name)
{
    if (!object)
        return EINVAL;
    char *fresh = name ? strdup(name) : NULL;
    if (name && !fresh)
        return ENOMEM;
    void *old = NULL;
    int rc = 0;
    weft_lock_acquire(&wf_names_lock);
    if (fresh) {
        void **slot = wf_addrmap_insert(&wf_names, object);
        if (slot) {
            old = *slot;
            *slot = fresh;
        } else {
            old = fresh; /* the map could not grow: nothing changes */
            rc = ENOMEM;
        }
    } else {
        old = wf_addrmap_remove(&wf_names, object);
    }
    weft_lock_release(&wf_names_lock);
    free(old);
    return rc;
}

const char *weft_name_get(const void *object)
{
    if (!object)
        return NULL;
    weft_lock_acquire(&wf_names_lock);
    void **slot = wf_addrmap_find(&wf_names, object);
    const char *found = slot ? *slot : NULL;
    weft_lock_release(&wf_names_lock);
    return found;
}
