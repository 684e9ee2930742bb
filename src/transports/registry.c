/* registry: the transports this build knows, by name. Adding a transport
 * is one folder and one line here. */
#include <string.h>

#include "transports/transport.h"

extern const transport_ops_t plain_transport;
extern const transport_ops_t obfs4_transport;
extern const transport_ops_t shadow_transport;

static const transport_ops_t *const registry[] = {
    &plain_transport,
    &obfs4_transport,
    &shadow_transport,
};

#define REGISTRY_SIZE (sizeof registry / sizeof registry[0])

const transport_ops_t *transport_find(const char *name) {
  for (size_t i = 0; i < REGISTRY_SIZE; i++) {
    if (strcmp(registry[i]->name, name) == 0)
      return registry[i];
  }
  return NULL;
}

const char *const *transport_names(void) {
  static const char *names[REGISTRY_SIZE + 1];
  for (size_t i = 0; i < REGISTRY_SIZE; i++)
    names[i] = registry[i]->name;
  names[REGISTRY_SIZE] = NULL;
  return names;
}
