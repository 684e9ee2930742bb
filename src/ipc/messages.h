/* messages: the lines ptdispatch says to its parent.
 *
 * Every line is written whole and flushed at once. Error lines
 * (VERSION-ERROR, ENV-ERROR, PROXY-ERROR, CMETHOD-ERROR, SMETHOD-ERROR) go
 * to stdout, where Tor reads them, and the same line to stderr, where PT
 * 2.1 puts them. Free text is made safe for the line grammar: control
 * characters (NL included) become '?'. */
#ifndef PTD_IPC_MESSAGES_H
#define PTD_IPC_MESSAGES_H

#include <stdio.h>
#include <sys/socket.h>

#include "lib/kvlist.h"
#include "lib/log.h"

/* Where lines go; defaults to stdout/stderr. Tests point these at files. */
void ipc_msg_set_streams(FILE *out, FILE *err);

void ipc_msg_version(const char *version);
void ipc_msg_version_error(const char *msg);
void ipc_msg_env_error(const char *msg);
void ipc_msg_proxy_done(void);
void ipc_msg_proxy_error(const char *msg);
/* STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=x.y.z */
void ipc_msg_status_version(void);
void ipc_msg_cmethod(const char *transport, const char *proto, const struct sockaddr *sa);
void ipc_msg_cmethod_error(const char *transport, const char *msg);
void ipc_msg_cmethods_done(void);
/* args may be NULL or empty: then no ARGS: option is written. */
void ipc_msg_smethod(const char *transport, const struct sockaddr *sa, const kvlist_t *args);
void ipc_msg_smethod_error(const char *transport, const char *msg);
void ipc_msg_smethods_done(void);
/* LOG SEVERITY=<error|warning|notice|info|debug> MESSAGE="<CString>" */
void ipc_msg_log(ptd_log_level_t level, const char *msg);

/* Exposed for tests: ARGS value escaping ('\', ',' and '=' get a backslash)
 * and C-string quoting as Tor's control-spec reads it. Both return a
 * malloc'd string. */
char *ipc_escape_args(const kvlist_t *args);
char *ipc_quote_cstring(const char *text);

#endif
