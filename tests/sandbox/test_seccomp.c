/* SPDX-License-Identifier: MIT */
/*
 * test_seccomp.c - vmm_seccomp_apply(), each case in a forked child:
 *   errno mode: open() of a new file, execve(), socket() and fork() are
 *     refused with EPERM; write to a pipe, malloc, threads still work;
 *   kill mode: execve() kills the process with SIGSYS;
 *   a sandbox under the filter (if IMAGE is given and KVM is here): set up,
 *     apply with VMM_SECCOMP_ALL_THREADS, then calls, a runaway guest
 *     stopped by the watchdog's kick (a signal), and open() still refused.
 *
 *   test_seccomp [IMAGE]     (exit 77 when built without libseccomp)
 */
#include "harness.h"
#include "sandbox_rt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char newfile[64];

#define CHILD_CHECK(c)                                                         \
	do {                                                                   \
		if (!(c)) {                                                    \
			dprintf(2, "FAIL line %d: %s (errno %d)\n", __LINE__,  \
				#c, errno);                                    \
			_exit(1);                                              \
		}                                                              \
	} while (0)

static void *thread_fn(void *arg)
{
	return arg;
}

static void child_errno(void)
{
	char *const argv[] = { "/bin/true", NULL };
	int p[2], fd;
	pthread_t th;
	void *ret;

	CHILD_CHECK(pipe(p) == 0);
	CHILD_CHECK(vmm_seccomp_apply(NULL, VMM_SECCOMP_ERRNO) == 0);
	fd = open(newfile, O_CREAT | O_WRONLY, 0600);
	CHILD_CHECK(fd < 0 && errno == EPERM);
	CHILD_CHECK(access(newfile, F_OK) < 0);
	CHILD_CHECK(execve(argv[0], argv, NULL) < 0 && errno == EPERM);
	CHILD_CHECK(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM);
	CHILD_CHECK(fork() < 0 && errno == EPERM);
	/* what a VMM keeps doing */
	CHILD_CHECK(write(p[1], "x", 1) == 1);
	char c;
	CHILD_CHECK(read(p[0], &c, 1) == 1 && c == 'x');
	void *m = malloc(8 << 20);
	CHILD_CHECK(m != NULL);
	memset(m, 1, 8 << 20);
	free(m);
	CHILD_CHECK(pthread_create(&th, NULL, thread_fn, (void *)7) == 0);
	CHILD_CHECK(pthread_join(th, &ret) == 0 && ret == (void *)7);
	_exit(0);
}

static void child_kill(void)
{
	char *const argv[] = { "/bin/true", NULL };

	if (vmm_seccomp_apply(NULL, 0))
		_exit(2);
	execve(argv[0], argv, NULL);
	_exit(3); /* not reached: SIGSYS */
}

static void child_sandbox(const char *image)
{
	struct sb_config cfg;
	struct sb_result r;
	struct sb *sb;
	char out[128], why[256];
	size_t len;
	void *img = gh_read_file(image, &len);

	sb_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.mem_limit = 8 << 20;
	cfg.time_limit_ms = 100;
	if (sb_create(&cfg, img, len, &sb, why, sizeof(why))) {
		dprintf(2, "FAIL: sb_create: %s\n", why);
		_exit(1);
	}
	CHILD_CHECK(vmm_seccomp_apply(sb_vm(sb), VMM_SECCOMP_ALL_THREADS |
					   VMM_SECCOMP_ERRNO) == 0);
	for (int i = 0; i < 50; i++) {
		memset(out, 0, sizeof(out));
		CHILD_CHECK(sb_call(sb, "echo:ok", 7, out, sizeof(out) - 1, &r) == 0);
		CHILD_CHECK(!strcmp(out, "ok"));
	}
	CHILD_CHECK(sb_call(sb, "loop", 4, out, sizeof(out), &r) == -ETIMEDOUT);
	CHILD_CHECK(sb_call(sb, "echo:ok", 7, out, sizeof(out), &r) == 0);
	CHILD_CHECK(open(newfile, O_CREAT | O_WRONLY, 0600) < 0 && errno == EPERM);
	sb_destroy(sb);
	_exit(0);
}

static int run_child(void (*fn)(const char *), const char *arg, int *sig)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		fn(arg);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	*sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void errno_entry(const char *a) { child_errno(); }
static void kill_entry(const char *a) { child_kill(); }
static void sandbox_entry(const char *a) { child_sandbox(a); }

int main(int argc, char **argv)
{
	int rc, sig, fails = 0;

	if (vmm_seccomp_available()) {
		printf("SKIP: libvmm built without libseccomp\n");
		return 77;
	}
	snprintf(newfile, sizeof(newfile), "/tmp/vmm-seccomp-%d", (int)getpid());
	unlink(newfile);

	rc = run_child(errno_entry, NULL, &sig);
	printf("errno mode: exit %d signal %d\n", rc, sig);
	fails += rc != 0;
	rc = run_child(kill_entry, NULL, &sig);
	printf("kill mode: exit %d signal %d (want SIGSYS = %d)\n", rc, sig,
	       SIGSYS);
	fails += sig != SIGSYS;
	if (argc > 1 && vmm_backend_available(VMM_BACKEND_KVM) == 0) {
		rc = run_child(sandbox_entry, argv[1], &sig);
		printf("sandbox under seccomp: exit %d signal %d\n", rc, sig);
		fails += rc != 0;
	} else {
		printf("sandbox under seccomp: skipped (no image or no KVM backend)\n");
	}
	if (access(newfile, F_OK) == 0) {
		printf("FAIL: %s was created\n", newfile);
		unlink(newfile);
		fails++;
	}
	if (fails)
		return 1;
	printf("PASS\n");
	return 0;
}
