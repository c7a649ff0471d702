#!/bin/bash
# wit.sh TAG BIN: a fresh log with two local witnesses whose cosignatures
# it needs to publish a checkpoint, then open-loop runs, one after another
# on that log: RATE:EVENTS for each of SPECS; CFG= another configuration
# (it must be one line ending in "}").
set -u
TAG=$1; BIN=$2; CFG=${CFG:-cfg.json}
D=dW_$TAG
rm -rf $D; mkdir -p $D
# A first start creates the log's key, which the witnesses must know.
timeout 3 bin/$BIN -config $CFG -data $D/data -issuer keys/load.example > /dev/null 2>&1
ORIGIN=$(cut -d+ -f1 $D/data/log.vkey)
: > $D/policy
for n in 1 2; do
  V=$(bin/credwitness keygen -name w$n -out $D/w$n.key)
  bin/credwitness add-log -db $D/w$n.db -origin "$ORIGIN" -key "$(cat $D/data/log.vkey)" > /dev/null
  bin/credwitness serve -db $D/w$n.db -key $D/w$n.key -listen 127.0.0.1:1838$n -log-level warn > $D/w$n.log 2>&1 &
  echo "witness w$n $V http://127.0.0.1:1838$n" >> $D/policy
done
printf 'group both 2 w1 w2\nquorum both\n' >> $D/policy
sed "s|}\$|,\"witness_policy\":\"$D/policy\"}|" $CFG > $D/cfg.json
sleep 1
bin/$BIN -config $D/cfg.json -data $D/data -issuer keys/load.example > $D/srv.log 2>&1 &
SP=$!
sleep 3
i=0
for spec in ${SPECS:-2000:40000 3000:60000 4000:80000}; do
  i=$((i+1))
  bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed wit-$TAG-$i -events ${spec#*:} -batch 50 -concurrency 64 -rate ${spec%:*} > wit_${TAG}_${spec%:*}.out 2>&1
done
kill $SP; wait $SP
pkill -f "credwitness serve -db $D/"
