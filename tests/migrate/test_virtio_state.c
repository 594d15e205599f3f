/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_state - restore validation of the virtio devices' snapshot
 * state on a null-backend VM (no KVM): a state saved from a device loads
 * back; bad queue sizes, rings outside RAM, features not offered, requests
 * in flight, bad MSI-X vectors and config bits, foreign device kinds,
 * trailing bytes and every truncation are refused with -EINVAL (or
 * -ENOTSUP for a version) and leave the device exactly as it was.
 * Packed rings (VIRTIO_F_RING_PACKED): positions beyond the ring, wrap
 * counters that disagree (requests in flight) or appear on a split ring
 * are refused too.  A restore of the state the device holds (unchecked:
 * a snapshot reset's fast path) still undoes every change.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/internal.h"
#include "core/statebuf.h"
#include "dev/virtio/virtio_dev.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM (16u << 20)
/* offsets in the state (docs/snapshot-format.md, virtio devices) */
#define O_GUEST_FEAT 20
#define O_STATUS 28
#define O_CONFIG_MSIX 44
#define O_Q0 48
#define Q_SIZE 0
#define Q_MSIX 4
#define Q_FLAGS 6
#define Q_DESC 8
#define Q_AVAIL 16
#define Q_USED 24
#define Q_LAST 32
#define Q_USED_IDX 34
#define Q_LEN 40

struct fx {
	vmm_vm *vm;
	vmm_dev *dev;
	char img[64];
	struct vmm_sbuf good; /* a valid state with a running queue */
};

static void put(uint8_t *p, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static int save(struct fx *f, struct vmm_sbuf *b)
{
	int ret;

	vmm__sb_init(b, f->vm);
	ret = f->dev->save(f->dev->priv, b);
	f->dev->state_resume(f->dev->priv);
	return ret;
}

static int load(struct fx *f, const uint8_t *p, size_t len)
{
	struct vmm_sreader r;

	vmm__sr_init(&r, p, len);
	return f->dev->restore(f->dev->priv, f->dev->state_version, &r);
}

#define Q_F_AVAIL_WRAP 8
#define Q_F_USED_WRAP 16
#define F_RING_PACKED (1ull << 34)

static int setup(void **state, enum vmm_virtio_transport tr, bool packed)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vmm_config cfg;
	struct vmm_virtio_blk_config bc;
	vmm_dev *host = NULL;
	struct vmm_sbuf b;
	int fd;

	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &f->vm), 0);
	assert_int_equal(vmm_mem_add_ram(f->vm, 0, RAM), 0);
	strcpy(f->img, "/tmp/vmm-vstate-XXXXXX");
	fd = mkstemp(f->img);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	if (tr == VMM_VIRTIO_PCI)
		assert_int_equal(vmm_pci_host_attach(f->vm, &host), 0);
	vmm_virtio_blk_config_init(&bc, tr);
	bc.path = f->img;
	bc.virtio.mmio_base = 0xd0000000;
	bc.virtio.pci_host = host;
	bc.virtio.pci_slot = 3;
	bc.virtio.flags = packed ? VMM_VIRTIO_PACKED : 0;
	assert_int_equal(vmm_virtio_blk_attach(f->vm, &bc, &f->dev), 0);
	assert_non_null(f->dev->save);
	assert_non_null(f->dev->restore);
	/* a fresh device's state, then made "driver running one queue" */
	assert_int_equal(save(f, &b), 0);
	assert_true(b.len > O_Q0 + Q_LEN);
	put(b.p + O_GUEST_FEAT, 8, 1ull << 32);
	b.p[O_STATUS] = 1 | 2 | 8 | 4;
	put(b.p + O_Q0 + Q_SIZE, 2, 128);
	b.p[O_Q0 + Q_FLAGS] = 1;
	put(b.p + O_Q0 + Q_DESC, 8, 0x100000);
	put(b.p + O_Q0 + Q_AVAIL, 8, 0x101000);
	put(b.p + O_Q0 + Q_USED, 8, 0x102000);
	put(b.p + O_Q0 + Q_LAST, 2, 77);
	put(b.p + O_Q0 + Q_USED_IDX, 2, 77);
	if (packed) {
		/* a ring of 100 (no power of two), in its second lap */
		put(b.p + O_GUEST_FEAT, 8, (1ull << 32) | F_RING_PACKED);
		put(b.p + O_Q0 + Q_SIZE, 2, 100);
		b.p[O_Q0 + Q_FLAGS] = 1 | Q_F_AVAIL_WRAP | Q_F_USED_WRAP;
	}
	{
		/* the driver's avail index where the device stands: the
		 * queue is idle (a thaw looks at the ring) */
		uint16_t idx = 77;
		assert_int_equal(vmm_mem_write(f->vm, 0x101002, &idx, 2), 0);
	}
	assert_int_equal(load(f, b.p, b.len), 0);
	/* and saved again: what the device now holds */
	assert_int_equal(save(f, &f->good), 0);
	assert_int_equal(f->good.len, b.len);
	assert_memory_equal(f->good.p, b.p, b.len);
	vmm__sb_free(&b);
	*state = f;
	return 0;
}

static int setup_mmio(void **state)
{
	return setup(state, VMM_VIRTIO_MMIO, false);
}

static int setup_pci(void **state)
{
	return setup(state, VMM_VIRTIO_PCI, false);
}

static int setup_packed(void **state)
{
	return setup(state, VMM_VIRTIO_PCI, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vmm__sb_free(&f->good);
	vmm_vm_destroy(f->vm);
	unlink(f->img);
	free(f);
	return 0;
}

/* Load @f->good with @n bytes at @off replaced by @v: must fail with
 * @err and leave the device as it was. */
static void bad(struct fx *f, size_t off, unsigned n, uint64_t v, int err)
{
	uint8_t *p = malloc(f->good.len);
	struct vmm_sbuf now;

	memcpy(p, f->good.p, f->good.len);
	put(p + off, n, v);
	assert_int_equal(load(f, p, f->good.len), err);
	assert_int_equal(save(f, &now), 0);
	assert_int_equal(now.len, f->good.len);
	assert_memory_equal(now.p, f->good.p, now.len);
	vmm__sb_free(&now);
	free(p);
}

static void test_queue_sizes(void **state)
{
	struct fx *f = *state;

	bad(f, O_Q0 + Q_SIZE, 2, 100, -EINVAL);   /* not a power of two */
	bad(f, O_Q0 + Q_SIZE, 2, 0, -EINVAL);
	bad(f, O_Q0 + Q_SIZE, 2, 512, -EINVAL);   /* above the maximum 256 */
	bad(f, O_Q0 + Q_SIZE, 2, 32768, -EINVAL);
}

static void test_addresses(void **state)
{
	struct fx *f = *state;

	bad(f, O_Q0 + Q_DESC, 8, RAM, -EINVAL);             /* outside RAM */
	bad(f, O_Q0 + Q_AVAIL, 8, RAM - 8, -EINVAL);        /* ends outside */
	bad(f, O_Q0 + Q_USED, 8, 0xfffffffffffffff0ull, -EINVAL); /* wraps */
	bad(f, O_Q0 + Q_DESC, 8, 0x100008, -EINVAL);        /* misaligned */
}

static void test_status_features(void **state)
{
	struct fx *f = *state;

	bad(f, O_GUEST_FEAT, 8, (1ull << 32) | (1ull << 60), -EINVAL);
	bad(f, O_GUEST_FEAT, 8, 0, -EINVAL);       /* no VERSION_1 */
	bad(f, O_STATUS, 1, 1 | 2 | 4, -EINVAL);   /* DRIVER_OK w/o FEATURES_OK */
	bad(f, O_STATUS, 1, 0x1f, -EINVAL);        /* unknown bit */
	bad(f, O_Q0 + Q_USED_IDX, 2, 70, -EINVAL); /* requests in flight */
	bad(f, O_Q0 + Q_FLAGS, 1, 0x81, -EINVAL);
	bad(f, O_Q0 + Q_FLAGS, 1, 1 | Q_F_AVAIL_WRAP | Q_F_USED_WRAP,
	    -EINVAL);                              /* wrap counters, split */
	bad(f, O_Q0 + Q_MSIX, 2, 7, -EINVAL);      /* vector out of range */
	bad(f, O_CONFIG_MSIX, 2, 9, -EINVAL);
	bad(f, 4, 4, 1, -EINVAL);                  /* a net device's state */
	bad(f, 8, 4, 2, -EINVAL);                  /* queue count */
	bad(f, 0, 4, 7, -EINVAL);                  /* transport */
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct vmm_sbuf now;
	uint8_t *p = malloc(f->good.len + 1);

	memcpy(p, f->good.p, f->good.len);
	for (size_t n = 0; n < f->good.len; n++)
		assert_int_equal(load(f, p, n), -EINVAL);
	p[f->good.len] = 0;
	assert_int_equal(load(f, p, f->good.len + 1), -EINVAL);
	assert_int_equal(save(f, &now), 0);
	assert_memory_equal(now.p, f->good.p, now.len);
	vmm__sb_free(&now);
	/* random garbage: refused or accepted, never a crash */
	srand(1);
	for (int i = 0; i < 2000; i++) {
		size_t k = (size_t)rand() % f->good.len;
		memcpy(p, f->good.p, f->good.len);
		p[k] ^= (uint8_t)(1 + rand() % 255);
		(void)load(f, p, f->good.len);
	}
	free(p);
}

static void test_version(void **state)
{
	struct fx *f = *state;
	struct vmm_sreader r;

	vmm__sr_init(&r, f->good.p, f->good.len);
	assert_int_equal(f->dev->restore(f->dev->priv, 2, &r), -ENOTSUP);
}

static void test_pci_config(void **state)
{
	struct fx *f = *state;
	size_t pci = f->good.len - (2 + 4 + 4 + 1 + 2 + 4 + 2 * 17);

	bad(f, pci, 2, 0x0008, -EINVAL);          /* command bit not writable */
	bad(f, pci + 2, 4, 0x0, -EINVAL);         /* BAR type bits */
	bad(f, pci + 11, 2, 0x0003, -EINVAL);     /* MSI-X table size (is 1) */
	bad(f, pci + 13, 4, 5, -EINVAL);          /* vector count */
	bad(f, pci + 17 + 12, 4, 2, -EINVAL);     /* vector control */
}

static void test_packed(void **state)
{
	struct fx *f = *state;

	/* in flight: positions or laps differ */
	bad(f, O_Q0 + Q_USED_IDX, 2, 70, -EINVAL);
	bad(f, O_Q0 + Q_FLAGS, 1, 1 | Q_F_AVAIL_WRAP, -EINVAL);
	bad(f, O_Q0 + Q_FLAGS, 1, 1 | Q_F_USED_WRAP, -EINVAL);
	/* positions beyond the ring */
	bad(f, O_Q0 + Q_LAST, 4, 100 | (100u << 16), -EINVAL);
	bad(f, O_Q0 + Q_LAST, 4, 0xffff | (0xffffu << 16), -EINVAL);
	bad(f, O_Q0 + Q_LAST + 4, 2, 100, -EINVAL); /* signalled position */
	bad(f, O_Q0 + Q_FLAGS, 1, 0x41, -EINVAL);   /* unknown flag */
	/* sizes: any up to the maximum, not 0 or above it */
	bad(f, O_Q0 + Q_SIZE, 2, 0, -EINVAL);
	bad(f, O_Q0 + Q_SIZE, 2, 300, -EINVAL);
	bad(f, O_Q0 + Q_SIZE, 2, 77, -EINVAL);     /* positions at 77 */
	/* event suppression areas are 4-byte aligned */
	bad(f, O_Q0 + Q_AVAIL, 8, 0x101002, -EINVAL);
	/* the ring must fit in RAM */
	bad(f, O_Q0 + Q_DESC, 8, RAM - 16 * 50, -EINVAL);
	/* the ring without the feature */
	bad(f, O_GUEST_FEAT, 8, 1ull << 32, -EINVAL);
}

/* A packed state at lap 0 loads and saves back unchanged. */
static void test_packed_lap0(void **state)
{
	struct fx *f = *state;
	uint8_t *p = malloc(f->good.len);
	struct vmm_sbuf now;

	memcpy(p, f->good.p, f->good.len);
	p[O_Q0 + Q_FLAGS] = 1;
	put(p + O_Q0 + Q_LAST, 4, 3 | (3u << 16));
	assert_int_equal(load(f, p, f->good.len), 0);
	assert_int_equal(save(f, &now), 0);
	assert_int_equal(now.len, f->good.len);
	assert_memory_equal(now.p, p, now.len);
	vmm__sb_free(&now);
	free(p);
}

/* Load @f->good: must succeed and leave exactly @f->good's state. */
static void back(struct fx *f)
{
	struct vmm_sbuf now;

	assert_int_equal(load(f, f->good.p, f->good.len), 0);
	assert_int_equal(save(f, &now), 0);
	assert_int_equal(now.len, f->good.len);
	assert_memory_equal(now.p, f->good.p, now.len);
	vmm__sb_free(&now);
}

/*
 * A restore of the state the device already holds skips validation
 * (what a snapshot reset of an untouched device is: mmio_same/pci_same):
 * every field changed behind the restore's back, one at a time, must
 * still come back, and the fast path applies like the full one (queue
 * counters and a broken queue's state reset).
 */
static void test_same_state(void **state)
{
	struct fx *f = *state;
	struct vmm_virtio *vd = vmm__virtio_of(f->dev);
	struct vmm_vq *vq = &vd->q[0].vq;

	back(f); /* unchanged */
#define CHANGE(stmt)                                                         \
	do {                                                                 \
		pthread_mutex_lock(&vd->lock);                               \
		stmt;                                                        \
		pthread_mutex_unlock(&vd->lock);                             \
		back(f);                                                     \
	} while (0)
	CHANGE(vd->queue_sel ^= 1);
	CHANGE(vd->isr ^= 1);
	CHANGE(vd->config_gen++);
	CHANGE(vd->dev_feat_sel ^= 1);
	CHANGE(vd->drv_feat_sel ^= 1);
	CHANGE(vd->status &= ~4u);
	CHANGE(vd->guest_features ^= 1ull << 28);
	CHANGE(vd->config_msix ^= 1);
	CHANGE(vd->q[0].msix_vector ^= 1);
	CHANGE(vq->size /= 2);
	CHANGE(vq->desc += 0x1000);
	CHANGE(vq->avail += 0x1000);
	CHANGE(vq->used += 0x1000);
	CHANGE(vq->ready = false);
	CHANGE(vq->last_avail++);
	CHANGE(vq->used_idx++);
	CHANGE(vq->signalled_used++);
	CHANGE(vq->signalled_valid = !vq->signalled_valid);
	CHANGE(vd->q[1 % vd->nq].vq.ready = !vd->q[1 % vd->nq].vq.ready);
	CHANGE((vq->broken = true, strcpy(vq->err, "test")));
	assert_false(vq->broken);
	/* applied, not skipped: the queue reset of a restore clears these */
	pthread_mutex_lock(&vd->lock);
	vq->popped = 5;
	vq->pushed = 5;
	pthread_mutex_unlock(&vd->lock);
	back(f);
	assert_int_equal(vq->popped, 0);
	assert_int_equal(vq->pushed, 0);
#undef CHANGE
}

/* The same through the device's own registers: a virtio-mmio QueueSel
 * write, a PCI command register write (config cycles through the host
 * bridge's 0xcf8/0xcfc), each undone by the restore. */
static void test_same_state_bus(void **state)
{
	struct fx *f = *state;
	struct vmm_virtio *vd = vmm__virtio_of(f->dev);
	uint32_t v;

	if (vmm_bus_access(f->vm, VMM_SPACE_MMIO, 0xd0000000 + 0x30, &v, 4,
			   false) == 0) {
		v = 1; /* virtio-mmio QueueSel */
		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_MMIO,
						0xd0000000 + 0x30, &v, 4, true), 0);
		assert_int_equal(vd->queue_sel, 1);
		back(f);
		assert_int_equal(vd->queue_sel, 0);
	} else {
		uint32_t addr = 0x80000000u | (3u << 11) | 0x04;
		uint16_t cmd;

		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, 0xcf8,
						&addr, 4, true), 0);
		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, 0xcfc,
						&cmd, 2, false), 0);
		cmd ^= 4; /* bus master */
		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, 0xcfc,
						&cmd, 2, true), 0);
		back(f);
		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, 0xcf8,
						&addr, 4, true), 0);
		assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, 0xcfc,
						&v, 2, false), 0);
		assert_int_equal(v & 0xffff, cmd ^ 4);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_sizes, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_status_features, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_queue_sizes, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_pci_config, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_packed, setup_packed, teardown),
		cmocka_unit_test_setup_teardown(test_packed_lap0, setup_packed, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup_packed, teardown),
		cmocka_unit_test_setup_teardown(test_same_state, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_same_state, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_same_state, setup_packed, teardown),
		cmocka_unit_test_setup_teardown(test_same_state_bus, setup_mmio, teardown),
		cmocka_unit_test_setup_teardown(test_same_state_bus, setup_pci, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
