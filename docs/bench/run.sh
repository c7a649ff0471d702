#!/bin/bash
# run.sh TAG BIN ROUNDS: a fresh log, then ROUNDS batched runs of 100,000
# events; samples the server's RSS every 0.5 s.
set -u
TAG=$1; BIN=$2; ROUNDS=$3
. ./lib.sh
fresh_server $TAG $BIN
sample_rss $TAG
for r in $(seq 1 $ROUNDS); do
  bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-r$r -events 100000 -batch 1000 -concurrency 4 > w_${TAG}_$r.out 2>&1
done
curl -s -o heap_$TAG.prof http://127.0.0.1:18081/debug/pprof/heap
kill $SP; wait $SP
echo "maxrss_kib $(sort -n rss_$TAG.txt | tail -1)" >> w_${TAG}_$ROUNDS.out
ls -l data_$TAG >> w_${TAG}_$ROUNDS.out
