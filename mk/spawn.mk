# bench-spawn: start `true` and wait for it, processes per second, luds
# (luds.exec) against Go's exec.Command("true").Run() in the same run, one at
# a time and SPAWN_K in flight: bench/spawn.sh (medians of 3 alternated runs).
.PHONY: bench-spawn
bench-spawn: all
	@bash bench/spawn.sh
