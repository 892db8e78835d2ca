#ifndef _GNU_SOURCE
#error "CChronetix must be built with _GNU_SOURCE (Package.swift defines it)"
#endif

#include "CChronetix.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int cx_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
    // FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word may live in memory shared between processes.
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
    if (rc == -1 && errno == EAGAIN) {
        return 0;  // the word had already changed: same outcome as a wake-up
    }
    return (int)rc;
}

int cx_futex_wake(uint32_t *word, int32_t count) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

int32_t cx_gettid(void) {
    return (int32_t)syscall(SYS_gettid);
}


void cx_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

int cx_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

int cx_membarrier(int cmd, unsigned int flags) {
    return (int)syscall(SYS_membarrier, cmd, flags, 0);
}

int cx_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}
