#!/bin/bash
# vac.sh SRC: a VACUUMed copy of the log SRC; its size and the bytes of each table (dbstat) into vac_SRC.txt
cd /tmp/bench
rm -rf data_V$1; cp -r $1 data_V$1
sqlite3 data_V$1/log.db "PRAGMA journal_mode=DELETE; VACUUM; PRAGMA journal_mode=WAL;" > /dev/null
ls -l data_V$1/log.db > vac_$1.txt
sqlite3 "file:data_V$1/log.db?immutable=1" "SELECT size FROM tree; SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC" >> vac_$1.txt
rm -rf data_V$1
echo done >> vac_$1.txt
