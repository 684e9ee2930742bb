/* testutil.h: helpers shared by the unit tests.
 *
 * CMake builds every tests/unit/test_*.c as its own executable and links it
 * with the ptd library and cmocka only, so code shared between tests cannot
 * live in a .c file here: everything is static inline (an unused helper
 * costs nothing and warns about nothing), and state that must outlive a call
 * sits in a static local of one function.
 *
 * Helpers that tests call fail the running test through cmocka on anything
 * unexpected, so the caller needs no error path. Helpers meant for setup and
 * teardown functions return 0 / -1 instead, for those to return.
 *
 * Sections: argv/envp literals; text; key/value lists; evbuffers;
 * socket addresses; nonblocking sockets and their read/write loops;
 * pseudo-random test data; libevent's warnings; a bounded event loop;
 * temporary directories. */
#ifndef PTD_TESTS_UNIT_TESTUTIL_H
#define PTD_TESTS_UNIT_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "lib/addr.h"
#include "lib/kvlist.h"

/* ---- argv and envp literals ---- */

/* For code that reads a command line and an environment:
 * ARGS("-state", "x") is {"ptdispatch", "-state", "x", NULL}. */
#define ARGS(...) ((char *[]){"ptdispatch", __VA_ARGS__, NULL})
#define NOARGS ((char *[]){"ptdispatch", NULL})
#define ENV(...) ((char *[]){__VA_ARGS__, NULL})
#define NOENV ((char *[]){NULL})

/* The argc that goes with a NULL-terminated argv. */
static inline int test_argc(char *const argv[]) {
  int n = 0;
  while (argv[n])
    n++;
  return n;
}

/* ---- text ---- */

/* Asserts that text holds needle; a failure quotes both. */
static inline void assert_contains(const char *text, const char *needle) {
  assert_non_null(text);
  if (!strstr(text, needle))
    fail_msg("\"%s\" does not contain \"%s\"", text, needle);
}

/* Asserts that text does not hold needle; a failure quotes both. */
static inline void assert_lacks(const char *text, const char *needle) {
  assert_non_null(text);
  if (strstr(text, needle))
    fail_msg("\"%s\" contains \"%s\"", text, needle);
}

/* ---- key/value lists ---- */

/* Asserts that l holds exactly the n pairs of kv (key, value, key, value,
 * ...), in order. */
static inline void test_expect_kvlist(const kvlist_t *l, size_t n, const char *const *kv) {
  assert_non_null(l);
  assert_int_equal(l->n, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(l->items[i].key, kv[2 * i]);
    assert_string_equal(l->items[i].value, kv[2 * i + 1]);
  }
}

/* EXPECT_KVLIST(l, "k1", "v1", "k2", "v2") */
#define EXPECT_KVLIST(l, ...)                                                   \
  do {                                                                          \
    const char *const kv_[] = {__VA_ARGS__};                                    \
    test_expect_kvlist((l), sizeof kv_ / sizeof kv_[0] / 2, kv_);               \
  } while (0)

/* ---- evbuffers ---- */

/* A new evbuffer holding a copy of data[0..len) (none when len is 0). */
static inline struct evbuffer *test_evbuffer_with(const void *data, size_t len) {
  struct evbuffer *b = evbuffer_new();
  assert_non_null(b);
  if (len > 0)
    assert_int_equal(evbuffer_add(b, data, len), 0);
  return b;
}

/* Asserts that b holds exactly the len bytes of want. */
static inline void assert_evbuffer_is(struct evbuffer *b, const void *want, size_t len) {
  assert_int_equal(evbuffer_get_length(b), len);
  if (len == 0)
    return;
  uint8_t *got = evbuffer_pullup(b, -1);
  assert_non_null(got);
  assert_memory_equal(got, want, len);
}

/* ---- socket addresses ---- */

/* A numeric IPv4 or IPv6 address (no brackets; the family follows from a
 * ':' in ip) and a port, as a socket address. */
static inline struct sockaddr_storage test_sockaddr(const char *ip, uint16_t port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
  }
  return ss;
}

/* Asserts that ep is the IP literal host (IPv6 when it holds a ':') and
 * port, with a socket address to match whose address bytes are addr (4 or
 * 16 of them, as they came on the wire). */
static inline void assert_ip_endpoint(const addr_endpoint_t *ep, const char *host, uint16_t port,
                                      const uint8_t *addr) {
  assert_string_equal(ep->host, host);
  assert_int_equal(ep->port, port);
  if (strchr(host, ':')) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->sa;
    assert_int_equal(ep->family, AF_INET6);
    assert_int_equal(ep->salen, sizeof *sin6);
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), port);
    assert_memory_equal(&sin6->sin6_addr, addr, 16);
  } else {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->sa;
    assert_int_equal(ep->family, AF_INET);
    assert_int_equal(ep->salen, sizeof *sin);
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), port);
    assert_memory_equal(&sin->sin_addr, addr, 4);
  }
}

/* ---- nonblocking sockets ---- */

/* The most one read() or write() of the helpers below moves. */
#define TEST_IO_CHUNK 65536

static inline void test_set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  assert_true(fl >= 0);
  assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A connected AF_UNIX stream pair, both ends nonblocking. */
static inline void test_socketpair_nonblock(int fds[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  test_set_nonblock(fds[0]);
  test_set_nonblock(fds[1]);
}

/* Writes as much of data[*off, len) as the nonblocking fd takes, advancing
 * *off; stops when the socket would block. Returns how many bytes it took.
 * When the peer is gone (EPIPE, ECONNRESET) it sets *peer_gone and stops;
 * with peer_gone NULL that fails the test, as any other error does. A
 * caller whose peer may close ignores SIGPIPE. */
static inline size_t test_write_some(int fd, const uint8_t *data, size_t len, size_t *off,
                                     bool *peer_gone) {
  size_t taken = 0;
  while (*off < len) {
    size_t n = len - *off > TEST_IO_CHUNK ? TEST_IO_CHUNK : len - *off;
    ssize_t w = write(fd, data + *off, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (peer_gone && (errno == EPIPE || errno == ECONNRESET)) {
        *peer_gone = true;
        break;
      }
      fail_msg("write: %s", strerror(errno));
    }
    *off += (size_t)w;
    taken += (size_t)w;
  }
  return taken;
}

/* Writes all n bytes to a blocking fd. */
static inline void test_write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    assert_true(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

/* Why test_read_some() stopped. */
typedef enum test_read_end {
  TEST_READ_WOULD_BLOCK, /* nothing more for now */
  TEST_READ_EOF,
  TEST_READ_RESET, /* ECONNRESET, where the caller allows it */
} test_read_end_t;

/* Takes one chunk of what test_read_some() read. */
typedef void (*test_read_fn)(void *arg, const uint8_t *p, size_t n);

/* Reads what the nonblocking fd has, handing each chunk to got(arg, ...),
 * until it would block, EOF, or (with reset_ok) ECONNRESET; any other
 * error fails the test. */
static inline test_read_end_t test_read_some(int fd, test_read_fn got, void *arg, bool reset_ok) {
  uint8_t buf[TEST_IO_CHUNK];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return TEST_READ_WOULD_BLOCK;
      if (reset_ok && errno == ECONNRESET)
        return TEST_READ_RESET;
      fail_msg("read: %s", strerror(errno));
    }
    if (r == 0)
      return TEST_READ_EOF;
    got(arg, buf, (size_t)r);
  }
}

/* ---- pseudo-random test data ---- */

/* Fills p with bytes from an xorshift32 generator: the same seed gives the
 * same bytes, so a receiver can check a stream against its copy. */
static inline void test_fill_pattern(uint8_t *p, size_t len, uint32_t seed) {
  uint32_t x = seed ? seed : 1; /* xorshift would stay at 0 */
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

/* A malloc'ed buffer of len pattern bytes (the caller frees). */
static inline uint8_t *test_pattern_new(size_t len, uint32_t seed) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  test_fill_pattern(p, len, seed);
  return p;
}

/* ---- libevent's warnings ---- */

/* libevent reports misuse (a bufferevent freed twice, ...) only as a log
 * line. A test that uses libevent installs test_libevent_log() once, resets
 * in its setup, and fails on any warning: at the end in its teardown, or at
 * a point of its choosing with assert_no_libevent_warnings(). */
typedef struct test_libevent_warnings {
  int count;
  char last[256];
} test_libevent_warnings_t;

/* The one record per test program (a static local: a header cannot define
 * a static variable without an unused-variable warning where it is not
 * used). */
static inline test_libevent_warnings_t *test_libevent_warnings_seen(void) {
  static test_libevent_warnings_t seen;
  return &seen;
}

static inline void test_libevent_log(int severity, const char *msg) {
  if (severity < EVENT_LOG_WARN)
    return;
  test_libevent_warnings_t *w = test_libevent_warnings_seen();
  w->count++;
  snprintf(w->last, sizeof w->last, "%s", msg);
}

static inline void test_libevent_warnings_reset(void) {
  test_libevent_warnings_t *w = test_libevent_warnings_seen();
  w->count = 0;
  w->last[0] = '\0';
}

/* For a teardown: says on stderr how often libevent warned, if it did, and
 * returns -1 then (cmocka counts the test failed), else 0. */
static inline int test_libevent_warnings_check(void) {
  const test_libevent_warnings_t *w = test_libevent_warnings_seen();
  if (w->count == 0)
    return 0;
  fprintf(stderr, "libevent warned %d time(s), last: \"%s\"\n", w->count, w->last);
  return -1;
}

/* Fails the test now if libevent warned. Clears the count, so the
 * teardown does not report the same warnings again. */
static inline void assert_no_libevent_warnings(void) {
  test_libevent_warnings_t *w = test_libevent_warnings_seen();
  int n = w->count;
  w->count = 0;
  if (n)
    fail_msg("libevent warned %d time(s), last: \"%s\"", n, w->last);
}

/* ---- a bounded event loop ---- */

/* A test that drives libevent itself runs one nonblocking pass at a time
 * (test_loop_step) between its own socket reads and writes. Every wait is
 * bounded twice: by a number of passes, so a busy loop that makes no
 * progress ends soon, and by wall-clock time for the whole test, so a wait
 * on a timer or a slow machine ends too. Either fails the test naming what
 * it was waiting for, plus whatever describe() adds. */
typedef struct test_loop {
  struct event_base *base;
  long max_iterations; /* passes per wait */
  int max_seconds;     /* per test, from test_loop_init() */
  struct timespec t0;
  long iterations; /* passes in the current wait */
  const char *waiting_for;
  /* Optional: writes the test's progress into out, for a give-up message. */
  void (*describe)(const void *arg, char *out, size_t cap);
  const void *describe_arg;
} test_loop_t;

/* Makes the event base and starts the test's clock. Returns 0, or -1 if
 * libevent could not make a base. */
static inline int test_loop_init(test_loop_t *l, long max_iterations, int max_seconds) {
  memset(l, 0, sizeof *l);
  l->base = event_base_new();
  if (!l->base)
    return -1;
  l->max_iterations = max_iterations;
  l->max_seconds = max_seconds;
  l->waiting_for = "nothing yet";
  clock_gettime(CLOCK_MONOTONIC, &l->t0);
  return 0;
}

/* Frees the base, which also runs the bufferevents' deferred frees. */
static inline void test_loop_free(test_loop_t *l) {
  if (l->base)
    event_base_free(l->base);
  l->base = NULL;
}

/* Seconds since test_loop_init(). */
static inline double test_loop_elapsed_s(const test_loop_t *l) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - l->t0.tv_sec) + (double)(now.tv_nsec - l->t0.tv_nsec) / 1e9;
}

/* Starts a new wait: what names it in a give-up message. */
static inline void test_loop_begin_wait(test_loop_t *l, const char *what) {
  l->iterations = 0;
  l->waiting_for = what;
}

/* One nonblocking pass of the event loop, within the bounds. */
static inline void test_loop_step(test_loop_t *l) {
  char progress[256] = "";
  bool too_many = ++l->iterations > l->max_iterations;
  bool too_long = test_loop_elapsed_s(l) > l->max_seconds;
  if ((too_many || too_long) && l->describe)
    l->describe(l->describe_arg, progress, sizeof progress);
  if (too_many)
    fail_msg("gave up waiting for %s after %ld loop iterations%s", l->waiting_for,
             l->max_iterations, progress);
  if (too_long)
    fail_msg("gave up waiting for %s after %d s%s", l->waiting_for, l->max_seconds, progress);
  assert_true(event_base_loop(l->base, EVLOOP_NONBLOCK) >= 0);
}

/* n passes, for what must (not) happen once the loop has had its chance. */
static inline void test_loop_steps(test_loop_t *l, int n) {
  for (int i = 0; i < n; i++)
    test_loop_step(l);
}

/* ---- temporary directories ---- */

#define TEST_TMPDIR_MAX 64

/* A fresh directory under /tmp, for tests of code that works on a real
 * file system. */
typedef struct test_tmpdir {
  char path[TEST_TMPDIR_MAX];
} test_tmpdir_t;

/* Makes /tmp/<name>-XXXXXX (mode 0700) and puts its path in d. Returns 0,
 * or -1 for a setup function to return. */
static inline int test_tmpdir_make(test_tmpdir_t *d, const char *name) {
  int n = snprintf(d->path, sizeof d->path, "/tmp/%s-XXXXXX", name);
  if (n < 0 || (size_t)n >= sizeof d->path)
    return -1;
  return mkdtemp(d->path) ? 0 : -1;
}

static inline int test_tmpdir_remove_entry(const char *path, const struct stat *st, int flag,
                                           struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag == FTW_DP)
    return rmdir(path);
  return unlink(path);
}

/* Removes d and everything in it, deepest first. Symlinks are removed,
 * never followed. A test that made d itself read-only does not stop the
 * cleanup. Returns 0, or -1 for a teardown function to return. */
static inline int test_tmpdir_remove(const test_tmpdir_t *d) {
  chmod(d->path, 0700);
  return nftw(d->path, test_tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* For a setup function: puts in *state a zeroed fixture of size bytes
 * whose first member is a test_tmpdir_t, made as by test_tmpdir_make().
 * Returns 0, or -1 with nothing left behind. */
static inline int test_tmpdir_fixture_new(void **state, size_t size, const char *name) {
  test_tmpdir_t *d = calloc(1, size);
  if (!d)
    return -1;
  if (test_tmpdir_make(d, name) != 0) {
    free(d);
    return -1;
  }
  *state = d;
  return 0;
}

/* For a teardown function: removes the directory of a fixture from
 * test_tmpdir_fixture_new() and frees the fixture. */
static inline int test_tmpdir_fixture_free(void **state) {
  test_tmpdir_t *d = *state;
  int rc = test_tmpdir_remove(d);
  free(d);
  return rc;
}

#endif /* PTD_TESTS_UNIT_TESTUTIL_H */
