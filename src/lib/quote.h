/* quote: text made safe for a one-line message.
 *
 * Every error and log line that repeats something a user or peer typed
 * goes through here, so such a value can never break the line-based
 * protocol with the parent or forge a second line. */
#ifndef PTD_LIB_QUOTE_H
#define PTD_LIB_QUOTE_H

#include <stddef.h>

/* Room for a quoted value, quotes and NUL included. */
#define QUOTE_MAX 256

/* Writes text (NULL reads as "") into buf as a double-quoted, one-line
 * string: '"' and '\\' get a backslash, and bytes outside printable ASCII
 * become \xNN. Text that does not fit is cut and ends in "...". Returns
 * buf. */
const char *quote_text(const char *text, char *buf, size_t buflen);

#endif
