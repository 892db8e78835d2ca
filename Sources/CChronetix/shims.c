#ifndef _GNU_SOURCE
#error "CChronetix must be built with _GNU_SOURCE (Package.swift defines it)"
#endif

#include "CChronetix.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
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

int cx_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
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

// MARK: - Unix-domain sockets, epoll and eventfd

_Static_assert(CX_EPOLL_IN == EPOLLIN, "EPOLLIN");
_Static_assert(CX_EPOLL_OUT == EPOLLOUT, "EPOLLOUT");
_Static_assert(CX_EPOLL_ERR == EPOLLERR, "EPOLLERR");
_Static_assert(CX_EPOLL_HUP == EPOLLHUP, "EPOLLHUP");
_Static_assert(CX_EPOLL_RDHUP == EPOLLRDHUP, "EPOLLRDHUP");
_Static_assert(CX_EPOLL_ET == (uint32_t)EPOLLET, "EPOLLET");
_Static_assert(CX_EPOLL_CTL_ADD == EPOLL_CTL_ADD, "EPOLL_CTL_ADD");
_Static_assert(CX_EPOLL_CTL_DEL == EPOLL_CTL_DEL, "EPOLL_CTL_DEL");
_Static_assert(CX_EPOLL_CTL_MOD == EPOLL_CTL_MOD, "EPOLL_CTL_MOD");
_Static_assert(sizeof(struct epoll_event) <= sizeof(cx_epoll_event), "cx_epoll_wait unpacks in place");

// A control buffer with room for one SCM_RIGHTS message of CX_SCM_MAX_FD descriptors, aligned for cmsghdr.
typedef union cx_rights_buffer {
    char bytes[CMSG_SPACE(sizeof(int) * CX_SCM_MAX_FD)];
    struct cmsghdr alignment;
} cx_rights_buffer;

int cx_accept(int listener) {
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cx_peer_credentials(int socket, int32_t *process_id, uint32_t *user_id, uint32_t *group_id) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == -1) {
        return -1;
    }
    *process_id = credentials.pid;
    *user_id = credentials.uid;
    *group_id = credentials.gid;
    return 0;
}

ssize_t cx_send_with_descriptors(
    int socket, const void *buffer, size_t length, const int *descriptors, size_t count, int flags) {
    if (count > CX_SCM_MAX_FD || (count > 0 && descriptors == NULL)) {
        errno = EINVAL;
        return -1;
    }
    struct iovec vector = {.iov_base = (void *)buffer, .iov_len = length};
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
    cx_rights_buffer control;
    if (count > 0) {
        memset(&control, 0, sizeof control);
        message.msg_control = control.bytes;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), descriptors, sizeof(int) * count);
    }
    return sendmsg(socket, &message, flags);
}

ssize_t cx_receive_with_descriptors(
    int socket, void *buffer, size_t length, int *descriptors, size_t capacity, size_t *count,
    int *message_flags, int flags) {
    *count = 0;
    *message_flags = 0;
    struct iovec vector = {.iov_base = buffer, .iov_len = length};
    cx_rights_buffer control;
    struct msghdr message = {
        .msg_iov = &vector,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof control.bytes,
    };
    ssize_t received = recvmsg(socket, &message, flags);
    if (received == -1) {
        return -1;
    }
    int result_flags = message.msg_flags;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
            continue;  // only SCM_RIGHTS is asked for; SCM_CREDENTIALS needs SO_PASSCRED, which is never set
        }
        size_t arrived = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(header);
        for (size_t index = 0; index < arrived; index++) {
            int descriptor;
            memcpy(&descriptor, data + index * sizeof(int), sizeof descriptor);  // CMSG_DATA may be unaligned
            if (*count < capacity) {
                descriptors[(*count)++] = descriptor;
            } else {
                close(descriptor);  // no room to hand it over: close it rather than leak it, and say so
                result_flags |= MSG_CTRUNC;
            }
        }
    }
    *message_flags = result_flags;
    return received;
}

int cx_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int cx_epoll_ctl(int epoll, int operation, int descriptor, uint32_t events, uint64_t data) {
    struct epoll_event event = {.events = events, .data.u64 = data};
    return epoll_ctl(epoll, operation, descriptor, &event);
}

int cx_epoll_wait(int epoll, cx_epoll_event *events, int capacity, int timeout_ms) {
    // The kernel writes `capacity` packed records (12 bytes each on x86-64) into the front of the caller's
    // buffer of 16-byte records; they are then unpacked from the last to the first. Record i is read
    // before slot i is written, and slot i ([16i, 16i + 16)) never overlaps a packed record j < i, which ends
    // at or before byte 12i. On architectures where the two layouts agree this is a copy onto itself.
    int ready = epoll_wait(epoll, (struct epoll_event *)(void *)events, capacity, timeout_ms);
    for (int index = ready - 1; index >= 0; index--) {
        struct epoll_event packed;
        memcpy(&packed, (const char *)events + (size_t)index * sizeof packed, sizeof packed);
        cx_epoll_event unpacked = {.events = packed.events, .data = packed.data.u64};
        memcpy(&events[index], &unpacked, sizeof unpacked);
    }
    return ready;
}

int cx_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

// MARK: - Child processes

int cx_spawn(const char *path, char *const argv[], char *const envp[], int new_group,
             int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd, int search_path, int32_t *pid) {
    posix_spawnattr_t attributes;
    int rc = posix_spawnattr_init(&attributes);
    if (rc != 0) return rc;
    posix_spawn_file_actions_t actions;
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        posix_spawnattr_destroy(&attributes);
        return rc;
    }
    sigset_t defaults, empty;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGCHLD);
    sigemptyset(&empty);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_group) flags |= POSIX_SPAWN_SETPGROUP;
    rc = posix_spawnattr_setflags(&attributes, flags);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &empty);
    if (rc == 0 && new_group) rc = posix_spawnattr_setpgroup(&attributes, 0);
    // dup2 clears FD_CLOEXEC on the target, so close-on-exec pipe ends arrive open as 0, 1 and 2.
    if (rc == 0 && stdin_fd >= 0) rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (rc == 0 && stdout_fd >= 0) rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (rc == 0 && stderr_fd >= 0) rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    // Nothing but 0, 1 and 2 reaches the child, whatever this process inherited without FD_CLOEXEC (a pipe of
    // whoever started the coordinator, say): a child holding such a pipe would keep its reader waiting.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t child = 0;
    if (rc == 0) {
        rc = search_path ? posix_spawnp(&child, path, &actions, &attributes, argv, envp)
                         : posix_spawn(&child, path, &actions, &attributes, argv, envp);
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc == 0) *pid = (int32_t)child;
    return rc;
}

int cx_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

static volatile sig_atomic_t cx_forward_pid = 0;

static void cx_forward_handler(int signal_number) {
    pid_t pid = (pid_t)cx_forward_pid;
    if (pid > 0) kill(pid, signal_number);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

int cx_forward_termination(int32_t pid) {
    cx_forward_pid = (sig_atomic_t)pid;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cx_forward_handler;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGTERM, &action, NULL);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int cx_pidfd_open(int32_t pid) {
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
}

int cx_child_ended(int32_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    // EINTR is retried by the caller (SystemCall in ChronetixSystem), as for every call.
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

int cx_wait_child(int32_t pid, int no_hang, int *exited, int *value) {
    int status = 0;
    // EINTR is retried by the caller (SystemCall in ChronetixSystem), as for every call.
    pid_t rc = waitpid((pid_t)pid, &status, no_hang ? WNOHANG : 0);
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    if (WIFEXITED(status)) {
        *exited = 1;
        *value = WEXITSTATUS(status);
    } else {
        *exited = 0;
        *value = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return 1;
}
