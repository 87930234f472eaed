#!/usr/bin/env bash
# Runs every test of the solution. Usage: scripts/test.sh [extra dotnet test args]
#
# Runs the whole suite twice: on the embedded SQLite store, then on PostgreSQL (NEXUSRAG_TEST_STORE=postgres).
# It installs what is missing from Debian packages when run as root (postgresql, redis-server, python3-onnx, tesseract-ocr,
# prometheus, nodejs/npm), the npm clients of tests/clients from their lockfile (npm ci),
# starts a throwaway PostgreSQL and redis-server on free loopback ports in a temp dir, exports their addresses
# (NEXUSRAG_TEST_POSTGRES, NEXUSRAG_TEST_REDIS) and stops them on exit, on failure too.
# NEXUSRAG_TEST_STORES=sqlite runs only the SQLite pass, without external servers.
set -euo pipefail
cd "$(dirname "$0")/.."

STORES="${NEXUSRAG_TEST_STORES:-sqlite,postgres,redis}"
WORK="$(mktemp -d -t nexusrag-test-XXXXXX)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PIDS=()

cleanup() {
  local rc=$?
  if [[ -n "${PG_DATA:-}" && -d "${PG_DATA}" ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then echo "test.sh: missing $* and not root; install it and rerun" >&2; exit 1; fi
  echo "test.sh: installing $* from Debian packages"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_postgres() {
  [[ -x "$PG_BIN/initdb" ]] || apt_install postgresql
  PG_DATA="$WORK/pg"; mkdir -p "$PG_DATA"; chown postgres "$WORK" "$PG_DATA"; chmod 700 "$PG_DATA"
  local port; port=$(free_port)
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" start >/dev/null
  export NEXUSRAG_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
  echo "test.sh: PostgreSQL on 127.0.0.1:$port"
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  local port; port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export NEXUSRAG_TEST_REDIS="127.0.0.1:$port"
  echo "test.sh: Redis on 127.0.0.1:$port"
}

# The ONNX embedder tests generate a tiny BERT-shaped model with Debian's python3-onnx (/usr/bin/python3 sees it).
/usr/bin/python3 -c 'import onnx' 2>/dev/null || apt_install python3-onnx
# The OCR tests run the real Tesseract (Debian tesseract-ocr); without it they are reported as skipped, with the reason.
if ! command -v tesseract >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then apt_install tesseract-ocr tesseract-ocr-eng
  else echo "test.sh: tesseract is not installed and this is not root: the OCR tests will be skipped"; fi
fi

# The metrics test checks the Prometheus exposition with promtool (Debian prometheus); without it, that test is skipped.
if ! command -v promtool >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then apt_install prometheus
  else echo "test.sh: promtool is not installed and this is not root: the promtool check will be skipped"; fi
fi

# The MCP and OpenAI-compatible APIs are also driven by the official npm clients (Node 20+), installed exactly as
# tests/clients/package-lock.json pins them; NodeClientTests runs them against the real server binary.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
echo "test.sh: npm ci in tests/clients"
(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

[[ "$STORES" == *postgres* ]] && start_postgres
[[ "$STORES" == *redis* ]] && start_redis

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
LOG="$WORK/test.log"
set +e
echo "test.sh: the whole suite on SQLite"
dotnet test NexusRag.slnx --nologo "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
if [[ "$STORES" == *postgres* ]]; then
  echo "test.sh: the whole suite again on PostgreSQL"
  NEXUSRAG_TEST_STORE=postgres dotnet test NexusRag.slnx --nologo --no-build "$@" 2>&1 | tee -a "$LOG"
  rc2=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] && rc=$rc2
fi
# The benchmarks are not test projects, so 'dotnet test' does not build them: check that they still compile.
echo "test.sh: the benchmarks still compile"
dotnet build bench/NexusRag.Bench --nologo -v q 2>&1 | tail -n 3 | tee -a "$LOG"
rc3=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] && rc=$rc3
set -e

# One closing line in the plain 'N passed, N failed' form, summed over test assemblies.
awk '
  /(Passed|Failed)!/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  f += $(i+1) + 0;
      if ($i == "Passed:")  p += $(i+1) + 0;
      if ($i == "Skipped:") s += $(i+1) + 0;
    }
    n++
  }
  END { if (n > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s; else print "0 passed, 0 failed" }
' "$LOG"
exit "$rc"
