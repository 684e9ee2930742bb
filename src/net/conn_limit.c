/* conn_limit: see conn_limit.h. */
#include "net/conn_limit.h"

#include "lib/log.h"

bool conn_limit_opened(conn_limit_t *l) {
  l->open++;
  if (l->max == 0 || l->held || l->open < l->max)
    return false;
  l->held = true;
  log_warn("%s: connection limit (%zu) reached: new connections wait until one closes",
           l->role, l->max);
  return true;
}

bool conn_limit_closed(conn_limit_t *l) {
  if (l->open > 0)
    l->open--;
  if (!l->held || l->open >= l->max)
    return false;
  l->held = false;
  log_info("%s: below the connection limit again: accepting", l->role);
  return true;
}
