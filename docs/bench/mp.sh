#!/bin/bash
# mp.sh TAG BIN: two map-proof read runs on the log data_S1, for the
# credentials of its first batched run (seed S1-r1).
set -u
TAG=$1; BIN=$2
bin/$BIN -config cfg.json -data data_S1 -issuer keys/load.example > srv_mp_$TAG.log 2>&1 &
SP=$!
sleep 3
for i in 1 2; do
  bin/credload read -url http://127.0.0.1:18080 -mode maps -seed S1-r1 -events 100000 -concurrency 32 -duration 10s -warmup 3s >> mp_$TAG.out 2>&1
done
kill $SP; wait $SP
