# Writes one of the scripts PostgreSQL installs from the sources under sql/
# (see sql/README.md). POSIX awk, so building needs nothing new.
#   awk -v mode=install -v version=V -v dir=sql -f sql/generate.awk
#       the install script of version V: every object of sql/manifest whose
#       first version is V or older, in the manifest's order, as it was in V
#   awk -v mode=upgrade -v from=A -v version=B -v dir=sql -f sql/generate.awk
#       the upgrade script A--B: sql/upgrades/A--B.sql, its includes as in B
#   awk -v mode=install -v edition=portable -v version=V -v dir=sql -f sql/generate.awk
#       the portable edition's script of V (no C, no event triggers), run by
#       the application's role itself (`ectowatch install --portable`, psql -f)
#       and run again to upgrade: see "Editions" below
#   awk -v mode=install -v edition=portable -v packaging=tle -v version=V ...
#       the same as the script of an extension, for pg_tle
#       (`ectowatch install --pg-tle`: its install and its update script)
# Directives, each alone on a line, are read in the sources and never copied:
#   --@if < V   --@if >= V   --@else   --@end     lines for some versions only
#   --@if native   --@if portable                  lines for one edition only
#   --@if extension                                lines for a CREATE EXTENSION
#                                                  (native, or portable in pg_tle)
#   --@include PATH                                another source, as in version
# and @NAME@ in any line is the value of NAME in sql/values as of the version
# (@NAME:quoted@: the same with its quotes doubled, for use inside a literal);
# @VERSION@ is the version being written.
#
# Editions. The native edition (the default) is the extension PostgreSQL
# installs. The portable edition is the same API in PL/pgSQL for servers that
# cannot load our library (managed services): objects whose manifest line ends
# in "native" are left out of it, those ending in "portable" are only in it,
# and its script is a plain transaction, not an extension script. It is its
# own upgrade: run again over an older or the same version, it must keep every
# watcher, so each CREATE it writes is made idempotent here (CREATE OR REPLACE
# FUNCTION / VIEW, CREATE TABLE IF NOT EXISTS, a CREATE POLICY after DROP
# POLICY IF EXISTS). @extschema@ stays in it: the installer puts the schema in.
# Packaged for pg_tle it is an extension's script: no transaction and no
# prologue of its own, and the same text serves as every update script
# (being idempotent).
function fail(message) {
    printf "sql/generate.awk: %s\n", message > "/dev/stderr"
    failed = 1
    exit 1
}

# -1, 0 or 1 as version a is older than, equal to or newer than b.
function compare_versions(a, b,    pa, pb, n, i) {
    n = split(a, pa, ".")
    if (split(b, pb, ".") != n)
        fail("versions " a " and " b " have different shapes")
    for (i = 1; i <= n; i++) {
        if (pa[i] + 0 < pb[i] + 0) return -1
        if (pa[i] + 0 > pb[i] + 0) return 1
    }
    return 0
}

function holds(operator, v) {
    if (operator == "native" || operator == "portable" || operator == "extension") {
        if (v != "") fail("--@if " operator " takes no version")
        if (operator == "extension") return edition == "native" || packaging == "tle"
        return edition == operator
    }
    if (operator == "<") return compare_versions(version, v) < 0
    if (operator == ">=") return compare_versions(version, v) >= 0
    fail("unknown comparison " operator " (use < or >=)")
}

# Copies PATH (relative to dir) as it is in `version`, following directives.
function emit(path,    file, line, word, depth, active, taken, n, i, on) {
    file = dir "/" path
    depth = 0
    active[0] = 1
    while ((n = (getline line < file)) > 0) {
        if (line ~ /^--@/) {
            split(line, word, " ")
            if (word[1] == "--@if") {
                depth++
                taken[depth] = holds(word[2], word[3])
                active[depth] = active[depth - 1] && taken[depth]
            } else if (word[1] == "--@else") {
                if (depth == 0) fail(path ": --@else without --@if")
                active[depth] = active[depth - 1] && !taken[depth]
            } else if (word[1] == "--@end") {
                if (depth == 0) fail(path ": --@end without --@if")
                depth--
            } else if (word[1] == "--@include") {
                if (active[depth]) emit(word[2])
            } else {
                fail(path ": unknown directive " word[1])
            }
            continue
        }
        if (active[depth]) print idempotent(expand(line, path))
    }
    if (n < 0) fail("cannot read " file)
    close(file)
    if (depth != 0) fail(path ": --@if without --@end")
}

# The values of sql/values as of `version`: the last line of each name whose
# first version is not newer.
function read_values(    file, line, n, word, rest) {
    file = dir "/values"
    while ((n = (getline line < file)) > 0) {
        if (line ~ /^[ \t]*(#|$)/) continue
        split(line, word, " ")
        if (compare_versions(word[2], version) > 0) continue
        rest = line
        sub(/^[ \t]*[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", rest)
        value[word[1]] = rest
    }
    if (n < 0) fail("cannot read " file)
    close(file)
    value["VERSION"] = version
}

function expand(line, path,    name, quoted) {
    while (match(line, /@[A-Z_]+(:quoted)?@/)) {
        name = substr(line, RSTART + 1, RLENGTH - 2)
        quoted = sub(/:quoted$/, "", name)
        if (!(name in value)) fail(path ": " name " has no value in sql/values as of " version)
        line = substr(line, 1, RSTART - 1) (quoted ? doubled(value[name]) : value[name]) substr(line, RSTART + RLENGTH)
    }
    return line
}

# In the portable edition, a CREATE that may run again over its own objects.
function idempotent(line,    name) {
    if (edition != "portable") return line
    if (sub(/^CREATE FUNCTION /, "CREATE OR REPLACE FUNCTION ", line)) return line
    if (sub(/^CREATE VIEW /, "CREATE OR REPLACE VIEW ", line)) return line
    if (sub(/^CREATE TABLE /, "CREATE TABLE IF NOT EXISTS ", line)) return line
    if (match(line, /^CREATE POLICY [a-z_]+ ON [^ ]+/)) {
        name = substr(line, 15, RLENGTH - 14)
        return "DROP POLICY IF EXISTS " name ";\n" line
    }
    if (line ~ /^CREATE (EVENT TRIGGER|OR REPLACE TRIGGER|TRIGGER) /)
        fail("the portable edition cannot create " line)
    return line
}

function doubled(text) {
    gsub(/'/, "''", text)
    return text
}

BEGIN {
    if (dir == "" || version == "") fail("set dir and version")
    if (edition == "") edition = "native"
    if (edition != "native" && edition != "portable") fail("edition must be native or portable")
    if (edition == "portable" && mode != "install") fail("the portable edition has an install script only (it is its own upgrade)")
    if (packaging != "" && (packaging != "tle" || edition != "portable")) fail("packaging=tle is for edition=portable only")
    read_values()
    print "-- Generated from the sources under sql/ by sql/generate.awk (see sql/README.md): edit those, not this."
    if (mode == "install") {
        if (packaging == "tle") {
            print "-- The portable edition of ectowatch " version " as pg_tle's extension script (ectowatch install --pg-tle)."
        } else if (edition == "portable") {
            print "-- The portable edition of ectowatch " version ": run it as the role that owns the watched tables"
            print "-- (`ectowatch install --portable`), again to upgrade; @extschema@ is the schema to install into."
            print "BEGIN;"
            emit("portable/prologue.sql")
        } else {
            print "\\echo Use \"CREATE EXTENSION ectowatch\" to load this file. \\quit"
        }
        manifest = dir "/manifest"
        while ((n = (getline line < manifest)) > 0) {
            if (line ~ /^[ \t]*(#|$)/) continue
            split(line, word, " ")
            if (word[3] != "" && word[3] != "native" && word[3] != "portable")
                fail("manifest: " word[2] ": the third column is native or portable, not " word[3])
            if (word[3] != "" && word[3] != edition) continue
            if (compare_versions(word[1], version) <= 0) {
                print ""
                emit(word[2])
            }
        }
        if (n < 0) fail("cannot read " manifest)
        if (edition == "portable" && packaging != "tle") {
            print ""
            print "COMMIT;"
        }
    } else if (mode == "upgrade") {
        print "\\echo Use \"ALTER EXTENSION ectowatch UPDATE TO '" version "'\" to load this file. \\quit"
        emit("upgrades/" from "--" version ".sql")
    } else {
        fail("mode must be install or upgrade")
    }
}
