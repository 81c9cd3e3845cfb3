#!/usr/bin/env bash
# run.sh runs Ion's benchmarks side by side with its peers and writes
# RESULTS.md. Run it from anywhere:
#
#   bench/run.sh                  # full run: -cpu=1,2 -count=6 -benchtime=200ms, ~7 minutes on 2 vCPUs
#   COUNT=10 bench/run.sh         # more samples
#   BENCH=Composed COUNT=3 bench/run.sh   # a subset (a -bench regexp)
#   REPORT_ONLY=1 bench/run.sh    # rewrite RESULTS.md from the kept results.txt and loadlat.json
#
# Outputs, all in bench/: results.txt (the raw go test output, kept),
# loadlat.json (cmd/loadlat's figures, kept) and RESULTS.md. Profiles of a
# missed bar go into findings.md by hand; the report includes that file.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

COUNT="${COUNT:-6}"
BENCHTIME="${BENCHTIME:-200ms}"
CPU="${CPU:-1,2}"
BENCH="${BENCH:-.}"
LOADLAT_DURATION="${LOADLAT_DURATION:-5s}"
LOADLAT_GOROUTINES="${LOADLAT_GOROUTINES:-1000}"
# benchstat has no tagged release; pin the pseudo-version.
BENCHSTAT="golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

loadavg() { cut -d' ' -f1 /proc/loadavg; }

if [[ -z "${REPORT_ONLY:-}" ]]; then
	echo "run.sh: go test -bench='${BENCH}' -cpu=${CPU} -count=${COUNT} -benchtime=${BENCHTIME}" >&2
	# The "key: value" lines describe the run to cmd/report (benchstat reads
	# them as configuration).
	{
		echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "go: $(go version)"
		echo "nproc: $(nproc)"
		echo "count: ${COUNT}"
		echo "benchtime: ${BENCHTIME}"
		echo "cpus: ${CPU}"
		echo "load-before: $(loadavg)"
		go test -run='^$' -bench="${BENCH}" -benchtime="${BENCHTIME}" -count="${COUNT}" -cpu="${CPU}" .
		echo "load-after: $(loadavg)"
	} >results.txt.new
	mv results.txt.new results.txt

	echo "run.sh: loadlat -duration=${LOADLAT_DURATION} -goroutines=${LOADLAT_GOROUTINES}" >&2
	go run ./cmd/loadlat -duration="${LOADLAT_DURATION}" -goroutines="${LOADLAT_GOROUTINES}" -json=loadlat.json.new
	mv loadlat.json.new loadlat.json
fi

statfile="$(mktemp)"
trap 'rm -f "${statfile}"' EXIT
go run "${BENCHSTAT}" results.txt >"${statfile}"

go run ./cmd/report \
	-raw=results.txt -gomod=go.mod -loadlat=loadlat.json \
	-benchstat="${statfile}" -findings=findings.md -out=RESULTS.md
echo "run.sh: wrote $(pwd)/RESULTS.md" >&2
