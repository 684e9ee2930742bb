/* log: the process's one logger.
 *
 * Messages at or above the configured level go to the log file (only when
 * -enableLogging opened one) and, for warnings and errors, to the parent
 * through a sink the entry layer installs (it prints "LOG SEVERITY=..."
 * lines). Client addresses must go through log_addr(), which scrubs them
 * unless -unsafeLogging was given. Secrets never reach a log call. */
#ifndef PTD_LIB_LOG_H
#define PTD_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lib/addr.h"

typedef enum {
  PTD_LOG_ERROR = 0,
  PTD_LOG_WARN = 1,
  PTD_LOG_INFO = 2,
  PTD_LOG_DEBUG = 3,
} ptd_log_level_t;

typedef void (*log_parent_sink_fn)(ptd_log_level_t level, const char *msg);

/* "ERROR", "WARN", "INFO", "DEBUG", any case. Returns 0 or -1. */
int log_level_parse(const char *text, ptd_log_level_t *out);
const char *log_level_name(ptd_log_level_t level);
void log_set_level(ptd_log_level_t level);
ptd_log_level_t log_get_level(void);
void log_set_unsafe(bool unsafe);
bool log_is_unsafe(void);
void log_set_parent_sink(log_parent_sink_fn sink);
/* Opens (appends to) path with mode 0600. Returns 0 or -1 with err filled. */
int log_open_file(const char *path, char *err, size_t errlen);
void log_close(void);

void log_msg(ptd_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(PTD_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(PTD_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(PTD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(PTD_LOG_DEBUG, __VA_ARGS__)

/* A client address as it may appear in a log: "[scrubbed]" unless unsafe
 * logging is on. Returns buf. */
const char *log_addr(const struct sockaddr *sa, char buf[static ADDR_TEXT_MAX]);

#endif
