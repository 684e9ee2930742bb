/* kvlist: an ordered list of text key/value pairs with unique keys.
 *
 * A plain growable array: the lists we hold are a handful of transport
 * options, so a linear search beats any index. The list owns a copy of
 * every key and value. Allocation failure aborts (the one exit below main
 * that STYLE.md allows), so callers never see a half-built list. */
#include "lib/kvlist.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static char *kvlist_strdup(const char *s) { return xstrdup(s ? s : ""); }

static kv_t *kvlist_find(const kvlist_t *l, const char *key) {
  if (!l || !key)
    return NULL;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->items[i].key, key) == 0)
      return &l->items[i];
  }
  return NULL;
}

static void kvlist_grow(kvlist_t *l) {
  if (l->n < l->cap)
    return;
  size_t cap = l->cap ? l->cap * 2 : 4;
  l->items = xreallocarray(l->items, cap, sizeof *l->items);
  l->cap = cap;
}

static void kvlist_append(kvlist_t *l, const char *key, const char *value) {
  kvlist_grow(l);
  l->items[l->n].key = kvlist_strdup(key);
  l->items[l->n].value = kvlist_strdup(value);
  l->n++;
}

kvlist_t *kvlist_new(void) {
  return xcalloc(1, sizeof(kvlist_t));
}

/* Values may be secrets (a Shadowsocks password, say): wiped before
 * they return to the allocator. */
static void kv_free_value(char *v) {
  if (v) {
    sodium_memzero(v, strlen(v));
    free(v);
  }
}

void kvlist_free(kvlist_t *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->items[i].key);
    kv_free_value(l->items[i].value);
  }
  free(l->items);
  free(l);
}

int kvlist_add(kvlist_t *l, const char *key, const char *value) {
  if (!l || !key || kvlist_find(l, key))
    return -1;
  kvlist_append(l, key, value);
  return 0;
}

void kvlist_set(kvlist_t *l, const char *key, const char *value) {
  if (!l || !key)
    return;
  kv_t *kv = kvlist_find(l, key);
  if (!kv) {
    kvlist_append(l, key, value);
    return;
  }
  /* Copy first: value may point into the string being replaced. */
  char *v = kvlist_strdup(value);
  kv_free_value(kv->value);
  kv->value = v;
}

const char *kvlist_get(const kvlist_t *l, const char *key) {
  const kv_t *kv = kvlist_find(l, key);
  return kv ? kv->value : NULL;
}

kvlist_t *kvlist_copy(const kvlist_t *l) {
  if (!l)
    return NULL;
  kvlist_t *c = kvlist_new();
  for (size_t i = 0; i < l->n; i++)
    kvlist_append(c, l->items[i].key, l->items[i].value);
  return c;
}
