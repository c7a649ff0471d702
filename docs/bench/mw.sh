#!/bin/bash
# mw.sh TAG BIN: a copy of the log data_S3, a batched run of 100,000
# events, and 5 s into it 20 s of map-proof reads for the credentials of
# seed S1-r1 (32 clients), with the default map_epoch of 5 s.
set -u
TAG=$1; BIN=$2
. ./lib.sh
copied_server data_S3 $TAG $BIN
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed mw-$TAG -events 100000 -batch 1000 -concurrency 4 > mww_$TAG.out 2>&1 &
WP=$!
sleep 5
bin/credload read -url http://127.0.0.1:18080 -mode maps -seed S1-r1 -events 100000 -concurrency 32 -duration 20s -warmup 0s > mwr_$TAG.out 2>&1
wait $WP
kill $SP; wait $SP
rm -rf data_$TAG
