# luds: `make run` and `make test` set everything up on a fresh Debian machine.
CC ?= cc
PKG_CONFIG ?= pkg-config
BUILD ?= build
OPT ?= -O2 -g
LUA_CFLAGS := $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
LUA_LIBS := $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null)
CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(OPT) \
  -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -MMD -MP $(LUA_CFLAGS) -Iruntime
LUAC ?= lua5.4

LIB_SRC := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
LIB_OBJ := $(LIB_SRC:runtime/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/embedded.o
LUA_MODULES := $(wildcard lua/luds/*.lua)

.PHONY: all deps run test clean lint bench

all: $(BUILD)/luds $(BUILD)/luds.so $(BUILD)/libluds.a

deps:
	@sh tools/deps.sh

$(BUILD)/obj/%.o: runtime/%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/embedded.c: tools/embed.lua $(LUA_MODULES) | $(BUILD)/obj
	$(LUAC) tools/embed.lua $@ $(LUA_MODULES)

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libluds.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/luds: $(BUILD)/obj/main.o $(BUILD)/libluds.a
	$(CC) $(CFLAGS) -rdynamic $^ $(LUA_LIBS) -lm -ldl -o $@

# The loadable module links no liblua: the lua5.4 that loads it provides it.
$(BUILD)/luds.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared $^ -o $@

$(BUILD)/obj:
	mkdir -p $@

run: deps
	@$(MAKE) -s all
	$(BUILD)/luds examples/echo_unix.lua
	$(BUILD)/luds examples/echo_unixgram.lua
	$(BUILD)/luds examples/echo_unixpacket.lua

test: deps
	@$(MAKE) -s all
	$(BUILD)/luds spec/run.lua

# The OS layer must stay free of Lua: no Lua header below the bindings.
lint:
	@! grep -l 'include <l\(ua\|auxlib\|ualib\)\.h>' runtime/loop.[ch] runtime/sock.[ch] \
	  runtime/addr.[ch] runtime/fsperm.[ch] || (echo "lint: Lua header in the OS layer" && false)

bench: all
	bash bench/bench.sh

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*.d)
