/* log: see log.h. Global state is fine here: there is one process-wide
 * logger, set up once by the entry layer before the event loop starts. */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static ptd_log_level_t log_level = PTD_LOG_WARN;
static bool log_unsafe = false;
static log_parent_sink_fn log_sink = NULL;
static FILE *log_file = NULL;

static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int log_level_parse(const char *text, ptd_log_level_t *out) {
  for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
    if (strcasecmp(text, log_names[i]) == 0) {
      *out = (ptd_log_level_t)i;
      return 0;
    }
  }
  return -1;
}

const char *log_level_name(ptd_log_level_t level) {
  return (unsigned)level < sizeof log_names / sizeof log_names[0] ? log_names[level] : "?";
}

void log_set_level(ptd_log_level_t level) { log_level = level; }
ptd_log_level_t log_get_level(void) { return log_level; }
void log_set_unsafe(bool unsafe) { log_unsafe = unsafe; }
bool log_is_unsafe(void) { return log_unsafe; }
void log_set_parent_sink(log_parent_sink_fn sink) { log_sink = sink; }

int log_open_file(const char *path, char *err, size_t errlen) {
  /* O_NOFOLLOW: a planted symlink must not redirect our writes outside
   * the state directory. */
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
    return -1;
  }
  /* An existing file keeps its mode on open(); logs may hold details a
   * bridge operator wants private, so force 0600. */
  if (fchmod(fd, 0600) != 0) {
    snprintf(err, errlen, "cannot chmod log file %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  FILE *f = fdopen(fd, "a");
  if (!f) {
    snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  log_close();
  log_file = f;
  return 0;
}

void log_close(void) {
  if (log_file) {
    fclose(log_file);
    log_file = NULL;
  }
}

void log_msg(ptd_log_level_t level, const char *fmt, ...) {
  if (level > log_level || (!log_file && (!log_sink || level > PTD_LOG_WARN)))
    return;
  char msg[LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (log_file) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(log_file, "%s.%03ld [%s] %s\n", when, ts.tv_nsec / 1000000L,
            log_level_name(level), msg);
    fflush(log_file);
  }
  if (log_sink && level <= PTD_LOG_WARN)
    log_sink(level, msg);
}

const char *log_addr(const struct sockaddr *sa, char buf[static ADDR_TEXT_MAX]) {
  if (!log_unsafe) {
    snprintf(buf, ADDR_TEXT_MAX, "[scrubbed]");
    return buf;
  }
  addr_format(sa, buf);
  return buf;
}
