"""Fuzz the server from its own OpenAPI document with schemathesis (opt-in; a few minutes).

    .venv/bin/python scripts/fuzz_api.py [--examples 20] [--seed 1]

Runs ``chinwag serve`` on a fresh database twice, without a token and with one, and points
schemathesis at ``/openapi.json``. For each run it prints the test cases generated, the 5xx
answers the server gave (counted from its access log, so every one counts), and the failures
of the checks that compare the server with its document: responses outside the schema, status
codes or content types not documented, schema-valid requests refused with a 422, 405 answers
whose ``Allow`` is wrong, and a request without the token that was not refused. It exits 1 if
any of these is not zero.

Two checks are left out on purpose: ``negative_data_rejection`` (the server is lenient, as
pydantic is, with ``1`` for ``true`` and unknown fields, which Letta's clients rely on) and
``ensure_resource_availability`` (it reads a 404 for an unknown *run* in a conversation's
stream as the conversation having vanished). A schema-valid request refused with a 400 is
fine: 400 is a refusal that depends on state (an unknown cursor, nothing to compact).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ignored_auth",
]
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""
ACCESS_LINE = re.compile(r'HTTP/[\d.]+" (\d{3})')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fuzz(workdir: Path, token: str | None, examples: int, seed: int) -> dict[str, object]:
    """One server, one schemathesis run; the figures of that run."""
    port = free_port()
    log = workdir / f"server-{'token' if token else 'open'}.log"
    serve = [sys.executable, "-m", "backend", "serve", "--port", str(port), "--access-log"]
    serve += ["--db", str(workdir / f"{'token' if token else 'open'}.db")]
    serve += ["--token", token] if token else []
    env = {**os.environ, "CHINWAG_CONFIG": str(workdir / "none.toml")}
    env.pop("OPENAI_API_KEY", None)
    with log.open("wb") as out:
        server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/health/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start; see {log}") from None
                time.sleep(0.1)
        report = workdir / f"report-{'token' if token else 'open'}.json"
        command = [str(Path(sys.executable).with_name("schemathesis"))]
        command += ["--config-file", str(workdir / "schemathesis.toml"), "run"]
        command += [f"{url}/openapi.json", "--checks", ",".join(CHECKS)]
        command += ["--max-examples", str(examples), "--seed", str(seed), "--workers", "1"]
        command += ["--report", "json", "--report-json-path", str(report)]
        command += ["--header", f"Authorization: Bearer {token}"] if token else []
        output = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
        (workdir / f"schemathesis-{'token' if token else 'open'}.txt").write_text(output.stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)
    data = json.loads(report.read_text())
    text = log.read_text(errors="replace")
    statuses = [int(m.group(1)) for m in map(ACCESS_LINE.search, text.splitlines()) if m]
    failures = {f["title"]: f["count"] for f in data["failures"]}
    return {
        "token": bool(token),
        "test_cases": data["test_cases"]["generated"],
        "requests": len(statuses),
        "5xx": sum(1 for s in statuses if s >= 500),
        "tracebacks_logged": text.count("Traceback"),
        "schema_violations": sum(failures.values()),
        "failures": failures,
        "errors": len(data["errors"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep logs and reports in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chinwag-fuzz-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "schemathesis.toml").write_text(CONFIG)
        results = [fuzz(workdir, token, args.examples, args.seed) for token in (None, "fuzz")]
    bad = False
    for result in results:
        print(json.dumps(result))
        bad |= bool(result["5xx"] or result["schema_violations"] or result["errors"])
        bad |= int(result["test_cases"]) < 1000  # type: ignore[call-overload]
    total = sum(int(r["test_cases"]) for r in results)  # type: ignore[call-overload]
    print(f"test cases in all: {total}; {'FAILED' if bad else 'no 5xx, no schema violation'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
