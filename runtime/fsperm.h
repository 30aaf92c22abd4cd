/* OS layer for file permissions and identities: mode parsing, lstat summaries,
 * chmod/chown, passwd/group lookups, binding Unix sockets with their mode and
 * owner and no path-based window, and removal of stale socket files. Includes
 * no Lua header; every int function returns >= 0 on success or -errno on
 * failure and retries EINTR itself. */
#ifndef LUDS_FSPERM_H
#define LUDS_FSPERM_H

#include <stddef.h>
#include <sys/socket.h>

enum fsperm_type {
  FSPERM_UNKNOWN = 0,
  FSPERM_SOCKET,
  FSPERM_FILE,
  FSPERM_DIRECTORY,
  FSPERM_SYMLINK,
  FSPERM_FIFO,
  FSPERM_CHAR,
  FSPERM_BLOCK,
};

struct fsperm_stat {
  int type;      /* enum fsperm_type */
  unsigned mode; /* st_mode & 07777 (permission + suid/sgid/sticky) */
  long long uid, gid;
  unsigned long long dev, ino;
  long long size;
};

/* Strings and the members array point into buf_, which the *_free call
 * releases. Structs are zeroed on failure, so freeing them is always safe. */
struct fsperm_user {
  long long uid, gid;
  char *name, *home, *shell;
  char *buf_;
};

struct fsperm_group {
  long long gid;
  char *name;
  char **members; /* nmembers names then NULL; NULL if backend has none */
  size_t nmembers;
  char *buf_;
};

/* Parses 1-4 octal digits ("660", "0660") worth at most 0777 into *mode.
 * Anything else (signs, spaces, "0o", suid/sgid/sticky bits) is -EINVAL. */
int fsperm_parse_mode(const char *s, unsigned *mode);

/* 0 iff 0 <= mode <= 0777, else -EINVAL. */
int fsperm_check_mode(long long mode);

/* lstat(path) summarised into *st; a symlink is reported as itself. */
int fsperm_stat(const char *path, struct fsperm_stat *st);

/* "socket", "file", "directory", "symlink", "fifo", "char", "block" or
 * "unknown" (also for out-of-range values); never NULL, static storage. */
const char *fsperm_type_name(int type);

/* chmod(2), following symlinks; mode above 0777 is -EINVAL. */
int fsperm_chmod(const char *path, unsigned mode);

/* chown(2), following symlinks like Go's os.Chown. An id of -1 keeps the
 * current one; ids below -1 or above UINT32_MAX-1 are -EINVAL. */
int fsperm_chown(const char *path, long long uid, long long gid);

/* passwd entry by name or uid; -ENOENT when there is none, -EINVAL for a
 * NULL name or an id outside 0..UINT32_MAX-1. */
int fsperm_lookup_user_name(const char *name, struct fsperm_user *u);
int fsperm_lookup_user_id(long long uid, struct fsperm_user *u);
void fsperm_user_free(struct fsperm_user *u);

/* group entry by name or gid; same conventions as the user lookups. */
int fsperm_lookup_group_name(const char *name, struct fsperm_group *g);
int fsperm_lookup_group_id(long long gid, struct fsperm_group *g);
void fsperm_group_free(struct fsperm_group *g);

/* Primary gid plus every supplementary group of user `name` (getgrouplist;
 * an unknown user yields just `gid`). *gids is malloc'd: caller free()s it. */
int fsperm_user_groups(const char *name, long long gid, long long **gids, size_t *n);

/* bind(fd, sa, len) creating socket file `path` that is never more open than
 * asked, and changed, if at all, only through a checked handle, never by
 * path (fsperm.c says why). mode 0..0777 alone: the file is born with
 * exactly `mode`. With uid or gid not -1: born 0 (mode >= 0) or under the
 * process umask (mode < 0), then chowned, then given `mode`. Before any
 * change the file must pass fsperm_check_bound; if it does not (something
 * was swapped in, or the name is gone) it is left alone and the result is
 * -EEXIST, which bind itself never returns for AF_UNIX. A failure after the
 * check removes the file only while it still is the socket checked. path
 * NULL (abstract address) allows only mode < 0 and uid = gid = -1. When st
 * is not NULL and path is set, *st describes the file on success: from the
 * checked handle, or, when nothing was asked, from lstat(path). Swaps the
 * process-wide umask briefly: meant for a runtime whose only other threads
 * (workpool.c: getaddrinfo, NSS lookups) create no files. */
int fsperm_bind_unix(int fd, const struct sockaddr *sa, socklen_t len, const char *path, long mode,
                     long long uid, long long gid, struct fsperm_stat *st);

/* 0 if O_PATH handle fd, opened without following from directory handle dir,
 * is what a bind there has just created: a socket, owned by the effective
 * uid, with one link, on dir's device, with no mode bit outside `limit`.
 * Fills *st then. -EEXIST if not (the file was replaced), -errno if fstat
 * fails. */
int fsperm_check_bound(int dir, int fd, unsigned limit, struct fsperm_stat *st);

/* Removes `path` if it is a socket nobody listens on (connect refused for
 * stream, then seqpacket, then dgram), returning 0. -EADDRINUSE: alive (kept).
 * -ENOTSOCK: exists but is not a socket, symlinks included (kept). -ENOENT:
 * missing. -ENAMETOOLONG: does not fit sun_path. A bound but not yet
 * listening stream socket counts as stale: connect cannot tell them apart. */
int fsperm_remove_stale(const char *path);

/* 1 if lstat(path) is a socket with this dev/ino, 0 if not, -errno on error.
 * Lets an owner check the path still is its socket before unlinking it. */
int fsperm_same_file(const char *path, unsigned long long dev, unsigned long long ino);

/* Unlinks path only while fsperm_same_file says it is still this socket:
 * 1 when removed, 0 when the file is another one (left alone), or -errno. */
int fsperm_remove_own(const char *path, unsigned long long dev, unsigned long long ino);

#endif
