#!/usr/bin/env python3
"""Runs the README's five-minute tour as written, so a reader who copies it succeeds.

The tour's shell blocks are taken from README.md, between "## A five-minute tour" and
the prose that follows them, and run by bash against a fresh data directory with the
built binary. Only what a reader fills in by hand is filled in here: the tokens and
ids printed by earlier steps (`hnm_…`, `<id>`, `<wid>`), `cargo run … --` (the built
binary), the second terminal of `serve` (a background process) and the live feed's
`curl -N` (stopped after a few seconds, and required to show the warning). Every
request must answer 2xx (curl --fail-with-body).

Usage: HINOMI_BIN=target/debug/hinomi .ci/tour.py
"""
import os
import re
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
start = readme.index("## A five-minute tour")
end = readme.index("Without a TLP marking", start)
blocks = re.findall(r"```sh\n(.*?)```", readme[start:end], re.S)
if len(blocks) < 2:
    sys.exit("tour: the README tour has no shell blocks")
tour = "\n".join(blocks)

binary = os.environ.get("HINOMI_BIN") or sys.exit("tour: set HINOMI_BIN")
work = tempfile.mkdtemp(prefix="hinomi-tour-")
port = os.environ.get("HINOMI_TOUR_PORT", "18640")

subs = [
    (r"cargo run --release -p hinomi -- serve", 'serve_in_background'),
    (r"cargo run --release -p hinomi --", 'run_hinomi'),
    (r"ADMIN=hnm_…[^\n]*", 'ADMIN=$(field token)'),
    (r"MEMBER=hnm_…[^\n]*", 'MEMBER=$(field token)'),
    (r"<wid>", '$(cat "$T/wid")'),
    (r"<id>", '$(field id)'),
    (r"127\.0\.0\.1:8640", f"127.0.0.1:{port}"),
]
body = tour
for pat, rep in subs:
    if not re.search(pat, body):
        sys.exit(f"tour: the README no longer has '{pat}'; update .ci/tour.py with it")
    body = re.sub(pat, lambda _m, r=rep: r, body)

prelude = f"""
set -euo pipefail
export HINOMI_BIN={binary!r}
T={work!r}
cd "$T"
export HINOMI_LISTEN=127.0.0.1:{port}
field() {{ python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/last" "$1"; }}
serve_in_background() {{
  "$HINOMI_BIN" serve >"$T/serve.log" 2>&1 &
  echo $! >"$T/serve.pid"
  for _ in $(seq 1 100); do
    command curl -sf "http://127.0.0.1:{port}/healthz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$T/serve.log"; return 1
}}
run_hinomi() {{ "$HINOMI_BIN" "$@" | tee "$T/last"; }}
curl() {{
  local url="${{@: -1}}"
  if [[ " $* " == *" -N "* ]]; then
    # The live feed: read it for a few seconds; it must carry the published warning.
    command curl -s --max-time 3 "$@" >"$T/stream" || [ $? -eq 28 ]
    grep -q 'warning.published' "$T/stream" || {{ echo "tour: the feed showed no warning"; cat "$T/stream"; return 1; }}
    return 0
  fi
  command curl --fail-with-body "$@" >"$T/last" || {{ echo "tour: $url failed:"; cat "$T/last"; return 1; }}
  cat "$T/last"; echo
  if [[ "$url" == */api/v1/warnings ]]; then field id >"$T/wid"; fi
}}
trap 'kill $(cat "$T/serve.pid" 2>/dev/null) 2>/dev/null || true' EXIT
"""
script = prelude + body + '\necho "tour: every step answered"\n'
open(os.path.join(work, "tour.sh"), "w").write(script)
r = subprocess.run(["bash", os.path.join(work, "tour.sh")])
if r.returncode != 0:
    print(f"tour: failed; the script and logs are in {work}", file=sys.stderr)
sys.exit(r.returncode)
