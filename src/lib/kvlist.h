/* kvlist: an ordered list of text key/value pairs.
 *
 * Used for transport options (TOR_PT_SERVER_TRANSPORT_OPTIONS, -options,
 * -optionsFile), per-connection client arguments and SMETHOD ARGS. Keys are
 * unique within a list: kvlist_add refuses a duplicate, kvlist_set replaces.
 * The list owns copies of every string it holds, and wipes each value
 * before freeing it (values may be secrets). */
#ifndef PTD_LIB_KVLIST_H
#define PTD_LIB_KVLIST_H

#include <stddef.h>

typedef struct kv {
  char *key;
  char *value;
} kv_t;

typedef struct kvlist {
  kv_t *items;
  size_t n;
  size_t cap;
} kvlist_t;

kvlist_t *kvlist_new(void);
void kvlist_free(kvlist_t *l);
/* Appends key=value. Returns 0, or -1 if the key is already present. */
int kvlist_add(kvlist_t *l, const char *key, const char *value);
/* Adds or replaces key=value. */
void kvlist_set(kvlist_t *l, const char *key, const char *value);
/* Returns the value for key, or NULL. */
const char *kvlist_get(const kvlist_t *l, const char *key);
kvlist_t *kvlist_copy(const kvlist_t *l);

#endif
