# luds: `make run` and `make test` set everything up on a fresh Debian machine.
CC ?= cc
PKG_CONFIG ?= pkg-config
BUILD ?= build
OPT ?= -O2 -g
LUA_CFLAGS := $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
LUA_LIBS := $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null)
CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -pthread $(OPT) \
  -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -MMD -MP $(LUA_CFLAGS) -Iruntime
LUAC ?= lua5.4
SAN_BUILD := $(BUILD)/asan
SAN_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
  -fno-sanitize-recover=all

CLI_SRC := runtime/main.c runtime/repl.c
LIB_SRC := $(filter-out $(CLI_SRC),$(wildcard runtime/*.c))
LIB_OBJ := $(LIB_SRC:runtime/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/embedded.o
LUA_MODULES := $(wildcard lua/luds/*.lua)

PREFIX ?= /usr/local
DESTDIR ?=
LUA_VERSION := 5.4
SONAME := libluds.so.0
SOVERSION := 0.1.0
BINDIR := $(PREFIX)/bin
LIBDIR := $(PREFIX)/lib
INCDIR := $(PREFIX)/include
MANDIR := $(PREFIX)/share/man/man1
MAN3DIR := $(PREFIX)/share/man/man3
EXDIR := $(PREFIX)/share/luds/examples
EXAMPLES := $(wildcard examples/*.lua) $(wildcard examples/systemd/*)
TYPESDIR := $(PREFIX)/share/luds/types
TYPES := $(wildcard types/*.lua)
LUA_CMOD ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_LMOD ?= $(PREFIX)/share/lua/$(LUA_VERSION)

.PHONY: all deps test-deps run test clean lint bench examples install uninstall check-install rock-install tests sanitize valgrind

all: $(BUILD)/luds $(BUILD)/luds.so $(BUILD)/libluds.a $(BUILD)/$(SONAME)

deps:
	@sh tools/deps.sh run

test-deps:
	@sh tools/deps.sh test

$(BUILD)/obj/%.o: runtime/%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/embedded.c: tools/embed.lua $(LUA_MODULES) | $(BUILD)/obj
	$(LUAC) tools/embed.lua $@ $(LUA_MODULES)

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libluds.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/luds: $(CLI_SRC:runtime/%.c=$(BUILD)/obj/%.o) $(BUILD)/libluds.a
	$(CC) $(CFLAGS) -rdynamic $^ $(LUA_LIBS) -lm -ldl -o $@

# The loadable module links no liblua: the lua5.4 that loads it provides it.
# -z nodelete: lua_close dlcloses it, and a worker thread left inside a slow
# lookup (workpool.h) still has code of it to return to.
$(BUILD)/luds.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-z,nodelete $^ -o $@

# The shared library for embedding hosts; it needs liblua, as a host does.
$(BUILD)/$(SONAME): $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) $^ $(LUA_LIBS) -o $@

$(BUILD)/obj:
	mkdir -p $@

examples: $(BUILD)/examples/host

$(BUILD)/examples/host: examples/embed/host.c $(BUILD)/libluds.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libluds.a $(LUA_LIBS) -lm -ldl -o $@

# C tests of the OS layer and of the embedding API (run by spec/run.lua).
C_TESTS := $(BUILD)/tests/fsperm_test $(BUILD)/tests/embed_test $(BUILD)/tests/proxyproto_test \
  $(BUILD)/tests/workpool_test $(BUILD)/tests/mempool_test
# What specs run programs under (not tests themselves): no_pidfd, a kernel
# without pidfd_open for nopidfd_spec.
SPEC_TOOLS := $(BUILD)/tests/no_pidfd
tests: $(C_TESTS) $(SPEC_TOOLS)

$(BUILD)/tests/no_pidfd: spec/c/no_pidfd.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/tests/fsperm_test: spec/c/fsperm_test.c runtime/fsperm.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/tests/proxyproto_test: spec/c/proxyproto_test.c runtime/proxyproto.c runtime/addr.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/tests/workpool_test: spec/c/workpool_test.c runtime/workpool.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/tests/mempool_test: spec/c/mempool_test.c runtime/mempool.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ $(LUA_LIBS) -lm -ldl -o $@

$(BUILD)/tests/embed_test: spec/c/embed_test.c $(BUILD)/libluds.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libluds.a $(LUA_LIBS) -lm -ldl -o $@

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	  $(DESTDIR)$(MANDIR) $(DESTDIR)$(MAN3DIR) $(DESTDIR)$(LUA_CMOD) $(DESTDIR)$(LUA_LMOD)/luds
	install -m 755 $(BUILD)/luds $(DESTDIR)$(BINDIR)/luds
	install -m 644 $(BUILD)/libluds.a $(DESTDIR)$(LIBDIR)/libluds.a
	install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/libluds.so.$(SOVERSION)
	ln -sf libluds.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libluds.so
	install -m 644 runtime/luds.h $(DESTDIR)$(INCDIR)/luds.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SOVERSION)|' tools/luds.pc.in \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/luds.pc
	install -m 644 doc/luds.1 $(DESTDIR)$(MANDIR)/luds.1
	install -m 644 doc/luds.3 $(DESTDIR)$(MAN3DIR)/luds.3
	install -m 755 $(BUILD)/luds.so $(DESTDIR)$(LUA_CMOD)/luds.so
	install -m 644 $(LUA_MODULES) $(DESTDIR)$(LUA_LMOD)/luds/
	install -d $(DESTDIR)$(EXDIR)/systemd
	install -m 644 $(filter-out examples/systemd/%,$(EXAMPLES)) $(DESTDIR)$(EXDIR)/
	install -m 644 $(filter examples/systemd/%,$(EXAMPLES)) $(DESTDIR)$(EXDIR)/systemd/
	install -d $(DESTDIR)$(TYPESDIR)
	install -m 644 $(TYPES) $(DESTDIR)$(TYPESDIR)/

# What luarocks installs (luds-scm-1.rockspec): the module, the Lua modules
# and the binary, into the directories luarocks names.
rock-install: all
	install -d $(LUA_CMOD) $(LUA_LMOD)/luds $(BINDIR)
	install -m 755 $(BUILD)/luds.so $(LUA_CMOD)/luds.so
	install -m 644 $(LUA_MODULES) $(LUA_LMOD)/luds/
	install -m 755 $(BUILD)/luds $(BINDIR)/luds

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/luds $(DESTDIR)$(LIBDIR)/libluds.a \
	  $(DESTDIR)$(LIBDIR)/libluds.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/libluds.so $(DESTDIR)$(INCDIR)/luds.h \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/luds.pc $(DESTDIR)$(MANDIR)/luds.1 $(DESTDIR)$(MAN3DIR)/luds.3 \
	  $(DESTDIR)$(LUA_CMOD)/luds.so $(LUA_MODULES:lua/luds/%=$(DESTDIR)$(LUA_LMOD)/luds/%) \
	  $(EXAMPLES:examples/%=$(DESTDIR)$(EXDIR)/%) $(TYPES:types/%=$(DESTDIR)$(TYPESDIR)/%)
	-rmdir $(DESTDIR)$(LUA_LMOD)/luds $(DESTDIR)$(EXDIR)/systemd $(DESTDIR)$(EXDIR) \
	  $(DESTDIR)$(TYPESDIR) $(DESTDIR)$(PREFIX)/share/luds 2>/dev/null

# Installs into a scratch DESTDIR, builds a host against it with pkg-config,
# runs it and the module under a stock lua5.4, then uninstalls.
check-install:
	sh tools/check-install.sh

run: deps
	@$(MAKE) -s all
	$(BUILD)/luds examples/echo_unix.lua
	$(BUILD)/luds examples/echo_unixgram.lua
	$(BUILD)/luds examples/echo_unixpacket.lua

# Every spec, on the normal build and on the sanitizer build, in one count.
test: test-deps
	@$(MAKE) -s lint all examples tests
	@$(MAKE) -s BUILD=$(SAN_BUILD) OPT="$(SAN_OPT)" $(SAN_BUILD)/luds
	LUDS_ASAN=$(SAN_BUILD)/luds $(BUILD)/luds spec/run.lua

# The same specs on a build with AddressSanitizer and UBSan (leaks included).
sanitize: test-deps
	@$(MAKE) -s BUILD=$(SAN_BUILD) OPT="$(SAN_OPT)" $(SAN_BUILD)/luds
	LUDS=$(SAN_BUILD)/luds LUDS_QUICK=1 $(SAN_BUILD)/luds spec/run.lua

# The specs with each spec process under valgrind: no errors, no definite leaks.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
valgrind: test-deps
	@$(MAKE) -s all tests
	LUDS_WRAP="$(VALGRIND)" LUDS_QUICK=1 $(BUILD)/luds spec/run.lua
	$(VALGRIND) $(BUILD)/tests/embed_test
	$(VALGRIND) $(BUILD)/tests/workpool_test
	$(VALGRIND) $(BUILD)/tests/mempool_test

# The OS layer must stay free of Lua (no Lua header below the bindings), and
# the bindings free of epoll (they name readiness through loop.h).
lint:
	@! grep -l 'include <l\(ua\|auxlib\|ualib\)\.h>' runtime/loop.[ch] runtime/sock.[ch] \
	  runtime/addr.[ch] runtime/fsperm.[ch] runtime/proxyproto.[ch] runtime/proc.[ch] \
	  runtime/fdio.[ch] runtime/worker.[ch] runtime/workpool.[ch] runtime/resolve.[ch] \
	  || (echo "lint: Lua header in the OS layer" && false)
	@! grep -l 'EPOLL\|epoll_' runtime/l*.c runtime/task.c runtime/rt.c runtime/luds.c runtime/main.c \
	  | grep -v 'runtime/loop.c' || (echo "lint: epoll used outside loop.c" && false)

# Then the channel columns (mk/chan.mk): luds against Go in the same run,
# the workers' columns (mk/workers.mk): 1 worker against N, and a reload;
# then dialing by name and lookups in flight (mk/resolve.mk), and spawning
# processes against Go (mk/spawn.mk).
bench: all
	bash bench/bench.sh
	@$(MAKE) -s bench-chan
	@$(MAKE) -s bench-workers
	@$(MAKE) -s bench-resolve
	@$(MAKE) -s bench-spawn

clean:
	rm -rf $(BUILD)

# Targets kept beside their own area (reliability, peers' benchmarks).
include $(wildcard mk/*.mk)

-include $(wildcard $(BUILD)/obj/*.d)
