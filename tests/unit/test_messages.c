/* test_messages: the exact lines ptdispatch says to its parent.
 *
 * Each test points the message streams at capture streams (stdout's stand-in
 * is an open_memstream, stderr's a tmpfile) and checks the whole text that
 * came out of each: exact lines, error lines on both streams, everything else
 * on stdout only, and free text that can never split a line. The two
 * escaping helpers (ARGS values, LOG's C string) are also tested directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ipc/messages.h"
#include "lib/kvlist.h"
#include "lib/log.h"

#include "testutil.h"

#define TEST_CAPTURE_MAX 16384

typedef struct capture {
  FILE *out;      /* open_memstream: stands in for stdout */
  char *out_buf;  /* owned by the memstream until fclose */
  size_t out_len;
  FILE *err;      /* tmpfile: stands in for stderr */
  char err_text[TEST_CAPTURE_MAX];
} capture_t;

static int setup(void **state) {
  capture_t *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->out = open_memstream(&c->out_buf, &c->out_len);
  c->err = tmpfile();
  if (!c->out || !c->err)
    return -1;
  ipc_msg_set_streams(c->out, c->err);
  *state = c;
  return 0;
}

static int teardown(void **state) {
  capture_t *c = *state;
  ipc_msg_set_streams(NULL, NULL);
  if (c->out)
    fclose(c->out);
  free(c->out_buf);
  if (c->err)
    fclose(c->err);
  free(c);
  return 0;
}

/* Everything written to the stdout stand-in so far, NUL-terminated. */
static const char *out_text(capture_t *c) {
  assert_int_equal(fflush(c->out), 0);
  return c->out_buf ? c->out_buf : "";
}

/* Everything written to the stderr stand-in so far, NUL-terminated. */
static const char *err_text(capture_t *c) {
  assert_int_equal(fflush(c->err), 0);
  long end = ftell(c->err);
  assert_true(end >= 0 && (size_t)end < sizeof c->err_text);
  rewind(c->err);
  size_t got = fread(c->err_text, 1, (size_t)end, c->err);
  assert_int_equal(got, (size_t)end);
  c->err_text[got] = '\0';
  assert_int_equal(fseek(c->err, 0, SEEK_END), 0);
  return c->err_text;
}

static size_t count_char(const char *s, char ch) {
  size_t n = 0;
  for (; *s; s++)
    n += (*s == ch);
  return n;
}

/* ---- lines that go to stdout only ---- */

static void test_version(void **state) {
  capture_t *c = *state;
  ipc_msg_version("1");
  assert_string_equal(out_text(c), "VERSION 1\n");
  assert_string_equal(err_text(c), "");
}

static void test_proxy_done(void **state) {
  capture_t *c = *state;
  ipc_msg_proxy_done();
  assert_string_equal(out_text(c), "PROXY DONE\n");
  assert_string_equal(err_text(c), "");
}

static void test_status_version(void **state) {
  capture_t *c = *state;
  ipc_msg_status_version();
  assert_string_equal(out_text(c),
                      "STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=" PTD_VERSION "\n");
  assert_string_equal(err_text(c), "");
}

static void test_cmethod_ipv4(void **state) {
  capture_t *c = *state;
  struct sockaddr_storage v4 = test_sockaddr("127.0.0.1", 1080);
  ipc_msg_cmethod("plain", "socks5", (const struct sockaddr *)&v4);
  assert_string_equal(out_text(c), "CMETHOD plain socks5 127.0.0.1:1080\n");
  assert_string_equal(err_text(c), "");
}

static void test_cmethod_ipv6(void **state) {
  capture_t *c = *state;
  struct sockaddr_storage v6 = test_sockaddr("::1", 5);
  ipc_msg_cmethod("obfs4", "socks5", (const struct sockaddr *)&v6);
  assert_string_equal(out_text(c), "CMETHOD obfs4 socks5 [::1]:5\n");
  assert_string_equal(err_text(c), "");
}

static void test_done_lines(void **state) {
  capture_t *c = *state;
  ipc_msg_cmethods_done();
  ipc_msg_smethods_done();
  assert_string_equal(out_text(c), "CMETHODS DONE\nSMETHODS DONE\n");
  assert_string_equal(err_text(c), "");
}

static void test_smethod_no_args(void **state) {
  capture_t *c = *state;
  struct sockaddr_storage v4 = test_sockaddr("0.0.0.0", 4433);
  ipc_msg_smethod("plain", (const struct sockaddr *)&v4, NULL);
  kvlist_t *empty = kvlist_new();
  assert_non_null(empty);
  struct sockaddr_storage v6 = test_sockaddr("::", 443);
  ipc_msg_smethod("plain", (const struct sockaddr *)&v6, empty);
  kvlist_free(empty);
  assert_string_equal(out_text(c), "SMETHOD plain 0.0.0.0:4433\n"
                                   "SMETHOD plain [::]:443\n");
  assert_string_equal(err_text(c), "");
}

static void test_smethod_with_args(void **state) {
  capture_t *c = *state;
  kvlist_t *args = kvlist_new();
  assert_non_null(args);
  assert_int_equal(kvlist_add(args, "k", "v"), 0);
  assert_int_equal(kvlist_add(args, "k2", "a,b=c\\d"), 0);
  struct sockaddr_storage v4 = test_sockaddr("192.0.2.7", 9000);
  ipc_msg_smethod("obfs4", (const struct sockaddr *)&v4, args);
  kvlist_free(args);
  assert_string_equal(out_text(c), "SMETHOD obfs4 192.0.2.7:9000 ARGS:k=v,k2=a\\,b\\=c\\\\d\n");
  assert_string_equal(err_text(c), "");
}

/* ---- error lines: the same line on stdout and stderr ---- */

static void test_version_error(void **state) {
  capture_t *c = *state;
  ipc_msg_version_error("no-version");
  assert_string_equal(out_text(c), "VERSION-ERROR no-version\n");
  assert_string_equal(err_text(c), "VERSION-ERROR no-version\n");
}

static void test_env_error(void **state) {
  capture_t *c = *state;
  ipc_msg_env_error("bad bind address \"x-1.2.3\" in TOR_PT_SERVER_BINDADDR");
  const char *want = "ENV-ERROR bad bind address \"x-1.2.3\" in TOR_PT_SERVER_BINDADDR\n";
  assert_string_equal(out_text(c), want);
  assert_string_equal(err_text(c), want);
}

static void test_proxy_error(void **state) {
  capture_t *c = *state;
  ipc_msg_proxy_error("proxy unreachable");
  assert_string_equal(out_text(c), "PROXY-ERROR proxy unreachable\n");
  assert_string_equal(err_text(c), "PROXY-ERROR proxy unreachable\n");
}

static void test_cmethod_error(void **state) {
  capture_t *c = *state;
  ipc_msg_cmethod_error("meek", "no such transport");
  assert_string_equal(out_text(c), "CMETHOD-ERROR meek no such transport\n");
  assert_string_equal(err_text(c), "CMETHOD-ERROR meek no such transport\n");
}

static void test_smethod_error(void **state) {
  capture_t *c = *state;
  ipc_msg_smethod_error("obfs4", "cannot bind 0.0.0.0:443");
  assert_string_equal(out_text(c), "SMETHOD-ERROR obfs4 cannot bind 0.0.0.0:443\n");
  assert_string_equal(err_text(c), "SMETHOD-ERROR obfs4 cannot bind 0.0.0.0:443\n");
}

/* Error lines interleaved with normal ones: stderr holds only the errors,
 * stdout everything, in order. */
static void test_error_lines_only_on_stderr(void **state) {
  capture_t *c = *state;
  ipc_msg_version("2");
  ipc_msg_cmethod_error("x", "nope");
  ipc_msg_cmethods_done();
  assert_string_equal(out_text(c), "VERSION 2\nCMETHOD-ERROR x nope\nCMETHODS DONE\n");
  assert_string_equal(err_text(c), "CMETHOD-ERROR x nope\n");
}

/* ---- free text never breaks the line grammar ---- */

static void test_error_text_newline_sanitized(void **state) {
  capture_t *c = *state;
  ipc_msg_env_error("bad\nVERSION 2\r\tx\x01y\x7f");
  const char *out = out_text(c);
  assert_int_equal(count_char(out, '\n'), 1);
  assert_string_equal(out, "ENV-ERROR bad?VERSION 2??x?y?\n");
  assert_string_equal(err_text(c), "ENV-ERROR bad?VERSION 2??x?y?\n");
}

static void test_every_message_is_one_line(void **state) {
  capture_t *c = *state;
  struct sockaddr_storage v4 = test_sockaddr("127.0.0.1", 1);
  ipc_msg_version("1\n2");
  ipc_msg_version_error("a\nb");
  ipc_msg_env_error("a\nb");
  ipc_msg_proxy_error("a\nb");
  ipc_msg_cmethod("t\nx", "socks5\n", (const struct sockaddr *)&v4);
  ipc_msg_cmethod_error("t\nx", "a\nb");
  ipc_msg_smethod("t\nx", (const struct sockaddr *)&v4, NULL);
  ipc_msg_smethod_error("t\nx", "a\nb");
  ipc_msg_log(PTD_LOG_ERROR, "a\nb");
  const char *out = out_text(c);
  assert_int_equal(count_char(out, '\n'), 9);
  assert_string_equal(out, "VERSION 1?2\n"
                           "VERSION-ERROR a?b\n"
                           "ENV-ERROR a?b\n"
                           "PROXY-ERROR a?b\n"
                           "CMETHOD t?x socks5? 127.0.0.1:1\n"
                           "CMETHOD-ERROR t?x a?b\n"
                           "SMETHOD t?x 127.0.0.1:1\n"
                           "SMETHOD-ERROR t?x a?b\n"
                           "LOG SEVERITY=error MESSAGE=\"a\\nb\"\n");
  assert_int_equal(count_char(err_text(c), '\n'), 5);
}

/* A format directive in the message is text, not a directive. */
static void test_percent_is_literal(void **state) {
  capture_t *c = *state;
  ipc_msg_env_error("100%s %n%d");
  assert_string_equal(out_text(c), "ENV-ERROR 100%s %n%d\n");
}

/* A message far longer than any line buffer still comes out as exactly one
 * newline-terminated line. */
static void test_long_message_one_line(void **state) {
  capture_t *c = *state;
  size_t n = 10000;
  char *msg = malloc(n + 1);
  assert_non_null(msg);
  memset(msg, 'x', n);
  msg[n] = '\0';
  msg[5000] = '\n';
  ipc_msg_proxy_error(msg);
  ipc_msg_log(PTD_LOG_WARN, msg);
  free(msg);
  const char *out = out_text(c);
  assert_int_equal(count_char(out, '\n'), 2);
  assert_int_equal(out[strlen(out) - 1], '\n');
  assert_true(strncmp(out, "PROXY-ERROR xxx", 15) == 0);
  const char *second = strchr(out, '\n') + 1;
  assert_true(strncmp(second, "LOG SEVERITY=warning MESSAGE=\"xxx", 33) == 0);
  const char *e = err_text(c);
  assert_int_equal(count_char(e, '\n'), 1);
  assert_int_equal(e[strlen(e) - 1], '\n');
}

/* ---- LOG lines ---- */

static void test_log_severity_mapping(void **state) {
  capture_t *c = *state;
  ipc_msg_log(PTD_LOG_ERROR, "e");
  ipc_msg_log(PTD_LOG_WARN, "w");
  ipc_msg_log(PTD_LOG_INFO, "i");
  ipc_msg_log(PTD_LOG_DEBUG, "d");
  assert_string_equal(out_text(c), "LOG SEVERITY=error MESSAGE=\"e\"\n"
                                   "LOG SEVERITY=warning MESSAGE=\"w\"\n"
                                   "LOG SEVERITY=info MESSAGE=\"i\"\n"
                                   "LOG SEVERITY=debug MESSAGE=\"d\"\n");
  /* LOG is not an error line. */
  assert_string_equal(err_text(c), "");
}

static void test_log_message_quoting(void **state) {
  capture_t *c = *state;
  ipc_msg_log(PTD_LOG_WARN, "say \"hi\" to C:\\dir\nnext\tcol\rcr\x01\x1f\x7f end");
  assert_string_equal(out_text(c),
                      "LOG SEVERITY=warning MESSAGE=\"say \\\"hi\\\" to C:\\\\dir\\nnext\\tcol"
                      "\\rcr\\001\\037\\177 end\"\n");
}

static void test_log_empty_message(void **state) {
  capture_t *c = *state;
  ipc_msg_log(PTD_LOG_INFO, "");
  assert_string_equal(out_text(c), "LOG SEVERITY=info MESSAGE=\"\"\n");
}

/* Checks that line is LOG ... MESSAGE="<QuotedString>"\n with a complete
 * closing quote and only whole escapes inside. */
static void assert_log_line_well_formed(const char *line) {
  const char *q = strstr(line, "MESSAGE=\"");
  assert_non_null(q);
  const char *p = q + strlen("MESSAGE=\"");
  for (;;) {
    if (*p == '\0' || *p == '\n')
      fail_msg("LOG line has no closing quote: ...%s", p > line + 40 ? p - 40 : line);
    if (*p == '"')
      break;
    if (*p == '\\') {
      p++;
      if (*p >= '0' && *p <= '7') {
        if (!(p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7'))
          fail_msg("LOG line ends inside an octal escape");
        p += 3;
        continue;
      }
      if (!strchr("\\\"ntr", *p) || *p == '\0')
        fail_msg("LOG line has a broken escape");
    }
    p++;
  }
  assert_string_equal(p, "\"\n");
}

/* The longest message log_msg can hand the sink (1023 bytes, its line
 * buffer) must still give a well-formed LOG line, even when every byte
 * needs a 4-byte escape: a LOG line whose quoted string is cut off loses
 * its closing quote, and the parent rejects the line. */
static void test_log_longest_message_well_formed(void **state) {
  capture_t *c = *state;
  char msg[1024];
  memset(msg, 'x', sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  ipc_msg_log(PTD_LOG_WARN, msg);
  assert_log_line_well_formed(out_text(c));
  assert_int_equal(fclose(c->out), 0);
  free(c->out_buf);
  c->out_buf = NULL;
  c->out = open_memstream(&c->out_buf, &c->out_len);
  assert_non_null(c->out);
  ipc_msg_set_streams(c->out, c->err);
  memset(msg, '\x01', sizeof msg - 1);
  ipc_msg_log(PTD_LOG_WARN, msg);
  const char *out = out_text(c);
  assert_int_equal(count_char(out, '\n'), 1);
  assert_log_line_well_formed(out);
}

/* ---- the helpers directly ---- */

static void test_escape_args_empty(void **state) {
  (void)state;
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  char *s = ipc_escape_args(l);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
  kvlist_free(l);
}

static void test_escape_args(void **state) {
  (void)state;
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  assert_int_equal(kvlist_add(l, "cert", "AbC+/9"), 0);
  assert_int_equal(kvlist_add(l, "iat-mode", "0"), 0);
  assert_int_equal(kvlist_add(l, "a=b", "c,d"), 0);
  assert_int_equal(kvlist_add(l, "bs", "\\"), 0);
  assert_int_equal(kvlist_add(l, "empty", ""), 0);
  assert_int_equal(kvlist_add(l, "all", ",=\\,=\\"), 0);
  char *s = ipc_escape_args(l);
  assert_non_null(s);
  assert_string_equal(s, "cert=AbC+/9,iat-mode=0,a\\=b=c\\,d,bs=\\\\,empty=,"
                         "all=\\,\\=\\\\\\,\\=\\\\");
  free(s);
  kvlist_free(l);
}

static void test_escape_args_single(void **state) {
  (void)state;
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  assert_int_equal(kvlist_add(l, "k", "v"), 0);
  char *s = ipc_escape_args(l);
  assert_non_null(s);
  assert_string_equal(s, "k=v");
  free(s);
  kvlist_free(l);
}

static void test_quote_cstring(void **state) {
  (void)state;
  static const struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"", "\"\""},
      {"plain text", "\"plain text\""},
      {"\"", "\"\\\"\""},
      {"\\", "\"\\\\\""},
      {"\n", "\"\\n\""},
      {"\t\r", "\"\\t\\r\""},
      {"\x01", "\"\\001\""},
      {"\x1b[0m", "\"\\033[0m\""},
      {"\x7f", "\"\\177\""},
      {"a\x02"
       "7",
       "\"a\\0027\""}, /* octal is always three digits */
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""}, /* UTF-8 passes through */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = ipc_quote_cstring(cases[i].in);
    assert_non_null(s);
    assert_string_equal(s, cases[i].want);
    free(s);
  }
}

/* Worst case growth: every byte becomes a 4-byte octal escape. */
static void test_quote_cstring_all_control(void **state) {
  (void)state;
  char in[32];
  for (size_t i = 0; i < 31; i++)
    in[i] = (char)(i + 1);
  in[31] = '\0';
  char *s = ipc_quote_cstring(in);
  assert_non_null(s);
  assert_string_equal(s, "\"\\001\\002\\003\\004\\005\\006\\007\\010\\t\\n\\013\\014\\r"
                         "\\016\\017\\020\\021\\022\\023\\024\\025\\026\\027\\030\\031"
                         "\\032\\033\\034\\035\\036\\037\"");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_proxy_done, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cmethod_ipv4, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cmethod_ipv6, setup, teardown),
      cmocka_unit_test_setup_teardown(test_done_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_smethod_no_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_smethod_with_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_proxy_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cmethod_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_smethod_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_lines_only_on_stderr, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_text_newline_sanitized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_message_is_one_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_percent_is_literal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_message_one_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_severity_mapping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_message_quoting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_empty_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_longest_message_well_formed, setup, teardown),
      cmocka_unit_test(test_escape_args_empty),
      cmocka_unit_test(test_escape_args),
      cmocka_unit_test(test_escape_args_single),
      cmocka_unit_test(test_quote_cstring),
      cmocka_unit_test(test_quote_cstring_all_control),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
