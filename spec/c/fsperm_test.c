/* Standalone checks for runtime/fsperm.c: mode parsing, stat, chmod/chown,
 * user/group lookup, umask-tight bind_unix and stale-socket removal. Works in
 * a fresh mkdtemp directory it removes; prints "N passed, N failed". */
#include "fsperm.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

struct tally {
  int passed, failed;
};

#define CHECK(t, cond) check((t), (cond), #cond, __LINE__)
#define CHECK_EQ(t, a, b) check_eq((t), (long long)(a), (long long)(b), #a, __LINE__)

static void check(struct tally *t, int ok, const char *what, int line) {
  if (ok) {
    t->passed++;
    return;
  }
  t->failed++;
  fprintf(stderr, "FAIL line %d: %s\n", line, what);
}

static void check_eq(struct tally *t, long long got, long long want, const char *what, int line) {
  if (got == want) {
    t->passed++;
    return;
  }
  t->failed++;
  fprintf(stderr, "FAIL line %d: %s = %lld (0%llo), want %lld (0%llo)\n", line, what, got, got,
          want, want);
}

static void join(char *out, size_t cap, const char *dir, const char *name) {
  if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
    abort();
}

static socklen_t make_addr(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  size_t n = strnlen(path, sizeof sa->sun_path - 1);
  memcpy(sa->sun_path, path, n);
  return (socklen_t)sizeof *sa;
}

/* Returns the bound fd (still open) or -1. */
static int bind_sock(const char *path, int type) {
  struct sockaddr_un sa;
  socklen_t len = make_addr(&sa, path);
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int exists(const char *path) {
  struct stat sb;

  return lstat(path, &sb) == 0;
}

static unsigned perm_of(const char *path) {
  struct stat sb;

  return lstat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 0xFFFFu;
}

static void test_parse_mode(struct tally *t) {
  static const char *const good[] = {"0660", "660",  "0",   "7",  "0777",
                                     "777",  "0000", "600", "00", "044"};
  static const unsigned want[] = {0660, 0660, 0, 7, 0777, 0777, 0, 0600, 0, 044};
  static const char *const bad[] = {
      "0999",  "rwx",   "",     "-1",   " 660",  "660 ",
      "6 60",  "07777", "4755", "1000", "01000", "00660",
      "0o660", "+660",  "0x1f", "8",    "66o",   "000000000000000000000000000000000000660",
  };
  unsigned m = 12345;

  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    m = 12345;
    CHECK_EQ(t, fsperm_parse_mode(good[i], &m), 0);
    CHECK_EQ(t, m, want[i]);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m = 12345;
    CHECK_EQ(t, fsperm_parse_mode(bad[i], &m), -EINVAL);
    CHECK_EQ(t, m, 12345);
  }
  CHECK_EQ(t, fsperm_parse_mode(NULL, &m), -EINVAL);
  CHECK_EQ(t, fsperm_check_mode(0), 0);
  CHECK_EQ(t, fsperm_check_mode(0777), 0);
  CHECK_EQ(t, fsperm_check_mode(0600), 0);
  CHECK_EQ(t, fsperm_check_mode(-1), -EINVAL);
  CHECK_EQ(t, fsperm_check_mode(01000), -EINVAL);
  CHECK_EQ(t, fsperm_check_mode(04755), -EINVAL);
  CHECK_EQ(t, fsperm_check_mode(1LL << 40), -EINVAL);
}

static void test_type_names(struct tally *t) {
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_SOCKET), "socket"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_FILE), "file"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_DIRECTORY), "directory"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_SYMLINK), "symlink"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_FIFO), "fifo"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_CHAR), "char"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_BLOCK), "block"));
  CHECK(t, !strcmp(fsperm_type_name(FSPERM_UNKNOWN), "unknown"));
  CHECK(t, !strcmp(fsperm_type_name(-1), "unknown"));
  CHECK(t, !strcmp(fsperm_type_name(99), "unknown"));
}

static void test_stat(struct tally *t, const char *dir) {
  char sock[256], file[256], sub[256], link[256], fifo[256];
  struct fsperm_stat st;
  int fd, sfd;

  join(sock, sizeof sock, dir, "st.sock");
  join(file, sizeof file, dir, "st.file");
  join(sub, sizeof sub, dir, "st.dir");
  join(link, sizeof link, dir, "st.link");
  join(fifo, sizeof fifo, dir, "st.fifo");
  sfd = bind_sock(sock, SOCK_STREAM);
  CHECK(t, sfd >= 0);
  fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  CHECK(t, fd >= 0 && write(fd, "hello", 5) == 5);
  close(fd);
  CHECK_EQ(t, mkdir(sub, 0700), 0);
  CHECK_EQ(t, symlink(sock, link), 0);
  CHECK_EQ(t, mkfifo(fifo, 0600), 0);

  CHECK_EQ(t, fsperm_stat(sock, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_SOCKET);
  CHECK_EQ(t, fsperm_stat(file, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_FILE);
  CHECK_EQ(t, st.size, 5);
  CHECK_EQ(t, st.uid, geteuid());
  CHECK_EQ(t, st.gid, getegid());
  CHECK_EQ(t, fsperm_chmod(file, 0640), 0);
  CHECK_EQ(t, fsperm_stat(file, &st), 0);
  CHECK_EQ(t, st.mode, 0640);
  CHECK_EQ(t, fsperm_stat(sub, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_DIRECTORY);
  CHECK_EQ(t, fsperm_stat(link, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_SYMLINK);
  CHECK_EQ(t, fsperm_stat(fifo, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_FIFO);
  CHECK_EQ(t, fsperm_stat("/dev/null", &st), 0);
  CHECK_EQ(t, st.type, FSPERM_CHAR);
  CHECK(t, !strcmp(fsperm_type_name(st.type), "char"));
  close(sfd);
}

static void test_chmod_chown(struct tally *t, const char *dir) {
  char missing[256], file[256];
  struct fsperm_stat st;
  int fd;

  join(missing, sizeof missing, dir, "nope/missing");
  join(file, sizeof file, dir, "own.file");
  CHECK_EQ(t, fsperm_chmod(missing, 0600), -ENOENT);
  CHECK_EQ(t, fsperm_chown(missing, 0, 0), -ENOENT);
  CHECK_EQ(t, fsperm_chown(missing, -1, -1), -ENOENT);
  CHECK_EQ(t, fsperm_stat(missing, &st), -ENOENT);
  fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  CHECK(t, fd >= 0);
  close(fd);
  CHECK_EQ(t, fsperm_chmod(file, 01000), -EINVAL);
  CHECK_EQ(t, fsperm_chown(file, -2, -1), -EINVAL);
  CHECK_EQ(t, fsperm_chown(file, -1, 4294967295LL), -EINVAL);
  CHECK_EQ(t, fsperm_chown(file, 1LL << 40, -1), -EINVAL);
  CHECK_EQ(t, fsperm_chown(file, -1, -1), 0);
  if (geteuid() != 0)
    return;
  CHECK_EQ(t, fsperm_chown(file, 65534, -1), 0);
  CHECK_EQ(t, fsperm_stat(file, &st), 0);
  CHECK_EQ(t, st.uid, 65534);
  CHECK_EQ(t, st.gid, getegid());
  CHECK_EQ(t, fsperm_chown(file, 4294967294LL, 4294967294LL), 0);
  CHECK_EQ(t, fsperm_stat(file, &st), 0);
  CHECK_EQ(t, st.uid, 4294967294LL);
  CHECK_EQ(t, st.gid, 4294967294LL);
}

static void test_users(struct tally *t) {
  struct fsperm_user u;

  CHECK_EQ(t, fsperm_lookup_user_name("root", &u), 0);
  CHECK_EQ(t, u.uid, 0);
  CHECK_EQ(t, u.gid, 0);
  CHECK(t, u.name && !strcmp(u.name, "root"));
  CHECK(t, u.home && !strcmp(u.home, "/root"));
  CHECK(t, u.shell && u.shell[0] == '/');
  fsperm_user_free(&u);
  CHECK(t, u.buf_ == NULL && u.name == NULL);
  fsperm_user_free(&u);

  CHECK_EQ(t, fsperm_lookup_user_id(0, &u), 0);
  CHECK(t, u.name && !strcmp(u.name, "root"));
  fsperm_user_free(&u);

  CHECK_EQ(t, fsperm_lookup_user_name("luds-no-such-user", &u), -ENOENT);
  CHECK(t, u.buf_ == NULL);
  fsperm_user_free(&u);
  CHECK_EQ(t, fsperm_lookup_user_name("", &u), -ENOENT);
  CHECK_EQ(t, fsperm_lookup_user_id(4000000000LL, &u), -ENOENT);
  CHECK_EQ(t, fsperm_lookup_user_id(-1, &u), -EINVAL);
  CHECK_EQ(t, fsperm_lookup_user_id(4294967295LL, &u), -EINVAL);
  CHECK_EQ(t, fsperm_lookup_user_name(NULL, &u), -EINVAL);
}

static int has_gid(const long long *gids, size_t n, long long gid) {
  for (size_t i = 0; i < n; i++)
    if (gids[i] == gid)
      return 1;
  return 0;
}

static void test_groups(struct tally *t) {
  struct fsperm_group g;
  long long *gids = NULL;
  size_t n = 0;

  CHECK_EQ(t, fsperm_lookup_group_name("root", &g), 0);
  CHECK_EQ(t, g.gid, 0);
  CHECK(t, g.name && !strcmp(g.name, "root"));
  CHECK(t, g.members && g.members[g.nmembers] == NULL);
  fsperm_group_free(&g);
  CHECK_EQ(t, fsperm_lookup_group_id(0, &g), 0);
  CHECK(t, g.name && !strcmp(g.name, "root"));
  fsperm_group_free(&g);
  CHECK_EQ(t, fsperm_lookup_group_name("luds-no-such-group", &g), -ENOENT);
  CHECK(t, g.buf_ == NULL);
  CHECK_EQ(t, fsperm_lookup_group_id(4000000000LL, &g), -ENOENT);
  CHECK_EQ(t, fsperm_lookup_group_id(-1, &g), -EINVAL);
  CHECK_EQ(t, fsperm_lookup_group_name(NULL, &g), -EINVAL);

  CHECK_EQ(t, fsperm_user_groups("root", 0, &gids, &n), 0);
  CHECK(t, n >= 1 && gids && gids[0] == 0);
  free(gids);
  CHECK_EQ(t, fsperm_user_groups("luds-no-such-user", 4242, &gids, &n), 0);
  CHECK(t, n == 1 && gids && has_gid(gids, n, 4242));
  free(gids);
  CHECK_EQ(t, fsperm_user_groups("root", -1, &gids, &n), -EINVAL);
  CHECK(t, gids == NULL && n == 0);
}

/* Binds a fresh stream socket at path with bind_unix; returns its result and
 * fills *st when st is not NULL. */
static int bind_st(const char *path, long mode, long long uid, long long gid,
                   struct fsperm_stat *st) {
  struct sockaddr_un sa;
  socklen_t len = make_addr(&sa, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc;

  if (fd < 0)
    return -errno;
  rc = fsperm_bind_unix(fd, (struct sockaddr *)&sa, len, path, mode, uid, gid, st);
  close(fd);
  return rc;
}

static int bind_with(const char *path, long mode, long long uid, long long gid) {
  return bind_st(path, mode, uid, gid, NULL);
}

static void test_bind_modes(struct tally *t, const char *dir) {
  static const mode_t masks[] = {022, 077, 000};
  static const long modes[] = {0660, 0600, 0777, 0};
  char path[256];

  join(path, sizeof path, dir, "b.sock");
  for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
    for (size_t j = 0; j < sizeof modes / sizeof modes[0]; j++) {
      mode_t saved = umask(masks[i]);

      CHECK_EQ(t, bind_with(path, modes[j], -1, -1), 0);
      CHECK_EQ(t, umask(saved), masks[i]);
      CHECK_EQ(t, perm_of(path), modes[j]);
      unlink(path);
    }
    umask(masks[i]);
    CHECK_EQ(t, bind_with(path, -1, -1, -1), 0);
    umask(022);
    CHECK_EQ(t, perm_of(path), 0777 & ~masks[i]);
    unlink(path);
  }
}

static void test_bind_errors(struct tally *t, const char *dir) {
  char path[256], missing[256];
  mode_t saved;

  join(path, sizeof path, dir, "be.sock");
  join(missing, sizeof missing, dir, "nope/be.sock");
  CHECK_EQ(t, bind_with(path, 01000, -1, -1), -EINVAL);
  CHECK_EQ(t, bind_with(path, 0600, -2, -1), -EINVAL);
  CHECK(t, !exists(path));
  CHECK_EQ(t, bind_with(missing, 0600, -1, -1), -ENOENT);
  CHECK_EQ(t, bind_with(path, 0640, -1, -1), 0);
  saved = umask(027);
  CHECK_EQ(t, bind_with(path, 0600, -1, -1), -EADDRINUSE);
  CHECK_EQ(t, umask(saved), 027);
  CHECK_EQ(t, perm_of(path), 0640);
  unlink(path);
}

static void test_bind_owner(struct tally *t, const char *dir) {
  struct fsperm_group g;
  struct fsperm_user u;
  struct fsperm_stat st;
  char path[256];

  join(path, sizeof path, dir, "own.sock");
  CHECK_EQ(t, fsperm_lookup_group_name("nogroup", &g), 0);
  CHECK_EQ(t, fsperm_lookup_user_name("nobody", &u), 0);
  CHECK_EQ(t, bind_with(path, 0660, -1, g.gid), 0);
  CHECK_EQ(t, fsperm_stat(path, &st), 0);
  CHECK_EQ(t, st.type, FSPERM_SOCKET);
  CHECK_EQ(t, st.mode, 0660);
  CHECK_EQ(t, st.uid, 0);
  CHECK_EQ(t, st.gid, g.gid);
  unlink(path);
  CHECK_EQ(t, bind_with(path, -1, u.uid, u.gid), 0);
  CHECK_EQ(t, fsperm_stat(path, &st), 0);
  CHECK_EQ(t, st.uid, u.uid);
  CHECK_EQ(t, st.gid, u.gid);
  unlink(path);
  fsperm_group_free(&g);
  fsperm_user_free(&u);
}

/* As nobody, chown to gid 0 fails after the bind: the file must be gone.
 * The mkdtemp dir is 0700, so it is opened to traversal meanwhile. */
static void test_bind_cleanup(struct tally *t, const char *dir) {
  char sub[256], path[256];
  int status = -1;
  pid_t pid;

  join(sub, sizeof sub, dir, "open");
  join(path, sizeof path, sub, "c.sock");
  CHECK_EQ(t, mkdir(sub, 0777), 0);
  CHECK_EQ(t, chmod(sub, 0777), 0);
  CHECK_EQ(t, chmod(dir, 0711), 0);
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    if (setgid(65534) < 0 || setuid(65534) < 0)
      _exit(2);
    _exit(bind_with(path, 0600, -1, 0) == -EPERM && !exists(path) ? 0 : 1);
  }
  CHECK(t, pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK_EQ(t, chmod(dir, 0700), 0);
  CHECK(t, WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(t, !exists(path));
}

/* fsperm_check_bound accepts the socket a bind just made and refuses every
 * stand-in: another type, a symlink (opened as itself), a second link, a
 * mode wider than the limit, another owner, another device, a non-directory. */
static void test_check_bound(struct tally *t, const char *dir) {
  char sock[256], twin[256], file[256], sym[256];
  struct fsperm_stat st, ls;
  int d = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd, h;

  join(sock, sizeof sock, dir, "cb.sock");
  join(twin, sizeof twin, dir, "cb.twin");
  join(file, sizeof file, dir, "cb.file");
  join(sym, sizeof sym, dir, "cb.link");
  fd = bind_sock(sock, SOCK_STREAM);
  CHECK(t, d >= 0 && proc >= 0 && fd >= 0);
  CHECK_EQ(t, fsperm_chmod(sock, 0640), 0);
  h = openat(d, "cb.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0640, &st), 0);
  CHECK_EQ(t, fsperm_stat(sock, &ls), 0);
  CHECK(t, st.type == FSPERM_SOCKET && st.mode == 0640 && st.ino == ls.ino && st.dev == ls.dev);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), 0);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0600, &st), -EEXIST);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0, &st), -EEXIST);
  CHECK_EQ(t, fsperm_check_bound(proc, h, 0777, &st), -EEXIST);
  CHECK_EQ(t, fsperm_check_bound(h, h, 0777, &st), -EEXIST);
  CHECK_EQ(t, link(sock, twin), 0);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), -EEXIST);
  CHECK_EQ(t, unlink(twin), 0);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), 0);
  if (geteuid() == 0) {
    CHECK_EQ(t, fsperm_chown(sock, 65534, -1), 0);
    CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), -EEXIST);
  }
  close(h);
  CHECK_EQ(t, symlink(sock, sym), 0);
  h = openat(d, "cb.link", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), -EEXIST);
  close(h);
  close(open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  h = openat(d, "cb.file", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  CHECK_EQ(t, fsperm_check_bound(d, h, 0777, &st), -EEXIST);
  close(h);
  CHECK_EQ(t, fsperm_check_bound(d, -1, 0777, &st), -EBADF);
  unlink(sock), unlink(sym), unlink(file);
  close(fd), close(d), close(proc);
}

/* *st comes back describing the socket file bound: dev and ino of the file
 * at path, its final mode and owner. */
static void test_bind_reports_the_file(struct tally *t, const char *dir) {
  static const long modes[] = {0600, -1};
  char path[256];
  struct fsperm_stat st, ls;

  join(path, sizeof path, dir, "rep.sock");
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    memset(&st, 0xff, sizeof st);
    CHECK_EQ(t, bind_st(path, modes[i], -1, -1, &st), 0);
    CHECK_EQ(t, fsperm_stat(path, &ls), 0);
    CHECK(t, st.type == FSPERM_SOCKET && st.dev == ls.dev && st.ino == ls.ino);
    CHECK_EQ(t, st.mode, ls.mode);
    unlink(path);
  }
  if (geteuid() != 0)
    return;
  CHECK_EQ(t, bind_st(path, 0660, 65534, 65534, &st), 0);
  CHECK_EQ(t, fsperm_stat(path, &ls), 0);
  CHECK(t, st.ino == ls.ino && st.mode == 0660 && st.uid == 65534 && st.gid == 65534);
  CHECK(t, ls.mode == 0660 && ls.uid == 65534 && ls.gid == 65534);
  unlink(path);
  memset(&st, 0xff, sizeof st);
  CHECK_EQ(t, bind_st(path, 01000, -1, -1, &st), -EINVAL);
  CHECK(t, !exists(path));
}

/* A default ACL of u::rwx g::r-x o::--- narrows what bind creates (a plain
 * bind under umask 0 is born 0750); a mode asked is still exact, set
 * through the handle. Skipped where the file system has no ACLs. */
static void test_bind_under_default_acl(struct tally *t, const char *dir) {
  static const unsigned char acl[] = {
      2,    0, 0, 0,                         /* POSIX_ACL_XATTR_VERSION */
      0x01, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_USER_OBJ rwx */
      0x04, 0, 5, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_GROUP_OBJ r-x */
      0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_OTHER --- */
  };
  static const long modes[] = {0666, 0660, 0777, 0};
  char sub[256], path[256];
  mode_t saved;

  join(sub, sizeof sub, dir, "acl");
  join(path, sizeof path, sub, "a.sock");
  CHECK_EQ(t, mkdir(sub, 0700), 0);
  if (setxattr(sub, "system.posix_acl_default", acl, sizeof acl, 0) < 0) {
    fprintf(stderr, "skip default ACL checks: %s\n", strerror(errno));
    return;
  }
  saved = umask(0);
  CHECK_EQ(t, bind_with(path, -1, -1, -1), 0);
  CHECK_EQ(t, perm_of(path), 0750);
  unlink(path);
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    CHECK_EQ(t, bind_with(path, modes[i], -1, -1), 0);
    CHECK_EQ(t, perm_of(path), modes[i]);
    unlink(path);
  }
  umask(saved);
}

static void test_stale_dead(struct tally *t, const char *dir) {
  char path[256];
  int fd;

  join(path, sizeof path, dir, "dead.sock");
  fd = bind_sock(path, SOCK_STREAM);
  CHECK(t, fd >= 0);
  close(fd);
  CHECK_EQ(t, fsperm_remove_stale(path), 0);
  CHECK(t, !exists(path));
  CHECK_EQ(t, fsperm_remove_stale(path), -ENOENT);
  fd = bind_sock(path, SOCK_DGRAM);
  CHECK(t, fd >= 0);
  close(fd);
  CHECK_EQ(t, fsperm_remove_stale(path), 0);
  CHECK(t, !exists(path));
}

static void test_stale_alive(struct tally *t, const char *dir, int type) {
  char path[256];
  int fd;

  join(path, sizeof path, dir, "live.sock");
  fd = bind_sock(path, type);
  CHECK(t, fd >= 0);
  if (type != SOCK_DGRAM)
    CHECK_EQ(t, listen(fd, 8), 0);
  CHECK_EQ(t, fsperm_remove_stale(path), -EADDRINUSE);
  CHECK(t, exists(path));
  close(fd);
  CHECK_EQ(t, fsperm_remove_stale(path), 0);
  CHECK(t, !exists(path));
}

/* A listener with a full backlog makes connect say EAGAIN: still alive. */
static void test_stale_backlog(struct tally *t, const char *dir) {
  char path[256];
  int clients[16], nc = 0, fd;
  struct sockaddr_un sa;
  socklen_t len;

  join(path, sizeof path, dir, "full.sock");
  len = make_addr(&sa, path);
  fd = bind_sock(path, SOCK_STREAM);
  CHECK(t, fd >= 0 && listen(fd, 0) == 0);
  for (; nc < 16; nc++) {
    clients[nc] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(clients[nc], (struct sockaddr *)&sa, len) < 0) {
      close(clients[nc]);
      break;
    }
  }
  CHECK(t, nc < 16 && errno == EAGAIN);
  CHECK_EQ(t, fsperm_remove_stale(path), -EADDRINUSE);
  CHECK(t, exists(path));
  while (nc > 0)
    close(clients[--nc]);
  close(fd);
  unlink(path);
}

static void test_stale_not_socket(struct tally *t, const char *dir) {
  char file[256], sub[256], link[256], sock[256], lng[300];
  int fd, lfd;

  join(file, sizeof file, dir, "ns.file");
  join(sub, sizeof sub, dir, "ns.dir");
  join(link, sizeof link, dir, "ns.link");
  join(sock, sizeof sock, dir, "ns.sock");
  fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  close(fd);
  CHECK_EQ(t, mkdir(sub, 0700), 0);
  lfd = bind_sock(sock, SOCK_STREAM);
  CHECK(t, lfd >= 0);
  close(lfd);
  CHECK_EQ(t, symlink(sock, link), 0);
  CHECK_EQ(t, fsperm_remove_stale(file), -ENOTSOCK);
  CHECK_EQ(t, fsperm_remove_stale(sub), -ENOTSOCK);
  CHECK_EQ(t, fsperm_remove_stale(link), -ENOTSOCK);
  CHECK(t, exists(file) && exists(sub) && exists(link) && exists(sock));
  memset(lng, 'x', sizeof lng - 1);
  lng[sizeof lng - 1] = '\0';
  CHECK_EQ(t, fsperm_remove_stale(lng), -ENAMETOOLONG);
  memset(lng, 'x', 108);
  lng[108] = '\0';
  CHECK_EQ(t, fsperm_remove_stale(lng), -ENAMETOOLONG);
}

static void test_same_file(struct tally *t, const char *dir) {
  char a[256], b[256], file[256];
  struct fsperm_stat sa, sb;
  int fa, fb;

  join(a, sizeof a, dir, "sa.sock");
  join(b, sizeof b, dir, "sb.sock");
  join(file, sizeof file, dir, "st.file");
  fa = bind_sock(a, SOCK_STREAM);
  fb = bind_sock(b, SOCK_STREAM);
  CHECK(t, fa >= 0 && fb >= 0);
  CHECK_EQ(t, fsperm_stat(a, &sa), 0);
  CHECK_EQ(t, fsperm_stat(file, &sb), 0);
  CHECK_EQ(t, fsperm_same_file(a, sa.dev, sa.ino), 1);
  CHECK_EQ(t, fsperm_same_file(b, sa.dev, sa.ino), 0);
  CHECK_EQ(t, fsperm_same_file(file, sb.dev, sb.ino), 0);
  unlink(a);
  CHECK_EQ(t, fsperm_same_file(a, sa.dev, sa.ino), -ENOENT);
  close(fa);
  close(fb);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(void) {
  struct tally t = {0, 0};
  char dir[] = "/tmp/fsperm_test.XXXXXX";

  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  umask(022);
  test_parse_mode(&t);
  test_type_names(&t);
  test_stat(&t, dir);
  test_chmod_chown(&t, dir);
  test_users(&t);
  test_groups(&t);
  test_bind_modes(&t, dir);
  test_bind_errors(&t, dir);
  test_check_bound(&t, dir);
  test_bind_reports_the_file(&t, dir);
  test_bind_under_default_acl(&t, dir);
  if (geteuid() == 0) {
    test_bind_owner(&t, dir);
    test_bind_cleanup(&t, dir);
  }
  test_stale_dead(&t, dir);
  test_stale_alive(&t, dir, SOCK_STREAM);
  test_stale_alive(&t, dir, SOCK_SEQPACKET);
  test_stale_alive(&t, dir, SOCK_DGRAM);
  test_stale_backlog(&t, dir);
  test_stale_not_socket(&t, dir);
  test_same_file(&t, dir);
  if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 || exists(dir))
    t.failed++, fprintf(stderr, "FAIL: could not remove %s\n", dir);
  fflush(stderr);
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
