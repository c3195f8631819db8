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

# The scripts PostgreSQL installs are generated from the sources under sql/
# (one file per SQL object; sql/README.md): the install script of the first
# version (so CREATE EXTENSION ... VERSION 'old' still works, through the
# upgrades), the complete install script of the newest, and every upgrade.
# The newest version is default_version in ectowatch.control, its one place.
EXTVERSION := $(shell sed -n "s/^default_version = '\([0-9.]*\)'.*/\1/p" $(EXTENSION).control)
SQL_FIRST_VERSION = 0.1.0
SQL_UPGRADES = $(patsubst sql/upgrades/%.sql,generated/$(EXTENSION)--%.sql,$(wildcard sql/upgrades/*.sql))
DATA_built = generated/$(EXTENSION)--$(SQL_FIRST_VERSION).sql generated/$(EXTENSION)--$(EXTVERSION).sql $(SQL_UPGRADES)
SQL_SOURCES = $(shell find sql -name '*.sql') sql/manifest sql/values sql/generate.awk $(EXTENSION).control

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
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server) -Iextension -Iclient/include
# -MMD -MP: rebuild objects when a header they include changes.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -MMD -MP
# Warnings as errors only in the project's own builds (`make ECTOWATCH_WERROR=1`,
# as scripts/test does): a packager's compiler may warn where ours does not.
ifeq ($(ECTOWATCH_WERROR),1)
PG_CXXFLAGS += -Werror
endif
# The server may not load libstdc++ for us: say we need it.
SHLIB_LINK = -lstdc++ -lcrypto

# Before the include: pgxs.mk tests `ifdef EXTRA_CLEAN` as it is read.
EXTRA_CLEAN = tests/results tests/results-isolation $(OBJS:.o=.d) generated

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Debian builds with LLVM: the bitcode compile does not see PG_CXXFLAGS otherwise.
COMPILE.cxx.bc += $(PG_CXXFLAGS) $(PG_CPPFLAGS)

# generated/ectowatch--V.sql is the install script of V, ectowatch--A--B.sql
# the upgrade from A to B.
generated/$(EXTENSION)--%.sql: $(SQL_SOURCES)
	@mkdir -p generated
	awk -v dir=sql -v mode=$(if $(findstring --,$*),upgrade,install) -v from=$(firstword $(subst --, ,$*)) \
	    -v version=$(lastword $(subst --, ,$*)) -f sql/generate.awk >$@.tmp && mv $@.tmp $@

# The portable edition (PL/pgSQL, for servers that cannot load our library),
# generated from the same sources: never installed into the server, the client
# carries it (`ectowatch install --portable`, and share/ectowatch/ for psql -f).
PORTABLE_SCRIPT = generated/portable/$(EXTENSION)-portable--$(EXTVERSION).sql
all: $(PORTABLE_SCRIPT)
$(PORTABLE_SCRIPT): $(SQL_SOURCES)
	@mkdir -p generated/portable
	awk -v dir=sql -v mode=install -v edition=portable -v version=$(EXTVERSION) -f sql/generate.awk >$@.tmp && mv $@.tmp $@
-include $(OBJS:.o=.d)
