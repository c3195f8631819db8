# PGXS build of the ectowatch extension (C++ sources under extension/).
#   make && make install        build and install into the server found by PG_CONFIG
#   make installcheck           pg_regress + isolation suites against a running server
# scripts/test runs everything on a throwaway cluster; see README.md.

EXTENSION = ectowatch
MODULE_big = ectowatch
OBJS = \
	extension/boundary.o \
	extension/module.o \
	extension/message_packer.o \
	extension/value_encoder.o \
	extension/watcher_plan.o \
	extension/pending_changes.o \
	extension/triggers.o \
	extension/condition_check.o \
	extension/output_plugin.o \
	extension/message_auth.o \
	extension/relay_packer.o \
	extension/relay_shared.o \
	extension/relay_worker.o

DATA = $(wildcard sql/ectowatch--*.sql)

REGRESS = $(patsubst tests/sql/%.sql,%,$(sort $(wildcard tests/sql/*.sql)))
REGRESS_OPTS = --inputdir=tests --outputdir=tests/results
ISOLATION = $(patsubst tests/specs/%.spec,%,$(sort $(wildcard tests/specs/*.spec)))
ISOLATION_OPTS = --inputdir=tests --outputdir=tests/results-isolation

PG_CONFIG ?= pg_config

# PostgreSQL 14 or later (extension/pg_compat.hpp holds what differs between
# 14 and 18); refuse older servers in one line, before compiling anything.
PG_VERSION_FOUND := $(word 2,$(shell $(PG_CONFIG) --version 2>/dev/null))
ifeq ($(PG_VERSION_FOUND),)
$(error ectowatch cannot run "$(PG_CONFIG) --version": set PG_CONFIG to the pg_config of your PostgreSQL server)
endif
ifneq ($(shell test "$$(echo '$(PG_VERSION_FOUND)' | sed 's/[^0-9].*//')" -ge 14 2>/dev/null && echo yes),yes)
$(error ectowatch needs PostgreSQL 14 or later (found $(PG_VERSION_FOUND)))
endif

# Server headers trip -Wextra and use `register`: include them as system headers.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server) -Iextension
# -MMD -MP: rebuild objects when a header they include changes.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -MMD -MP
# The server may not load libstdc++ for us: say we need it.
SHLIB_LINK = -lstdc++

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Debian builds with LLVM: the bitcode compile does not see PG_CXXFLAGS otherwise.
COMPILE.cxx.bc += $(PG_CXXFLAGS) $(PG_CPPFLAGS)

EXTRA_CLEAN = tests/results tests/results-isolation $(OBJS:.o=.d)
-include $(OBJS:.o=.d)
