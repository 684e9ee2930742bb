/* xalloc: allocation that cannot fail. Running out of memory is the one
 * reason ptdispatch stops below main (STYLE.md): these print a line on
 * stderr and abort, so callers never handle a half-built structure. */
#ifndef PTD_LIB_XALLOC_H
#define PTD_LIB_XALLOC_H

#include <stddef.h>

/* For allocators of other libraries (json_dumps, say) that return NULL. */
_Noreturn void xalloc_die(void);
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* realloc of n elements of size bytes, with the multiplication checked. */
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);

#endif
