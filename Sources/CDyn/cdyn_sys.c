#define _GNU_SOURCE
#include "cdyn_sys.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdio.h>
#include <fcntl.h>

int opsh_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int opsh_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int opsh_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    if (max < 1) max = 1;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        datas[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

int opsh_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int opsh_errno(void) { return errno; }

int opsh_start_writeback(int fd, int64_t offset, int64_t count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE);
}
int opsh_syncfs(int fd) { return syncfs(fd); }
long long opsh_seek_data(int fd, long long off) { return (long long)lseek(fd, (off_t)off, SEEK_DATA); }
long long opsh_seek_hole(int fd, long long off) { return (long long)lseek(fd, (off_t)off, SEEK_HOLE); }
int opsh_rename_exchange(const char *a, const char *b) { return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE); }
