/* weft/name.h: names for primitives, for the reports that name them.
 *
 * A weft primitive is 4 to 16 bytes and has no room for a name, so names live in
 * one process-wide table keyed by the object's address. The lock-order checker
 * (a -Dchecks=true build) and the contention profile (weft/profile.h) print a
 * named object's name beside its address. Any address may be named (a lock, an
 * rlock, a condition, a queue...). The table knows nothing of the object's
 * lifetime: clear the name (weft_name_set(obj, NULL)) before the memory is reused
 * for another object, or the new one inherits it.
 */
#ifndef WEFT_NAME_H
#define WEFT_NAME_H

#include "common.h"

WEFT_BEGIN_DECLS

/* Names `object` with a copy of `name` (any length), replacing its earlier name;
 * a NULL name removes it. Returns 0, EINVAL if object is NULL, ENOMEM (nothing
 * changes). Takes a short internal lock; never sleeps for long. */
WEFT_API int weft_name_set(const void *object, const char *name);

/* The name of `object`, or NULL if it has none (or object is NULL). The string
 * stays valid until the object is renamed or its name removed. Takes the same
 * short internal lock. */
WEFT_API const char *weft_name_get(const void *object);

WEFT_END_DECLS

#endif
