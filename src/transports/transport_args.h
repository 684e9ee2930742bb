/* transport_args: the one way a transport words a refused argument or
 * option, as the SOCKS 0x13 log line and the SMETHOD-ERROR show it:
 *
 *   WHAT argument "KEY"DETAIL      e.g. missing argument "cert"
 *
 * The key is quoted (it comes from the application and may hold anything);
 * the value is never part of it, since it may be a secret, or a secret
 * typed into the wrong key. */
#ifndef PTD_TRANSPORTS_TRANSPORT_ARGS_H
#define PTD_TRANSPORTS_TRANSPORT_ARGS_H

#include <stddef.h>

/* Writes the message to err; returns -1, for `return transport_arg_error(...)`. */
int transport_arg_error(const char *what, const char *key, const char *detail, char *err,
                        size_t errlen);

#endif
