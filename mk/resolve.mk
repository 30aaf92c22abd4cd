# bench-resolve: dial by number, by localhost (answered without a lookup)
# and by a name from /etc/hosts (getaddrinfo on the worker pool), in
# connections per second; then a 10 ms ticker's worst lateness during 1,000
# lookups in flight (target: 5 ms at most). The name is bench.test in a
# private mount and network namespace (unshare, as root), so the lookup
# reads this run's hosts file and no query can leave the machine; without
# unshare the name columns show n/a.
RESOLVE_DIALS ?= 20000
RESOLVE_FLIGHT ?= 1000
RESOLVE_DIR := $(BUILD)/bench/resolve

.PHONY: bench-resolve
bench-resolve: all
	@mkdir -p $(RESOLVE_DIR)
	@printf '127.0.0.1 bench.test\n' >$(RESOLVE_DIR)/hosts
	@printf 'hosts: files\n' >$(RESOLVE_DIR)/nsswitch.conf
	@$(BUILD)/luds bench/resolve.lua dial 127.0.0.1: $(RESOLVE_DIALS)
	@$(BUILD)/luds bench/resolve.lua dial localhost: $(RESOLVE_DIALS)
	@if unshare --mount --net true 2>/dev/null; then \
	  unshare --mount --net sh -c 'ip link set lo up && \
	    mount --bind $(RESOLVE_DIR)/hosts /etc/hosts && \
	    mount --bind $(RESOLVE_DIR)/nsswitch.conf /etc/nsswitch.conf && \
	    $(BUILD)/luds bench/resolve.lua dial bench.test: $(RESOLVE_DIALS) && \
	    $(BUILD)/luds bench/resolve.lua flight bench.test $(RESOLVE_FLIGHT)'; \
	else echo "dial_per_sec bench.test: n/a (no unshare)"; fi
