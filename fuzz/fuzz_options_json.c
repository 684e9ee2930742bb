/* fuzz_options_json: ipc_options_parse_json on arbitrary text. The first
 * byte picks the transport list (none, one, two names), so the keyed, bare
 * and "wrong shape" paths are all reached; the rest is the JSON. Values
 * must come out as NUL-free text, every transport must be one named. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_transports[] = {"obfs4", "meek_lite"};

static bool fuzz_is_named(const char *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(t, fuzz_transports[i]) == 0)
      return true;
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  size_t n_transports = data[0] % 3;
  char *json = malloc(size);
  if (!json)
    return 0;
  memcpy(json, data + 1, size - 1);
  json[size - 1] = '\0';
  ipc_options_t o = {0};
  char err[256];
  if (ipc_options_parse_json(json, fuzz_transports, n_transports, &o, err,
                             sizeof err) == 0) {
    for (size_t i = 0; i < o.n; i++) {
      if (!fuzz_is_named(o.items[i].transport, n_transports))
        abort();
      const kvlist_t *l = o.items[i].kv;
      for (size_t k = 0; k < l->n; k++) {
        if (l->items[k].key[0] == '\0' || !l->items[k].value)
          abort();
      }
    }
  } else if (o.n != 0) {
    abort();
  }
  ipc_options_clear(&o);
  free(json);
  return 0;
}
