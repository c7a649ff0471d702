#!/bin/bash
# ab.sh TAG BIN: a copy of the log data_S1 (or of SRC), one batched run of 100,000
# events; what the server wrote meanwhile: the bytes of its write system
# calls (wchar), its write_bytes, and the sectors the disk wrote; and the
# batch metrics. With a configuration that logs at debug level (CFG=),
# srv_TAG.log has a line per map-root entry.
set -u
TAG=$1; BIN=$2
. ./lib.sh
copied_server ${SRC:-data_S1} $TAG $BIN
io() { grep -E "^$1:" /proc/$SP/io | awk '{print $2}'; }
sectors() { awk '{print $7}' /sys/block/${DISK:-vda}/stat; }
C0=$(io wchar); W0=$(io write_bytes); D0=$(sectors)
bin/credload write -url http://127.0.0.1:18080 -key keys/load.example.key -seed ab-$TAG -events 100000 -batch 1000 -concurrency 4 > ab_$TAG.out 2>&1
echo "wchar $(($(io wchar) - C0))" >> ab_$TAG.out
echo "write_bytes $(($(io write_bytes) - W0))" >> ab_$TAG.out
echo "disk_sectors_written $(($(sectors) - D0))" >> ab_$TAG.out
batch_metrics ab_$TAG.out
kill $SP; wait $SP
rm -rf data_$TAG
