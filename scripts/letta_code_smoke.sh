#!/usr/bin/env bash
# Letta Code (Letta's own terminal client) against `chinwag serve`: opt-in smoke check.
#
# Installs @letta-ai/letta-code at a pinned version into the user's cache (not the repository),
# starts a scripted OpenAI-compatible model (scripts/letta_code_model.py), `chinwag serve` on a
# free port with a temporary database, and a proxy that cuts one stream (scripts/cut_proxy.py);
# then runs Letta Code's headless mode (`letta -p`) and the routes its slash commands call, and
# prints PASS/FAIL per check. Exit status: the number of failed checks.
#
# Usage: scripts/letta_code_smoke.sh   (from anywhere; needs node and npm, and the repo's .venv)
#   LETTA_CODE_VERSION=0.32.18   the pinned client version
#   KEEP=1                       keep the temporary directory (server log, outputs) for reading
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="${LETTA_CODE_VERSION:-0.32.18}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chinwag/letta-code-$VERSION"
LETTA_JS="$CACHE/package/letta.js"
WORK="$(mktemp -d)"
PIDS=()
FAILS=0

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [[ -n "${KEEP:-}" ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

install_client() {
  [[ -f "$LETTA_JS" && -d "$CACHE/node_modules/ws" ]] && return 0
  echo "installing @letta-ai/letta-code@$VERSION into $CACHE"
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm pack --silent "@letta-ai/letta-code@$VERSION" >/dev/null &&
    tar xzf "letta-ai-letta-code-$VERSION.tgz" && rm "letta-ai-letta-code-$VERSION.tgz") || return 1
  # letta.js is one bundle; the only package it imports at start is `ws`. Installing the
  # package's full dependency list fails (a pinned dependency is not on the registry), and a
  # plain `npm install @letta-ai/letta-code` resolves to an old version, hence this.
  echo '{"private": true}' >"$CACHE/package.json"
  npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$CACHE" "ws@^8.19.0"
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # wait_http URL: until it answers (bounded)
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1"; return 1
}

check() {  # check NAME COMMAND...: PASS when the command succeeds
  local name="$1"; shift
  if "$@" >"$WORK/check.out" 2>&1; then
    echo "PASS  $name"
  else
    echo "FAIL  $name"; sed 's/^/      /' "$WORK/check.out" | tail -n 8
    FAILS=$((FAILS + 1))
  fi
}

# letta OUTFILE ARGS...: run the client headless in a throwaway HOME against the server.
letta() {
  local out="$1"; shift
  (cd "$WORK/proj" && HOME="$WORK/home" LETTA_BASE_URL="${BASE:-$SERVER}" LETTA_API_KEY=smoke \
    timeout 120 node "$LETTA_JS" "$@" >"$out" 2>"$out.err")
}

json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

log_mark() { wc -l <"$WORK/server.log"; }
log_since() { tail -n +"$(($1 + 1))" "$WORK/server.log"; }

# --- checks -------------------------------------------------------------------------------------

chk_version() {
  curl -fsS "$SERVER/v1/health/" | "$PY" -c '
import json, sys
v = json.load(sys.stdin)["version"]
parts = tuple(int(p) for p in v.split(".")[:3])
print("health version", v)
sys.exit(0 if parts >= (0, 16, 6) else 1)'
}

chk_text() {
  letta "$WORK/text.out" --new-agent -m smoke/smoke -p "hello smoke" || { cat "$WORK/text.out.err"; return 1; }
  grep -q "Smoke reply: hello smoke" "$WORK/text.out" || { cat "$WORK/text.out"; return 1; }
}

chk_startup_probes() {  # the routes Letta Code probes at start answer (an empty list is fine)
  ! log_since "$MARK_START" | grep -E '" 404' | grep -vE '/v1/metadata/balance|/_internal_' |
    grep -E 'add-base-tools|/secrets|/mcp-servers|/repositories|/v1/tools'
}

chk_json() {
  letta "$WORK/json.out" --agent "$AGENT" -p "json please" --output-format json || return 1
  "$PY" - "$WORK/json.out" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
print(body.get("subtype"), body.get("result"))
assert body["subtype"] == "success" and "Smoke reply: json please" in body["result"]
EOF
}

chk_stream_json() {
  letta "$WORK/stream.out" --agent "$AGENT" -p "stream please" --output-format stream-json || return 1
  "$PY" - "$WORK/stream.out" <<'EOF'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
kinds = {(d.get("type"), d.get("message_type")) for d in lines}
print(sorted(map(str, kinds)))
assert ("message", "assistant_message") in kinds and any(d.get("type") == "result" for d in lines)
EOF
}

chk_resume_conversation() {
  letta "$WORK/resume.out" --conversation "$CONV" -p "resume please" || return 1
  grep -q "Smoke reply: resume please" "$WORK/resume.out" &&
    log_since "$MARK" | grep -q "POST /v1/conversations/$CONV/messages HTTP/1.1\" 200"
}

chk_default_conversation() {
  letta "$WORK/default.out" --agent "$AGENT" --conversation default -p "default please" ||
    { cat "$WORK/default.out.err"; return 1; }
  grep -q "Smoke reply: default please" "$WORK/default.out"
}

chk_client_tool() {  # the model calls Letta Code's Bash tool; Letta Code runs it and answers
  letta "$WORK/tool.out" --agent "$AGENT" --yolo -p "[bash] run the smoke command" ||
    { cat "$WORK/tool.out.err"; return 1; }
  grep -q "Tool said: .*chinwag-smoke" "$WORK/tool.out" || { cat "$WORK/tool.out"; return 1; }
}

chk_dropped_stream() {  # the proxy cuts the reply's stream; Letta Code must resume the run
  BASE="$PROXY" letta "$WORK/drop.out" --agent "$AGENT" -p "[slow] please" ||
    { cat "$WORK/drop.out.err"; log_since "$MARK" | grep -E '/runs/|/stream' | sort | uniq -c; return 1; }
  grep -q "word40 end." "$WORK/drop.out" || { cat "$WORK/drop.out"; return 1; }
  grep -q "cut a stream" "$WORK/proxy.log" || { echo "the proxy never cut"; return 1; }
}

chk_search_cli() {  # `letta messages search`, the same route as /search
  letta "$WORK/search.out" messages search --query smoke --agent "$AGENT" ||
    { cat "$WORK/search.out.err"; return 1; }
  grep -qi "smoke" "$WORK/search.out" || { cat "$WORK/search.out"; return 1; }
}

chk_route() {  # chk_route METHOD PATH [BODY]: the route a slash command calls answers 200
  local status
  status=$(curl -sS -o "$WORK/route.out" -w '%{http_code}' -X "$1" "$SERVER$2" \
    -H 'content-type: application/json' ${3:+-d "$3"})
  echo "$1 $2 -> $status: $(head -c 300 "$WORK/route.out")"
  [[ "$status" == 200 ]]
}

chk_context_tokens() {  # /context shows nothing until a turn's usage_statistics has context_tokens
  curl -sS -N -X POST "$SERVER/v1/conversations/$CONV/messages" -H 'content-type: application/json' \
    -d '{"messages": [{"role": "user", "content": "count me"}]}' >"$WORK/usage.out"
  grep '"usage_statistics"' "$WORK/usage.out" | head -c 400
  grep '"usage_statistics"' "$WORK/usage.out" | grep -q '"context_tokens": *[1-9]'
}

chk_no_5xx() {
  ! grep -E '" 5[0-9][0-9]' "$WORK/server.log"
}

# --- run ----------------------------------------------------------------------------------------

command -v node >/dev/null || { echo "node is needed"; exit 1; }
install_client || { echo "could not install Letta Code $VERSION"; exit 1; }
mkdir -p "$WORK/home" "$WORK/proj"

MODEL_PORT=$(free_port); SERVER_PORT=$(free_port); PROXY_PORT=$(free_port)
SERVER="http://127.0.0.1:$SERVER_PORT"
PROXY="http://127.0.0.1:$PROXY_PORT"
cat >"$WORK/config.toml" <<EOF
[providers.smoke]
base_url = "http://127.0.0.1:$MODEL_PORT/v1"
models = ["smoke"]
default_context_window = 32000
EOF

"$PY" "$ROOT/scripts/letta_code_model.py" "$MODEL_PORT" 2>"$WORK/model.log" &
PIDS+=($!)
(cd "$ROOT" && CHINWAG_CONFIG="$WORK/config.toml" CHINWAG_ACCESS_LOG=1 exec "$PY" -m backend serve \
  --port "$SERVER_PORT" --db "$WORK/smoke.db") >"$WORK/server.log" 2>&1 &
PIDS+=($!)
"$PY" "$ROOT/scripts/cut_proxy.py" "$PROXY_PORT" "$SERVER_PORT" 1500 2>"$WORK/proxy.log" &
PIDS+=($!)
wait_http "$SERVER/v1/health/" || { cat "$WORK/server.log"; exit 1; }

echo "Letta Code $VERSION against chinwag at $SERVER ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null))"
check "health version >= 0.16.6 (else Letta Code warns 'outdated')" chk_version
MARK_START=$(log_mark)
check "Letta Code creates its agent; headless -p: text reply" chk_text
check "start-up probes answer (no 404)" chk_startup_probes
AGENT=$(curl -fsS "$SERVER/v1/agents/?limit=1" | "$PY" -c 'import json,sys; print(next((a["id"] for a in json.load(sys.stdin)), ""))')
if [[ -z "$AGENT" ]]; then  # Letta Code could not create its agent: make one so the rest runs
  AGENT=$(curl -fsS -X POST "$SERVER/v1/agents/" -H 'content-type: application/json' \
    -d '{"name": "smoke", "model": "smoke/smoke", "memory_blocks": []}' |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  echo "      (agent created over HTTP instead: Letta Code could not create one)"
  letta "$WORK/warm.out" --agent "$AGENT" -p "warm up"  # its first turn makes a conversation
fi
echo "      agent $AGENT"
check "headless --output-format json" chk_json
CONV=$(json_field "$WORK/json.out" conversation_id 2>/dev/null ||
  curl -fsS "$SERVER/v1/conversations/?agent_id=$AGENT&limit=1" |
  "$PY" -c 'import json,sys; print(next((c["id"] for c in json.load(sys.stdin)), ""))')
check "headless --output-format stream-json" chk_stream_json
MARK=$(log_mark)
check "headless --conversation <id> resumes it" chk_resume_conversation
check "headless --conversation default (agent-level messages)" chk_default_conversation
check "client tool: Bash runs through the approval path" chk_client_tool
MARK=$(log_mark)
check "dropped stream: resumed by POST /v1/runs/{id}/stream" chk_dropped_stream
check "letta messages search (/search)" chk_search_cli
check "/context: GET /v1/agents/{id}/context" chk_route GET "/v1/agents/$AGENT/context"
check "/context: usage_statistics.context_tokens in a turn's stream" chk_context_tokens
check "/fork: POST /v1/conversations/{id}/fork" chk_route POST "/v1/conversations/$CONV/fork"
check "/compact: POST /v1/conversations/{id}/compact {}" chk_route POST "/v1/conversations/$CONV/compact" '{}'
check "no 5xx in the server log" chk_no_5xx

echo "404s seen:"; grep -E '" 404' "$WORK/server.log" | sed -E 's/.*"([A-Z]+ [^ ?]*).*/  \1/' |
  sed -E 's/(agent|conv|run|message)-[0-9a-f-]{36}/\1-…/g' | sort | uniq -c
echo "$FAILS check(s) failed"
exit "$FAILS"
