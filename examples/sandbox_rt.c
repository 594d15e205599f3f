/* SPDX-License-Identifier: MIT */
/*
 * sandbox_rt.c - the host side of the function sandbox (see sandbox_rt.h),
 * on libvmm's public API only.  Protocol: guest/include/sandbox_abi.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, O_TMPFILE */
#endif
#include "sandbox_rt.h"
#include "sandbox_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int describe(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A watchdog thread that kicks the vCPU when a call overruns. */
struct watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, quit, armed;
	uint64_t gen, fired_gen;
	struct timespec deadline;
	vmm_vcpu *vcpu;
};

struct sb {
	struct sb_config cfg;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_hc *hc;
	vmm_snapshot *snap;     /* the pristine state: the guest when ready */
	bool ready, dirty;
	struct watchdog wd;

	/* the current call */
	const void *in;
	size_t in_len;
	void *out;
	size_t out_cap, out_len;
	int64_t status;
	uint64_t fault[4];

	struct sb_stats st;
};

void sb_config_init(struct sb_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = VMM_BACKEND_AUTO;
	cfg->mem_limit = 16ull << 20;
	cfg->time_limit_ms = 1000;
}

vmm_vm *sb_vm(struct sb *sb)
{
	return sb->vm;
}

/* ---- host functions of the protocol ------------------------------------ */

static int64_t fn_ready(void *opaque, struct vmm_hc_call *c)
{
	struct sb *sb = opaque;

	if (sb->ready)
		return -EALREADY; /* only once, before the snapshot */
	c->stop = true;
	c->stop_value = SB_STOP_READY;
	return 0;
}

static int64_t fn_input(void *opaque, struct vmm_hc_call *c)
{
	struct sb *sb = opaque;

	if (!sb->ready || !sb->in)
		return -EPROTO;
	if (sb->in_len > c->bufs[0].len)
		return -E2BIG;
	memcpy(c->bufs[0].data, sb->in, sb->in_len);
	c->bufs[0].used = (uint32_t)sb->in_len;
	sb->in = NULL; /* one input per call */
	return (int64_t)sb->in_len;
}

static int64_t fn_return(void *opaque, struct vmm_hc_call *c)
{
	struct sb *sb = opaque;
	size_t n = c->bufs[0].len;

	sb->status = (int64_t)c->args[0];
	sb->out_len = n;
	if (sb->out && sb->out_cap)
		memcpy(sb->out, c->bufs[0].data, n < sb->out_cap ? n : sb->out_cap);
	c->stop = true;
	c->stop_value = SB_STOP_RETURN;
	return 0;
}

static int64_t fn_print(void *opaque, struct vmm_hc_call *c)
{
	struct sb *sb = opaque;

	if (sb->cfg.print)
		sb->cfg.print(sb->cfg.print_opaque, c->bufs[0].data,
			      c->bufs[0].len);
	return c->bufs[0].len;
}

static int64_t fn_fault(void *opaque, struct vmm_hc_call *c)
{
	struct sb *sb = opaque;

	memcpy(sb->fault, c->args, sizeof(sb->fault));
	c->stop = true;
	c->stop_value = SB_STOP_FAULT;
	return 0;
}

static int register_protocol(struct sb *sb)
{
	static const struct vmm_hc_sig none = { 0 };
	static const struct vmm_hc_sig input = {
		.nbufs = 1, .bufs = { { VMM_HC_DIR_OUT, SB_INPUT_CAP } },
		.flags = VMM_HC_SIG_NO_BATCH,
	};
	static const struct vmm_hc_sig ret = {
		.nargs = 1, .nbufs = 1,
		.bufs = { { VMM_HC_DIR_IN, SB_OUTPUT_CAP } },
		.flags = VMM_HC_SIG_NO_BATCH,
	};
	static const struct vmm_hc_sig print = {
		.nbufs = 1, .bufs = { { VMM_HC_DIR_IN, SB_PRINT_CAP } },
	};
	static const struct vmm_hc_sig fault = { .nargs = 4 };
	int r;

	if ((r = vmm_hc_register(sb->hc, SB_NR_READY, "sb.ready", &none,
				 fn_ready, sb)) ||
	    (r = vmm_hc_register(sb->hc, SB_NR_INPUT, "sb.input", &input,
				 fn_input, sb)) ||
	    (r = vmm_hc_register(sb->hc, SB_NR_RETURN, "sb.return", &ret,
				 fn_return, sb)) ||
	    (r = vmm_hc_register(sb->hc, SB_NR_PRINT, "sb.print", &print,
				 fn_print, sb)) ||
	    (r = vmm_hc_register(sb->hc, SB_NR_FAULT, "sb.fault", &fault,
				 fn_fault, sb)))
		return r;
	return 0;
}

int sb_register(struct sb *sb, uint32_t nr, const char *name,
		const struct vmm_hc_sig *sig, vmm_hc_fn fn, void *opaque)
{
	return vmm_hc_register(sb->hc, nr, name, sig, fn, opaque);
}

/* ---- watchdog ---------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
	struct watchdog *wd = arg;

	pthread_mutex_lock(&wd->lock);
	while (!wd->quit) {
		struct timespec now;

		if (!wd->armed) {
			pthread_cond_wait(&wd->cond, &wd->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > wd->deadline.tv_sec ||
		    (now.tv_sec == wd->deadline.tv_sec &&
		     now.tv_nsec >= wd->deadline.tv_nsec)) {
			wd->fired_gen = wd->gen;
			wd->armed = false;
			vmm_vcpu_kick(wd->vcpu);
			continue;
		}
		pthread_cond_timedwait(&wd->cond, &wd->lock, &wd->deadline);
	}
	pthread_mutex_unlock(&wd->lock);
	return NULL;
}

static int watchdog_start(struct watchdog *wd, vmm_vcpu *vcpu)
{
	pthread_condattr_t ca;
	int r;

	wd->vcpu = vcpu;
	pthread_mutex_init(&wd->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&wd->thread, NULL, watchdog_main, wd);
	if (r)
		return -r;
	wd->started = true;
	return 0;
}

static void watchdog_stop(struct watchdog *wd)
{
	if (!wd->started)
		return;
	pthread_mutex_lock(&wd->lock);
	wd->quit = true;
	pthread_cond_signal(&wd->cond);
	pthread_mutex_unlock(&wd->lock);
	pthread_join(wd->thread, NULL);
	pthread_cond_destroy(&wd->cond);
	pthread_mutex_destroy(&wd->lock);
	wd->started = false;
}

static uint64_t watchdog_arm(struct watchdog *wd, unsigned ms)
{
	uint64_t gen;

	pthread_mutex_lock(&wd->lock);
	gen = ++wd->gen;
	if (ms) {
		clock_gettime(CLOCK_MONOTONIC, &wd->deadline);
		wd->deadline.tv_sec += ms / 1000;
		wd->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (wd->deadline.tv_nsec >= 1000000000L) {
			wd->deadline.tv_sec++;
			wd->deadline.tv_nsec -= 1000000000L;
		}
		wd->armed = true;
		pthread_cond_signal(&wd->cond);
	}
	pthread_mutex_unlock(&wd->lock);
	return gen;
}

/* Disarm; true if the watchdog fired for call @gen. */
static bool watchdog_disarm(struct watchdog *wd, uint64_t gen)
{
	bool fired;

	pthread_mutex_lock(&wd->lock);
	wd->armed = false;
	fired = wd->fired_gen == gen;
	pthread_mutex_unlock(&wd->lock);
	return fired;
}

static bool watchdog_fired(struct watchdog *wd, uint64_t gen)
{
	bool fired;

	pthread_mutex_lock(&wd->lock);
	fired = wd->fired_gen == gen;
	pthread_mutex_unlock(&wd->lock);
	return fired;
}

/* ---- snapshot and reset ------------------------------------------------ */

/*
 * An anonymous file for the snapshot: a memfd, or an O_TMPFILE file when
 * memfds are not available.  Neither has a name in any directory, so
 * nothing is left behind whatever happens to the process.
 */
static int anon_file(void)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp" };
	int fd = memfd_create("libvmm-sandbox-snapshot", MFD_CLOEXEC);

	for (size_t i = 0; fd < 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

/*
 * Take the pristine snapshot of the ready guest: memory (RAW layout, so
 * zero pages are holes of the memory file), the vCPU, the hypercall
 * device's status register.  Dirty logging is started first, so that
 * vmm_snapshot_reset() copies back only what a call dirtied.
 */
static int snapshot(struct sb *sb, char *why, size_t why_len)
{
	struct vmm_save_opts so = {
		.struct_size = sizeof(so),
		.flags = VMM_SAVE_RAW | VMM_SAVE_NO_SYNC,
	};
	int fd, r;

	if ((r = vmm_mem_dirty_log(sb->vm, true))) {
		describe(why, why_len, "dirty log: %s", vmm_strerror(r));
		return r;
	}
	fd = anon_file();
	if (fd < 0) {
		describe(why, why_len, "snapshot file: %s", strerror(-fd));
		return fd;
	}
	r = vmm_snapshot_save_fd(sb->vm, fd, &so);
	if (r) {
		char msg[200];
		vmm_last_error(sb->vm, msg, sizeof(msg));
		describe(why, why_len, "snapshot: %s", msg);
	} else {
		r = vmm_snapshot_open_fd(fd, &sb->snap, why, why_len);
	}
	close(fd); /* the snapshot holds its own reference */
	if (r)
		return r;
	/*
	 * Start from the snapshot with a clean dirty log: whatever was logged
	 * before the save (e.g. while the log was being switched on) equals
	 * the snapshot's content, and this reset forgets it.
	 */
	r = vmm_snapshot_reset(sb->vm, sb->snap);
	if (r < 0) {
		char msg[200];
		vmm_last_error(sb->vm, msg, sizeof(msg));
		describe(why, why_len, "reset: %s", msg);
		return r;
	}
	return 0;
}

/* Back to the snapshot: the pages written since the last reset (guest
 * writes and the host's own, e.g. the input), vCPU and device state. */
static int reset(struct sb *sb, uint64_t *pages)
{
	int r = vmm_snapshot_reset(sb->vm, sb->snap);

	if (r < 0)
		return r;
	*pages = (uint64_t)r;
	sb->st.resets++;
	sb->st.pages_restored += *pages;
	sb->dirty = false;
	return 0;
}

/* ---- running ----------------------------------------------------------- */

enum run_outcome { RUN_READY, RUN_RETURN, RUN_ERROR };

static int describe(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/*
 * Run until the guest stops with @want (SB_STOP_*).  Returns 0 or a
 * negative errno as documented for sb_call().
 */
static int run_until(struct sb *sb, uint32_t want, uint64_t gen, char *why,
		     size_t why_len)
{
	struct vmm_exit e;
	int r;

	for (;;) {
		r = vmm_vcpu_run_loop(sb->vcpu, &e);
		if (r) {
			describe(why, why_len, "run: %s", vmm_strerror(r));
			return r;
		}
		switch (e.kind) {
		case VMM_EXIT_GUEST_EXIT:
			if (e.guest.status != VMM_HC_STOP_STATUS) {
				describe(why, why_len, "debug exit %u",
					 e.guest.value);
				return -EIO;
			}
			if (e.guest.value == want)
				return 0;
			if (e.guest.value == SB_STOP_FAULT) {
				describe(why, why_len,
					 "exception %llu (error 0x%llx) at rip "
					 "0x%llx, cr2 0x%llx",
					 (unsigned long long)sb->fault[0],
					 (unsigned long long)sb->fault[1],
					 (unsigned long long)sb->fault[2],
					 (unsigned long long)sb->fault[3]);
				return -EFAULT;
			}
			describe(why, why_len, "unexpected stop %u",
				 e.guest.value);
			return -EPROTO;
		case VMM_EXIT_INTERRUPTED:
			if (watchdog_fired(&sb->wd, gen)) {
				describe(why, why_len,
					 "time limit of %u ms exceeded",
					 sb->cfg.time_limit_ms);
				return -ETIMEDOUT;
			}
			continue; /* a kick meant for an earlier call */
		case VMM_EXIT_MMIO:
			describe(why, why_len,
				 "memory limit: %s at 0x%llx beyond %llu MiB of RAM",
				 e.mmio.is_write ? "write" : "read",
				 (unsigned long long)e.mmio.gpa,
				 (unsigned long long)(sb->cfg.mem_limit >> 20));
			return -ENOMEM;
		case VMM_EXIT_IO:
			describe(why, why_len, "port I/O to 0x%x (nothing there)",
				 e.io.port);
			return -EIO;
		default:
			describe(why, why_len, "guest stopped: %s",
				 vmm_exit_name(e.kind));
			return -EIO;
		}
	}
}

int sb_call(struct sb *sb, const void *in, size_t in_len, void *out,
	    size_t out_cap, struct sb_result *res)
{
	struct vmm_vm_stats vs0 = { .struct_size = sizeof(vs0) },
		vs1 = { .struct_size = sizeof(vs1) };
	struct sb_result dummy;
	uint64_t gen, pages = 0;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (!sb || !sb->ready || (in_len && !in))
		return -EINVAL;
	sb->st.calls++;
	if (in_len > SB_INPUT_CAP) {
		describe(res->why, sizeof(res->why), "input of %zu bytes > %u",
			 in_len, SB_INPUT_CAP);
		sb->st.other_errors++;
		return -E2BIG;
	}
	if (sb->dirty && (r = reset(sb, &pages))) {
		describe(res->why, sizeof(res->why), "reset: %s",
			 vmm_strerror(r));
		return r;
	}
	res->dirty_pages = pages;
	sb->dirty = true;
	sb->in = in ? in : "";
	sb->in_len = in_len;
	sb->out = out;
	sb->out_cap = out_cap;
	sb->out_len = 0;
	sb->status = 0;
	vmm_vm_get_stats(sb->vm, &vs0);
	gen = watchdog_arm(&sb->wd, sb->cfg.time_limit_ms);
	r = run_until(sb, SB_STOP_RETURN, gen, res->why, sizeof(res->why));
	/* a kick that fires after the guest returned is ignored by the next
	 * call's run_until(): its generation does not match */
	(void)watchdog_disarm(&sb->wd, gen);
	vmm_vm_get_stats(sb->vm, &vs1);
	res->exits = vs1.exits - vs0.exits;
	sb->in = NULL;
	sb->out = NULL;
	if (r == 0) {
		res->status = sb->status;
		res->out_len = sb->out_len;
		sb->st.ok++;
	} else if (r == -ETIMEDOUT) {
		sb->st.timeouts++;
	} else if (r == -ENOMEM) {
		sb->st.mem_faults++;
	} else if (r == -EFAULT) {
		memcpy(res->fault, sb->fault, sizeof(res->fault));
		sb->st.faults++;
	} else {
		sb->st.other_errors++;
	}
	return r;
}

void sb_stats(struct sb *sb, struct sb_stats *st)
{
	*st = sb->st;
	st->hc.struct_size = sizeof(st->hc);
	vmm_hc_get_stats(sb->hc, &st->hc);
}

int sb_create(const struct sb_config *cfg, const void *img, size_t len,
	      struct sb **out, char *why, size_t why_len)
{
	struct vmm_config vc;
	struct vmm_boot_info info;
	struct sb *sb;
	int r;

	if (!cfg || !img || !out)
		return -EINVAL;
	if (cfg->mem_limit < (4ull << 20) || cfg->mem_limit > (3ull << 30) ||
	    cfg->mem_limit % VMM_PAGE_SIZE) {
		describe(why, why_len, "memory limit must be 4 MiB..3 GiB, "
			 "in whole pages");
		return -EINVAL;
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->cfg = *cfg;
	vmm_config_init(&vc);
	vc.backend = cfg->backend;
	vc.ram_size = cfg->mem_limit;
	/*
	 * No interrupt controller or timer: a sandbox guest polls nothing and
	 * takes no interrupts.  This also keeps the snapshot free of
	 * interrupt controller state, which the software backend cannot
	 * export (vmm_snapshot_save() fails with -ENOTSUP there), and saves
	 * reloading it on every reset.
	 */
	vc.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_NO_PIT;
	if ((r = vmm_vm_create(&vc, &sb->vm))) {
		describe(why, why_len, "vmm_vm_create: %s", vmm_strerror(r));
		free(sb);
		return r;
	}
	if ((r = vmm_vcpu_create(sb->vm, 0, &sb->vcpu)) ||
	    (r = vmm_hc_attach(sb->vm, NULL, &sb->hc)) ||
	    (r = register_protocol(sb)) ||
	    (r = vmm_image_load_multiboot(sb->vm, img, len, NULL, NULL, 0, &info)) ||
	    (r = vmm_boot_setup_vcpu(sb->vcpu, &info))) {
		char msg[200];
		vmm_last_error(sb->vm, msg, sizeof(msg));
		describe(why, why_len, "set-up: %s", msg);
		goto fail;
	}
	if ((r = watchdog_start(&sb->wd, sb->vcpu))) {
		describe(why, why_len, "watchdog thread: %s", strerror(-r));
		goto fail;
	}
	/* boot to SB_NR_READY, within the time limit too */
	uint64_t gen = watchdog_arm(&sb->wd, cfg->time_limit_ms ?
					     cfg->time_limit_ms * 10 : 0);
	r = run_until(sb, SB_STOP_READY, gen, why, why_len);
	watchdog_disarm(&sb->wd, gen);
	if (r)
		goto fail;
	if ((r = snapshot(sb, why, why_len)))
		goto fail;
	sb->ready = true;
	*out = sb;
	return 0;
fail:
	sb_destroy(sb);
	return r;
}

void sb_destroy(struct sb *sb)
{
	if (!sb)
		return;
	watchdog_stop(&sb->wd);
	vmm_vm_destroy(sb->vm);
	vmm_snapshot_close(sb->snap);
	free(sb);
}
