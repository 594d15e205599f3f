# density.gp - the chart of bench/density.sh: resident memory per VM beyond
# the guest's touched pages, and creation time per VM, against the number
# of idle VMs in one process (log scales).  Input: dir/<series>.dat
# ("vms per_vm_kib create_us"), one per backend-irqchip pair and raw-kvm.
set terminal pngcairo size 1100,480 font ",10" noenhanced
set output png
set logscale xy
set grid
set key top left
set xlabel "idle VMs in one process"
set xtics ("10" 10, "100" 100, "1000" 1000)
set multiplot layout 1,2 title "libvmm density (vmm-bench density, measured; 1 vCPU, 64 MiB RAM per VM)"
set title "RSS per VM beyond touched guest pages (KiB)"
set ylabel "KiB per VM"
plot for [s in series] dir."/".s.".dat" using 1:2 with linespoints lw 2 title s
set title "creation time per VM (us): create + run to the first exit"
set ylabel "us per VM"
plot for [s in series] dir."/".s.".dat" using 1:3 with linespoints lw 2 title s
unset multiplot
