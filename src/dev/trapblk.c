// SPDX-License-Identifier: MIT
/*
 * trapblk.c - the hypervisor-direct block device: a register interface
 * (include/libvmm/models.h, VMM_TRAPBLK_*) where every guest access traps
 * to the VMM, so every sector moves 4 bytes per exit through the data
 * register.  It exists so the same block workload can run under all three
 * device models and be compared; it is the "direct" point of the table.
 *
 * Protocol: the guest writes SECTOR_LO/HI and COUNT, then a command.  READ
 * loads the first sector and sets DRQ; each 4-byte read of DATA returns the
 * next 4 bytes, the next sector is loaded when one is used up, and READY
 * comes back after the last.  WRITE sets DRQ; each 4-byte write of DATA
 * fills the sector buffer, which is written to the file when full.  Every
 * failure (range, host I/O, read-only medium, protocol) sets ST_ERR and an
 * error code, ends the transfer, and leaves the VM running.
 *
 * Backed by pread/pwrite on the image file.  Migratable: registers, the
 * transfer position and the sector buffer are saved with the VM.
 */
#include "core/internal.h"
#include "core/statebuf.h"
#include "dev/direct.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR VMM_TRAPBLK_SECTOR_SIZE
#define TRAPBLK_STATE_VERSION 1

struct trapblk {
	vmm_vm *vm;
	enum vmm_space space;
	uint64_t base;
	int fd;
	bool readonly;
	uint64_t capacity;      /* sectors */
	pthread_mutex_t lock;
	/* guest-visible registers */
	uint64_t sector;
	uint32_t count;
	uint32_t error;
	bool err;
	/* the transfer in progress: cmd 0 = none */
	uint32_t xfer_cmd;
	uint64_t xfer_sector;   /* sector in buf */
	uint32_t xfer_left;     /* sectors left, buf's included */
	uint32_t buf_off;       /* next byte of buf (multiple of 4) */
	uint8_t buf[SECTOR];
	struct vmm_trapblk_stats st;
};

static void trapblk_destroy(void *priv);

void vmm_trapblk_config_init(struct vmm_trapblk_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->space = VMM_SPACE_PIO;
	cfg->base = 0x5c0;
	cfg->fd = -1;
}

static void fail(struct trapblk *b, uint32_t code)
{
	b->err = true;
	b->error = code;
	b->xfer_cmd = 0;
	b->xfer_left = 0;
	b->buf_off = 0;
	b->st.errors++;
}

static int io_full(int fd, void *buf, uint64_t sector, bool write)
{
	size_t done = 0;
	off_t off = (off_t)(sector * SECTOR);

	while (done < SECTOR) {
		ssize_t n = write ? pwrite(fd, (uint8_t *)buf + done,
					   SECTOR - done, off + (off_t)done)
				  : pread(fd, (uint8_t *)buf + done,
					  SECTOR - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* error, or the file shrank under us */
		done += (size_t)n;
	}
	return 0;
}

static uint32_t status(const struct trapblk *b)
{
	uint32_t s = 0;

	if (!b->xfer_cmd)
		s |= VMM_TRAPBLK_ST_READY;
	else
		s |= VMM_TRAPBLK_ST_DRQ;
	if (b->err)
		s |= VMM_TRAPBLK_ST_ERR;
	if (b->readonly)
		s |= VMM_TRAPBLK_ST_RO;
	return s;
}

/* Validate a guest-chosen range: count 1..MAX, inside the medium. */
static bool range_ok(const struct trapblk *b, uint64_t sector, uint32_t count)
{
	return count >= 1 && count <= VMM_TRAPBLK_MAX_COUNT &&
	       sector < b->capacity && count <= b->capacity - sector;
}

static void command(struct trapblk *b, uint32_t cmd)
{
	if (b->xfer_cmd && cmd != VMM_TRAPBLK_CMD_RESET) {
		fail(b, VMM_TRAPBLK_E_PROTO);
		return;
	}
	b->err = false;
	b->error = VMM_TRAPBLK_E_NONE;
	switch (cmd) {
	case VMM_TRAPBLK_CMD_READ:
	case VMM_TRAPBLK_CMD_WRITE:
		if (!range_ok(b, b->sector, b->count)) {
			fail(b, VMM_TRAPBLK_E_RANGE);
			return;
		}
		if (cmd == VMM_TRAPBLK_CMD_WRITE && b->readonly) {
			fail(b, VMM_TRAPBLK_E_RO);
			return;
		}
		b->xfer_cmd = cmd;
		b->xfer_sector = b->sector;
		b->xfer_left = b->count;
		b->buf_off = 0;
		if (cmd == VMM_TRAPBLK_CMD_READ) {
			if (io_full(b->fd, b->buf, b->xfer_sector, false))
				fail(b, VMM_TRAPBLK_E_IO);
			else
				b->st.sectors_read++;
		}
		break;
	case VMM_TRAPBLK_CMD_FLUSH:
		if (!b->readonly && fdatasync(b->fd) < 0)
			fail(b, VMM_TRAPBLK_E_IO);
		break;
	case VMM_TRAPBLK_CMD_RESET:
		b->xfer_cmd = 0;
		b->xfer_left = 0;
		b->buf_off = 0;
		break;
	default:
		fail(b, VMM_TRAPBLK_E_CMD);
	}
}

/* One sector of the transfer is used up: move to the next or finish. */
static void sector_done(struct trapblk *b)
{
	b->buf_off = 0;
	b->xfer_left--;
	b->xfer_sector++;
	if (!b->xfer_left) {
		b->xfer_cmd = 0;
		return;
	}
	if (b->xfer_cmd == VMM_TRAPBLK_CMD_READ) {
		if (io_full(b->fd, b->buf, b->xfer_sector, false))
			fail(b, VMM_TRAPBLK_E_IO);
		else
			b->st.sectors_read++;
	}
}

static int trapblk_read(void *opaque, uint64_t off, void *data, unsigned size,
			struct vmm_io_ctx *ctx)
{
	struct trapblk *b = opaque;
	uint32_t v = 0xffffffffu;

	pthread_mutex_lock(&b->lock);
	b->st.reg_accesses++;
	if (size != 4 || (off & 3)) {
		if (off == VMM_TRAPBLK_DATA && b->xfer_cmd)
			fail(b, VMM_TRAPBLK_E_PROTO);
		vmm__le_put(data, size, vmm__ones(size));
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	switch (off) {
	case VMM_TRAPBLK_SECTOR_LO: v = (uint32_t)b->sector; break;
	case VMM_TRAPBLK_SECTOR_HI: v = (uint32_t)(b->sector >> 32); break;
	case VMM_TRAPBLK_COUNT: v = b->count; break;
	case VMM_TRAPBLK_CMD: v = status(b); break;
	case VMM_TRAPBLK_CAP_LO: v = (uint32_t)b->capacity; break;
	case VMM_TRAPBLK_CAP_HI: v = (uint32_t)(b->capacity >> 32); break;
	case VMM_TRAPBLK_ERROR: v = b->error; break;
	case VMM_TRAPBLK_DATA:
		if (b->xfer_cmd != VMM_TRAPBLK_CMD_READ) {
			fail(b, VMM_TRAPBLK_E_PROTO);
			break;
		}
		memcpy(&v, b->buf + b->buf_off, 4);
		b->buf_off += 4;
		if (b->buf_off == SECTOR)
			sector_done(b);
		break;
	}
	vmm__le_put(data, 4, v);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int trapblk_write(void *opaque, uint64_t off, const void *data,
			 unsigned size, struct vmm_io_ctx *ctx)
{
	struct trapblk *b = opaque;
	uint32_t v;

	pthread_mutex_lock(&b->lock);
	b->st.reg_accesses++;
	if (size != 4 || (off & 3)) {
		if (off == VMM_TRAPBLK_DATA && b->xfer_cmd)
			fail(b, VMM_TRAPBLK_E_PROTO);
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	v = (uint32_t)vmm__le_get(data, 4);
	switch (off) {
	case VMM_TRAPBLK_SECTOR_LO:
		b->sector = (b->sector & ~0xffffffffull) | v;
		break;
	case VMM_TRAPBLK_SECTOR_HI:
		b->sector = (b->sector & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	case VMM_TRAPBLK_COUNT: b->count = v; break;
	case VMM_TRAPBLK_CMD: command(b, v); break;
	case VMM_TRAPBLK_DATA:
		if (b->xfer_cmd != VMM_TRAPBLK_CMD_WRITE) {
			fail(b, VMM_TRAPBLK_E_PROTO);
			break;
		}
		memcpy(b->buf + b->buf_off, &v, 4);
		b->buf_off += 4;
		if (b->buf_off == SECTOR) {
			if (io_full(b->fd, b->buf, b->xfer_sector, true)) {
				fail(b, VMM_TRAPBLK_E_IO);
				break;
			}
			b->st.sectors_written++;
			sector_done(b);
		}
		break;
	default:
		break; /* read-only registers: writes dropped */
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static const struct vmm_io_ops trapblk_ops = {
	.read = trapblk_read,
	.write = trapblk_write,
};

/* ---- snapshot state, version 1 ----
 * u64 sector, u32 count, u32 error, u8 err, u32 xfer_cmd, u64 xfer_sector,
 * u32 xfer_left, u32 buf_off, 512 bytes buf, u64 capacity (checked only). */
static int trapblk_save(void *priv, struct vmm_sbuf *out)
{
	struct trapblk *b = priv;

	pthread_mutex_lock(&b->lock);
	vmm__sb_u64(out, b->sector);
	vmm__sb_u32(out, b->count);
	vmm__sb_u32(out, b->error);
	vmm__sb_u8(out, b->err);
	vmm__sb_u32(out, b->xfer_cmd);
	vmm__sb_u64(out, b->xfer_sector);
	vmm__sb_u32(out, b->xfer_left);
	vmm__sb_u32(out, b->buf_off);
	vmm__sb_bytes(out, b->buf, SECTOR);
	vmm__sb_u64(out, b->capacity);
	pthread_mutex_unlock(&b->lock);
	return vmm__sb_error(out);
}

static int trapblk_restore(void *priv, uint32_t version,
			   struct vmm_sreader *in)
{
	struct trapblk *b = priv;
	struct trapblk t;

	if (version != TRAPBLK_STATE_VERSION)
		return vmm__err(b->vm, -EINVAL, "trapblk: state version %u",
				version);
	t.sector = vmm__sr_u64(in);
	t.count = vmm__sr_u32(in);
	t.error = vmm__sr_u32(in);
	t.err = vmm__sr_u8(in) != 0;
	t.xfer_cmd = vmm__sr_u32(in);
	t.xfer_sector = vmm__sr_u64(in);
	t.xfer_left = vmm__sr_u32(in);
	t.buf_off = vmm__sr_u32(in);
	vmm__sr_bytes(in, t.buf, SECTOR);
	t.capacity = vmm__sr_u64(in);
	if (!vmm__sr_ok(in))
		return vmm__err(b->vm, -EINVAL, "trapblk: state truncated");
	if (t.error > VMM_TRAPBLK_E_PROTO || t.buf_off >= SECTOR ||
	    (t.buf_off & 3) ||
	    (t.xfer_cmd != 0 && t.xfer_cmd != VMM_TRAPBLK_CMD_READ &&
	     t.xfer_cmd != VMM_TRAPBLK_CMD_WRITE) ||
	    (t.xfer_cmd && !range_ok(b, t.xfer_sector, t.xfer_left)) ||
	    (!t.xfer_cmd && (t.xfer_left || t.buf_off)) ||
	    (t.xfer_cmd == VMM_TRAPBLK_CMD_WRITE && b->readonly))
		return vmm__err(b->vm, -EINVAL,
				"trapblk: saved transfer state is invalid for "
				"this medium");
	if (t.capacity != b->capacity)
		vmm__log(b->vm, VMM_LOG_WARN,
			 "trapblk: capacity was %llu sectors, now %llu",
			 (unsigned long long)t.capacity,
			 (unsigned long long)b->capacity);
	pthread_mutex_lock(&b->lock);
	b->sector = t.sector;
	b->count = t.count;
	b->error = t.error;
	b->err = t.err;
	b->xfer_cmd = t.xfer_cmd;
	b->xfer_sector = t.xfer_sector;
	b->xfer_left = t.xfer_left;
	b->buf_off = t.buf_off;
	memcpy(b->buf, t.buf, SECTOR);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

int vmm_trapblk_attach(vmm_vm *vm, const struct vmm_trapblk_config *ucfg,
			   vmm_dev **out)
{
	const struct vmm_trapblk_config *cfg = ucfg;
	struct vmm_trapblk_config c;
	struct trapblk *b;
	struct stat st;
	char name[48];
	vmm_dev *dev;
	uint64_t base;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "trapblk: NULL argument");
	vmm_trapblk_config_init(&c);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__TRAPBLK_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"trapblk: bad struct_size %u or unknown non-zero "
				"fields in struct vmm_trapblk_config",
				ucfg->struct_size);
	cfg = &c;
	base = cfg->base;
	if (cfg->space == VMM_SPACE_PIO) {
		if (!base)
			base = 0x5c0;
		if (base + VMM_TRAPBLK_SPAN > 0x10000 || (base & 3))
			return vmm__err(vm, -EINVAL,
					"trapblk: port 0x%llx unusable",
					(unsigned long long)base);
	} else if (cfg->space == VMM_SPACE_MMIO) {
		if (!VMM_IS_ALIGNED(cfg->base, VMM_PAGE_SIZE) ||
		    cfg->base + VMM_TRAPBLK_SPAN < cfg->base)
			return vmm__err(vm, -EINVAL,
					"trapblk: MMIO base 0x%llx not page "
					"aligned",
					(unsigned long long)cfg->base);
	} else {
		return vmm__err(vm, -EINVAL, "trapblk: bad space %d",
				(int)cfg->space);
	}
	if (cfg->fd < 0 && !cfg->path)
		return vmm__err(vm, -EINVAL, "trapblk: no image");

	b = vmm__alloc(vm, sizeof(*b));
	if (!b)
		return vmm__err(vm, -ENOMEM, "trapblk: out of memory");
	b->vm = vm;
	b->space = cfg->space;
	b->base = base;
	b->readonly = cfg->readonly;
	if (cfg->fd >= 0)
		b->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
	else
		b->fd = open(cfg->path,
			     (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		ret = vmm__err(vm, -errno, "trapblk: %s: %s",
			       cfg->fd >= 0 ? "dup" : cfg->path,
			       strerror(errno));
		goto err_free;
	}
	if (fstat(b->fd, &st) < 0) {
		ret = vmm__err(vm, -errno, "trapblk: fstat: %s", strerror(errno));
		goto err_close;
	}
	b->capacity = (uint64_t)st.st_size / SECTOR;
	b->st.capacity = b->capacity;
	pthread_mutex_init(&b->lock, NULL);
	snprintf(name, sizeof(name), "trapblk@%s0x%llx",
		 cfg->space == VMM_SPACE_PIO ? "pio:" : "mmio:",
		 (unsigned long long)base);

	ret = vmm_bus_register(vm, cfg->space, base, VMM_TRAPBLK_SPAN,
			       &trapblk_ops, b, name);
	if (ret) {
		ret = vmm__err(vm, ret, "trapblk: cannot register 0x%llx: %s",
			       (unsigned long long)base, vmm_strerror(ret));
		goto err_mutex;
	}
	dev = vmm__dev_new(vm, name, b, trapblk_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_unregister;
	}
	vmm__dev_set_model(dev, VMM_MODEL_DIRECT, 0);
	ret = vmm__dev_set_state_ops(dev, "trapblk", cfg->space, base,
				     TRAPBLK_STATE_VERSION, trapblk_save,
				     trapblk_restore);
	if (ret) {
		vmm__dev_abort(dev);
		goto err_unregister;
	}
	*out = dev;
	return 0;

err_unregister:
	vmm_bus_unregister(vm, cfg->space, base);
err_mutex:
	pthread_mutex_destroy(&b->lock);
err_close:
	close(b->fd);
err_free:
	vmm__free(vm, b);
	return ret;
}

static void trapblk_destroy(void *priv)
{
	struct trapblk *b = priv;

	vmm_bus_unregister(b->vm, b->space, b->base);
	pthread_mutex_destroy(&b->lock);
	close(b->fd);
	vmm__free(b->vm, b);
}

int vmm_trapblk_get_stats(vmm_dev *dev, struct vmm_trapblk_stats *st)
{
	struct vmm_trapblk_stats s;
	struct trapblk *b;

	if (!dev || !st || dev->destroy != trapblk_destroy)
		return -EINVAL;
	b = dev->priv;
	pthread_mutex_lock(&b->lock);
	s = b->st;
	pthread_mutex_unlock(&b->lock);
	s.struct_size = sizeof(s);
	return vmm__struct_out(st, &s, sizeof(s), VMM__TRAPBLK_STATS_V02);
}
