// CChronetix: the few things Swift cannot call directly. Every function says why it is in C.
// Headers define no variables; shared-memory layouts live here, with _Static_asserts, once they exist.
#ifndef CHRONETIX_CCHRONETIX_H
#define CHRONETIX_CCHRONETIX_H

#include <stdint.h>
#include <time.h>

#pragma clang assume_nonnull begin

/// Waits on a shared (not process-private) futex word while it equals `expected`.
/// In C because `syscall(2)` is variadic and Swift cannot call variadic C functions.
/// Returns 0 when woken (or the word already differed: EAGAIN is folded into 0), -1 with errno otherwise
/// (ETIMEDOUT after `timeout`, EINTR on a signal). A NULL timeout waits without limit.
int cx_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *_Nullable timeout);

/// Wakes at most `count` waiters on a shared futex word; returns how many were woken, or -1 with errno.
/// In C for the same reason as cx_futex_wait.
int cx_futex_wake(uint32_t *word, int32_t count);

/// The calling thread's kernel thread id. In C because gettid(2) is reached through syscall(2) here.
int32_t cx_gettid(void);

#pragma clang assume_nonnull end

#endif
