/* OS layer for file permissions and identities: validates modes and ids,
 * wraps lstat/chmod/chown, runs the reentrant passwd/group lookups with
 * growing buffers, binds Unix sockets with their mode and owner and no
 * path-based window, and removes stale socket files. See fsperm.h for the
 * contracts. */
#include "fsperm.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LOOKUP_BUF_MIN 1024
#define LOOKUP_BUF_MAX (1024 * 1024)
#define GROUPS_START 32
#define GROUPS_CAP 65536 /* Linux NGROUPS_MAX */

#define RETRY_EINTR(rc, call)                                                                      \
  do {                                                                                             \
    (rc) = (call);                                                                                 \
  } while ((rc) < 0 && errno == EINTR)

_Static_assert(sizeof(uid_t) == sizeof(gid_t), "uid_t and gid_t differ");

/* Selects a passwd/group entry: by name when name is set, else by id. */
struct key {
  const char *name;
  unsigned id;
};

/* Fills the entry at ent from buf; sets *found; returns 0 or an errno value. */
typedef int (*fill_fn)(const struct key *k, void *ent, char *buf, size_t len, bool *found);

int fsperm_parse_mode(const char *s, unsigned *mode) {
  size_t n = s ? strnlen(s, 5) : 0;
  unsigned v = 0;

  if (n == 0 || n > 4 || !mode)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '7')
      return -EINVAL;
    v = v * 8 + (unsigned)(s[i] - '0');
  }
  if (v > 0777)
    return -EINVAL;
  *mode = v;
  return 0;
}

int fsperm_check_mode(long long mode) { return mode >= 0 && mode <= 0777 ? 0 : -EINVAL; }

/* (uid_t)-1 is the kernel's "no change" value, so it is never a real id. */
static bool id_ok(long long id, bool keep_allowed) {
  const long long max = (long long)(uid_t)-1 - 1;

  return (id >= 0 && id <= max) || (keep_allowed && id == -1);
}

static int type_of(mode_t m) {
  switch (m & S_IFMT) {
  case S_IFSOCK:
    return FSPERM_SOCKET;
  case S_IFREG:
    return FSPERM_FILE;
  case S_IFDIR:
    return FSPERM_DIRECTORY;
  case S_IFLNK:
    return FSPERM_SYMLINK;
  case S_IFIFO:
    return FSPERM_FIFO;
  case S_IFCHR:
    return FSPERM_CHAR;
  case S_IFBLK:
    return FSPERM_BLOCK;
  default:
    return FSPERM_UNKNOWN;
  }
}

const char *fsperm_type_name(int type) {
  static const char *const names[] = {
      "unknown", "socket", "file", "directory", "symlink", "fifo", "char", "block",
  };

  if (type < 0 || (size_t)type >= sizeof names / sizeof names[0])
    return names[FSPERM_UNKNOWN];
  return names[type];
}

static int lstat_retry(const char *path, struct stat *sb) {
  int rc;

  RETRY_EINTR(rc, lstat(path, sb));
  return rc < 0 ? -errno : 0;
}

static void summarise(const struct stat *sb, struct fsperm_stat *st) {
  st->type = type_of(sb->st_mode);
  st->mode = (unsigned)(sb->st_mode & 07777);
  st->uid = sb->st_uid;
  st->gid = sb->st_gid;
  st->dev = sb->st_dev;
  st->ino = sb->st_ino;
  st->size = sb->st_size;
}

int fsperm_stat(const char *path, struct fsperm_stat *st) {
  struct stat sb;
  int rc = lstat_retry(path, &sb);

  if (rc < 0)
    return rc;
  summarise(&sb, st);
  return 0;
}

int fsperm_chmod(const char *path, unsigned mode) {
  int rc;

  if (mode > 0777)
    return -EINVAL;
  RETRY_EINTR(rc, chmod(path, (mode_t)mode));
  return rc < 0 ? -errno : 0;
}

int fsperm_chown(const char *path, long long uid, long long gid) {
  int rc;

  if (!id_ok(uid, true) || !id_ok(gid, true))
    return -EINVAL;
  RETRY_EINTR(rc, chown(path, (uid_t)uid, (gid_t)gid));
  return rc < 0 ? -errno : 0;
}

static size_t lookup_start_len(int sysconf_name) {
  long hint = sysconf(sysconf_name);

  if (hint < LOOKUP_BUF_MIN || hint > LOOKUP_BUF_MAX)
    return LOOKUP_BUF_MIN;
  return (size_t)hint;
}

/* The _r calls report "no such entry" as 0 with a NULL result, or, in some
 * NSS backends, as ENOENT or ESRCH. */
static int lookup_error(int err) {
  if (err == 0 || err == ENOENT || err == ESRCH)
    return -ENOENT;
  return -err;
}

/* Runs fill with a heap buffer doubled on ERANGE up to LOOKUP_BUF_MAX; on
 * success the entry's strings live in *bufp, which the caller owns. */
static int fetch(fill_fn fill, const struct key *k, void *ent, int sc_name, char **bufp) {
  size_t len = lookup_start_len(sc_name);

  for (;;) {
    char *buf = malloc(len);
    bool found = false;
    int err;

    if (!buf)
      return -ENOMEM;
    err = fill(k, ent, buf, len, &found);
    if (err == 0 && found) {
      *bufp = buf;
      return 0;
    }
    free(buf);
    if (err == ERANGE && len < LOOKUP_BUF_MAX)
      len *= 2;
    else if (err != EINTR)
      return lookup_error(err);
  }
}

static int pw_fill(const struct key *k, void *ent, char *buf, size_t len, bool *found) {
  struct passwd *res = NULL;
  int err = k->name ? getpwnam_r(k->name, ent, buf, len, &res)
                    : getpwuid_r((uid_t)k->id, ent, buf, len, &res);

  *found = res != NULL;
  return err;
}

static int gr_fill(const struct key *k, void *ent, char *buf, size_t len, bool *found) {
  struct group *res = NULL;
  int err = k->name ? getgrnam_r(k->name, ent, buf, len, &res)
                    : getgrgid_r((gid_t)k->id, ent, buf, len, &res);

  *found = res != NULL;
  return err;
}

static int user_fetch(const struct key *k, struct fsperm_user *u) {
  struct passwd pw;
  int rc = fetch(pw_fill, k, &pw, _SC_GETPW_R_SIZE_MAX, &u->buf_);

  if (rc < 0)
    return rc;
  u->uid = pw.pw_uid;
  u->gid = pw.pw_gid;
  u->name = pw.pw_name;
  u->home = pw.pw_dir;
  u->shell = pw.pw_shell;
  return 0;
}

int fsperm_lookup_user_name(const char *name, struct fsperm_user *u) {
  const struct key k = {name, 0};

  memset(u, 0, sizeof *u);
  return name ? user_fetch(&k, u) : -EINVAL;
}

int fsperm_lookup_user_id(long long uid, struct fsperm_user *u) {
  const struct key k = {NULL, (unsigned)uid};

  memset(u, 0, sizeof *u);
  return id_ok(uid, false) ? user_fetch(&k, u) : -EINVAL;
}

void fsperm_user_free(struct fsperm_user *u) {
  free(u->buf_);
  memset(u, 0, sizeof *u);
}

static int group_fetch(const struct key *k, struct fsperm_group *g) {
  struct group gr;
  int rc = fetch(gr_fill, k, &gr, _SC_GETGR_R_SIZE_MAX, &g->buf_);

  if (rc < 0)
    return rc;
  g->gid = gr.gr_gid;
  g->name = gr.gr_name;
  g->members = gr.gr_mem;
  while (g->members && g->members[g->nmembers])
    g->nmembers++;
  return 0;
}

int fsperm_lookup_group_name(const char *name, struct fsperm_group *g) {
  const struct key k = {name, 0};

  memset(g, 0, sizeof *g);
  return name ? group_fetch(&k, g) : -EINVAL;
}

int fsperm_lookup_group_id(long long gid, struct fsperm_group *g) {
  const struct key k = {NULL, (unsigned)gid};

  memset(g, 0, sizeof *g);
  return id_ok(gid, false) ? group_fetch(&k, g) : -EINVAL;
}

void fsperm_group_free(struct fsperm_group *g) {
  free(g->buf_);
  memset(g, 0, sizeof *g);
}

/* glibc's getgrouplist returns -1 and stores the needed count in *n when the
 * array is too small; we also double in case a backend does not. */
static int grouplist(const char *name, gid_t gid, gid_t **out, int *count) {
  int cap = GROUPS_START;

  for (;;) {
    gid_t *raw = malloc(sizeof *raw * (size_t)cap);
    int n = cap;

    if (!raw)
      return -ENOMEM;
    if (getgrouplist(name, gid, raw, &n) >= 0) {
      *out = raw;
      *count = n;
      return 0;
    }
    free(raw);
    if (cap >= GROUPS_CAP)
      return -ERANGE;
    cap = n > cap * 2 ? n : cap * 2;
    cap = cap > GROUPS_CAP ? GROUPS_CAP : cap;
  }
}

int fsperm_user_groups(const char *name, long long gid, long long **gids, size_t *n) {
  gid_t *raw = NULL;
  int count = 0;
  int rc;

  *gids = NULL;
  *n = 0;
  if (!name || !id_ok(gid, false))
    return -EINVAL;
  rc = grouplist(name, (gid_t)gid, &raw, &count);
  if (rc < 0)
    return rc;
  *gids = malloc(sizeof **gids * (count > 0 ? (size_t)count : 1));
  for (int i = 0; *gids && i < count; i++)
    (*gids)[i] = raw[i];
  free(raw);
  if (!*gids)
    return -ENOMEM;
  *n = (size_t)count;
  return 0;
}

/* Why a listen's mode and owner never go through the path.
 *
 * bind(2) creates the socket file by name, and the socket remembers that
 * name (getsockname, a peer's remote_addr), so it has to be bound at its
 * real path: binding in a private directory and renaming it into place
 * would give it the wrong address. Whoever may write the socket's directory
 * can rename something over the fresh file between the bind and any later
 * step. chmod(path) then follows a symlink swapped in, and chmod or even
 * lchown(path) changes a file hard-linked in: a service running as root
 * would chmod or chown whatever file the attacker names. So:
 *
 * 1. The file is born with its mode. The bind runs under umask ~mode & 0777
 *    and Linux's unix_bind applies the umask itself, so the kernel creates
 *    exactly `mode` (a default ACL on the directory can only narrow it).
 *    Nothing is ever chmodded by path.
 * 2. With an owner or group to set, the file is born 0 instead (the group
 *    that creates it must not get bits meant for another), and gets the
 *    owner, then the mode, through a handle only: the directory is opened,
 *    the name is opened from it with O_PATH|O_NOFOLLOW (a symlink opens as
 *    itself), and the handle must show a socket, owned by our euid, with one
 *    link, on the directory's device, no more open than it was born. Then
 *    fchownat(AT_EMPTY_PATH), then chmod of /proc/self/fd/N, which changes
 *    exactly that inode (fchmodat takes no AT_EMPTY_PATH before Linux 6.6).
 *    A mode-only bind that a default ACL narrowed is finished the same way.
 * 3. A handle that fails the checks is not our file: it is not touched, not
 *    removed, and the bind fails with -EEXIST. A failure after the checks
 *    removes the name only while it still is that inode.
 *
 * Limits: the checks cannot tell our socket from another one-link socket
 * file of this euid moved in from the same file system (only sock_diag can
 * name the file a socket is bound to), but that file already sits in a
 * directory the attacker may write. Whoever may write a directory above
 * the socket's chooses where the bind lands in the first place; that is
 * beyond what a bind can guard. With an owner or group and a mode, /proc
 * must be mounted. A file system that does not give the new file our euid
 * (NFS with root_squash) fails the checks, so such a listen with a mode or
 * owner fails rather than guess. */

/* Linux undoes a Unix-socket bind it aborts with EINTR, so retrying is safe. */
static int bind_retry(int fd, const struct sockaddr *sa, socklen_t len) {
  int rc;

  RETRY_EINTR(rc, bind(fd, sa, len));
  return rc < 0 ? -errno : 0;
}

/* Binds so that the file is born with mode `born` (0..0777), or under the
 * process umask when born < 0; *limit gets the widest mode it can be born
 * with. umask is process-wide: files other threads create meanwhile get
 * this mask (a fchmod before bind would not help: Linux ignores it). */
static int bind_masked(int fd, const struct sockaddr *sa, socklen_t len, long born,
                       unsigned *limit) {
  mode_t old = umask(0777);
  mode_t mask = born >= 0 ? ~(mode_t)born & 0777 : old;
  int rc;

  umask(mask);
  rc = bind_retry(fd, sa, len);
  umask(old);
  *limit = (unsigned)(~mask & 0777);
  return rc;
}

static int open_at(int dir, const char *name, int flags) {
  int fd;

  RETRY_EINTR(fd, openat(dir, name, flags | O_CLOEXEC));
  return fd < 0 ? -errno : fd;
}

static void close_handle(int fd) {
  if (fd >= 0)
    close(fd);
}

/* The directory part of path into buf (".", "/" or what comes before the
 * last slash); *base points at the last component, which must not be empty. */
static int split_path(const char *path, char *buf, size_t cap, const char **base) {
  const char *slash = strrchr(path, '/');
  const char *dir = !slash ? "." : slash == path ? "/" : path;
  size_t n = !slash || slash == path ? strlen(dir) : (size_t)(slash - path);

  *base = slash ? slash + 1 : path;
  if (!**base)
    return -EINVAL;
  if (n >= cap)
    return -ENAMETOOLONG;
  memcpy(buf, dir, n);
  buf[n] = '\0';
  return 0;
}

/* A missing name or a directory that is no longer one: the file is gone. */
static int replaced(int rc) { return rc == -ENOENT || rc == -ENOTDIR ? -EEXIST : rc; }

/* O_PATH handles on path's directory (*dir) and, from it, on what the name
 * holds now, never followed; returns the latter. */
static int open_entry(const char *path, int *dir, const char **base) {
  char buf[sizeof((struct sockaddr_un *)0)->sun_path];
  int rc = split_path(path, buf, sizeof buf, base);

  if (rc < 0)
    return rc;
  *dir = open_at(AT_FDCWD, buf, O_PATH | O_DIRECTORY);
  if (*dir < 0)
    return replaced(*dir);
  rc = open_at(*dir, *base, O_PATH | O_NOFOLLOW);
  return rc < 0 ? replaced(rc) : rc;
}

int fsperm_check_bound(int dir, int fd, unsigned limit, struct fsperm_stat *st) {
  struct stat ds, fs;

  if (fstat(dir, &ds) < 0 || fstat(fd, &fs) < 0)
    return -errno;
  if (!S_ISDIR(ds.st_mode) || !S_ISSOCK(fs.st_mode) || fs.st_uid != geteuid() || fs.st_nlink != 1 ||
      fs.st_dev != ds.st_dev || (fs.st_mode & 07777 & ~limit) != 0)
    return -EEXIST;
  summarise(&fs, st);
  return 0;
}

/* chmod of the inode behind handle fd: /proc/self/fd/N is that inode, not a
 * name that can be swapped. */
static int chmod_handle(int fd, unsigned mode) {
  char link[32];
  int rc;

  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  RETRY_EINTR(rc, chmod(link, (mode_t)mode));
  return rc < 0 ? -errno : 0;
}

/* Owner first, then mode, both through the handle. */
static int own_and_mode(int fd, unsigned born, long mode, long long uid, long long gid) {
  int rc = 0;

  if (uid != -1 || gid != -1)
    RETRY_EINTR(rc, fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH));
  if (rc < 0)
    return -errno;
  return mode >= 0 && (unsigned)mode != born ? chmod_handle(fd, (unsigned)mode) : 0;
}

static int stat_handle(int fd, struct fsperm_stat *st) {
  struct stat sb;

  if (fstat(fd, &sb) < 0)
    return -errno;
  summarise(&sb, st);
  return 0;
}

static int same_at(int dir, const char *name, unsigned long long dev, unsigned long long ino) {
  struct stat sb;
  int rc;

  RETRY_EINTR(rc, fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW));
  if (rc < 0)
    return -errno;
  return S_ISSOCK(sb.st_mode) && (unsigned long long)sb.st_dev == dev &&
         (unsigned long long)sb.st_ino == ino;
}

static int remove_own_at(int dir, const char *name, unsigned long long dev,
                         unsigned long long ino) {
  int rc = same_at(dir, name, dev, ino);

  if (rc <= 0)
    return rc;
  return unlinkat(dir, name, 0) < 0 && errno != ENOENT ? -errno : 1;
}

/* After the bind: checks what path holds through a handle, sets owner and
 * mode through it and fills *st; a failure past the checks removes the name
 * while it still is the socket checked. */
static int settle(const char *path, unsigned limit, long mode, long long uid, long long gid,
                  struct fsperm_stat *st) {
  const char *base = path;
  int dir = -1;
  int fd = open_entry(path, &dir, &base);
  int rc = fd < 0 ? fd : fsperm_check_bound(dir, fd, limit, st);

  if (rc == 0) {
    rc = own_and_mode(fd, st->mode, mode, uid, gid);
    if (rc == 0)
      rc = stat_handle(fd, st);
    if (rc < 0)
      remove_own_at(dir, base, st->dev, st->ino);
  }
  close_handle(fd);
  close_handle(dir);
  return rc;
}

int fsperm_bind_unix(int fd, const struct sockaddr *sa, socklen_t len, const char *path, long mode,
                     long long uid, long long gid, struct fsperm_stat *st) {
  bool owner = uid != -1 || gid != -1;
  struct fsperm_stat own;
  unsigned limit;
  int rc;

  if (mode > 0777 || !id_ok(uid, true) || !id_ok(gid, true) || (!path && (mode >= 0 || owner)))
    return -EINVAL;
  if (st)
    memset(st, 0, sizeof *st);
  if (mode < 0 && !owner) {
    rc = bind_retry(fd, sa, len);
    return rc == 0 && path && st ? fsperm_stat(path, st) : rc;
  }
  rc = bind_masked(fd, sa, len, mode < 0 ? -1 : owner ? 0 : mode, &limit);
  return rc < 0 ? rc : settle(path, limit, mode, uid, gid, st ? st : &own);
}

/* Returns 0 if a non-blocking connect of this type succeeds, else its errno.
 * close() is not retried: Linux releases the fd even when it reports EINTR. */
static int probe(const struct sockaddr_un *sa, int type) {
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err;

  if (fd < 0)
    return errno;
  err = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : errno;
  close(fd);
  return err;
}

/* -EADDRINUSE if someone accepts connections (or has a full backlog),
 * -ECONNREFUSED if nobody does, else -errno. EPROTOTYPE means the socket is
 * of another type, so the next type is tried. */
static int liveness(const struct sockaddr_un *sa) {
  static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
  int err = EPROTOTYPE;

  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    do
      err = probe(sa, types[i]);
    while (err == EINTR);
    if (err != EPROTOTYPE)
      break;
  }
  if (err == 0 || err == EAGAIN || err == EINPROGRESS)
    return -EADDRINUSE;
  return -err;
}

int fsperm_remove_stale(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strnlen(path, sizeof sa.sun_path);
  struct stat sb;
  int rc;

  if (n >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, n);
  rc = lstat_retry(path, &sb);
  if (rc < 0)
    return rc;
  if (!S_ISSOCK(sb.st_mode))
    return -ENOTSOCK;
  rc = liveness(&sa);
  if (rc != -ECONNREFUSED)
    return rc;
  /* Someone else removing it first still leaves the path free. */
  return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int fsperm_same_file(const char *path, unsigned long long dev, unsigned long long ino) {
  return same_at(AT_FDCWD, path, dev, ino);
}

int fsperm_remove_own(const char *path, unsigned long long dev, unsigned long long ino) {
  return remove_own_at(AT_FDCWD, path, dev, ino);
}
