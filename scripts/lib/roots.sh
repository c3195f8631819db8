# Debian root filesystems holding the PostgreSQL versions this machine's
# Debian does not ship (scripts/test-versions). Source it after cluster.sh.
#
# A root per version is built once with debootstrap and cached outside the
# checkout ($ECTOWATCH_ROOTS, default /var/cache/ectowatch-roots/RELEASE);
# a second run reuses it. A test run never writes into the cached root: it
# works in an overlay (the cached root below, a fresh directory above), so the
# extension it installs, the cluster and the build disappear with the overlay,
# and runs cannot leave a cached root half changed. Needs root (debootstrap,
# chroot, mount).
#
# After enter_root VERSION: ROOT is the overlay's directory, ROOT_PG_BINDIR
# the server's bin directory inside it, and in_root runs a command inside it.
# start_root_cluster then starts a server there (socket visible from the
# machine at $ROOT/cluster/socket); leave_root (an EXIT trap) stops and
# removes everything.

ROOTS_CACHE="${ECTOWATCH_ROOTS:-/var/cache/ectowatch-roots}"
DEBIAN_MIRROR="${ECTOWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The Debian release whose archive has PostgreSQL $1 (the Debian 12 machine
# itself has 15, and its root, bookworm, is for tests that must not touch the
# machine's own installation, such as installing packages; 14 and 16 are in no
# Debian release reachable here).
root_release() {
  case "$1" in
  15) echo bookworm ;;
  17) echo trixie ;;
  18) echo sid ;;
  19) echo sid-experimental ;; # a sid root with 19 from experimental (add_experimental_postgres)
  *) return 1 ;;
  esac
}

# Mount points below $1 (deepest first).
mounts_below() {
  awk -v prefix="$1/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r
}

# add_experimental_postgres DIR VERSION: installs PostgreSQL VERSION from
# Debian experimental into the sid root DIR. Each package is named with its
# suite: `-t experimental` would pull newer versions of everything (perl
# included) and fail on conflicts. The archive here is a snapshot whose
# Release files are past Valid-Until, hence the apt option; postgresql-common
# needs /proc while it installs.
add_experimental_postgres() {
  local dir="$1" version="$2" status=0
  echo "deb $DEBIAN_MIRROR experimental main" >"$dir/etc/apt/sources.list.d/experimental.list"
  mount -t proc proc "$dir/proc" || return 1
  chroot "$dir" apt-get -o Acquire::Check-Valid-Until=false -q update &&
    chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "postgresql-$version/experimental" "postgresql-client-$version/experimental" \
      "postgresql-server-dev-$version/experimental" libpq-dev/experimental libpq5/experimental || status=1
  umount "$dir/proc"
  return $status
}

# build_root VERSION: makes sure the cached root for VERSION exists, running
# debootstrap when it does not. It is built into DIR.tmp and renamed when
# complete, so a run that dies leaves no half-built root under the final name;
# a lock keeps two runs from building the same root.
build_root() {
  local version="$1" release dir lock started
  release="$(root_release "$version")" || {
    echo "no Debian release with PostgreSQL $version is known here" >&2
    return 1
  }
  dir="$ROOTS_CACHE/$release"
  mkdir -p "$ROOTS_CACHE"
  exec {lock}>"$dir.lock"
  flock "$lock"
  # A debootstrap started by hand (without the lock) may be building it: wait.
  while pgrep -f "debootstrap .*$dir\.tmp" >/dev/null; do sleep 5; done
  if [ -d "$dir" ]; then
    echo "root $release (PostgreSQL $version): cached in $dir"
  else
    if ! command -v debootstrap >/dev/null; then
      echo "FAIL: debootstrap is missing: scripts/install-deps debootstrap installs it"
      exec {lock}>&-
      return 1
    fi
    # What a run that died left behind (debootstrap mounts proc in it).
    mounts_below "$dir.tmp" | xargs -r -n1 umount -l
    rm -rf --one-file-system "$dir.tmp"
    echo "root $release (PostgreSQL $version): building with debootstrap (log: $dir.log)"
    started=$SECONDS
    local suite="$release" packages="postgresql-$version,postgresql-server-dev-$version,g++,make"
    if [ "$release" = sid-experimental ]; then suite=sid packages="postgresql-common,g++,make"; fi
    if debootstrap --variant=minbase --include="$packages" "$suite" "$dir.tmp" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 &&
      { [ "$release" != sid-experimental ] || add_experimental_postgres "$dir.tmp" "$version" >>"$dir.log" 2>&1; }; then
      mv "$dir.tmp" "$dir"
      echo "root $release (PostgreSQL $version): built in $((SECONDS - started)) s"
    else
      echo "FAIL: debootstrap of $release failed; the end of $dir.log:"
      tail -n 20 "$dir.log"
      mounts_below "$dir.tmp" | xargs -r -n1 umount -l
      exec {lock}>&-
      return 1
    fi
  fi
  exec {lock}>&-
}

# enter_root VERSION: the overlay over VERSION's cached root, with /proc, /dev
# and a fresh /dev/shm (the server's dynamic shared memory) mounted inside.
enter_root() {
  local version="$1" release
  release="$(root_release "$version")" || return 1
  ROOT_RUN="$(mktemp -d -t "ectowatch-root-$version.XXXXXX")"
  ROOT="$ROOT_RUN/merged"
  ROOT_PG_BINDIR="/usr/lib/postgresql/$version/bin"
  mkdir "$ROOT_RUN/upper" "$ROOT_RUN/work" "$ROOT"
  mount -t overlay overlay -o "lowerdir=$ROOTS_CACHE/$release,upperdir=$ROOT_RUN/upper,workdir=$ROOT_RUN/work" "$ROOT" &&
    mount -t proc proc "$ROOT/proc" &&
    mount --bind /dev "$ROOT/dev" &&
    mount --make-private "$ROOT/dev" && # nothing mounted below it reaches the machine's /dev
    mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm" || {
    echo "FAIL: cannot mount the root for PostgreSQL $version in $ROOT" >&2
    return 1
  }
  # The server's user inside the root (its uid differs from the machine's).
  ROOT_PG_USER="$(awk -F: '$1 == "postgres" { print $3 ":" $4 }' "$ROOT/etc/passwd")"
}

# in_root COMMAND...: runs COMMAND inside the root, as root.
in_root() { chroot "$ROOT" "$@"; }
# as_root_pg_user COMMAND...: runs COMMAND inside the root as its postgres user.
as_root_pg_user() { chroot --userspec="$ROOT_PG_USER" "$ROOT" env HOME=/var/lib/postgresql "$@"; }

# start_root_cluster [extra postgresql.conf lines...]: a cluster in the root's
# /cluster, made and configured as start_cluster (cluster.sh) makes the
# machine's. Exports PG* for clients on the machine, ROOT_PG_ENV for clients
# inside the root, ROOT_CLUSTER_LOG (the machine's path of its log) and
# SERVER_CTL (pg_ctl for it, run inside the root; see suites.sh).
start_root_cluster() {
  mkdir -p "$ROOT/cluster/socket"
  chown -R "$ROOT_PG_USER" "$ROOT/cluster"
  as_root_pg_user "$ROOT_PG_BINDIR/initdb" -D /cluster/data "${CLUSTER_INITDB_ARGS[@]}" >"$ROOT/cluster/initdb.log" 2>&1 ||
    { cat "$ROOT/cluster/initdb.log"; return 1; }
  {
    cluster_settings /cluster/socket
    for line in "$@"; do echo "$line"; done
  } >>"$ROOT/cluster/data/postgresql.conf"
  ROOT_CLUSTER_LOG="$ROOT/cluster/server.log"
  SERVER_CTL="chroot --userspec=$ROOT_PG_USER $ROOT $ROOT_PG_BINDIR/pg_ctl -D /cluster/data -l /cluster/server.log"
  $SERVER_CTL -w start >/dev/null || { cat "$ROOT_CLUSTER_LOG"; return 1; }
  export PGHOST="$ROOT/cluster/socket" PGPORT=54329 PGUSER=postgres PGDATABASE=postgres
  ROOT_PG_ENV=(PGHOST=/cluster/socket PGPORT=54329 PGUSER=postgres PGDATABASE=postgres)
}

# leave_root: stops the root's server and anything else still running inside
# the root, unmounts everything and removes the overlay's directories.
leave_root() {
  [ -n "${ROOT_RUN:-}" ] || return 0
  if [ -f "$ROOT/cluster/data/postmaster.pid" ]; then
    $SERVER_CTL -m immediate -w stop >/dev/null 2>&1 || true
  fi
  # Processes started inside this root (only this run's: the overlay is its own).
  local process
  for process in /proc/[0-9]*; do
    [ "$(readlink "$process/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "${process#/proc/}" 2>/dev/null
  done
  local mount_point
  for mount_point in $(mounts_below "$ROOT") "$ROOT"; do
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point"
  done
  if [ -z "$(mounts_below "$ROOT_RUN")" ]; then
    rm -rf --one-file-system "$ROOT_RUN"
  else
    echo "WARNING: $ROOT_RUN still has mounts; left in place" >&2
  fi
  ROOT_RUN=""
}
