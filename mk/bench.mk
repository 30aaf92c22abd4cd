# bench-peers: `make bench` with other servers as extra columns (optional,
# not part of CI): cqueues, luv and LuaSocket servers on Lua, and Go's net.
# bench/peers/setup.sh installs their Debian packages when missing;
# BENCH_QUICK, BENCH_REPS, BENCH_SECS, BENCH_IDLE_CONNS apply as for bench.
BENCH_PEER_LIST ?= cqueues luv luasocket go

.PHONY: bench-peers
bench-peers: all
	bash bench/peers/setup.sh
	BENCH_PEERS="$(BENCH_PEER_LIST)" bash bench/bench.sh
