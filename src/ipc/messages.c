/* messages: see messages.h. Each line is formatted whole into one buffer
 * and written with a single fputs + fflush, so a line is never split
 * across writes that a parent might read half of. */
#include "ipc/messages.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"

#define IPC_LINE_MAX 4096
/* The longest message a LOG line carries: 4 bytes per quoted byte, plus
 * "LOG SEVERITY=warning MESSAGE=" and the quotes, stays under the line. */
#define IPC_LOG_MESSAGE_MAX ((IPC_LINE_MAX - 64) / 4)

static FILE *msg_out = NULL;
static FILE *msg_err = NULL;

void ipc_msg_set_streams(FILE *out, FILE *err) {
  msg_out = out;
  msg_err = err;
}

static FILE *out_stream(void) { return msg_out ? msg_out : stdout; }
static FILE *err_stream(void) { return msg_err ? msg_err : stderr; }

/* The line grammar forbids NL and NUL in arguments; other control bytes
 * would only confuse a log reader. */
static void sanitize(char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
  }
}

static void emit(bool is_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(bool is_error, const char *fmt, ...) {
  char line[IPC_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  sanitize(line);
  strcat(line, "\n");
  fputs(line, out_stream());
  fflush(out_stream());
  if (is_error) {
    fputs(line, err_stream());
    fflush(err_stream());
  }
}

void ipc_msg_version(const char *version) { emit(false, "VERSION %s", version); }
void ipc_msg_version_error(const char *msg) { emit(true, "VERSION-ERROR %s", msg); }
void ipc_msg_env_error(const char *msg) { emit(true, "ENV-ERROR %s", msg); }
void ipc_msg_proxy_done(void) { emit(false, "PROXY DONE"); }
void ipc_msg_proxy_error(const char *msg) { emit(true, "PROXY-ERROR %s", msg); }

void ipc_msg_status_version(void) {
  emit(false, "STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=%s", PTD_VERSION);
}

void ipc_msg_cmethod(const char *transport, const char *proto, const struct sockaddr *sa) {
  char addr[ADDR_TEXT_MAX];
  addr_format(sa, addr);
  emit(false, "CMETHOD %s %s %s", transport, proto, addr);
}

void ipc_msg_cmethod_error(const char *transport, const char *msg) {
  emit(true, "CMETHOD-ERROR %s %s", transport, msg);
}

void ipc_msg_cmethods_done(void) { emit(false, "CMETHODS DONE"); }

void ipc_msg_smethod(const char *transport, const struct sockaddr *sa, const kvlist_t *args) {
  char addr[ADDR_TEXT_MAX];
  addr_format(sa, addr);
  if (!args || args->n == 0) {
    emit(false, "SMETHOD %s %s", transport, addr);
    return;
  }
  char *escaped = ipc_escape_args(args);
  if (!escaped) {
    emit(true, "SMETHOD-ERROR %s out of memory", transport);
    return;
  }
  emit(false, "SMETHOD %s %s ARGS:%s", transport, addr, escaped);
  free(escaped);
}

void ipc_msg_smethod_error(const char *transport, const char *msg) {
  emit(true, "SMETHOD-ERROR %s %s", transport, msg);
}

void ipc_msg_smethods_done(void) { emit(false, "SMETHODS DONE"); }

static const char *severity_name(ptd_log_level_t level) {
  switch (level) {
  case PTD_LOG_ERROR:
    return "error";
  case PTD_LOG_WARN:
    return "warning";
  case PTD_LOG_INFO:
    return "info";
  case PTD_LOG_DEBUG:
    return "debug";
  }
  return "notice";
}

void ipc_msg_log(ptd_log_level_t level, const char *msg) {
  /* Quoting can make a message four times longer; cut it first so the
   * whole line, closing quote included, fits. */
  char cut[IPC_LOG_MESSAGE_MAX + 1];
  snprintf(cut, sizeof cut, "%s", msg);
  char *quoted = ipc_quote_cstring(cut);
  if (!quoted)
    return;
  emit(false, "LOG SEVERITY=%s MESSAGE=%s", severity_name(level), quoted);
  free(quoted);
}

/* Copies s to *p, putting a backslash before each byte found in special. */
static void append_escaped(char **p, const char *s, const char *special) {
  for (; *s; s++) {
    if (strchr(special, *s))
      *(*p)++ = '\\';
    *(*p)++ = *s;
  }
}

char *ipc_escape_args(const kvlist_t *args) {
  size_t need = 1;
  for (size_t i = 0; i < args->n; i++)
    need += 2 * (strlen(args->items[i].key) + strlen(args->items[i].value)) + 2;
  char *out = malloc(need);
  if (!out)
    return NULL;
  char *p = out;
  for (size_t i = 0; i < args->n; i++) {
    if (i > 0)
      *p++ = ',';
    append_escaped(&p, args->items[i].key, "\\,=");
    *p++ = '=';
    append_escaped(&p, args->items[i].value, "\\,=");
  }
  *p = '\0';
  return out;
}

/* Tor's control-spec QuotedString: backslash escapes for \ and ", C
 * escapes for \n \t \r, octal for other control bytes. */
char *ipc_quote_cstring(const char *text) {
  char *out = malloc(4 * strlen(text) + 3);
  if (!out)
    return NULL;
  char *p = out;
  *p++ = '"';
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    switch (*s) {
    case '\\':
    case '"':
      *p++ = '\\';
      *p++ = (char)*s;
      break;
    case '\n':
      *p++ = '\\';
      *p++ = 'n';
      break;
    case '\t':
      *p++ = '\\';
      *p++ = 't';
      break;
    case '\r':
      *p++ = '\\';
      *p++ = 'r';
      break;
    default:
      if (*s < 0x20 || *s == 0x7f)
        p += sprintf(p, "\\%03o", *s);
      else
        *p++ = (char)*s;
    }
  }
  *p++ = '"';
  *p = '\0';
  return out;
}
