#!/bin/bash
# mp.sh DATA TAG BIN: bin/BIN serving the log in the directory DATA, then
# two map-proof read runs for the credentials of seed S1-r1; MODE=lookups
# reads credential lookups instead.
set -u
DATA=$1; TAG=$2; BIN=$3
. ./lib.sh
serve $DATA $TAG $BIN
sleep 4
for i in 1 2; do
  bin/credload read -url http://127.0.0.1:18080 -mode ${MODE:-maps} -seed S1-r1 -events 100000 -concurrency 32 -duration 10s -warmup 3s > mp_${TAG}_$i.out 2>&1
done
kill $SP; wait $SP
