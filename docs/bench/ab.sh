#!/bin/bash
# ab.sh TAG BIN: a copy of the log data_S1, one batched run of 100,000
# events, and the bytes the server wrote meanwhile.
set -u
TAG=$1; BIN=$2
rm -rf data_$TAG; cp -r data_S1 data_$TAG
env ${ENVV:-X=1} bin/$BIN -config ${CFG:-cfg.json} -data data_$TAG -issuer keys/load.example > srv_$TAG.log 2>&1 &
SP=$!
sleep 3
R0=$(grep -E '^write_bytes' /proc/$SP/io | awk '{print $2}')
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed ab-$TAG -events 100000 -batch 1000 -concurrency 4 > ab_$TAG.out 2>&1
R1=$(grep -E '^write_bytes' /proc/$SP/io | awk '{print $2}')
echo "write_bytes $((R1-R0))" >> ab_$TAG.out
kill $SP; wait $SP
rm -rf data_$TAG
