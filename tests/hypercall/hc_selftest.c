/* SPDX-License-Identifier: MIT */
/*
 * hc_selftest.c - a sandbox guest that exercises the hypercall ABI from
 * CPL3: round trips, buffers, batches, lookup, and a hostile guest's every
 * mistake (each must come back as the right negative errno, and the host
 * must keep answering).  Host side: test_hc_guest.c registers
 * "hc.add" (0x200: a + b) and "hc.rev" (0x201: IN 64 -> OUT 64, reversed).
 * Output: one line per failed check, then "checks N failed F";
 * the status is F.
 */
#include "sandbox_guest.h"

#define NR_ADD 0x200
#define NR_REV 0x201
#define NBATCH 16

static char report[4096];
static size_t rlen;
static int checks, failed;

static void check(bool ok, const char *what, int64_t got)
{
	checks++;
	if (ok)
		return;
	failed++;
	rlen += (size_t)sb_snprintf(report + rlen, sizeof(report) - rlen,
				    "FAIL %s (got %ld)\n", what, (long)got);
	if (rlen >= sizeof(report))
		rlen = sizeof(report) - 1;
}

static int64_t add(uint64_t a, uint64_t b)
{
	uint64_t args[2] = { a, b };
	return hc_call(NR_ADD, 2, args);
}

static void rev_block(struct vmm_hc_block *b, const void *in, uint32_t n,
		      void *out, uint32_t cap)
{
	hc_init(b, NR_REV);
	hc_buf(b, in, n, VMM_HC_DIR_IN);
	hc_buf(b, out, cap, VMM_HC_DIR_OUT);
}

int64_t sandbox_call(const uint8_t *in, size_t in_len, const void **out,
		     size_t *out_len)
{
	struct vmm_hc_block *b = sb_alloc(sizeof(*b));
	struct vmm_hc_block *ents = sb_alloc(80 * sizeof(*ents));
	char *buf = sb_alloc(128);
	uint64_t feat = 0, maxb = 0, ram_end = sb_ram_end();
	uint16_t cs;
	int64_t r;

	(void)in;
	(void)in_len;
	if (!b || !ents || !buf)
		return -SB_ENOMEM;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	check((cs & 3) == 3, "running at CPL3", cs & 3);

	/* version and lookup */
	r = hc_version(&feat, &maxb);
	check(r == VMM_HC_VERSION, "version", r);
	check(feat & VMM_HC_FEAT_BATCH, "batch feature", (int64_t)feat);
	check(maxb == 64, "max batch", (int64_t)maxb);
	check(hc_lookup("hc.add") == NR_ADD, "lookup hc.add", hc_lookup("hc.add"));
	check(hc_lookup("nope") == -SB_ENOENT, "lookup unknown", hc_lookup("nope"));

	/* round trips */
	for (uint64_t i = 0; i < 100; i++) {
		r = add(i, 1000);
		if (r != (int64_t)(i + 1000)) {
			check(false, "add round trip", r);
			break;
		}
	}
	/* buffers */
	rev_block(b, "hello", 5, buf, 64);
	r = hc_ring(b);
	check(r == 5 && b->bufs[1].used == 5 && !memcmp(buf, "olleh", 5),
	      "rev buffer", r);

	/* a batch: NBATCH adds for one exit */
	for (unsigned i = 0; i < NBATCH; i++) {
		hc_init(&ents[i], NR_ADD);
		hc_arg(&ents[i], i);
		hc_arg(&ents[i], 7);
		ents[i].error = VMM_HC_PENDING;
	}
	r = hc_batch(ents, NBATCH, 0);
	check(r == NBATCH, "batch ran all", r);
	for (unsigned i = 0; i < NBATCH; i++)
		if (ents[i].error || ents[i].result != (int64_t)i + 7) {
			check(false, "batch entry result", ents[i].result);
			break;
		}
	/* a batch with a failing entry and a buffer entry */
	hc_init(&ents[1], 0x7777);
	rev_block(&ents[2], "abc", 3, buf, 64);
	r = hc_batch(ents, 4, 0);
	check(r == 4, "mixed batch", r);
	check(ents[1].error == -SB_ENOSYS, "batch entry unknown call",
	      ents[1].error);
	check(ents[2].result == 3 && !memcmp(buf, "cba", 3), "batch entry buffers",
	      ents[2].result);
	check(ents[3].result == 10, "batch entry after error", ents[3].result);

	/* ---- a hostile guest ---- */
	hc_init(b, 0x7777);
	check(hc_ring(b) == -SB_ENOSYS, "unknown call", hc_ring(b));
	hc_init(b, NR_ADD);
	hc_arg(b, 1);
	hc_arg(b, 2);
	b->version = 9;
	check(hc_ring(b) == -SB_EPROTONOSUPPORT, "wrong version", hc_ring(b));
	b->version = VMM_HC_VERSION;
	b->nargs = 3;
	check(hc_ring(b) == -SB_EINVAL, "wrong argument count", hc_ring(b));
	/* bad buffers */
	rev_block(b, (void *)(uintptr_t)(ram_end + 0x1000), 5, buf, 64);
	check(hc_ring(b) == -SB_EFAULT, "IN buffer beyond RAM", hc_ring(b));
	rev_block(b, "hello", 5, (void *)(uintptr_t)(ram_end - 10), 64);
	check(hc_ring(b) == -SB_EFAULT, "OUT buffer straddling end of RAM",
	      hc_ring(b));
	rev_block(b, (void *)(uintptr_t)0xfffffffffffffff0ull, 32, buf, 64);
	check(hc_ring(b) == -SB_EOVERFLOW, "length wraps around", hc_ring(b));
	rev_block(b, "hello", 5, buf, 65);
	check(hc_ring(b) == -SB_E2BIG, "length beyond maximum", hc_ring(b));
	rev_block(b, buf, 5, buf + 2, 64);
	check(hc_ring(b) == -SB_EINVAL, "OUT overlaps IN", hc_ring(b));
	rev_block(b, "hello", 5, (char *)b + 8, 64);
	check(hc_ring(b) == -SB_EINVAL, "OUT overlaps the block", hc_ring(b));
	rev_block(b, "hello", 5, buf, 64);
	b->bufs[1].dir = VMM_HC_DIR_IN;
	check(hc_ring(b) == -SB_EINVAL, "wrong direction", hc_ring(b));
	/* bad blocks: nothing can be written, the status port says why */
	check(hc_doorbell((uint32_t)(ram_end + 0x10000)) == -SB_EFAULT,
	      "block beyond RAM", hc_status());
	check(hc_doorbell((uint32_t)(uintptr_t)b + 4) == -SB_EINVAL,
	      "misaligned block", hc_status());
	memset(buf, 0x5a, 64);
	check(hc_doorbell((uint32_t)(uintptr_t)buf) == -SB_EBADMSG, "bad magic",
	      hc_status());
	/* a block at the very end of RAM works; one straddling it does not */
	{
		struct vmm_hc_block *end =
			(void *)(uintptr_t)(ram_end - sizeof(*end));
		hc_init(end, NR_ADD);
		hc_arg(end, 20);
		hc_arg(end, 22);
		check(hc_ring(end) == 42, "block at the end of RAM", end->result);
		struct vmm_hc_block *half =
			(void *)(uintptr_t)(ram_end - VMM_HC_HEADER_SIZE - 8);
		memcpy(half, end, VMM_HC_HEADER_SIZE + 8);
		check(hc_doorbell((uint32_t)(uintptr_t)half) == -SB_EFAULT,
		      "block straddling the end of RAM", hc_status());
	}
	/* a batch too long, and one with a lying length */
	for (unsigned i = 0; i < 65; i++) {
		hc_init(&ents[i], NR_ADD);
		hc_arg(&ents[i], i);
		hc_arg(&ents[i], 0);
	}
	check(hc_batch(ents, 65, 0) == -SB_E2BIG, "batch too long",
	      hc_batch(ents, 65, 0));
	hc_init(b, VMM_HC_NR_BATCH);
	hc_arg(b, 4);
	hc_buf(b, ents, 2 * sizeof(*ents), VMM_HC_DIR_INOUT);
	check(hc_ring(b) == -SB_EINVAL, "batch length mismatch", hc_ring(b));
	/* after all that, the host still answers */
	check(add(2, 3) == 5, "host alive after hostile calls", add(2, 3));

	rlen += (size_t)sb_snprintf(report + rlen, sizeof(report) - rlen,
				    "checks %d failed %d\n", checks, failed);
	*out = report;
	*out_len = rlen < sizeof(report) ? rlen : sizeof(report) - 1;
	return failed;
}
