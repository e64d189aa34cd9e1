// LD_PRELOAD diagnostic for a process that dies on a signal without saying where (Chromium's GPU
// process on the GPU machine): on SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT it writes to stderr
// the faulting address, the faulting instruction's module and offset (dladdr on the saved RIP),
// a backtrace, the return addresses found on the stack that fall in a module, and the process's
// executable mappings, then re-raises the signal with the default action.
// Only in a process whose command line has "--type=gpu-process" (or every process where
// SEGV_TRACE_ALL is set), and there its handler stays: sigaction() for those signals is answered
// without replacing it (the browser's own handler would otherwise take over and say nothing).
//   gcc -O1 -shared -fPIC -o segv_trace.so segv_trace.c -ldl      (prepare.sh builds it)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <ucontext.h>
#include <unistd.h>

static int active;
static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

static void put(const char *s) { (void)!write(2, s, strlen(s)); }

static void where(const char *what, void *pc) {
    char line[512];
    Dl_info d;
    if (dladdr(pc, &d) && d.dli_fname) {
        snprintf(line, sizeof line, "segv_trace: %s %p %s+0x%lx %s\n", what, pc, d.dli_fname,
                 (unsigned long)((char *)pc - (char *)d.dli_fbase), d.dli_sname ? d.dli_sname : "");
    } else {
        snprintf(line, sizeof line, "segv_trace: %s %p ?\n", what, pc);
    }
    put(line);
}

static void on_signal(int sig, siginfo_t *info, void *ctx) {
    char line[512];
    snprintf(line, sizeof line, "segv_trace: pid %d signal %d at address %p\n", (int)getpid(), sig, info->si_addr);
    put(line);
    ucontext_t *uc = (ucontext_t *)ctx;
    void *pc = (void *)uc->uc_mcontext.gregs[REG_RIP];
    unsigned long *sp = (unsigned long *)uc->uc_mcontext.gregs[REG_RSP];
    where("pc", pc);
    for (int i = 0, n = 0; i < 512 && n < 24; i++) {      // return addresses among the stack's words
        Dl_info d;
        void *v = (void *)sp[i];
        if ((unsigned long)v > 0x10000 && dladdr(v, &d) && d.dli_fname) { where("stack", v); n++; }
    }
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

static int traced(int sig) {
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) if (sigs[i] == sig) return 1;
    return 0;
}

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    static sigaction_fn real;
    if (!real) real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
    if (active && act && traced(sig) && act->sa_sigaction != on_signal) {
        if (old) real(sig, NULL, old);
        return 0;                                          // keep this handler
    }
    return real(sig, act, old);
}

__attribute__((constructor)) static void install(void) {
    char cmd[8192];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : 0;
    if (fd >= 0) close(fd);
    for (ssize_t i = 0; i < n; i++) if (cmd[i] == 0) cmd[i] = ' ';
    cmd[n > 0 ? n : 0] = 0;
    if (!getenv("SEGV_TRACE_ALL") && !strstr(cmd, "--type=gpu-process")) return;
    static char stack[65536];
    stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
    active = 1;
    put("segv_trace: armed in the GPU process\n");
}
