/* SPDX-License-Identifier: MIT */
/*
 * postcopy.c - migration tier 2 (docs/migration.md): convergence (dirty
 * rate per round, auto-converge by throttling the vCPUs, the switch-over
 * decision logged with its numbers) and post-copy with recovery.
 *
 * Compiled as part of migrate.c (#included there, not a meson source): it
 * speaks through that file's static stream functions (send_frame,
 * recv_frame, ...) so that every frame gets the same checks.
 *
 * Post-copy, source: at the switch-over the source sends the map of the
 * pages still to send (dirtied since they were last sent: NEEDMAP), the
 * state and SWITCH; after ACK/COMMIT it pushes those pages in address
 * order while serving the destination's requests (REQ) first, then END,
 * and waits for FIN.  Its VM stays paused throughout and is never resumed
 * (vmm_vm_resume() refuses): all its memory is kept until FIN.
 *
 * Destination: at SWITCH it drops the stale copies of the needed pages
 * (MADV_DONTNEED makes them missing), registers guest RAM with
 * userfaultfd and loads the state.  A thread of the VM then serves
 * faults: a needed page not yet here is requested from the source (the
 * faulting thread - vCPU, device, host - sleeps in the kernel until the
 * page is copied in with UFFDIO_COPY); any other missing page was never
 * written at the source (zero) and is filled locally.  If the connection
 * breaks the thread keeps serving local faults, vCPUs that need a remote
 * page stay blocked, and vmm_migrate_resume() with a new connection sends
 * the source the map of what is still missing.
 */

#include "migrate/uffd.h"

#include <sys/mman.h>
#include <sys/random.h>

/* ---- convergence ---- */

/* auto-converge: the vCPUs run this long, then stay paused
 * RUN * p / (100 - p) (QEMU's cpu-throttle scheme, with a shorter run) */
#define THR_RUN_MS 2.0

static void t2_init(struct sender *s, const struct vmm_migrate_opts *o)
{
	struct mig_t2 *t = &s->t2;

	t->flags = o ? o->flags : 0;
	t->pc_after = o && o->postcopy_after_rounds ? o->postcopy_after_rounds : 2;
	t->thr_init = o && o->throttle_initial_pct ? o->throttle_initial_pct : 20;
	t->thr_step = o && o->throttle_step_pct ? o->throttle_step_pct : 10;
	t->thr_max = o && o->throttle_max_pct ? o->throttle_max_pct : 99;
	if (t->thr_max > 99)
		t->thr_max = 99;
	if (t->thr_init > t->thr_max)
		t->thr_init = t->thr_max;
	t->thread = pthread_self();
	pthread_mutex_init(&t->reply_lock, NULL);
	pthread_cond_init(&t->reply_cond, NULL);
}

/*
 * Auto-converge: the vCPUs run THR_RUN_MS, then stay paused for p % of
 * the cycle.  Called between frames and while waiting for the link.
 */
static void t2_throttle_tick(struct sender *s)
{
	struct mig_t2 *t = &s->t2;
	double now;

	if (!t->thr_pct && !t->thr_paused)
		return;
	now = now_ms();
	if (now < t->thr_mark)
		return;
	if (t->thr_paused) {
		vmm_vm_resume(s->vm);
		t->thr_paused = false;
		t->thr_mark = now + THR_RUN_MS;
	} else if (vmm_vm_pause(s->vm) == 0) {
		t->thr_paused = true;
		t->thr_mark = now_ms() + THR_RUN_MS * t->thr_pct /
					     (100 - t->thr_pct);
	}
}

static void t2_throttle_end(struct sender *s)
{
	if (s->t2.thr_paused)
		vmm_vm_resume(s->vm);
	s->t2.thr_paused = false;
	s->t2.thr_pct = 0;
}

/* Sleep @ms, keeping the throttle's slices. */
static void t2_sleep(struct sender *s, double ms)
{
	double end = now_ms() + ms;

	for (;;) {
		double left = end - now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		/* wake for the throttle's next edge */
		if ((s->t2.thr_pct || s->t2.thr_paused) &&
		    s->t2.thr_mark - now_ms() < left)
			left = s->t2.thr_mark - now_ms();
		if (left < 0.05)
			left = 0.05;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e6);
		nanosleep(&ts, NULL);
		t2_throttle_tick(s);
	}
}

/*
 * The switch-over decision after a dirty-bitmap fetch: @n pages dirtied
 * since the previous fetch, @bw the link rate of that round (bytes/ms).
 * Updates the throttle and logs the decision with its numbers.
 */
static int t2_round(struct sender *s, int64_t n, double bw, double max_down,
		    unsigned max_rounds)
{
	struct mig_t2 *t = &s->t2;
	double el = now_ms() - s->round_t0;
	double dirty = (double)n * SNAP_PAGE / (el > 0.01 ? el : 0.01);
	double sent = (double)(s->c.bytes_out - s->round_bytes0);
	double expect = (double)n * SNAP_PAGE / (bw > 1 ? bw : 1);
	bool pc_ok = (t->flags & VMM_MIGRATE_POSTCOPY) && t->dst_postcopy;
	const char *what;
	int d;

	s->st.dirty_rate_mib_s = dirty * 1e3 / (1 << 20);
	s->st.bandwidth_mib_s = bw * 1e3 / (1 << 20);
	if (pc_ok && atomic_load(&t->pc_request)) {
		d = R_POSTCOPY;
		what = "switch to post-copy (requested)";
	} else if (expect <= max_down) {
		d = R_CONVERGED;
		what = "stop and copy (fits the target)";
	} else if (pc_ok && s->st.rounds >= t->pc_after) {
		d = R_POSTCOPY;
		what = "switch to post-copy";
	} else if (s->st.rounds >= max_rounds) {
		d = R_MAX_ROUNDS;
		what = "stop and copy (round limit, not converged)";
	} else {
		d = R_CONTINUE;
		what = "another round";
		/* QEMU's rule: dirtying more than half of what the round sent */
		if ((t->flags & VMM_MIGRATE_AUTO_CONVERGE) &&
		    (double)n * SNAP_PAGE > sent / 2) {
			uint32_t p = t->thr_pct ? t->thr_pct + t->thr_step :
						  t->thr_init;

			t->thr_pct = p > t->thr_max ? t->thr_max : p;
			what = "another round, throttle raised";
		}
	}
	s->st.throttle_pct = t->thr_pct;
	vmm__log(s->vm, VMM_LOG_INFO,
		 "migrate: round %u: %lld pages dirtied in %.1f ms (%.1f MiB/s), "
		 "link %.1f MiB/s, stop-and-copy would take %.2f ms (target "
		 "%.0f ms), throttle %u%%: %s",
		 s->st.rounds, (long long)n, el, s->st.dirty_rate_mib_s,
		 s->st.bandwidth_mib_s, expect, max_down, t->thr_pct, what);
	if (d == R_POSTCOPY)
		t->postcopy = true;
	return d;
}

/*
 * Where the downtime went, at VMM_LOG_INFO: vCPUs paused, state collected
 * (devices quiesced), dirty log fetched, the last pages (pre-copy) or the
 * missing map (post-copy) sent, the state frames sent, the destination's
 * load until its ACK, the COMMIT.
 */
static void t2_log_switch(struct sender *s, double tpause, uint64_t pages,
			  bool postcopy)
{
	double *w = s->sw, end = tpause + s->st.downtime_ms;
	double waited = s->wait_pause >= 0 ? run_delay_ms() - s->wait_pause : -1;
	char wbuf[48] = "";

	if (!vmm__log_enabled(s->vm, VMM_LOG_INFO))
		return;
	char vbuf[64] = "";

	if (waited >= 0)
		snprintf(wbuf, sizeof(wbuf), ", waited for a core %.3f ms",
			 waited);
	if (s->vcpu_wait[0] >= 0 && s->vcpu_wait[1] >= 0)
		snprintf(vbuf, sizeof(vbuf), " (vCPU threads waited for a "
			 "core %.3f)", s->vcpu_wait[1] - s->vcpu_wait[0]);

	vmm__log(s->vm, VMM_LOG_INFO, "migrate: %s %.3f ms: pause %.3f%s, "
		 "state %.3f, dirty log %.3f, %s %.3f (%llu pages), state "
		 "frames %.3f, destination until ACK %.3f, COMMIT %.3f; "
		 "sending thread's CPU %.3f ms%s",
		 postcopy ? "post-copy switch-over" : "stop-and-copy",
		 s->st.downtime_ms, w[SW_PAUSE] - tpause, vbuf,
		 w[SW_STATE] - w[SW_PAUSE], w[SW_DIRTY] - w[SW_STATE],
		 postcopy ? "missing map" : "pages", w[SW_PAGES] - w[SW_DIRTY],
		 (unsigned long long)pages, w[SW_FRAMES] - w[SW_PAGES],
		 w[SW_ACK] - w[SW_FRAMES], end - w[SW_ACK],
		 cpu_ms() - s->cpu_pause, wbuf);
}

/* ---- post-copy on request (vmm_migrate_start_postcopy()) ---- */

/* Asked for, and the destination takes it: switch at the next page. */
static bool t2_pc_requested(struct sender *s)
{
	return s->t2.dst_postcopy && (s->t2.flags & VMM_MIGRATE_POSTCOPY) &&
	       atomic_load_explicit(&s->t2.pc_request, memory_order_relaxed);
}

/*
 * Post-copy asked for during pass 0, at page @pi of region @ri: every
 * page not sent yet that is not zero now joins the missing set (one
 * zeroed later is in the dirty log; the destination's memory starts
 * zeroed, so zero pages need nothing).
 */
static void t2_pass0_rest(struct sender *s, uint32_t ri, uint64_t pi)
{
	uint64_t n = 0;

	for (uint32_t i = ri; i < s->cfg.nregions; i++) {
		const struct snap_region *g = &s->cfg.regions[i];
		const uint8_t *host = region_host(s->vm, g);

		for (uint64_t p = i == ri ? pi : 0;
		     host && p < g->size / SNAP_PAGE; p++)
			if (!vmm__page_is_zero(host + p * SNAP_PAGE)) {
				s->bm[i][p / 64] |= 1ull << (p % 64);
				n++;
			}
	}
	vmm__log(s->vm, VMM_LOG_INFO, "migrate: post-copy requested during "
		 "the first pass: %llu pages not sent yet join the missing set",
		 (unsigned long long)n);
}

/*
 * Under the VM's lock (vmm__vm_with_sender()).  Before the destination's
 * reply to HELLO nothing is decided: with @wait the caller is counted as
 * a waiter (the sender stays allocated until it is gone) and gets the
 * sender in *@wait and -EINPROGRESS back.
 */
static int t2_request_locked(void *sp, void *arg)
{
	struct sender *s = sp;
	struct sender **wait = arg;

	if (!(s->t2.flags & VMM_MIGRATE_POSTCOPY))
		return -EINVAL;
	pthread_mutex_lock(&s->t2.reply_lock);
	if (!s->t2.replied && pthread_equal(s->t2.thread, pthread_self())) {
		/* the VM's log callback on the sending thread: waiting
		 * would wait for itself */
		pthread_mutex_unlock(&s->t2.reply_lock);
		return -EDEADLK;
	}
	if (!s->t2.replied) {
		s->t2.waiters++;
		pthread_mutex_unlock(&s->t2.reply_lock);
		*wait = s;
		return -EINPROGRESS;
	}
	pthread_mutex_unlock(&s->t2.reply_lock);
	if (atomic_load(&s->t2.pc_refused))
		return -ENOTSUP;
	if (atomic_load(&s->t2.stopping))
		return -EALREADY;
	atomic_store(&s->t2.pc_request, true);
	return 0;
}

/*
 * A request that came before the reply: wait (without the VM's lock)
 * until the reply is in or the send is over.  @s must not be touched
 * after the waiter count is dropped: the sender may free it at once.
 */
static bool t2_wait_reply(struct sender *s)
{
	struct mig_t2 *t = &s->t2;
	bool replied;

	pthread_mutex_lock(&t->reply_lock);
	while (!t->replied && !t->over)
		pthread_cond_wait(&t->reply_cond, &t->reply_lock);
	replied = t->replied;
	if (--t->waiters == 0)
		pthread_cond_broadcast(&t->reply_cond);
	pthread_mutex_unlock(&t->reply_lock);
	return replied;
}

/* The sender: the destination's reply to HELLO is in (s->t2.pc_refused
 * is set when it takes no post-copy). */
static void t2_replied(struct sender *s)
{
	pthread_mutex_lock(&s->t2.reply_lock);
	s->t2.replied = true;
	pthread_cond_broadcast(&s->t2.reply_cond);
	pthread_mutex_unlock(&s->t2.reply_lock);
}

/* The sender, after vmm__vm_set_sender(NULL) (no new waiter can come):
 * wake the waiters, wait until they are gone, tear the lock down. */
static void t2_detach(struct sender *s)
{
	struct mig_t2 *t = &s->t2;

	pthread_mutex_lock(&t->reply_lock);
	t->over = true;
	pthread_cond_broadcast(&t->reply_cond);
	while (t->waiters)
		pthread_cond_wait(&t->reply_cond, &t->reply_lock);
	pthread_mutex_unlock(&t->reply_lock);
	pthread_mutex_destroy(&t->reply_lock);
	pthread_cond_destroy(&t->reply_cond);
}

static int t2_stop_locked(void *sp, void *arg)
{
	struct sender *s = sp;

	(void)arg;
	atomic_store(&s->t2.stopping, true);
	return 0;
}

/*
 * The rounds are over: from here on a request is refused (-EALREADY),
 * and one that came before (even after the last check) is honoured.
 */
static void t2_stopping(struct sender *s)
{
	(void)vmm__vm_with_sender(s->vm, t2_stop_locked, NULL);
	if (!s->t2.postcopy && t2_pc_requested(s)) {
		s->t2.postcopy = true;
		vmm__log(s->vm, VMM_LOG_INFO, "migrate: switch to post-copy "
			 "(requested) after %u rounds", s->st.rounds);
	}
}

int vmm_migrate_start_postcopy(vmm_vm *vm)
{
	struct sender *wait = NULL;
	bool cut = false;
	int ret;

	if (!vm)
		return -EINVAL;
	/* before the destination's reply: wait for it, then ask again (the
	 * sender may be gone by then, or another one may run) */
	while ((ret = vmm__vm_with_sender(vm, t2_request_locked, &wait)) ==
	       -EINPROGRESS)
		cut = !t2_wait_reply(wait);
	switch (ret) {
	case 0:
		vmm__log(vm, VMM_LOG_INFO, "migrate: post-copy requested");
		return 0;
	case -ENOENT:
		if (cut)
			return vmm__err(vm, -ECANCELED, "migrate: start "
					"post-copy: the vmm_migrate_send() "
					"failed before the destination "
					"replied");
		return vmm__err(vm, -EINVAL, "migrate: start post-copy: no "
				"vmm_migrate_send() is running on this VM");
	case -EINVAL:
		return vmm__err(vm, -EINVAL, "migrate: start post-copy: the "
				"migration was started without "
				"VMM_MIGRATE_POSTCOPY");
	case -ENOTSUP:
		return vmm__err(vm, -ENOTSUP, "migrate: start post-copy: the "
				"destination does not take post-copy");
	case -EDEADLK:
		return vmm__err(vm, -EDEADLK, "migrate: start post-copy: "
				"called on the sending thread (a log "
				"callback) before the destination replied");
	default:
		return vmm__err(vm, ret, "migrate: start post-copy: the "
				"stop-and-copy or switch-over has begun");
	}
}

/* The reply to HELLO: an optional CAPS, then READY (its payload left in
 * s->c.buf, @len bytes). */
static int t2_hello_reply(struct sender *s, uint32_t *lenp)
{
	uint16_t type;
	uint32_t len;
	int ret = recv_frame(&s->c, &type, &len);

	if (ret)
		return ret;
	if (type == F_PC_CAPS) {
		if (len != 4)
			return -EBADMSG;
		s->t2.dst_postcopy = vmm__le_get32(s->c.buf) & PC_CAP_POSTCOPY;
		ret = recv_frame(&s->c, &type, &len);
		if (ret)
			return ret;
	}
	if (type != F_READY) {
		snprintf(s->c.err, sizeof(s->c.err), "frame type %u, expected %u",
			 type, F_READY);
		return -EPROTO;
	}
	if ((s->t2.flags & VMM_MIGRATE_POSTCOPY) && !s->t2.dst_postcopy) {
		atomic_store(&s->t2.pc_refused, true);
		vmm__log(s->vm, VMM_LOG_INFO, "migrate: the destination does "
			 "not take post-copy; pre-copy only");
	}
	*lenp = len;
	return 0;
}

/* ---- page maps ---- */

static uint64_t map_words(uint64_t size)
{
	return (size / SNAP_PAGE + 63) / 64;
}

static bool bit_get(const uint64_t *m, uint64_t i)
{
	return m[i / 64] & (1ull << (i % 64));
}

static void bit_set(uint64_t *m, uint64_t i)
{
	m[i / 64] |= 1ull << (i % 64);
}

static void bit_clr(uint64_t *m, uint64_t i)
{
	m[i / 64] &= ~(1ull << (i % 64));
}

/* region and page of @gpa in @cfg, or -1 */
static int pc_locate(const struct snap_config *cfg, uint64_t gpa,
		     uint64_t *page)
{
	for (uint32_t i = 0; i < cfg->nregions; i++) {
		const struct snap_region *g = &cfg->regions[i];

		if (gpa >= g->gpa && gpa - g->gpa < g->size) {
			*page = (gpa - g->gpa) / SNAP_PAGE;
			return (int)i;
		}
	}
	return -1;
}

/* Send the set bits of @maps (one per region of @cfg) as NEEDMAP frames. */
static int pc_send_maps(struct chan *c, const struct snap_config *cfg,
			uint64_t *const *maps)
{
	enum { CHUNK = 8192 }; /* words per frame: 64 KiB */
	uint8_t hdr[16];
	int ret;

	for (uint32_t i = 0; i < cfg->nregions; i++) {
		uint64_t words = map_words(cfg->regions[i].size);

		for (uint64_t w = 0; w < words; w += CHUNK) {
			uint64_t n = words - w < CHUNK ? words - w : CHUNK;
			uint8_t *le = c->buf; /* free while sending */
			struct iovec v[2];
			bool any = false;

			for (uint64_t k = 0; k < n; k++) {
				vmm__le_put64(le + k * 8, maps[i][w + k]);
				any |= maps[i][w + k] != 0;
			}
			if (!any)
				continue;
			vmm__le_put32(hdr, i);
			vmm__le_put32(hdr + 4, 0);
			vmm__le_put64(hdr + 8, w);
			v[0] = (struct iovec){ hdr, 16 };
			v[1] = (struct iovec){ le, (size_t)n * 8 };
			if ((ret = send_frame(c, F_PC_NEEDMAP, v, 2)))
				return ret;
		}
	}
	return 0;
}

/* OR a NEEDMAP frame (in c->buf) into @maps; validates everything. */
static int pc_recv_map(struct chan *c, uint32_t len,
		       const struct snap_config *cfg, uint64_t **maps)
{
	const uint8_t *b = c->buf;
	uint32_t ri;
	uint64_t w0, n, words, pages;

	if (len < 24 || (len - 16) % 8) {
		snprintf(c->err, sizeof(c->err), "NEEDMAP of %u bytes", len);
		return -EBADMSG;
	}
	ri = vmm__le_get32(b);
	w0 = vmm__le_get64(b + 8);
	n = (len - 16) / 8;
	if (ri >= cfg->nregions || vmm__le_get32(b + 4)) {
		snprintf(c->err, sizeof(c->err), "NEEDMAP for region %u", ri);
		return -EBADMSG;
	}
	pages = cfg->regions[ri].size / SNAP_PAGE;
	words = map_words(cfg->regions[ri].size);
	if (w0 > words || n > words - w0) {
		snprintf(c->err, sizeof(c->err), "NEEDMAP words out of range");
		return -EBADMSG;
	}
	for (uint64_t k = 0; k < n; k++) {
		uint64_t v = vmm__le_get64(b + 16 + k * 8);

		if (w0 + k == words - 1 && pages % 64 &&
		    (v >> (pages % 64))) {
			snprintf(c->err, sizeof(c->err),
				 "NEEDMAP bits past the region");
			return -EBADMSG;
		}
		maps[ri][w0 + k] |= v;
	}
	return 0;
}

static uint64_t maps_count_one(const uint64_t *m, uint64_t size)
{
	uint64_t n = 0;

	for (uint64_t w = 0; m && w < map_words(size); w++)
		n += (uint64_t)__builtin_popcountll(m[w]);
	return n;
}

static uint64_t maps_count(const struct snap_config *cfg, uint64_t *const *m)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < cfg->nregions; i++)
		for (uint64_t w = 0; w < map_words(cfg->regions[i].size); w++)
			n += (uint64_t)__builtin_popcountll(m[i][w]);
	return n;
}

/* ---- post-copy, source ---- */

/* What the source VM keeps after the switch-over (vmm__vm_set_migrate). */
struct pc_hold {
	uint32_t role;       /* PC_ROLE_SRC */
	uint64_t id;
	bool done;
	bool zstd;           /* the destination decodes PAGES_ZSTD */
};

#define PC_ROLE_SRC 0x53524331u
#define PC_ROLE_DST 0x44535431u

static void pc_hold_free(void *p)
{
	vmm__free_with(NULL, p);
}

static uint64_t pc_new_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint64_t)(now_ms() * 1e6) ^ ((uint64_t)getpid() << 32);
	return id | 1;
}

/*
 * Push the pages set in s->bm, requested ones first, then END; wait for
 * FIN.  s->st counts what was sent.
 */
static int pc_push(struct sender *s)
{
	const uint8_t *host[SNAP_MAX_REGIONS];
	uint64_t left = maps_count(&s->cfg, s->bm);
	uint32_t ri = 0;
	uint64_t pi = 0, pushed = 0;
	bool end_sent = false;
	double t0 = now_ms();
	int ret;

	for (uint32_t i = 0; i < s->cfg.nregions; i++)
		if (!(host[i] = region_host(s->vm, &s->cfg.regions[i])))
			return -EFAULT;
	s->round_t0 = now_ms();
	s->round_bytes0 = s->c.bytes_out;
	for (;;) {
		struct pollfd pfd = { s->c.fd, POLLIN, 0 };
		int wait = 0, r;

		if (end_sent) {
			wait = s->c.timeout_ms;
		} else if (s->max_bw) {
			double el = now_ms() - s->round_t0;
			double want = (double)(s->c.bytes_out - s->round_bytes0) *
				      1e3 / (double)s->max_bw;

			if (want > el)
				wait = (int)(want - el) + 1;
		}
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			uint16_t type;
			uint32_t len;

			if ((ret = recv_frame(&s->c, &type, &len)))
				return ret;
			if (type == F_PC_FIN && end_sent && len == 0)
				break;
			if (type != F_PC_REQ || len < 8) {
				snprintf(s->c.err, sizeof(s->c.err),
					 "post-copy: unexpected frame type %u",
					 type);
				return -EPROTO;
			}
			{
				uint32_t n = vmm__le_get32(s->c.buf);
				/* c.buf is reused by the sends: copy the gpas */
				uint64_t gpas[MIG_BATCH];

				if (n == 0 || n > MIG_BATCH || len != 8 + n * 8)
					return -EBADMSG;
				for (uint32_t k = 0; k < n; k++)
					gpas[k] = vmm__le_get64(s->c.buf + 8 + k * 8);
				s->t2.urgent = true;
				for (uint32_t k = 0; k < n; k++) {
					uint64_t p;
					int i = pc_locate(&s->cfg, gpas[k], &p);

					if (i < 0 || gpas[k] % SNAP_PAGE) {
						snprintf(s->c.err, sizeof(s->c.err),
							 "post-copy: request for 0x%llx",
							 (unsigned long long)gpas[k]);
						return -EBADMSG;
					}
					if (!bit_get(s->bm[i], p))
						continue; /* on its way */
					bit_clr(s->bm[i], p);
					left--;
					s->st.remote_faults++;
					if ((ret = send_page(s, gpas[k] & ~(SNAP_PAGE - 1),
							     host[i] + p * SNAP_PAGE,
							     false)))
						return ret;
				}
				ret = flush_pages(s);
				s->t2.urgent = false;
				if (ret)
					return ret;
			}
			continue;
		}
		if (end_sent) {
			if (r == 0) {
				snprintf(s->c.err, sizeof(s->c.err),
					 "post-copy: no FIN");
				return -ETIMEDOUT;
			}
			continue;
		}
		if (wait > 0)
			continue; /* the bandwidth cap waited */
		if (!left) {
			uint8_t end[8];

			vmm__le_put64(end, pushed);
			if ((ret = flush_pages(s)) ||
			    (ret = send_simple(&s->c, F_PC_END, end, sizeof(end))))
				return ret;
			end_sent = true;
			continue;
		}
		/* the next batch in address order */
		for (int k = 0; k < MIG_BATCH && left; k++) {
			while (ri < s->cfg.nregions &&
			       (pi >= s->cfg.regions[ri].size / SNAP_PAGE ||
				!bit_get(s->bm[ri], pi))) {
				if (pi >= s->cfg.regions[ri].size / SNAP_PAGE) {
					ri++;
					pi = 0;
				} else if (!s->bm[ri][pi / 64]) {
					pi = (pi / 64 + 1) * 64;
				} else {
					pi++;
				}
			}
			if (ri >= s->cfg.nregions)
				break;
			bit_clr(s->bm[ri], pi);
			left--;
			pushed++;
			if ((ret = send_page(s, s->cfg.regions[ri].gpa + pi * SNAP_PAGE,
					     host[ri] + pi * SNAP_PAGE, false)))
				return ret;
		}
		if ((ret = flush_pages(s)))
			return ret;
	}
	s->st.postcopy_ms += now_ms() - t0;
	return 0;
}

/*
 * The switch-over: the VM is paused, its state collected, s->bm holds
 * every page dirtied since it was last sent.  On return *committed tells
 * whether the destination may run the VM.
 */
static int pc_source_switch(struct sender *s, struct snap_state *ss,
			    double tpause, bool *committed)
{
	uint8_t sw[32];
	uint64_t missing = maps_count(&s->cfg, s->bm);
	uint64_t id = pc_new_id();
	struct pc_hold *h;
	uint32_t len;
	int ret;

	h = vmm__alloc_with(NULL, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->role = PC_ROLE_SRC;
	h->id = id;
	h->zstd = s->zstd;
	if ((ret = pc_send_maps(&s->c, &s->cfg, s->bm)))
		goto fail;
	s->sw[SW_PAGES] = now_ms();
	if ((ret = send_state(s, ss)))
		goto fail;
	s->sw[SW_FRAMES] = now_ms();
	vmm__le_put32(sw, s->st.rounds);
	vmm__le_put32(sw + 4, 0);
	vmm__le_put64(sw + 8, s->st.pages_sent);
	vmm__le_put64(sw + 16, id);
	vmm__le_put64(sw + 24, missing);
	if ((ret = send_simple(&s->c, F_PC_SWITCH, sw, sizeof(sw))) ||
	    (ret = chan_uncork(&s->c)) ||
	    (ret = expect(&s->c, F_ACK, &len)))
		goto fail;
	s->sw[SW_ACK] = now_ms();
	/* from the COMMIT on the destination may run the VM: this copy must
	 * never run again (set before sending: a COMMIT that went out and a
	 * write error after it look alike) */
	vmm__vm_set_migrate(s->vm, h, pc_hold_free);
	vmm__vm_set_resume_block(s->vm, "post-copy migration: the destination "
				 "may be running this VM");
	*committed = true;
	/* switched over, even if the COMMIT does not get through: the
	 * caller sees the VM is held for vmm_migrate_resume() */
	s->st.postcopy = true;
	s->st.postcopy_pages = missing;
	if ((ret = send_simple(&s->c, F_COMMIT, NULL, 0)))
		return ret;
	s->st.downtime_ms = now_ms() - tpause;
	t2_log_switch(s, tpause, missing, true);
	ret = pc_push(s);
	if (!ret)
		h->done = true;
	return ret;
fail:
	vmm__free_with(NULL, h);
	return ret;
}

/* vmm_migrate_resume() on the source. */
static int pc_source_resume(vmm_vm *vm, struct pc_hold *h, int fd,
			    const struct vmm_migrate_opts *o,
			    struct vmm_migrate_stats *stats)
{
	struct sender *s;
	struct mig_auth auth;
	uint8_t idb[8];
	double t0 = now_ms();
	int fl, nodelay, ret = 0;

	if (h->done)
		return vmm__err(vm, -EINVAL, "migrate resume: the post-copy "
				"migration of this VM completed");
	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		return vmm__err(vm, -EBADF, "migrate resume: bad fd %d", fd);
	s = vmm__alloc(vm, sizeof(*s));
	if (!s)
		return vmm__err(vm, -ENOMEM, "migrate resume: out of memory");
	s->vm = vm;
	s->c.fd = fd;
	s->c.timeout_ms = o && o->timeout_ms ? (int)o->timeout_ms : 10000;
	s->max_bw = o ? o->max_bandwidth : 0;
	s->t2.in_postcopy = true;
	s->c.buf = vmm__alloc(vm, MIG_MAX_FRAME);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	nodelay = tcp_nodelay(fd, 1);
	if (!s->c.buf)
		ret = -ENOMEM;
	if (!ret)
		ret = vmm__snap_config(vm, &s->cfg);
	for (uint32_t i = 0; i < s->cfg.nregions && !ret; i++)
		if (!(s->bm[i] = vmm__alloc(vm, map_words(s->cfg.regions[i].size) * 8)))
			ret = -ENOMEM;
	/* the pushes stay compressed when the stream was (the destination
	 * said so in its READY) */
	if (!ret && h->zstd) {
		s->zcap = vmm__pz_bound(MIG_BATCH * SNAP_PAGE);
		if (!(s->zbuf = vmm__alloc(vm, s->zcap)))
			ret = -ENOMEM;
		s->zstd = true;
	}
	/* a new connection: a fresh handshake (new nonces, new session
	 * keys) before RESUME when a key is set */
	if (!ret && o && o->key) {
		ret = vmm__mig_auth_init(&auth, true, o->key, o->key_len,
					 s->c.err, sizeof(s->c.err));
		s->c.auth = &auth;
	}
	if (!ret)
		ret = mig_auth_source(&s->c);
	vmm__le_put64(idb, h->id);
	if (!ret)
		ret = send_simple(&s->c, F_PC_RESUME, idb, sizeof(idb));
	while (!ret) {
		uint16_t type;
		uint32_t len;

		if ((ret = recv_frame(&s->c, &type, &len)))
			break;
		if (type == F_PC_NEEDMAP) {
			ret = pc_recv_map(&s->c, len, &s->cfg, s->bm);
		} else if (type == F_PC_RESUME && len == 8) {
			uint64_t want = vmm__le_get64(s->c.buf);

			if (want != maps_count(&s->cfg, s->bm)) {
				snprintf(s->c.err, sizeof(s->c.err),
					 "RESUME counts %llu pages, maps %llu",
					 (unsigned long long)want,
					 (unsigned long long)maps_count(&s->cfg, s->bm));
				ret = -EBADMSG;
			}
			break;
		} else {
			snprintf(s->c.err, sizeof(s->c.err),
				 "resume: unexpected frame type %u", type);
			ret = -EPROTO;
		}
	}
	if (!ret) {
		s->st.postcopy = true;
		s->st.postcopy_pages = maps_count(&s->cfg, s->bm);
		ret = pc_push(s);
	}
	if (!ret)
		h->done = true;
	else
		vmm__err(vm, ret, "migrate resume: %s%s%s", vmm_strerror(ret),
			 s->c.err[0] ? ": " : "", s->c.err);
	fcntl(fd, F_SETFL, fl);
	if (nodelay >= 0)
		tcp_nodelay(fd, nodelay);
	s->st.resumes = 1;
	s->st.bytes_sent = s->c.bytes_out;
	s->st.total_ms = now_ms() - t0;
	if (stats)
		*stats = s->st;
	for (uint32_t i = 0; i < SNAP_MAX_REGIONS; i++)
		vmm__free(vm, s->bm[i]);
	vmm__free(vm, s->c.buf);
	if (s->c.auth)
		vmm__mig_auth_free(s->c.auth);
	vmm__pz_free(&s->pz);
	vmm__free(vm, s->zbuf);
	vmm__free(vm, s);
	return ret;
}

/* ---- post-copy, destination ---- */

/* A heap mig_auth of a chan (the receiver's, moved to a pc_dst). */
static void chan_auth_free(struct chan *c)
{
	if (c->auth) {
		vmm__mig_auth_free(c->auth);
		vmm__free_with(NULL, c->auth);
		c->auth = NULL;
	}
}

enum pc_state { PCD_ARMED, PCD_RUN, PCD_BROKEN, PCD_DONE, PCD_STOP };

struct pc_region {
	uint64_t gpa, size;
	uint8_t *host;
	uint64_t *need, *have, *req;
};

struct pc_dst {
	uint32_t role;                  /* PC_ROLE_DST */
	vmm_vm *vm;
	struct chan c;
	int fd_flags;
	int uffd;
	int wake[2];
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum pc_state state;
	int err;
	uint64_t id;
	struct snap_config cfg;         /* regions only */
	struct pc_region reg[SNAP_MAX_REGIONS];
	uint64_t missing;
	double t_switch;
	struct vmm_migrate_stats st;
	uint8_t reqbuf[8 + MIG_BATCH * 8];
	uint32_t nreq;
	bool rerequest;                 /* after a resume: ask again */
	/* PAGES_ZSTD, when the READY offered it (the receiver's) */
	struct pagecodec pz;
	uint8_t *zout;
};

static void pc_dst_free(struct pc_dst *d)
{
	if (d->uffd >= 0)
		close(d->uffd);
	if (d->wake[0] >= 0) {
		close(d->wake[0]);
		close(d->wake[1]);
	}
	for (uint32_t i = 0; i < SNAP_MAX_REGIONS; i++) {
		vmm__free_with(NULL, d->reg[i].need);
		vmm__free_with(NULL, d->reg[i].have);
		vmm__free_with(NULL, d->reg[i].req);
	}
	vmm__free_with(NULL, d->c.buf);
	chan_auth_free(&d->c);
	vmm__pz_free(&d->pz);
	vmm__free_with(NULL, d->zout);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	vmm__free_with(NULL, d);
}

static void pc_wake(struct pc_dst *d)
{
	char b = 1;

	if (write(d->wake[1], &b, 1) < 0) {
		/* the pipe is full: the thread wakes anyway */
	}
}

/* vmm_vm_destroy(): stop the thread, then closing the userfaultfd wakes
 * every thread still blocked on a missing page (which then reads zeros). */
static void pc_dst_fini(void *p)
{
	struct pc_dst *d = p;

	pthread_mutex_lock(&d->lock);
	d->state = PCD_STOP;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->thr_started) {
		pc_wake(d);
		pthread_join(d->thr, NULL);
	}
	pc_dst_free(d);
}

/* lock held */
static void pc_broken(struct pc_dst *d, int err)
{
	if (d->state != PCD_RUN)
		return;
	d->state = PCD_BROKEN;
	d->err = err ? err : -EPIPE;
	d->nreq = 0;
	vmm__log(d->vm, VMM_LOG_WARN, "migrate: post-copy connection lost "
		 "(%s%s%s), %llu pages missing; waiting for "
		 "vmm_migrate_resume()", vmm_strerror(d->err),
		 d->c.err[0] ? ": " : "", d->c.err,
		 (unsigned long long)d->missing);
	pthread_cond_broadcast(&d->cond);
}

/* lock held */
static int pc_flush_req(struct pc_dst *d)
{
	int ret;

	if (!d->nreq || d->state != PCD_RUN)
		return 0;
	vmm__le_put32(d->reqbuf, d->nreq);
	vmm__le_put32(d->reqbuf + 4, 0);
	ret = send_simple(&d->c, F_PC_REQ, d->reqbuf, 8 + d->nreq * 8);
	d->nreq = 0;
	return ret;
}

/* lock held: ask for page @p of region @i (if not done yet) */
static int pc_request(struct pc_dst *d, uint32_t i, uint64_t p, bool again)
{
	struct pc_region *g = &d->reg[i];

	if (bit_get(g->req, p) && !again)
		return 0;
	bit_set(g->req, p);
	d->st.remote_faults += again ? 0 : 1;
	if (d->state != PCD_RUN)
		return 0;
	vmm__le_put64(d->reqbuf + 8 + d->nreq * 8, g->gpa + p * SNAP_PAGE);
	if (++d->nreq == MIG_BATCH)
		return pc_flush_req(d);
	return 0;
}

/* lock held: the faults pending on the userfaultfd */
static int pc_faults(struct pc_dst *d)
{
	uint64_t addr;
	int r, ret = 0;

	while ((r = vmm__uffd_next_fault(d->uffd, &addr)) == 1) {
		uint32_t i;

		for (i = 0; i < d->cfg.nregions; i++)
			if (addr >= (uint64_t)(uintptr_t)d->reg[i].host &&
			    addr - (uint64_t)(uintptr_t)d->reg[i].host < d->reg[i].size)
				break;
		if (i == d->cfg.nregions)
			continue; /* not ours (cannot happen) */
		{
			struct pc_region *g = &d->reg[i];
			uint64_t p = (addr - (uint64_t)(uintptr_t)g->host) / SNAP_PAGE;

			if (bit_get(g->need, p) && !bit_get(g->have, p)) {
				if (!ret)
					ret = pc_request(d, i, p, false);
			} else if (!bit_get(g->need, p)) {
				/* never written at the source: zeros */
				vmm__uffd_zero(d->uffd, g->host + p * SNAP_PAGE,
					       SNAP_PAGE);
				d->st.local_faults++;
			}
		}
	}
	if (!ret)
		ret = pc_flush_req(d);
	return ret ? ret : (r < 0 ? r : 0);
}

/* lock held: a PAGES or PAGES_ZSTD frame of the post-copy phase (checked
 * and decompressed by mig_pages_decode(), as in pre-copy) */
static int pc_pages(struct pc_dst *d, uint32_t len, bool zstd)
{
	const uint8_t *b = d->c.buf, *data;
	uint32_t n;
	int ret = mig_pages_decode(&d->c, len, zstd, &d->pz, d->zout, &n,
				   &data);

	if (ret)
		return ret;
	for (uint32_t k = 0; k < n; k++) {
		uint64_t e = vmm__le_get64(b + 8 + k * 8), p;
		int i = pc_locate(&d->cfg, e & ~(SNAP_PAGE - 1), &p);
		const uint8_t *src = NULL;

		if (!(e & PAGE_ZERO)) {
			src = data;
			data += SNAP_PAGE;
		}
		if (i < 0 || (e & (SNAP_PAGE - 1) & ~PAGE_ZERO) ||
		    !bit_get(d->reg[i].need, p)) {
			snprintf(d->c.err, sizeof(d->c.err),
				 "post-copy page 0x%llx was not missing",
				 (unsigned long long)e);
			return -EBADMSG;
		}
		if (bit_get(d->reg[i].have, p))
			continue;
		ret = src ? vmm__uffd_copy(d->uffd, d->reg[i].host + p * SNAP_PAGE,
					   src, SNAP_PAGE) :
			    vmm__uffd_zero(d->uffd, d->reg[i].host + p * SNAP_PAGE,
					   SNAP_PAGE);
		if (ret) {
			snprintf(d->c.err, sizeof(d->c.err), "UFFDIO_%s: %s",
				 src ? "COPY" : "ZEROPAGE", strerror(-ret));
			return ret;
		}
		bit_set(d->reg[i].have, p);
		d->missing--;
		if (src)
			d->st.pages_sent++;
		else
			d->st.zero_pages++;
	}
	return 0;
}

static void pc_finish(struct pc_dst *d)
{
	for (uint32_t i = 0; i < d->cfg.nregions; i++)
		vmm__uffd_unregister(d->uffd, d->reg[i].host, d->reg[i].size);
	d->state = PCD_DONE;
	d->st.postcopy_ms = now_ms() - d->t_switch;
	fcntl(d->c.fd, F_SETFL, d->fd_flags);
	vmm__log(d->vm, VMM_LOG_INFO, "migrate: post-copy done in %.1f ms, "
		 "%llu remote faults, %llu local", d->st.postcopy_ms,
		 (unsigned long long)d->st.remote_faults,
		 (unsigned long long)d->st.local_faults);
	pthread_cond_broadcast(&d->cond);
}

/* lock held: one frame from the source */
static int pc_frame(struct pc_dst *d)
{
	uint16_t type;
	uint32_t len;
	int ret = recv_frame(&d->c, &type, &len);

	if (ret)
		return ret;
	switch (type) {
	case F_PAGES:
	case F_PAGES_ZSTD:
		return pc_pages(d, len, type == F_PAGES_ZSTD);
	case F_PC_END:
		if (d->missing) {
			snprintf(d->c.err, sizeof(d->c.err), "END with %llu "
				 "pages missing", (unsigned long long)d->missing);
			return -EPROTO;
		}
		if ((ret = send_simple(&d->c, F_PC_FIN, NULL, 0)))
			return ret;
		pc_finish(d);
		return 0;
	}
	snprintf(d->c.err, sizeof(d->c.err), "post-copy: unexpected frame "
		 "type %u", type);
	return -EPROTO;
}

static void *pc_thread(void *arg)
{
	struct pc_dst *d = arg;

	pthread_mutex_lock(&d->lock);
	while (d->state != PCD_STOP && d->state != PCD_DONE) {
		struct pollfd pf[3] = {
			{ d->uffd, POLLIN, 0 }, { d->wake[0], POLLIN, 0 },
			{ d->state == PCD_RUN ? d->c.fd : -1, POLLIN, 0 },
		};
		int ret = 0;

		if (d->rerequest && d->state == PCD_RUN) {
			/* after a resume: what the vCPUs wait for, first */
			d->rerequest = false;
			for (uint32_t i = 0; i < d->cfg.nregions && !ret; i++)
				for (uint64_t p = 0; p < d->reg[i].size / SNAP_PAGE && !ret; p++)
					if (bit_get(d->reg[i].req, p) &&
					    !bit_get(d->reg[i].have, p))
						ret = pc_request(d, i, p, true);
			if (!ret)
				ret = pc_flush_req(d);
			if (ret) {
				pc_broken(d, ret);
				continue;
			}
		}
		pthread_mutex_unlock(&d->lock);
		if (poll(pf, 3, -1) < 0 && errno != EINTR) {
			pthread_mutex_lock(&d->lock);
			pc_broken(d, -errno);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		if (pf[1].revents) {
			char b[16];

			while (read(d->wake[0], b, sizeof(b)) > 0)
				;
		}
		if (d->state == PCD_STOP)
			break;
		if (pf[0].revents && (ret = pc_faults(d)))
			pc_broken(d, ret);
		if (d->state == PCD_RUN && pf[2].revents) {
			ret = pc_frame(d);
			if (ret) {
				if (ret != -EPIPE && ret != -ECONNRESET)
					send_error(&d->c, ret, d->c.err[0] ?
						   d->c.err : vmm_strerror(ret));
				pc_broken(d, ret);
			}
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/*
 * Drop the destination's stale copies of the pages of words [@w0, @w1)
 * of @need not dropped yet (@zapped): they are missing from now on and
 * fault once userfaultfd is armed.  One madvise() per run of pages.
 */
static int pc_zap(uint8_t *host, uint64_t pages, const uint64_t *need,
		  uint64_t *zapped, uint64_t w0, uint64_t w1)
{
	for (uint64_t w = w0; w < w1; w++) {
		uint64_t todo = need[w] & ~zapped[w];

		while (todo) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(todo), q = p;

			/* the run may go on into the next words */
			while (q < pages && bit_get(need, q) && !bit_get(zapped, q)) {
				bit_set(zapped, q);
				q++;
			}
			if (madvise(host + p * SNAP_PAGE, (q - p) * SNAP_PAGE,
				    MADV_DONTNEED))
				return -errno;
			todo = need[w] & ~zapped[w];
		}
	}
	return 0;
}

/*
 * Receiver: a NEEDMAP before SWITCH (in r->c.buf).  The source sends the
 * map of the pages it will not send before the switch as soon as it
 * decides to switch, while its VM still runs, and once more, completed,
 * after the pause: the stale copies are dropped as each map arrives, so
 * most of that work is done before the downtime (a page in the map must
 * not come as PAGES afterwards: rx_pages() refuses it).
 */
static int pc_rx_needmap(struct receiver *r, uint32_t len)
{
	struct snap_config *cfg = &r->p->cfg;
	uint64_t ri, w0, n;
	double t0 = now_ms();
	int ret = 0;

	if (!r->pc_ok)
		return -EPROTO;
	for (uint32_t i = 0; i < cfg->nregions && !ret; i++) {
		size_t bytes = map_words(cfg->regions[i].size) * 8;

		if ((!r->pc_need[i] &&
		     !(r->pc_need[i] = vmm__alloc_with(NULL, bytes))) ||
		    (!r->pc_zapped[i] &&
		     !(r->pc_zapped[i] = vmm__alloc_with(NULL, bytes))))
			ret = -ENOMEM;
	}
	if (!ret)
		ret = pc_recv_map(&r->c, len, cfg, r->pc_need);
	if (ret)
		return ret;
	/* pc_recv_map() checked these */
	ri = vmm__le_get32(r->c.buf);
	w0 = vmm__le_get64(r->c.buf + 8);
	n = (len - 16) / 8;
	{
		const struct snap_region *g = &cfg->regions[ri];
		struct iovec iov;

		if (vmm_mem_iovec(r->vm, g->gpa, g->size, true, &iov, 1) != 1)
			return -EFAULT;
		ret = pc_zap(iov.iov_base, g->size / SNAP_PAGE, r->pc_need[ri],
			     r->pc_zapped[ri], w0, w0 + n);
	}
	r->t_zap += now_ms() - t0;
	return ret;
}

/* Receiver: SWITCH (in r->c.buf, @len bytes).  The state is loaded by the
 * caller; this arms userfaultfd and hangs the post-copy on the VM. */
static int pc_rx_arm(struct receiver *r, uint32_t len)
{
	struct snap_config *cfg = &r->p->cfg;
	struct pc_dst *d;
	uint64_t missing;
	char why[320];
	int ret = 0;
	double t0, t1, t_madv = 0, t_reg = 0;

	if (len != 32)
		return -EBADMSG;
	if (!r->pc_ok) {
		snprintf(r->c.err, sizeof(r->c.err), "post-copy not offered");
		return -EPROTO;
	}
	for (uint32_t i = 0; i < cfg->nregions; i++)
		if (!r->pc_need[i] &&
		    !(r->pc_need[i] = vmm__alloc_with(NULL, map_words(cfg->regions[i].size) * 8)))
			return -ENOMEM;
	missing = maps_count(cfg, r->pc_need);
	if (missing != vmm__le_get64(r->c.buf + 24)) {
		snprintf(r->c.err, sizeof(r->c.err), "SWITCH counts %llu pages, "
			 "NEEDMAP %llu",
			 (unsigned long long)vmm__le_get64(r->c.buf + 24),
			 (unsigned long long)missing);
		return -EBADMSG;
	}
	d = vmm__alloc_with(NULL, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->role = PC_ROLE_DST;
	d->vm = r->vm;
	d->uffd = -1;
	d->wake[0] = d->wake[1] = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->id = vmm__le_get64(r->c.buf + 16);
	d->missing = missing;
	d->st.postcopy = true;
	d->st.postcopy_pages = missing;
	d->st.rounds = vmm__le_get32(r->c.buf);
	d->cfg.nregions = cfg->nregions;
	for (uint32_t i = 0; i < cfg->nregions; i++) {
		struct pc_region *g = &d->reg[i];
		struct iovec iov;
		size_t bytes = map_words(cfg->regions[i].size) * 8;

		d->cfg.regions[i] = cfg->regions[i];
		g->gpa = cfg->regions[i].gpa;
		g->size = cfg->regions[i].size;
		if (vmm_mem_iovec(r->vm, g->gpa, g->size, true, &iov, 1) != 1) {
			ret = -EFAULT;
			break;
		}
		g->host = iov.iov_base;
		g->need = r->pc_need[i];
		r->pc_need[i] = NULL;
		g->have = vmm__alloc_with(NULL, bytes);
		g->req = vmm__alloc_with(NULL, bytes);
		if (!g->have || !g->req)
			ret = -ENOMEM;
	}
	d->c.buf = vmm__alloc_with(NULL, MIG_MAX_FRAME);
	if (!ret && !d->c.buf)
		ret = -ENOMEM;
	if (!ret && pipe2(d->wake, O_CLOEXEC | O_NONBLOCK))
		ret = -errno;
	if (!ret) {
		d->uffd = vmm__uffd_open(vmm_vm_backend(r->vm) != VMM_BACKEND_SOFT,
					 why, sizeof(why));
		if (d->uffd < 0) {
			ret = d->uffd;
			snprintf(r->c.err, sizeof(r->c.err), "%.190s", why);
		}
	}
	/* the stale copies of the needed pages went as their maps arrived
	 * (pc_rx_needmap()); register guest RAM: they fault from now on */
	for (uint32_t i = 0; i < d->cfg.nregions && !ret; i++) {
		struct pc_region *g = &d->reg[i];

		t0 = now_ms();
		if (r->pc_zapped[i])
			ret = pc_zap(g->host, g->size / SNAP_PAGE, g->need,
				     r->pc_zapped[i], 0, map_words(g->size));
		else if (maps_count_one(g->need, g->size))
			ret = -EPROTO; /* cannot be: needs came with maps */
		t1 = now_ms();
		t_madv += t1 - t0;
		if (!ret && (ret = vmm__uffd_register(d->uffd, g->host, g->size)))
			snprintf(r->c.err, sizeof(r->c.err),
				 "UFFDIO_REGISTER: %s", strerror(-ret));
		t_reg += now_ms() - t1;
	}
	vmm__log(r->vm, VMM_LOG_INFO, "migrate (destination): %llu missing "
		 "pages dropped in %.3f ms as their maps came (%.3f ms at the "
		 "switch), guest RAM registered with userfaultfd in %.3f ms",
		 (unsigned long long)missing, r->t_zap, t_madv, t_reg);
	if (ret) {
		pc_dst_free(d);
		return ret;
	}
	d->state = PCD_ARMED;
	vmm__vm_set_migrate(r->vm, d, pc_dst_fini);
	r->pc = d;
	return 0;
}

/* Receiver, after COMMIT: the background transfer starts. */
static int pc_rx_start(struct receiver *r, int fd_flags)
{
	struct pc_dst *d = r->pc;
	int ret;

	/* the receiver allocates its batch buffer on the first PAGES_ZSTD;
	 * the background pushes may bring one too */
	if (r->zok && !r->zout &&
	    !(r->zout = vmm__alloc_with(NULL, MIG_BATCH * SNAP_PAGE)))
		return -ENOMEM;
	d->c.fd = r->c.fd;
	d->c.timeout_ms = r->c.timeout_ms;
	d->c.seq_in = r->c.seq_in;
	d->c.seq_out = r->c.seq_out;
	/* the session keys go on with the stream: the post-copy frames
	 * carry MACs as the pre-copy ones did */
	d->c.auth = r->c.auth;
	r->c.auth = NULL;
	/* and the decompressor, if READY offered PAGES_ZSTD */
	d->pz = r->pz;
	r->pz = (struct pagecodec){ 0 };
	d->zout = r->zout;
	r->zout = NULL;
	d->fd_flags = fd_flags;
	d->t_switch = now_ms();
	d->state = PCD_RUN;
	ret = -pthread_create(&d->thr, NULL, pc_thread, d);
	if (ret) {
		d->state = PCD_BROKEN;
		d->err = ret;
		return ret;
	}
	d->thr_started = true;
	return 0;
}

static void pc_dst_stats(struct pc_dst *d, struct vmm_migrate_stats *st)
{
	*st = d->st;
	st->bytes_sent = d->c.bytes_in;
	if (d->state != PCD_DONE)
		st->postcopy_ms = now_ms() - d->t_switch;
}

static int pc_dst_wait(struct pc_dst *d, int timeout_ms,
		       struct vmm_migrate_stats *stats)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&d->lock);
	while (d->state == PCD_RUN && !ret)
		ret = timeout_ms < 0 ? pthread_cond_wait(&d->cond, &d->lock) :
				       pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	if (d->state == PCD_DONE)
		ret = 0;
	else if (d->state == PCD_BROKEN)
		ret = d->err;
	else if (ret)
		ret = -ETIMEDOUT;
	else
		ret = -ECANCELED;
	if (stats)
		pc_dst_stats(d, stats);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* vmm_migrate_resume() on the destination: handshake on @fd, then the
 * thread takes the new connection. */
static int pc_dst_resume(struct pc_dst *d, int fd,
			 const struct vmm_migrate_opts *o,
			 struct vmm_migrate_stats *stats)
{
	struct chan c = { 0 };
	uint64_t *have_not[SNAP_MAX_REGIONS] = { 0 };
	uint16_t type;
	uint32_t len;
	int fl, ret;
	uint8_t cnt[8];
	bool done;

	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		return vmm__err(d->vm, -EBADF, "migrate resume: bad fd %d", fd);
	pthread_mutex_lock(&d->lock);
	/* DONE too: the source may have lost our FIN */
	ret = d->state == PCD_BROKEN || d->state == PCD_DONE ? 0 :
	      d->state == PCD_RUN ? -EBUSY : -EINVAL;
	done = d->state == PCD_DONE;
	pthread_mutex_unlock(&d->lock);
	if (ret)
		return vmm__err(d->vm, ret, "migrate resume: %s",
				ret == -EBUSY ? "the post-copy connection still works" :
				"no interrupted post-copy on this VM");
	c.fd = fd;
	c.timeout_ms = o && o->timeout_ms ? (int)o->timeout_ms : 10000;
	c.buf = vmm__alloc_with(NULL, MIG_MAX_FRAME);
	if (!c.buf)
		return -ENOMEM;
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	tcp_nodelay(fd, 1);
	/* a new connection: a fresh handshake when a key is set.  A
	 * migration that was authenticated resumes only with a key. */
	if (o && o->key) {
		if (!(c.auth = vmm__alloc_with(NULL, sizeof(*c.auth))))
			ret = -ENOMEM;
		if (!ret)
			ret = vmm__mig_auth_init(c.auth, false, o->key,
						 o->key_len, c.err,
						 sizeof(c.err));
		if (!ret)
			ret = mig_auth_dest(&c);
	} else if (d->c.auth) {
		snprintf(c.err, sizeof(c.err), "this post-copy migration was "
			 "authenticated: resume with its key");
		ret = -EACCES;
	}
	if (!ret)
		ret = recv_frame(&c, &type, &len);
	if (!ret && (type != F_PC_RESUME || len != 8)) {
		snprintf(c.err, sizeof(c.err), "frame type %u, expected RESUME",
			 type);
		ret = -EPROTO;
	}
	if (!ret && vmm__le_get64(c.buf) != d->id) {
		snprintf(c.err, sizeof(c.err), "RESUME of another migration");
		ret = -ESTALE;
	}
	/* the thread leaves need and have alone while broken */
	for (uint32_t i = 0; i < d->cfg.nregions && !ret; i++) {
		uint64_t words = map_words(d->reg[i].size);

		if (!(have_not[i] = vmm__alloc_with(NULL, words * 8))) {
			ret = -ENOMEM;
			break;
		}
		for (uint64_t w = 0; w < words; w++)
			have_not[i][w] = d->reg[i].need[w] & ~d->reg[i].have[w];
	}
	if (!ret)
		ret = pc_send_maps(&c, &d->cfg, have_not);
	vmm__le_put64(cnt, d->missing);
	if (!ret)
		ret = send_simple(&c, F_PC_RESUME, cnt, sizeof(cnt));
	for (uint32_t i = 0; i < SNAP_MAX_REGIONS; i++)
		vmm__free_with(NULL, have_not[i]);
	if (!ret && done) {
		/* nothing missing: the source sends END, we confirm */
		ret = recv_frame(&c, &type, &len);
		if (!ret && type != F_PC_END) {
			snprintf(c.err, sizeof(c.err), "frame type %u, "
				 "expected END", type);
			ret = -EPROTO;
		}
		if (!ret)
			ret = send_simple(&c, F_PC_FIN, NULL, 0);
		fcntl(fd, F_SETFL, fl);
		if (!ret) {
			pthread_mutex_lock(&d->lock);
			d->st.resumes++;
			if (stats)
				pc_dst_stats(d, stats);
			pthread_mutex_unlock(&d->lock);
			vmm__free_with(NULL, c.buf);
			chan_auth_free(&c);
			return 0;
		}
	}
	if (ret) {
		if (ret != -EPIPE && ret != -ECONNRESET)
			send_error(&c, ret, c.err[0] ? c.err : vmm_strerror(ret));
		fcntl(fd, F_SETFL, fl);
		vmm__err(d->vm, ret, "migrate resume: %s%s%s", vmm_strerror(ret),
			 c.err[0] ? ": " : "", c.err);
		vmm__free_with(NULL, c.buf);
		chan_auth_free(&c);
		return ret;
	}
	pthread_mutex_lock(&d->lock);
	vmm__free_with(NULL, d->c.buf);
	chan_auth_free(&d->c);
	d->c = c;
	d->fd_flags = fl;
	d->err = 0;
	d->state = PCD_RUN;
	d->rerequest = true;
	d->st.resumes++;
	if (stats)
		pc_dst_stats(d, stats);
	pthread_mutex_unlock(&d->lock);
	pc_wake(d);
	return 0;
}

/* ---- a completed post-copy and vmm_migrate_receive_into() ---- */

/* Is a post-copy migration of @vm (either end) not complete yet?  A
 * destination whose every page arrived (vmm_migrate_wait() said 0) and a
 * source whose push completed are done. */
static bool pc_unfinished(vmm_vm *vm)
{
	uint32_t *role = vmm__vm_migrate(vm);
	bool done = false;

	if (!role)
		return false;
	if (*role == PC_ROLE_SRC) {
		done = ((struct pc_hold *)role)->done;
	} else if (*role == PC_ROLE_DST) {
		struct pc_dst *d = (struct pc_dst *)role;

		pthread_mutex_lock(&d->lock);
		done = d->state == PCD_DONE;
		pthread_mutex_unlock(&d->lock);
	}
	return !done;
}

/*
 * vmm_migrate_receive_into() changes @vm: a completed post-copy migration
 * of it is over for good (its memory and state are being replaced).  Free
 * what it kept: the destination's (thread ended, userfaultfd closed; a
 * vmm_migrate_resume() of that migration, from a source that lost the
 * FIN, now fails with -EINVAL), or the source's record and its block on
 * vmm_vm_resume() ("the destination may be running this VM": not this
 * state).  The poison of the receive guards the VM until it succeeds.
 */
static void pc_release_finished(vmm_vm *vm)
{
	uint32_t *role = vmm__vm_migrate(vm);

	if (!role || pc_unfinished(vm))
		return;
	vmm__vm_set_migrate(vm, NULL, NULL);
	if (*role == PC_ROLE_SRC) {
		vmm__vm_set_resume_block(vm, NULL);
		pc_hold_free(role);
	} else {
		pc_dst_fini(role);
	}
	vmm__log(vm, VMM_LOG_INFO, "migrate (receive into): the completed "
		 "post-copy migration of this VM is released");
}

/* ---- public calls ---- */

int vmm_migrate_postcopy_available(enum vmm_backend backend, char *why,
				   size_t len)
{
	char buf[320];
	int fd = vmm__uffd_open(backend != VMM_BACKEND_SOFT, buf, sizeof(buf));

	if (fd < 0) {
		if (why && len)
			snprintf(why, len, "%s", buf);
		return fd;
	}
	close(fd);
	if (why && len)
		why[0] = 0;
	return 0;
}

int vmm_migrate_wait(vmm_vm *vm, int timeout_ms,
		     struct vmm_migrate_stats *stats)
{
	struct vmm_migrate_stats st = { 0 };
	struct pc_dst *d;

	if (!vm)
		return -EINVAL;
	if (stats && vmm__struct_out_check(stats, VMM__MIGRATE_STATS_V02))
		return vmm__err(vm, -EINVAL, "migrate wait: bad struct_size "
				"in struct vmm_migrate_stats");
	d = vmm__vm_migrate(vm);
	if (!d || d->role != PC_ROLE_DST)
		return mig_stats_out(stats, &st, 0);
	return mig_stats_out(stats, &st,
				  pc_dst_wait(d, timeout_ms,
					      stats ? &st : NULL));
}

int vmm_migrate_resume(vmm_vm *vm, int fd, const struct vmm_migrate_opts *o,
		       struct vmm_migrate_stats *stats)
{
	struct vmm_migrate_opts o_c = { 0 };
	struct vmm_migrate_stats st = { 0 };
	uint32_t *role;

	if (!vm)
		return -EINVAL;
	if (stats && vmm__struct_out_check(stats, VMM__MIGRATE_STATS_V02))
		return vmm__err(vm, -EINVAL, "migrate resume: bad struct_size "
				"in struct vmm_migrate_stats");
	if (o) {
		if (vmm__struct_in(&o_c, sizeof(o_c), o, MIG_OPTS_V01))
			return vmm__err(vm, -EINVAL, "migrate resume: bad "
					"struct_size or unknown fields in struct "
					"vmm_migrate_opts");
		o = &o_c;
	}
	role = vmm__vm_migrate(vm);
	if (role && *role == PC_ROLE_SRC)
		return mig_stats_out(stats, &st,
					  pc_source_resume(vm, (struct pc_hold *)role,
							   fd, o, stats ? &st : NULL));
	if (role && *role == PC_ROLE_DST)
		return mig_stats_out(stats, &st,
					  pc_dst_resume((struct pc_dst *)role, fd,
							o, stats ? &st : NULL));
	return vmm__err(vm, -EINVAL, "migrate resume: this VM has no "
			"interrupted post-copy migration");
}

int vmm_migrate_cancel(vmm_vm *vm)
{
	struct pc_hold *h;

	if (!vm)
		return -EINVAL;
	h = vmm__vm_migrate(vm);
	if (!h || h->role != PC_ROLE_SRC || h->done)
		return vmm__err(vm, -EINVAL, "migrate cancel: no interrupted "
				"post-copy source migration on this VM");
	vmm__vm_set_resume_block(vm, NULL);
	vmm__vm_set_migrate(vm, NULL, NULL);
	pc_hold_free(h);
	/* devices quiesced for the state collection work again */
	vmm__dev_state_resume_all(vm);
	vmm__log(vm, VMM_LOG_WARN, "migrate: post-copy cancelled by the "
		 "embedder; the VM may run here again");
	return 0;
}
