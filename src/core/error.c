/* SPDX-License-Identifier: MIT */
/*
 * error.c - return-code names and messages, the per-VM last error and the
 * log callback, library version.
 */
#include "core/vm_impl.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

unsigned vmm_version(void)
{
	return LIBVMM_VERSION_NUMBER;
}

const char *vmm_version_string(void)
{
	return LIBVMM_VERSION_STRING;
}

bool vmm_check_version(unsigned major, unsigned minor, unsigned micro)
{
	if (major != LIBVMM_VERSION_MAJOR)
		return false;
	/* in 0.x every minor release may break the ABI */
	if (major == 0 && minor != LIBVMM_VERSION_MINOR)
		return false;
	if (minor != LIBVMM_VERSION_MINOR)
		return minor < LIBVMM_VERSION_MINOR;
	return micro <= LIBVMM_VERSION_PATCH;
}

struct errdesc {
	int err;
	const char *name;
	const char *msg;
};

/* libvmm's meaning of each errno it returns. */
static const struct errdesc errtab[] = {
	{ 0, "OK", "success" },
	{ EPERM, "EPERM", "operation not permitted" },
	{ ENOENT, "ENOENT", "no such object (region, range, device)" },
	{ EINTR, "EINTR", "interrupted" },
	{ EIO, "EIO", "I/O error" },
	{ E2BIG, "E2BIG", "too large" },
	{ ENOEXEC, "ENOEXEC", "malformed or unsupported guest image" },
	{ EBADF, "EBADF", "bad file descriptor" },
	{ EAGAIN, "EAGAIN", "try again" },
	{ EDEADLK, "EDEADLK", "would deadlock (called from a vCPU thread)" },
	{ ENOMEM, "ENOMEM", "out of memory" },
	{ EMFILE, "EMFILE", "too many open files in this process" },
	{ ENFILE, "ENFILE", "too many open files in the system" },
	{ EACCES, "EACCES", "permission denied" },
	{ EFAULT, "EFAULT", "guest address outside guest memory" },
	{ EBUSY, "EBUSY", "busy (in use or running)" },
	{ EEXIST, "EEXIST", "already exists or overlaps" },
	{ ENODEV, "ENODEV", "backend or device not available" },
	{ EINVAL, "EINVAL", "invalid argument" },
	{ ENOSPC, "ENOSPC", "no space left (slots, buffers)" },
	{ ERANGE, "ERANGE", "out of range" },
	{ ENOSYS, "ENOSYS", "not implemented by this backend" },
	{ EOVERFLOW, "EOVERFLOW", "arithmetic overflow" },
	{ ENOTSUP, "ENOTSUP", "not supported" },
	{ ETIMEDOUT, "ETIMEDOUT", "timed out" },
	{ ECANCELED, "ECANCELED", "cancelled" },
	{ EPROTO, "EPROTO", "protocol error" },
	{ EBADMSG, "EBADMSG", "corrupt data (bad checksum or format)" },
	{ ESHUTDOWN, "ESHUTDOWN", "VM is shutting down" },
	{ EPIPE, "EPIPE", "connection closed by the peer" },
	{ ECONNRESET, "ECONNRESET", "connection reset by the peer" },
	{ ECONNABORTED, "ECONNABORTED", "aborted by the peer" },
	{ EFBIG, "EFBIG", "size beyond the limits" },
	{ EDEADLK, "EDEADLK", "would deadlock (called on a vCPU thread)" },
	{ EMSGSIZE, "EMSGSIZE", "message too large" },
	/* VMM_MIGRATE_COMMIT_UNVERIFIED, vmm_migrate_receive()'s only use */
	{ EINPROGRESS, "EINPROGRESS",
	  "migration commit unverified (the VM is kept paused)" },
};

static const struct errdesc *errfind(int err)
{
	if (err == INT_MIN)
		return NULL;
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < VMM_ARRAY_SIZE(errtab); i++)
		if (errtab[i].err == err)
			return &errtab[i];
	return NULL;
}

const char *vmm_strerror(int err)
{
	const struct errdesc *d = errfind(err);
	return d ? d->msg : "unknown error";
}

const char *vmm_err_name(int err)
{
	const struct errdesc *d = errfind(err);
	return d ? d->name : "E?";
}

bool vmm__log_enabled(vmm_vm *vm, int level)
{
	return vm && vm->cfg.log && level <= vm->cfg.log_level;
}

static void vlog(vmm_vm *vm, int level, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	vm->cfg.log(vm->cfg.log_opaque, level, buf);
}

void vmm__log(vmm_vm *vm, int level, const char *fmt, ...)
{
	va_list ap;

	if (!vmm__log_enabled(vm, level))
		return;
	va_start(ap, fmt);
	vlog(vm, level, fmt, ap);
	va_end(ap);
}

/*
 * The calling thread's last failure, like errno: per thread, so two threads
 * working on one VM each read their own message, and a failure with no VM
 * (vmm_vm_create()) still has one.  Thread-local, not shared state: no
 * other thread ever reads or writes it.
 */
static _Thread_local struct {
	const vmm_vm *vm;   /* the VM of the last failure with one */
	uint64_t serial;
	bool set;
	char msg[320];
	char novm[320];     /* the last failure with no VM */
} t_err;

static void thread_err(const vmm_vm *vm, int err, const char *buf)
{
	if (!vm) {
		snprintf(t_err.novm, sizeof(t_err.novm), "%s (%s)", buf,
			 vmm_err_name(err));
		return;
	}
	t_err.vm = vm;
	t_err.serial = vm->err_serial;
	t_err.set = true;
	snprintf(t_err.msg, sizeof(t_err.msg), "%s (%s)", buf, vmm_err_name(err));
}

void vmm__err_forget_vm(const vmm_vm *vm)
{
	if (t_err.set && t_err.vm == vm) {
		/* keep the message, as a failure with no VM */
		memcpy(t_err.novm, t_err.msg, sizeof(t_err.novm));
		t_err.set = false;
		t_err.vm = NULL;
	}
}

int vmm__err_cfg(const struct vmm_config *cfg, int err, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	thread_err(NULL, err, buf);
	if (cfg && cfg->log && cfg->log_level >= VMM_LOG_ERROR)
		cfg->log(cfg->log_opaque, VMM_LOG_ERROR, buf);
	return err;
}

int vmm__err(vmm_vm *vm, int err, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	thread_err(vm, err, buf);
	if (!vm)
		return err;
	pthread_mutex_lock(&vm->err_lock);
	snprintf(vm->errmsg, sizeof(vm->errmsg), "%s (%s)", buf,
		 vmm_err_name(err));
	pthread_mutex_unlock(&vm->err_lock);
	if (vmm__log_enabled(vm, VMM_LOG_ERROR))
		vm->cfg.log(vm->cfg.log_opaque, VMM_LOG_ERROR, buf);
	return err;
}

size_t vmm_last_error(vmm_vm *vm, char *buf, size_t len)
{
	size_t n;

	if (!vm || (t_err.set && t_err.vm == vm &&
		    t_err.serial == vm->err_serial)) {
		/* this thread's own last failure (on no VM / on @vm) */
		const char *m = vm ? t_err.msg : t_err.novm;

		if (buf && len)
			snprintf(buf, len, "%s", m);
		return strlen(m);
	}
	pthread_mutex_lock(&vm->err_lock);
	n = strlen(vm->errmsg);
	if (buf && len)
		snprintf(buf, len, "%s", vm->errmsg);
	pthread_mutex_unlock(&vm->err_lock);
	return n;
}
