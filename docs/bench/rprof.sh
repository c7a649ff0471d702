#!/bin/bash
# rprof.sh DATA TAG BIN MODE: bin/BIN serving the log in the directory
# DATA, then 20 s of reads of MODE (32 clients, after a 3 s warm-up),
# with a CPU profile of 10 s taken 8 s into them. CFG= and ENVV= as for
# run.sh.
set -u
DATA=$1; TAG=$2; BIN=$3; M=$4
. ./lib.sh
serve $DATA $TAG $BIN
sleep 3
( sleep 8; curl -s -o cpu_$TAG.prof "http://127.0.0.1:18081/debug/pprof/profile?seconds=10" ) &
CP=$!
bin/credload read -url http://127.0.0.1:18080 -mode $M ${RARGS:-} -concurrency 32 -duration 20s -warmup 3s > rp_${TAG}.out 2>&1
wait $CP
kill $SP; wait $SP
