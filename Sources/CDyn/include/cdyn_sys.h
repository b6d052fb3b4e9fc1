/*
 * Small system-call wrappers for the EventLoop target: Glibc's Swift module does not export
 * <sys/epoll.h> / <sys/eventfd.h>, and struct epoll_event is packed on x86_64.
 */
#ifndef OPSH_CDYN_SYS_H
#define OPSH_CDYN_SYS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* epoll_create1(EPOLL_CLOEXEC); -1 and errno on failure. */
int opsh_epoll_create(void);
/* epoll_ctl(epfd, op, fd, {events, data.u64 = data}); op: 1 ADD, 2 DEL, 3 MOD. */
int opsh_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/* epoll_wait into parallel arrays of at most `max` entries (max <= 256). */
int opsh_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);
/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int opsh_eventfd(void);
/* syncfs(fd): one flush of the filesystem holding fd (the archive engine's durability pass). */
int opsh_syncfs(int fd);
/* lseek(fd, off, SEEK_DATA / SEEK_HOLE): sparse files; -1 and errno (ENXIO past the last data). */
long long opsh_seek_data(int fd, long long off);
long long opsh_seek_hole(int fd, long long off);

/* renameat2(RENAME_EXCHANGE): swaps two paths atomically (restore's staging swap). */
int opsh_rename_exchange(const char *a, const char *b);

/* The calling thread's errno (for callers that cannot read it reliably). */
int opsh_errno(void);
/* sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE): starts writeback, does not wait
   (a GNU extension that Glibc's Swift module does not show). */
int opsh_start_writeback(int fd, int64_t offset, int64_t count);

#ifdef __cplusplus
}
#endif
#endif
