/* statedir: the one directory ptdispatch may write to.
 *
 * statedir_create makes it (and missing parents) with mode 0700.
 * statedir_write_atomic writes a file inside it: temp file, fsync, rename,
 * mode 0600. Names with '/' or starting with '.' are refused, so nothing
 * can land outside the directory. */
#ifndef PTD_LIB_STATEDIR_H
#define PTD_LIB_STATEDIR_H

#include <stddef.h>
#include <stdint.h>

int statedir_create(const char *dir, char *err, size_t errlen);
/* Returns a malloc'd "dir/name", or NULL if name is not a plain file name. */
char *statedir_path(const char *dir, const char *name);
int statedir_write_atomic(const char *dir, const char *name, const uint8_t *data,
                          size_t len, char *err, size_t errlen);
/* Reads a whole file from the directory; *data is malloc'd and NUL-terminated.
 * Returns 0, 1 if the file does not exist, -1 on error. */
int statedir_read(const char *dir, const char *name, uint8_t **data, size_t *len,
                  char *err, size_t errlen);

#endif
