#!/bin/bash
# pat.sh ENGINE DIR PRE TAG [ARGS...]: one run of bin/storepattern (built
# from docs/bench/storepattern) on the store in the directory DIR, loading
# PRE events first, then timing 100,000; its CPU time and peak RSS
# (/usr/bin/time), and the bytes of DIR at the end. ARGS go to
# storepattern (-cache 128 for a cache of 128 MiB).
set -u
E=$1; D=$2; P=$3; T=$4; shift 4
echo "load $(cut -d' ' -f1 /proc/loadavg) $(date -u +%H:%M:%S)" > pat_$T.out
/usr/bin/time -f 'cpu %U user %S sys, peak rss %M KiB, wall %e s' \
	bin/storepattern -engine "$E" -dir "$D" -pre "$P" -run 100000 "$@" >> pat_$T.out 2>&1
echo "du $(du -sb "$D" | cut -f1)" >> pat_$T.out
