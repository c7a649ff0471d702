#!/bin/bash
# single.sh TAG BIN [CLIENTS]: a fresh log, then one run of 40,000 events
# sent one per request by CLIENTS clients (default 64); then the batch
# metrics.
set -u
TAG=$1; BIN=$2; CLIENTS=${3:-64}
. ./lib.sh
fresh_server $TAG $BIN
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG -events 40000 -batch 1 -concurrency $CLIENTS > s_$TAG.out 2>&1
batch_metrics s_$TAG.out
kill $SP; wait $SP
rm -rf data_$TAG
