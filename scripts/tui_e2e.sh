#!/usr/bin/env bash
# End-to-end run of `chinwag` in a real terminal (tmux), driven by keys.
#
# Starts the TUI with its bundled server on a fresh database, creates an agent, chats with the
# builtin model, compacts, quits, and checks that the bundled server stopped with it; once per
# terminal size (on narrow ones the side panes are a drawer that the focus opens and closes).
# Usage: scripts/tui_e2e.sh [COLSxROWS …]   (default: 80x24 100x30 160x45; needs tmux)
set -euo pipefail

if (($# == 0)); then
  set -- 80x24 100x30 160x45
fi
if (($# > 1)); then
  for size in "$@"; do "$0" "$size"; done
  exit 0
fi
COLS="${1%x*}"
ROWS="${1#*x}"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WORK="$(mktemp -d)"
SESSION="chinwag-e2e-$$"
export CHINWAG_CONFIG="$WORK/config.toml"
unset LETTA_BASE_URL LETTA_API_KEY

cleanup() { tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$SESSION"; }

wait_for() {  # wait_for TEXT [SECONDS]
  local deadline=$((SECONDS + ${2:-20}))
  until screen | grep -qF -- "$1"; do
    if ((SECONDS > deadline)); then
      echo "FAIL: '$1' did not appear. Screen:"; screen; exit 1
    fi
    sleep 0.2
  done
  echo "ok: $1"
}

keys() { tmux send-keys -t "$SESSION" "$@"; }

cd "$ROOT"
tmux new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS" "$PY -m tui --db $WORK/e2e.db"

wait_for "No agents yet" 30
# Keys typed right after a dialog opens go to it; after it closes, to the composer.
keys n
keys -l "e2e-agent"
keys Enter
wait_for "model builtin/echo"
wait_for "No conversations yet"

# The first message starts a conversation; it must arrive whole and show live.
first='Hello! My cat is called **Miso**. Can you show me a python snippet?'
keys -l "$first"
keys Enter
# (Start and end of the echoed reply: on a narrow terminal it wraps between them.)
wait_for "You said: “Hello! My cat"
wait_for "snippet?” That"
if screen | grep -qF "No conversations yet"; then
  echo "FAIL: the placeholder stayed after the first message"; screen; exit 1
fi

for text in "hello from tmux" "second message" "third message"; do
  keys -l "$text"
  wait_for "│ $text"
  keys Enter
  wait_for "You said: “$text”"
done

keys C-k
wait_for "Compact this conversation"
keys c
wait_for "messages" 30
wait_for "Summary of earlier messages" 30

keys C-q
for _ in $(seq 50); do
  tmux has-session -t "$SESSION" 2>/dev/null || break
  sleep 0.2
done
if pgrep -f "$WORK/e2e.db" >/dev/null; then
  echo "FAIL: the bundled server is still running after quitting"; exit 1
fi
echo "PASS: chinwag end to end in tmux at ${COLS}x${ROWS}"
