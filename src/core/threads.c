/* SPDX-License-Identifier: MIT */
/*
 * threads.c - running all vCPUs of a VM on threads of their own, and
 * stopping them cleanly.
 */
#include "core/vm_impl.h"

#include <string.h>
#include <time.h>

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

static void *vcpu_thread(void *arg)
{
	vmm_vcpu *vcpu = arg;
	vmm_vm *vm = vcpu->vm;
	struct vmm_exit exit;

	while (!stopping(vm)) {
		int r = vmm_vcpu_run_loop(vcpu, &exit);
		if (r) {
			set_stop(vm, r);
			break;
		}
		if (exit.kind == VMM_EXIT_INTERRUPTED && stopping(vm))
			break;
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

static bool on_vcpu_thread(vmm_vm *vm)
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
	if (on_vcpu_thread(vm))
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
	if (on_vcpu_thread(vm))
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
