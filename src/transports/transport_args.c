/* transport_args: see transport_args.h. */
#include "transports/transport_args.h"

#include <stdio.h>

#include "lib/quote.h"

int transport_arg_error(const char *what, const char *key, const char *detail, char *err,
                        size_t errlen) {
  char q[QUOTE_MAX];
  snprintf(err, errlen, "%s argument %s%s", what, quote_text(key, q, sizeof q), detail);
  return -1;
}
