# device-models.gp - the chart of bench/device-models.sh: for each workload
# (console, block) the exits per KiB moved and the MiB/s of each device
# model, on log scales.  Zero exits are drawn at 0.001 and labelled "0".
# Input: dir/console.dat and dir/block.dat ("model exits_per_kib mib_per_s").
set terminal pngcairo size 1100,760 font ",10" noenhanced
set output png
set style fill solid 0.85 border -1
set boxwidth 0.6
set logscale y
set grid ytics
set key off
set xrange [-0.6:2.6]
set multiplot layout 2,2 title "libvmm device models on KVM (vmm-bench device-models, measured)"
fl(x) = x > 0.001 ? x : 0.001
lbl(x) = x > 0 ? sprintf("%.3g", x) : "0"
do for [w in "console block"] {
  set title sprintf("%s: exits per KiB (lower is better)", w)
  set yrange [0.0005:*]
  f = dir . "/" . w . ".dat"
  plot f using 0:(fl($2)):xtic(1) with boxes lc rgb "#4472c4", \
       f using 0:(fl($2)):(lbl($2)) with labels offset 0,0.8
}
do for [w in "console block"] {
  set title sprintf("%s: MiB/s (higher is better)", w)
  set yrange [*:*]
  f = dir . "/" . w . ".dat"
  plot f using 0:3:xtic(1) with boxes lc rgb "#ed7d31", \
       f using 0:3:(sprintf("%.3g", $3)) with labels offset 0,0.8
}
unset multiplot
