#!/bin/bash
# reads.sh DATA TAG BIN: bin/BIN serving the log in the directory DATA,
# then tile reads and server-built inclusion proofs alternately, two runs
# of each (32 clients, 10 s after a 3 s warm-up).
# CFG= and ENVV= as for run.sh.
set -u
DATA=$1; TAG=$2; BIN=$3
. ./lib.sh
serve $DATA $TAG $BIN
sleep 3
for i in 1 2; do
  for m in tiles proofs; do
    bin/credload read -url http://127.0.0.1:18080 -mode $m -concurrency 32 -duration 10s -warmup 3s > r_${TAG}_${m}_$i.out 2>&1
  done
done
kill $SP; wait $SP
