/* SPDX-License-Identifier: MIT */
/*
 * test_fe_mem - guest memory changes with a vhost-user back-end attached
 * (libvmm's own server on a thread, the front-end on a null-backend VM,
 * the test plays the driver).  Removing a region the back-end knows sends
 * it a memory table without that region before the unmap; removing the
 * region that holds the running rings is refused with -EBUSY; adding a
 * region sends the larger table.
 */
#include "core/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BASE 0xd0000000ull
#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__,        \
				__LINE__, #c);                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

static vmm_vm *vm;
static vmm_vhost_user_server *srv;

static void w32(uint64_t off, uint32_t v)
{
	CHECK(vmm_bus_access(vm, VMM_SPACE_MMIO, BASE + off, &v, 4, true) == 0);
}

static uint32_t r32(uint64_t off)
{
	uint32_t v = 0;

	CHECK(vmm_bus_access(vm, VMM_SPACE_MMIO, BASE + off, &v, 4, false) == 0);
	return v;
}

static void *serve(void *p)
{
	(void)p;
	vmm_vhost_user_server_run(srv);
	return NULL;
}

/* the back-end logs each message it receives (debug level): count the
 * memory tables and remember the size of the last one */
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ntables;
static unsigned last_table_size;

static void srv_log(void *o, int level, const char *msg)
{
	unsigned size;
	const char *p = strstr(msg, "SET_MEM_TABLE");

	(void)o;
	(void)level;
	if (!p || !(p = strstr(p, "size ")) || sscanf(p, "size %u", &size) != 1)
		return;
	pthread_mutex_lock(&lk);
	ntables++;
	last_table_size = size;
	pthread_mutex_unlock(&lk);
}

static uint64_t messages(void)
{
	uint64_t n;

	pthread_mutex_lock(&lk);
	n = ntables;
	pthread_mutex_unlock(&lk);
	return n;
}

/* the front-end waited for the back-end's answer, so the table has been
 * received by the time the call returns */
static bool messages_grow(uint64_t from)
{
	return messages() > from;
}

/* regions in the last table: 8 bytes of header, 32 per region */
static unsigned table_regions(void)
{
	unsigned n;

	pthread_mutex_lock(&lk);
	n = (last_table_size - 8) / 32;
	pthread_mutex_unlock(&lk);
	return n;
}

static int add_memfd(vmm_gpa_t gpa, uint64_t size)
{
	struct vmm_mem_region d = {
		.gpa = gpa, .size = size, .source = VMM_MEM_MEMFD, .fd = -1,
		.name = "ram",
	};
	return vmm_mem_add(vm, &d);
}

int main(void)
{
	char dir[] = "/tmp/libvmm-femem-XXXXXX", sock[64], img[80];
	struct vmm_vhost_user_server_config sc;
	struct vmm_vhost_user_config fc;
	struct vmm_config cfg;
	vmm_dev *dev;
	pthread_t t;
	uint64_t m0;
	FILE *f;

	CHECK(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	f = fopen(img, "w");
	CHECK(f && ftruncate(fileno(f), 1 << 20) == 0);
	fclose(f);

	/* a missing image is refused when the server is created */
	vmm_vhost_user_server_config_init(&sc, VMM_VHOST_USER_BLK);
	sc.socket_path = sock;
	sc.blk.path = "/nonexistent/image";
	CHECK(vmm_vhost_user_server_create(&sc, &srv) == -ENOENT);
	CHECK(access(sock, F_OK) != 0);

	vmm_vhost_user_server_config_init(&sc, VMM_VHOST_USER_BLK);
	sc.socket_path = sock;
	sc.blk.path = img;
	sc.log = srv_log;
	sc.log_level = VMM_LOG_DEBUG;
	CHECK(vmm_vhost_user_server_create(&sc, &srv) == 0);
	CHECK(pthread_create(&t, NULL, serve, NULL) == 0);

	vmm_config_init(&cfg);
	CHECK(vmm__vm_create_null(&cfg, &vm) == 0);
	CHECK(add_memfd(0, RAM) == 0);
	CHECK(add_memfd(0x200000, RAM) == 0);

	memset(&fc, 0, sizeof(fc));
	fc.socket_path = sock;
	fc.device = VMM_VHOST_USER_BLK;
	vmm_virtio_config_init(&fc.virtio, VMM_VIRTIO_MMIO);
	fc.virtio.mmio_base = BASE;
	fc.virtio.queue_size = 8;
	CHECK(vmm_vhost_user_attach(vm, &fc, &dev) == 0);

	/* the driver: VERSION_1 only, queue 0 in the first region */
	w32(0x70, 0);
	w32(0x70, 1);
	w32(0x70, 3);
	w32(0x24, 1);
	w32(0x20, 1);
	w32(0x70, 0xb);
	CHECK(r32(0x70) & 8);
	w32(0x30, 0);
	w32(0x38, 8);
	w32(0x80, DESC);
	w32(0x90, AVAIL);
	w32(0xa0, USED);
	w32(0x44, 1);
	w32(0x70, 0xf); /* DRIVER_OK: rings and memory table to the back-end */
	CHECK(!(r32(0x70) & 0x40)); /* not NEEDS_RESET */
	CHECK(messages() == 1 && table_regions() == 2);

	/* removing the second region: the back-end hears first */
	m0 = messages();
	CHECK(vmm_mem_remove(vm, 0x200000) == 0);
	CHECK(messages_grow(m0));
	CHECK(table_regions() == 1);
	printf("remove: back-end got an updated memory table\n");

	/* the rings' region cannot go while the rings run */
	m0 = messages();
	CHECK(vmm_mem_remove(vm, 0) == -EBUSY);
	/* the region stays, and the back-end was told so again (if it had
	 * been sent a table without it) */
	CHECK(table_regions() == 1);
	CHECK(vmm_mem_is_ram(vm, 0, RAM));
	CHECK(!(r32(0x70) & 0x40));
	printf("remove of the rings' region refused: EBUSY\n");

	/* adding memory: the back-end gets the larger table */
	m0 = messages();
	CHECK(add_memfd(0x400000, RAM) == 0);
	CHECK(messages_grow(m0));
	CHECK(table_regions() == 2);
	CHECK(!(r32(0x70) & 0x40));
	printf("add: back-end got an updated memory table\n");

	vmm_vm_destroy(vm);
	vmm_vhost_user_server_stop(srv);
	pthread_join(t, NULL);
	vmm_vhost_user_server_destroy(srv);
	unlink(img);
	rmdir(dir);
	printf("ok\n");
	return 0;
}
