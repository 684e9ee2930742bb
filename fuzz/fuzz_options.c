/* fuzz_options: ipc_options_parse on arbitrary text. The input is split at
 * its first newline into two calls on the same list (the merge path).
 * Properties checked, abort() on violation:
 *   - a failed call leaves the list exactly as it was;
 *   - a parsed list, written back in escaped form, parses to the same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/options.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The list in escaped form; also a canonical text to compare lists by. */
static char *fuzz_serialize(const ipc_options_t *o) {
  fuzz_buf_t b = {0};
  fuzz_put(&b, ';');
  for (size_t i = 0; i < o->n; i++) {
    const kvlist_t *l = o->items[i].kv;
    for (size_t k = 0; k < l->n; k++) {
      fuzz_put_escaped(&b, o->items[i].transport, "\\:;=");
      fuzz_put(&b, ':');
      fuzz_put_escaped(&b, l->items[k].key, "\\:;=");
      fuzz_put(&b, '=');
      fuzz_put_escaped(&b, l->items[k].value, "\\;");
      fuzz_put(&b, ';');
    }
  }
  return b.p;
}

static void fuzz_check_roundtrip(const ipc_options_t *o) {
  char *text = fuzz_serialize(o);
  ipc_options_t again = {0};
  char err[256];
  if (ipc_options_parse(text, &again, err, sizeof err) != 0)
    abort();
  char *text2 = fuzz_serialize(&again);
  if (strcmp(text, text2) != 0 || again.n != o->n)
    abort();
  free(text);
  free(text2);
  ipc_options_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  if (!text)
    return 0;
  char *second = strchr(text, '\n');
  if (second)
    *second++ = '\0';
  ipc_options_t o = {0};
  char err[256];
  if (ipc_options_parse(text, &o, err, sizeof err) == 0 && second) {
    char *before = fuzz_serialize(&o);
    if (ipc_options_parse(second, &o, err, sizeof err) != 0) {
      char *after = fuzz_serialize(&o);
      if (strcmp(before, after) != 0)
        abort();
      free(after);
    }
    free(before);
  }
  fuzz_check_roundtrip(&o);
  for (size_t i = 0; i < o.n; i++) {
    if (ipc_options_get(&o, o.items[i].transport) != o.items[i].kv)
      abort();
  }
  ipc_options_clear(&o);
  free(text);
  return 0;
}
