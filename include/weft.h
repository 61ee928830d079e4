/* weft.h: Python's threading, queue and concurrent.futures, in C11.
 * One header per family under weft/; this one includes them all. */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/version.h"
#include "weft/lock.h"
#include "weft/rlock.h"
#include "weft/rwlock.h"
#include "weft/sem.h"
#include "weft/event.h"
#include "weft/once.h"
#include "weft/thread.h"
#include "weft/local.h"
#include "weft/cond.h"
#include "weft/barrier.h"
#include "weft/timer.h"
#include "weft/queue.h"
#include "weft/future.h"
#include "weft/pool.h"
#include "weft/name.h"
#include "weft/profile.h"
#include "weft/cancel.h"
#include "weft/select.h"

#endif
