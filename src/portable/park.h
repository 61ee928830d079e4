/* park.h: the parking lot (src/portable/park.c), the wait layer on pthreads alone.
 *
 * The portable backend is this lot (src/portable/wait.c maps wf_wait & co onto it).
 * The Linux backend uses it too, for wf_wait_any on a kernel without futex_waitv
 * (src/linux/futex.c). Each function has the contract of its wf_ namesake in
 * src/internal.h, for the sleepers and wakers that use the lot. */
#ifndef WF_PARK_H
#define WF_PARK_H

#include "../internal.h"

WF_HIDDEN int wf_lot_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d);
WF_HIDDEN int wf_lot_wait_any(const _Atomic uint32_t *const *words, const uint32_t *expected,
                              int n, weft_deadline d);
WF_HIDDEN int wf_lot_wake(const _Atomic uint32_t *word, int n);

#endif
