/* fuzz_settings: the whole parent contract's input path. The input is
 * split on NUL bytes into words; they are tried as argv (with the first
 * few also as envp), as argv alone, and as envp alone, and each time run
 * through ipc_settings_read, ipc_version_negotiate and ipc_config_build.
 *
 * Nothing here writes files: config only reads (getcwd, an -optionsFile
 * the input may name). Properties checked (abort() on violation):
 *   - every error is one printable line (it becomes an ENV-ERROR line);
 *   - a built configuration is consistent: an absolute state directory, a
 *     role, at least one transport, bind addresses only for a server and
 *     only for requested transports, an ORPort or ExtORPort for a server,
 *     a target for a client in a transparent or STUN mode, no proxy;
 *   - ipc_config_clear leaves the configuration zeroed. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How many leading words double as environment entries. */
#define FUZZ_ENV_MAX 8
/* More words than this only slow the fuzzer down. */
#define FUZZ_WORDS_MAX 64

static bool fuzz_has_transport(const ptd_config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_transports; i++) {
    if (strcmp(cfg->transports[i], name) == 0)
      return true;
  }
  return false;
}

static void fuzz_check_config(const ptd_config_t *cfg) {
  if (!cfg->state_dir || cfg->state_dir[0] != '/' || strchr(cfg->state_dir, '\n'))
    abort();
  if (cfg->role != PTD_ROLE_CLIENT && cfg->role != PTD_ROLE_SERVER)
    abort();
  if (cfg->n_transports == 0 || cfg->has_proxy)
    abort();
  for (size_t i = 0; i < cfg->n_bindaddrs; i++) {
    if (!fuzz_has_transport(cfg, cfg->bindaddrs[i].transport))
      abort();
  }
  if (cfg->role == PTD_ROLE_SERVER) {
    if (!cfg->has_orport && !cfg->has_extorport)
      abort();
    if (cfg->has_extorport && (!cfg->auth_cookie_file || !cfg->auth_cookie_file[0]))
      abort();
  } else {
    if (cfg->n_bindaddrs || cfg->has_orport || cfg->has_extorport)
      abort();
    if (cfg->mode != PTD_MODE_SOCKS5 && !cfg->has_target)
      abort();
  }
  if (cfg->has_outbound_v4 && cfg->outbound_v4.port != 0)
    abort();
  if (cfg->has_outbound_v6 && cfg->outbound_v6.port != 0)
    abort();
  if (cfg->log_level < PTD_LOG_ERROR || cfg->log_level > PTD_LOG_DEBUG)
    abort();
}

static void fuzz_run(int argc, char **argv, char **envp) {
  ipc_settings_t s;
  ptd_config_t cfg, zero;
  const char *version = NULL;
  bool managed = false;
  char err[512] = "";

  if (ipc_settings_read(&s, argc, argv, envp, err, sizeof err) != 0) {
    fuzz_check_err(err);
    return;
  }
  if (ipc_version_negotiate(&s, &version, &managed, err, sizeof err) != 0)
    fuzz_check_err(err);
  else if (strcmp(version, "1") != 0 && strcmp(version, "2") != 0)
    abort();

  memset(&cfg, 0, sizeof cfg);
  err[0] = '\0';
  if (ipc_config_build(&s, &cfg, err, sizeof err) != 0)
    fuzz_check_err(err);
  else
    fuzz_check_config(&cfg);
  ipc_config_clear(&cfg);
  memset(&zero, 0, sizeof zero);
  if (memcmp(&cfg, &zero, sizeof cfg) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  char *argv[FUZZ_WORDS_MAX + 2];
  char *envp[FUZZ_WORDS_MAX + 1];
  char *none[1] = {NULL};
  int nwords = 0;

  if (!buf)
    return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  argv[0] = "ptdispatch";
  /* Words are the NUL-separated pieces; a trailing NUL adds no word. */
  for (size_t off = 0; off < size && nwords < FUZZ_WORDS_MAX;) {
    argv[1 + nwords++] = buf + off;
    off += strlen(buf + off) + 1;
  }
  argv[1 + nwords] = NULL;
  for (int i = 0; i < nwords; i++)
    envp[i] = argv[1 + i];
  envp[nwords] = NULL;

  char *first_env[FUZZ_ENV_MAX + 1];
  int nenv = nwords < FUZZ_ENV_MAX ? nwords : FUZZ_ENV_MAX;
  memcpy(first_env, envp, (size_t)nenv * sizeof *envp);
  first_env[nenv] = NULL;

  fuzz_run(1 + nwords, argv, first_env);
  fuzz_run(1 + nwords, argv, none);
  fuzz_run(1, argv, envp);
  free(buf);
  return 0;
}
