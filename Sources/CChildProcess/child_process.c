#define _GNU_SOURCE
#include "child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int cr_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int directory_fd,
             int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    // The working directory first, while its descriptor is still open in the child; the output pipes
    // before stdin, so that a pipe that happens to be descriptor 0 is copied before /dev/null replaces it.
    if (directory_fd >= 0) rc = posix_spawn_file_actions_addfchdir_np(&actions, directory_fd);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);

    // Signals 1 to 31 back to their default actions (the runner ignores some, and an ignored signal stays
    // ignored across exec); glibc keeps the real-time ones above them for itself. Each one is a system call
    // in the child while the runner's thread waits for its exec, so not all 64.
    sigset_t none, standard;
    sigemptyset(&none);
    sigemptyset(&standard);
    for (int signal = 1; signal < 32; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) sigaddset(&standard, signal);
    }
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &standard);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attributes, argv, envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
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
