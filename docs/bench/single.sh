#!/bin/bash
# single.sh TAG BIN [CLIENTS]: a fresh log, then one run of EVENTS events
# (default 40,000) sent one per request by CLIENTS clients (default 64);
# the bytes of the server's write system calls (wchar) and the batch
# metrics. PROF=N takes a CPU profile of N seconds, 3 s into the run.
set -u
TAG=$1; BIN=$2; CLIENTS=${3:-64}
. ./lib.sh
fresh_server $TAG $BIN
io() { grep -E "^$1:" /proc/$SP/io | awk '{print $2}'; }
C0=$(io wchar)
CP=
if [ -n "${PROF:-}" ]; then
  ( sleep 3; curl -s -o cpu_$TAG.prof "http://127.0.0.1:18081/debug/pprof/profile?seconds=$PROF" ) &
  CP=$!
fi
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG -events ${EVENTS:-40000} -batch 1 -concurrency $CLIENTS > s_$TAG.out 2>&1
[ -z "$CP" ] || wait $CP
echo "wchar $(($(io wchar) - C0))" >> s_$TAG.out
batch_metrics s_$TAG.out
kill $SP; wait $SP
rm -rf data_$TAG
