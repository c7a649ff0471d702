#!/bin/bash
# cpu.sh TAG BIN: a fresh log, a batched run of 100,000 events, then a
# second with a CPU profile of 10 s taken 5 s into it. ENVV= and CFG= as
# for run.sh.
set -u
TAG=$1; BIN=$2
. ./lib.sh
fresh_server $TAG $BIN
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-r1 -events 100000 -batch 1000 -concurrency 4 > q_${TAG}_1.out 2>&1
( sleep 5; curl -s -o cpu_$TAG.prof "http://127.0.0.1:18081/debug/pprof/profile?seconds=10" ) &
CP=$!
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-r2 -events 100000 -batch 1000 -concurrency 4 > q_${TAG}_2.out 2>&1
wait $CP
kill $SP; wait $SP
