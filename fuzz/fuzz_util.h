/* fuzz_util: what every fuzz target needs, in one place. Header-only
 * (static inline) so each target stays one source file. */
#ifndef PTD_FUZZ_UTIL_H
#define PTD_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NUL-terminated string (malloc'd), or NULL when out of
 * memory. Parsers of text take C strings; an embedded NUL simply ends it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return NULL;
  memcpy(text, data, size);
  text[size] = '\0';
  return text;
}

/* An error text ends up in a one-line message to the parent: it must be
 * non-empty printable ASCII. */
static inline void fuzz_check_err(const char *err) {
  if (err[0] == '\0')
    abort();
  for (const char *p = err; *p; p++) {
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
      abort();
  }
}

#endif
