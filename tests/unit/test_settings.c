/* test_settings: flag syntax (Go's flag package), environment lookup,
 * flag-over-variable precedence, booleans, quoting and the -help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/settings.h"
#include "transports/transport.h"

#include "testutil.h"

/* Reads argv/envp and expects success. */
static void read_ok(ipc_settings_t *s, char *const argv[], char *const envp[]) {
  char err[256] = "";
  int rc = ipc_settings_read(s, test_argc(argv), argv, envp, err, sizeof err);
  if (rc != 0)
    fail_msg("ipc_settings_read failed: %s", err);
}

/* Reads argv/envp and expects exactly the error want. */
static void read_err(char *const argv[], char *const envp[], const char *want) {
  ipc_settings_t s;
  char err[256] = "";
  int rc = ipc_settings_read(&s, test_argc(argv), argv, envp, err, sizeof err);
  assert_int_equal(rc, -1);
  assert_string_equal(err, want);
}

static void assert_flag(const ipc_settings_t *s, ipc_opt_t opt, const char *value,
                        const char *source) {
  assert_non_null(s->opt[opt].value);
  assert_string_equal(s->opt[opt].value, value);
  assert_string_equal(s->opt[opt].source, source);
  assert_true(s->opt[opt].from_flag);
}

static void test_string_flag_forms(void **state) {
  (void)state;
  ipc_settings_t s;

  read_ok(&s, ARGS("-state", "/a"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "/a", "-state");
  read_ok(&s, ARGS("-state=/b"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "/b", "-state");
  read_ok(&s, ARGS("--state", "/c"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "/c", "-state");
  read_ok(&s, ARGS("--state=/d"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "/d", "-state");
  /* Only the first '=' splits: the value may hold more. */
  read_ok(&s, ARGS("-options=a:k=v=w"), NOENV);
  assert_flag(&s, IPC_OPT_OPTIONS, "a:k=v=w", "-options");
}

static void test_string_flag_takes_dash_value(void **state) {
  (void)state;
  ipc_settings_t s;
  /* Go's rule: a string flag's next argument is its value, dash or not. */
  read_ok(&s, ARGS("-state", "-client"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "-client", "-state");
  assert_null(s.opt[IPC_OPT_CLIENT].value);
  read_ok(&s, ARGS("-state", "--"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "--", "-state");
}

static void test_empty_value(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, ARGS("-state="), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "", "-state");
  assert_false(ipc_setting_present(&s.opt[IPC_OPT_STATE]));
  read_ok(&s, ARGS("-state", ""), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "", "-state");
}

static void test_bool_bare(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, ARGS("-client"), NOENV);
  assert_flag(&s, IPC_OPT_CLIENT, "true", "-client");
  read_ok(&s, ARGS("--server"), NOENV);
  assert_flag(&s, IPC_OPT_SERVER, "true", "-server");
  assert_null(s.opt[IPC_OPT_CLIENT].value);
}

static void test_bool_values(void **state) {
  (void)state;
  static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
  char arg[64];
  ipc_settings_t s;

  for (size_t i = 0; i < 6; i++) {
    bool b = false;
    char err[128];
    snprintf(arg, sizeof arg, "-udp=%s", yes[i]);
    read_ok(&s, ARGS(arg), NOENV);
    assert_flag(&s, IPC_OPT_UDP, "true", "-udp");
    assert_int_equal(ipc_setting_bool(&s.opt[IPC_OPT_UDP], &b, err, sizeof err), 0);
    assert_true(b);
    snprintf(arg, sizeof arg, "--udp=%s", no[i]);
    read_ok(&s, ARGS(arg), NOENV);
    assert_flag(&s, IPC_OPT_UDP, "false", "-udp");
    assert_int_equal(ipc_setting_bool(&s.opt[IPC_OPT_UDP], &b, err, sizeof err), 0);
    assert_false(b);
  }
  read_err(ARGS("-udp=yes"), NOENV, "bad boolean \"yes\" in -udp");
  read_err(ARGS("-udp="), NOENV, "bad boolean \"\" in -udp");
  read_err(ARGS("-udp=tRUE"), NOENV, "bad boolean \"tRUE\" in -udp");
}

static void test_bool_never_consumes(void **state) {
  (void)state;
  ipc_settings_t s;
  read_err(ARGS("-client", "false"), NOENV, "unexpected argument \"false\"");
  read_err(ARGS("-client", "foo"), NOENV, "unexpected argument \"foo\"");
  read_ok(&s, ARGS("-client", "-server"), NOENV);
  assert_flag(&s, IPC_OPT_CLIENT, "true", "-client");
  assert_flag(&s, IPC_OPT_SERVER, "true", "-server");
}

static void test_double_dash(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, ARGS("-client", "--"), NOENV);
  assert_flag(&s, IPC_OPT_CLIENT, "true", "-client");
  read_ok(&s, ARGS("--"), NOENV);
  assert_null(s.opt[IPC_OPT_CLIENT].value);
  /* After "--" nothing is a flag, and we take no positional arguments. */
  read_err(ARGS("--", "-client"), NOENV, "unexpected argument \"-client\"");
  read_err(ARGS("-client", "--", "x"), NOENV, "unexpected argument \"x\"");
}

static void test_unknown_flag(void **state) {
  (void)state;
  read_err(ARGS("-foo"), NOENV, "unknown flag -foo");
  read_err(ARGS("--foo=bar"), NOENV, "unknown flag -foo");
  read_err(ARGS("-client", "-nope", "x"), NOENV, "unknown flag -nope");
  /* Names are case-sensitive, as in Go. */
  read_err(ARGS("-State", "/x"), NOENV, "unknown flag -State");
  read_err(ARGS("-loglevel", "DEBUG"), NOENV, "unknown flag -loglevel");
  /* An unprintable name is quoted, so it cannot break the error line. */
  read_err(ARGS("-a\nb"), NOENV, "unknown flag \"-a\\x0ab\"");
}

static void test_bad_flag_syntax(void **state) {
  (void)state;
  read_err(ARGS("---state", "x"), NOENV, "bad flag syntax: \"---state\"");
  read_err(ARGS("-=x"), NOENV, "bad flag syntax: \"-=x\"");
  read_err(ARGS("--=x"), NOENV, "bad flag syntax: \"--=x\"");
}

static void test_missing_value(void **state) {
  (void)state;
  read_err(ARGS("-state"), NOENV, "flag -state needs a value");
  read_err(ARGS("--state"), NOENV, "flag -state needs a value");
  read_err(ARGS("-client", "-bindaddr"), NOENV, "flag -bindaddr needs a value");
}

static void test_positional(void **state) {
  (void)state;
  read_err(ARGS("foo"), NOENV, "unexpected argument \"foo\"");
  read_err(ARGS("-"), NOENV, "unexpected argument \"-\"");
  read_err(ARGS("-state", "/x", "foo"), NOENV, "unexpected argument \"foo\"");
  read_err(ARGS("-client", "say \"hi\""), NOENV, "unexpected argument \"say \\\"hi\\\"\"");
}

static void test_last_wins(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, ARGS("-state", "/a", "--state=/b"), NOENV);
  assert_flag(&s, IPC_OPT_STATE, "/b", "-state");
  read_ok(&s, ARGS("-client", "-client=false"), NOENV);
  assert_flag(&s, IPC_OPT_CLIENT, "false", "-client");
}

/* Every row that has both a flag and a variable: the flag wins, and the
 * variable alone is read with the variable's name as source. */
static void test_flag_overrides_env_every_pair(void **state) {
  (void)state;
  int pairs = 0;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const ipc_opt_spec_t *spec = &ipc_opt_specs[i];
    if (!spec->flag || !spec->env)
      continue;
    pairs++;
    bool is_bool = spec->kind == IPC_KIND_BOOL;
    char envvar[128], flag[128], want_source[128];
    snprintf(envvar, sizeof envvar, "%s=%s", spec->env, is_bool ? "1" : "from-env");
    snprintf(flag, sizeof flag, "--%s=%s", spec->flag, is_bool ? "false" : "from-flag");
    snprintf(want_source, sizeof want_source, "-%s", spec->flag);
    ipc_settings_t s;

    read_ok(&s, ARGS(flag), ENV("OTHER=1", envvar));
    assert_flag(&s, (ipc_opt_t)i, is_bool ? "false" : "from-flag", want_source);

    read_ok(&s, NOARGS, ENV(envvar));
    assert_non_null(s.opt[i].value);
    assert_string_equal(s.opt[i].value, is_bool ? "1" : "from-env");
    assert_string_equal(s.opt[i].source, spec->env);
    assert_false(s.opt[i].from_flag);
  }
  /* ptversion state exit-on-stdin-close proxy options bindaddr orport
   * extorport authcookie. */
  assert_int_equal(pairs, 9);
}

static void test_env_only_rows(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, NOARGS,
          ENV("TOR_PT_CLIENT_TRANSPORTS=a", "TOR_PT_SERVER_TRANSPORTS=b",
              "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=1.2.3.4",
              "TOR_PT_OUTBOUND_BIND_ADDRESS_V6=[::1]"));
  assert_string_equal(s.opt[IPC_OPT_CLIENT_TRANSPORTS].value, "a");
  assert_string_equal(s.opt[IPC_OPT_CLIENT_TRANSPORTS].source, "TOR_PT_CLIENT_TRANSPORTS");
  assert_string_equal(s.opt[IPC_OPT_SERVER_TRANSPORTS].value, "b");
  assert_string_equal(s.opt[IPC_OPT_OUTBOUND_V4].value, "1.2.3.4");
  assert_string_equal(s.opt[IPC_OPT_OUTBOUND_V6].value, "[::1]");
  assert_string_equal(s.opt[IPC_OPT_OUTBOUND_V6].source, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6");
  /* Flag-only rows are never read from the environment. */
  read_ok(&s, NOARGS, ENV("transports=a", "mode=STUN"));
  assert_null(s.opt[IPC_OPT_TRANSPORTS].value);
  assert_null(s.opt[IPC_OPT_MODE].value);
}

static void test_env_empty_vs_unset(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, NOARGS, ENV("TOR_PT_EXTENDED_SERVER_PORT="));
  assert_non_null(s.opt[IPC_OPT_EXTORPORT].value);
  assert_string_equal(s.opt[IPC_OPT_EXTORPORT].value, "");
  assert_string_equal(s.opt[IPC_OPT_EXTORPORT].source, "TOR_PT_EXTENDED_SERVER_PORT");
  assert_false(ipc_setting_present(&s.opt[IPC_OPT_EXTORPORT]));
  assert_null(s.opt[IPC_OPT_ORPORT].value);
  assert_null(s.opt[IPC_OPT_ORPORT].source);
  assert_false(ipc_setting_present(&s.opt[IPC_OPT_ORPORT]));
  read_ok(&s, NOARGS, ENV("TOR_PT_ORPORT=x"));
  assert_true(ipc_setting_present(&s.opt[IPC_OPT_ORPORT]));
}

static void test_env_lookup(void **state) {
  (void)state;
  ipc_settings_t s;
  /* A longer name with our name as prefix, a name without '=', then two
   * matches: the first one counts. */
  read_ok(&s, NOARGS,
          ENV("TOR_PT_ORPORTX=1", "TOR_PT_ORPORT", "TOR_PT_ORPORT=first",
              "TOR_PT_ORPORT=second"));
  assert_string_equal(s.opt[IPC_OPT_ORPORT].value, "first");
  read_ok(&s, NOARGS, ENV("TOR_PT_STATE_LOCATION=a=b"));
  assert_string_equal(s.opt[IPC_OPT_STATE].value, "a=b");
  /* A NULL envp is an empty environment. */
  char err[64];
  assert_int_equal(ipc_settings_read(&s, 1, NOARGS, NULL, err, sizeof err), 0);
  assert_null(s.opt[IPC_OPT_STATE].value);
}

static void test_help(void **state) {
  (void)state;
  ipc_settings_t s;
  read_ok(&s, ARGS("-h"), NOENV);
  assert_flag(&s, IPC_OPT_HELP, "true", "-help");
  read_ok(&s, ARGS("-help"), NOENV);
  assert_flag(&s, IPC_OPT_HELP, "true", "-help");
  read_ok(&s, ARGS("--help"), NOENV);
  assert_flag(&s, IPC_OPT_HELP, "true", "-help");
  read_ok(&s, ARGS("--h=false"), NOENV);
  assert_flag(&s, IPC_OPT_HELP, "false", "-help");
  read_ok(&s, ARGS("-version"), NOENV);
  assert_flag(&s, IPC_OPT_VERSION, "true", "-version");
  read_err(ARGS("-H"), NOENV, "unknown flag -H");
}

static void test_every_flag_source(void **state) {
  (void)state;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const ipc_opt_spec_t *spec = &ipc_opt_specs[i];
    if (!spec->flag)
      continue;
    char arg[128], source[128];
    snprintf(arg, sizeof arg, "--%s=%s", spec->flag, spec->kind == IPC_KIND_BOOL ? "1" : "v");
    snprintf(source, sizeof source, "-%s", spec->flag);
    ipc_settings_t s;
    read_ok(&s, ARGS(arg), NOENV);
    assert_flag(&s, (ipc_opt_t)i, spec->kind == IPC_KIND_BOOL ? "true" : "v", source);
    for (int j = 0; j < IPC_OPT_COUNT; j++) {
      if (j != i)
        assert_null(s.opt[j].value);
    }
  }
}

static void test_table(void **state) {
  (void)state;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const ipc_opt_spec_t *spec = &ipc_opt_specs[i];
    assert_true(spec->flag || spec->env);
    assert_non_null(spec->help);
    assert_true(strlen(spec->help) > 5);
    /* Strings need a placeholder in the usage line, bools none. */
    if (spec->flag)
      assert_int_equal(spec->arg != NULL, spec->kind == IPC_KIND_STRING);
  }
  assert_string_equal(ipc_opt_specs[IPC_OPT_PTVERSION].env, "TOR_PT_MANAGED_TRANSPORT_VER");
  assert_string_equal(ipc_opt_specs[IPC_OPT_EXIT_ON_STDIN_CLOSE].flag, "exit-on-stdin-close");
  assert_int_equal(ipc_opt_specs[IPC_OPT_EXIT_ON_STDIN_CLOSE].kind, IPC_KIND_BOOL);
  assert_null(ipc_opt_specs[IPC_OPT_TRANSPORTS].env);
  assert_null(ipc_opt_specs[IPC_OPT_CLIENT_TRANSPORTS].flag);
  assert_string_equal(ipc_opt_specs[IPC_OPT_OPTIONS].env, "TOR_PT_SERVER_TRANSPORT_OPTIONS");
  assert_string_equal(ipc_opt_specs[IPC_OPT_OPTIONS_FILE].flag, "optionsFile");
  assert_string_equal(ipc_opt_specs[IPC_OPT_EXTORPORT].env, "TOR_PT_EXTENDED_SERVER_PORT");
  assert_string_equal(ipc_opt_specs[IPC_OPT_LOGLEVEL].flag, "logLevel");
}

static void test_setting_bool(void **state) {
  (void)state;
  char err[128];
  bool b = true;
  ipc_setting_t unset = {NULL, NULL, false};
  ipc_setting_t empty = {"", "TOR_PT_EXIT_ON_STDIN_CLOSE", false};
  ipc_setting_t one = {"1", "TOR_PT_EXIT_ON_STDIN_CLOSE", false};
  ipc_setting_t f = {"F", "TOR_PT_EXIT_ON_STDIN_CLOSE", false};
  ipc_setting_t yes = {"yes", "TOR_PT_EXIT_ON_STDIN_CLOSE", false};
  ipc_setting_t nl = {"1\n", "TOR_PT_EXIT_ON_STDIN_CLOSE", false};

  assert_int_equal(ipc_setting_bool(&unset, &b, err, sizeof err), 0);
  assert_false(b);
  b = true;
  assert_int_equal(ipc_setting_bool(&empty, &b, err, sizeof err), 0);
  assert_false(b);
  assert_int_equal(ipc_setting_bool(&one, &b, err, sizeof err), 0);
  assert_true(b);
  assert_int_equal(ipc_setting_bool(&f, &b, err, sizeof err), 0);
  assert_false(b);
  assert_int_equal(ipc_setting_bool(&yes, &b, err, sizeof err), -1);
  assert_string_equal(err, "bad boolean \"yes\" in TOR_PT_EXIT_ON_STDIN_CLOSE");
  assert_int_equal(ipc_setting_bool(&nl, &b, err, sizeof err), -1);
  assert_string_equal(err, "bad boolean \"1\\x0a\" in TOR_PT_EXIT_ON_STDIN_CLOSE");
}

static void test_setting_present(void **state) {
  (void)state;
  ipc_setting_t unset = {NULL, NULL, false};
  ipc_setting_t empty = {"", "X", false};
  ipc_setting_t full = {"x", "X", false};
  assert_false(ipc_setting_present(&unset));
  assert_false(ipc_setting_present(&empty));
  assert_true(ipc_setting_present(&full));
}

static void test_quote(void **state) {
  (void)state;
  char q[IPC_QUOTE_MAX];
  assert_string_equal(ipc_quote("abc", q, sizeof q), "\"abc\"");
  assert_string_equal(ipc_quote(NULL, q, sizeof q), "\"\"");
  assert_string_equal(ipc_quote("a\"b\\c", q, sizeof q), "\"a\\\"b\\\\c\"");
  assert_string_equal(ipc_quote("\n\r\t\x7f\xc3\xa9", q, sizeof q),
                      "\"\\x0a\\x0d\\x09\\x7f\\xc3\\xa9\"");

  char longtext[1000];
  memset(longtext, 'x', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  ipc_quote(longtext, q, sizeof q);
  assert_true(strlen(q) < sizeof q);
  assert_int_equal(q[0], '"');
  assert_string_equal(q + strlen(q) - 4, "\"...");

  /* A cut never splits an escape. */
  memset(longtext, '\n', sizeof longtext - 1);
  ipc_quote(longtext, q, sizeof q);
  assert_string_equal(q + strlen(q) - 8, "\\x0a\"...");

  char tiny[4];
  assert_string_equal(ipc_quote("abc", tiny, sizeof tiny), "");
  char exact[16];
  assert_string_equal(ipc_quote("abcdef", exact, sizeof exact), "\"abcdef\"");
}

/* The -help text, in a static buffer (freed by nobody). */
static char *usage_text(void) {
  static char buf[16384];
  memset(buf, 0, sizeof buf);
  FILE *f = fmemopen(buf, sizeof buf, "w");
  assert_non_null(f);
  ipc_usage(f, "ptdispatch");
  long len = ftell(f);
  fclose(f);
  /* It fit, with room for the NUL. */
  assert_true(len > 0 && len < (long)sizeof buf - 1);
  return buf;
}

static void test_usage(void **state) {
  (void)state;
  char *text = usage_text();

  assert_true(strncmp(text, "Usage: ptdispatch [flags]\n", 26) == 0);
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const ipc_opt_spec_t *spec = &ipc_opt_specs[i];
    char want[160];
    if (spec->flag) {
      /* "  -flag" then a space (placeholder or padding): not a prefix of a
       * longer flag's name. */
      snprintf(want, sizeof want, "\n  -%s ", spec->flag);
      if (!strstr(text, want))
        fail_msg("usage lacks %s", want);
    }
    if (spec->env && !strstr(text, spec->env))
      fail_msg("usage lacks %s", spec->env);
    if (!strstr(text, spec->help))
      fail_msg("usage lacks help for row %d", i);
  }
  assert_contains(text, "(env TOR_PT_SERVER_BINDADDR)");
  assert_contains(text, "default WARN");
  assert_contains(text, "default socks5");
  assert_contains(text, "default 127.0.0.1:0");
  assert_contains(text, "working directory");
  assert_contains(text, "\nTransports:");
  const char *const *names = transport_names();
  for (size_t i = 0; names[i]; i++)
    assert_contains(strstr(text, "\nTransports:"), names[i]);
  /* Env-only rows come after every flag row. */
  assert_true(strstr(text, "TOR_PT_CLIENT_TRANSPORTS") > strstr(text, "\n  -help "));
}

static void test_usage_aligned(void **state) {
  (void)state;
  char *text = usage_text();
  /* Every row's help text starts in the same column. */
  long column = -1;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const char *help = strstr(text, ipc_opt_specs[i].help);
    assert_non_null(help);
    const char *line = help;
    while (line > text && line[-1] != '\n')
      line--;
    if (column < 0)
      column = help - line;
    assert_int_equal(help - line, column);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_string_flag_forms),
      cmocka_unit_test(test_string_flag_takes_dash_value),
      cmocka_unit_test(test_empty_value),
      cmocka_unit_test(test_bool_bare),
      cmocka_unit_test(test_bool_values),
      cmocka_unit_test(test_bool_never_consumes),
      cmocka_unit_test(test_double_dash),
      cmocka_unit_test(test_unknown_flag),
      cmocka_unit_test(test_bad_flag_syntax),
      cmocka_unit_test(test_missing_value),
      cmocka_unit_test(test_positional),
      cmocka_unit_test(test_last_wins),
      cmocka_unit_test(test_flag_overrides_env_every_pair),
      cmocka_unit_test(test_env_only_rows),
      cmocka_unit_test(test_env_empty_vs_unset),
      cmocka_unit_test(test_env_lookup),
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_every_flag_source),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_setting_bool),
      cmocka_unit_test(test_setting_present),
      cmocka_unit_test(test_quote),
      cmocka_unit_test(test_usage),
      cmocka_unit_test(test_usage_aligned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
