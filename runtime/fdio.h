/* Plain descriptors under stream conns: pipes, FIFOs, terminals and
 * character devices, read with read(2) and written with write(2) where
 * sockets use recv/send. No Lua here: >= 0 or -errno, EINTR retried. */
#ifndef LUDS_FDIO_H
#define LUDS_FDIO_H

#include <stddef.h>
#include <sys/types.h>

enum fdio_type { FDIO_SOCKET, FDIO_PIPE, FDIO_TTY, FDIO_CHAR, FDIO_FILE, FDIO_OTHER };

typedef struct fdio_kind {
  int type; /* fdio_type: FDIO_PIPE covers FIFOs; FDIO_FILE regular files and directories */
  int readable, writable; /* the access mode of its open file description */
  int nonblock;           /* O_NONBLOCK was already set */
} fdio_kind;

/* What fd is, changing nothing; -EBADF. */
int fdio_kind_of(int fd, fdio_kind *k);
/* Sets O_NONBLOCK (on the open file description, which every process
 * sharing it sees) and FD_CLOEXEC. */
int fdio_adopt(int fd);
/* Clears O_NONBLOCK (a wrapped descriptor that was blocking; a socket
 * handed to a child). */
void fdio_set_blocking(int fd);
/* A new open file description of what fd refers to (a pipe, FIFO or
 * terminal, through /proc/self/fd), NONBLOCK|CLOEXEC|NOCTTY, opened for
 * reading or writing; -ENXIO for a socket, -errno otherwise. */
int fdio_reopen(int fd, int writing);
/* A CLOEXEC duplicate of fd, numbered 3 or more. */
int fdio_dup(int fd);
ssize_t fdio_read(int fd, void *buf, size_t n);
/* A write to a pipe nobody reads fails with -EPIPE: the runtime catches
 * SIGPIPE (see loop.c), so the signal never ends the process. */
ssize_t fdio_write(int fd, const void *buf, size_t n);

#endif
