// LD_PRELOAD diagnostic for a process that dies on a signal without saying where (Chromium's GPU
// process on the GPU machine): on SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT it writes to stderr
// the faulting address, a backtrace with each frame's module and offset (dladdr), and the
// process's executable mappings, then re-raises the signal with the default action.
//   gcc -O1 -shared -fPIC -o segv_trace.so segv_trace.c      (prepare.sh builds it)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void put(const char *s) { (void)!write(2, s, strlen(s)); }

static void on_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    char line[512];
    snprintf(line, sizeof line, "segv_trace: pid %d signal %d at address %p\n", (int)getpid(), sig, info->si_addr);
    put(line);
    void *frames[48];
    int n = backtrace(frames, 48);
    for (int i = 0; i < n; i++) {
        Dl_info d;
        if (dladdr(frames[i], &d) && d.dli_fname) {
            snprintf(line, sizeof line, "segv_trace: #%d %p %s+0x%lx %s\n", i, frames[i], d.dli_fname,
                     (unsigned long)((char *)frames[i] - (char *)d.dli_fbase), d.dli_sname ? d.dli_sname : "");
        } else {
            snprintf(line, sizeof line, "segv_trace: #%d %p ?\n", i, frames[i]);
        }
        put(line);
    }
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd >= 0) {
        char buf[4096];
        ssize_t k;
        static char rest[8192];
        size_t have = 0;
        while ((k = read(fd, buf, sizeof buf)) > 0) {
            for (ssize_t j = 0; j < k; j++) {
                if (have < sizeof rest - 1) rest[have++] = buf[j];
                if (buf[j] == '\n') {
                    rest[have] = 0;
                    if (strstr(rest, " r-xp ")) { put("segv_trace: map "); put(rest); }
                    have = 0;
                }
            }
        }
        close(fd);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
}
