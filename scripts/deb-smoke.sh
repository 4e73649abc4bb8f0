#!/usr/bin/env bash
# deb-smoke.sh -- the .deb packages on a fresh Debian 12 root: CPack makes
# them from a build, mmdebstrap makes a minimal bookworm root from the
# Debian archive, `apt-get install ./servicelogs-server_*.deb ./libslc0_*.deb
# ./libslc-dev_*.deb` there resolves their Depends from the archive and runs
# the maintainer scripts; then the packaged server starts as the unit
# would start it (its ExecStart and Environment=, the packaged
# /etc/default file, an unprivileged user owning the state directory, as
# DynamicUser= gives it), in a network namespace of its own so the unit's
# default ports (127.0.0.1:50051, 8080) are free, loads the packaged demo
# data, and curl from the root asks it for the demo's mnist-svc. Last,
# `apt-get purge` removes it.
#
#   scripts/deb-smoke.sh [BUILD_DIR]      (default: build; as root)
#
# Needs root, mmdebstrap (scripts/install-deps.sh --pkg), the network (deb.debian.org, or
# SL_DEBIAN_MIRROR) and a few minutes; not one of the ctest tests
# (tests/integration/test_deb.sh checks the packages offline). No systemd
# runs in the root: the unit's sandbox itself is not exercised here
# (docs/install.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
mirror=${SL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "deb-smoke.sh: run as root (mmdebstrap, chroot)" >&2; exit 2; }
command -v mmdebstrap >/dev/null && command -v ip >/dev/null ||
  "$top/scripts/install-deps.sh" --pkg
[ -f "$build/CPackConfig.cmake" ] ||
  { echo "deb-smoke.sh: $build is not a configured build directory" >&2; exit 2; }

work=$(mktemp -d /tmp/sl-debsmoke.XXXXXX)
root=$work/root
cleanup() {
  if mountpoint -q "$root/proc" 2>/dev/null; then
    umount "$root/proc" || umount -l "$root/proc"
  fi
  mountpoint -q "$root/proc" 2>/dev/null || rm -rf "$work"
}
trap cleanup EXIT
t0=$(date +%s)
step() { echo "deb-smoke: [$(($(date +%s) - t0)) s] $*"; }

step "cpack -G DEB ($build)"
cpack --config "$build/CPackConfig.cmake" -B "$work/deb" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; exit 1; }
ls "$work"/deb/*.deb

step "mmdebstrap: a minimal Debian 12 root from $mirror"
mmdebstrap --variant=apt --include=curl bookworm "$root" "$mirror" \
  >"$work/mmdebstrap.log" 2>&1 || { tail -30 "$work/mmdebstrap.log" >&2; exit 1; }

step "apt-get install the three packages in it"
cp "$work"/deb/*.deb "$root/tmp/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -qq
(cd "$root/tmp" && in_root sh -c 'cd /tmp && apt-get install -y -q \
  ./servicelogs-server_*.deb ./libslc0_*.deb ./libslc-dev_*.deb') \
  >"$work/apt.log" 2>&1 || { tail -40 "$work/apt.log" >&2; exit 1; }
grep -E '^(Setting up|Unpacking) (servicelogs-server|libslc)' "$work/apt.log"
in_root dpkg-query -W servicelogs-server libslc0 libslc-dev

step "start the packaged server as its unit does"
unit=$root/usr/lib/systemd/system/servicelogs.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
unit_env=$(sed -n 's/^Environment=//p' "$unit")
echo "ExecStart=$exec_start"
echo "Environment=$unit_env"
uid=61184 # the first uid of systemd's DynamicUser range
mkdir -p "$root/var/lib/servicelogs"
chown "$uid:$uid" "$root/var/lib/servicelogs"
chmod 700 "$root/var/lib/servicelogs"
# The unit's process: its environment (Environment=, then the packaged
# EnvironmentFile, all comments), an unprivileged user, the root's files.
cat >"$root/tmp/serve.sh" <<SH
set -a
$unit_env
. /etc/default/servicelogs
set +a
exec setpriv --reuid=$uid --regid=$uid --clear-groups --no-new-privs "\$@"
SH
# A network namespace: the unit's default ports, not this machine's.
unshare --net --fork bash -s "$root" "$exec_start" <<'NS'
set -euo pipefail
root=$1
exec_start=$2
ip link set lo up
run=(chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh /tmp/serve.sh)
"${run[@]}" /usr/sbin/servicelogs-server import --if-empty /usr/share/servicelogs/demo.json
# chroot, env, sh and setpriv each exec the next: $! is the server's pid.
# shellcheck disable=SC2086 # ExecStart is words
"${run[@]}" $exec_start >/tmp/sl-debsmoke-server.log 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  chroot "$root" curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null && break
  sleep 0.1
done
echo "curl http://127.0.0.1:8080/healthz: $(chroot "$root" curl -s -w ' %{http_code}' http://127.0.0.1:8080/healthz)"
echo "curl http://127.0.0.1:8080/v1/demo-project/services/mnist-svc/logs:"
got=$(chroot "$root" curl -fsS http://127.0.0.1:8080/v1/demo-project/services/mnist-svc/logs)
echo "$got"
echo "servicelogs query (gRPC, the packaged CLI):"
cli=$(chroot "$root" servicelogs query --project demo-project --service mnist-svc)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
echo "server log:"
sed 's/^/  | /' /tmp/sl-debsmoke-server.log
rm -f /tmp/sl-debsmoke-server.log
[ "$rc" = 0 ] || { echo "deb-smoke: the server exited $rc at SIGTERM" >&2; exit 1; }
[ "$got" = "$cli" ] || { echo "deb-smoke: REST and gRPC answers differ" >&2; exit 1; }
case "$got" in
*'"service_id":"mnist-svc"'*) ;;
*) echo "deb-smoke: no mnist-svc in the answer" >&2; exit 1 ;;
esac
NS
owner=$(stat -c %u "$root/var/lib/servicelogs/servicelogs.db")
[ "$owner" = "$uid" ] || { echo "deb-smoke: the database is owned by $owner" >&2; exit 1; }

step "apt-get purge"
in_root apt-get purge -y -q servicelogs-server libslc-dev libslc0 >"$work/purge.log" 2>&1 ||
  { tail -20 "$work/purge.log" >&2; exit 1; }
[ ! -e "$root/var/lib/servicelogs" ] && [ ! -e "$root/etc/default/servicelogs" ] ||
  { echo "deb-smoke: purge left files behind" >&2; exit 1; }
step "passed"
