/* SPDX-License-Identifier: MIT */
/*
 * threads.c - running all vCPUs of a VM on threads of their own, and
 * stopping them cleanly.
 */
#include "core/vm_impl.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void kick_all(vmm_vm *vm)
{
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->thread_started)
			vmm_vcpu_kick(vm->vcpus[i]);
}

static void set_stop(vmm_vm *vm, int value)
{
	pthread_mutex_lock(&vm->run_lock);
	if (!vm->stop_set) {
		vm->stop_set = true;
		vm->stop_value = value;
	}
	vm->stopping = true;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	kick_all(vm);
}

static bool stopping(vmm_vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->run_lock);
	s = vm->stopping;
	pthread_mutex_unlock(&vm->run_lock);
	return s;
}

/*
 * Park the calling vCPU thread while a pause is requested.  It gets here
 * only from VMM_EXIT_INTERRUPTED, i.e. after KVM_RUN (or the backend's run)
 * returned without a pending exit: any I/O the previous exit started has
 * been completed by then.  Returns true if it was parked.
 */
static bool pause_point(vmm_vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	if (!vm->pause_depth || vm->stopping) {
		pthread_mutex_unlock(&vm->run_lock);
		return false;
	}
	vm->threads_paused++;
	pthread_cond_broadcast(&vm->run_cond);
	while (vm->pause_depth && !vm->stopping)
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	vm->threads_paused--;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	return true;
}

static void *vcpu_thread(void *arg)
{
	vmm_vcpu *vcpu = arg;
	vmm_vm *vm = vcpu->vm;
	struct vmm_exit exit;

	atomic_store(&vcpu->tid, (int)syscall(SYS_gettid));
	while (!stopping(vm)) {
		int r = vmm_vcpu_run_loop(vcpu, &exit);
		if (r) {
			set_stop(vm, r);
			break;
		}
		if (exit.kind == VMM_EXIT_INTERRUPTED && stopping(vm))
			break;
		/* a kick from vmm_vm_pause(): park; the callback never sees it */
		if (exit.kind == VMM_EXIT_INTERRUPTED && pause_point(vm))
			continue;
		r = vm->exit_cb(vm->exit_opaque, vcpu, &exit);
		if (r) {
			set_stop(vm, r);
			break;
		}
	}
	pthread_mutex_lock(&vm->run_lock);
	vm->threads_live--;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	return NULL;
}

int vmm_vm_start(vmm_vm *vm, vmm_exit_cb cb, void *opaque)
{
	int ret = 0;

	if (!vm || !cb)
		return -EINVAL;
	pthread_mutex_lock(&vm->run_lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__err(vm, -EBUSY, "VM already started");
	}
	if (vm->poisoned && vm->poison_why) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__vm_poison_check(vm, "vmm_vm_start");
	}
	vm->started = true;
	vm->stopping = false;
	vm->stop_set = false;
	vm->stop_value = 0;
	vm->exit_cb = cb;
	vm->exit_opaque = opaque;
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		ret = -pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret)
			break;
		v->thread_started = true;
		vm->threads_live++;
	}
	pthread_mutex_unlock(&vm->run_lock);
	if (ret) {
		vmm_vm_stop(vm);
		return vmm__err(vm, ret, "cannot start vCPU thread");
	}
	return 0;
}

static void join_all(vmm_vm *vm)
{
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vm->vcpus[i];
		if (v && v->thread_started) {
			pthread_join(v->thread, NULL);
			v->thread_started = false;
		}
	}
	pthread_mutex_lock(&vm->run_lock);
	vm->started = false;
	pthread_mutex_unlock(&vm->run_lock);
}

bool vmm__on_vcpu_thread(vmm_vm *vm)
{
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vm->vcpus[i];
		if (v && v->thread_started &&
		    pthread_equal(v->thread, pthread_self()))
			return true;
	}
	return false;
}

int vmm_vm_wait(vmm_vm *vm, int timeout_ms)
{
	struct timespec ts;
	int value, ret = 0;

	if (!vm)
		return -EINVAL;
	if (vmm__on_vcpu_thread(vm))
		return -EDEADLK;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&vm->run_lock);
	if (!vm->started) {
		pthread_mutex_unlock(&vm->run_lock);
		return -EINVAL;
	}
	while (!vm->stop_set && vm->threads_live > 0 && ret == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&vm->run_cond, &vm->run_lock);
		else
			ret = pthread_cond_timedwait(&vm->run_cond,
						     &vm->run_lock, &ts);
	}
	if (ret == ETIMEDOUT && !vm->stop_set) {
		pthread_mutex_unlock(&vm->run_lock);
		return -ETIMEDOUT;
	}
	vm->stopping = true;
	value = vm->stop_value;
	pthread_mutex_unlock(&vm->run_lock);
	kick_all(vm);
	join_all(vm);
	return value;
}

int vmm_vm_stop(vmm_vm *vm)
{
	bool started;

	if (!vm)
		return -EINVAL;
	if (vmm__on_vcpu_thread(vm))
		return -EDEADLK;
	pthread_mutex_lock(&vm->run_lock);
	started = vm->started;
	pthread_mutex_unlock(&vm->run_lock);
	if (!started)
		return 0;
	set_stop(vm, 0);
	join_all(vm);
	return 0;
}

/*
 * vmm_vm_pause() - stop the vCPU threads of vmm_vm_start() at an
 * instruction boundary: each is kicked, returns from the backend with its
 * last I/O completed, and parks until vmm_vm_resume().  Nests: every pause
 * needs its resume.  On a VM whose vCPUs are not run by vmm_vm_start()
 * this only counts (the embedder runs them and must not while paused).
 */
int vmm_vm_pause(vmm_vm *vm)
{
	struct timespec ts;

	if (!vm)
		return -EINVAL;
	if (vmm__on_vcpu_thread(vm))
		return vmm__err(vm, -EDEADLK, "vmm_vm_pause() on a vCPU thread");
	pthread_mutex_lock(&vm->run_lock);
	vm->pause_depth++;
	while (vm->started && !vm->stopping &&
	       vm->threads_paused < vm->threads_live) {
		pthread_mutex_unlock(&vm->run_lock);
		kick_all(vm);
		pthread_mutex_lock(&vm->run_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (vm->threads_paused < vm->threads_live && !vm->stopping)
			pthread_cond_timedwait(&vm->run_cond, &vm->run_lock,
					       &ts);
	}
	pthread_mutex_unlock(&vm->run_lock);
	return 0;
}

/* vmm_vm_resume() - undo one vmm_vm_pause(); the last one lets them run. */
int vmm_vm_resume(vmm_vm *vm)
{
	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->run_lock);
	if (!vm->pause_depth) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__err(vm, -EINVAL, "VM is not paused");
	}
	if (vm->resume_block && vm->pause_depth == 1) {
		const char *why = vm->resume_block;

		pthread_mutex_unlock(&vm->run_lock);
		return vmm__err(vm, -EBUSY, "cannot resume: %s", why);
	}
	if (vm->poisoned && vm->pause_depth == 1) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__vm_poison_check(vm, "vmm_vm_resume");
	}
	if (--vm->pause_depth == 0)
		pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	return 0;
}

double vmm__schedstat_wait_ms(const char *path)
{
	char b[128];
	unsigned long long run, wait;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = 0;
	if (sscanf(b, "%llu %llu", &run, &wait) != 2)
		return -1;
	return (double)wait / 1e6;
}

double vmm__vm_vcpu_wait_ms(vmm_vm *vm)
{
	double sum = 0;

	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vm->vcpus[i];
		char path[64];
		int tid = v ? atomic_load(&v->tid) : 0;
		double w;

		if (!tid)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
		w = vmm__schedstat_wait_ms(path);
		if (w < 0)
			return -1;
		sum += w;
	}
	return sum;
}

bool vmm__vm_started(vmm_vm *vm)
{
	bool r;

	pthread_mutex_lock(&vm->run_lock);
	r = vm->started;
	pthread_mutex_unlock(&vm->run_lock);
	return r;
}

bool vmm__vm_running(vmm_vm *vm)
{
	bool r;

	pthread_mutex_lock(&vm->run_lock);
	r = vm->started && !vm->pause_depth && vm->threads_live > 0;
	pthread_mutex_unlock(&vm->run_lock);
	return r;
}
