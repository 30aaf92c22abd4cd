/* Plain descriptors: what a descriptor is (fstat, isatty, its access mode),
 * making it fit for the loop, a fresh open file description of a pipe or
 * terminal so that O_NONBLOCK stays off the one other processes share, and
 * read/write. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static int type_of(int fd, const struct stat *st) {
  struct termios t;
  if (S_ISSOCK(st->st_mode))
    return FDIO_SOCKET;
  if (S_ISFIFO(st->st_mode))
    return FDIO_PIPE;
  if (S_ISCHR(st->st_mode))
    return tcgetattr(fd, &t) == 0 ? FDIO_TTY : FDIO_CHAR;
  if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))
    return FDIO_FILE;
  return FDIO_OTHER;
}

int fdio_kind_of(int fd, fdio_kind *k) {
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fstat(fd, &st) < 0)
    return -errno;
  k->type = type_of(fd, &st);
  k->readable = (fl & O_ACCMODE) != O_WRONLY;
  k->writable = (fl & O_ACCMODE) != O_RDONLY;
  k->nonblock = (fl & O_NONBLOCK) != 0;
  return 0;
}

int fdio_adopt(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

void fdio_set_blocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* O_NONBLOCK also keeps the open itself from waiting: a FIFO opened for
 * writing with no reader fails with ENXIO instead of blocking. */
int fdio_reopen(int fd, int writing) {
  char path[32];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int r, flags = (writing ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  do
    r = open(path, flags);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int fdio_dup(int fd) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return r < 0 ? -errno : r;
}

ssize_t fdio_read(int fd, void *buf, size_t n) {
  ssize_t r;
  do
    r = read(fd, buf, n);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

ssize_t fdio_write(int fd, const void *buf, size_t n) {
  ssize_t r;
  do
    r = write(fd, buf, n);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}
