/* lockdep.h: the lock-order checker's hooks for the library's own files (a
 * checking build only; see src/lockdep.c). */
#ifndef WF_LOCKDEP_H
#define WF_LOCKDEP_H

#include "internal.h"

#ifdef WEFT_CHECKS
/* A condition wait on `obj` (a weft_lock or a weft_rlock the caller holds) is a
 * release and a re-acquire: the first drops obj from the thread's held stack and
 * returns its recursion depth (0 if it was not there), the second, called before
 * re-taking the lock, checks the order again and pushes it back with that depth. */
WF_HIDDEN uint32_t wf_checks_cond_release(const void *obj);
WF_HIDDEN void wf_checks_cond_reacquire(const void *obj, bool rlock, uint32_t depth);
#endif

#endif
