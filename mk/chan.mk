# bench-chan: channel ping-pong (two tasks, unbuffered channels) on luds
# against the same program in Go with GOMAXPROCS=1 and the default, plus the
# fan-out (1 producer, 1,000 subscribers) and the bytes per blocked task.
# Go comes from bench/peers/setup.sh (golang-go); without it Go shows n/a.
CHAN_N ?= 2000000
CHAN_GODIR := $(BUILD)/bench/go

.PHONY: bench-chan
bench-chan: all
	@mkdir -p $(CHAN_GODIR)/cache $(CHAN_GODIR)/home
	@l=$$($(BUILD)/luds bench/chan_pingpong.lua pingpong $(CHAN_N) | awk '{ print $$2 }'); \
	g1=n/a; gd=n/a; \
	if command -v go >/dev/null && env HOME=$(CURDIR)/$(CHAN_GODIR)/home \
	    GOCACHE=$(CURDIR)/$(CHAN_GODIR)/cache GOENV=off GO111MODULE=off \
	    go build -o $(BUILD)/bench/chan_pingpong_go bench/chan_pingpong.go; then \
	  g1=$$(GOMAXPROCS=1 $(BUILD)/bench/chan_pingpong_go $(CHAN_N) | awk '{ print $$2 }'); \
	  gd=$$($(BUILD)/bench/chan_pingpong_go $(CHAN_N) | awk '{ print $$2 }'); \
	fi; \
	printf 'chan ping-pong round trips/s: luds %s  Go(GOMAXPROCS=1) %s  Go(default) %s\n' $$l $$g1 $$gd; \
	[ $$g1 = n/a ] || awk -v l=$$l -v g=$$g1 -v d=$$gd \
	  'BEGIN { printf "luds/Go(1) %.2f  luds/Go(default) %.2f\n", l / g, l / d }'
	@$(BUILD)/luds bench/chan_pingpong.lua fanout 1000 1000
	@d=$$(mktemp -d) && ulimit -n $$(ulimit -Hn) && \
	  $(BUILD)/luds bench/chan_pingpong.lua mem chan $$d 5000 && \
	  $(BUILD)/luds bench/chan_pingpong.lua mem sock $$d 5000; rm -rf $$d
