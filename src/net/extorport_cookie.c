/* extorport_cookie: see extorport_cookie.h.
 *
 * The file is read once, when the server starts, and the secret is kept
 * in memory. That is safe with the Tor we target: Tor writes the cookie
 * once per process, before it launches its server transports (an older
 * Tor launched them first, tor#15240, which is why goptlib re-reads the
 * file on every connection), and a new Tor process also starts new
 * transport processes. */
#include "net/extorport_cookie.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int extorport_cookie_parse(const uint8_t *data, size_t len,
                           uint8_t cookie[static EXTORPORT_COOKIE_LEN], char *err,
                           size_t errlen) {
  if (len < EXTORPORT_COOKIE_FILE_LEN) {
    snprintf(err, errlen, "too short: %zu bytes, want %d", len, EXTORPORT_COOKIE_FILE_LEN);
    return -1;
  }
  if (len > EXTORPORT_COOKIE_FILE_LEN) {
    snprintf(err, errlen, "too long: more than %d bytes", EXTORPORT_COOKIE_FILE_LEN);
    return -1;
  }
  /* The spec makes clients check the header: it is what tells a cookie
   * file from any other 64 bytes someone pointed us at. */
  if (memcmp(data, EXTORPORT_COOKIE_HEADER, EXTORPORT_COOKIE_HEADER_LEN) != 0) {
    snprintf(err, errlen, "no Extended ORPort cookie header");
    return -1;
  }
  memcpy(cookie, data + EXTORPORT_COOKIE_HEADER_LEN, EXTORPORT_COOKIE_LEN);
  return 0;
}

int extorport_cookie_read(const char *path, uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                          char *err, size_t errlen) {
  /* One byte of room past a whole file tells "exactly 64" from "more". */
  uint8_t buf[EXTORPORT_COOKIE_FILE_LEN + 1];
  size_t len = 0;
  struct stat st;
  int rc = -1;

  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(err, errlen, "%s", strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "not a regular file");
    goto out;
  }
  while (len < sizeof buf) {
    ssize_t got = read(fd, buf + len, sizeof buf - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      snprintf(err, errlen, "%s", strerror(errno));
      goto out;
    }
    if (got == 0)
      break;
    len += (size_t)got;
  }
  rc = extorport_cookie_parse(buf, len, cookie, err, errlen);
out:
  sodium_memzero(buf, sizeof buf);
  if (fd >= 0)
    close(fd);
  return rc;
}
