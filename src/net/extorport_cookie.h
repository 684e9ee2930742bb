/* extorport_cookie: the Extended ORPort's authentication cookie file
 * (ext-orport-spec 2.1.2): a 32-byte static header, then the 32-byte
 * secret the SAFE_COOKIE handshake keys its HMACs with.
 *
 * The parser works on bytes (unit tests and the fuzz target feed it
 * directly); the reader opens the file and hands its bytes to the parser.
 * Their error texts are reasons only: they never hold cookie bytes, nor
 * the path (the caller names the file, quoted, and the setting it came
 * from). */
#ifndef PTD_NET_EXTORPORT_COOKIE_H
#define PTD_NET_EXTORPORT_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#define EXTORPORT_COOKIE_HEADER "! Extended ORPort Auth Cookie !\x0a"
#define EXTORPORT_COOKIE_HEADER_LEN 32
#define EXTORPORT_COOKIE_LEN 32
#define EXTORPORT_COOKIE_FILE_LEN (EXTORPORT_COOKIE_HEADER_LEN + EXTORPORT_COOKIE_LEN)

/* Checks that data[0..len) is a whole cookie file and copies the secret
 * to cookie. Returns 0, or -1 with a reason in err (the reason never
 * quotes the data). */
int extorport_cookie_parse(const uint8_t *data, size_t len,
                           uint8_t cookie[static EXTORPORT_COOKIE_LEN], char *err,
                           size_t errlen);

/* Reads and parses the cookie file at path (a regular file only: a FIFO
 * would block the process). Returns 0, or -1 with a reason in err. Every
 * copy of the secret but *cookie is wiped. */
int extorport_cookie_read(const char *path, uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                          char *err, size_t errlen);

#endif
