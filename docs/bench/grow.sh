#!/bin/bash
# grow.sh DATA TAG BIN ROUNDS: bin/BIN serving the log in the directory
# DATA (which it keeps), then ROUNDS batched runs of 100,000 events one
# after another, the server's RSS every 0.5 s; a file stop_TAG ends the
# series after the run in progress. CFG= and ENVV= as for run.sh.
set -u
DATA=$1; TAG=$2; BIN=$3; N=$4
. ./lib.sh
serve $DATA $TAG $BIN
sleep 3
sample_rss $TAG
last=0
for r in $(seq 1 $N); do
  [ -e stop_$TAG ] && break
  bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-$r -events 100000 -batch 1000 -concurrency 4 > w_${TAG}_$r.out 2>&1
  last=$r
done
kill $SP; wait $SP
if [ $last -gt 0 ]; then echo "peak RSS KiB $(sort -n rss_$TAG.txt | tail -1)" >> w_${TAG}_$last.out; fi
