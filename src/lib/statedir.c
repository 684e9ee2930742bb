/* statedir: see statedir.h. */
#include "lib/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATEDIR_READ_MAX (16 * 1024 * 1024)

/* mkdir -p with mode 0700 for every directory it creates. */
int statedir_create(const char *dir, char *err, size_t errlen) {
  if (!dir || !*dir) {
    snprintf(err, errlen, "empty state directory path");
    return -1;
  }
  char *path = strdup(dir);
  if (!path) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = 0;
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
      rc = -1;
      break;
    }
    *p = saved;
    if (saved == '\0')
      break;
  }
  if (rc == 0) {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, errlen, "%s is not a directory", dir);
      rc = -1;
    }
  }
  free(path);
  return rc;
}

static int statedir_name_ok(const char *name) {
  return name && *name && name[0] != '.' && !strchr(name, '/');
}

char *statedir_path(const char *dir, const char *name) {
  if (!statedir_name_ok(name))
    return NULL;
  char *out = NULL;
  size_t dl = strlen(dir);
  const char *sep = (dl && dir[dl - 1] == '/') ? "" : "/";
  if (asprintf(&out, "%s%s%s", dir, sep, name) < 0)
    return NULL;
  return out;
}

static int write_all(int fd, const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

int statedir_write_atomic(const char *dir, const char *name, const uint8_t *data,
                          size_t len, char *err, size_t errlen) {
  char *final = statedir_path(dir, name);
  char *tmp = NULL;
  int fd = -1, rc = -1;
  if (!final) {
    snprintf(err, errlen, "bad state file name");
    goto out;
  }
  if (asprintf(&tmp, "%s.tmpXXXXXX", final) < 0) {
    tmp = NULL;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  fd = mkostemp(tmp, O_CLOEXEC); /* created 0600 */
  if (fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    unlink(tmp);
    goto out;
  }
  if (rename(tmp, final) != 0) {
    snprintf(err, errlen, "cannot rename to %s: %s", final, strerror(errno));
    unlink(tmp);
    goto out;
  }
  rc = 0;
out:
  if (fd >= 0)
    close(fd);
  free(tmp);
  free(final);
  return rc;
}

int statedir_read(const char *dir, const char *name, uint8_t **data, size_t *len,
                  char *err, size_t errlen) {
  *data = NULL;
  *len = 0;
  char *path = statedir_path(dir, name);
  if (!path) {
    snprintf(err, errlen, "bad state file name");
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) {
      free(path);
      return 1;
    }
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
    free(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t used = 0, cap = 0;
  int rc = -1;
  for (;;) {
    if (cap - used < 4096) {
      if (cap >= STATEDIR_READ_MAX) {
        snprintf(err, errlen, "%s is too large", path);
        goto out;
      }
      size_t ncap = cap ? cap * 2 : 4096;
      uint8_t *n = realloc(buf, ncap + 1);
      if (!n) {
        snprintf(err, errlen, "out of memory");
        goto out;
      }
      buf = n;
      cap = ncap;
    }
    ssize_t got = read(fd, buf + used, cap - used);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    if (got == 0)
      break;
    used += (size_t)got;
  }
  if (!buf && !(buf = malloc(1))) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  buf[used] = '\0';
  *data = buf;
  *len = used;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  close(fd);
  free(path);
  return rc;
}
