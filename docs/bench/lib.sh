# lib.sh: sourced by the scripts here.

# serve DATA TAG BIN: bin/BIN serving the log in the directory DATA,
# with the configuration CFG (default cfg.json) and the environment ENVV,
# its output in srv_TAG.log; sets SP to the server's process.
serve() {
  env ${ENVV:-X=1} bin/$3 -config ${CFG:-cfg.json} -data $1 -issuer keys/load.example > srv_$2.log 2>&1 &
  SP=$!
}

# batch_metrics FILE: appends the server's batch counts, sizes and times
# (and the commits') to FILE.
batch_metrics() {
  curl -s http://127.0.0.1:18080/metrics | grep -E '^credlog_(commit_seconds|batch_seconds|batch_entries)_(sum|count)' >> $1
}

# fresh_server TAG BIN: a fresh log in data_TAG, served as serve says.
fresh_server() {
  rm -rf data_$1; mkdir data_$1
  serve data_$1 $1 $2
  sleep 2
}

# copied_server SRC TAG BIN: a copy of the log in the directory SRC, in
# data_TAG, served as serve says; returns once the server has had 3 s to
# open it.
copied_server() {
  rm -rf data_$2; cp -r $1 data_$2; sync
  serve data_$2 $2 $3
  sleep 3
}

# sample_rss TAG: the server's RSS in KiB every 0.5 s, into rss_TAG.txt,
# until it stops.
sample_rss() {
  : > rss_$1.txt
  ( while kill -0 $SP 2>/dev/null; do grep VmRSS /proc/$SP/status 2>/dev/null | awk '{print $2}' >> rss_$1.txt; sleep 0.5; done ) &
}
