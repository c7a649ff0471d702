# lib.sh: sourced by the scripts here.

# fresh_server TAG BIN: a fresh log in data_TAG and bin/BIN serving it,
# with the configuration CFG (default cfg.json) and the environment ENVV;
# sets SP to the server's process.
fresh_server() {
  rm -rf data_$1; mkdir data_$1
  env ${ENVV:-X=1} bin/$2 -config ${CFG:-cfg.json} -data data_$1 -issuer keys/load.example > srv_$1.log 2>&1 &
  SP=$!
  sleep 2
}

# sample_rss TAG: the server's RSS in KiB every 0.5 s, into rss_TAG.txt,
# until it stops.
sample_rss() {
  : > rss_$1.txt
  ( while kill -0 $SP 2>/dev/null; do grep VmRSS /proc/$SP/status 2>/dev/null | awk '{print $2}' >> rss_$1.txt; sleep 0.5; done ) &
}
