#ifndef OPSH_CSYS_H
#define OPSH_CSYS_H
#include <spawn.h>
#include <sys/types.h>

/* Linux calls Glibc's Swift module does not show (they need _GNU_SOURCE or are variadic). */

/* memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING): an anonymous in-memory file. */
int opsh_memfd(const char *name);
/* Gives a memfd a fixed size and seals it against growing or shrinking: writes past `size`
   fail, so a runaway writer cannot fill memory. */
int opsh_memfd_cap(int fd, long long size);
/* pidfd_open(pid, 0): an fd that becomes readable when the process exits (-1 before Linux 5.3). */
int opsh_pidfd_open(pid_t pid);
/* posix_spawn_file_actions_addchdir_np (glibc 2.29). */
int opsh_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *dir);

#endif
