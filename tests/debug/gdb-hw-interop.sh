#!/bin/sh
# Real gdb against vmm-run --gdb with a guest that has its own IDT and
# executes INT3 three times (its #BP handler counts them in a variable):
#   - `watch` on that variable stops with the old and new value (Z2);
#   - `hbreak` stops before its instruction (Z1);
#   - the guest's own INT3s never stop gdb and reach the guest (count 3,
#     exit code 3).
#   gdb-hw-interop.sh VMM_RUN TEST_GDB_HW BACKEND
# Skips (77) without gdb; for kvm without /dev/kvm or when TEST_GDB_HW's
# run-time probe finds that this host's KVM cannot debug CPL0 code (the
# reason is printed).
set -u
vmm_run=$1
probe=$2
backend=$3
if [ "$backend" = kvm ]; then
	[ -w /dev/kvm ] || { echo "no /dev/kvm"; exit 77; }
	"$probe" kvm probe || exit $?
fi
. "$(dirname "$0")/gdb-common.sh"
# the image of tests/debug/test_gdb_hw.c (32-bit, CPL0, at 0x100000):
#  00 mov esp, 0x100800; mov ax, cs; mov [0x10011a], ax; lidt [0x100140]
#  15 mov ecx, 3
#  1a int3; loop 1a
#  1d mov eax, [0x100150]; out 0xf4, al; jmp $
#  26 handler: inc dword [0x100150]; iretd
# 118: IDT gate 3; 140: IDTR; 150: the #BP count
{
	printf '\274\000\010\020\000\146\214\310\146\243\032\001\020\000\017\001\035\100\001\020\000\271\003\000\000\000\314\342\375\241\120\001\020\000\346\364\353\376\377\005\120\001\020\000\317'
	head -c $((0x118 - 45)) /dev/zero
	printf '\046\000\000\000\000\216\020\000'
	head -c $((0x140 - 0x120)) /dev/zero
	printf '\037\000\000\001\020\000'
	head -c $((0x154 - 0x146)) /dev/zero
} > "$dir/guest.bin"
gdb_start "$vmm_run" --backend "$backend" --quiet --mode prot32 \
	--load-addr 0x100000 --kernel "$dir/guest.bin"
timeout 60 gdb -batch -nx ${GDB_DEBUG:+-ex 'set debug remote 1'} \
	-ex "target remote $dir/sock" \
	-ex 'watch *(int *)0x100150' \
	-ex continue \
	-ex 'info registers rip' \
	-ex delete \
	-ex 'hbreak *0x10001d' \
	-ex continue \
	-ex 'print *(int *)0x100150' \
	-ex delete \
	-ex continue > "$dir/gdb.out" 2>&1
gdb_finish
expect '^Hardware watchpoint 1: \*(int \*)0x100150'
expect '^Old value = 0$'
expect '^New value = 1$'
expect '^rip  *0x10002c '
expect '^Hardware assisted breakpoint 2 at 0x10001d'
expect '^Breakpoint 2, 0x000000000010001d'
expect '^\$1 = 3$'
expect 'exited with code 07'
[ "$st" = 7 ] || { echo "vmm-run exit status $st, want 7"; fail=1; }
exit $fail
