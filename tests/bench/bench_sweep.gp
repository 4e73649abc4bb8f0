# bench_sweep.gp -- draws bench_sweep.sh's sweep.dat: QPS (left) and p99
# latency (right) against concurrency for servicelogs gRPC / REST, grpc++
# async and nginx static. Called as:
#   gnuplot -e "dat='DIR/sweep.dat'; out='DIR/sweep.png'; sub='TEXT'" tests/bench/bench_sweep.gp
if (!exists("sub")) sub = ""
set terminal pngcairo size 1000,420 font "DejaVu Sans,9" noenhanced
set output out
set multiplot layout 1,2 title "QueryServiceLogs (mnist) on 2 cores, loopback; load generator on the same cores  ".sub
set logscale x 2
set xtics ("1" 1, "8" 8, "32" 32, "128" 128, "512" 512)
set xrange [0.8:640]
set xlabel "concurrency (gRPC streams / HTTP connections)"
set grid
set key bottom right
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.8
set style line 2 lc rgb "#1f77b4" lw 2 pt 5 ps 0.8 dt 2
set style line 3 lc rgb "#d62728" lw 2 pt 7 ps 0.8
set style line 4 lc rgb "#d62728" lw 2 pt 5 ps 0.8 dt 2
set ylabel "requests per second"
set format y "%.0s%c"
set yrange [0:*]
plot dat u 1:2 w lp ls 1 t "servicelogs gRPC", \
     dat u 1:4 w lp ls 2 t "grpc++ async (cpp-async)", \
     dat u 1:6 w lp ls 3 t "servicelogs REST", \
     dat u 1:8 w lp ls 4 t "nginx static file"
set ylabel "p99 latency (ms)"
set logscale y 10
set format y "%g"
set yrange [*:*]
set key bottom right
plot dat u 1:3 w lp ls 1 t "servicelogs gRPC", \
     dat u 1:5 w lp ls 2 t "grpc++ async (cpp-async)", \
     dat u 1:7 w lp ls 3 t "servicelogs REST", \
     dat u 1:9 w lp ls 4 t "nginx static file"
unset multiplot
