/* OS layer for file permissions and identities: validates modes and ids,
 * wraps lstat/chmod/chown, runs the reentrant passwd/group lookups with
 * growing buffers, binds Unix sockets under a tight umask and removes stale
 * socket files. See fsperm.h for the contracts. */
#include "fsperm.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
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

int fsperm_stat(const char *path, struct fsperm_stat *st) {
  struct stat sb;
  int rc = lstat_retry(path, &sb);

  if (rc < 0)
    return rc;
  st->type = type_of(sb.st_mode);
  st->mode = (unsigned)(sb.st_mode & 07777);
  st->uid = sb.st_uid;
  st->gid = sb.st_gid;
  st->dev = sb.st_dev;
  st->ino = sb.st_ino;
  st->size = sb.st_size;
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

/* Linux undoes a Unix-socket bind it aborts with EINTR, so retrying is safe. */
static int bind_retry(int fd, const struct sockaddr *sa, socklen_t len) {
  int rc;

  RETRY_EINTR(rc, bind(fd, sa, len));
  return rc < 0 ? -errno : 0;
}

/* Linux applies the umask when bind creates the file and ignores an earlier
 * fchmod on the socket, so the file is born with mode 0 under umask 0777.
 * umask is process-wide: files other threads create meanwhile get mode 0. */
static int bind_masked(int fd, const struct sockaddr *sa, socklen_t len) {
  mode_t old = umask(0777);
  int rc = bind_retry(fd, sa, len);

  umask(old);
  return rc;
}

/* lchown: the path was just created as a socket; never follow a symlink that
 * might have been swapped in since. */
static int own_and_mode(const char *path, long mode, long long uid, long long gid) {
  int rc = 0;

  if (uid != -1 || gid != -1)
    RETRY_EINTR(rc, lchown(path, (uid_t)uid, (gid_t)gid));
  if (rc < 0)
    return -errno;
  return mode >= 0 ? fsperm_chmod(path, (unsigned)mode) : 0;
}

int fsperm_bind_unix(int fd, const struct sockaddr *sa, socklen_t len, const char *path, long mode,
                     long long uid, long long gid) {
  bool asked = mode >= 0 || uid != -1 || gid != -1;
  int rc;

  if (mode > 0777 || !id_ok(uid, true) || !id_ok(gid, true))
    return -EINVAL;
  if (!path && asked)
    return -EINVAL;
  rc = mode >= 0 ? bind_masked(fd, sa, len) : bind_retry(fd, sa, len);
  if (rc < 0 || !asked)
    return rc;
  rc = own_and_mode(path, mode, uid, gid);
  if (rc < 0)
    unlink(path);
  return rc;
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
  struct stat sb;
  int rc = lstat_retry(path, &sb);

  if (rc < 0)
    return rc;
  return S_ISSOCK(sb.st_mode) && (unsigned long long)sb.st_dev == dev &&
         (unsigned long long)sb.st_ino == ino;
}

int fsperm_remove_own(const char *path, unsigned long long dev, unsigned long long ino) {
  int rc = fsperm_same_file(path, dev, ino);

  if (rc <= 0)
    return rc;
  return unlink(path) < 0 && errno != ENOENT ? -errno : 1;
}
