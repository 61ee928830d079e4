/* The portable backend's wait layer: the parking lot of park.c, as is. */
#include "park.h"

int wf_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    return wf_lot_wait(word, expected, d);
}

int wf_wait_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                weft_deadline d)
{
    return wf_lot_wait_any(words, expected, n, d);
}

int wf_wake(const _Atomic uint32_t *word, int n)
{
    return wf_lot_wake(word, n);
}

void wf_wait_any_force_fallback(void)
{
    /* The lot is the only way here: nothing to switch. */
}
