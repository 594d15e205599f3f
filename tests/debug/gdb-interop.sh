#!/bin/sh
# Real gdb against libvmm's gdb stub (vmm-run --gdb): breakpoint, continue,
# registers, stepi, memory with a planted breakpoint hidden, a register
# write that changes what the guest does, and the guest's exit reported.
#   gdb-interop.sh VMM_RUN BACKEND
# Skips (77) without gdb, or for kvm without a usable /dev/kvm.
set -u
vmm_run=$1
backend=$2
if [ "$backend" = kvm ] && [ ! -w /dev/kvm ]; then
	echo "no /dev/kvm"; exit 77
fi
. "$(dirname "$0")/gdb-common.sh"
# 0x100000: inc rax; inc rbx; cmp rax, 0x1000; jne 0x100000;
#           mov al, 42; out 0xf4, al; jmp .
printf '\110\377\300\110\377\303\110\075\000\020\000\000\165\362\260\052\346\364\353\376' > "$dir/guest.bin"
gdb_start "$vmm_run" --backend "$backend" --quiet --mode long64-user \
	--load-addr 0x100000 --kernel "$dir/guest.bin"
timeout 60 gdb -batch -nx \
	-ex "target remote $dir/sock" \
	-ex 'info registers rip' \
	-ex 'break *0x100003' \
	-ex continue \
	-ex 'info registers rip rax' \
	-ex stepi \
	-ex 'info registers rip rbx' \
	-ex 'x/4bx 0x100003' \
	-ex 'continue' \
	-ex 'print $rax' \
	-ex 'set $rax=0xff0' \
	-ex 'info registers cs eflags cr0 efer' \
	-ex 'info threads' \
	-ex delete \
	-ex continue > "$dir/gdb.out" 2>&1
gdb_finish
expect '^rip  *0x100000 '
expect '^Breakpoint 1, 0x0000000000100003'
expect '^rax  *0x1  *1$'
expect '^rip  *0x100006 '
expect '^rbx  *0x1  *1$'
expect '^0x100003:.0x48.0xff.0xc3.0x48$'
expect '^\$1 = 2$'
expect '^cs  *0x3b '
expect 'Thread 1'
expect 'exited with code 0125'
[ "$st" = 85 ] || { echo "vmm-run exit status $st, want 85"; fail=1; }
exit $fail
