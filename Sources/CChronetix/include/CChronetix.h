// CChronetix: the few things Swift cannot call directly, and the one definition of every layout shared
// between processes. Every function says why it is in C. Headers define no variables.
#ifndef CHRONETIX_CCHRONETIX_H
#define CHRONETIX_CCHRONETIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#pragma clang assume_nonnull begin

// MARK: - futex and thread ids

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

/// One spin-wait hint (`pause` on x86-64, `yield` on arm64). In C because Swift has no portable spelling
/// of the instruction.
void cx_cpu_relax(void);

/// Issues `membarrier(2)` with `cmd` and `flags`; returns its result, or -1 with errno.
/// In C because membarrier has no glibc wrapper and syscall(2) is variadic.
int cx_membarrier(int cmd, unsigned int flags);

/// A compiler-only barrier: no instruction, but the compiler may not move memory accesses across it.
/// The ring's light side of its asymmetric barrier (docs/ring-protocol.md); in C for the inline asm.
static inline void cx_compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }

/// Pins the calling thread to one CPU (`sched_setaffinity(2)`); returns 0 or -1 with errno.
/// In C because the CPU_SET macros are not functions Swift can call.
int cx_pin_to_cpu(int cpu);

/// Asks the kernel to send `signal` to this process when its parent exits (`prctl(PR_SET_PDEATHSIG)`).
/// In C because prctl(2) is variadic. Returns 0 or -1 with errno.
int cx_set_parent_death_signal(int signal);

/// Names the calling thread (`prctl(PR_SET_NAME)`; the kernel keeps 15 bytes). In C because prctl(2) is
/// variadic. Returns 0 or -1 with errno.
int cx_set_thread_name(const char *name);

// MARK: - Child processes (the coordinator's workers)

/// Starts `path` with `argv` and `envp` (both NULL-terminated) via posix_spawn(3), with SIGINT, SIGTERM, SIGPIPE
/// and SIGCHLD at their default actions and an empty signal mask (whatever the parent set), and, when
/// `new_group` is non-zero, in a process group of its own (so a terminal's Ctrl-C reaches only the parent).
/// `stdin_fd`, `stdout_fd` and `stderr_fd`, when not -1, become the child's descriptors 0, 1 and 2 (others are
/// inherited). `cwd`, when not NULL, is the child's working directory (a relative `path` is found from there).
/// With `search_path` non-zero a `path` without a slash is looked up in `PATH` (posix_spawnp). Descriptors 3 and
/// up are closed in the child (posix_spawn_file_actions_addclosefrom_np), inherited or not.
/// In C because posix_spawnattr_t, posix_spawn_file_actions_t and sigset_t are opaque to Swift.
/// Returns 0 and sets `*pid`, or an errno (also the exec's: ENOENT, EACCES, ENOEXEC).
int cx_spawn(const char *path, char *_Nullable const argv[_Nonnull], char *_Nullable const envp[_Nonnull], int new_group,
             int stdin_fd, int stdout_fd, int stderr_fd, const char *_Nullable cwd, int search_path, int32_t *pid);

/// pipe2(2) with O_CLOEXEC: `fds[0]` the reading end, `fds[1]` the writing end. Returns 0, or -1 with errno.
/// In C because glibc declares pipe2 only under _GNU_SOURCE, which Swift's Glibc module is not built with.
int cx_pipe(int fds[_Nonnull 2]);

/// Makes SIGTERM to this process reach `pid` too: a handler that sends SIGTERM to `pid`, then takes the default
/// action (the process ends by SIGTERM, as it would have). For a worker whose coordinator dies: its parent-death
/// signal is SIGTERM, and its `process` node's program must not outlive it. Only async-signal-safe calls in the
/// handler (kill, signal, raise). In C because a signal handler must be a C function. Returns 0, or -1 with errno.
int cx_forward_termination(int32_t pid);

/// waitpid(2) for one child, without waiting when `no_hang`. Returns 1 when it ended (`*exited` 1 and
/// `*value` its exit status, or `*exited` 0 and `*value` the signal that killed it), 0 when it still runs,
/// -1 with errno. In C because the W* macros are not imported.
int cx_wait_child(int32_t pid, int no_hang, int *exited, int *value);

/// pidfd_open(2): a descriptor for process `pid` that becomes readable when it ends (close-on-exec). The pid
/// must be an unreaped child, so that it cannot have been reused. Returns the descriptor, or -1 with errno
/// (ENOSYS before Linux 5.3). In C because glibc has no wrapper before 2.36.
int cx_pidfd_open(int32_t pid);

/// waitid(2) with WNOWAIT: whether child `pid` has ended, without reaping it, so that its pid (and process
/// group id) stays reserved while the caller signals what is left of its group. Returns 1 ended, 0 running,
/// -1 with errno.
int cx_child_ended(int32_t pid);

// MARK: - Unix-domain sockets, epoll and eventfd (IpcEventBus)

/// The most descriptors one SCM_RIGHTS control message may carry on Linux (SCM_MAX_FD, include/net/scm.h).
#define CX_SCM_MAX_FD 253

/// Accepts one connection from a listening socket with SOCK_NONBLOCK | SOCK_CLOEXEC set on the new
/// descriptor; returns it, or -1 with errno. In C because accept4(2) is a GNU extension that the Swift
/// Glibc module does not declare.
int cx_accept(int listener);

/// Reads the credentials of the process at the other end of a connected Unix-domain socket, as they were
/// when it called connect(2) or socketpair(2) (getsockopt(2) SO_PEERCRED). Returns 0 or -1 with errno.
/// In C because `struct ucred` is declared only under _GNU_SOURCE, which the Swift Glibc module lacks.
int cx_peer_credentials(int socket, int32_t *process_id, uint32_t *user_id, uint32_t *group_id);

/// Sends `length` bytes with `count` (at most CX_SCM_MAX_FD) descriptors attached as one SCM_RIGHTS
/// control message (sendmsg(2)); with `count` 0 no control message is sent. The caller keeps its
/// descriptors: the kernel installs duplicates in the receiver. `flags` go to sendmsg (MSG_NOSIGNAL).
/// Returns the bytes sent or -1 with errno (EINVAL when count > CX_SCM_MAX_FD).
/// In C because CMSG_FIRSTHDR, CMSG_SPACE, CMSG_LEN and CMSG_DATA are macros Swift cannot call.
ssize_t cx_send_with_descriptors(
    int socket, const void *_Nullable buffer, size_t length, const int *_Nullable descriptors, size_t count,
    int flags);

/// Receives up to `length` bytes and any SCM_RIGHTS descriptors that came with them (recvmsg(2) with a
/// control buffer for CX_SCM_MAX_FD descriptors). The descriptors are stored in order into `descriptors`
/// (room for `capacity`), their number into `*count`, and the message flags into `*message_flags`
/// (MSG_CTRUNC: some descriptors did not fit and the kernel closed them; descriptors beyond `capacity`
/// are closed here and reported the same way). `flags` go to recvmsg (MSG_CMSG_CLOEXEC).
/// Returns the bytes received (0 at end of file) or -1 with errno, in which case `*count` is 0.
/// In C for the same reason as cx_send_with_descriptors.
ssize_t cx_receive_with_descriptors(
    int socket, void *_Nullable buffer, size_t length, int *descriptors, size_t capacity, size_t *count,
    int *message_flags, int flags);

/// One ready descriptor as epoll_wait(2) reports it, without the packing of `struct epoll_event`.
///
/// glibc declares `struct epoll_event` `__attribute__((packed))` on x86-64 (12 bytes, `data` at offset 4)
/// and unpacked elsewhere (16 bytes), and the Swift Glibc module does not import <sys/epoll.h> at all.
/// This struct has the natural layout on every architecture; cx_epoll_wait converts.
typedef struct cx_epoll_event {
    uint32_t events;  // CX_EPOLL_* bits
    uint64_t data;    // the value given to cx_epoll_ctl
} cx_epoll_event;

/// epoll event bits, equal to the EPOLL* constants of <sys/epoll.h> (checked in shims.c).
#define CX_EPOLL_IN 0x001u          // EPOLLIN
#define CX_EPOLL_OUT 0x004u         // EPOLLOUT
#define CX_EPOLL_ERR 0x008u         // EPOLLERR
#define CX_EPOLL_HUP 0x010u         // EPOLLHUP
#define CX_EPOLL_RDHUP 0x2000u      // EPOLLRDHUP
#define CX_EPOLL_ET 0x80000000u     // EPOLLET

/// epoll_ctl(2) operations, equal to EPOLL_CTL_ADD, EPOLL_CTL_DEL and EPOLL_CTL_MOD (checked in shims.c).
#define CX_EPOLL_CTL_ADD 1
#define CX_EPOLL_CTL_DEL 2
#define CX_EPOLL_CTL_MOD 3

/// Creates an epoll instance with EPOLL_CLOEXEC (epoll_create1(2)); returns its descriptor or -1 with errno.
/// In C because the Swift Glibc module does not import <sys/epoll.h>.
int cx_epoll_create(void);

/// Adds, modifies or removes (`operation`: CX_EPOLL_CTL_*) the interest of `epoll` in `descriptor`
/// (epoll_ctl(2)). Returns 0 or -1 with errno. In C to build the packed `struct epoll_event`.
int cx_epoll_ctl(int epoll, int operation, int descriptor, uint32_t events, uint64_t data);

/// Waits for at most `capacity` ready descriptors (epoll_wait(2)), storing them into `events`; returns how
/// many, or -1 with errno (EINTR is not retried). `timeout_ms` -1 waits without limit.
/// In C to unpack the kernel's `struct epoll_event` records into cx_epoll_event in one system call.
int cx_epoll_wait(int epoll, cx_epoll_event *events, int capacity, int timeout_ms);

/// Creates an eventfd with a zero counter, EFD_NONBLOCK and EFD_CLOEXEC (eventfd(2)); returns its
/// descriptor or -1 with errno. In C because the Swift Glibc module does not import <sys/eventfd.h>.
int cx_eventfd(void);

// MARK: - Shared-memory ring layout (ShmDataPort)
//
// One POSIX shared-memory segment per data edge: a header of CX_RING_HEADER_SIZE bytes, then the data
// area of `data_capacity` bytes (a power of two). This struct is the only definition of the header;
// the Swift mirror in ShmDataPort (RingLayout) is checked against it by a MemoryLayout test, and
// docs/ring-protocol.md describes who writes which field and with which ordering.
//
// Counters are free-running 64-bit byte and frame counts; an offset in the data area is
// `counter & (data_capacity - 1)`. Every field a process writes often sits on its own 64-byte line so
// that the two sides never write the same line (no false sharing). The lines are made with explicit padding
// rather than `_Alignas(64)`, because Swift does not import over-aligned C records; the segment is mapped at
// a page boundary, and the _Static_asserts below pin every offset.

#define CX_RING_MAGIC 0x474e495258544843ull  // the bytes "CHTXRING" in little-endian order
#define CX_RING_LAYOUT_VERSION 1u
#define CX_RING_HEADER_SIZE 4096u
#define CX_RING_CACHE_LINE 64u
#define CX_RING_MAX_CONSUMERS 16u
#define CX_RING_FRAME_HEADER_SIZE 32u

/// Queue policies (`cx_ring_header.queue_policy`).
#define CX_RING_POLICY_BLOCK 0u
#define CX_RING_POLICY_DROP_OLDEST 1u
#define CX_RING_POLICY_LATEST 2u

/// Consumer slot states (`cx_ring_consumer.state`).
#define CX_RING_SLOT_UNUSED 0u    // beyond consumer_count
#define CX_RING_SLOT_RESERVED 1u  // part of the fan-out, no process attached (not yet, or between restarts)
#define CX_RING_SLOT_ATTACHED 2u  // a process is attached (pid and start_time say which)
#define CX_RING_SLOT_RETIRED 3u   // removed from the fan-out; the producer no longer waits for it

/// Lossy-policy claim word (`cx_ring_consumer.claim`): who may move this consumer's released counters.
/// Any other value is the pid of the consumer process that holds it (it reads borrowed frames), so that a
/// producer freeing the claim of a dead consumer can never free its successor's.
#define CX_RING_CLAIM_FREE 0u
#define CX_RING_CLAIM_PRODUCER 0xFFFFFFFFu  // the producer is dropping this consumer's oldest frames
#define CX_RING_PID_MAX 4194304u            // the largest pid Linux hands out (PID_MAX_LIMIT)

/// Frame kinds (`cx_ring_frame_header.kind`).
#define CX_RING_FRAME_DATA 1u
#define CX_RING_FRAME_PAD 2u  // fills the tail of the data area; a frame never wraps

/// Per-consumer state: two cache lines.
typedef struct cx_ring_consumer {
    // Line A: the consumer's credits, written by the consumer when it releases frames (and, under the
    // lossy policies, by the producer while it holds `claim`); read by the producer when its cached
    // view says the ring is full.
    uint64_t released_bytes;  // byte counter up to which this consumer has released
    uint64_t released_frames;              // data frames released (equals the next sequence number it reads)
    uint64_t drops;                        // frames this consumer lost to drop-oldest or latest
    uint32_t claim;                        // CX_RING_CLAIM_* or a holder's pid; used only by the lossy policies
    uint32_t state;                        // CX_RING_SLOT_*
    uint8_t pad_a[32];
    // Line B: written only by the consumer; read for reports, re-attach and liveness.
    uint64_t read_bytes;  // byte counter up to which frames were handed to the node
    uint64_t read_frames;              // data frames handed to the node
    uint64_t duplicates;               // frames delivered again after a re-attach
    uint64_t attach_count;             // how many times a process attached to this slot
    int32_t pid;                       // the attached process, 0 when none
    uint32_t reserved0;
    uint64_t start_time;  // that process's start time (clock ticks since boot, /proc/PID/stat field 22)
    uint8_t pad_b[16];
} cx_ring_consumer;

/// The ring header: the first CX_RING_HEADER_SIZE bytes of the segment.
typedef struct cx_ring_header {
    // Lines 0-1: identity and configuration, written once by the creator before any peer attaches.
    uint64_t magic;  // CX_RING_MAGIC
    uint32_t layout_version;      // CX_RING_LAYOUT_VERSION
    uint32_t header_size;         // CX_RING_HEADER_SIZE
    uint64_t data_capacity;       // bytes in the data area; a power of two
    uint32_t frame_alignment;     // every frame starts at a multiple of this (8..64, a power of two)
    uint32_t frame_header_size;   // CX_RING_FRAME_HEADER_SIZE
    uint32_t consumer_count;      // fan-out: slots [0, consumer_count) are in use
    uint32_t queue_policy;        // CX_RING_POLICY_*
    uint64_t frame_capacity;      // credits in frames: at most this many frames unreleased by a consumer
    uint64_t high_watermark;      // bytes in use at which the producer stops (<= data_capacity)
    uint64_t low_watermark;       // bytes in use at which a stopped producer is woken again
    int32_t owner_pid;            // the process that created the segment (the coordinator)
    uint32_t reserved0;
    uint64_t owner_start_time;    // its start time (clock ticks since boot)
    uint64_t created_realtime_ns; // CLOCK_REALTIME at creation, for `chronetix gc` reports
    uint8_t pad_identity[40];

    // Line 2: the producer's published write counter, the one field consumers read on their hot path.
    uint64_t write_bytes;   // bytes committed (frames before it are visible to consumers)
    uint64_t write_frames;  // data frames committed (written just before write_bytes)
    uint8_t pad_write[48];

    // Line 3: producer identity and end of stream; written rarely.
    uint64_t generation;  // bumped each time a producer attaches (1 for the first)
    int32_t producer_pid;              // 0 when no producer is attached
    uint32_t closed;                   // 1 once the producer closed the stream (end of stream after draining)
    uint64_t producer_start_time;
    uint8_t pad_producer[40];

    // Line 4: "data available": consumers sleep on data_futex; the producer wakes them after publishing,
    // only if consumers_waiting says someone sleeps.
    uint32_t data_futex;
    uint32_t consumers_waiting;
    uint8_t pad_data[56];

    // Line 5: "space available": the producer sleeps on space_futex; a consumer that releases wakes it
    // only if producer_waiting is set and its own released counters have reached the wake-at marks.
    uint32_t space_futex;
    uint32_t producer_waiting;
    uint64_t wake_at_bytes;   // written by the producer before it sets producer_waiting
    uint64_t wake_at_frames;
    uint8_t pad_space[40];

    // Lines 6-37: the consumers.
    cx_ring_consumer consumers[CX_RING_MAX_CONSUMERS];
} cx_ring_header;

/// The fixed header of every frame in the data area; the payload follows it.
typedef struct cx_ring_frame_header {
    uint32_t length;       // payload bytes (for a PAD frame: the bytes it skips after its header)
    uint8_t kind;          // CX_RING_FRAME_*
    uint8_t priority;      // QoS class, 0..3
    uint8_t flags;         // reserved for the runtime; 0 today
    uint8_t content_type;  // content-type id (ContentType.wireIdentifier)
    uint64_t sequence;     // data frames are numbered from 0 without gaps by the producer
    int64_t timestamp_ns;  // CLOCK_MONOTONIC when the frame was made, 0 when not stamped
    int64_t deadline_ns;   // CLOCK_MONOTONIC deadline, 0 when none
} cx_ring_frame_header;

_Static_assert(sizeof(cx_ring_consumer) == 128, "a consumer slot is two cache lines");
_Static_assert(offsetof(cx_ring_consumer, released_bytes) == 0, "consumer line A");
_Static_assert(offsetof(cx_ring_consumer, released_frames) == 8, "consumer line A");
_Static_assert(offsetof(cx_ring_consumer, drops) == 16, "consumer line A");
_Static_assert(offsetof(cx_ring_consumer, claim) == 24, "consumer line A");
_Static_assert(offsetof(cx_ring_consumer, state) == 28, "consumer line A");
_Static_assert(offsetof(cx_ring_consumer, read_bytes) == 64, "consumer line B");
_Static_assert(offsetof(cx_ring_consumer, read_frames) == 72, "consumer line B");
_Static_assert(offsetof(cx_ring_consumer, duplicates) == 80, "consumer line B");
_Static_assert(offsetof(cx_ring_consumer, attach_count) == 88, "consumer line B");
_Static_assert(offsetof(cx_ring_consumer, pid) == 96, "consumer line B");
_Static_assert(offsetof(cx_ring_consumer, start_time) == 104, "consumer line B");

_Static_assert(offsetof(cx_ring_header, magic) == 0, "identity");
_Static_assert(offsetof(cx_ring_header, layout_version) == 8, "identity");
_Static_assert(offsetof(cx_ring_header, header_size) == 12, "identity");
_Static_assert(offsetof(cx_ring_header, data_capacity) == 16, "identity");
_Static_assert(offsetof(cx_ring_header, frame_alignment) == 24, "identity");
_Static_assert(offsetof(cx_ring_header, frame_header_size) == 28, "identity");
_Static_assert(offsetof(cx_ring_header, consumer_count) == 32, "identity");
_Static_assert(offsetof(cx_ring_header, queue_policy) == 36, "identity");
_Static_assert(offsetof(cx_ring_header, frame_capacity) == 40, "identity");
_Static_assert(offsetof(cx_ring_header, high_watermark) == 48, "identity");
_Static_assert(offsetof(cx_ring_header, low_watermark) == 56, "identity");
_Static_assert(offsetof(cx_ring_header, owner_pid) == 64, "identity");
_Static_assert(offsetof(cx_ring_header, owner_start_time) == 72, "identity");
_Static_assert(offsetof(cx_ring_header, created_realtime_ns) == 80, "identity");
_Static_assert(offsetof(cx_ring_header, write_bytes) == 128, "producer line");
_Static_assert(offsetof(cx_ring_header, write_frames) == 136, "producer line");
_Static_assert(offsetof(cx_ring_header, generation) == 192, "producer identity line");
_Static_assert(offsetof(cx_ring_header, producer_pid) == 200, "producer identity line");
_Static_assert(offsetof(cx_ring_header, closed) == 204, "producer identity line");
_Static_assert(offsetof(cx_ring_header, producer_start_time) == 208, "producer identity line");
_Static_assert(offsetof(cx_ring_header, data_futex) == 256, "data-available line");
_Static_assert(offsetof(cx_ring_header, consumers_waiting) == 260, "data-available line");
_Static_assert(offsetof(cx_ring_header, space_futex) == 320, "space-available line");
_Static_assert(offsetof(cx_ring_header, producer_waiting) == 324, "space-available line");
_Static_assert(offsetof(cx_ring_header, wake_at_bytes) == 328, "space-available line");
_Static_assert(offsetof(cx_ring_header, wake_at_frames) == 336, "space-available line");
_Static_assert(offsetof(cx_ring_header, consumers) == 384, "consumer slots");
_Static_assert(sizeof(cx_ring_header) == 384 + 128 * CX_RING_MAX_CONSUMERS, "header size");
_Static_assert(sizeof(cx_ring_header) <= CX_RING_HEADER_SIZE, "the header fits in its page");

_Static_assert(sizeof(cx_ring_frame_header) == CX_RING_FRAME_HEADER_SIZE, "frame header size");
_Static_assert(offsetof(cx_ring_frame_header, length) == 0, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, kind) == 4, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, priority) == 5, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, flags) == 6, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, content_type) == 7, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, sequence) == 8, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, timestamp_ns) == 16, "frame header");
_Static_assert(offsetof(cx_ring_frame_header, deadline_ns) == 24, "frame header");

#pragma clang assume_nonnull end

#endif
