# bench-workers: examples/echo_workers.lua over 1 worker and over WORKERS
# workers (default: one per CPU) with the load generator, Go's echo server
# (GOMAXPROCS=WORKERS, when go is installed) and the C reference (one
# thread) beside them, the scaling factor
# N/1, and a reload (SIGHUP) under a dialling load: failed conns and the
# reload time. BENCH_QUICK, BENCH_REPS and BENCH_SECS apply as for bench.
WORKERS ?= $(shell nproc)

.PHONY: bench-workers
bench-workers: all
	WORKERS=$(WORKERS) bash bench/workers.sh
