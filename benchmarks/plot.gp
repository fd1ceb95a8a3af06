# The chart of benchmarks/results/latest.png, drawn by tapegrad_bench:
#   gnuplot -e "datadir='DIR'; outfile='latest.png'; nimpl=5; nswept=3; maintitle='...'" plot.gp
# DIR holds ratios_f64.dat / ratios_f32.dat (workload, then one ratio column per implementation)
# and sweep_batch.dat / sweep_width.dat (size, then one step time in ms per swept implementation).
set terminal pngcairo size 1500,1050 font "DejaVu Sans,10" noenhanced
set output outfile
set multiplot layout 2,2 title maintitle font ",12"

set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.5:*]
set grid ytics mytics
set key top left
set xtics rotate by -25
set ylabel "time / hand-written reference (log scale)"

set title "1 thread, float64: ratio to the hand-written reference (lower is better)"
plot for [i=2:nimpl+1] datadir.'/ratios_f64.dat' using i:xtic(1) title columnheader(i), \
     1 with lines lt -1 dt 2 notitle

set title "1 thread, float32: ratio to the hand-written reference (lower is better)"
plot for [i=2:nimpl+1] datadir.'/ratios_f32.dat' using i:xtic(1) title columnheader(i), \
     1 with lines lt -1 dt 2 notitle

unset style
set style data linespoints
set logscale xy 2
set xtics norotate
set yrange [*:*]
set format y "%g"
set ylabel "ms per SGD step (log scale)"

set title "W4 step time vs batch size (784-512-512-10, sigmoid, 1 thread, float64)"
set xlabel "batch size"
plot for [i=2:nswept+1] datadir.'/sweep_batch.dat' using 1:i title columnheader(i) lw 2 pt 7

set title "W4 step time vs width (784-H-H-10, batch 256, sigmoid, 1 thread, float64)"
set xlabel "hidden width H"
plot for [i=2:nswept+1] datadir.'/sweep_width.dat' using 1:i title columnheader(i) lw 2 pt 7

unset multiplot
