/* The pod sandbox's process: holds the pod's namespaces, reaps orphans, exits on SIGTERM or
 * SIGINT. Built static by tools/cluster (cc -static) and imported into containerd as
 * storefront.local/pause, so the kubelet never pulls a sandbox image. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, stop); signal(SIGTERM, stop); signal(SIGCHLD, reap);
  for (;;) pause();
}
