/* SPDX-License-Identifier: MIT */
/*
 * postcopy.h - migration tier 2 state kept in migrate.c's sender and
 * receiver: convergence (dirty rate, auto-converge throttle, the logged
 * switch-over decision) and post-copy.  The code is postcopy.c, compiled
 * inside migrate.c (it uses that file's static stream functions).
 */
#ifndef LIBVMM_MIGRATE_POSTCOPY_H
#define LIBVMM_MIGRATE_POSTCOPY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* frame types of tier 2 (docs/migration.md), from the top of the range */
enum mig_frame_pc {
	F_PC_CAPS = 0x40,    /* dst -> src before READY: u32 flags (1 = post-copy ok) */
	F_PC_NEEDMAP = 0x41, /* either: u32 region, u32 0, u64 first word, words */
	F_PC_SWITCH = 0x42,  /* src -> dst: DONE's 16 bytes, u64 migration id, u64 pages missing */
	F_PC_REQ = 0x43,     /* dst -> src: u32 n (1..64), u32 0, n x u64 gpa */
	F_PC_END = 0x44,     /* src -> dst: u64 pages pushed; every missing page was sent */
	F_PC_FIN = 0x45,     /* dst -> src: empty; every page arrived */
	F_PC_RESUME = 0x46,  /* src -> dst: u64 id; dst -> src (after NEEDMAPs): u64 pages missing */
};

#define PC_CAP_POSTCOPY 1u

/* t2_round(): the switch-over decision after a round */
enum { R_CONTINUE, R_CONVERGED, R_MAX_ROUNDS, R_POSTCOPY };

/* the switch-over's phases, timed for the log (t2_log_switch()) */
enum { SW_PAUSE, SW_STATE, SW_DIRTY, SW_PAGES, SW_FRAMES, SW_ACK, SW_N };

/* source side, in struct sender */
struct mig_t2 {
	uint32_t flags;              /* VMM_MIGRATE_* */
	uint32_t pc_after;           /* rounds before the post-copy switch */
	uint32_t thr_init, thr_step, thr_max;
	bool dst_postcopy;           /* the destination can take post-copy */
	bool postcopy;               /* decided: switch to post-copy */
	/* auto-converge */
	uint32_t thr_pct;            /* current throttle */
	bool thr_paused;             /* the throttle holds a pause now */
	double thr_mark;             /* end of the current run/pause slice */
	bool in_postcopy;            /* pc_push() paces the link itself */
	bool urgent;                 /* the batch answers requests: no zstd */
	/* vmm_migrate_start_postcopy(): switch now (set by another thread) */
	_Atomic bool pc_request;
	_Atomic bool pc_refused;     /* the destination takes no post-copy */
	_Atomic bool stopping;       /* stop-and-copy or switch-over began */
	/*
	 * A request that comes before the destination's reply to HELLO
	 * (CAPS, READY) waits for it: whether the switch can happen depends
	 * on it.  Under reply_lock: @replied once the reply is in, @over once
	 * the send is over (after vmm__vm_set_sender(NULL)); @waiters counts
	 * the requesting threads that hold a pointer to this sender, which
	 * is not freed before they are gone (t2_detach()).
	 */
	pthread_t thread;            /* the sending thread (never waits) */
	pthread_mutex_t reply_lock;
	pthread_cond_t reply_cond;
	bool replied, over;
	unsigned waiters;
};

#endif
