#!/bin/bash
# mem.sh TAG BIN ROUNDS: a fresh log, then ROUNDS batched runs of 100,000
# events; during the last, three heap profiles and the server's RSS
# breakdown, 5 s apart. ENVV= and CFG= as for run.sh.
set -u
TAG=$1; BIN=$2; ROUNDS=$3
. ./lib.sh
fresh_server $TAG $BIN
sample_rss $TAG
HP=
for r in $(seq 1 $ROUNDS); do
  if [ $r = $ROUNDS ]; then
    ( for i in 1 2 3; do
        sleep 5
        curl -s -o heap_${TAG}_$i.prof http://127.0.0.1:18081/debug/pprof/heap
        grep -E 'VmRSS|RssAnon|RssFile' /proc/$SP/status > st_${TAG}_$i.txt
      done ) &
    HP=$!
  fi
  bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed $TAG-r$r -events 100000 -batch 1000 -concurrency 4 > m_${TAG}_$r.out 2>&1
done
wait $HP
kill $SP; wait $SP
echo "maxrss_kib $(sort -n rss_$TAG.txt | tail -1)" >> m_${TAG}_$ROUNDS.out
