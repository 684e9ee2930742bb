/* quote: see quote.h. */
#include "lib/quote.h"

#include <string.h>

const char *quote_text(const char *text, char *buf, size_t buflen) {
  static const char hex[] = "0123456789abcdef";
  const char *p = text ? text : "";
  size_t o = 0;

  /* Room for the longest escape (4), the closing quote, "..." and NUL. */
  if (buflen < 10) {
    if (buflen > 0)
      buf[0] = '\0';
    return buf;
  }
  buf[o++] = '"';
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (o + 4 + 1 + 3 + 1 > buflen) {
      memcpy(buf + o, "\"...", 5);
      return buf;
    }
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c > 0x7e) {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[c >> 4];
      buf[o++] = hex[c & 0xf];
    } else {
      buf[o++] = (char)c;
    }
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}
