/*
 * How endsight's native programs give up their privileges once the device is open or the probes are
 * attached. Both are single-threaded, so this leaves no thread privileged (capabilities are per thread).
 */
#ifndef ENDSIGHT_DROP_PRIVILEGES_H
#define ENDSIGHT_DROP_PRIVILEGES_H

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * As root with `user`: switches to that user (the kernel then clears every capability). Otherwise,
 * with capabilities only (a systemd unit's AmbientCapabilities, say): clears them. Either way no
 * later exec can gain any. Then asks for SIGTERM when the parent (the agent) dies: the kernel clears
 * that request when credentials change (prctl(2), PR_SET_PDEATHSIG), so it comes after the switch;
 * a parent already gone by then is an error. Returns 0, or -1 with a message naming `program`.
 */
static int drop_privileges(const char *program, const char *user) {
  pid_t parent = getppid();
  if (geteuid() == 0 && user != NULL) {
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
      fprintf(stderr, "%s: no such user: %s\n", program, user);
      return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
      fprintf(stderr, "%s: cannot switch to user %s: %s\n", program, user, strerror(errno));
      return -1;
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (geteuid() != 0 && syscall(SYS_capset, &header, data) != 0) {
    fprintf(stderr, "%s: cannot drop capabilities: %s\n", program, strerror(errno));
    return -1;
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (getppid() != parent) {
    fprintf(stderr, "%s: the agent that started it is gone\n", program);
    return -1;
  }
  return 0;
}

#endif
