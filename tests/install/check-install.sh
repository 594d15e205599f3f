#!/bin/sh
# After `meson install` into a staging DESTDIR, compile a tiny program
# outside the tree with `pkg-config --cflags --libs libvmm` and run it.
# Usage: check-install.sh STAGE PREFIX
set -eu
stage=$1
prefix=$2
root="$stage$prefix"
pc=$(dirname "$(find "$root" -name libvmm.pc | head -n1)")
[ -n "$pc" ] || { echo "libvmm.pc not installed"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/hello.c" <<'EOC'
#include <libvmm/libvmm.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	vmm_vm *vm = NULL;
	struct vmm_config cfg;
	int ret;

	if (vmm_version() != LIBVMM_VERSION_NUMBER) {
		fprintf(stderr, "header/library version mismatch\n");
		return 1;
	}
	vmm_config_init(&cfg);
	cfg.ram_size = 1 << 20;
	ret = vmm_vm_create(&cfg, &vm);
	if (ret == -ENODEV) { /* no backend usable here: still linked fine */
		printf("libvmm %s linked; no backend here\n", vmm_version_string());
		return 0;
	}
	if (ret) {
		fprintf(stderr, "vmm_vm_create: %s\n", vmm_strerror(ret));
		return 1;
	}
	printf("libvmm %s: VM on %s\n", vmm_version_string(),
	       vmm_backend_name(vmm_vm_backend(vm)));
	vmm_vm_destroy(vm);
	return 0;
}
EOC
# pkg-config paths must point into the staging area
export PKG_CONFIG_PATH="$pc"
export PKG_CONFIG_SYSROOT_DIR="$stage"
cflags=$(pkg-config --cflags libvmm)
libs=$(pkg-config --libs libvmm)
cc -Wall -Werror -o "$tmp/hello" "$tmp/hello.c" $cflags $libs
libdir=$(pkg-config --variable=libdir libvmm)
LD_LIBRARY_PATH="$libdir" "$tmp/hello"
# and statically
static_libs=$(pkg-config --static --libs libvmm | sed 's/-lvmm\b//; s/-L[^ ]*//g')
cc -o "$tmp/hello-static" "$tmp/hello.c" $cflags "$libdir/libvmm.a" $static_libs
"$tmp/hello-static"
# no internal symbol may leak out of the shared library
if nm -D --defined-only "$libdir/libvmm.so" | awk '{print $3}' | grep -v '^vmm_' | grep -v '^LIBVMM' | grep .; then
	echo "unexpected exported symbols"; exit 1
fi
if nm -D --defined-only "$libdir/libvmm.so" | awk '{print $3}' | grep -E '^vmm__|^vmm_gmem_'; then
	echo "internal symbols exported"; exit 1
fi
# nor out of the static archive: a static link must not bring soft_*,
# kvm_*, lapic_* or vmm__* into the embedder's namespace
if nm -g --defined-only "$libdir/libvmm.a" | awk 'NF == 3 {print $3}' | grep -v '^vmm_' | grep .; then
	echo "libvmm.a exports non-vmm_ symbols"; exit 1
fi
if nm -g --defined-only "$libdir/libvmm.a" | awk 'NF == 3 {print $3}' | grep '^vmm__'; then
	echo "libvmm.a exports internal vmm__ symbols"; exit 1
fi
# the generated version header is installed and agrees with the library
grep -q "LIBVMM_VERSION_STRING \"$(LD_LIBRARY_PATH="$libdir" "$tmp/hello" >/dev/null && pkg-config --modversion libvmm)\"" \
	"$(pkg-config --variable=includedir libvmm)/libvmm/version.h" || {
	echo "version.h missing or not the library's version"; exit 1; }
# a man page per public call
nman=$(find "$root" -path '*man3/vmm_*.3' | wc -l)
[ -f "$(find "$root" -path '*man3/vmm_vm_create.3' | head -n1)" ] && [ "$nman" -ge 100 ] || {
	echo "man pages missing ($nman found)"; exit 1; }
echo "install check ok: $nman man pages, $(nm -D --defined-only "$libdir/libvmm.so" | grep -c ' T ') calls exported (shared), $(nm -g --defined-only "$libdir/libvmm.a" | awk 'NF == 3' | wc -l) global symbols in libvmm.a"
