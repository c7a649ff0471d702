#!/bin/bash
# wprof.sh TAG BIN: a copy of the log data_G3 (SRC= another), one batched
# run of 100,000 events as in ab.sh, with a CPU profile of 20 s taken
# 20 s into it; then the batch metrics. CFG= and ENVV= as for run.sh.
set -u
TAG=$1; BIN=$2
. ./lib.sh
copied_server ${SRC:-data_G3} $TAG $BIN
( sleep 20; curl -s -o cpu_$TAG.prof "http://127.0.0.1:18081/debug/pprof/profile?seconds=20" ) &
CP=$!
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed wp-$TAG -events 100000 -batch 1000 -concurrency 4 > wp_$TAG.out 2>&1
wait $CP
batch_metrics wp_$TAG.out
kill $SP; wait $SP
rm -rf data_$TAG
