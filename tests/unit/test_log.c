/* test_log: the process logger.
 *
 * The logger is global, so every test runs with a setup that gives it a
 * fresh temp directory and a teardown that puts the logger back the way the
 * process starts (level WARN, safe logging, no sink, no file). A recording
 * sink stands in for the parent's LOG lines. */
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

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/log.h"

#include "testutil.h"

#define TEST_SINK_MAX 16
#define TEST_PATH_MAX 256

/* What the recording sink saw. */
static struct {
  size_t n;
  ptd_log_level_t level[TEST_SINK_MAX];
  char msg[TEST_SINK_MAX][1100];
} sink_seen;

static void recording_sink(ptd_log_level_t level, const char *msg) {
  if (sink_seen.n >= TEST_SINK_MAX)
    return;
  sink_seen.level[sink_seen.n] = level;
  snprintf(sink_seen.msg[sink_seen.n], sizeof sink_seen.msg[0], "%s", msg);
  sink_seen.n++;
}

typedef struct fixture {
  test_tmpdir_t dir; /* first: the fixture is made by test_tmpdir_fixture_new() */
  char path[TEST_PATH_MAX];
  char err[256];
} fixture_t;
_Static_assert(offsetof(fixture_t, dir) == 0, "test_tmpdir_fixture_new() fills the first member");

static int setup(void **state) {
  if (test_tmpdir_fixture_new(state, sizeof(fixture_t), "ptd-log") != 0)
    return -1;
  fixture_t *f = *state;
  snprintf(f->path, sizeof f->path, "%s/ptdispatch.log", f->dir.path);
  memset(&sink_seen, 0, sizeof sink_seen);
  return 0;
}

static int teardown(void **state) {
  log_close();
  log_set_parent_sink(NULL);
  log_set_level(PTD_LOG_WARN);
  log_set_unsafe(false);
  memset(&sink_seen, 0, sizeof sink_seen);
  return test_tmpdir_fixture_free(state);
}

/* The whole log file as text (caller frees). */
static char *read_log(const char *path) {
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  char *text = NULL;
  size_t cap = 0;
  ssize_t n = getdelim(&text, &cap, '\0', fp);
  fclose(fp);
  if (n < 0) {
    free(text);
    text = strdup("");
  }
  assert_non_null(text);
  return text;
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += (*s == '\n');
  return n;
}

/* ---- level names ---- */

static void test_level_parse_spellings(void **state) {
  (void)state;
  static const struct {
    const char *text;
    ptd_log_level_t want;
  } ok[] = {
      {"ERROR", PTD_LOG_ERROR}, {"error", PTD_LOG_ERROR}, {"Error", PTD_LOG_ERROR},
      {"WARN", PTD_LOG_WARN},   {"warn", PTD_LOG_WARN},   {"wArN", PTD_LOG_WARN},
      {"INFO", PTD_LOG_INFO},   {"info", PTD_LOG_INFO},   {"Info", PTD_LOG_INFO},
      {"DEBUG", PTD_LOG_DEBUG}, {"debug", PTD_LOG_DEBUG}, {"dEbUg", PTD_LOG_DEBUG},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    ptd_log_level_t got = (ptd_log_level_t)99;
    if (log_level_parse(ok[i].text, &got) != 0)
      fail_msg("log_level_parse refused \"%s\"", ok[i].text);
    assert_int_equal(got, ok[i].want);
  }
}

static void test_level_parse_bad(void **state) {
  (void)state;
  const char *bad[] = {"",      "WARNING", "warn ",  " warn", "INFOx", "notice",
                       "0",     "3",       "ERR",    "DEBU",  "TRACE", "ERROR\n",
                       "in fo", "DEBUG1",  "\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ptd_log_level_t got = PTD_LOG_INFO;
    if (log_level_parse(bad[i], &got) != -1)
      fail_msg("log_level_parse accepted \"%s\"", bad[i]);
    assert_int_equal(got, PTD_LOG_INFO); /* untouched on failure */
  }
}

static void test_level_names(void **state) {
  (void)state;
  assert_string_equal(log_level_name(PTD_LOG_ERROR), "ERROR");
  assert_string_equal(log_level_name(PTD_LOG_WARN), "WARN");
  assert_string_equal(log_level_name(PTD_LOG_INFO), "INFO");
  assert_string_equal(log_level_name(PTD_LOG_DEBUG), "DEBUG");
  /* Names round-trip through the parser. */
  for (int l = PTD_LOG_ERROR; l <= PTD_LOG_DEBUG; l++) {
    ptd_log_level_t got;
    assert_int_equal(log_level_parse(log_level_name((ptd_log_level_t)l), &got), 0);
    assert_int_equal(got, l);
  }
}

static void test_set_get(void **state) {
  (void)state;
  log_set_level(PTD_LOG_DEBUG);
  assert_int_equal(log_get_level(), PTD_LOG_DEBUG);
  log_set_level(PTD_LOG_ERROR);
  assert_int_equal(log_get_level(), PTD_LOG_ERROR);
  assert_false(log_is_unsafe());
  log_set_unsafe(true);
  assert_true(log_is_unsafe());
  log_set_unsafe(false);
  assert_false(log_is_unsafe());
}

/* ---- the parent sink ---- */

/* At DEBUG everything passes the level, but only warnings and errors go to
 * the parent. */
static void test_sink_gets_only_warn_and_error(void **state) {
  (void)state;
  log_set_parent_sink(recording_sink);
  log_set_level(PTD_LOG_DEBUG);
  log_debug("d %d", 1);
  log_info("i %d", 2);
  log_warn("w %d", 3);
  log_error("e %s", "four");
  assert_int_equal(sink_seen.n, 2);
  assert_int_equal(sink_seen.level[0], PTD_LOG_WARN);
  assert_string_equal(sink_seen.msg[0], "w 3");
  assert_int_equal(sink_seen.level[1], PTD_LOG_ERROR);
  assert_string_equal(sink_seen.msg[1], "e four");
}

static void test_sink_respects_level(void **state) {
  (void)state;
  log_set_parent_sink(recording_sink);
  log_set_level(PTD_LOG_ERROR);
  log_warn("not shown");
  log_info("not shown");
  log_error("shown");
  assert_int_equal(sink_seen.n, 1);
  assert_int_equal(sink_seen.level[0], PTD_LOG_ERROR);
  assert_string_equal(sink_seen.msg[0], "shown");

  memset(&sink_seen, 0, sizeof sink_seen);
  log_set_level(PTD_LOG_WARN);
  log_info("not shown");
  log_warn("warned");
  assert_int_equal(sink_seen.n, 1);
  assert_string_equal(sink_seen.msg[0], "warned");

  memset(&sink_seen, 0, sizeof sink_seen);
  log_set_level(PTD_LOG_INFO);
  log_info("not to parent");
  log_debug("not at all");
  assert_int_equal(sink_seen.n, 0);
}

static void test_sink_removed(void **state) {
  (void)state;
  log_set_parent_sink(recording_sink);
  log_error("one");
  log_set_parent_sink(NULL);
  log_error("two"); /* no sink, no file: dropped, no crash */
  assert_int_equal(sink_seen.n, 1);
  assert_string_equal(sink_seen.msg[0], "one");
}

/* A message longer than the logger's line buffer is cut, not overrun. */
static void test_sink_long_message(void **state) {
  (void)state;
  log_set_parent_sink(recording_sink);
  char big[4000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  log_error("%s", big);
  assert_int_equal(sink_seen.n, 1);
  size_t len = strlen(sink_seen.msg[0]);
  assert_true(len > 0 && len < sizeof big - 1);
  assert_int_equal(strspn(sink_seen.msg[0], "z"), len);
}

/* ---- the log file ---- */

static void test_file_created_0600(void **state) {
  fixture_t *f = *state;
  mode_t old = umask(0);
  int rc = log_open_file(f->path, f->err, sizeof f->err);
  umask(old);
  assert_int_equal(rc, 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_file_existing_0644_becomes_0600(void **state) {
  fixture_t *f = *state;
  int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "old line\n", 9), 9);
  assert_int_equal(fchmod(fd, 0644), 0);
  close(fd);
  assert_int_equal(log_open_file(f->path, f->err, sizeof f->err), 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  log_warn("appended");
  char *text = read_log(f->path);
  /* Opened for appending: the old content stays, first. */
  assert_true(strncmp(text, "old line\n", 9) == 0);
  assert_contains(text + 9, "appended");
  free(text);
}

static void test_file_lines(void **state) {
  fixture_t *f = *state;
  assert_int_equal(log_open_file(f->path, f->err, sizeof f->err), 0);
  log_set_level(PTD_LOG_INFO);
  log_error("boom %d", 7);
  log_warn("careful %s", "now");
  log_info("fyi");
  log_debug("hidden at INFO");
  char *text = read_log(f->path);
  assert_int_equal(count_lines(text), 3);
  char *l1 = text;
  char *l2 = strchr(l1, '\n') + 1;
  char *l3 = strchr(l2, '\n') + 1;
  l2[-1] = l3[-1] = '\0';
  assert_contains(l1, "ERROR");
  assert_contains(l1, "boom 7");
  assert_contains(l2, "WARN");
  assert_contains(l2, "careful now");
  assert_contains(l3, "INFO");
  assert_contains(l3, "fyi");
  assert_lacks(l3, "hidden");
  free(text);
}

/* The file takes every level up to the configured one; the parent only
 * warnings and errors. */
static void test_file_and_sink_together(void **state) {
  fixture_t *f = *state;
  assert_int_equal(log_open_file(f->path, f->err, sizeof f->err), 0);
  log_set_parent_sink(recording_sink);
  log_set_level(PTD_LOG_DEBUG);
  log_debug("dbg");
  log_info("inf");
  log_warn("wrn");
  char *text = read_log(f->path);
  assert_int_equal(count_lines(text), 3);
  assert_contains(text, "DEBUG");
  assert_contains(text, "dbg");
  assert_contains(text, "inf");
  assert_contains(text, "wrn");
  free(text);
  assert_int_equal(sink_seen.n, 1);
  assert_string_equal(sink_seen.msg[0], "wrn");
}

static void test_file_closed_stops_writing(void **state) {
  fixture_t *f = *state;
  assert_int_equal(log_open_file(f->path, f->err, sizeof f->err), 0);
  log_error("before");
  log_close();
  log_close(); /* twice is fine */
  log_error("after");
  char *text = read_log(f->path);
  assert_contains(text, "before");
  assert_lacks(text, "after");
  free(text);
}

static void test_file_open_fails(void **state) {
  fixture_t *f = *state;
  char p[TEST_PATH_MAX];
  snprintf(p, sizeof p, "%s/no/such/dir/x.log", f->dir.path);
  f->err[0] = '\0';
  assert_int_equal(log_open_file(p, f->err, sizeof f->err), -1);
  assert_contains(f->err, p); /* the error names the path */
}

/* A planted symlink must not redirect the log. */
static void test_file_symlink_refused(void **state) {
  fixture_t *f = *state;
  char target[TEST_PATH_MAX];
  snprintf(target, sizeof target, "%s/target", f->dir.path);
  int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(symlink(target, f->path), 0);
  assert_int_equal(log_open_file(f->path, f->err, sizeof f->err), -1);
  struct stat st;
  assert_int_equal(stat(target, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644); /* not chmod'ed through the link */
  assert_int_equal(st.st_size, 0);
}

/* ---- addresses ---- */

/* log_addr() writes into buf and returns it, holding want. */
static void assert_log_addr(const struct sockaddr *sa, const char *want) {
  char buf[ADDR_TEXT_MAX];
  const char *got = log_addr(sa, buf);
  assert_ptr_equal(got, buf);
  assert_string_equal(got, want);
}

static void test_addr_scrubbed_by_default(void **state) {
  (void)state;
  struct sockaddr_storage v4 = test_sockaddr("127.0.0.2", 5555);
  struct sockaddr_storage v6 = test_sockaddr("::1", 80);
  assert_log_addr((const struct sockaddr *)&v4, "[scrubbed]");
  assert_log_addr((const struct sockaddr *)&v6, "[scrubbed]");
}

static void test_addr_unsafe(void **state) {
  (void)state;
  struct sockaddr_storage v4 = test_sockaddr("127.0.0.2", 5555);
  struct sockaddr_storage v6 = test_sockaddr("::1", 80);
  log_set_unsafe(true);
  assert_log_addr((const struct sockaddr *)&v4, "127.0.0.2:5555");
  assert_log_addr((const struct sockaddr *)&v6, "[::1]:80");
  log_set_unsafe(false);
  assert_log_addr((const struct sockaddr *)&v6, "[scrubbed]");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_level_parse_spellings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_level_parse_bad, setup, teardown),
      cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_gets_only_warn_and_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_respects_level, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_long_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_created_0600, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_existing_0644_becomes_0600, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_and_sink_together, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_closed_stops_writing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_open_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_symlink_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_addr_scrubbed_by_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_addr_unsafe, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
