# Reliability targets, kept out of `make test` because they run for a while:
#   make fuzz   libFuzzer on addr.c (addr_parse/addr_format, every network),
#               bounded by FUZZ_RUNS runs and FUZZ_SECONDS seconds
#   make soak   SOAK_SECONDS of connection churn against the three example
#               servers; fails unless their RSS and fd counts stay flat
# The fuzzer needs clang (libFuzzer), so it has its own compiler and flags.
FUZZ_CC ?= clang
FUZZ_RUNS ?= 2000000
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Iruntime \
  -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
SOAK_SECONDS ?= 60

.PHONY: fuzz soak fuzz-deps

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || \
	  EXTRA_PACKAGES="clang libclang-rt-14-dev" sh tools/deps.sh

$(BUILD)/fuzz/addr_fuzz: fuzz/addr_fuzz.c runtime/addr.c runtime/addr.h | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) fuzz/addr_fuzz.c runtime/addr.c -o $@

# New inputs go to $(BUILD)/fuzz/corpus and crashing ones to $(BUILD)/fuzz/;
# fuzz/corpus holds the committed seeds. Replay a crash: $(BUILD)/fuzz/addr_fuzz FILE
fuzz: $(BUILD)/fuzz/addr_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/addr_fuzz -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -max_len=512 \
	  -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 $(BUILD)/fuzz/corpus fuzz/corpus

soak: deps
	@$(MAKE) -s all
	$(BUILD)/luds tools/soak.lua $(SOAK_SECONDS)

# The PROXY protocol parser (proxyproto.c), the same way: `make fuzz-proxy`.
# The first input byte picks the versions accepted; fuzz/corpus-proxy holds
# the seeds (valid v1 and v2 headers of every family).
.PHONY: fuzz-proxy

$(BUILD)/fuzz/proxyproto_fuzz: fuzz/proxyproto_fuzz.c runtime/proxyproto.c runtime/addr.c \
  runtime/proxyproto.h | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) fuzz/proxyproto_fuzz.c runtime/proxyproto.c runtime/addr.c -o $@

fuzz-proxy: $(BUILD)/fuzz/proxyproto_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus-proxy
	$(BUILD)/fuzz/proxyproto_fuzz -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -max_len=1024 \
	  -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 $(BUILD)/fuzz/corpus-proxy \
	  fuzz/corpus-proxy
