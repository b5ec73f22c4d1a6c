#define _GNU_SOURCE
#include "child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// What the child needs to exec, and where it leaves the errno of a step that failed.
struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    int directory_fd;
    int stdout_fd;
    int stderr_fd;
    int error;
};

/// `descriptor` as `target` in the child, without close-on-exec.
static int child_install(int descriptor, int target) {
    if (descriptor != target) return dup2(descriptor, target) < 0 ? -1 : 0;
    int flags = fcntl(descriptor, F_GETFD);
    return flags < 0 ? -1 : fcntl(descriptor, F_SETFD, flags & ~FD_CLOEXEC);
}

/// Closes every descriptor from `first` up, in the child: close_range (Linux 5.9), else what /proc/self/fd
/// lists (read with getdents64 into a buffer on the stack, as glibc's closefrom does). Returns 0, or -1 with
/// errno when neither is possible.
static int close_descriptors_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, first, ~0U, 0) == 0) return 0;
#endif
    int directory = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) return -1;
    char entries[1024] __attribute__((aligned(8)));
    while (1) {
        long size = syscall(SYS_getdents64, directory, entries, sizeof(entries));
        if (size < 0) {
            close(directory);
            return -1;
        }
        if (size == 0) break;
        for (long offset = 0; offset < size;) {
            struct {
                uint64_t inode;
                int64_t next;
                unsigned short length;
                unsigned char type;
                char name[];
            } *entry = (void *)(entries + offset);
            offset += entry->length;
            int descriptor = 0;
            const char *digit = entry->name;
            if (*digit < '0' || *digit > '9') continue;
            for (; *digit >= '0' && *digit <= '9'; digit++) descriptor = descriptor * 10 + (*digit - '0');
            // Closing while listing: the directory's own descriptor stays, the listing goes on from its offset.
            if (descriptor >= first && descriptor != directory) close(descriptor);
        }
    }
    close(directory);
    return 0;
}

/// The child, on its own small stack in the runner's memory while the runner's thread waits for its exec:
/// only system calls here, no allocation and no lock.
static int spawn_child(void *argument) {
    struct spawn_request *request = argument;
    // Signals 1 to 31 back to their default actions (the runner ignores some, and an ignored signal stays
    // ignored across exec; a caught one must not run the runner's handler here). All are blocked until then.
    // The real-time ones above keep their handlers (glibc's own two among them) until the exec resets them:
    // they are only ever sent to a chosen process, and this one is brand new and in a session of its own by
    // the time they are unblocked, just before the exec.
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < 32; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) (void)sigaction(signal, &action, NULL);
    }
    if (setsid() < 0) goto failed;
    // The working directory first, while its descriptor is still open; the output pipes before stdin, so
    // that a pipe that happens to be descriptor 0 is copied before /dev/null replaces it.
    if (request->directory_fd >= 0 && fchdir(request->directory_fd) != 0) goto failed;
    if (child_install(request->stdout_fd, STDOUT_FILENO) != 0) goto failed;
    if (child_install(request->stderr_fd, STDERR_FILENO) != 0) goto failed;
    int null = open("/dev/null", O_RDONLY);
    if (null < 0) goto failed;
    if (null != STDIN_FILENO) {
        if (dup2(null, STDIN_FILENO) < 0) goto failed;
        close(null);
    }
    if (close_descriptors_from(STDERR_FILENO + 1) != 0) goto failed;
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
    execve(request->path, request->argv, request->envp);
failed:
    request->error = errno ? errno : ECHILD;
    _exit(127);
}

/// What glibc's posix_spawn does, less: it blocks every signal, SIGCHLD too, while it waits for the child's
/// exec, and under load the spawning thread spends much of its time there, so the exits of other children
/// were kept pending and each woke a thread of the runner; it also maps and unmaps a stack per child and
/// checks each file action against the descriptor limit.
int cr_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int directory_fd,
             int stdout_fd, int stderr_fd) {
    struct spawn_request request = {path, argv, envp, directory_fd, stdout_fd, stderr_fd, 0};
    // The child shares this memory until its exec (CLONE_VM | CLONE_VFORK: nothing is copied, and this
    // thread waits meanwhile); its stack is this array, in this thread's frame.
    char stack[32 * 1024] __attribute__((aligned(16)));
    // Every signal blocked (raw, so glibc's own two as well) until the child has reset their handlers, but
    // SIGCHLD at its default action: no handler of the runner's can run for it, and left unblocked here
    // the exit of another child while this one starts is dropped as it is raised, rather than kept pending
    // until it wakes some other thread of the runner just to be discarded.
    uint64_t blocked = ~(uint64_t)0, previous = 0;
    struct sigaction child_signal;
    if (sigaction(SIGCHLD, NULL, &child_signal) == 0 && child_signal.sa_handler == SIG_DFL)
        blocked &= ~((uint64_t)1 << (SIGCHLD - 1));
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &blocked, &previous, sizeof(blocked));
    int child = clone(spawn_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int code = child < 0 ? errno : request.error;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &previous, NULL, sizeof(previous));
    if (child < 0) return code;
    if (code != 0) {
        // It failed before its exec and has exited: reap it.
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
        return code;
    }
    *pid = child;
    return 0;
}

void cr_unblock_child_signal(void) {
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    (void)pthread_sigmask(SIG_UNBLOCK, &child, NULL);
}

int cr_output_pipe(int descriptors[2]) {
    if (pipe2(descriptors, O_CLOEXEC) != 0) return -1;
    int flags = fcntl(descriptors[0], F_GETFL);
    if (flags < 0 || fcntl(descriptors[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        int code = errno;
        close(descriptors[0]);
        close(descriptors[1]);
        errno = code;
        return -1;
    }
    return 0;
}

int cr_open_directory(const char *path) { return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC); }

int cr_find_executable(const char *name, const char *search_path, char *found, size_t capacity) {
    size_t name_length = strlen(name);
    const char *entry = search_path;
    while (1) {
        const char *end = strchr(entry, ':');
        size_t length = end ? (size_t)(end - entry) : strlen(entry);
        // An empty entry is the current directory, as execvp takes it.
        size_t needed = (length ? length + 1 : 0) + name_length + 1;
        if (needed <= capacity) {
            if (length) {
                memcpy(found, entry, length);
                found[length] = '/';
                memcpy(found + length + 1, name, name_length + 1);
            } else {
                memcpy(found, name, name_length + 1);
            }
            struct stat info;
            if (access(found, X_OK) == 0 && stat(found, &info) == 0 && S_ISREG(info.st_mode)) return 0;
        }
        if (!end) return -1;
        entry = end + 1;
    }
}

void cr_name_thread(const char *name) { (void)pthread_setname_np(pthread_self(), name); }

char **cr_environment(void) { return environ; }

int cr_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int cr_has_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int result;
    do {
        result = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (result != 0 && errno == EINTR);
    if (result != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

int cr_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cr_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

static int epoll_control(int epoll_fd, int operation, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epoll_fd, operation, fd, &event);
}

int cr_epoll_add(int epoll_fd, int fd, uint32_t events, uint64_t data) {
    return epoll_control(epoll_fd, EPOLL_CTL_ADD, fd, events, data);
}

int cr_epoll_modify(int epoll_fd, int fd, uint32_t events, uint64_t data) {
    return epoll_control(epoll_fd, EPOLL_CTL_MOD, fd, events, data);
}

int cr_epoll_delete(int epoll_fd, int fd) { return epoll_control(epoll_fd, EPOLL_CTL_DEL, fd, 0, 0); }

int cr_epoll_wait(int epoll_fd, uint64_t *data, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event ready[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epoll_fd, ready, capacity, timeout_ms);
    if (count < 0 && errno == EINTR) return 0;
    for (int i = 0; i < count; i++) {
        data[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}
