/* fuzz_bindaddr: ipc_parse_bindaddr and ipc_parse_transport_list on
 * arbitrary text (cut at the first NUL, as an environment value would be).
 *
 * Properties checked (abort() so the fuzzer reports a violation):
 *   - success yields at least one entry, every name a non-empty C
 *     identifier and no name twice; bind addresses are IP literals;
 *   - failure leaves the outputs empty and gives a one-line, printable
 *     error, so it can go into an ENV-ERROR line as it is. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ipc/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_is_ident(const char *s) {
  if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_'))
      return false;
  }
  return true;
}

static void fuzz_bindaddr(const char *text) {
  ptd_bindaddr_t *b = NULL;
  size_t n = 0;
  char err[256] = "";

  if (ipc_parse_bindaddr(text, &b, &n, err, sizeof err) != 0) {
    if (b || n)
      abort();
    fuzz_check_err(err);
    return;
  }
  if (n == 0 || !b)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (!fuzz_is_ident(b[i].transport))
      abort();
    if (b[i].addr.family != AF_INET && b[i].addr.family != AF_INET6)
      abort();
    for (size_t j = 0; j < i; j++) {
      if (strcmp(b[i].transport, b[j].transport) == 0)
        abort();
    }
  }
  for (size_t i = 0; i < n; i++)
    free(b[i].transport);
  free(b);
}

static void fuzz_transport_list(const char *text) {
  char **names = NULL;
  size_t n = 0;
  char err[256] = "";

  if (ipc_parse_transport_list(text, &names, &n, err, sizeof err) != 0) {
    if (names || n)
      abort();
    fuzz_check_err(err);
    return;
  }
  if (n == 0 || !names)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (!fuzz_is_ident(names[i]))
      abort();
    for (size_t j = 0; j < i; j++) {
      if (strcmp(names[i], names[j]) == 0)
        abort();
    }
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  if (!text)
    return 0;
  fuzz_bindaddr(text);
  fuzz_transport_list(text);
  free(text);
  return 0;
}
