#define _GNU_SOURCE
#include "csys.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>

int opsh_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }
int opsh_memfd_cap(int fd, long long size) {
    if (ftruncate(fd, (off_t)size) != 0) return -1;
    return fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
}
int opsh_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int opsh_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *dir) {
    return posix_spawn_file_actions_addchdir_np(actions, dir);
}
