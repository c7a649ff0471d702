#!/bin/bash
# rd.sh TAG BIN: a fresh log, two batched runs of 100,000 events (seeds
# TAG-a, TAG-b), 7 s for a map-root entry, then two map-proof read runs.
set -u
TAG=$1; BIN=$2
rm -rf data_$TAG; mkdir data_$TAG
bin/$BIN -config cfg.json -data data_$TAG -issuer keys/load.example > srv_$TAG.log 2>&1 &
SP=$!
sleep 2
for s in a b; do
  bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-$s -events 100000 -batch 1000 -concurrency 4 > rdw_${TAG}_$s.out 2>&1
done
sleep 7
for i in 1 2; do
  bin/credload read -url http://127.0.0.1:18080 -mode maps -seed $TAG-a -events 100000 -concurrency 32 -duration 10s -warmup 3s >> rdr_$TAG.out 2>&1
done
kill $SP; wait $SP
rm -rf data_$TAG
