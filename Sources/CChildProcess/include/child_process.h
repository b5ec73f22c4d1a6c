#ifndef CLAUDE_RUNNER_CHILD_PROCESS_H
#define CLAUDE_RUNNER_CHILD_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (clone with CLONE_VM | CLONE_VFORK: no copy of the runner's address
/// space): in a new session (so a new process group), stdin `/dev/null`, stdout and stderr on the given
/// descriptors, in the directory `directory_fd` when it is not -1, every other descriptor closed, no signal
/// blocked and signals 1–31 at their default action. Returns 0, or the errno of the failure (a child that
/// failed before its exec is reaped).
int cr_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int directory_fd,
             int stdout_fd, int stderr_fd);

/// Unblocks SIGCHLD in the calling thread, the one that starts every child (with ``cr_spawn``). A child's
/// exit signals its parent thread's process; when that thread blocks the signal (as the thread it was
/// created from does), the kernel keeps it pending and wakes another thread of the runner only to discard
/// it. Unblocked there, and at its default action, it is dropped as it is raised. Exits are watched through
/// pidfds and waitpid, never through the signal.
void cr_unblock_child_signal(void);

/// A pipe for a child's output, both ends close-on-exec, the runner's (read) end non-blocking: 0 or -1 with errno.
int cr_output_pipe(int descriptors[2]);

/// A descriptor of the directory `path` for the child's fchdir (O_PATH: search permission is enough).
int cr_open_directory(const char *path);

/// Looks `name` up in the colon-separated `search_path` as execvp does (an empty entry is the current
/// directory): writes the first executable regular file's path into `found`; 0, or -1 when there is none.
int cr_find_executable(const char *name, const char *search_path, char *found, size_t capacity);

/// Names the calling thread for the kernel (`top -H`, `perf`); at most 15 characters are kept.
void cr_name_thread(const char *name);

/// The runner's own environment (`environ`), for building a child's.
char **cr_environment(void);

/// A descriptor that becomes readable when `pid` exits (pidfd_open); -1 with errno when the kernel has none.
int cr_pidfd_open(pid_t pid);

/// Whether child `pid` has exited, without reaping it (its pid and group id stay taken): 1 yes, 0 not yet,
/// -1 with errno (ECHILD: it is not a child of ours to wait for, or someone else reaped it).
int cr_has_exited(pid_t pid);

/// epoll_create1 and eventfd (non-blocking), both close-on-exec.
int cr_epoll_create(void);
int cr_eventfd(void);

/// epoll without the packed `struct epoll_event` Swift cannot lay out: 0 or -1 with errno.
int cr_epoll_add(int epoll_fd, int fd, uint32_t events, uint64_t data);
int cr_epoll_modify(int epoll_fd, int fd, uint32_t events, uint64_t data);
int cr_epoll_delete(int epoll_fd, int fd);

/// Waits up to `timeout_ms` (-1: for ever) for events; fills `data` and `events`; returns how many (0 when a signal interrupted the wait), or -1.
int cr_epoll_wait(int epoll_fd, uint64_t *data, uint32_t *events, int capacity, int timeout_ms);

#endif
