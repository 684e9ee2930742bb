/* test_statedir: the state directory on a real file system.
 *
 * Each test gets a fresh mkdtemp directory under /tmp (removed with
 * everything in it by the teardown) and checks what statedir leaves on disk:
 * modes of created directories and files, exact bytes read back, no temp
 * files left over, atomic replacement, and that no name and no planted
 * symlink can make it read or write outside the directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/statedir.h"

#include "testutil.h"

#define TEST_PATH_MAX 4096

typedef struct fixture {
  test_tmpdir_t root; /* first: the fixture is made by test_tmpdir_fixture_new() */
  char err[256];
} fixture_t;
_Static_assert(offsetof(fixture_t, root) == 0, "test_tmpdir_fixture_new() fills the first member");

static int setup(void **state) {
  return test_tmpdir_fixture_new(state, sizeof(fixture_t), "ptd-statedir");
}

static int teardown(void **state) { return test_tmpdir_fixture_free(state); }

/* root + "/" + rel, in a caller buffer. */
static const char *sub(const fixture_t *f, const char *rel, char out[static TEST_PATH_MAX]) {
  snprintf(out, TEST_PATH_MAX, "%s/%s", f->root.path, rel);
  return out;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  return st.st_mode & 07777;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
}

/* Asserts that dir holds exactly the names in want (NULL-terminated, any
 * order), so no temp files or strays are left behind. */
static void assert_dir_holds(const char *dir, const char *const *want) {
  size_t n_want = 0;
  while (want[n_want])
    n_want++;
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t seen = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    bool found = false;
    for (size_t i = 0; i < n_want; i++)
      found = found || strcmp(e->d_name, want[i]) == 0;
    if (!found) {
      closedir(d);
      fail_msg("unexpected entry %s in %s", e->d_name, dir);
    }
    seen++;
  }
  closedir(d);
  assert_int_equal(seen, n_want);
}

static void assert_read_is(const char *dir, const char *name, const uint8_t *want, size_t len) {
  uint8_t *data = NULL;
  size_t got = 0;
  char err[256] = "";
  assert_int_equal(statedir_read(dir, name, &data, &got, err, sizeof err), 0);
  assert_non_null(data);
  assert_int_equal(got, len);
  if (len)
    assert_memory_equal(data, want, len);
  assert_int_equal(data[len], '\0'); /* NUL-terminated as promised */
  free(data);
}

/* ---- statedir_create ---- */

static void test_create_nested_mode_0700(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX], q[TEST_PATH_MAX];
  sub(f, "a/b/c", p);
  assert_int_equal(statedir_create(p, f->err, sizeof f->err), 0);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(mode_of(sub(f, "a", q)), 0700);
  assert_int_equal(mode_of(sub(f, "a/b", q)), 0700);
  assert_int_equal(mode_of(sub(f, "a/b/c", q)), 0700);
}

static void test_create_trailing_slash(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  sub(f, "x/y/", p);
  assert_int_equal(statedir_create(p, f->err, sizeof f->err), 0);
  assert_int_equal(mode_of(sub(f, "x/y", p)), 0700);
}

/* An existing directory is fine and keeps its own mode. */
static void test_create_existing(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  sub(f, "have", p);
  assert_int_equal(mkdir(p, 0755), 0);
  assert_int_equal(chmod(p, 0755), 0);
  assert_int_equal(statedir_create(p, f->err, sizeof f->err), 0);
  assert_int_equal(statedir_create(p, f->err, sizeof f->err), 0);
  assert_int_equal(mode_of(p), 0755);
  /* The fixture root itself exists too. */
  assert_int_equal(statedir_create(f->root.path, f->err, sizeof f->err), 0);
}

static void test_create_component_is_file(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  write_file(sub(f, "file", p), "x", 0600);
  f->err[0] = '\0';
  assert_int_equal(statedir_create(sub(f, "file/sub", p), f->err, sizeof f->err), -1);
  assert_true(strlen(f->err) > 0);
}

static void test_create_last_component_is_file(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  write_file(sub(f, "file", p), "x", 0600);
  f->err[0] = '\0';
  assert_int_equal(statedir_create(p, f->err, sizeof f->err), -1);
  assert_contains(f->err, "file");
}

static void test_create_empty_path(void **state) {
  fixture_t *f = *state;
  f->err[0] = '\0';
  assert_int_equal(statedir_create("", f->err, sizeof f->err), -1);
  assert_true(strlen(f->err) > 0);
}

/* ---- statedir_path ---- */

static void test_path_rejects_bad_names(void **state) {
  fixture_t *f = *state;
  const char *bad[] = {"", ".hidden", "a/b", "..", ".", "/etc", "x/", "../x", ".x.json"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *p = statedir_path(f->root.path, bad[i]);
    if (p) {
      free(p);
      fail_msg("statedir_path accepted \"%s\"", bad[i]);
    }
  }
  assert_null(statedir_path(f->root.path, NULL));
}

static void test_path_accepts_plain_names(void **state) {
  fixture_t *f = *state;
  char want[TEST_PATH_MAX];
  char *p = statedir_path(f->root.path, "x.json");
  assert_non_null(p);
  assert_string_equal(p, sub(f, "x.json", want));
  free(p);
  p = statedir_path("/var/lib/pt/", "obfs4_state.json");
  assert_non_null(p);
  assert_string_equal(p, "/var/lib/pt/obfs4_state.json");
  free(p);
  p = statedir_path("/var/lib/pt", "a..b");
  assert_non_null(p);
  assert_string_equal(p, "/var/lib/pt/a..b");
  free(p);
}

/* ---- write and read ---- */

static void test_write_read_roundtrip(void **state) {
  fixture_t *f = *state;
  const uint8_t data[] = "{\"node-id\":\"abc\"}\n";
  assert_int_equal(statedir_write_atomic(f->root.path, "x.json", data, sizeof data - 1, f->err,
                                         sizeof f->err),
                   0);
  assert_read_is(f->root.path, "x.json", data, sizeof data - 1);
  char p[TEST_PATH_MAX];
  assert_int_equal(mode_of(sub(f, "x.json", p)), 0600);
  const char *const want[] = {"x.json", NULL};
  assert_dir_holds(f->root.path, want);
}

/* Binary bytes, NULs included, come back exactly; the size is the file's,
 * not strlen's. */
static void test_write_read_binary(void **state) {
  fixture_t *f = *state;
  size_t len = 100000;
  uint8_t *data = test_pattern_new(len, 12345);
  data[0] = 0;
  data[len / 2] = 0;
  assert_int_equal(statedir_write_atomic(f->root.path, "blob", data, len, f->err, sizeof f->err),
                   0);
  assert_read_is(f->root.path, "blob", data, len);
  free(data);
}

static void test_write_read_empty(void **state) {
  fixture_t *f = *state;
  assert_int_equal(statedir_write_atomic(f->root.path, "empty", (const uint8_t *)"", 0, f->err,
                                         sizeof f->err),
                   0);
  assert_read_is(f->root.path, "empty", (const uint8_t *)"", 0);
}

/* The file is 0600 whatever the umask: with umask 0 a file created with
 * open(..., 0666) would be world-readable. */
static void test_write_mode_0600_despite_umask(void **state) {
  fixture_t *f = *state;
  mode_t old = umask(0);
  int rc = statedir_write_atomic(f->root.path, "k", (const uint8_t *)"s", 1, f->err, sizeof f->err);
  umask(old);
  assert_int_equal(rc, 0);
  char p[TEST_PATH_MAX];
  assert_int_equal(mode_of(sub(f, "k", p)), 0600);
}

/* Overwrite replaces the file by rename: a reader holding the old file
 * still sees the old bytes whole, new opens see the new bytes whole, and no
 * temp file is left. */
static void test_overwrite_is_atomic(void **state) {
  fixture_t *f = *state;
  const char *first = "first version, fairly long text";
  const char *second = "second";
  assert_int_equal(statedir_write_atomic(f->root.path, "s.json", (const uint8_t *)first,
                                         strlen(first), f->err, sizeof f->err),
                   0);
  char p[TEST_PATH_MAX];
  sub(f, "s.json", p);
  struct stat before, after;
  assert_int_equal(stat(p, &before), 0);
  int old_fd = open(p, O_RDONLY);
  assert_true(old_fd >= 0);

  assert_int_equal(statedir_write_atomic(f->root.path, "s.json", (const uint8_t *)second,
                                         strlen(second), f->err, sizeof f->err),
                   0);
  assert_int_equal(stat(p, &after), 0);
  assert_true(before.st_ino != after.st_ino); /* a new file, renamed over */
  assert_int_equal(mode_of(p), 0600);
  assert_read_is(f->root.path, "s.json", (const uint8_t *)second, strlen(second));

  char buf[64] = "";
  ssize_t n = read(old_fd, buf, sizeof buf - 1);
  close(old_fd);
  assert_int_equal(n, (ssize_t)strlen(first));
  assert_string_equal(buf, first);

  const char *const want[] = {"s.json", NULL};
  assert_dir_holds(f->root.path, want);
}

static void test_several_files(void **state) {
  fixture_t *f = *state;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(statedir_write_atomic(f->root.path, "a", (const uint8_t *)"1", 1, f->err,
                                           sizeof f->err),
                     0);
    assert_int_equal(statedir_write_atomic(f->root.path, "b", (const uint8_t *)"22", 2, f->err,
                                           sizeof f->err),
                     0);
  }
  assert_read_is(f->root.path, "a", (const uint8_t *)"1", 1);
  assert_read_is(f->root.path, "b", (const uint8_t *)"22", 2);
  const char *const want[] = {"a", "b", NULL};
  assert_dir_holds(f->root.path, want);
}

static void test_read_missing_returns_1(void **state) {
  fixture_t *f = *state;
  uint8_t *data = (uint8_t *)"sentinel";
  size_t len = 99;
  assert_int_equal(statedir_read(f->root.path, "nope.json", &data, &len, f->err, sizeof f->err), 1);
  assert_null(data);
  assert_int_equal(len, 0);
}

static void test_read_symlink_refused(void **state) {
  fixture_t *f = *state;
  char target[TEST_PATH_MAX], link[TEST_PATH_MAX];
  write_file(sub(f, "real", target), "secret", 0600);
  assert_int_equal(symlink(target, sub(f, "link.json", link)), 0);
  uint8_t *data = NULL;
  size_t len = 0;
  f->err[0] = '\0';
  assert_int_equal(statedir_read(f->root.path, "link.json", &data, &len, f->err, sizeof f->err),
                   -1);
  assert_null(data);
  assert_true(strlen(f->err) > 0);
  /* A dangling symlink is refused too, not taken for a missing file. */
  char dangling[TEST_PATH_MAX];
  assert_int_equal(symlink("/nonexistent/ptd", sub(f, "dangling", dangling)), 0);
  assert_int_equal(statedir_read(f->root.path, "dangling", &data, &len, f->err, sizeof f->err), -1);
  assert_null(data);
}

/* Writing over a planted symlink replaces the link; the file it pointed at
 * (outside the directory) is untouched. */
static void test_write_over_symlink_does_not_follow(void **state) {
  fixture_t *f = *state;
  char dir[TEST_PATH_MAX], outside[TEST_PATH_MAX], link[TEST_PATH_MAX];
  sub(f, "state", dir);
  assert_int_equal(statedir_create(dir, f->err, sizeof f->err), 0);
  write_file(sub(f, "outside", outside), "original", 0644);
  assert_int_equal(symlink(outside, sub(f, "state/x.json", link)), 0);
  assert_int_equal(statedir_write_atomic(dir, "x.json", (const uint8_t *)"new", 3, f->err,
                                         sizeof f->err),
                   0);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_read_is(dir, "x.json", (const uint8_t *)"new", 3);
  assert_read_is(f->root.path, "outside", (const uint8_t *)"original", 8);
}

static void test_escaping_names_refused(void **state) {
  fixture_t *f = *state;
  char dir[TEST_PATH_MAX];
  sub(f, "state", dir);
  assert_int_equal(statedir_create(dir, f->err, sizeof f->err), 0);
  const char *bad[] = {"../escape", "..", "sub/x", "/tmp/abs", ".tmp", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    f->err[0] = '\0';
    if (statedir_write_atomic(dir, bad[i], (const uint8_t *)"x", 1, f->err, sizeof f->err) !=
        -1)
      fail_msg("write_atomic accepted \"%s\"", bad[i]);
    assert_true(strlen(f->err) > 0);
    uint8_t *data = NULL;
    size_t len = 0;
    if (statedir_read(dir, bad[i], &data, &len, f->err, sizeof f->err) != -1) {
      free(data);
      fail_msg("read accepted \"%s\"", bad[i]);
    }
    assert_null(data);
  }
  const char *const want_state[] = {NULL};
  assert_dir_holds(dir, want_state);
  const char *const want_root[] = {"state", NULL};
  assert_dir_holds(f->root.path, want_root);
}

static void test_write_missing_dir_fails(void **state) {
  fixture_t *f = *state;
  char dir[TEST_PATH_MAX];
  sub(f, "absent", dir);
  f->err[0] = '\0';
  assert_int_equal(
      statedir_write_atomic(dir, "x", (const uint8_t *)"x", 1, f->err, sizeof f->err), -1);
  assert_true(strlen(f->err) > 0);
}

/* A write whose final rename fails (the name is taken by a directory)
 * reports the error and leaves no temporary file behind. Works as root,
 * unlike a read-only directory, which root would ignore. */
static void test_write_failing_rename_leaves_nothing(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  assert_int_equal(mkdir(sub(f, "x", p), 0700), 0);
  f->err[0] = '\0';
  int rc =
      statedir_write_atomic(f->root.path, "x", (const uint8_t *)"new", 3, f->err, sizeof f->err);
  assert_int_equal(rc, -1);
  assert_true(strlen(f->err) > 0);
  const char *const want[] = {"x", NULL};
  assert_dir_holds(f->root.path, want);
}

/* A directory where a file is expected is an error, not a crash. */
static void test_read_directory_fails(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  assert_int_equal(mkdir(sub(f, "d", p), 0700), 0);
  uint8_t *data = NULL;
  size_t len = 0;
  assert_int_equal(statedir_read(f->root.path, "d", &data, &len, f->err, sizeof f->err), -1);
  assert_null(data);
}

int main(void) {
  umask(022);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_nested_mode_0700, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_trailing_slash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_existing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_component_is_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_last_component_is_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_empty_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_rejects_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_accepts_plain_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_read_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_read_binary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_read_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_mode_0600_despite_umask, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overwrite_is_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_several_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_missing_returns_1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_symlink_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_over_symlink_does_not_follow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_escaping_names_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_missing_dir_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_failing_rename_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_directory_fails, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
