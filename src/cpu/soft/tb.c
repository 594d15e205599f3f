/* SPDX-License-Identifier: MIT */
/*
 * tb.c - the translation cache and the executor.  A basic block is decoded
 * once into an array of predecoded instructions, cached by guest-physical
 * address and code size, and chained to its successors.  Blocks end at
 * branches, mode changes, page ends or 64 instructions.  Every page that
 * holds translated code is registered; writes to it (always through the
 * MMU slow path, see mmu.c) drop exactly the blocks on that page.  Code
 * written from outside the vCPU (devices, the embedder, snapshot
 * restore: every write through src/mem's accessors) is reported page by
 * page through src/mem's code ring (vmm_gmem_code_mark/_take), which the
 * executor reads with the other events at block boundaries, dropping
 * only the blocks on written pages.  Another vCPU's stores may go
 * through a TLB entry made writable before this vCPU marked the page:
 * with more than one vCPU, marking a page starts a shootdown (wgen, see
 * wshoot()) after which no other vCPU holds a writable entry for it, and
 * a block stays unconfirmed (wait_gen), its bytes checked against memory
 * at every entry and never chained, until every other vCPU acknowledged
 * it.  From then on every other vCPU's write to the page takes the slow
 * path, which reports it through the code ring.  A serializing CPUID
 * reads the ring at once (soft_tb_serialize).  Interrupts, kicks, the
 * shootdown, the code ring and the memory epoch are checked each time the threaded
 * chain returns: after a block, or after at most SOFT_LINK_MAX blocks
 * that branches entered directly (thread.h).
 */
#include "cpu/soft/irqglue.h"
#include "cpu/soft/thread.h"
#include "cpu/soft/jit/jit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *arena_alloc(struct soft_cpu *c, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (c->arena_used + n > SOFT_ARENA_SIZE)
		return NULL;
	p = c->arena + c->arena_used;
	c->arena_used += n;
	return p;
}

void *soft_tb_alloc(struct soft_cpu *c, size_t n)
{
	return arena_alloc(c, n);
}

int soft_tb_init(struct soft_cpu *c)
{
	c->arena_chunk[0] = vmm__alloc_big(c->vm, SOFT_ARENA_SIZE);
	if (!c->arena_chunk[0])
		return -ENOMEM;
	c->arena_nchunks = 1;
	soft_tb_flush(c);
	return 0;
}

void soft_tb_fini(struct soft_cpu *c)
{
	for (unsigned k = 0; k < c->arena_nchunks; k++)
		vmm__free_big(c->vm, c->arena_chunk[k]);
	c->arena_nchunks = 0;
	c->arena = NULL;
}

/*
 * The current chunk is full: go on in the next one, allocated the first
 * time it is needed (a guest with little code never pays for it).  False
 * when all SOFT_ARENA_CHUNKS are full (or no memory): the caller flushes,
 * which starts again in the first chunk.
 */
static bool arena_next(struct soft_cpu *c)
{
	if (c->arena_cur + 1 >= c->arena_nchunks) {
		uint8_t *p;

		if (c->arena_nchunks >= SOFT_ARENA_CHUNKS)
			return false;
		p = vmm__alloc_big(c->vm, SOFT_ARENA_SIZE);
		if (!p)
			return false;
		c->arena_chunk[c->arena_nchunks++] = p;
	}
	c->arena = c->arena_chunk[++c->arena_cur];
	c->arena_used = 0;
	return true;
}

void soft_tb_flush(struct soft_cpu *c)
{
	memset(c->tb_hash, 0, sizeof(c->tb_hash));
	memset(c->page_hash, 0, sizeof(c->page_hash));
	memset(c->jc, 0, sizeof(c->jc));
	c->arena_cur = 0;
	c->arena = c->arena_chunk[0];
	c->arena_used = 0;
	c->cur_tb = NULL;
	c->st_tb_flushes++;
	c->chain_gen++;
	soft_jit_flush(c);
	/* writes reported before now are of pages without blocks */
	c->code_seen = vmm_gmem_code_head(&c->vm->mem);
	/* no page holds code any more: writable TLB entries may come back */
}

/* (physical address, code size) -> bucket: a multiplicative hash, so
 * that blocks at nearby addresses of different pages spread out */
static inline unsigned tb_hash(uint64_t gpa, unsigned key)
{
	uint64_t h = (gpa ^ ((uint64_t)key << 52)) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> (64 - SOFT_TB_HASH_BITS));
}

static inline unsigned page_hash(uint64_t page)
{
	return (unsigned)(((page >> 12) ^ (page >> 22)) & (SOFT_PAGE_HASH - 1));
}

static struct soft_page *page_find(struct soft_cpu *c, uint64_t page)
{
	struct soft_page *p = c->page_hash[page_hash(page)];

	for (; p; p = p->next)
		if (p->gpa == page)
			return p;
	return NULL;
}

bool soft_tb_is_code(struct soft_cpu *c, uint64_t gpa)
{
	struct soft_page *p = page_find(c, gpa & ~0xfffull);

	return p && p->blocks;
}

static void tb_unhash(struct soft_cpu *c, struct soft_tb *tb)
{
	struct soft_tb **pp = &c->tb_hash[tb_hash(tb->gpa, tb->key)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == tb) {
			*pp = tb->hnext;
			return;
		}
	}
}

bool soft_tb_page_write(struct soft_cpu *c, uint64_t gpa)
{
	uint64_t page = gpa & ~0xfffull;
	struct soft_page *p = page_find(c, page);
	struct soft_tb *tb, *next;
	bool any = false;

	if (!p)
		return false;
	for (tb = p->blocks; tb; tb = next) {
		int k = (tb->gpa & ~0xfffull) == page ? 0 : 1;
		next = tb->pnext[k];
		if (!tb->valid)
			continue;
		tb->valid = false;
		tb_unhash(c, tb);
		if (!tb->stub)
			c->st_tb_invalidated++;
		any = true;
		if (tb == c->cur_tb)
			c->ev |= SEV_TBDIRTY;
	}
	p->blocks = NULL;
	c->chain_gen++;
	return any;
}

/* A page starts holding code: no writable TLB entry may map it. */
static void page_add(struct soft_cpu *c, uint64_t page, struct soft_tb *tb,
		     int k)
{
	struct soft_page *p = page_find(c, page);

	if (!p) {
		p = arena_alloc(c, sizeof(*p));
		if (!p)
			return; /* caller checked room; not reached */
		p->gpa = page;
		p->blocks = NULL;
		p->next = c->page_hash[page_hash(page)];
		c->page_hash[page_hash(page)] = p;
	}
	/* no write entry for this page was filled since the last flush
	 * (none is while dirty pages are logged): nothing to drop, skip the
	 * scan of both TLBs (4096 entries) */
	if (!p->blocks && (c->tlb_w_pages[(page >> 18) & 3] &
			   (1ull << ((page >> 12) & 63)))) {
		/* only the slots filled since the last full flush can hold
		 * an entry (mmu.c tlb_note), unless there were too many */
		bool logged = c->tlb_fill_ok &&
			      c->tlb_fill_n <= SOFT_TLB_FILL_LOG;
		unsigned n = logged ? c->tlb_fill_n : 2 * SOFT_TLB_SIZE;

		for (unsigned k = 0; k < n; k++) {
			unsigned s = logged ? c->tlb_fill[k] : k;
			unsigned u = s >> SOFT_TLB_BITS, e = s & (SOFT_TLB_SIZE - 1);

			if (c->tlb[u][e].gpa == page)
				c->tlb[u][e].tag_w = SOFT_TLB_INVALID;
			if (c->tlb_victim[u][e].gpa == page)
				c->tlb_victim[u][e].tag_w = SOFT_TLB_INVALID;
		}
	}
	tb->pnext[k] = p->blocks;
	p->blocks = tb;
}

static int op_decode_gp(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_gp(c, 0);
}

/* Copy of the code bytes of @tb as memory holds them now. */
static bool tb_bytes_match(struct soft_cpu *c, const struct soft_tb *tb)
{
	unsigned first = 4096 - (unsigned)(tb->gpa & 0xfff);
	unsigned n1 = tb->nbytes < first ? tb->nbytes : first;
	const uint8_t *h;

	h = vmm_gmem_host_ptr(&c->vm->mem, tb->gpa, n1, false);
	if (!h || memcmp(h, tb->bytes, n1))
		return false;
	if (tb->nbytes > n1) {
		h = vmm_gmem_host_ptr(&c->vm->mem, tb->gpa2, tb->nbytes - n1,
				      false);
		if (!h || memcmp(h, tb->bytes + n1, tb->nbytes - n1))
			return false;
	}
	return true;
}

/*
 * The page at @gpa starts holding this vCPU's code: mark it for the code
 * ring, then (more than one vCPU) start a shootdown of the other vCPUs'
 * writable TLB entries.  The order matters: a vCPU that acknowledged the
 * new generation sees the mark on its next write TLB fill, so that write
 * is reported (vmm_gmem_host_ptr); one that has not may still write
 * silently, which the block's byte check until then catches.
 */
static void code_mark(struct soft_cpu *c, uint64_t gpa)
{
	uint64_t old;

	vmm_gmem_code_mark(&c->vm->mem, gpa & ~0xfffull);
	if (c->vm->cfg.ncpus <= 1)
		return;
	old = atomic_fetch_add(&c->svm->wgen, 1);
	if (old == c->wseen) {
		/* no other vCPU started one since this one last looked:
		 * its own writable entries for the page are gone
		 * (page_add), nothing else to drop */
		c->wseen = old + 1;
		atomic_store_explicit(&c->svm->wack[c->vcpu->index], old + 1,
				      memory_order_release);
	}
}

/* Acknowledge the shootdowns started since the last time: drop every
 * writable TLB entry (they come back through the slow path, which
 * reports writes to pages that hold code). */
static void wshoot(struct soft_cpu *c)
{
	uint64_t g = atomic_load(&c->svm->wgen);

	if (g == c->wseen)
		return;
	for (unsigned u = 0; u < 2; u++)
		for (unsigned e = 0; e < SOFT_TLB_SIZE; e++) {
			c->tlb[u][e].tag_w = SOFT_TLB_INVALID;
			c->tlb_victim[u][e].tag_w = SOFT_TLB_INVALID;
		}
	c->wseen = g;
	atomic_store_explicit(&c->svm->wack[c->vcpu->index], g,
			      memory_order_release);
}

/* This vCPU starts (@on) or stops executing guest code; on the way in it
 * acknowledges the shootdowns it missed before any guest write. */
static void in_guest(struct soft_cpu *c, bool on)
{
	if (c->vm->cfg.ncpus <= 1)
		return;
	atomic_store(&c->svm->in_guest[c->vcpu->index], on);
	if (on)
		wshoot(c);
}

/*
 * Has every other vCPU acknowledged shootdown @g (or is it outside guest
 * execution, where it acknowledges before it writes again)?  Their writes
 * before that are visible to this vCPU after this returns true.
 */
static bool others_acked(struct soft_cpu *c, uint64_t g)
{
	unsigned n = c->vm->cfg.ncpus;

	if (c->wok >= g)
		return true;
	if (n > VMM_MAX_VCPUS)
		n = VMM_MAX_VCPUS;
	for (unsigned k = 0; k < n; k++) {
		if (k == c->vcpu->index ||
		    !atomic_load(&c->svm->in_guest[k]))
			continue;
		if (atomic_load(&c->svm->wack[k]) < g)
			return false;
	}
	c->wok = g;
	return true;
}

#define TB_ROOM (sizeof(struct soft_tb) + (SOFT_TB_MAX_INSNS + 1) * \
		 (sizeof(struct soft_insn) + 16) + 2 * sizeof(struct soft_page) + 256)

static struct soft_tb *translate(struct soft_cpu *c, uint64_t lin,
				 uint64_t gpa, const uint8_t *h)
{
	struct soft_insn tmp[SOFT_TB_MAX_INSNS + 1];
	uint8_t code[SOFT_TB_MAX_INSNS * 15 + 16];
	unsigned n = 0, pos = 0, in_page = 4096 - (unsigned)(lin & 0xfff);
	uint64_t gpa2 = ~0ull;
	const uint8_t *h2 = NULL;
	struct soft_tb *tb;
	const soft_fn *tab = c->svm->handlers;
	/* single-stepped (vmm_vcpu_set_single_step): each run executes one
	 * instruction and the next starts at a new address, so a block of
	 * 64 would be decoded for one instruction of it, every step of
	 * fresh code (fuzz_decoder: O(n^2) decodes per input) */
	unsigned max = c->single_step ? 1 : SOFT_TB_MAX_INSNS;

	/* an instruction limit closer than a block: a block that ends at
	 * it runs whole instead of one instruction at a time (exec_loop) */
	if (unlikely(c->limit_on) && c->limit_at - c->icount < max &&
	    c->limit_at > c->icount)
		max = (unsigned)(c->limit_at - c->icount);

	if (c->arena_used + TB_ROOM > SOFT_ARENA_SIZE && !arena_next(c))
		soft_tb_flush(c);
	/* marked before the bytes are read: a later write is reported */
	if (!soft_tb_is_code(c, gpa))
		code_mark(c, gpa);
	while (n < max) {
		uint8_t buf[16];
		unsigned avail = in_page > pos ? in_page - pos : 0;
		const uint8_t *src = h + pos;
		bool end;
		int r;

		if (avail == 0)
			break; /* the block stops at the page end */
		if (avail < 15) {
			/* may cross into the next page */
			memcpy(buf, src, avail);
			if (!h2) {
				/* fetch the next page only if needed */
				r = soft_decode(buf, avail, c->csz, &tmp[n], &end);
				if (r != SOFT_DEC_MORE)
					goto decoded;
				if (n > 0)
					break; /* let the next block start there */
				h2 = soft_fetch_page(c, (lin + in_page) &
						     (c->lma ? ~0ull : 0xffffffffull),
						     &gpa2);
				if (!soft_tb_is_code(c, gpa2))
					code_mark(c, gpa2);
			}
			memcpy(buf + avail, h2, 15 - avail);
			src = buf;
			avail = 15;
		}
		r = soft_decode(src, avail, c->csz, &tmp[n], &end);
decoded:
		if (r == SOFT_DEC_GP || r == SOFT_DEC_MORE) {
			tmp[n].fn = op_decode_gp;
			tmp[n].run = soft_thunk;
			tmp[n].len = 15;
			end = true;
			n++;
			break;
		}
		if (!tmp[n].fn) {
			tmp[n].fn = tab[tmp[n].op] ? tab[tmp[n].op] : soft_op_ud;
			soft_specialize(&tmp[n]);
		}
		soft_thread_pick(c, &tmp[n]);
		if (pos + tmp[n].len <= sizeof(code)) {
			for (unsigned k = 0; k < tmp[n].len; k++)
				code[pos + k] = pos + k < in_page ?
					h[pos + k] : h2[pos + k - in_page];
		}
		pos += tmp[n].len;
		n++;
		if (end || pos >= in_page)
			break;
	}
	if (pos <= in_page)
		gpa2 = ~0ull;
	tb = arena_alloc(c, sizeof(*tb));
	tb->insn = arena_alloc(c, (n + 1) * sizeof(struct soft_insn));
	tb->bytes = arena_alloc(c, pos ? pos : 1);
	memset(&tmp[n], 0, sizeof(tmp[n]));
	tmp[n].run = soft_block_end;
	soft_thread_block(tmp, n);
	memcpy(tb->insn, tmp, (n + 1) * sizeof(struct soft_insn));
	memcpy(tb->bytes, code, pos);
	tb->gpa = gpa;
	tb->gpa2 = gpa2;
	tb->lin = lin;
	tb->key = c->csz;
	tb->ninsn = (uint16_t)n;
	tb->nbytes = (uint16_t)pos;
	tb->valid = true;
	tb->stub = false;
	/* every page of it marked (and every shootdown started) by now */
	tb->wait_gen = c->vm->cfg.ncpus > 1 ? atomic_load(&c->svm->wgen) : 0;
	tb->chain[0] = tb->chain[1] = NULL;
	tb->hits = 0;
	tb->jit_tried = false;
	tb->jit_body = 0;
	tb->jit_info = NULL;
	tb->pnext[0] = tb->pnext[1] = NULL;
	tb->hnext = c->tb_hash[tb_hash(gpa, tb->key)];
	c->tb_hash[tb_hash(gpa, tb->key)] = tb;
	page_add(c, gpa & ~0xfffull, tb, 0);
	if (gpa2 != ~0ull)
		page_add(c, gpa2 & ~0xfffull, tb, 1);
	c->st_tb_translated++;
	return tb;
}

/* Linear address of CS:RIP, with the CS limit check. */
static inline uint64_t pc_lin(struct soft_cpu *c)
{
	if (c->lm64)
		return c->st.rip;
	if (c->pe && c->st.rip > c->st.seg[VMM_CS].limit)
		soft_gp(c, 0);
	return (uint32_t)(c->segbase[VMM_CS] + c->st.rip);
}

/*
 * Cold code.  Much guest code runs once (boot code, a fuzz input's fresh
 * code, zeroed memory decoding as `add [rax], al`), and translating it
 * (decode, threaded entries, the dead-flag pass, the cache bookkeeping)
 * costs several times running it.  So the first time a block start is
 * looked up, the executor does not translate it: it records a stub (a
 * soft_tb without instructions, hashed and on its page's list like a
 * block, so that a write to the page drops it as it would the block) and
 * runs the block's instructions one at a time through their plain
 * handlers, decoded from memory as they come (run_cold()).  The block is
 * translated when its start is looked up again with the stub still
 * there.  The block boundaries are the ones translate() would make, so
 * the executor looks at events at the same instructions either way.
 * Not while single-stepping, with TF, RF or an interrupt shadow, or with
 * instruction breakpoints: those run one instruction of a translated
 * block at a time (exec_loop); nor with VMM_CFG_JIT_EAGER, which asks
 * for every block to be compiled the first time it runs.
 */
static inline bool cold_ok(const struct soft_cpu *c)
{
	return !(c->shadow || c->single_step || c->dr_exec ||
		 (c->st.rflags & (FL_TF | FL_RF)) ||
		 (c->jit_on && !c->jit_thr));
}

/* The stub of a block start at @gpa seen for the first time. */
static struct soft_tb *cold_stub(struct soft_cpu *c, uint64_t lin,
				 uint64_t gpa)
{
	struct soft_tb *tb;

	if (c->arena_used + sizeof(*tb) + sizeof(struct soft_page) + 64 >
		    SOFT_ARENA_SIZE && !arena_next(c))
		soft_tb_flush(c);
	/* a write to the page is reported from now on, and drops it */
	if (!soft_tb_is_code(c, gpa))
		code_mark(c, gpa);
	tb = arena_alloc(c, sizeof(*tb)); /* room made above */
	*tb = (struct soft_tb){
		.gpa = gpa, .gpa2 = ~0ull, .lin = lin, .key = c->csz,
		.valid = true, .stub = true,
	};
	tb->hnext = c->tb_hash[tb_hash(gpa, tb->key)];
	c->tb_hash[tb_hash(gpa, tb->key)] = tb;
	page_add(c, gpa & ~0xfffull, tb, 0);
	return tb;
}

static struct soft_tb *find_tb(struct soft_cpu *c, bool cold)
{
	uint64_t lin = pc_lin(c), gpa;
	const uint8_t *h = soft_fetch_page(c, lin, &gpa);
	struct soft_tb **head = &c->tb_hash[tb_hash(gpa, c->csz)];
	struct soft_tb *tb = *head, **pp = head;

	for (; tb; pp = &tb->hnext, tb = tb->hnext) {
		if (tb->gpa != gpa || tb->key != c->csz)
			continue;
		if (tb->stub) {
			/* seen before: translate it now */
			tb->valid = false;
			tb_unhash(c, tb);
			break;
		}
		if (tb->gpa2 != ~0ull) {
			uint64_t g2;
			soft_fetch_page(c, ((lin | 0xfff) + 1) &
				(c->lma ? ~0ull : 0xffffffffull), &g2);
			if ((g2 & ~0xfffull) != (tb->gpa2 & ~0xfffull))
				continue;
		}
		if (tb->wait_gen) {
			/* acknowledged first: writes before the
			 * acknowledgement are in memory for the check */
			bool acked = others_acked(c, tb->wait_gen);
			if (!tb_bytes_match(c, tb)) {
				tb->valid = false;
				tb_unhash(c, tb);
				c->st_tb_invalidated++;
				break;
			}
			if (acked)
				tb->wait_gen = 0;
		}
		if (pp != head) {
			/* most recently found first */
			*pp = tb->hnext;
			tb->hnext = *head;
			*head = tb;
		}
		return tb;
	}
	if (cold && !tb)
		return cold_stub(c, lin, gpa);
	return translate(c, lin, gpa, h);
}

/* find_tb() through the jump cache */
static inline struct soft_tb *find_tb_jc(struct soft_cpu *c, bool cold)
{
	uint64_t lin = pc_lin(c);
	struct soft_jc *j = &c->jc[soft_jc_idx(lin)];
	struct soft_tb *tb = j->tb;

	if (tb && j->lin == lin && j->gen == c->chain_gen &&
	    tb->key == c->csz && tb->valid && !tb->wait_gen)
		return tb;
	tb = find_tb(c, cold);
	/* an unconfirmed block is looked up (and checked) every time, a
	 * stub is translated the next time */
	j->lin = lin;
	j->tb = tb->wait_gen || tb->stub ? NULL : tb;
	j->gen = c->chain_gen;
	return tb;
}

/* ---- the executor ---- */

enum { RUN_ON = 0, RUN_EXIT = 1 };

#define SOFT_POLL_EVERY 32

static void fill_shutdown(struct vmm_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	exit->kind = VMM_EXIT_SHUTDOWN;
}

/* Pop one queued write exit into @exit. */
static bool pop_wq(struct soft_cpu *c, struct vmm_exit *exit)
{
	if (c->wq_head >= c->wq_n)
		return false;
	*exit = c->wq[c->wq_head++];
	if (c->wq_head >= c->wq_n)
		c->wq_n = c->wq_head = 0;
	return true;
}

/* Deliver pending external events at an instruction boundary. */
static int events_slow(struct soft_cpu *c, struct vmm_exit *exit);

/* The common case at a block boundary: nothing to do. */
static inline int events(struct soft_cpu *c, struct vmm_exit *exit)
{
	if (likely(!atomic_load_explicit(&c->vcpu->kick_pending,
					 memory_order_relaxed) &&
		   c->epoch == atomic_load_explicit(&c->svm->epoch,
						    memory_order_relaxed) &&
		   c->code_seen == atomic_load_explicit(&c->vm->mem.code_head,
							memory_order_relaxed) &&
		   c->wseen == atomic_load_explicit(&c->svm->wgen,
						    memory_order_relaxed) &&
		   !c->halted &&
		   (!c->svm->chip || (c->poll_count > 1 && c->poll_count--))))
		return RUN_ON;
	return events_slow(c, exit);
}

/* Drop the blocks on pages written from outside this vCPU's MMU (or by
 * it: the ring reports those too, they have no blocks left by now). */
static void code_written(struct soft_cpu *c)
{
	vmm_gpa_t pages[64];
	int n;

	while (c->code_seen != vmm_gmem_code_head(&c->vm->mem)) {
		n = vmm_gmem_code_take(&c->vm->mem, &c->code_seen, pages,
				       (int)(sizeof(pages) / sizeof(pages[0])));
		if (n < 0) {
			/* more pages than the ring holds: any may differ */
			soft_tb_flush(c);
			return;
		}
		for (int k = 0; k < n; k++)
			soft_tb_page_write(c, pages[k]);
	}
}

/* soft_glue_wait(), counted for vmm_vcpu_get_stats() (halts, halt_ns) */
static unsigned wait_counted(struct soft_cpu *c)
{
	struct timespec t0, t1;
	unsigned r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = soft_glue_wait(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c->st_halts++;
	c->st_halt_ns += (uint64_t)((int64_t)(t1.tv_sec - t0.tv_sec) *
				    1000000000 + (t1.tv_nsec - t0.tv_nsec));
	return r;
}

/* wait_counted() outside guest execution: the shootdowns started while
 * it waited are acknowledged before it goes on */
static unsigned wait_halted(struct soft_cpu *c)
{
	unsigned r;

	in_guest(c, false);
	r = wait_counted(c);
	in_guest(c, true);
	return r;
}

void soft_tb_serialize(struct soft_cpu *c)
{
	/* end the block after this instruction: the executor reads the
	 * ring at the boundary (events), where a flush is safe */
	if (c->code_seen != vmm_gmem_code_head(&c->vm->mem))
		c->ev |= SEV_TBDIRTY;
}

static int events_slow(struct soft_cpu *c, struct vmm_exit *exit)
{
	unsigned ev;

	if (unlikely(atomic_load_explicit(&c->vcpu->kick_pending,
					  memory_order_relaxed))) {
		atomic_store(&c->vcpu->kick_pending, false);
		memset(exit, 0, sizeof(*exit));
		exit->kind = VMM_EXIT_INTERRUPTED;
		return RUN_EXIT;
	}
	if (unlikely(c->epoch != atomic_load_explicit(&c->svm->epoch,
						      memory_order_relaxed))) {
		c->epoch = atomic_load(&c->svm->epoch);
		soft_tlb_flush(c);
		soft_tb_flush(c);
	}
	wshoot(c);
	code_written(c);
	if (!c->svm->chip) {
		if (c->halted) {
			c->halted = false;
			memset(exit, 0, sizeof(*exit));
			exit->kind = VMM_EXIT_HLT;
			return RUN_EXIT;
		}
		return RUN_ON;
	}
	/* soft_irqchip_poll() reads the clock: ask every SOFT_POLL_EVERY
	 * block boundaries, and at once when the CPU could newly take an
	 * interrupt (run entry, IF set, halted) */
	if (!c->halted && c->poll_count && --c->poll_count)
		return RUN_ON;
	c->poll_count = SOFT_POLL_EVERY;
	for (;;) {
		ev = soft_glue_poll(c);
		if (ev & (SOFT_IRQ_INIT | SOFT_IRQ_SIPI)) {
			if (soft_glue_init_sipi(c, ev))
				continue;
		}
		if (c->st.mp_state == VMM_MP_INIT_RECEIVED ||
		    c->st.mp_state == VMM_MP_SIPI_RECEIVED)
			goto wait;
		if ((ev & SOFT_IRQ_NMI) && !c->st.events.nmi_masked) {
			soft_glue_ack_nmi(c);
			c->st.events.nmi_masked = 1;
			c->shadow = false;
			soft_deliver(c, 2, false, 0, EV_EXT, c->st.rip);
			c->st.mp_state = VMM_MP_RUNNABLE;
			return RUN_ON;
		}
		if ((ev & SOFT_IRQ_INTR) && (c->st.rflags & FL_IF) &&
		    !c->shadow) {
			int vec = soft_glue_ack(c);
			if (vec >= 0) {
				c->st.mp_state = VMM_MP_RUNNABLE;
				soft_deliver(c, vec, false, 0, EV_EXT,
					     c->st.rip);
				return RUN_ON;
			}
		}
		/* held back only by an interrupt shadow (STI, MOV SS): look
		 * again right after the next instruction, not
		 * SOFT_POLL_EVERY blocks later (an `sti; nop; cli` window
		 * would be missed) */
		if ((ev & SOFT_IRQ_INTR) && (c->st.rflags & FL_IF) &&
		    c->shadow)
			c->poll_count = 0;
		if (!c->halted)
			return RUN_ON;
wait:
		c->st.mp_state = c->halted ? VMM_MP_HALTED : c->st.mp_state;
		if (atomic_load(&c->vcpu->kick_pending)) {
			atomic_store(&c->vcpu->kick_pending, false);
			memset(exit, 0, sizeof(*exit));
			exit->kind = VMM_EXIT_INTERRUPTED;
			return RUN_EXIT;
		}
		if (!wait_halted(c) && c->svm->deterministic &&
		    !soft_glue_timer_armed(c)) {
			/* nothing can wake this vCPU in guest time: the
			 * embedder decides (it stays halted) */
			memset(exit, 0, sizeof(*exit));
			exit->kind = VMM_EXIT_HLT;
			return RUN_EXIT;
		}
	}
}

static void debug_exit(struct soft_cpu *c, struct vmm_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	exit->kind = VMM_EXIT_DEBUG;
	exit->debug.exception = 1;
	exit->debug.pc = c->st.rip;
	exit->debug.dr6 = 0xffff4ff0;
	exit->debug.dr7 = c->st.dr7;
}

/*
 * The instruction limit (vmm_vcpu_set_insn_limit()).  A block entered
 * whole retires at most tb_insns_max() instructions before a link to
 * another block, and a link enters one block; so the executor enters a
 * block only when that fits below the limit and gives its chain no more
 * links than fit after it (LINK_INSNS each: a block compiled when a link
 * reaches it may be a self-loop).  Otherwise it runs one instruction
 * through its plain handler, as when single-stepping; translate() cuts
 * new blocks at the limit, so that is rare.
 */
#define LINK_INSNS_JIT (SOFT_JIT_LOOP_INSNS > SOFT_LINK_MAX * SOFT_TB_MAX_INSNS \
			? SOFT_JIT_LOOP_INSNS : SOFT_LINK_MAX * SOFT_TB_MAX_INSNS)

static inline unsigned tb_insns_max(const struct soft_tb *tb)
{
	return tb->jit_body ? tb->jit_max : tb->ninsn;
}

/* The limit is reached: the exit, and the limit is gone. */
static void limit_exit(struct soft_cpu *c, struct vmm_exit *exit)
{
	c->limit_on = false;
	memset(exit, 0, sizeof(*exit));
	exit->kind = VMM_EXIT_INSN_LIMIT;
}

/* May @tb be entered whole (icount < limit_at)?  Counts the execution
 * for the JIT first (run_block does not, with a limit), so that a block
 * compiled now is judged by its compiled code. */
static inline bool limit_fits(struct soft_cpu *c, struct soft_tb *tb)
{
	soft_jit_count(c, tb);
	return tb_insns_max(tb) <= c->limit_at - c->icount;
}

/* The links @tb's chain may take below the limit (limit_fits() held). */
static void limit_links(struct soft_cpu *c, struct soft_tb *tb)
{
	uint64_t left = c->limit_at - c->icount - tb_insns_max(tb);
	uint64_t links = left / (c->jit_on ? LINK_INSNS_JIT : SOFT_TB_MAX_INSNS);

	/* a link takes one of either budget (soft_thread_enter,
	 * jit.c's compiled links) */
	if (links < c->link_left)
		c->link_left = (unsigned)links;
	links -= c->link_left;
	if (links < c->jit_link_left)
		c->jit_link_left = (unsigned)links;
}

/*
 * Run @tb from its first instruction (only that one if @one) through the
 * threaded chain (thread.h).  Returns RUN_EXIT with @exit filled, or
 * RUN_ON.
 */
static inline int run_block(struct soft_cpu *c, struct soft_tb *tb, bool one,
			    struct vmm_exit *exit)
{
	c->cur_tb = tb;
	if (unlikely(one)) {
		/* the first instruction alone, through its plain handler */
		const struct soft_insn *i = tb->insn;
		int r;
		c->rf_keep = false;
		r = i->fn(c, i);
		c->icount++;
		if (r == SOFT_NEXT)
			c->st.rip = (c->st.rip + i->len) & c->ipmask;
		/* RF lasts one instruction (SDM 17.3.1.1) unless it loaded
		 * RF itself (IRET, task switch) or paused a REP */
		if (!c->rf_keep)
			c->st.rflags &= ~(uint64_t)FL_RF;
	} else {
		/* may go on into chained successors (soft_thread_link) */
		c->link_left = SOFT_LINK_MAX;
		/* compiled links check only this budget (jit/jit.c
		 * emit_link_direct): none while an event is pending */
		c->jit_link_left = c->ev ? 0 : SOFT_JIT_LINK_MAX;
		if (likely(!c->limit_on))
			soft_jit_count(c, tb);
		else
			limit_links(c, tb); /* counted by limit_fits() */
		tb->insn[0].run(c, tb->insn);
	}
	if (unlikely(c->ev)) {
		unsigned ev = c->ev;
		c->ev = 0;
		if (ev & SEV_REPLAY)
			c->replay_n = c->replay_pos = 0;
		/* debug traps of the instruction(s) before the exit: one
		 * instruction's own (with TF) come from exec_loop, unless
		 * the instruction also queued a device write */
		if (one && (ev & SEV_WQ) &&
		    (c->step_tf || c->db_hits || c->ss_shadow_now)) {
			soft_db_trap(c, c->step_tf);
			c->step_tf = false;
		} else if (!one && (ev & SEV_DBG)) {
			soft_db_trap(c, false);
		}
		if (ev & SEV_WQ) {
			pop_wq(c, exit);
			return RUN_EXIT;
		}
	}
	return RUN_ON;
}

/*
 * Run the block that starts at CS:RIP without translating it (its stub
 * was just made, see cold_ok()): decode each instruction from memory and
 * run its plain handler, ending where translate() would end the block,
 * or after an instruction that raised an event or reached the
 * instruction limit, as the threaded chain does.  Code the block writes
 * ahead of itself is decoded as written.  Returns RUN_EXIT with @exit
 * filled, or RUN_ON.
 */
static int run_cold(struct soft_cpu *c, struct vmm_exit *exit)
{
	const soft_fn *tab = c->svm->handlers;
	uint64_t lin = pc_lin(c), gpa;
	const uint8_t *h = soft_fetch_page(c, lin, &gpa);
	unsigned pos = 0, n = 0, in_page = 4096 - (unsigned)(lin & 0xfff);

	c->cur_tb = NULL;
	for (;;) {
		struct soft_insn in;
		uint8_t buf[16];
		unsigned avail = in_page - pos;
		bool end = false;
		int r;

		if (avail < 15) {
			/* may cross into the next page */
			memcpy(buf, h + pos, avail);
			r = soft_decode(buf, avail, c->csz, &in, &end);
			if (r == SOFT_DEC_MORE) {
				uint64_t gpa2;
				const uint8_t *h2;
				if (n > 0)
					break; /* the next block starts there */
				h2 = soft_fetch_page(c, (lin + in_page) &
						     (c->lma ? ~0ull : 0xffffffffull),
						     &gpa2);
				memcpy(buf + avail, h2, 15 - avail);
				r = soft_decode(buf, 15, c->csz, &in, &end);
			}
		} else {
			r = soft_decode(h + pos, avail, c->csz, &in, &end);
		}
		if (r == SOFT_DEC_GP || r == SOFT_DEC_MORE)
			soft_gp(c, 0);
		if (!in.fn) {
			in.fn = tab[in.op] ? tab[in.op] : soft_op_ud;
			soft_specialize(&in);
		}
		r = in.fn(c, &in);
		c->icount++;
		n++;
		if (r != SOFT_NEXT)
			break;
		c->st.rip = (c->st.rip + in.len) & c->ipmask;
		pos += in.len;
		if (c->ev || end || pos >= in_page || n >= SOFT_TB_MAX_INSNS ||
		    (unlikely(c->limit_on) && c->icount >= c->limit_at))
			break;
	}
	c->st_tb_cold++;
	if (unlikely(c->ev)) {
		unsigned ev = c->ev;
		c->ev = 0;
		if (ev & SEV_REPLAY)
			c->replay_n = c->replay_pos = 0;
		if (ev & SEV_DBG)
			soft_db_trap(c, false);
		if (ev & SEV_WQ) {
			pop_wq(c, exit);
			return RUN_EXIT;
		}
	}
	return RUN_ON;
}

/*
 * A fault or an exit unwound an instruction back to exec_guarded(): take
 * the exit or deliver the fault.  Returns true when soft_exec() returns
 * (*@exit filled), false to run on.
 */
static __attribute__((noinline)) bool unwound(struct soft_cpu *c,
					      struct vmm_exit *exit)
{
	/* a fault or an exit unwound the instruction: its breakpoint hits
	 * go with it (it runs again or a fault is delivered) */
	c->ev &= ~(SEV_REPLAY | SEV_TBDIRTY | SEV_MODE | SEV_DBG);
	c->db_hits = 0;
	c->db_ibp = false;
	c->step_tf = false;
	if (c->fault_vec == -2) {
		c->delivering = -1;
		*exit = c->exit;
		c->replay_pos = 0;
		return true;
	}
	c->replay_n = c->replay_pos = 0;
	if (soft_handle_fault(c) < 0) {
		fill_shutdown(exit);
		c->st.mp_state = VMM_MP_RUNNABLE;
		return true;
	}
	if (pop_wq(c, exit)) {
		c->ev &= ~SEV_WQ;
		return true;
	}
	c->ev = 0;
	if (c->single_step) {
		debug_exit(c, exit);
		return true;
	}
	return false;
}

/*
 * An enabled instruction breakpoint at CS:RIP (RF clear): the #DB fault,
 * before the instruction (its frame has RF = 0; the handler sets RF in it
 * to go on).  Returns true if one was delivered.
 */
static bool instruction_bp(struct soft_cpu *c)
{
	uint32_t hits = soft_dr_exec(c) & 0xfu;

	if (!hits)
		return false;
	c->st.dr6 = (c->st.dr6 & ~0xfull) | hits | 0xffff0ff0u;
	c->db_ibp = true;
	c->delivering = 1;
	soft_deliver(c, 1, false, 0, EV_EXC, c->st.rip);
	c->delivering = -1;
	c->db_ibp = false;
	return true;
}

/* The debugger's slots (vmm_vcpu_set_hw_breakpoints()) hit: exit. */
static void hbp_exit(struct soft_cpu *c, struct vmm_exit *exit, uint8_t hits)
{
	memset(exit, 0, sizeof(*exit));
	exit->kind = VMM_EXIT_DEBUG;
	exit->debug.exception = 1;
	exit->debug.pc = c->st.rip;
	exit->debug.dr6 = 0xffff0ff0u | (hits & 0xfu);
	exit->debug.dr7 = c->st.dr7;
	c->hbp_hits = 0;
}

/* A debugger exec slot at CS:RIP, unless the last exit was that hit. */
static bool hbp_exec(struct soft_cpu *c, struct vmm_exit *exit)
{
	uint8_t hits;

	if (c->hbp_skip) {
		c->hbp_skip = false;
		return false;
	}
	hits = (uint8_t)(soft_dr_exec(c) >> 4);
	if (!hits)
		return false;
	hbp_exit(c, exit, hits);
	c->hbp_skip = true;
	return true;
}

/* The executor's loop: runs blocks until an exit (returns 0). */
static __attribute__((noinline)) int exec_loop(struct soft_cpu *c,
					       struct vmm_exit *exit)
{
	struct soft_tb *tb;

	if (c->pend_vec >= 0) {
		int v = c->pend_vec;
		c->pend_vec = -1;
		c->delivering = v;
		soft_deliver(c, v, c->pend_has_err, c->pend_err, c->pend_kind,
			     c->st.rip);
		c->delivering = -1;
	}
	for (;;) {
		bool tf;

		if (unlikely(c->hbp_hits)) {
			hbp_exit(c, exit, c->hbp_hits);
			return 0;
		}
		/* before events: an interrupt due now is taken by the
		 * next run, RIP stays after the last instruction */
		if (unlikely(c->limit_on) && c->icount >= c->limit_at) {
			limit_exit(c, exit);
			return 0;
		}
		if (events(c, exit) == RUN_EXIT)
			return 0;
		/* the JIT's code buffer is full: no compiled code runs
		 * here, start again (blocks and code) */
		if (unlikely(c->jit_full))
			soft_tb_flush(c);
		tb = find_tb_jc(c, cold_ok(c));
		if (tb->stub) {
			if (run_cold(c, exit) == RUN_EXIT)
				return 0;
			continue;
		}
have_tb:
		tf = (c->st.rflags & FL_TF) != 0;
		if (unlikely(c->shadow || c->single_step || c->dr_exec ||
			     (c->st.rflags & (FL_TF | FL_RF)) ||
			     (c->limit_on && !limit_fits(c, tb)))) {
			/* the instruction after STI / MOV SS: poll for
			 * interrupts right after it (the window may be one
			 * instruction long, as in "sti; nop; cli") */
			if (c->shadow)
				c->poll_count = 0;
			c->shadow = false;
			if (unlikely(c->dr_exec & 0xf0u) && hbp_exec(c, exit))
				return 0;
			if (unlikely(c->dr_exec) && !(c->st.rflags & FL_RF) &&
			    instruction_bp(c))
				continue;
			c->step_tf = tf;
			c->ss_shadow_now = false;
			if (run_block(c, tb, true, exit) == RUN_EXIT)
				return 0;
			if (c->step_tf || c->db_hits || c->ss_shadow_now)
				soft_db_trap(c, c->step_tf);
			c->step_tf = false;
			c->hbp_skip = false;
			if (c->hbp_hits) {
				hbp_exit(c, exit, c->hbp_hits);
				return 0;
			}
			if (c->single_step) {
				debug_exit(c, exit);
				return 0;
			}
			continue;
		}
		/* chained successors run without a hash lookup */
		for (;;) {
			struct soft_tb *next;
			uint64_t gen = c->chain_gen;
			if (run_block(c, tb, false, exit) == RUN_EXIT)
				return 0;
			tb = c->cur_tb; /* the last block it ran */
			if (unlikely(c->limit_on) && c->icount >= c->limit_at)
				break;
			/* instruction breakpoints (MOV to DR7 ends its
			 * block) are checked one instruction at a time */
			if (c->shadow || c->halted || c->dr_exec ||
			    c->hbp_hits ||
			    (c->st.rflags & (FL_TF | FL_RF)) ||
			    gen != c->chain_gen)
				break;
			if (events(c, exit) == RUN_EXIT)
				return 0;
			if (c->shadow)
				break;
			next = NULL;
			if (tb->chain[0] && tb->chain_rip[0] == c->st.rip &&
			    tb->chain_gen[0] == c->chain_gen)
				next = tb->chain[0];
			else if (tb->chain[1] && tb->chain_rip[1] == c->st.rip &&
				 tb->chain_gen[1] == c->chain_gen)
				next = tb->chain[1];
			if (!next || !next->valid || next->wait_gen) {
				unsigned slot = tb->chain[0] ? 1 : 0;
				struct soft_tb *prev = tb;
				uint64_t g2 = c->chain_gen;
				next = find_tb_jc(c, cold_ok(c));
				if (next->stub) {
					if (run_cold(c, exit) == RUN_EXIT)
						return 0;
					break;
				}
				/* unconfirmed blocks are never chained */
				if (g2 == c->chain_gen && !next->wait_gen) {
					if (prev->chain[0] && prev->chain[1])
						slot = (unsigned)(c->icount & 1);
					prev->chain[slot] = next;
					prev->chain_rip[slot] = c->st.rip;
					prev->chain_gen[slot] = c->chain_gen;
				}
			}
			tb = next;
			/* events were looked at: on with this block, whole
			 * or one instruction of it */
			if (unlikely(c->limit_on) && !limit_fits(c, tb))
				goto have_tb;
		}
	}
}

/* Faults and exits of the guest unwind to here (see SOFT_SETJMP_FN). */
static SOFT_SETJMP_FN int exec_guarded(struct soft_cpu *c,
				       struct vmm_exit *exit)
{
	struct soft_cpu *volatile vc = c;
	struct vmm_exit *volatile vexit = exit;
	int r;

	if (__builtin_setjmp(c->jb)) {
		if (unwound(vc, vexit))
			return 0;
		r = exec_loop(vc, vexit);
	} else {
		r = exec_loop(c, exit);
	}
	SOFT_NO_TAIL_CALL();
	return r;
}

int soft_exec(struct soft_cpu *c, struct vmm_exit *exit)
{
	int r;

	if (pop_wq(c, exit))
		return 0;
	if (c->read_pending) {
		struct soft_replay *r = &c->replay[c->replay_n];
		memcpy(r->data, c->rdbuf, sizeof(r->data));
		c->replay_n++;
		c->read_pending = false;
	}
	c->replay_pos = 0;
	/* the shootdowns started while it was out: before any write */
	in_guest(c, true);
	code_written(c);
	c->delivering = -1;
	c->ev = 0;
	c->poll_count = 0;

	r = exec_guarded(c, exit);
	in_guest(c, false);
	return r;
}
