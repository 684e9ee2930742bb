/* fuzz_util: what more than one fuzz target needs, in one place.
 * Header-only (static inline) so each target stays one source file. */
#ifndef PTD_FUZZ_UTIL_H
#define PTD_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

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

/* A growing NUL-terminated text, for writing a parsed value back out. */
typedef struct fuzz_buf {
  char *p;
  size_t n, cap;
} fuzz_buf_t;

/* Appends c; out of memory aborts (the fuzzer's limit, not a finding). */
static inline void fuzz_put(fuzz_buf_t *b, char c) {
  if (b->n + 2 > b->cap) {
    b->cap = b->cap ? b->cap * 2 : 256;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
      abort();
  }
  b->p[b->n++] = c;
  b->p[b->n] = '\0';
}

/* Appends s with a backslash before each of its bytes that is in special. */
static inline void fuzz_put_escaped(fuzz_buf_t *b, const char *s, const char *special) {
  for (; *s; s++) {
    if (strchr(special, *s))
      fuzz_put(b, '\\');
    fuzz_put(b, *s);
  }
}

/* Parses what in holds, writing any answers to out. Returns 0 once the
 * conversation is over (an error ended it), else 1. */
typedef int (*fuzz_step_fn)(struct evbuffer *in, struct evbuffer *out, void *arg);

/* Feeds data[0..size) to step through a fresh input buffer in two chunks
 * cut at split, stepping after each, so that a parser waiting for more
 * (NEED_MORE) meets the cut. The second chunk is not fed once the first
 * ended the conversation. */
static inline void fuzz_feed_split(const uint8_t *data, size_t size, size_t split,
                                   fuzz_step_fn step, void *arg) {
  struct evbuffer *in = evbuffer_new();
  struct evbuffer *out = evbuffer_new();
  if (in == NULL || out == NULL)
    goto cleanup;
  if (evbuffer_add(in, data, split) != 0)
    goto cleanup;
  if (!step(in, out, arg))
    goto cleanup;
  if (evbuffer_add(in, data + split, size - split) != 0)
    goto cleanup;
  step(in, out, arg);
cleanup:
  if (in != NULL)
    evbuffer_free(in);
  if (out != NULL)
    evbuffer_free(out);
}

#endif
