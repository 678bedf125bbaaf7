# Plot of the fanout series written by bench/compare.py (fanout.dat):
#   gnuplot -e "datafile='OUT/fanout.dat'; outfile='docs/benchmarks-fanout.svg'" bench/plot.gp
# Columns: subs, notifyd p50 p99 max cpu_s_per_M, nchan p50 p99 max cpu_s_per_M
if (!exists("datafile")) datafile = 'fanout.dat'
if (!exists("outfile")) outfile = 'benchmarks-fanout.svg'
if (!exists("term")) term = 'svg size 1000,420 dynamic font "sans,11" background rgb "white"'
set terminal @term
set output outfile
set multiplot layout 1,2 title "notifyd vs Nchan, fan-out on one channel (medians; 2-core VM, load generator on the same cores)"
set logscale x
set xlabel "subscribers"
set grid
set key top left
set xrange [70:14000]
set xtics (100, 1000, 5000, 10000)
set logscale y
set ylabel "publish-to-receive latency, ms"
set title "latency percentiles"
plot datafile u 1:2 w lp lw 2 pt 7 lc rgb "#1f77b4" t "notifyd p50", \
     ''       u 1:3 w lp lw 2 pt 5 lc rgb "#1f77b4" dt 2 t "notifyd p99", \
     ''       u 1:6 w lp lw 2 pt 7 lc rgb "#d62728" t "Nchan p50", \
     ''       u 1:7 w lp lw 2 pt 5 lc rgb "#d62728" dt 2 t "Nchan p99"
unset logscale y
set yrange [0:*]
set key bottom left
set ylabel "server CPU seconds per 1 M deliveries"
set title "CPU per delivery (utime+stime)"
plot datafile u 1:5 w lp lw 2 pt 7 lc rgb "#1f77b4" t "notifyd", \
     ''       u 1:9 w lp lw 2 pt 7 lc rgb "#d62728" t "Nchan"
unset multiplot
