#!/usr/bin/env bash
# The wheel job (run by .ci/run): build the wheel, install it into a clean venv outside the checkout, and from
# another folder run `kiwame db upgrade`, `kiwame doctor`, `kiwame serve` and one graded API submission.
# Proves that an installed Kiwame needs nothing of the checkout (migrations and exercises ship inside).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON="${PYTHON:-python3}"
BUILD_PY="${BUILD_PY:-$REPO/.venv/bin/python}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiwame-wheel.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    [ -n "${KEEP_WHEEL_CHECK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
# Nothing of the caller's configuration leaks in: the installed package must find its own way.
for var in $(compgen -e | grep '^KIWAME_' || true); do unset "$var"; done
unset PROMETHEUS_MULTIPROC_DIR || true

echo "== wheel: build"
isolation=()
if "$BUILD_PY" -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 68)" 2>/dev/null; then
    isolation=(--no-build-isolation)  # the checkout's venv has a recent setuptools: no download needed
fi
rm -rf "$REPO/build"  # a stale build/lib could smuggle deleted modules into the wheel
"$BUILD_PY" -m pip wheel -q --no-deps "${isolation[@]}" -w "$WORK/dist" "$REPO"
WHEEL=$(ls "$WORK"/dist/kiwame-*.whl)
echo "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"
"$BUILD_PY" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
migrations = [n for n in names if n.startswith("service/_bundled/migrations/versions/") and n.endswith(".py")]
exercises = [n for n in names if n.startswith("service/_bundled/exercises/") and n.endswith(".yaml")]
assert "service/_bundled/migrations/env.py" in names, "migrations/env.py is not in the wheel"
assert migrations and exercises, "migrations or exercises missing from the wheel"
assert not [n for n in names if n.startswith(("instance/", "service/instance/", "tests/"))], "stray files"
print(f"wheel carries {len(migrations)} migrations and {len(exercises)} exercise files")
PY

echo "== wheel: install into a clean venv outside the checkout"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check -q)
pip_install() {  # this machine's pip.conf names local mirrors that may be absent: drop those warnings
    "${PIP[@]}" install "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
}
torch_wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$torch_wheel" ]; then
    pip_install "$torch_wheel"  # the local CPU build: nothing downloads CUDA
else
    pip_install "torch>=2.2,<2.15" --index-url https://download.pytorch.org/whl/cpu
fi
pip_install "$WHEEL"
KIWAME="$WORK/venv/bin/kiwame"

mkdir -p "$WORK/site"
cd "$WORK/site"
echo "== wheel: from $(pwd)"
SITE=$("$WORK/venv/bin/python" -c "import service, os; print(os.path.dirname(service.__file__))")
case "$SITE" in "$REPO"*) echo "FAIL: kiwame imported from the checkout ($SITE)"; exit 1;; esac
echo "package at $SITE"
"$KIWAME" --version

echo "-- a broken setting is one line naming what to set"
if KIWAME_EXERCISES_DIR="$WORK/nowhere" "$KIWAME" db upgrade >"$WORK/err.txt" 2>&1; then
    echo "FAIL: a missing exercises folder was accepted"; exit 1
fi
cat "$WORK/err.txt"
[ "$(wc -l <"$WORK/err.txt")" -eq 1 ] && grep -q KIWAME_EXERCISES_DIR "$WORK/err.txt"

echo "-- kiwame db upgrade"
"$KIWAME" db upgrade
test -s instance/secret_key || { echo "FAIL: no ./instance/secret_key"; exit 1; }
test ! -e "$SITE/instance" && test ! -e "$SITE/../instance" || { echo "FAIL: instance inside the package"; exit 1; }

echo "-- kiwame doctor"
"$KIWAME" doctor

echo "-- kiwame exercises validate (no argument: the bundled exercises inside the package)"
"$KIWAME" exercises validate | tail -n 1

echo "-- kiwame user create / token create"
"$KIWAME" user create ana --role learner --password 'correct horse'
TOKEN=$("$KIWAME" token create --user ana --name wheel-check 2>/dev/null)
"$KIWAME" user list

PORT=$("$WORK/venv/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
echo "-- kiwame serve --port $PORT"
"$KIWAME" serve --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
API="http://127.0.0.1:$PORT"
ready=""
for _ in $(seq 1 180); do
    if curl -fsS "$API/readyz" >"$WORK/readyz.json" 2>/dev/null; then ready=1; break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 1
done
if [ -z "$ready" ]; then
    echo "FAIL: not ready"; cat "$WORK/serve.log"; curl -sS "$API/readyz" || true; exit 1
fi
echo "readyz: $(cat "$WORK/readyz.json" | cut -c1-300)"
curl -fsS "$API/livez"; echo

echo "-- one graded API submission"
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    "$API/api/v1/submissions?wait=20" \
    -d '{"exercise_id": "permute-2d", "code": "def solve(x):\n    return x.permute(1, 0)\n"}' >"$WORK/submission.json"
"$WORK/venv/bin/python" - "$WORK/submission.json" <<'PY'
import json, sys
sub = json.load(open(sys.argv[1]))
print(f"submission {sub['id']}: status={sub['status']} passed={sub['passed']} score={sub['score']}")
assert sub["status"] == "graded" and sub["passed"] is True, sub
PY

echo "-- /metrics (sample)"
curl -fsS "$API/metrics" >"$WORK/metrics.txt"
grep -E '^kiwame_(submissions_total|grading_duration_seconds_count|queue_depth|sandbox_(spares|busy|zygote_up|zygote_restarts_total)|outbox_backlog)' "$WORK/metrics.txt"
grep -q '^kiwame_submissions_total{diagnosis="none",passed="true",status="graded"} 1.0' "$WORK/metrics.txt"

echo "-- logs: JSON lines, one per graded submission, never the code"
"$WORK/venv/bin/python" - "$WORK/serve.log" <<'PY'
import json, sys
lines = [line for line in open(sys.argv[1]) if line.strip()]
records = [json.loads(line) for line in lines]  # every line parses
graded = [r for r in records if r.get("event") == "submission_graded"]
assert len(graded) == 1 and all(k in graded[0] for k in ("time", "level", "submission_id", "exercise", "user_id",
                                                        "status", "score", "duration_ms")), graded
assert not any("permute(1, 0)" in line for line in lines), "the learner's code reached the log"
access = [r for r in records if r.get("event") == "http_access" and r.get("request_id")]
assert access, "no access line with a request id"
print(f"{len(records)} JSON log lines; graded: {json.dumps(graded[0])}")
PY

echo "-- kiwame backup"
"$KIWAME" backup "$WORK/backup.sqlite3"

echo "wheel check passed"
