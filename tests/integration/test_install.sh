#!/usr/bin/env bash
# test_install.sh -- the installed project, as a user outside the tree
# gets it (docs/install.md): `cmake --install` of this build with prefix
# /usr into a DESTDIR puts every file where it belongs (sbin, bin, the
# multiarch libdir, include/servicelogs, pkgconfig, cmake, the man pages,
# the systemd unit, /etc/default); libslc.so has its SONAME and exports
# client.h's functions only; the man pages render without a warning; the
# unit passes `systemd-analyze verify` and keeps its sandbox
# (`systemd-analyze security`). Then tests/install/consumer.c, a program of
# its own, is built against the DESTDIR with pkg-config (slc: shared,
# slc-static: static) and with CMake's find_package(servicelogs)
# (servicelogs::slc, servicelogs::slc_static), and each of the four runs
# against a TLS server with --auth-tokens and prints the demo's mnist-svc
# (without the token: refused). The .deb packages: test_deb.sh.
#
# In the sanitizer build the installed library is sanitized too: the
# consumers are linked with -fsanitize=address,undefined.
. "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$SL_BIN")
[ -f "$BUILD/cmake_install.cmake" ] || { echo "no $BUILD/cmake_install.cmake" >&2; exit 1; }
for t in cc cmake pkg-config openssl groff; do
  command -v $t >/dev/null || skip "$t not installed"
done
SAN=()
[ "${SL_SANITIZE:-OFF}" = ON ] && SAN=(-fsanitize=address,undefined)

# ---- cmake --install into a DESTDIR ---------------------------------------
R=$T/root
DESTDIR=$R cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
  { cat "$T/install.log" >&2; fail "cmake --install"; finish; }
MA=$(gcc -print-multiarch)
LIB=usr/lib/$MA
for f in usr/sbin/servicelogs-server usr/bin/servicelogs \
  "$LIB/libslc.so.0.1.0" "$LIB/libslc.a" \
  usr/include/servicelogs/client.h \
  usr/include/servicelogs/modelarts/v1/service_logs.pb.h \
  "$LIB/pkgconfig/slc.pc" "$LIB/pkgconfig/slc-static.pc" \
  "$LIB/cmake/servicelogs/servicelogsConfig.cmake" \
  "$LIB/cmake/servicelogs/servicelogsConfigVersion.cmake" \
  "$LIB/cmake/servicelogs/servicelogsTargets.cmake" \
  usr/share/man/man8/servicelogs-server.8 usr/share/man/man1/servicelogs.1 \
  usr/lib/systemd/system/servicelogs.service etc/default/servicelogs \
  usr/share/servicelogs/demo.json; do
  [ -f "$R/$f" ] && pass "installed /$f" || fail "not installed: /$f"
done
check "libslc.so.0 -> libslc.so.0.1.0" libslc.so.0.1.0 \
  "$(readlink "$R/$LIB/libslc.so.0")"
check "libslc.so -> libslc.so.0" libslc.so.0 "$(readlink "$R/$LIB/libslc.so")"
check "SONAME libslc.so.0" "[libslc.so.0]" \
  "$(readelf -d "$R/$LIB/libslc.so.0.1.0" | awk '/SONAME/ {print $NF}')"
# Exported: exactly the functions client.h declares (client/libslc.map).
check "libslc.so exports client.h's functions, nothing else" \
  "$(grep -o '\bslc_[a-z_]*(' "$R/usr/include/servicelogs/client.h" |
    tr -d '(' | sort -u)" \
  "$(nm -D --defined-only "$R/$LIB/libslc.so.0.1.0" |
    awk '$2 == "T" {sub(/@.*/, "", $3); print $3}' | sort -u)"
contains "slc.pc: the install's prefix" "prefix=/usr
" "$(cat "$R/$LIB/pkgconfig/slc.pc")"
contains "the unit starts the installed server" \
  "ExecStart=/usr/sbin/servicelogs-server serve" \
  "$(cat "$R/usr/lib/systemd/system/servicelogs.service")"

# ---- man pages ----------------------------------------------------------------
for m in man8/servicelogs-server.8 man1/servicelogs.1; do
  out=$(groff -man -Tutf8 -ww -z "$R/usr/share/man/$m" 2>&1)
  check "$m renders without a warning" "" "$out"
done
txt=$(groff -man -Tutf8 -P-cbou "$R/usr/share/man/man8/servicelogs-server.8" 2>/dev/null)
contains "servicelogs-server(8) lists --tls-cert (from --help)" "--tls-cert" "$txt"
contains "servicelogs-server(8) names its env variables" SERVICELOGS_AUTH_TOKENS "$txt"
txt=$(groff -man -Tutf8 -P-cbou "$R/usr/share/man/man1/servicelogs.1" 2>/dev/null)
contains "servicelogs(1) lists --tls-ca" "--tls-ca" "$txt"
contains "servicelogs(1) has the exit statuses" "Exit status" "$txt"

# ---- the systemd unit ------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # Its ExecStart must exist for verify: the DESTDIR's binary. No running
  # systemd is needed (--man=no: the man page is not on this host).
  U=$T/unit/servicelogs.service
  mkdir -p "$T/unit"
  sed "s|^ExecStart=/usr/sbin/|ExecStart=$R/usr/sbin/|" \
    "$R/usr/lib/systemd/system/servicelogs.service" >"$U"
  out=$(systemd-analyze verify --man=no "$U" 2>&1) && rc=0 || rc=$?
  check "systemd-analyze verify: no complaint" "0 []" "$rc [$out]"
  # Exposure 1.4 of 10 today; 2.0 (threshold 20) if a sandbox line is lost.
  systemd-analyze security --offline=yes --threshold=20 "$U" >"$T/sec.out" 2>&1 &&
    pass "systemd-analyze security: exposure at most 2.0 ($(grep -o 'level for [^:]*: [0-9.]*' "$T/sec.out"))" ||
    fail "systemd-analyze security: $(tail -1 "$T/sec.out")"
else
  echo "not checked: systemd-analyze is not installed"
fi

# ---- a TLS server with tokens -----------------------------------------------
C=$T/pki
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 2 -subj "/CN=servicelogs install test ca" -keyout "$C/ca.key" \
  -out "$C/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=server" -keyout "$C/server.key" -out "$C/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$C/ext"
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" \
  -CAcreateserial -days 2 -extfile "$C/ext" -out "$C/server.pem" 2>/dev/null
[ -s "$C/server.pem" ] || { echo "openssl made no certificate" >&2; exit 1; }
echo "install-token-0123456789 demo-project read" >"$T/tokens"
DB=$T/install.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
start_server "$T/server.log" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen= --auth-tokens "$T/tokens" \
  --tls-cert "$C/server.pem" --tls-key "$C/server.key"
ADDR=127.0.0.1:$GRPC_PORT
# consumer.c's lines for the demo's mnist-svc, from the expected document.
WANT=$($PY - "$SL_SRC/tests/integration/expected/mnist.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["service_id"], d["service_name"], len(d["logs"]))
for l in d["logs"]:
    print(" ".join([str(l["update_time"])] + [c["model_id"] for c in l["config"]]))
PY
)
export SERVICELOGS_TOKEN=install-token-0123456789
run_consumer() { # run_consumer NAME BINARY: runs it against the server
  local got
  got=$(LD_LIBRARY_PATH=$R/$LIB "$2" "$ADDR" "$C/ca.pem" demo-project mnist-svc 2>&1) || true
  check "$1: mnist-svc over TLS with a token" "$WANT" "$got"
}

# ---- with pkg-config ----------------------------------------------------------
export PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_PATH=$R/$LIB/pkgconfig
SRC=$SL_SRC/tests/install/consumer.c
# shellcheck disable=SC2046 # pkg-config's output is words
if cc -std=c11 -Wall -Werror "${SAN[@]}" -o "$T/pc_shared" "$SRC" \
  $(pkg-config --cflags --libs slc) 2>"$T/cc.err"; then
  contains "pkg-config slc: linked to libslc.so.0" "libslc.so.0 => $R/$LIB/libslc.so.0" \
    "$(LD_LIBRARY_PATH=$R/$LIB ldd "$T/pc_shared")"
  run_consumer "pkg-config slc (shared)" "$T/pc_shared"
else
  fail "cc with pkg-config slc: $(cat "$T/cc.err")"
fi
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Werror "${SAN[@]}" -o "$T/pc_static" "$SRC" \
  $(pkg-config --cflags --libs slc-static) 2>"$T/cc.err"; then
  check "pkg-config slc-static: no libslc.so needed" "" \
    "$(readelf -d "$T/pc_static" | grep 'NEEDED.*libslc' || true)"
  run_consumer "pkg-config slc-static" "$T/pc_static"
else
  fail "cc with pkg-config slc-static: $(cat "$T/cc.err")"
fi
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

# ---- with CMake's find_package ---------------------------------------------------
flags=${SAN[*]:-}
if cmake -S "$SL_SRC/tests/install" -B "$T/cons" -DCMAKE_PREFIX_PATH="$R/usr" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  >"$T/cons.log" 2>&1 && cmake --build "$T/cons" >>"$T/cons.log" 2>&1; then
  contains "find_package: the DESTDIR's package" \
    "$R/usr/lib/$MA/cmake/servicelogs" "$(grep servicelogs_DIR "$T/cons/CMakeCache.txt")"
  run_consumer "find_package servicelogs::slc" "$T/cons/consumer_shared"
  check "servicelogs::slc_static: no libslc.so needed" "" \
    "$(readelf -d "$T/cons/consumer_static" | grep 'NEEDED.*libslc' || true)"
  run_consumer "find_package servicelogs::slc_static" "$T/cons/consumer_static"
  rc=0
  SERVICELOGS_TOKEN= "$T/cons/consumer_static" "$ADDR" "$C/ca.pem" \
    demo-project mnist-svc >"$T/out" 2>&1 || rc=$?
  check "without the token: refused (exit 1, EAUTH)" "1 EAUTH" \
    "$rc $(grep -o EAUTH "$T/out")"
else
  fail "the find_package consumer: $(tail -20 "$T/cons.log")"
fi
stop_server "$SERVER_PID" && pass "TLS server: SIGTERM exits 0" ||
  fail "TLS server: exit status"
finish
