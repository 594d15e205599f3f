/* SPDX-License-Identifier: MIT */
/*
 * test_migrate_wire - what issue 16 items 4 and 5 put on the wire, on the
 * software backend (no KVM needed), with the dirtying counter guest of
 * examples/migguest.h:
 *
 *   zstd     the same VM migrated with and without VMM_MIGRATE_ZSTD: both
 *            destinations finish with the uninterrupted run's value; the
 *            compressed stream is smaller (bytes and ratio printed)
 *   zero     a mostly-zero 64 MiB guest: bytes on the wire < 5 % of RAM
 *   auth     same key: works; different keys, key on one side only:
 *            -EACCES at both ends, the source runs on to the right value
 *   forge    a man in the middle changes a page of one PAGES frame and
 *            fixes both CRCs: without a key the destination takes it (its
 *            memory differs: the attack is real), with a key it is refused
 *   replay   ... sends a PAGES frame twice, renumbering the rest
 *   mapfirst ... puts a NEEDMAP (post-copy's missing map) marking the
 *            first page of a PAGES frame before that frame: a post-copy
 *            receiver drops the page's stale copy when the map arrives,
 *            so it must refuse the page afterwards (-EPROTO)
 *   reorder  ... swaps two PAGES frames, renumbered to look in order
 *   commit   the window after the destination's ACK: a corrupted COMMIT
 *            (CRC; MAC with a key), a COMMIT cut off, the stream cut
 *            after COMMIT, the ACK cut off before the source read it.
 *            The destination keeps the paused VM and returns
 *            VMM_MIGRATE_COMMIT_UNVERIFIED whenever the ACK went out and
 *            no valid COMMIT came; the embedder's resolution (run it if
 *            the source returned 0, else destroy it and the source runs
 *            on) ends with the uninterrupted run's value either way
 *   into     vmm_migrate_receive_into() (argument "kvm": on KVM): a live
 *            migration into a VM the test built and ran first (memory,
 *            vCPU, irqchip and device state then equal the source's, the
 *            guest ends as an uninterrupted run); destinations with
 *            another memory size or vCPU count refused unchanged; a
 *            missing, moved or extra device refused, the VM poisoned
 *            (vmm_vcpu_run, vmm_vm_start, snapshots: -ENOTRECOVERABLE)
 *            until a reset or another receive; cut and corrupted streams;
 *            post-copy -ENOTSUP; a running VM -EBUSY; COMMIT lost: a
 *            paused started VM, VMM_MIGRATE_COMMIT_UNVERIFIED, resumed
 *   v1       tests/migrate/data/snap-v1.lvs (format 1) still restores
 *   snapzstd a VMM_SAVE_ZSTD snapshot (format 2) restores and resets to
 *            the same memory; a chunk table that does not add up (CRC
 *            fixed) is refused
 *   hmac     HMAC-SHA256 known answers (RFC 4231 cases 2 and 6) from
 *            each implementation present (AF_ALG, libcrypto), in pieces
 *            and repeated on one handle
 *   zcodec   the decompressor's length checks: a frame declaring more or
 *            fewer bytes, one declaring none, truncated, trailing bytes
 *
 * In every refused case the source VM then runs to the value of an
 * uninterrupted run: it was not harmed.
 */
#include <libvmm/libvmm.h>

#include "config.h"
#include "migrate/crc32c.h"
#include "migrate/pagecodec.h"
#include "migrate/auth.h"
#include "migrate/snap.h"
#include "mguest.h"
#if VMM_HAVE_ZSTD
#include <zstd.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAM (16ull << 20)
#define NPAGES 64
#define T1 20000ull
#define T2 60000ull

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,      \
				__LINE__, #c);                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

static const char KEY[] = "0123456789abcdef-the-shared-key";
static const char KEY2[] = "0123456789abcdef-another-key!!!";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- a man in the middle ---- */

enum mitm { M_NONE, M_FORGE, M_REPLAY, M_REORDER, M_MAPFIRST,
	    /* the commit window (test "commit"): */
	    M_COMMIT_BAD,   /* COMMIT's CRC (or MAC) changed */
	    M_COMMIT_DROP,  /* COMMIT not forwarded, the stream ends */
	    M_COMMIT_AFTER, /* COMMIT forwarded, then the stream ends */
	    M_ACK_CUT,      /* the source never gets the ACK */
	    /* receiving into an existing VM (test "into"): */
	    M_CUT,          /* the stream ends before the nth PAGES frame */
	    M_BADVCPU };    /* a VCPU frame's payload changed, CRC not fixed */

struct relay {
	int s, d;           /* our ends towards the source and destination */
	enum mitm mode;
	int nth;            /* which PAGES frame to attack (1-based) */
	int done;           /* the attack happened */
	pthread_t t1, t2;
};

static int rd(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int wr(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

struct frame {
	uint8_t h[24];
	uint8_t *rest;  /* payload, then the MAC if any */
	size_t len;     /* payload + MAC */
};

static int send_fr(int fd, struct frame *f, uint32_t seq)
{
	put32(f->h + 8, seq);
	put32(f->h + 20, vmm__crc32c(0, f->h, 20));
	if (wr(fd, f->h, 24) || wr(fd, f->rest, f->len))
		return -1;
	return 0;
}

static void *relay_s2d(void *arg)
{
	struct relay *r = arg;
	struct frame held = { .rest = NULL };
	int pages = 0, shift = 0, holding = 0;

	for (;;) {
		struct frame f;
		uint32_t plen, seq;
		uint16_t type;

		if (rd(r->s, f.h, 24))
			break;
		plen = get32(f.h + 12);
		if (plen > (1u << 20))
			break;
		f.len = plen + ((f.h[6] & 1) ? 32 : 0);
		f.rest = malloc(f.len + 1);
		if (!f.rest || rd(r->s, f.rest, f.len)) {
			free(f.rest);
			break;
		}
		type = (uint16_t)(f.h[4] | f.h[5] << 8);
		seq = get32(f.h + 8);
		if (type == 10 && r->mode == M_COMMIT_DROP) {
			r->done = 1;
			free(f.rest);
			break;
		}
		if (type == 10 && r->mode == M_COMMIT_BAD) {
			if (f.h[6] & 1)
				f.rest[f.len - 1] ^= 0x01; /* the MAC */
			else
				f.h[16] ^= 0x01; /* the payload's CRC */
			r->done = 1;
		}
		if (type == 4 || type == 0x23)
			pages++;
		if ((type == 4 || type == 0x23) && pages == r->nth &&
		    r->mode == M_CUT) {
			r->done = 1;
			free(f.rest);
			break;
		}
		if (type == 5 && r->mode == M_BADVCPU && !r->done) {
			f.rest[0] ^= 0x01;
			r->done = 1;
		}
		if (holding) {
			/* the later frame first, each numbered as if in order */
			holding = 0;
			r->done = 1;
			if (send_fr(r->d, &f, seq - 1) ||
			    send_fr(r->d, &held, seq)) {
				free(held.rest);
				free(f.rest);
				break;
			}
			free(held.rest);
			free(f.rest);
			r->done = 1;
			continue;
		}
		if (type == 4 && pages == r->nth && r->mode == M_FORGE) {
			/* change the last byte of the page data */
			f.rest[plen - 1] ^= 0x5a;
			put32(f.h + 16, vmm__crc32c(0, f.rest, plen));
			r->done = 1;
		}
		if (type == 4 && pages == r->nth && r->mode == M_MAPFIRST) {
			/* a NEEDMAP of region 0 marking this frame's first page */
			uint8_t pl[24] = { 0 };
			uint64_t gpa = 0, w;
			struct frame m = { .rest = pl, .len = sizeof(pl) };

			for (int k = 0; k < 8; k++)
				gpa |= (uint64_t)f.rest[8 + k] << (8 * k);
			gpa &= ~4095ull;
			w = gpa / 4096 / 64;
			for (int k = 0; k < 8; k++) {
				pl[8 + k] = (uint8_t)(w >> (8 * k));
				pl[16 + k] = (uint8_t)((1ull << (gpa / 4096 % 64)) >> (8 * k));
			}
			memset(m.h, 0, sizeof(m.h));
			put32(m.h, 0x464d564c);
			m.h[4] = 0x41;
			put32(m.h + 12, sizeof(pl));
			put32(m.h + 16, vmm__crc32c(0, pl, sizeof(pl)));
			if (send_fr(r->d, &m, seq + (uint32_t)shift)) {
				free(f.rest);
				break;
			}
			shift++;
			r->done = 1;
		}
		if (type == 4 && pages == r->nth && r->mode == M_REORDER) {
			held = f;
			holding = 1;
			continue;
		}
		if (send_fr(r->d, &f, seq + (uint32_t)shift)) {
			free(f.rest);
			break;
		}
		if (type == 10 && r->mode == M_COMMIT_AFTER) {
			r->done = 1;
			free(f.rest);
			break;
		}
		if (type == 8 && r->mode == M_ACK_CUT) {
			/* DONE went through; the source's side is cut, so
			 * its ACK never arrives; the destination's stream
			 * ends (relay_d2s drains its ACK) */
			r->done = 1;
			shutdown(r->s, SHUT_RDWR);
			free(f.rest);
			break;
		}
		if (type == 4 && pages == r->nth && r->mode == M_REPLAY) {
			shift++;
			r->done = 1;
			if (send_fr(r->d, &f, seq + (uint32_t)shift)) {
				free(f.rest);
				break;
			}
		}
		free(f.rest);
	}
	if (holding)
		free(held.rest);
	shutdown(r->d, SHUT_WR);
	shutdown(r->s, SHUT_RD);
	return NULL;
}

static void *relay_d2s(void *arg)
{
	struct relay *r = arg;
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = read(r->d, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (wr(r->s, buf, (size_t)n) && r->mode != M_ACK_CUT)
			break; /* M_ACK_CUT: drop, so the ACK write succeeds */
	}
	shutdown(r->s, SHUT_WR);
	shutdown(r->d, SHUT_RD);
	return NULL;
}

/* ---- one migration between a source and a destination thread ---- */

struct rx {
	int fd;
	const char *key;
	int ret;
	struct mg g;
	struct vmm_migrate_stats st;
};

/* mapfirst: the receiver takes post-copy, its log is kept */
static bool rx_postcopy;
static char rx_log[512];

static void rx_log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(rx_log, sizeof(rx_log), "%s", msg);
}

static void *receiver(void *arg)
{
	struct rx *x = arg;
	struct vmm_config ov;
	struct vmm_restore_opts ro = { sizeof(ro), 0, mg_attach, &x->g };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 10000,
				       .flags = rx_postcopy ? VMM_MIGRATE_POSTCOPY : 0 };

	if (x->key) {
		mo.key = x->key;
		mo.key_len = (uint32_t)strlen(x->key);
	}
	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_SOFT;
	ov.log = rx_log_cb;
	x->st.struct_size = sizeof(x->st);
	x->ret = vmm_migrate_receive(x->fd, &ov, &ro, &mo, &x->g.vm, &x->st);
	if (x->ret == 0 || x->ret == VMM_MIGRATE_COMMIT_UNVERIFIED)
		x->g.vcpu = vmm_vm_get_vcpu(x->g.vm, 0);
	close(x->fd);
	return NULL;
}

struct run {
	int sret;
	struct vmm_migrate_stats st;
	struct rx x;
	int attacked;
};

static void migrate(struct mg *src, const char *skey, const char *dkey,
		    uint32_t flags, enum mitm mode, int nth, struct run *out)
{
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 10000, .flags = flags };
	int a[2], b[2];
	pthread_t t;
	struct relay r = { .mode = mode, .nth = nth };

	memset(out, 0, sizeof(*out));
	mg_init(&out->x.g);
	if (skey) {
		mo.key = skey;
		mo.key_len = (uint32_t)strlen(skey);
	}
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
	if (mode != M_NONE) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
		r.s = a[1];
		r.d = b[0];
		out->x.fd = b[1];
		CHECK(pthread_create(&r.t1, NULL, relay_s2d, &r) == 0);
		CHECK(pthread_create(&r.t2, NULL, relay_d2s, &r) == 0);
	} else {
		out->x.fd = a[1];
	}
	out->x.key = dkey;
	CHECK(pthread_create(&t, NULL, receiver, &out->x) == 0);
	out->st.struct_size = sizeof(out->st);
	out->sret = vmm_migrate_send(src->vm, a[0], &mo, &out->st);
	close(a[0]);
	pthread_join(t, NULL);
	if (mode != M_NONE) {
		pthread_join(r.t1, NULL);
		pthread_join(r.t2, NULL);
		close(r.s);
		close(r.d);
	}
	out->attacked = r.done;
}

static void make_src(struct mg *g, uint64_t ram)
{
	mg_init(g);
	CHECK(mg_create(g, VMM_BACKEND_SOFT, ram, T1, NPAGES, 1, 0xffff) == 0);
	CHECK(mg_run_to_exit(g->vcpu) >= 0);  /* memory and state in motion */
	CHECK(migguest_set_target(g->vm, T2) == 0);
}

static int64_t reference(void)
{
	struct mg g;
	int64_t v;

	mg_init(&g);
	CHECK(mg_create(&g, VMM_BACKEND_SOFT, RAM, T2, NPAGES, 1, 0xffff) == 0);
	v = mg_run_to_exit(g.vcpu);
	vmm_vm_destroy(g.vm);
	return v;
}

/* the source after a failed migration: still here and runs to @want */
static void source_unharmed(struct mg *src, int64_t want)
{
	CHECK(mg_run_to_exit(src->vcpu) == want);
}

static void dest_finishes(struct run *r, int64_t want)
{
	CHECK(r->x.ret == 0 && r->x.g.vm);
	CHECK(mg_run_to_exit(r->x.g.vcpu) == want);
	vmm_vm_destroy(r->x.g.vm);
}

/* ---- tests ---- */

/* memory with compressible pages (text-like) and some random ones */
static void fill_mixed(vmm_vm *vm)
{
	static uint8_t page[4096];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int p = 0; p < 512; p++) {  /* 2 MiB of text-like pages */
		for (int i = 0; i < 4096; i++)
			page[i] = "the quick brown fox jumps over the lazy dog "
				  [(i + p) % 44];
		snprintf((char *)page, 32, "page %d", p);
		CHECK(vmm_mem_write(vm, 0x400000 + (uint64_t)p * 4096, page,
				    4096) == 0);
	}
	for (int p = 0; p < 128; p++) {  /* 512 KiB of random pages */
		for (int i = 0; i < 4096; i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(page + i, &x, 8);
		}
		CHECK(vmm_mem_write(vm, 0x800000 + (uint64_t)p * 4096, page,
				    4096) == 0);
	}
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * zstd's speed on this data, in this thread's CPU time (wall time means
 * little on a loaded machine): the migration's batches (64 pages, level 1)
 * and the snapshot's chunks (level 3), compressed and decompressed.
 */
static void zstd_speed(const uint8_t *data, size_t len, const char *what)
{
	static uint8_t raw[64 * 4096], z[80 * 4096], out[64 * 4096];
	struct pagecodec pc = { 0 };
	char err[200];

	for (int level = 1; level <= 3; level += 2) {
		uint64_t in = 0, zout = 0;
		double c0, tc = 0, td = 0;

		for (int rep = 0; rep < 4; rep++) {
			for (size_t off = 0; off + sizeof(raw) <= len;
			     off += sizeof(raw)) {
				int64_t zl;

				memcpy(raw, data + off, sizeof(raw));
				c0 = cpu_ms();
				zl = vmm__pz_compress(&pc, level, raw, sizeof(raw),
						      z, sizeof(z));
				tc += cpu_ms() - c0;
				CHECK(zl > 0);
				c0 = cpu_ms();
				CHECK(vmm__pz_decompress(&pc, z, (size_t)zl, out,
							 sizeof(raw), err,
							 sizeof(err)) == 0);
				td += cpu_ms() - c0;
				CHECK(memcmp(out, raw, sizeof(raw)) == 0);
				in += sizeof(raw);
				zout += (uint64_t)zl;
			}
		}
		printf("zstd level %d, 64-page batches of %s: ratio %.2f, "
		       "compress %.0f MiB/s, decompress %.0f MiB/s (CPU time)\n",
		       level, what, (double)in / (double)zout,
		       (double)in / 1048576.0 / (tc / 1e3),
		       (double)in / 1048576.0 / (td / 1e3));
	}
	vmm__pz_free(&pc);
}

static void test_zstd(int64_t want)
{
	struct run off, on;
	struct mg s1, s2;
	double t0, ms_off, ms_on;

	make_src(&s1, RAM);
	fill_mixed(s1.vm);
	t0 = now_ms();
	migrate(&s1, NULL, NULL, 0, M_NONE, 0, &off);
	ms_off = now_ms() - t0;
	CHECK(off.sret == 0);
	dest_finishes(&off, want);
	vmm_vm_destroy(s1.vm);

	make_src(&s2, RAM);
	fill_mixed(s2.vm);
	t0 = now_ms();
	migrate(&s2, NULL, NULL, VMM_MIGRATE_ZSTD, M_NONE, 0, &on);
	ms_on = now_ms() - t0;
	if (on.sret == -ENOTSUP) {
		printf("zstd: built without zstd, -ENOTSUP as documented\n");
		vmm_vm_destroy(s2.vm);
		return;
	}
	CHECK(on.sret == 0);
	CHECK(on.st.pages_sent == off.st.pages_sent);
	dest_finishes(&on, want);
	{
		/* the test's memory (text-like and random pages), and the
		 * bytes of this program (compiler output) as a stand-in for
		 * a guest's code pages */
		static uint8_t mem[0x480000], exe[4 << 20];
		FILE *f = fopen("/proc/self/exe", "rb");
		size_t n = f ? fread(exe, 1, sizeof(exe), f) : 0;

		if (f)
			fclose(f);
		CHECK(vmm_mem_read(s2.vm, 0x400000, mem, sizeof(mem)) == 0);
		zstd_speed(mem, sizeof(mem), "the test's pages");
		zstd_speed(exe, n, "this executable");
	}
	vmm_vm_destroy(s2.vm);
	printf("zstd: %llu data pages (%.1f MiB); on the wire %llu bytes raw, %llu with zstd (ratio %.2f); "
	       "%.0f ms raw, %.0f ms zstd (same run, a loaded 2-core machine)\n",
	       (unsigned long long)off.st.pages_sent,
	       off.st.pages_sent * 4096.0 / 1048576.0,
	       (unsigned long long)off.st.bytes_sent,
	       (unsigned long long)on.st.bytes_sent,
	       (double)off.st.bytes_sent / (double)on.st.bytes_sent, ms_off,
	       ms_on);
	CHECK(on.st.bytes_sent < off.st.bytes_sent * 7 / 10);
	CHECK(on.x.st.bytes_sent == on.st.bytes_sent);
}

static void test_zero(int64_t want)
{
	struct run r, z;
	struct mg s;
	uint64_t ram = 64ull << 20;

	make_src(&s, ram);
	migrate(&s, NULL, NULL, 0, M_NONE, 0, &r);
	CHECK(r.sret == 0);
	dest_finishes(&r, want);
	vmm_vm_destroy(s.vm);
	printf("zero: %llu MiB guest, %llu data pages + %llu zero records, %llu bytes on the wire = %.3f %% of RAM\n",
	       (unsigned long long)(ram >> 20),
	       (unsigned long long)r.st.pages_sent,
	       (unsigned long long)r.st.zero_pages,
	       (unsigned long long)r.st.bytes_sent,
	       100.0 * (double)r.st.bytes_sent / (double)ram);
	CHECK(r.st.bytes_sent * 20 < ram);

	make_src(&s, ram);
	migrate(&s, KEY, KEY, VMM_MIGRATE_ZSTD, M_NONE, 0, &z);
	printf("zero+zstd+auth: source %d, destination %d\n", z.sret, z.x.ret);
	CHECK(z.sret == 0 || z.sret == -ENOTSUP);
	if (z.sret == 0) {
		dest_finishes(&z, want);
		printf("zero+zstd+auth: %llu bytes on the wire = %.3f %% of RAM\n",
		       (unsigned long long)z.st.bytes_sent,
		       100.0 * (double)z.st.bytes_sent / (double)ram);
		CHECK(z.st.bytes_sent * 20 < ram);
	}
	vmm_vm_destroy(s.vm);
}

static bool auth_available(void)
{
	struct run r;
	struct mg s;
	bool ok;

	make_src(&s, RAM);
	migrate(&s, KEY, KEY, 0, M_NONE, 0, &r);
	ok = r.sret != -ENOTSUP;
	if (r.x.ret == 0)
		vmm_vm_destroy(r.x.g.vm);
	vmm_vm_destroy(s.vm);
	return ok;
}

static void test_auth(int64_t want)
{
	struct run r;
	struct mg s;

	make_src(&s, RAM);
	migrate(&s, KEY, KEY, 0, M_NONE, 0, &r);
	CHECK(r.sret == 0);
	printf("auth: same key: %llu bytes\n",
	       (unsigned long long)r.st.bytes_sent);
	dest_finishes(&r, want);
	vmm_vm_destroy(s.vm);

	make_src(&s, RAM);
	migrate(&s, KEY, KEY2, 0, M_NONE, 0, &r);
	printf("auth: keys differ: source %d, destination %d\n", r.sret,
	       r.x.ret);
	CHECK(r.sret == -EACCES && r.x.ret == -EACCES && !r.x.g.vm);
	migrate(&s, KEY, NULL, 0, M_NONE, 0, &r);
	printf("auth: only the source has a key: source %d, destination %d\n",
	       r.sret, r.x.ret);
	CHECK(r.sret == -EACCES && r.x.ret == -EACCES && !r.x.g.vm);
	migrate(&s, NULL, KEY, 0, M_NONE, 0, &r);
	printf("auth: only the destination has a key: source %d, destination %d\n",
	       r.sret, r.x.ret);
	CHECK(r.sret < 0 && r.x.ret == -EACCES && !r.x.g.vm);
	/* a key too short */
	migrate(&s, "short", "short", 0, M_NONE, 0, &r);
	CHECK(r.sret == -EINVAL);
	source_unharmed(&s, want);
	vmm_vm_destroy(s.vm);
}

/*
 * The attack @mode without a key must get through (so the test would see
 * a missing check) and with one must be refused with the source intact.
 */
static void test_attack(enum mitm mode, const char *name, int64_t want)
{
	struct run r;
	struct mg s;

	make_src(&s, RAM);
	migrate(&s, NULL, NULL, 0, mode, 1, &r);
	CHECK(r.attacked);
	printf("%s without a key: source %d, destination %d\n", name, r.sret,
	       r.x.ret);
	CHECK(r.sret == 0 && r.x.ret == 0);
	if (mode == M_FORGE) {
		/* the forged page arrived: the guest's result changes or
		 * its memory differs from the source's */
		uint64_t hd = migguest_hash(r.x.g.vm, NPAGES);
		uint64_t hs = migguest_hash(s.vm, NPAGES);
		uint8_t a[4096], b[4096];
		bool differ = hd != hs;

		for (uint64_t gpa = 0; gpa < RAM && !differ; gpa += 4096) {
			CHECK(vmm_mem_read(r.x.g.vm, gpa, a, 4096) == 0);
			CHECK(vmm_mem_read(s.vm, gpa, b, 4096) == 0);
			differ = memcmp(a, b, 4096) != 0;
		}
		CHECK(differ);
	}
	vmm_vm_destroy(r.x.g.vm);
	vmm_vm_destroy(s.vm);

	make_src(&s, RAM);
	migrate(&s, KEY, KEY, 0, mode, 1, &r);
	CHECK(r.attacked);
	printf("%s with a key: source %d (%s), destination %d\n", name, r.sret,
	       vmm_strerror(r.sret), r.x.ret);
	CHECK(r.sret < 0 && r.x.ret < 0 && !r.x.g.vm);
	CHECK(r.x.ret == (mode == M_FORGE ? -EACCES : r.x.ret));
	source_unharmed(&s, want);
	vmm_vm_destroy(s.vm);
}

/*
 * The commit window: what each end returns, and the embedder's resolution
 * (destination unverified: run it if the source returned 0, else destroy
 * it and let the source run on) ends with the uninterrupted run's value.
 */
static void commit_case(enum mitm mode, const char *key, const char *name,
			int64_t want)
{
	struct run r;
	struct mg s;
	char err[256];

	make_src(&s, RAM);
	rx_log[0] = 0;
	migrate(&s, key, key, 0, mode, 1, &r);
	CHECK(r.attacked);
	printf("commit: %s%s: source %d, destination %d (%s)%s%s\n", name,
	       key ? " (key)" : "", r.sret, r.x.ret, vmm_strerror(r.x.ret),
	       r.x.ret ? ": " : "", r.x.ret ? rx_log : "");
	if (mode == M_COMMIT_AFTER) {
		/* the COMMIT arrived: an ordinary success */
		CHECK(r.sret == 0);
		dest_finishes(&r, want);
		vmm_vm_destroy(s.vm);
		return;
	}
	CHECK(r.x.ret == VMM_MIGRATE_COMMIT_UNVERIFIED);
	CHECK(r.x.g.vm && r.x.g.vcpu);
	CHECK(strstr(rx_log, "commit unverified: ") != NULL);
	CHECK(vmm_last_error(r.x.g.vm, err, sizeof(err)) > 0);
	CHECK(strstr(err, "commit unverified: ") != NULL);
	if (mode == M_ACK_CUT) {
		/* the source never committed: it resumed its VM; the
		 * unverified copy is destroyed */
		CHECK(r.sret < 0);
		vmm_vm_destroy(r.x.g.vm);
		source_unharmed(&s, want);
	} else {
		/* the source committed (0) and keeps its VM paused: the
		 * unverified copy is the one to run */
		CHECK(r.sret == 0);
		CHECK(r.x.g.vm && r.x.ret == VMM_MIGRATE_COMMIT_UNVERIFIED);
		r.x.ret = 0;
		dest_finishes(&r, want);
	}
	vmm_vm_destroy(s.vm);
}

static void test_commit(int64_t want)
{
	commit_case(M_COMMIT_BAD, NULL, "corrupted COMMIT", want);
	commit_case(M_COMMIT_DROP, NULL, "cut before COMMIT arrived", want);
	commit_case(M_COMMIT_AFTER, NULL, "cut after COMMIT", want);
	commit_case(M_ACK_CUT, NULL, "ACK cut before the source read it",
		    want);
	if (auth_available()) {
		commit_case(M_COMMIT_BAD, KEY, "COMMIT with a bad MAC", want);
		commit_case(M_COMMIT_DROP, KEY, "cut before COMMIT arrived",
			    want);
	} else {
		printf("commit: no HMAC-SHA256 here: the MAC case skipped\n");
	}
}

/* A page after the map that marked it missing: refused, source unharmed. */
static int test_mapfirst(int64_t want)
{
	struct run r;
	struct mg s;

	if (vmm_migrate_postcopy_available(VMM_BACKEND_SOFT, NULL, 0)) {
		printf("no userfaultfd for a soft destination here: skipped\n");
		return 77;
	}
	rx_postcopy = true;
	make_src(&s, RAM);
	migrate(&s, NULL, NULL, 0, M_MAPFIRST, 1, &r);
	rx_postcopy = false;
	CHECK(r.attacked);
	printf("a page after its NEEDMAP: source %d (%s), destination %d: %s\n",
	       r.sret, vmm_strerror(r.sret), r.x.ret, rx_log);
	CHECK(r.sret < 0 && r.x.ret == -EPROTO && !r.x.g.vm);
	CHECK(strstr(rx_log, "after a NEEDMAP marked it missing") != NULL);
	source_unharmed(&s, want);
	vmm_vm_destroy(s.vm);
	return 0;
}

static char *data_path(const char *argv0, const char *name)
{
	static char buf[4096];
	const char *dir = getenv("MESON_SOURCE_ROOT");

	(void)argv0;
	snprintf(buf, sizeof(buf), "%s/tests/migrate/data/%s",
		 dir ? dir : SOURCE_ROOT, name);
	return buf;
}

static void test_v1(const char *argv0)
{
	vmm_snapshot *snap;
	struct vmm_snapshot_info info = { .struct_size = sizeof(info) };
	struct vmm_restore_opts ro = { sizeof(ro), 0, NULL, NULL };
	struct vmm_config ov;
	struct vmm_cpu_state st;
	char err[256];
	uint8_t page[4096], want[4096];
	vmm_vm *vm;

	CHECK(vmm_snapshot_open(data_path(argv0, "snap-v1.lvs"), &snap, err,
				sizeof(err)) == 0);
	CHECK(vmm_snapshot_get_info(snap, &info) == 0);
	CHECK(info.format_version == 1 && info.stored_pages >= 8);
	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_SOFT;
	CHECK(vmm_snapshot_restore_snap(snap, &ov, &ro, &vm) == 0);
	vmm_snapshot_close(snap);
	for (int p = 0; p < 8; p++) {
		for (int i = 0; i < 4096; i++)
			want[i] = (uint8_t)(i * 7 + p * 13 + (i >> 9));
		CHECK(vmm_mem_read(vm, 0x10000 + (uint64_t)p * 0x3000, page,
				   4096) == 0);
		CHECK(memcmp(page, want, 4096) == 0);
	}
	CHECK(vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), &st) == 0);
	CHECK(st.gpr[0] == 0x1122334455667788ull && st.gpr[3] == 0xfeed);
	vmm_vm_destroy(vm);
	printf("v1: format %u snapshot restored, 8 pages and registers match\n",
	       info.format_version);
}

static void mem_equal(vmm_vm *a, vmm_vm *b, uint64_t ram)
{
	static uint8_t x[4096], y[4096];

	for (uint64_t gpa = 0; gpa < ram; gpa += 4096) {
		CHECK(vmm_mem_read(a, gpa, x, 4096) == 0);
		CHECK(vmm_mem_read(b, gpa, y, 4096) == 0);
		if (memcmp(x, y, 4096)) {
			int i = 0;

			while (x[i] == y[i])
				i++;
			fprintf(stderr, "memory differs at 0x%llx: %02x, %02x\n",
				(unsigned long long)gpa + (unsigned)i, x[i], y[i]);
		}
		CHECK(memcmp(x, y, 4096) == 0);
	}
}

static off_t save(vmm_vm *vm, const char *path, uint32_t flags)
{
	struct vmm_save_opts so = { sizeof(so), flags | VMM_SAVE_NO_SYNC };
	struct stat sb;
	int ret = vmm_snapshot_save(vm, path, &so);

	if (ret)
		return ret;
	CHECK(stat(path, &sb) == 0);
	return sb.st_size;
}

static void tamper_table(const char *path);

static void test_snapzstd(int64_t want)
{
	char packed[] = "/tmp/lvmm-wire-XXXXXX", zp[64];
	struct vmm_snapshot_info info = { .struct_size = sizeof(info) };
	struct vmm_restore_opts ro;
	struct vmm_config ov;
	vmm_snapshot *snap;
	char err[256];
	struct mg s, d;
	off_t np, nz;
	double t0, tz;
	int fd = mkstemp(packed);

	CHECK(fd >= 0);
	close(fd);
	snprintf(zp, sizeof(zp), "%s.z", packed);
	make_src(&s, RAM);
	fill_mixed(s.vm);
	np = save(s.vm, packed, VMM_SAVE_PACKED);
	t0 = now_ms();
	nz = save(s.vm, zp, VMM_SAVE_ZSTD);
	tz = now_ms() - t0;
	if (nz == -ENOTSUP) {
		printf("snapzstd: built without zstd, -ENOTSUP as documented\n");
		unlink(packed);
		vmm_vm_destroy(s.vm);
		return;
	}
	CHECK(np > 0 && nz > 0);
	printf("snapzstd: PACKED %lld bytes, ZSTD %lld bytes (ratio %.2f), saved in %.0f ms\n",
	       (long long)np, (long long)nz, (double)np / (double)nz, tz);
	CHECK(nz < np * 7 / 10);
	CHECK(vmm_snapshot_open(zp, &snap, err, sizeof(err)) == 0);
	CHECK(vmm_snapshot_get_info(snap, &info) == 0);
	CHECK(info.format_version == 2 && !info.raw_memory);
	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_SOFT;
	mg_init(&d);
	ro = (struct vmm_restore_opts){ sizeof(ro), VMM_RESTORE_TRACK_DIRTY,
					mg_attach, &d };
	CHECK(vmm_snapshot_restore_snap(snap, &ov, &ro, &d.vm) == 0);
	d.vcpu = vmm_vm_get_vcpu(d.vm, 0);
	mem_equal(s.vm, d.vm, RAM);
	/* run it, then reset to the snapshot: memory is the saved one */
	CHECK(mg_run_to_exit(d.vcpu) == want);
	CHECK(vmm_snapshot_reset(d.vm, snap) > 0);
	mem_equal(s.vm, d.vm, RAM);
	CHECK(mg_run_to_exit(d.vcpu) == want);
	vmm_vm_destroy(d.vm);
	/* copy-on-write needs RAW */
	ro.flags = VMM_RESTORE_COW;
	CHECK(vmm_snapshot_restore_snap(snap, &ov, &ro, &d.vm) == -EINVAL);
	vmm_snapshot_close(snap);
	tamper_table(zp);
	unlink(packed);
	unlink(zp);
	vmm_vm_destroy(s.vm);
}

/* Change the first chunk size of the first MEMORY section and fix its CRC:
 * the parser must refuse the file. */
static void tamper_table(const char *path)
{
	FILE *f = fopen(path, "r+b");
	static uint8_t buf[32 << 20];
	size_t n, off = 64;
	char err[256];
	vmm_snapshot *snap;
	int ret;

	CHECK(f);
	n = fread(buf, 1, sizeof(buf), f);
	CHECK(n > 64 && n < sizeof(buf));
	while (off + 32 <= n) {
		uint32_t type = get32(buf + off);
		uint64_t len = get32(buf + off + 16) |
			       (uint64_t)get32(buf + off + 20) << 32;
		uint8_t *pl = buf + off + 32;

		if (type == 2) {
			uint64_t data_off = get32(pl + 40);

			CHECK(get32(pl) == 2); /* ZSTD */
			put32(pl + data_off, get32(pl + data_off) + 1);
			put32(pl + len, vmm__crc32c(0, pl, len));
			break;
		}
		off += 32 + len + 8;
	}
	CHECK(off + 32 <= n);
	rewind(f);
	CHECK(fwrite(buf, 1, n, f) == n);
	fclose(f);
	ret = vmm_snapshot_open(path, &snap, err, sizeof(err));
	printf("snapzstd: chunk table off by one: %d (%s)\n", ret, err);
	CHECK(ret == -EBADMSG);
}

/* ---- receiving into an existing VM (vmm_migrate_receive_into) ---- */

#define FOREVER (1ull << 62)
#define MORE 300000ull

struct irx {
	vmm_vm *vm;
	int fd;
	uint32_t flags;
	int ret;
	struct vmm_migrate_stats st;
};

static void *into_receiver(void *arg)
{
	struct irx *x = arg;
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 10000, .flags = x->flags };

	x->st.struct_size = sizeof(x->st);
	x->ret = vmm_migrate_receive_into(x->vm, x->fd, &mo, &x->st);
	close(x->fd);
	return NULL;
}

/* migrate @src into @dst (through a man in the middle unless M_NONE) */
static void into_migrate(vmm_vm *src, vmm_vm *dst, enum mitm mode, int nth,
			 uint32_t dflags, int *sret, int *dret)
{
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 10000 };
	struct irx x = { .vm = dst, .flags = dflags };
	struct relay r = { .mode = mode, .nth = nth };
	int a[2], b[2];
	pthread_t t;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
	if (mode != M_NONE) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
		r.s = a[1];
		r.d = b[0];
		x.fd = b[1];
		CHECK(pthread_create(&r.t1, NULL, relay_s2d, &r) == 0);
		CHECK(pthread_create(&r.t2, NULL, relay_d2s, &r) == 0);
	} else {
		x.fd = a[1];
	}
	CHECK(pthread_create(&t, NULL, into_receiver, &x) == 0);
	*sret = vmm_migrate_send(src, a[0], &mo, NULL);
	close(a[0]);
	pthread_join(t, NULL);
	if (mode != M_NONE) {
		pthread_join(r.t1, NULL);
		pthread_join(r.t2, NULL);
		close(r.s);
		close(r.d);
		CHECK(r.done);
	}
	*dret = x.ret;
	printf("  into: source %d (%s), destination %d (%s)\n", *sret,
	       vmm_strerror(*sret), *dret, vmm_strerror(*dret));
}

enum { D_UART = 1, D_EXIT = 2, D_UART2 = 4, D_RTC = 8 };

/* A destination built by the embedder: @ram, @ncpus, the devices of
 * @devs, the guest loaded with @target (not the source's). */
static void mk_dst(struct mg *g, enum vmm_backend b, uint64_t ram,
		   unsigned ncpus, unsigned devs, uint64_t target)
{
	struct migguest_params p = { target, NPAGES, 1, 0xffff };
	struct vmm_config cfg;
	vmm_dev *d;

	mg_init(g);
	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ram_size = ram;
	cfg.ncpus = ncpus;
	cfg.irqchip = mg_irqchip();
	CHECK(vmm_vm_create(&cfg, &g->vm) == 0);
	CHECK(vmm_vcpu_create(g->vm, 0, &g->vcpu) == 0);
	CHECK(migguest_load(g->vm, g->vcpu, &p) == 0);
	if (devs & D_UART)
		CHECK(mg_attach(g, g->vm) == 0); /* UART 0x3f8 + debug-exit */
	else if (devs & D_EXIT)
		CHECK(vmm_debug_exit_attach(g->vm, 0xf4, 4, &d) == 0);
	if (devs & D_UART2) {
		struct vmm_uart_config uc;

		vmm_uart_config_init(&uc);
		uc.port = 0x2f8;
		CHECK(vmm_uart_attach(g->vm, &uc, &d) == 0);
	}
	if (devs & D_RTC)
		CHECK(vmm_rtc_attach(g->vm, &d) == 0);
}

/* A source on @b, not started, state in motion (as make_src) */
static void mk_src(struct mg *g, enum vmm_backend b)
{
	mg_init(g);
	CHECK(mg_create(g, b, RAM, T1, NPAGES, 1, 0xffff) == 0);
	CHECK(mg_run_to_exit(g->vcpu) >= 0);
	CHECK(migguest_set_target(g->vm, T2) == 0);
}

static int64_t ref_value(enum vmm_backend b, uint64_t target, uint64_t *hash,
			 char *out, size_t outlen)
{
	struct mg r;
	int64_t v;

	mg_init(&r);
	CHECK(mg_create(&r, b, RAM, target, NPAGES, 1, 0xffff) == 0);
	v = mg_run_to_exit(r.vcpu);
	if (hash)
		*hash = migguest_hash(r.vm, NPAGES);
	if (out)
		snprintf(out, outlen, "%s", r.out);
	vmm_vm_destroy(r.vm);
	return v;
}

/* a snapshot of @vm, parsed (file in *@buf, *@len bytes) */
static void snap_of(vmm_vm *vm, struct snap_parsed *p, uint8_t **buf,
		    size_t *len)
{
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_PACKED | VMM_SAVE_NO_SYNC };
	char err[256];
	int fd = memfd_create("into-snap", MFD_CLOEXEC);
	struct stat sb;

	CHECK(fd >= 0);
	CHECK(vmm_snapshot_save_fd(vm, fd, &so) == 0);
	CHECK(fstat(fd, &sb) == 0);
	*len = (size_t)sb.st_size;
	*buf = malloc(*len);
	CHECK(*buf && pread(fd, *buf, *len, 0) == (ssize_t)*len);
	close(fd);
	memset(p, 0, sizeof(*p));
	if (vmm__snap_parse(*buf, *len, p, err, sizeof(err))) {
		fprintf(stderr, "parse: %s\n", err);
		exit(1);
	}
}

/* @a and @b hold the same VM: memory, vCPU, irqchip, device state */
static void same_vm(vmm_vm *a, vmm_vm *b)
{
	struct snap_parsed *pa = calloc(1, sizeof(*pa)), *pb = calloc(1, sizeof(*pb));
	struct vmm_cpu_state ca, cb;
	uint8_t *ba, *bb;
	size_t la, lb;

	mem_equal(a, b, RAM);
	CHECK(vmm_vcpu_get_state(vmm_vm_get_vcpu(a, 0), &ca) == 0);
	CHECK(vmm_vcpu_get_state(vmm_vm_get_vcpu(b, 0), &cb) == 0);
	CHECK(!memcmp(ca.gpr, cb.gpr, sizeof(ca.gpr)) && ca.rip == cb.rip &&
	      ca.rflags == cb.rflags && ca.cr0 == cb.cr0 && ca.cr3 == cb.cr3 &&
	      ca.cr4 == cb.cr4 && !memcmp(ca.seg, cb.seg, sizeof(ca.seg)));
	snap_of(a, pa, &ba, &la);
	snap_of(b, pb, &bb, &lb);
	CHECK(pa->has_irqchip == pb->has_irqchip);
	/* the controllers (the PIT's count and the clock follow host time
	 * on KVM: compared on the software backend only) */
	CHECK(!pa->has_irqchip ||
	      (pa->irq.valid == pb->irq.valid &&
	       !memcmp(pa->irq.pic, pb->irq.pic, sizeof(pa->irq.pic)) &&
	       !memcmp(&pa->irq.ioapic, &pb->irq.ioapic, sizeof(pa->irq.ioapic)) &&
	       (vmm_vm_backend(a) != VMM_BACKEND_SOFT ||
		!memcmp(&pa->irq.pit, &pb->irq.pit, sizeof(pa->irq.pit)))));
	CHECK(pa->ndevs == pb->ndevs && pa->ndevs >= 2);
	for (uint32_t i = 0; i < pa->ndevs; i++) {
		const struct snap_dev *x = &pa->devs[i], *y = &pb->devs[i];

		CHECK(!strcmp(x->type, y->type) && x->base == y->base &&
		      x->len == y->len && !memcmp(x->data, y->data, x->len));
	}
	printf("  same VM: %llu MiB of memory, vCPU, irqchip %s, %u devices "
	       "equal\n", (unsigned long long)(RAM >> 20),
	       pa->has_irqchip ? "yes" : "none", pa->ndevs);
	vmm__snap_parsed_free(pa);
	vmm__snap_parsed_free(pb);
	free(pa);
	free(pb);
	free(ba);
	free(bb);
}

/* the destination runs on to RSI + MORE: value, memory and output equal
 * an uninterrupted run's; @started: its vCPU threads run (paused now) */
static void into_finish(struct mg *d, const char *before, bool started,
			int64_t *value, enum vmm_backend b)
{
	struct vmm_cpu_state cs;
	uint64_t target, h;
	int64_t v, rv;
	static char ref[1 << 16], out[1 << 17];

	CHECK(vmm_vcpu_get_state(d->vcpu, &cs) == 0);
	target = cs.gpr[VMM_RSI] + MORE;
	CHECK(migguest_set_target(d->vm, target) == 0);
	if (started) {
		CHECK(vmm_vm_resume(d->vm) == 0);
		CHECK(vmm_vm_wait(d->vm, 60000) == 1);
		v = *value;
	} else {
		v = mg_run_to_exit(d->vcpu);
	}
	rv = ref_value(b, target, &h, ref, sizeof(ref));
	CHECK(v == rv);
	CHECK(migguest_hash(d->vm, NPAGES) == h);
	pthread_mutex_lock(&d->lock);
	snprintf(out, sizeof(out), "%s%s", before, d->out);
	pthread_mutex_unlock(&d->lock);
	if (strcmp(out, ref))
		fprintf(stderr, "output:\n  got %s\n  ref %s\n", out, ref);
	CHECK(!strcmp(out, ref));
	printf("  the guest ran on to 0x%llx after %llu iterations: value, "
	       "memory and output of an uninterrupted run\n", (long long)v,
	       (unsigned long long)target);
}

/* a refused destination that must be unchanged: memory and vCPU as
 * before, it runs to its own end */
static void dst_unchanged(struct mg *d, uint64_t hash0,
			  const struct vmm_cpu_state *cs0, int64_t want)
{
	struct vmm_cpu_state cs;
	char msg[512];

	/* the VM's own message says so */
	vmm_last_error(d->vm, msg, sizeof(msg));
	CHECK(strstr(msg, "receive into") && strstr(msg, "the VM was not changed"));
	CHECK(migguest_hash(d->vm, NPAGES) == hash0);
	CHECK(vmm_vcpu_get_state(d->vcpu, &cs) == 0);
	CHECK(!memcmp(cs.gpr, cs0->gpr, sizeof(cs.gpr)) && cs.rip == cs0->rip);
	CHECK(mg_run_to_exit(d->vcpu) == want);
}

/* a destination the receive left poisoned: everything that would run or
 * copy it refuses; a reset to @snap makes it whole (runs to @want) */
static void dst_poisoned(struct mg *d, vmm_snapshot *snap, int64_t want)
{
	struct vmm_exit e;
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_NO_SYNC };
	char path[] = "/tmp/into-poisonedXXXXXX";
	int64_t v = 0;
	int fd = mkstemp(path);
	char msg[512];

	vmm_last_error(d->vm, msg, sizeof(msg));
	CHECK(strstr(msg, "receive into") && strstr(msg, "left poisoned"));
	CHECK(fd >= 0);
	CHECK(vmm_vcpu_run(d->vcpu, &e) == -ENOTRECOVERABLE);
	vmm_last_error(d->vm, msg, sizeof(msg));
	CHECK(strstr(msg, "unusable"));
	CHECK(vmm_vm_start(d->vm, mg_stop_on_exit, &v) == -ENOTRECOVERABLE);
	CHECK(vmm_snapshot_save_fd(d->vm, fd, &so) == -ENOTRECOVERABLE);
	close(fd);
	unlink(path);
	CHECK(vmm_snapshot_reset(d->vm, snap) >= 0);
	CHECK(mg_run_to_exit(d->vcpu) == want);
	printf("  poisoned: run, start, save refused (-ENOTRECOVERABLE); "
	       "after a reset it runs to its own end\n");
}

static void test_into(enum vmm_backend b)
{
	static char before[1 << 16];
	struct mg src, dst;
	struct vmm_cpu_state cs0;
	vmm_snapshot *snap;
	int64_t sval = -1, dval = -1, want, dwant;
	uint64_t h0;
	int sret, dret;
	char snappath[] = "/tmp/into-snapXXXXXX";
	int sfd;

	want = ref_value(b, T2, NULL, NULL, 0);
	dwant = ref_value(b, T1 / 2, NULL, NULL, 0);

	/* 1. live: the source runs (vCPU thread) while it is sent into a
	 * VM built and run by the embedder, with other memory content */
	printf("live migration into a pre-built VM\n");
	mg_init(&src);
	CHECK(mg_create(&src, b, RAM, FOREVER, NPAGES, 1, 0xffff) == 0);
	CHECK(vmm_vm_start(src.vm, mg_stop_on_exit, &sval) == 0);
	mk_dst(&dst, b, RAM, 1, D_UART, 5);
	CHECK(mg_run_to_exit(dst.vcpu) >= 0);
	CHECK(vmm_mem_fill(dst.vm, 0x800000, 0xa5, 4 * 4096) == 0);
	dst.out_len = 0;
	memset(dst.out, 0, sizeof(dst.out));
	for (int i = 0; i < 2000; i++) { /* every data page written */
		struct vmm_cpu_state cs;

		usleep(5000);
		CHECK(vmm_vm_pause(src.vm) == 0);
		CHECK(vmm_vcpu_get_state(src.vcpu, &cs) == 0);
		CHECK(vmm_vm_resume(src.vm) == 0);
		if (cs.gpr[VMM_RSI] >= 4 * NPAGES)
			break;
	}
	into_migrate(src.vm, dst.vm, M_NONE, 0, 0, &sret, &dret);
	CHECK(sret == 0 && dret == 0);
	same_vm(src.vm, dst.vm);
	pthread_mutex_lock(&src.lock);
	memcpy(before, src.out, src.out_len + 1);
	pthread_mutex_unlock(&src.lock);
	vmm_vm_destroy(src.vm);
	into_finish(&dst, before, false, NULL, b);
	vmm_vm_destroy(dst.vm);

	/* 2. refused before any change: memory size, vCPU count */
	printf("refused before the VM changes\n");
	for (int k = 0; k < 2; k++) {
		mk_src(&src, b);
		mk_dst(&dst, b, k ? RAM : RAM / 2, k ? 2 : 1, D_UART, T1 / 2);
		h0 = migguest_hash(dst.vm, NPAGES);
		CHECK(vmm_vcpu_get_state(dst.vcpu, &cs0) == 0);
		into_migrate(src.vm, dst.vm, M_NONE, 0, 0, &sret, &dret);
		CHECK(sret < 0 && dret == -EINVAL);
		dst_unchanged(&dst, h0, &cs0, dwant);
		source_unharmed(&src, want);
		vmm_vm_destroy(src.vm);
		vmm_vm_destroy(dst.vm);
	}
	/* post-copy asked: -ENOTSUP, nothing read */
	mk_src(&src, b);
	mk_dst(&dst, b, RAM, 1, D_UART, T1 / 2);
	into_migrate(src.vm, dst.vm, M_NONE, 0, VMM_MIGRATE_POSTCOPY, &sret,
		     &dret);
	CHECK(sret < 0 && dret == -ENOTSUP);
	source_unharmed(&src, want);
	vmm_vm_destroy(src.vm);
	/* a running VM: -EBUSY */
	CHECK(migguest_set_target(dst.vm, FOREVER) == 0);
	CHECK(vmm_vm_start(dst.vm, mg_stop_on_exit, &dval) == 0);
	{
		int sv[2];

		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		CHECK(vmm_migrate_receive_into(dst.vm, sv[1], NULL, NULL) == -EBUSY);
		close(sv[0]);
		close(sv[1]);
	}
	vmm_vm_destroy(dst.vm);

	/* 3. devices known only at DONE: missing, moved, extra; the memory
	 * was written, the VM is poisoned until a reset */
	printf("devices: refused at DONE, the VM poisoned\n");
	sfd = mkstemp(snappath);
	CHECK(sfd >= 0);
	close(sfd);
	{
		static const unsigned bad[] = { D_EXIT, D_EXIT | D_UART2,
						D_UART | D_RTC };

		for (int k = 0; k < 3; k++) {
			mk_src(&src, b);
			mk_dst(&dst, b, RAM, 1, bad[k], T1 / 2);
			CHECK(save(dst.vm, snappath, 0) > 0);
			CHECK(vmm_snapshot_open(snappath, &snap, NULL, 0) == 0);
			into_migrate(src.vm, dst.vm, M_NONE, 0, 0, &sret, &dret);
			CHECK(sret < 0 && dret == -ENODEV);
			dst_poisoned(&dst, snap, dwant);
			vmm_snapshot_close(snap);
			source_unharmed(&src, want);
			vmm_vm_destroy(src.vm);
			vmm_vm_destroy(dst.vm);
		}
	}

	/* 4. cut and corrupted streams */
	printf("cut and corrupted streams\n");
	/* ended before the first page: HELLO was accepted, so the VM's
	 * memory was cleared (its program was there): poisoned as well */
	mk_src(&src, b);
	mk_dst(&dst, b, RAM, 1, D_UART, T1 / 2);
	CHECK(save(dst.vm, snappath, 0) > 0);
	CHECK(vmm_snapshot_open(snappath, &snap, NULL, 0) == 0);
	into_migrate(src.vm, dst.vm, M_CUT, 1, 0, &sret, &dret);
	CHECK(sret < 0 && dret < 0);
	dst_poisoned(&dst, snap, dwant);
	vmm_snapshot_close(snap);
	source_unharmed(&src, want);
	vmm_vm_destroy(src.vm);
	vmm_vm_destroy(dst.vm);
	for (int k = 0; k < 2; k++) {
		mk_src(&src, b);
		mk_dst(&dst, b, RAM, 1, D_UART, T1 / 2);
		CHECK(save(dst.vm, snappath, 0) > 0);
		CHECK(vmm_snapshot_open(snappath, &snap, NULL, 0) == 0);
		h0 = migguest_hash(dst.vm, NPAGES);
		/* dirty logging on (fuzz_migrate's set-up): the reset copies
		 * back only what the receive wrote, which must be enough */
		CHECK(vmm_mem_dirty_log(dst.vm, true) == 0);
		into_migrate(src.vm, dst.vm, k ? M_BADVCPU : M_CUT, 2, 0,
			     &sret, &dret);
		CHECK(sret < 0 && dret < 0 && dret != VMM_MIGRATE_COMMIT_UNVERIFIED);
		CHECK(!k || dret == -EBADMSG);
		if (k) {
			CHECK(migguest_hash(dst.vm, NPAGES) != h0);
			dst_poisoned(&dst, snap, dwant);
			/* the data pages were all rewritten by the guest's run:
			 * its end value matching shows the reset restored them */
		} else {
			/* a poisoned VM takes a whole migration again */
			struct vmm_exit e;

			CHECK(vmm_vcpu_run(dst.vcpu, &e) == -ENOTRECOVERABLE);
			CHECK(migguest_set_target(src.vm, T2) == 0);
			into_migrate(src.vm, dst.vm, M_NONE, 0, 0, &sret, &dret);
			CHECK(sret == 0 && dret == 0);
			same_vm(src.vm, dst.vm);
			CHECK(mg_run_to_exit(dst.vcpu) == want);
			printf("  a poisoned VM received a whole migration: it "
			       "runs to the uninterrupted value\n");
		}
		vmm_snapshot_close(snap);
		if (k)
			source_unharmed(&src, want);
		vmm_vm_destroy(src.vm);
		vmm_vm_destroy(dst.vm);
	}
	unlink(snappath);

	/* 5. COMMIT lost into a started, paused VM: unverified, whole, still
	 * paused; the source returned 0, so the embedder resumes it */
	printf("COMMIT lost: commit unverified, the VM paused\n");
	mg_init(&src);
	CHECK(mg_create(&src, b, RAM, FOREVER, NPAGES, 1, 0xffff) == 0);
	CHECK(vmm_vm_start(src.vm, mg_stop_on_exit, &sval) == 0);
	mk_dst(&dst, b, RAM, 1, D_UART, FOREVER);
	CHECK(vmm_vm_start(dst.vm, mg_stop_on_exit, &dval) == 0);
	usleep(20000);
	CHECK(vmm_vm_pause(dst.vm) == 0);
	usleep(20000);
	into_migrate(src.vm, dst.vm, M_COMMIT_DROP, 0, 0, &sret, &dret);
	CHECK(sret == 0 && dret == VMM_MIGRATE_COMMIT_UNVERIFIED);
	same_vm(src.vm, dst.vm);
	pthread_mutex_lock(&src.lock);
	memcpy(before, src.out, src.out_len + 1);
	pthread_mutex_unlock(&src.lock);
	pthread_mutex_lock(&dst.lock);
	dst.out_len = 0; /* its own guest's output before (not terminated) */
	memset(dst.out, 0, sizeof(dst.out));
	pthread_mutex_unlock(&dst.lock);
	vmm_vm_destroy(src.vm);
	into_finish(&dst, before, true, &dval, b);
	vmm_vm_destroy(dst.vm);
	printf("into (%s): ok\n", vmm_backend_name(b));
}

static void hex(const char *h, uint8_t *out)
{
	for (size_t i = 0; i < 32; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

static void test_hmac(void)
{
	static const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t k6[131], want2[32], want6[32], got[32];
	int found = 0;

	memset(k6, 0xaa, sizeof(k6));
	hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want2);
	hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want6);
	for (int impl = HMAC_AF_ALG; impl <= HMAC_LIBCRYPTO; impl++) {
		const char *name = impl == HMAC_AF_ALG ? "AF_ALG" : "libcrypto";
		struct mig_hmac h;
		char err[200] = "";
		struct iovec v[3] = { { (void *)"what do ya", 10 },
				      { (void *)" want for ", 10 },
				      { (void *)"nothing?", 8 } };
		int ret = vmm__hmac_open(&h, impl, "Jefe", 4, err, sizeof(err));

		if (ret == -ENOTSUP) {
			printf("hmac: %s: not here (%s)\n", name, err);
			continue;
		}
		CHECK(ret == 0);
		for (int rep = 0; rep < 3; rep++) {
			memset(got, 0, 32);
			CHECK(vmm__hmac(&h, v, 3, got) == 0);
			CHECK(memcmp(got, want2, 32) == 0);
		}
		vmm__hmac_close(&h);
		CHECK(vmm__hmac_open(&h, impl, k6, sizeof(k6), err,
				     sizeof(err)) == 0);
		v[0] = (struct iovec){ (void *)d6, strlen(d6) };
		CHECK(vmm__hmac(&h, v, 1, got) == 0);
		CHECK(memcmp(got, want6, 32) == 0);
		vmm__hmac_close(&h);
		CHECK(!vmm__mac_equal(want2, want6, 32) &&
		      vmm__mac_equal(want2, want2, 32));
		printf("hmac: %s: RFC 4231 cases 2 and 6 match\n", name);
		found++;
	}
	if (!found) {
		printf("hmac: no implementation here: skipped\n");
		exit(77);
	}
}

static void test_zcodec(void)
{
#if VMM_HAVE_ZSTD
	static uint8_t raw[3 * 4096], z[2 * 3 * 4096], out[4 * 4096];
	struct pagecodec pc = { 0 };
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	char err[200];
	int64_t zl;
	size_t nz;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i / 100);
	zl = vmm__pz_compress(&pc, 1, raw, sizeof(raw), z, sizeof(z));
	CHECK(zl > 0);
	CHECK(vmm__pz_decompress(&pc, z, (size_t)zl, out, sizeof(raw), err,
				 sizeof(err)) == 0);
	CHECK(memcmp(out, raw, sizeof(raw)) == 0);
	/* declares 3 pages: refused as 2 or 4 */
	CHECK(vmm__pz_decompress(&pc, z, (size_t)zl, out, 2 * 4096, err,
				 sizeof(err)) == -EBADMSG);
	printf("zcodec: 3 pages as 2: %s\n", err);
	CHECK(vmm__pz_decompress(&pc, z, (size_t)zl, out, 4 * 4096, err,
				 sizeof(err)) == -EBADMSG);
	/* truncated, trailing bytes */
	CHECK(vmm__pz_decompress(&pc, z, (size_t)zl - 1, out, sizeof(raw),
				 err, sizeof(err)) == -EBADMSG);
	z[zl] = 0;
	CHECK(vmm__pz_decompress(&pc, z, (size_t)zl + 1, out, sizeof(raw),
				 err, sizeof(err)) == -EBADMSG);
	/* no declared size (a streaming frame) holding 3 pages: refused for
	 * a 2-page batch before a byte is produced */
	CHECK(cc);
	CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	{
		ZSTD_inBuffer in = { raw, sizeof(raw), 0 };
		ZSTD_outBuffer ob = { z, sizeof(z), 0 };
		CHECK(ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end) == 0);
		nz = ob.pos;
	}
	memset(out, 0xee, sizeof(out));
	CHECK(vmm__pz_decompress(&pc, z, nz, out, 2 * 4096, err,
				 sizeof(err)) == -EBADMSG);
	printf("zcodec: undeclared size: %s\n", err);
	for (size_t i = 2 * 4096; i < sizeof(out); i++)
		CHECK(out[i] == 0xee);
	ZSTD_freeCCtx(cc);
	vmm__pz_free(&pc);
#else
	printf("zcodec: built without zstd\n");
#endif
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";
	int64_t want;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(t, "v1")) {
		test_v1(argv[0]);
		return 0;
	}
	if (!strcmp(t, "hmac")) {
		test_hmac();
		return 0;
	}
	if (!strcmp(t, "zcodec")) {
		test_zcodec();
		return 0;
	}
	if (!strcmp(t, "into")) {
		enum vmm_backend b = VMM_BACKEND_SOFT;

		if (argc > 2 && !strcmp(argv[2], "kvm")) {
			if (vmm_backend_available(VMM_BACKEND_KVM) != 0) {
				printf("no KVM here: skipped\n");
				return 77;
			}
			b = VMM_BACKEND_KVM;
		}
		test_into(b);
		return 0;
	}
	want = reference();
	CHECK(want >= 0);
	if (!strcmp(t, "zstd"))
		test_zstd(want);
	else if (!strcmp(t, "zero"))
		test_zero(want);
	else if (!strcmp(t, "snapzstd"))
		test_snapzstd(want);
	else if (!strcmp(t, "mapfirst"))
		return test_mapfirst(want);
	else if (!strcmp(t, "commit"))
		test_commit(want);
	else if (!strcmp(t, "auth") || !strcmp(t, "forge") ||
		 !strcmp(t, "replay") || !strcmp(t, "reorder")) {
		if (!auth_available()) {
			printf("no HMAC-SHA256 here (no AF_ALG, no libcrypto): skipped\n");
			return 77;
		}
		if (!strcmp(t, "auth"))
			test_auth(want);
		else if (!strcmp(t, "forge"))
			test_attack(M_FORGE, "forge", want);
		else if (!strcmp(t, "replay"))
			test_attack(M_REPLAY, "replay", want);
		else
			test_attack(M_REORDER, "reorder", want);
	} else {
		fprintf(stderr, "usage: %s zstd|zero|auth|forge|replay|reorder|mapfirst|commit|into [kvm]|v1|snapzstd|zcodec|hmac\n",
			argv[0]);
		return 2;
	}
	return 0;
}
