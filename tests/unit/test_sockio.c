/* Unit tests for lib/sockio: big reads straight into an evbuffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "lib/sockio.h"

#include "testutil.h"

typedef struct fixture {
  int fds[2]; /* [0] is read by sockio, [1] written by the test */
  struct evbuffer *buf;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->fds), 0);
  test_set_nonblock(f->fds[0]);
  f->buf = evbuffer_new();
  assert_non_null(f->buf);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  close(f->fds[0]);
  if (f->fds[1] >= 0)
    close(f->fds[1]);
  evbuffer_free(f->buf);
  free(f);
  return 0;
}

/* Everything that is readable arrives, in order, appended after what the
 * buffer already held. */
static void test_reads_all_available_in_order(void **state) {
  fixture_t *f = *state;
  static uint8_t data[100000];
  test_fill_pattern(data, sizeof data, 7);
  evbuffer_add(f->buf, "head", 4);
  test_write_all(f->fds[1], data, sizeof data);
  size_t got = sockio_read_more(f->buf, f->fds[0], 1 << 20);
  assert_int_equal(got, sizeof data);
  assert_int_equal(evbuffer_get_length(f->buf), 4 + sizeof data);
  uint8_t *flat = evbuffer_pullup(f->buf, -1);
  assert_memory_equal(flat, "head", 4);
  assert_memory_equal(flat + 4, data, sizeof data);
}

/* max bounds what is taken; the rest stays in the socket. */
static void test_respects_max(void **state) {
  fixture_t *f = *state;
  static uint8_t data[50000];
  test_fill_pattern(data, sizeof data, 3);
  test_write_all(f->fds[1], data, sizeof data);
  assert_int_equal(sockio_read_more(f->buf, f->fds[0], 1000), 1000);
  assert_int_equal(evbuffer_get_length(f->buf), 1000);
  assert_int_equal(sockio_read_more(f->buf, f->fds[0], 1 << 20), sizeof data - 1000);
  assert_memory_equal(evbuffer_pullup(f->buf, -1), data, sizeof data);
}

/* An empty non-blocking socket gives 0 without blocking; so do max 0 and
 * a closed descriptor. */
static void test_nothing_to_read(void **state) {
  fixture_t *f = *state;
  assert_int_equal(sockio_read_more(f->buf, f->fds[0], 4096), 0);
  assert_int_equal(sockio_read_more(f->buf, -1, 4096), 0);
  test_write_all(f->fds[1], (const uint8_t *)"x", 1);
  assert_int_equal(sockio_read_more(f->buf, f->fds[0], 0), 0);
  assert_int_equal(evbuffer_get_length(f->buf), 0);
}

/* At EOF it returns what came before and leaves the EOF for the socket's
 * next read to report (a later read still sees it). */
static void test_stops_at_eof(void **state) {
  fixture_t *f = *state;
  test_write_all(f->fds[1], (const uint8_t *)"last words", 10);
  close(f->fds[1]);
  f->fds[1] = -1;
  assert_int_equal(sockio_read_more(f->buf, f->fds[0], 4096), 10);
  assert_memory_equal(evbuffer_pullup(f->buf, -1), "last words", 10);
  char c;
  assert_int_equal(read(f->fds[0], &c, 1), 0);
}

static void test_read_reports_why_it_stopped(void **state) {
  fixture_t *f = *state;
  sockio_end_t end;
  assert_int_equal(sockio_read(f->buf, f->fds[0], 100, &end), 0);
  assert_int_equal(end, SOCKIO_DRAINED);
  test_write_all(f->fds[1], (const uint8_t *)"0123456789", 10);
  assert_int_equal(sockio_read(f->buf, f->fds[0], 4, &end), 4);
  assert_int_equal(end, SOCKIO_LIMIT);
  assert_int_equal(shutdown(f->fds[1], SHUT_WR), 0);
  assert_int_equal(sockio_read(f->buf, f->fds[0], 100, &end), 6); /* a short read */
  assert_int_equal(end, SOCKIO_DRAINED);
  assert_int_equal(sockio_read(f->buf, f->fds[0], 100, &end), 0);
  assert_int_equal(end, SOCKIO_EOF);
  assert_int_equal(evbuffer_get_length(f->buf), 10);
}

static void test_read_reports_a_reset(void **state) {
  fixture_t *f = *state;
  /* A peer that closes with our bytes unread resets the connection. */
  test_write_all(f->fds[0], (const uint8_t *)"unread", 6);
  close(f->fds[1]);
  f->fds[1] = -1;
  sockio_end_t end;
  errno = 0;
  assert_int_equal(sockio_read(f->buf, f->fds[0], 100, &end), 0);
  assert_int_equal(end, SOCKIO_ERROR);
  assert_int_equal(errno, ECONNRESET);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reads_all_available_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_respects_max, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nothing_to_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stops_at_eof, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_reports_why_it_stopped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_reports_a_reset, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
