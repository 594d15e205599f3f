#!/bin/sh
# Use libvmm as a meson subproject from a tiny outside project, exactly as
# README "Use from your project" says: subprojects/libvmm (here a symlink
# to this source tree), dependency('libvmm'), build, run.  Also checks that
# the parent gets only the library: no libvmm tests, examples or benches.
# Usage: check-subproject.sh LIBVMM_SOURCE_ROOT
set -eu
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/proj/subprojects"
ln -s "$src" "$tmp/proj/subprojects/libvmm"
cat > "$tmp/proj/meson.build" <<'EOM'
project('uses-libvmm', 'c', default_options : ['default_library=static'])
libvmm = dependency('libvmm', fallback : ['libvmm', 'libvmm_dep'])
executable('hello', 'hello.c', dependencies : libvmm)
EOM
cat > "$tmp/proj/hello.c" <<'EOC'
#include <libvmm/libvmm.h>
#include <errno.h>
#include <stdio.h>
/* names libvmm uses internally: with a leaky libvmm.a this program would
 * not link (multiple definition) */
int kvm_ioctl(void) { return 1; }
int soft_decode(void) { return 2; }
int main(void)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	int ret;

	if (!vmm_check_version(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR, 0) ||
	    kvm_ioctl() + soft_decode() != 3)
		return 1;
	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = 1 << 20;
	ret = vmm_vm_create(&cfg, &vm);
	if (ret) {
		fprintf(stderr, "vmm_vm_create: %s\n", vmm_strerror(ret));
		return 1;
	}
	printf("libvmm %s as a subproject: VM on %s\n", vmm_version_string(),
	       vmm_backend_name(vmm_vm_backend(vm)));
	vmm_vm_destroy(vm);
	return 0;
}
EOC
cd "$tmp/proj"
meson setup b >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
ntests=$(meson introspect b --tests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
ntargets=$(meson introspect b --targets | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin) if t.get("subproject") == "libvmm"))')
installed=$(meson introspect b --installed | python3 -c 'import json,sys; print(" ".join(sorted(v.rsplit("/",1)[-1] for v in json.load(sys.stdin).values())))')
echo "libvmm targets in the parent: $ntargets, tests: $ntests; installed files: $(echo $installed | wc -w)"
[ "$ntests" -eq 0 ] || { echo "FAIL: the parent got libvmm's tests"; exit 1; }
case " $installed " in
*" vmm-run "*|*" vmm-bench "*|*" vmm-migrate "*|*" vhost-user-blk "*)
	echo "FAIL: the parent would install libvmm's programs"; exit 1 ;;
esac
ninja -C b >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; exit 1; }
./b/hello
echo "subproject check ok"
