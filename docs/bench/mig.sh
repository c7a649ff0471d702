#!/bin/bash
# mig.sh SRC DST BIN: copies the log SRC to DST and opens it with BIN (which migrates it), timing the open until /checkpoint answers
cd /tmp/bench
rm -rf $2; cp -r $1 $2; sync
S=$(date +%s.%N)
bin/$3 -config cfg.json -data $2 -issuer keys/load.example > srv_mig_$2.log 2>&1 & P=$!
until curl -sf http://127.0.0.1:18080/checkpoint > /dev/null; do sleep 0.5; done
E=$(date +%s.%N)
kill $P; wait $P
echo "open $2 with $3: $(echo "$E - $S" | bc) s" >> mig.log
