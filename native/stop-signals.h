/* SIGTERM and SIGINT ask endsight's native programs to finish their work and exit; a closed pipe is an error, not a signal. */
#ifndef ENDSIGHT_STOP_SIGNALS_H
#define ENDSIGHT_STOP_SIGNALS_H

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stopping = 0;

static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

/* Sets `stopping` on SIGTERM and SIGINT; write() into a closed pipe returns EPIPE. */
static void handle_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

#endif
