/* The sandbox ("pause") process of every pod on the real test nodes: holds the pod's namespaces,
 * reaps orphans, exits on SIGINT/SIGTERM. Built static by tools/toolchain/nodes.sh. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int s) { (void)s; _exit(0); }
static void on_child(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction a = {0};
  a.sa_handler = on_term;
  sigaction(SIGINT, &a, 0);
  sigaction(SIGTERM, &a, 0);
  a.sa_handler = on_child;
  a.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &a, 0);
  for (;;) pause();
}
