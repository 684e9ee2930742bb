/* test_config: version negotiation and every rule of ipc_config_build(),
 * with exact values and error texts that name the source and quote the
 * value. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ipc/config.h"

#include "testutil.h"

/* The smallest valid client and server environments. */
#define CLIENT_ENV "TOR_PT_CLIENT_TRANSPORTS=obfs4"
#define SERVER_ENV "TOR_PT_SERVER_TRANSPORTS=obfs4", "TOR_PT_ORPORT=127.0.0.1:9001"

static char errbuf[512];

static void read_settings(ipc_settings_t *s, char *const argv[], char *const envp[]) {
  char err[256];
  if (ipc_settings_read(s, test_argc(argv), argv, envp, err, sizeof err) != 0)
    fail_msg("ipc_settings_read: %s", err);
}

/* Builds cfg from argv/envp; returns ipc_config_build's result with the
 * error in errbuf. */
static int build(char *const argv[], char *const envp[], ptd_config_t *cfg) {
  ipc_settings_t s;
  read_settings(&s, argv, envp);
  memset(cfg, 0, sizeof *cfg);
  errbuf[0] = '\0';
  return ipc_config_build(&s, cfg, errbuf, sizeof errbuf);
}

static void build_ok(char *const argv[], char *const envp[], ptd_config_t *cfg) {
  if (build(argv, envp, cfg) != 0)
    fail_msg("ipc_config_build failed: %s", errbuf);
}

/* Builds from argv/envp, which must fail; the error is left in errbuf.
 * wanted describes the error expected, for the failure message. */
static void build_fails(char *const argv[], char *const envp[], const char *wanted) {
  ptd_config_t cfg;
  int rc = build(argv, envp, &cfg);
  ipc_config_clear(&cfg);
  if (rc == 0)
    fail_msg("ipc_config_build succeeded; wanted \"%s\"", wanted);
}

static void build_err(char *const argv[], char *const envp[], const char *want) {
  build_fails(argv, envp, want);
  if (strcmp(errbuf, want) != 0)
    fail_msg("error \"%s\", wanted \"%s\"", errbuf, want);
}

/* For errors whose tail comes from a lower layer (addr, options). */
static void build_err_prefix(char *const argv[], char *const envp[], const char *prefix) {
  build_fails(argv, envp, prefix);
  if (strncmp(errbuf, prefix, strlen(prefix)) != 0 || strlen(errbuf) <= strlen(prefix))
    fail_msg("error \"%s\", wanted \"%s<reason>\"", errbuf, prefix);
  assert_null(strchr(errbuf, '\n'));
}

/* Builds a config that must be valid from argv/envp and asserts that its
 * member field equals want. A macro, so that one helper serves the role,
 * the mode, the log level and the booleans alike. */
#define EXPECT_FIELD(field, argv, envp, want)                                                      \
  do {                                                                                             \
    ptd_config_t expect_cfg;                                                                       \
    build_ok(argv, envp, &expect_cfg);                                                             \
    assert_int_equal(expect_cfg.field, want);                                                      \
    ipc_config_clear(&expect_cfg);                                                                 \
  } while (0)

static char *cwd(void) {
  char *c = getcwd(NULL, 0);
  assert_non_null(c);
  return c;
}

/* ---- versions ---- */

static void negotiate(char *const envp[], int want_rc, const char *want, bool want_managed) {
  ipc_settings_t s;
  const char *chosen = "x";
  bool managed = !want_managed;
  char err[64] = "";
  read_settings(&s, NOARGS, envp);
  assert_int_equal(ipc_version_negotiate(&s, &chosen, &managed, err, sizeof err), want_rc);
  if (want_rc == 0) {
    assert_string_equal(chosen, want);
    assert_int_equal(managed, want_managed);
  } else {
    assert_null(chosen);
    assert_string_equal(err, "no-version");
    assert_true(managed);
  }
}

static void test_version(void **state) {
  (void)state;
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=1"), 0, "1", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=2"), 0, "2", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=1,2"), 0, "2", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=2,1"), 0, "2", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=1,1a,2,this_is_a_valid_version"), 0, "2", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=1,1a,2b,this_is_a_valid_ver"), 0, "1", true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=3"), -1, NULL, true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER="), -1, NULL, true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=1a"), -1, NULL, true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=11,22, 2,2 ,"), -1, NULL, true);
  negotiate(ENV("TOR_PT_MANAGED_TRANSPORT_VER=,,1"), 0, "1", true);
  /* No list at all: run standalone with our highest version. */
  negotiate(NOENV, 0, "2", false);
}

static void test_version_flag(void **state) {
  (void)state;
  ipc_settings_t s;
  const char *chosen;
  bool managed;
  char err[64];
  read_settings(&s, ARGS("-ptversion", "1"), ENV("TOR_PT_MANAGED_TRANSPORT_VER=2"));
  assert_int_equal(ipc_version_negotiate(&s, &chosen, &managed, err, sizeof err), 0);
  assert_string_equal(chosen, "1");
  assert_true(managed);
  assert_string_equal(ipc_supported_versions[0], "2");
  assert_string_equal(ipc_supported_versions[1], "1");
  assert_null(ipc_supported_versions[2]);
}

/* ---- state directory, exit-on-stdin-close ---- */

static void expect_state_dir(char *const argv[], char *const envp[], const char *want) {
  ptd_config_t cfg;
  build_ok(argv, envp, &cfg);
  assert_string_equal(cfg.state_dir, want);
  assert_true(cfg.state_dir[0] == '/');
  ipc_config_clear(&cfg);
}

static void test_state_dir(void **state) {
  (void)state;
  char *here = cwd();
  char want[4096];

  expect_state_dir(NOARGS, ENV(CLIENT_ENV), here);
  expect_state_dir(NOARGS, ENV(CLIENT_ENV, "TOR_PT_STATE_LOCATION="), here);
  expect_state_dir(NOARGS, ENV(CLIENT_ENV, "TOR_PT_STATE_LOCATION=/var/lib/tor/pt_state/"),
                   "/var/lib/tor/pt_state/");
  snprintf(want, sizeof want, "%s%srel/dir", here, strcmp(here, "/") == 0 ? "" : "/");
  expect_state_dir(ARGS("-state", "rel/dir"), ENV(CLIENT_ENV, "TOR_PT_STATE_LOCATION=/abs"), want);

  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_STATE_LOCATION=/a\nb"),
            "bad state directory \"/a\\x0ab\" in TOR_PT_STATE_LOCATION: contains a newline");
  free(here);
}

static void test_state_dir_relative_after_chdir(void **state) {
  (void)state;
  char *here = cwd();
  assert_int_equal(chdir("/"), 0);
  expect_state_dir(ARGS("-state=x"), ENV(CLIENT_ENV), "/x");
  assert_int_equal(chdir(here), 0);
  free(here);
}

static void test_exit_on_stdin_close(void **state) {
  (void)state;
  EXPECT_FIELD(exit_on_stdin_close, NOARGS, ENV(CLIENT_ENV, "TOR_PT_EXIT_ON_STDIN_CLOSE=1"), true);
  EXPECT_FIELD(exit_on_stdin_close, NOARGS, ENV(CLIENT_ENV, "TOR_PT_EXIT_ON_STDIN_CLOSE=0"), false);
  EXPECT_FIELD(exit_on_stdin_close, NOARGS, ENV(CLIENT_ENV, "TOR_PT_EXIT_ON_STDIN_CLOSE="), false);
  EXPECT_FIELD(exit_on_stdin_close, ARGS("-exit-on-stdin-close"),
               ENV(CLIENT_ENV, "TOR_PT_EXIT_ON_STDIN_CLOSE=0"), true);
  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_EXIT_ON_STDIN_CLOSE=yes"),
            "bad boolean \"yes\" in TOR_PT_EXIT_ON_STDIN_CLOSE");
}

/* ---- role ---- */

static void test_role(void **state) {
  (void)state;
  EXPECT_FIELD(role, NOARGS, ENV(CLIENT_ENV), PTD_ROLE_CLIENT);
  EXPECT_FIELD(role, NOARGS, ENV(SERVER_ENV), PTD_ROLE_SERVER);
  /* The flags settle what the variables leave ambiguous. */
  EXPECT_FIELD(role, ARGS("-client"), ENV(CLIENT_ENV, SERVER_ENV), PTD_ROLE_CLIENT);
  EXPECT_FIELD(role, ARGS("-server"), ENV(CLIENT_ENV, SERVER_ENV), PTD_ROLE_SERVER);
  EXPECT_FIELD(role, ARGS("-client=false"), ENV(CLIENT_ENV), PTD_ROLE_CLIENT);
  /* An empty variable does not count as set. */
  EXPECT_FIELD(role, NOARGS, ENV("TOR_PT_CLIENT_TRANSPORTS=", SERVER_ENV), PTD_ROLE_SERVER);
  /* -transports alone: server-only settings make a server. */
  EXPECT_FIELD(role, ARGS("-transports", "obfs4"), NOENV, PTD_ROLE_CLIENT);
  EXPECT_FIELD(role, ARGS("-transports", "obfs4", "-orport", "127.0.0.1:1"), NOENV,
               PTD_ROLE_SERVER);
  EXPECT_FIELD(role, ARGS("-transports", "obfs4"), ENV("TOR_PT_ORPORT=127.0.0.1:1"),
               PTD_ROLE_SERVER);
  EXPECT_FIELD(
      role,
      ARGS("-transports", "obfs4", "-bindaddr", "obfs4-127.0.0.1:0", "-target", "127.0.0.1:1"),
      NOENV, PTD_ROLE_SERVER);
  EXPECT_FIELD(role, ARGS("-transports", "obfs4"),
               ENV("TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:2", "TOR_PT_AUTH_COOKIE_FILE=/c"),
               PTD_ROLE_SERVER);
  EXPECT_FIELD(role, ARGS("-transports", "obfs4"), ENV("TOR_PT_EXTENDED_SERVER_PORT="),
               PTD_ROLE_CLIENT);
  EXPECT_FIELD(role, ARGS("-transports", "obfs4", "-server", "-orport", "127.0.0.1:1"), NOENV,
               PTD_ROLE_SERVER);
}

static void test_role_errors(void **state) {
  (void)state;
  build_err(ARGS("-client", "-server"), ENV(CLIENT_ENV), "-client and -server both given");
  build_err(NOARGS, ENV(CLIENT_ENV, SERVER_ENV),
            "TOR_PT_CLIENT_TRANSPORTS and TOR_PT_SERVER_TRANSPORTS are both set");
  build_err(NOARGS, NOENV,
            "no transports requested: set TOR_PT_CLIENT_TRANSPORTS, "
            "TOR_PT_SERVER_TRANSPORTS or -transports");
  build_err(NOARGS, ENV("TOR_PT_CLIENT_TRANSPORTS=", "TOR_PT_ORPORT=127.0.0.1:1"),
            "no transports requested: set TOR_PT_CLIENT_TRANSPORTS, "
            "TOR_PT_SERVER_TRANSPORTS or -transports");
  build_err(ARGS("-client"), ENV(SERVER_ENV),
            "no transports requested: set TOR_PT_CLIENT_TRANSPORTS or -transports");
}

/* ---- transport lists ---- */

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static void test_transport_list(void **state) {
  (void)state;
  char **names;
  size_t n;
  char err[128];

  assert_int_equal(ipc_parse_transport_list("obfs4", &names, &n, err, sizeof err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "obfs4");
  free_names(names, n);

  assert_int_equal(
      ipc_parse_transport_list("obfs4,obfs3,obfs4,_x9,obfs3,B", &names, &n, err, sizeof err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(names[0], "obfs4");
  assert_string_equal(names[1], "obfs3");
  assert_string_equal(names[2], "_x9");
  assert_string_equal(names[3], "B");
  free_names(names, n);
}

static void transport_list_err(const char *text, const char *want) {
  char **names = (char **)1;
  size_t n = 7;
  char err[128];
  assert_int_equal(ipc_parse_transport_list(text, &names, &n, err, sizeof err), -1);
  assert_null(names);
  assert_int_equal(n, 0);
  assert_string_equal(err, want);
}

static void test_transport_list_errors(void **state) {
  (void)state;
  transport_list_err("", "empty transport name");
  transport_list_err(",", "empty transport name");
  transport_list_err("a,,b", "empty transport name");
  transport_list_err("a,", "empty transport name");
  transport_list_err(",a", "empty transport name");
  transport_list_err("a b", "bad transport name \"a b\"");
  transport_list_err("ok,a b,c", "bad transport name \"a b\"");
  transport_list_err("a, b", "bad transport name \" b\"");
  transport_list_err("1abc", "bad transport name \"1abc\"");
  transport_list_err("obfs-4", "bad transport name \"obfs-4\"");
  transport_list_err("caf\xc3\xa9", "bad transport name \"caf\\xc3\\xa9\"");
  transport_list_err("a\n", "bad transport name \"a\\x0a\"");
}

static void test_transports_in_config(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS, ENV("TOR_PT_CLIENT_TRANSPORTS=obfs2,obfs3,obfs4,obfs3"), &cfg);
  assert_int_equal(cfg.n_transports, 3);
  assert_string_equal(cfg.transports[0], "obfs2");
  assert_string_equal(cfg.transports[2], "obfs4");
  ipc_config_clear(&cfg);

  /* -transports overrides the role's variable. */
  build_ok(ARGS("-transports", "meek"), ENV(CLIENT_ENV), &cfg);
  assert_int_equal(cfg.role, PTD_ROLE_CLIENT);
  assert_int_equal(cfg.n_transports, 1);
  assert_string_equal(cfg.transports[0], "meek");
  ipc_config_clear(&cfg);

  build_err(NOARGS, ENV("TOR_PT_CLIENT_TRANSPORTS=a,,b"),
            "bad transport list \"a,,b\" in TOR_PT_CLIENT_TRANSPORTS: empty transport name");
  build_err(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a b", "TOR_PT_ORPORT=127.0.0.1:1"),
            "bad transport list \"a b\" in TOR_PT_SERVER_TRANSPORTS: bad transport name "
            "\"a b\"");
  build_err(ARGS("-transports="), ENV(CLIENT_ENV),
            "bad transport list \"\" in -transports: empty transport name");
  build_err(ARGS("-client"), ENV("TOR_PT_CLIENT_TRANSPORTS="),
            "bad transport list \"\" in TOR_PT_CLIENT_TRANSPORTS: empty transport name");
}

/* ---- bind addresses ---- */

static void free_bindaddrs(ptd_bindaddr_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(b[i].transport);
  free(b);
}

static void test_bindaddr_parse(void **state) {
  (void)state;
  ptd_bindaddr_t *b;
  size_t n;
  char err[256];

  assert_int_equal(ipc_parse_bindaddr("obfs3-198.51.100.1:1984,scramblesuit-127.0.0.1:4891",
                                      &b, &n, err, sizeof err),
                   0);
  assert_int_equal(n, 2);
  assert_string_equal(b[0].transport, "obfs3");
  assert_string_equal(b[0].addr.host, "198.51.100.1");
  assert_int_equal(b[0].addr.port, 1984);
  assert_int_equal(b[0].addr.family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&b[0].addr.sa)->sin_port), 1984);
  assert_string_equal(b[1].transport, "scramblesuit");
  assert_int_equal(b[1].addr.port, 4891);
  free_bindaddrs(b, n);

  assert_int_equal(ipc_parse_bindaddr("a-[::1]:0,b-0.0.0.0:65535,c-[2001:db8::1]:443", &b, &n,
                                      err, sizeof err),
                   0);
  assert_int_equal(n, 3);
  assert_int_equal(b[0].addr.family, AF_INET6);
  assert_string_equal(b[0].addr.host, "::1");
  assert_int_equal(b[0].addr.port, 0);
  assert_int_equal(b[1].addr.port, 65535);
  assert_string_equal(b[2].addr.host, "2001:db8::1");
  free_bindaddrs(b, n);
}

static void bindaddr_err(const char *text, const char *want_prefix) {
  ptd_bindaddr_t *b = (ptd_bindaddr_t *)1;
  size_t n = 9;
  char err[256];
  assert_int_equal(ipc_parse_bindaddr(text, &b, &n, err, sizeof err), -1);
  assert_null(b);
  assert_int_equal(n, 0);
  if (strncmp(err, want_prefix, strlen(want_prefix)) != 0)
    fail_msg("error \"%s\", wanted \"%s...\"", err, want_prefix);
}

static void test_bindaddr_errors(void **state) {
  (void)state;
  bindaddr_err("a-1.2.3.4:65536", "");
  bindaddr_err("a-1.2.3.4:1,a-[::1]:2", "transport \"a\" has more than one bind address");
  bindaddr_err("a-localhost:80", "");
  bindaddr_err("a-::1:80", "");
  bindaddr_err("", "empty bind address");
  bindaddr_err("a-1.2.3.4:1,", "empty bind address");
  bindaddr_err(",a-1.2.3.4:1", "empty bind address");
  bindaddr_err("noaddress", "");
  bindaddr_err("a b-1.2.3.4:1", "bad transport name \"a b\"");
  bindaddr_err("-1.2.3.4:1", "bad transport name \"\"");
  /* With several elements the bad one is named. */
  bindaddr_err("a-1.2.3.4:1,x-1.2.3", "in \"x-1.2.3\": ");
  bindaddr_err("a-1.2.3.4:1,b-host.example:1", "in \"b-host.example:1\": ");
}

static void test_bindaddr_config(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS,
           ENV("TOR_PT_SERVER_TRANSPORTS=obfs3,obfs4", "TOR_PT_ORPORT=127.0.0.1:9001",
               "TOR_PT_SERVER_BINDADDR=obfs4-0.0.0.0:443,obfs3-[::]:0"),
           &cfg);
  assert_int_equal(cfg.n_bindaddrs, 2);
  const addr_endpoint_t *a = ipc_config_bindaddr(&cfg, "obfs4");
  assert_non_null(a);
  assert_int_equal(a->port, 443);
  a = ipc_config_bindaddr(&cfg, "obfs3");
  assert_non_null(a);
  assert_int_equal(a->family, AF_INET6);
  assert_int_equal(a->port, 0);
  assert_null(ipc_config_bindaddr(&cfg, "meek"));
  ipc_config_clear(&cfg);

  /* Empty: none given. */
  build_ok(NOARGS, ENV(SERVER_ENV, "TOR_PT_SERVER_BINDADDR="), &cfg);
  assert_int_equal(cfg.n_bindaddrs, 0);
  assert_null(cfg.bindaddrs);
  ipc_config_clear(&cfg);

  /* A client ignores it, however bad. */
  build_ok(NOARGS, ENV(CLIENT_ENV, "TOR_PT_SERVER_BINDADDR=junk"), &cfg);
  assert_int_equal(cfg.n_bindaddrs, 0);
  ipc_config_clear(&cfg);

  build_err_prefix(NOARGS, ENV(SERVER_ENV, "TOR_PT_SERVER_BINDADDR=x-1.2.3"),
                   "bad bind address \"x-1.2.3\" in TOR_PT_SERVER_BINDADDR: ");
  build_err_prefix(ARGS("-bindaddr", "obfs4-1.2.3.4:65536"), ENV(SERVER_ENV),
                   "bad bind address \"obfs4-1.2.3.4:65536\" in -bindaddr: ");
  build_err_prefix(NOARGS, ENV(SERVER_ENV, "TOR_PT_SERVER_BINDADDR=obfs4-localhost:80"),
                   "bad bind address \"obfs4-localhost:80\" in TOR_PT_SERVER_BINDADDR: ");
  build_err(NOARGS,
            ENV(SERVER_ENV, "TOR_PT_SERVER_BINDADDR=obfs4-127.0.0.1:1,obfs4-127.0.0.1:2"),
            "bad bind address \"obfs4-127.0.0.1:1,obfs4-127.0.0.1:2\" in "
            "TOR_PT_SERVER_BINDADDR: transport \"obfs4\" has more than one bind address");
  build_err(NOARGS,
            ENV(SERVER_ENV, "TOR_PT_SERVER_BINDADDR=obfs4-127.0.0.1:1,obfs3-127.0.0.1:1"),
            "bad bind address \"obfs4-127.0.0.1:1,obfs3-127.0.0.1:1\" in "
            "TOR_PT_SERVER_BINDADDR: transport \"obfs3\" is not in TOR_PT_SERVER_TRANSPORTS");
  build_err(ARGS("-transports", "obfs4", "-server"),
            ENV("TOR_PT_ORPORT=127.0.0.1:1", "TOR_PT_SERVER_BINDADDR=meek-127.0.0.1:1"),
            "bad bind address \"meek-127.0.0.1:1\" in TOR_PT_SERVER_BINDADDR: transport "
            "\"meek\" is not in -transports");
}

/* ---- ORPort, target, ExtORPort ---- */

static void test_orport(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS, ENV(SERVER_ENV), &cfg);
  assert_true(cfg.has_orport);
  assert_string_equal(cfg.orport.host, "127.0.0.1");
  assert_int_equal(cfg.orport.port, 9001);
  assert_int_equal(cfg.orport.family, AF_INET);
  assert_false(cfg.has_extorport);
  assert_false(cfg.has_target);
  ipc_config_clear(&cfg);

  build_ok(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_ORPORT=example.com:9922"), &cfg);
  assert_string_equal(cfg.orport.host, "example.com");
  assert_int_equal(cfg.orport.family, AF_UNSPEC);
  assert_int_equal(cfg.orport.port, 9922);
  ipc_config_clear(&cfg);

  build_ok(ARGS("-orport", "[2001:db8::1]:1122"), ENV(SERVER_ENV), &cfg);
  assert_int_equal(cfg.orport.family, AF_INET6);
  assert_string_equal(cfg.orport.host, "2001:db8::1");
  assert_int_equal(cfg.orport.port, 1122);
  ipc_config_clear(&cfg);

  /* -target stands for -orport on a server, over the variable but not
   * over the flag. */
  build_ok(ARGS("-target", "10.0.0.1:1"), ENV(SERVER_ENV), &cfg);
  assert_string_equal(cfg.orport.host, "10.0.0.1");
  ipc_config_clear(&cfg);
  build_ok(ARGS("-target", "10.0.0.1:1", "-orport", "10.0.0.2:2"), ENV(SERVER_ENV), &cfg);
  assert_string_equal(cfg.orport.host, "10.0.0.2");
  ipc_config_clear(&cfg);

  build_err_prefix(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_ORPORT=127.0.0.1:0"),
                   "bad ORPort \"127.0.0.1:0\" in TOR_PT_ORPORT: ");
  build_err_prefix(ARGS("-orport", "::1:80"), ENV(SERVER_ENV),
                   "bad ORPort \"::1:80\" in -orport: ");
  build_err_prefix(ARGS("-target", "1.2.3.4:65536"), ENV(SERVER_ENV),
                   "bad ORPort \"1.2.3.4:65536\" in -target: ");
  build_err_prefix(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_ORPORT=1.2.3.4:80\r\n"),
                   "bad ORPort \"1.2.3.4:80\\x0d\\x0a\" in TOR_PT_ORPORT: ");
  build_err(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a"),
            "server needs TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT");
  build_err(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_ORPORT="),
            "server needs TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT");
}

static void test_extorport(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS,
           ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:4200",
               "TOR_PT_AUTH_COOKIE_FILE=/var/lib/tor/cookie"),
           &cfg);
  assert_true(cfg.has_extorport);
  assert_false(cfg.has_orport);
  assert_int_equal(cfg.extorport.port, 4200);
  assert_string_equal(cfg.auth_cookie_file, "/var/lib/tor/cookie");
  ipc_config_clear(&cfg);

  build_ok(NOARGS, ENV(SERVER_ENV, "TOR_PT_EXTENDED_SERVER_PORT=localhost:4200",
                       "TOR_PT_AUTH_COOKIE_FILE=/c"),
           &cfg);
  assert_true(cfg.has_extorport);
  assert_true(cfg.has_orport);
  assert_string_equal(cfg.extorport.host, "localhost");
  ipc_config_clear(&cfg);

  /* Empty is the spec's "no ExtORPort", and then no cookie is needed. */
  build_ok(NOARGS, ENV(SERVER_ENV, "TOR_PT_EXTENDED_SERVER_PORT="), &cfg);
  assert_false(cfg.has_extorport);
  assert_null(cfg.auth_cookie_file);
  ipc_config_clear(&cfg);

  build_err(NOARGS,
            ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:4200"),
            "no TOR_PT_AUTH_COOKIE_FILE when TOR_PT_EXTENDED_SERVER_PORT is set");
  build_err(NOARGS,
            ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:4200",
                "TOR_PT_AUTH_COOKIE_FILE="),
            "no TOR_PT_AUTH_COOKIE_FILE when TOR_PT_EXTENDED_SERVER_PORT is set");
  build_err(ARGS("-extorport", "127.0.0.1:4200"), ENV("TOR_PT_SERVER_TRANSPORTS=a"),
            "no -authcookie when -extorport is set");
  build_err(ARGS("-extorport", "127.0.0.1:4200", "-authcookie="),
            ENV("TOR_PT_SERVER_TRANSPORTS=a"), "no -authcookie when -extorport is set");
  build_err(NOARGS, ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_EXTENDED_SERVER_PORT="),
            "server needs TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT");
  build_err_prefix(NOARGS,
                   ENV("TOR_PT_SERVER_TRANSPORTS=a", "TOR_PT_EXTENDED_SERVER_PORT=nope",
                       "TOR_PT_AUTH_COOKIE_FILE=/c"),
                   "bad Extended ORPort \"nope\" in TOR_PT_EXTENDED_SERVER_PORT: ");
}

/* ---- options ---- */

static char *write_temp(const char *content, size_t len) {
  char *path = strdup("/tmp/test_config_optsXXXXXX");
  assert_non_null(path);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, len), (ssize_t)len);
  close(fd);
  return path;
}

static void test_options_env(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS,
           ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:cert=abc;obfs4:iat-mode=0"),
           &cfg);
  const kvlist_t *kv = ipc_options_get(&cfg.options, "obfs4");
  assert_non_null(kv);
  assert_string_equal(kvlist_get(kv, "cert"), "abc");
  assert_string_equal(kvlist_get(kv, "iat-mode"), "0");
  ipc_config_clear(&cfg);

  /* Options for a transport we do not run are kept. */
  build_ok(NOARGS, ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=other:k=v"), &cfg);
  assert_string_equal(kvlist_get(ipc_options_get(&cfg.options, "other"), "k"), "v");
  ipc_config_clear(&cfg);

  /* JSON, after leading white space. */
  build_ok(ARGS("-options", " \n{\"obfs4\": {\"cert\": \"xyz\", \"iat-mode\": 1}}"),
           ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:cert=abc"), &cfg);
  kv = ipc_options_get(&cfg.options, "obfs4");
  assert_non_null(kv);
  assert_string_equal(kvlist_get(kv, "cert"), "xyz");
  assert_string_equal(kvlist_get(kv, "iat-mode"), "1");
  ipc_config_clear(&cfg);

  /* Errors give the source but never the options (they may be secret). */
  build_err_prefix(NOARGS,
                   ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:k=sekrit;obfs4:k=x"),
                   "bad options in TOR_PT_SERVER_TRANSPORT_OPTIONS: ");
  assert_lacks(errbuf, "sekrit");
  build_err_prefix(ARGS("-options", "{\"obfs4\": {\"cert\": \"sekrit\""), ENV(SERVER_ENV),
                   "bad options in -options: ");
  assert_lacks(errbuf, "sekrit");
  assert_lacks(errbuf, "in \"");

  /* A malformed item is quoted (nobody could fix it unseen); the
   * well-formed items around it are not. */
  build_err_prefix(
      NOARGS,
      ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:cert=sekrit;garbage-without-colon"),
      "bad options in TOR_PT_SERVER_TRANSPORT_OPTIONS: in \"garbage-without-colon\": ");
  assert_lacks(errbuf, "sekrit");
  build_err_prefix(ARGS("-options", "obfs4:a=\\;b;obfs4:keyvalue;obfs4:c=sekrit"),
                   ENV(SERVER_ENV), "bad options in -options: in \"obfs4:keyvalue\": ");
  assert_lacks(errbuf, "sekrit");
}

static void test_options_file(void **state) {
  (void)state;
  ptd_config_t cfg;
  const char *json = "{\"obfs4\": {\"cert\": \"fromfile\"}}";
  char *path = write_temp(json, strlen(json));
  char arg[512];
  snprintf(arg, sizeof arg, "-optionsFile=%s", path);

  /* The file wins over the variable. */
  build_ok(ARGS(arg), ENV(SERVER_ENV, "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:cert=env"), &cfg);
  assert_string_equal(kvlist_get(ipc_options_get(&cfg.options, "obfs4"), "cert"), "fromfile");
  ipc_config_clear(&cfg);

  /* A bare object is the one requested transport's options. */
  char *bare = write_temp("{\"cert\": \"b\"}", 13);
  build_ok(ARGS("-optionsFile", bare), ENV(SERVER_ENV), &cfg);
  assert_string_equal(kvlist_get(ipc_options_get(&cfg.options, "obfs4"), "cert"), "b");
  ipc_config_clear(&cfg);

  build_err(ARGS(arg, "-options", "obfs4:cert=x"), ENV(SERVER_ENV),
            "-options and -optionsFile both given: use one");
  unlink(path);
  unlink(bare);
  free(bare);

  char want[600];
  snprintf(want, sizeof want,
           "cannot read options file \"%s\" given in -optionsFile: No such file or directory",
           path);
  build_err(ARGS(arg), ENV(SERVER_ENV), want);
  free(path);

  build_err(ARGS("-optionsFile", "/"), ENV(SERVER_ENV),
            "cannot read options file \"/\" given in -optionsFile: not a regular file");

  char *bad = write_temp("{\"obfs4\": 5", 11);
  snprintf(want, sizeof want, "bad options in -optionsFile \"%s\": ", bad);
  build_err_prefix(ARGS("-optionsFile", bad), ENV(SERVER_ENV), want);
  unlink(bad);
  free(bad);

  char *nul = write_temp("{\"a\0\": {}}", 10);
  snprintf(want, sizeof want,
           "cannot read options file \"%s\" given in -optionsFile: contains a NUL byte", nul);
  build_err(ARGS("-optionsFile", nul), ENV(SERVER_ENV), want);
  unlink(nul);
  free(nul);
}

static void test_options_file_size(void **state) {
  (void)state;
  ptd_config_t cfg;
  size_t max = 1024 * 1024;
  char *big = malloc(max + 1);
  assert_non_null(big);
  /* Exactly 1 MiB of valid JSON: a string value padded with spaces. */
  memset(big, ' ', max + 1);
  memcpy(big, "{\"obfs4\": {\"k\": \"v\"}}", strlen("{\"obfs4\": {\"k\": \"v\"}}"));
  char *path = write_temp(big, max);
  build_ok(ARGS("-optionsFile", path), ENV(SERVER_ENV), &cfg);
  assert_string_equal(kvlist_get(ipc_options_get(&cfg.options, "obfs4"), "k"), "v");
  ipc_config_clear(&cfg);
  unlink(path);
  free(path);

  path = write_temp(big, max + 1);
  char want[600];
  snprintf(want, sizeof want,
           "cannot read options file \"%s\" given in -optionsFile: larger than 1 MiB", path);
  build_err(ARGS("-optionsFile", path), ENV(SERVER_ENV), want);
  unlink(path);
  free(path);
  free(big);
}

/* ---- modes and -target on a client ---- */

static void test_parse_mode(void **state) {
  (void)state;
  ptd_mode_t m;
  assert_int_equal(ipc_parse_mode("socks5", &m), 0);
  assert_int_equal(m, PTD_MODE_SOCKS5);
  assert_int_equal(ipc_parse_mode("SOCKS5", &m), 0);
  assert_int_equal(m, PTD_MODE_SOCKS5);
  assert_int_equal(ipc_parse_mode("transparent-tcp", &m), 0);
  assert_int_equal(m, PTD_MODE_TRANSPARENT_TCP);
  assert_int_equal(ipc_parse_mode("Transparent-UDP", &m), 0);
  assert_int_equal(m, PTD_MODE_TRANSPARENT_UDP);
  assert_int_equal(ipc_parse_mode("stun", &m), 0);
  assert_int_equal(m, PTD_MODE_STUN);
  assert_int_equal(ipc_parse_mode("socks", &m), -1);
  assert_int_equal(ipc_parse_mode("", &m), -1);
  assert_int_equal(ipc_parse_mode("transparent", &m), -1);
  assert_int_equal(ipc_parse_mode(NULL, &m), -1);
  assert_string_equal(ipc_mode_name(PTD_MODE_SOCKS5), "socks5");
  assert_string_equal(ipc_mode_name(PTD_MODE_TRANSPARENT_TCP), "transparent-TCP");
  assert_string_equal(ipc_mode_name(PTD_MODE_TRANSPARENT_UDP), "transparent-UDP");
  assert_string_equal(ipc_mode_name(PTD_MODE_STUN), "STUN");
}

static void test_modes(void **state) {
  (void)state;
  EXPECT_FIELD(mode, NOARGS, ENV(CLIENT_ENV), PTD_MODE_SOCKS5);
  EXPECT_FIELD(mode, ARGS("-mode="), ENV(CLIENT_ENV), PTD_MODE_SOCKS5);
  EXPECT_FIELD(mode, ARGS("-mode", "Socks5"), ENV(CLIENT_ENV), PTD_MODE_SOCKS5);
  EXPECT_FIELD(mode, ARGS("-mode", "stun", "-target", "1.2.3.4:3478"), ENV(CLIENT_ENV),
               PTD_MODE_STUN);
  EXPECT_FIELD(mode, ARGS("-transparent", "-target", "1.2.3.4:1"), ENV(CLIENT_ENV),
               PTD_MODE_TRANSPARENT_TCP);
  EXPECT_FIELD(mode, ARGS("-udp", "-target", "1.2.3.4:1"), ENV(CLIENT_ENV), PTD_MODE_STUN);
  EXPECT_FIELD(mode, ARGS("-udp", "-transparent", "-target", "1.2.3.4:1"), ENV(CLIENT_ENV),
               PTD_MODE_TRANSPARENT_UDP);
  EXPECT_FIELD(mode, ARGS("-mode", "transparent-TCP", "-transparent", "-target", "1.2.3.4:1"),
               ENV(CLIENT_ENV), PTD_MODE_TRANSPARENT_TCP);
  EXPECT_FIELD(mode, ARGS("-mode", "transparent-udp", "-transparent", "-udp", "-target", "h.ex:1"),
               ENV(CLIENT_ENV), PTD_MODE_TRANSPARENT_UDP);
  EXPECT_FIELD(mode, ARGS("-transparent=false", "-udp=0"), ENV(CLIENT_ENV), PTD_MODE_SOCKS5);

  build_err(ARGS("-mode", "STUN", "-transparent", "-target", "1.2.3.4:1"), ENV(CLIENT_ENV),
            "-mode STUN conflicts with -transparent");
  build_err(ARGS("-mode", "socks5", "-udp"), ENV(CLIENT_ENV), "-mode socks5 conflicts with -udp");
  build_err(ARGS("-mode", "stun", "-udp", "-transparent", "-target", "1.2.3.4:1"),
            ENV(CLIENT_ENV), "-mode STUN conflicts with -transparent and -udp");
  build_err(ARGS("-mode", "x"), ENV(CLIENT_ENV),
            "bad mode \"x\" in -mode: want socks5, transparent-TCP, transparent-UDP or STUN");
  build_err(ARGS("-mode", "transparent-TCP"), ENV(CLIENT_ENV),
            "-mode transparent-TCP needs -target");
  build_err(ARGS("-udp"), ENV(CLIENT_ENV), "-mode STUN needs -target");
  build_err(ARGS("-mode", "transparent-udp", "-target="), ENV(CLIENT_ENV),
            "-mode transparent-UDP needs -target");
}

/* ---- limits and timeouts ---- */

static void test_parse_count(void **state) {
  (void)state;
  unsigned long long v = 7;
  assert_int_equal(ipc_parse_count("0", 0, 10, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(ipc_parse_count("10", 0, 10, &v), 0);
  assert_int_equal(v, 10);
  assert_int_equal(ipc_parse_count("007", 0, 10, &v), 0);
  assert_int_equal(v, 7);
  assert_int_equal(ipc_parse_count("18446744073709551615", 0, ULLONG_MAX, &v), 0);
  assert_true(v == ULLONG_MAX);
  v = 3;
  const char *bad[] = {"", "11", "-1", "+1", " 1", "1 ", "1x", "0x10", "1e3",
                       "18446744073709551616", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(ipc_parse_count(bad[i], 0, 10, &v), -1);
    assert_int_equal(v, 3);
  }
  assert_int_equal(ipc_parse_count(NULL, 0, 10, &v), -1);
  assert_int_equal(ipc_parse_count("0", 1, 10, &v), -1);
}

static void test_tuning(void **state) {
  (void)state;
  EXPECT_FIELD(max_connections, NOARGS, ENV(CLIENT_ENV), 0);
  EXPECT_FIELD(handshake_timeout_s, NOARGS, ENV(CLIENT_ENV), PTD_DEFAULT_HANDSHAKE_TIMEOUT_S);
  EXPECT_FIELD(idle_timeout_s, NOARGS, ENV(CLIENT_ENV), 0);
  EXPECT_FIELD(params_limit, NOARGS, ENV(CLIENT_ENV), PTD_DEFAULT_PARAMS_LIMIT);
  EXPECT_FIELD(max_connections, ARGS("-maxConnections", "500"), ENV(CLIENT_ENV), 500);
  EXPECT_FIELD(handshake_timeout_s, ARGS("--handshakeTimeout=5"), ENV(CLIENT_ENV), 5);
  EXPECT_FIELD(idle_timeout_s, ARGS("-idleTimeout", "0"), ENV(CLIENT_ENV), 0);
  EXPECT_FIELD(idle_timeout_s, ARGS("-idleTimeout", "86400"), ENV(CLIENT_ENV), 86400);
  EXPECT_FIELD(params_limit, ARGS("-paramsLimit", "2"), ENV(CLIENT_ENV), 2);
  EXPECT_FIELD(max_connections, ARGS("-maxConnections", "7"), ENV(SERVER_ENV), 7);

  build_err(ARGS("-maxConnections", "0"), ENV(CLIENT_ENV),
            "bad value \"0\" in -maxConnections: want a whole number from 1 to 10000000");
  build_err(ARGS("-handshakeTimeout", "0"), ENV(CLIENT_ENV),
            "bad value \"0\" in -handshakeTimeout: want a whole number from 1 to 86400");
  build_err(ARGS("-idleTimeout", "86401"), ENV(CLIENT_ENV),
            "bad value \"86401\" in -idleTimeout: want a whole number from 0 to 86400");
  build_err(ARGS("-paramsLimit", "1"), ENV(CLIENT_ENV),
            "bad value \"1\" in -paramsLimit: want a whole number from 2 to 16777216");
  build_err(ARGS("-paramsLimit", "64k"), ENV(CLIENT_ENV),
            "bad value \"64k\" in -paramsLimit: want a whole number from 2 to 16777216");

  EXPECT_FIELD(udp_timeout_s, NOARGS, ENV(CLIENT_ENV), PTD_DEFAULT_UDP_TIMEOUT_S);
  EXPECT_FIELD(udp_queue, NOARGS, ENV(CLIENT_ENV), PTD_DEFAULT_UDP_QUEUE);
  EXPECT_FIELD(udp_timeout_s, ARGS("-udptimeout", "1"), ENV(SERVER_ENV), 1);
  EXPECT_FIELD(udp_queue, ARGS("--udpqueue=0"), ENV(CLIENT_ENV), 0);
  EXPECT_FIELD(udp_queue, ARGS("-udpqueue", "1024"), ENV(CLIENT_ENV), 1024);
  build_err(ARGS("-udptimeout", "0"), ENV(CLIENT_ENV),
            "bad value \"0\" in -udptimeout: want a whole number from 1 to 86400");
  build_err(ARGS("-udpqueue", "1025"), ENV(CLIENT_ENV),
            "bad value \"1025\" in -udpqueue: want a whole number from 0 to 1024");
}

static void test_client_target(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(ARGS("-target", "example.com:443"), ENV(CLIENT_ENV), &cfg);
  assert_true(cfg.has_target);
  assert_string_equal(cfg.target.host, "example.com");
  assert_int_equal(cfg.target.port, 443);
  assert_false(cfg.has_orport);
  ipc_config_clear(&cfg);

  /* A client ignores the server's ORPort and ExtORPort variables. */
  build_ok(NOARGS, ENV(CLIENT_ENV, "TOR_PT_ORPORT=junk", "TOR_PT_EXTENDED_SERVER_PORT=junk"),
           &cfg);
  assert_false(cfg.has_orport);
  assert_false(cfg.has_extorport);
  ipc_config_clear(&cfg);

  build_err_prefix(ARGS("-target", "example.com:0"), ENV(CLIENT_ENV),
                   "bad target \"example.com:0\" in -target: ");
}

/* ---- outbound addresses, listen address ---- */

static void test_outbound(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS,
           ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=203.0.113.4",
               "TOR_PT_OUTBOUND_BIND_ADDRESS_V6=[2001:db8::4]"),
           &cfg);
  assert_true(cfg.has_outbound_v4);
  assert_int_equal(cfg.outbound_v4.family, AF_INET);
  assert_int_equal(cfg.outbound_v4.port, 0);
  assert_string_equal(cfg.outbound_v4.host, "203.0.113.4");
  assert_int_equal(cfg.outbound_v4.sa.ss_family, AF_INET);
  assert_int_equal(cfg.outbound_v4.salen, sizeof(struct sockaddr_in));
  assert_int_equal(((struct sockaddr_in *)&cfg.outbound_v4.sa)->sin_port, 0);
  assert_true(cfg.has_outbound_v6);
  assert_int_equal(cfg.outbound_v6.family, AF_INET6);
  assert_string_equal(cfg.outbound_v6.host, "2001:db8::4");
  assert_int_equal(cfg.outbound_v6.salen, sizeof(struct sockaddr_in6));
  ipc_config_clear(&cfg);

  build_ok(NOARGS, ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6=2001:db8::5"), &cfg);
  assert_true(cfg.has_outbound_v6);
  assert_false(cfg.has_outbound_v4);
  assert_string_equal(cfg.outbound_v6.host, "2001:db8::5");
  ipc_config_clear(&cfg);

  build_ok(NOARGS,
           ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=",
               "TOR_PT_OUTBOUND_BIND_ADDRESS_V6="),
           &cfg);
  assert_false(cfg.has_outbound_v4);
  assert_false(cfg.has_outbound_v6);
  ipc_config_clear(&cfg);

  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=::1"),
            "bad outbound address \"::1\" in TOR_PT_OUTBOUND_BIND_ADDRESS_V4: want an IPv4 "
            "address without a port");
  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=1.2.3.4:80"),
            "bad outbound address \"1.2.3.4:80\" in TOR_PT_OUTBOUND_BIND_ADDRESS_V4: want an "
            "IPv4 address without a port");
  build_err(NOARGS, ENV(SERVER_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6=1.2.3.4"),
            "bad outbound address \"1.2.3.4\" in TOR_PT_OUTBOUND_BIND_ADDRESS_V6: want an "
            "IPv6 address without a port");
  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6=[::1]:80"),
            "bad outbound address \"[::1]:80\" in TOR_PT_OUTBOUND_BIND_ADDRESS_V6: want an "
            "IPv6 address without a port");
  build_err(NOARGS, ENV(CLIENT_ENV, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4=localhost"),
            "bad outbound address \"localhost\" in TOR_PT_OUTBOUND_BIND_ADDRESS_V4: want an "
            "IPv4 address without a port");
}

static void test_listen_addr(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS, ENV(CLIENT_ENV), &cfg);
  assert_false(cfg.has_listen_addr);
  ipc_config_clear(&cfg);

  build_ok(ARGS("-proxylistenaddr", "127.0.0.1:0"), ENV(CLIENT_ENV), &cfg);
  assert_true(cfg.has_listen_addr);
  assert_int_equal(cfg.listen_addr.port, 0);
  assert_string_equal(cfg.listen_addr.host, "127.0.0.1");
  ipc_config_clear(&cfg);

  build_ok(ARGS("-proxylistenaddr", "[::1]:1080"), ENV(CLIENT_ENV), &cfg);
  assert_int_equal(cfg.listen_addr.family, AF_INET6);
  assert_int_equal(cfg.listen_addr.port, 1080);
  ipc_config_clear(&cfg);

  build_err_prefix(ARGS("-proxylistenaddr", "localhost:1080"), ENV(CLIENT_ENV),
                   "bad listen address \"localhost:1080\" in -proxylistenaddr: ");
  build_err_prefix(ARGS("-proxylistenaddr", "127.0.0.1"), ENV(CLIENT_ENV),
                   "bad listen address \"127.0.0.1\" in -proxylistenaddr: ");
}

/* ---- logging ---- */

static void test_logging(void **state) {
  (void)state;
  ptd_config_t cfg;

  build_ok(NOARGS, ENV(CLIENT_ENV), &cfg);
  assert_int_equal(cfg.log_level, PTD_LOG_WARN);
  assert_false(cfg.enable_logging);
  assert_false(cfg.unsafe_logging);
  ipc_config_clear(&cfg);

  build_ok(ARGS("-logLevel", "debug", "-enableLogging", "-unsafeLogging"), ENV(CLIENT_ENV),
           &cfg);
  assert_int_equal(cfg.log_level, PTD_LOG_DEBUG);
  assert_true(cfg.enable_logging);
  assert_true(cfg.unsafe_logging);
  ipc_config_clear(&cfg);

  EXPECT_FIELD(log_level, ARGS("-logLevel=ERROR"), ENV(CLIENT_ENV), PTD_LOG_ERROR);
  EXPECT_FIELD(log_level, ARGS("-logLevel=Info"), ENV(CLIENT_ENV), PTD_LOG_INFO);
  EXPECT_FIELD(log_level, ARGS("-logLevel="), ENV(CLIENT_ENV), PTD_LOG_WARN);

  build_err(ARGS("-logLevel", "verbose"), ENV(CLIENT_ENV),
            "bad log level \"verbose\" in -logLevel: want ERROR, WARN, INFO or DEBUG");
}

/* ---- the rest ---- */

static void test_proxy_left_to_caller(void **state) {
  (void)state;
  ptd_config_t cfg;
  /* Even a bad proxy is not this layer's business (it is a PROXY-ERROR). */
  build_ok(NOARGS, ENV(CLIENT_ENV, "TOR_PT_PROXY=not a proxy"), &cfg);
  assert_false(cfg.has_proxy);
  ipc_config_clear(&cfg);
}

static void test_clear(void **state) {
  (void)state;
  ptd_config_t cfg, zero;
  memset(&zero, 0, sizeof zero);
  build_ok(NOARGS,
           ENV("TOR_PT_SERVER_TRANSPORTS=a,b", "TOR_PT_ORPORT=127.0.0.1:1",
               "TOR_PT_SERVER_BINDADDR=a-127.0.0.1:0",
               "TOR_PT_SERVER_TRANSPORT_OPTIONS=a:k=v",
               "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:2", "TOR_PT_AUTH_COOKIE_FILE=/c"),
           &cfg);
  ipc_config_clear(&cfg);
  assert_memory_equal(&cfg, &zero, sizeof cfg);
  ipc_config_clear(&cfg);
  ipc_config_clear(NULL);
}

/* A full Tor-style server launch, every field checked. */
static void test_tor_server(void **state) {
  (void)state;
  ptd_config_t cfg;
  build_ok(NOARGS,
           ENV("TOR_PT_MANAGED_TRANSPORT_VER=1", "TOR_PT_STATE_LOCATION=/var/lib/tor/pt_state",
               "TOR_PT_EXIT_ON_STDIN_CLOSE=1", "TOR_PT_SERVER_TRANSPORTS=obfs4",
               "TOR_PT_SERVER_BINDADDR=obfs4-0.0.0.0:9443", "TOR_PT_ORPORT=127.0.0.1:9001",
               "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:9002",
               "TOR_PT_AUTH_COOKIE_FILE=/var/lib/tor/extended_orport_auth_cookie",
               "TOR_PT_SERVER_TRANSPORT_OPTIONS=obfs4:iat-mode=0"),
           &cfg);
  assert_string_equal(cfg.state_dir, "/var/lib/tor/pt_state");
  assert_true(cfg.exit_on_stdin_close);
  assert_int_equal(cfg.role, PTD_ROLE_SERVER);
  assert_int_equal(cfg.n_transports, 1);
  assert_int_equal(cfg.mode, PTD_MODE_SOCKS5);
  assert_int_equal(cfg.n_bindaddrs, 1);
  assert_true(cfg.has_orport);
  assert_true(cfg.has_extorport);
  assert_string_equal(cfg.auth_cookie_file, "/var/lib/tor/extended_orport_auth_cookie");
  assert_string_equal(kvlist_get(ipc_options_get(&cfg.options, "obfs4"), "iat-mode"), "0");
  assert_false(cfg.has_target);
  assert_int_equal(cfg.log_level, PTD_LOG_WARN);
  ipc_config_clear(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_version_flag),
      cmocka_unit_test(test_state_dir),
      cmocka_unit_test(test_state_dir_relative_after_chdir),
      cmocka_unit_test(test_exit_on_stdin_close),
      cmocka_unit_test(test_role),
      cmocka_unit_test(test_role_errors),
      cmocka_unit_test(test_transport_list),
      cmocka_unit_test(test_transport_list_errors),
      cmocka_unit_test(test_transports_in_config),
      cmocka_unit_test(test_bindaddr_parse),
      cmocka_unit_test(test_bindaddr_errors),
      cmocka_unit_test(test_bindaddr_config),
      cmocka_unit_test(test_orport),
      cmocka_unit_test(test_extorport),
      cmocka_unit_test(test_options_env),
      cmocka_unit_test(test_options_file),
      cmocka_unit_test(test_options_file_size),
      cmocka_unit_test(test_parse_mode),
      cmocka_unit_test(test_modes),
      cmocka_unit_test(test_parse_count),
      cmocka_unit_test(test_tuning),
      cmocka_unit_test(test_client_target),
      cmocka_unit_test(test_outbound),
      cmocka_unit_test(test_listen_addr),
      cmocka_unit_test(test_logging),
      cmocka_unit_test(test_proxy_left_to_caller),
      cmocka_unit_test(test_clear),
      cmocka_unit_test(test_tor_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
