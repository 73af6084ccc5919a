/*
 * endsight-privileged: the one part of the agent that keeps root once it runs (docs/agent.md,
 * "Privileges"). `endsight agent`, started as root, starts this program and then gives up root
 * itself (it becomes the unprivileged meter); from then on this program does, on the meter's
 * request and nothing else:
 *  - start the capture program, the socket events program (each opens what needs privileges, then
 *    switches to the meter's user: -Z is added here, the meter cannot choose the user) and
 *    conntrack, and hand their standard input/output and standard error to the meter as sockets;
 *    report their exits; send them SIGTERM or SIGKILL;
 *  - name the tun/tap device a process has open (/proc/PID/fd and fdinfo: another user's fds need root);
 *  - read the configuration again (SIGHUP): it runs the command it was given at start (the agent's
 *    own configuration check, as root), and hands the resolved configuration over.
 * It reads no packet, and runs nothing but those three programs and that command.
 *
 * Why a program and not a second Node.js process, as before: a Node.js process costs about 55 MB
 * of resident memory (node's own code alone is 38 MB), a third of the agent's 150 MB budget; this
 * costs about 1 MB.
 *
 * It talks to the meter over the Node.js IPC channel it was started with (NODE_CHANNEL_FD, JSON
 * serialization: one JSON object a line; a file descriptor travels with a line
 * {"cmd":"NODE_HANDLE","type":"net.Socket","msg":{...}} as SCM_RIGHTS, and arrives in the meter as
 * a net.Socket with that message). Requests (src/agent/privilege/messages.ts has both directions):
 *   {"op":"spawn","id":N,"program":"capture"|"events"|"conntrack","args":"HEX"}  (args: NUL-separated, hex)
 *   {"op":"kill","id":N,"signal":15|9}
 *   {"op":"tun","id":N,"pid":P}
 *   {"op":"reload","id":N}
 * Replies: {"op":"stream","id":N,"name":"stdio"|"stderr"} (with the socket), {"op":"spawned","id":N,"pid":P},
 * {"op":"exited","id":N,"code":C|null,"signal":"SIGTERM"|null}, {"op":"tun","id":N,"iface":"tun0"|null},
 * {"op":"reload","id":N,"config":"HEX"|null}.
 * It ignores SIGINT, SIGTERM and SIGHUP (the meter stops and reloads; a stop must not take the
 * capture away before the meter has drained it) and ends when the channel closes: the meter is gone,
 * so its programs get SIGTERM and it exits.
 *
 * usage: endsight-privileged USER -- RELOAD_COMMAND...
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 64
#define MAX_LINE 65536
#define MAX_ARGS 32
#define MAX_RELOAD_BYTES (16 << 20)
#define MAX_FDS_SCANNED 256

static int channel = -1;
static const char *user;
static char **reload_argv;
static char native_dir[PATH_MAX];

static struct {
  int id;
  pid_t pid;
} children[MAX_CHILDREN];

static void say(const char *format, const char *detail) {
  fprintf(stderr, "endsight-privileged: ");
  fprintf(stderr, format, detail);
  fputc('\n', stderr);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void reply(const char *line) {
  if (write_all(channel, line, strlen(line)) != 0) exit(0); /* the meter is gone */
}

/* A line with a socket as SCM_RIGHTS: Node.js turns it into a net.Socket with the message. */
static void send_socket(int fd, int id, const char *name) {
  char line[160];
  int n = snprintf(line, sizeof line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"op\":\"stream\",\"id\":%d,\"name\":\"%s\"}}\n", id, name);
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct iovec iov = {line, (size_t)n};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  while (sendmsg(channel, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) exit(0);
  }
}

/* The value of "key": a number (returns 1 and sets *out), in a line we know the shape of. */
static int json_number(const char *line, const char *key, long *out) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *at = strstr(line, pattern);
  if (at == NULL) return 0;
  char *end;
  errno = 0;
  long v = strtol(at + strlen(pattern), &end, 10);
  if (end == at + strlen(pattern) || errno != 0) return 0;
  *out = v;
  return 1;
}

/* The value of "key": a string of letters, digits and '-' only (op names, hex), else 0. */
static int json_word(const char *line, const char *key, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char *at = strstr(line, pattern);
  if (at == NULL) return 0;
  at += strlen(pattern);
  size_t n = 0;
  while (at[n] != '"') {
    if (at[n] == 0 || !(isalnum((unsigned char)at[n]) || at[n] == '-') || n + 1 >= cap) return 0;
    n++;
  }
  memcpy(out, at, n);
  out[n] = 0;
  return 1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static const char *signal_name(int sig) {
  static char other[16];
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGKILL: return "SIGKILL";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    default: snprintf(other, sizeof other, "SIG%d", sig); return other;
  }
}

/* In a forked child: default signals, nothing blocked, no descriptor but 0-2. */
static void child_setup(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  for (int fd = 3; fd < 1024; fd++) close(fd);
}

static int numeric(const char *s) {
  if (*s == 0) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/*
 * What the meter may ask for: the capture program with -s and -B (numbers), then `--` and the filter
 * (so that no filter is read as an option: -Z or -r would run it as root); the socket events program
 * with no arguments; conntrack -E -e NEW.
 */
static int allowed(const char *program, char **args, int n) {
  if (strcmp(program, "capture") == 0) {
    int i = 0;
    while (i + 1 < n && (strcmp(args[i], "-s") == 0 || strcmp(args[i], "-B") == 0) && numeric(args[i + 1])) i += 2;
    if (i == n) return 1;
    return strcmp(args[i], "--") == 0 && n - i <= 2;
  }
  if (strcmp(program, "events") == 0) return n == 0;
  return n == 3 && strcmp(args[0], "-E") == 0 && strcmp(args[1], "-e") == 0 && strcmp(args[2], "NEW") == 0;
}

static void spawn_program(int id, const char *program, const char *hex) {
  char *argv[MAX_ARGS + 4];
  int argc = 0;
  char path[PATH_MAX + 64];
  if (strcmp(program, "capture") == 0) {
    snprintf(path, sizeof path, "%s/endsight-capture", native_dir);
  } else if (strcmp(program, "events") == 0) {
    snprintf(path, sizeof path, "%s/endsight-socket-events", native_dir);
  } else if (strcmp(program, "conntrack") == 0) {
    snprintf(path, sizeof path, "conntrack");
  } else {
    say("refused to run an unknown program: %s", program);
    return;
  }
  argv[argc++] = path;
  /* The programs that drop privileges switch to the meter's user; the meter's arguments come after. */
  if (strcmp(program, "conntrack") != 0) {
    argv[argc++] = "-Z";
    argv[argc++] = (char *)user;
  }
  size_t hexlen = strlen(hex);
  char *args = calloc(1, hexlen / 2 + 1);
  if (args == NULL || hexlen % 2 != 0) {
    free(args);
    return;
  }
  for (size_t i = 0; i < hexlen / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(args);
      return;
    }
    args[i] = (char)(hi << 4 | lo);
  }
  int first = argc;
  for (size_t at = 0; at < hexlen / 2 && argc < MAX_ARGS;) {
    argv[argc++] = args + at;
    at += strlen(args + at) + 1;
  }
  argv[argc] = NULL;
  if (!allowed(program, argv + first, argc - first)) {
    say("refused the arguments of %s", program);
    free(args);
    return;
  }
  int slot = -1;
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].pid == 0) {
      slot = i;
      break;
    }
  int io[2], err[2];
  if (slot < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) != 0) {
    free(args);
    return;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, err) != 0) {
    close(io[0]);
    close(io[1]);
    free(args);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(io[1], 0);
    dup2(io[1], 1);
    dup2(err[1], 2);
    child_setup();
    setsid(); /* a Ctrl-C to the agent's process group must not stop it before the meter has drained it */
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() == 1) _exit(1);
    if (strchr(path, '/') != NULL) execv(path, argv);
    else execvp(path, argv);
    fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  free(args);
  close(io[1]);
  close(err[1]);
  if (pid < 0) {
    close(io[0]);
    close(err[0]);
    char line[128];
    snprintf(line, sizeof line, "{\"op\":\"exited\",\"id\":%d,\"code\":127,\"signal\":null}\n", id);
    reply(line);
    return;
  }
  children[slot].id = id;
  children[slot].pid = pid;
  send_socket(io[0], id, "stdio");
  close(io[0]);
  send_socket(err[0], id, "stderr");
  close(err[0]);
  char line[128];
  snprintf(line, sizeof line, "{\"op\":\"spawned\",\"id\":%d,\"pid\":%d}\n", id, (int)pid);
  reply(line);
}

static void kill_program(int id, long sig) {
  if (sig != SIGTERM && sig != SIGKILL) return;
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].pid != 0 && children[i].id == id) kill(children[i].pid, (int)sig);
}

/* The interface of a tun/tap device the process has open: an fd linked to /dev/net/tun whose fdinfo names it. */
static void tun_of(int id, long pid) {
  char iface[64] = "";
  char dirpath[64];
  snprintf(dirpath, sizeof dirpath, "/proc/%ld/fd", pid);
  DIR *dir = pid > 0 ? opendir(dirpath) : NULL;
  int scanned = 0;
  struct dirent *entry;
  while (dir != NULL && iface[0] == 0 && scanned < MAX_FDS_SCANNED && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    scanned++;
    char link[PATH_MAX];
    ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof link - 1);
    if (n < 0) continue;
    link[n] = 0;
    if (strcmp(link, "/dev/net/tun") != 0) continue;
    char infopath[320];
    snprintf(infopath, sizeof infopath, "/proc/%ld/fdinfo/%s", pid, entry->d_name);
    FILE *info = fopen(infopath, "r");
    char row[256];
    while (info != NULL && fgets(row, sizeof row, info) != NULL) {
      if (strncmp(row, "iff:", 4) != 0) continue;
      char *name = row + 4;
      while (*name == ' ' || *name == '\t') name++;
      size_t len = 0;
      /* Interface names hold no space, '/' or ':'; anything unusual is not reported. */
      while (name[len] != 0 && name[len] != '\n' && (isalnum((unsigned char)name[len]) || strchr("-_.@", name[len]))) len++;
      if ((name[len] == '\n' || name[len] == 0) && len > 0 && len < sizeof iface) {
        memcpy(iface, name, len);
        iface[len] = 0;
      }
      break;
    }
    if (info != NULL) fclose(info);
  }
  if (dir != NULL) closedir(dir);
  char line[160];
  if (iface[0] != 0) snprintf(line, sizeof line, "{\"op\":\"tun\",\"id\":%d,\"iface\":\"%s\"}\n", id, iface);
  else snprintf(line, sizeof line, "{\"op\":\"tun\",\"id\":%d,\"iface\":null}\n", id);
  reply(line);
}

/* Runs the configuration check (as root); its standard output is the resolved configuration. */
static void reload(int id) {
  char head[96];
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out[1], 1);
    child_setup();
    execvp(reload_argv[0], reload_argv);
    fprintf(stderr, "endsight-privileged: cannot run %s: %s\n", reload_argv[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  size_t cap = 65536, used = 0;
  char *text = malloc(cap);
  for (;;) {
    if (text == NULL || pid < 0) break;
    if (used == cap) {
      if (cap >= MAX_RELOAD_BYTES) break;
      char *bigger = realloc(text, cap * 2);
      if (bigger == NULL) break;
      text = bigger;
      cap *= 2;
    }
    ssize_t n = read(out[0], text + used, cap - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += (size_t)n;
  }
  close(out[0]);
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int ok = pid > 0 && text != NULL && WIFEXITED(status) && WEXITSTATUS(status) == 0 && used > 0;
  if (!ok) {
    snprintf(head, sizeof head, "{\"op\":\"reload\",\"id\":%d,\"config\":null}\n", id);
    reply(head);
    free(text);
    return;
  }
  int n = snprintf(head, sizeof head, "{\"op\":\"reload\",\"id\":%d,\"config\":\"", id);
  char *line = malloc((size_t)n + 2 * used + 4);
  if (line == NULL) exit(1);
  memcpy(line, head, (size_t)n);
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < used; i++) {
    line[n + 2 * i] = digits[(unsigned char)text[i] >> 4];
    line[n + 2 * i + 1] = digits[(unsigned char)text[i] & 15];
  }
  memcpy(line + n + 2 * used, "\"}\n", 4);
  reply(line);
  free(line);
  free(text);
}

static void handle_request(const char *line) {
  char op[32];
  long id = 0;
  if (strstr(line, "\"cmd\":") != NULL) return; /* Node.js's own (NODE_HANDLE_ACK) */
  if (!json_word(line, "op", op, sizeof op) || !json_number(line, "id", &id)) return;
  if (strcmp(op, "spawn") == 0) {
    char program[32];
    char *hex = malloc(MAX_LINE);
    if (hex != NULL && json_word(line, "program", program, sizeof program) && json_word(line, "args", hex, MAX_LINE)) spawn_program((int)id, program, hex);
    free(hex);
  } else if (strcmp(op, "kill") == 0) {
    long sig;
    if (json_number(line, "signal", &sig)) kill_program((int)id, sig);
  } else if (strcmp(op, "tun") == 0) {
    long pid;
    if (json_number(line, "pid", &pid)) tun_of((int)id, pid);
  } else if (strcmp(op, "reload") == 0) {
    reload((int)id);
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
      if (children[i].pid != pid) continue;
      char line[128];
      if (WIFSIGNALED(status)) snprintf(line, sizeof line, "{\"op\":\"exited\",\"id\":%d,\"code\":null,\"signal\":\"%s\"}\n", children[i].id, signal_name(WTERMSIG(status)));
      else snprintf(line, sizeof line, "{\"op\":\"exited\",\"id\":%d,\"code\":%d,\"signal\":null}\n", children[i].id, WEXITSTATUS(status));
      children[i].pid = 0;
      reply(line);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0 || getenv("NODE_CHANNEL_FD") == NULL) {
    fprintf(stderr, "usage: endsight-privileged USER -- RELOAD_COMMAND... (started by endsight agent, with its IPC channel)\n");
    return 2;
  }
  user = argv[1];
  reload_argv = argv + 3;
  channel = atoi(getenv("NODE_CHANNEL_FD"));
  /* Not for the programs it runs: the configuration check is Node.js too, and would take fd 3 for its channel. */
  unsetenv("NODE_CHANNEL_FD");
  unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  /* Its programs must not inherit the channel. */
  fcntl(channel, F_SETFD, FD_CLOEXEC);
  fcntl(channel, F_SETFL, fcntl(channel, F_GETFL) & ~O_NONBLOCK);
  ssize_t n = readlink("/proc/self/exe", native_dir, sizeof native_dir - 1);
  if (n <= 0) return 1;
  native_dir[n] = 0;
  *strrchr(native_dir, '/') = 0;
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* the channel's end says the same; this also when it is shared */

  char *buf = malloc(MAX_LINE);
  size_t used = 0;
  if (buf == NULL || sfd < 0) return 1;
  struct pollfd fds[2] = {{channel, POLLIN, 0}, {sfd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) == (ssize_t)sizeof info) {
      }
      reap();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = read(channel, buf + used, MAX_LINE - used);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break; /* the meter is gone */
      used += (size_t)got;
      size_t start = 0;
      for (size_t i = 0; i < used; i++) {
        if (buf[i] != '\n') continue;
        buf[i] = 0;
        handle_request(buf + start);
        start = i + 1;
      }
      memmove(buf, buf + start, used - start);
      used -= start;
      if (used == MAX_LINE) used = 0; /* a line longer than any request: dropped */
    }
  }
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].pid != 0) kill(children[i].pid, SIGTERM);
  return 0;
}
