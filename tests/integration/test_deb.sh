#!/usr/bin/env bash
# test_deb.sh -- the Debian packages CPack makes of this build
# (packaging/CMakeLists.txt, docs/install.md): servicelogs-server, libslc0
# and libslc-dev, their Depends (dpkg-shlibdeps for the libraries the
# binaries link, libslc0 (= version) and the -dev packages for libslc-dev),
# conffiles, maintainer scripts and contents; then, unpacked into a
# throw-away root, the packaged server, with the unit's environment and the
# packaged demo data, answers curl, and the packaged CLI queries it.
# (A real install on a fresh Debian 12 root, apt and all, is
# scripts/deb-smoke.sh: it needs the network and minutes.) Skipped in the
# sanitizer build: packages are made from a release build.
. "$(dirname "$0")/lib.sh"

[ "${SL_SANITIZE:-OFF}" = ON ] &&
  skip "packages are made from a release build, not the sanitizer build"
BUILD=$(dirname "$SL_BIN")
[ -f "$BUILD/CPackConfig.cmake" ] || { echo "no $BUILD/CPackConfig.cmake" >&2; exit 1; }
LIB=usr/lib/$(gcc -print-multiarch)
for t in cpack dpkg-deb dpkg-shlibdeps curl; do
  command -v $t >/dev/null || { fail "$t not installed (scripts/install-deps.sh)"; finish; }
done
cpack --config "$BUILD/CPackConfig.cmake" -B "$T/deb" >"$T/cpack.log" 2>&1 ||
  { cat "$T/cpack.log" >&2; fail "cpack"; finish; }
ARCH=$(dpkg --print-architecture)
D=$T/deb
for p in "servicelogs-server_0.1.0_$ARCH" "libslc0_0.1.0_$ARCH" "libslc-dev_0.1.0_$ARCH"; do
  [ -f "$D/$p.deb" ] && pass "cpack made $p.deb" || fail "cpack made no $p.deb ($(ls "$D"))"
done
S=$D/servicelogs-server_0.1.0_$ARCH.deb
dep=$(dpkg-deb -f "$S" Depends)
want_deps=(libgrpc29 libmicrohttpd12 libsqlite3-0 libjansson4)
# libpq5 unless built with -DSL_WITH_PG=OFF
readelf -d "$SL_BIN/servicelogs-server" | grep -q 'NEEDED.*libpq' && want_deps+=(libpq5)
for want in "${want_deps[@]}"; do
  contains "servicelogs-server Depends: $want (dpkg-shlibdeps)" "$want" "$dep"
done
check "servicelogs-server: conffiles" "/etc/default/servicelogs" \
  "$(dpkg-deb --ctrl-tarfile "$S" | tar -xOf - ./conffiles)"
contains "servicelogs-server: postinst enables the unit" \
  "deb-systemd-helper enable servicelogs.service" \
  "$(dpkg-deb --ctrl-tarfile "$S" | tar -xOf - ./postinst)"
files=$(dpkg-deb -c "$S")
for f in ./usr/sbin/servicelogs-server ./usr/bin/servicelogs \
  ./usr/lib/systemd/system/servicelogs.service ./etc/default/servicelogs \
  ./usr/share/man/man8/servicelogs-server.8 ./usr/share/servicelogs/demo.json; do
  contains "servicelogs-server holds $f" " $f" "$files"
done
contains "libslc0 Depends: libgrpc29" libgrpc29 \
  "$(dpkg-deb -f "$D/libslc0_0.1.0_$ARCH.deb" Depends)"
check "libslc0: shlibs, for programs linked to it" "libslc 0 libslc0 (>= 0.1.0)" \
  "$(dpkg-deb --ctrl-tarfile "$D/libslc0_0.1.0_$ARCH.deb" | tar -xOf - ./shlibs)"
contains "libslc0 holds libslc.so.0" "/libslc.so.0 -> libslc.so.0.1.0" \
  "$(dpkg-deb -c "$D/libslc0_0.1.0_$ARCH.deb")"
dep=$(dpkg-deb -f "$D/libslc-dev_0.1.0_$ARCH.deb" Depends)
contains "libslc-dev Depends: libslc0 (= 0.1.0)" "libslc0 (= 0.1.0)" "$dep"
contains "libslc-dev Depends: libnanopb-dev" libnanopb-dev "$dep"
files=$(dpkg-deb -c "$D/libslc-dev_0.1.0_$ARCH.deb")
for f in "./$LIB/libslc.a" "./$LIB/pkgconfig/slc.pc" \
  ./usr/include/servicelogs/client.h \
  "./$LIB/cmake/servicelogs/servicelogsConfig.cmake"; do
  contains "libslc-dev holds $f" " $f" "$files"
done

# Unpacked into a throw-away root: the packaged server, with the unit's
# environment and the packaged demo data, answers curl.
P=$T/pkgroot
for d in "$D"/*.deb; do dpkg-deb -x "$d" "$P"; done
(
  set -a
  # The unit's Environment= lines, then its EnvironmentFile (all comments).
  eval "$(sed -n 's/^Environment=//p' "$P/usr/lib/systemd/system/servicelogs.service")"
  # shellcheck disable=SC1091
  . "$P/etc/default/servicelogs"
  echo "$SERVICELOGS_BACKEND"
) >"$T/pkgenv"
check "the unit's database: in its state directory" \
  "sqlite:/var/lib/servicelogs/servicelogs.db" "$(cat "$T/pkgenv")"
PDB=$T/state/servicelogs.db
mkdir -p "$T/state"
SERVER=$P/usr/sbin/servicelogs-server
check "packaged server: --version" "servicelogs-server 0.1.0" "$("$SERVER" --version)"
"$SERVER" import --if-empty --backend "sqlite:$PDB" \
  "$P/usr/share/servicelogs/demo.json" >"$T/import.log" 2>&1 ||
  fail "packaged server: import the packaged demo: $(cat "$T/import.log")"
start_server "$T/pkg.log" --backend "sqlite:$PDB" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0
check "packaged server: curl /healthz" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")"
check "packaged server: curl the demo's mnist-svc" \
  "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" \
  "$(curl -s "http://127.0.0.1:$HTTP_PORT/v1/demo-project/services/mnist-svc/logs")"
check "packaged CLI: the same document" \
  "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" \
  "$("$P/usr/bin/servicelogs" query --addr "127.0.0.1:$GRPC_PORT" \
    --project demo-project --service mnist-svc)"
stop_server "$SERVER_PID" && pass "packaged server: SIGTERM exits 0" ||
  fail "packaged server: exit status"
finish
