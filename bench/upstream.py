"""The bench's upstream: a static nginx when it is installed (`apt-get install -y
nginx-light`), else `tollgate mock-upstream`.

nginx answers every chat completion with one fixed body from memory in about 0.1 ms
and a few microseconds of CPU, so the "direct" figures are close to the network's and
nearly all the CPU the machine spends is the suite's. It serves, from a config in the
bench's temporary home on a free port, `/json/v1/chat/completions` (a completion of
MODEL with its usage) and `/sse/v1/chat/completions` (a stream of STREAM_MODEL: three
chunks, a usage chunk, `[DONE]`). The mock computes each answer in Python (about 1 ms
of CPU a call) and serves both under one `/v1`.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from suite import MODEL, STREAM_MODEL, free_port, start, stop, tollgate_command, wait_http

USAGE = {"prompt_tokens": 24, "completion_tokens": 7, "total_tokens": 31}
WORDS = ["Hello", " there,", " friend!"]


@dataclass(frozen=True)
class Upstream:
    kind: str  # "nginx" or "mock", for the report
    json_base: str  # .../v1 answering MODEL
    stream_base: str  # .../v1 answering STREAM_MODEL, streamed


def completion_body() -> str:
    message = {"role": "assistant", "content": "".join(WORDS)}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1764633600,
            "model": MODEL,
            "choices": [choice],
            "usage": USAGE,
        },
        separators=(",", ":"),
    )


def stream_body() -> str:
    def chunk(delta: dict[str, str] | None, finish: str | None, **extra: object) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        choices = [] if delta is None else [choice]
        data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1764633600,
            "model": STREAM_MODEL,
            "choices": choices,
            **extra,
        }
        return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"

    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": word}, None) for word in WORDS]
    events.append(chunk({}, "stop"))
    events.append(chunk(None, None, usage=USAGE))
    return "".join(events) + "data: [DONE]\n\n"


def nginx_quote(text: str) -> str:
    """`text` as an nginx quoted string (its parser reads \\n, \\", \\\\)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def nginx_config(home: Path, port: int) -> str:
    temp = home / "nginx-temp"
    temp.mkdir(exist_ok=True)
    temps = "\n".join(
        f"  {kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    models = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    return f"""daemon off;
worker_processes 1;
pid {home / "nginx.pid"};
error_log {home / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
{temps}
  server {{
    listen 127.0.0.1:{port};
    location = /json/v1/chat/completions {{
      default_type application/json;
      return 200 {nginx_quote(completion_body())};
    }}
    location = /sse/v1/chat/completions {{
      default_type text/event-stream;
      return 200 {nginx_quote(stream_body())};
    }}
    location = /json/v1/models {{
      default_type application/json;
      return 200 {nginx_quote(models)};
    }}
  }}
}}
"""


def start_nginx(nginx: str, home: Path, stack: ExitStack) -> Upstream:
    port = free_port()
    config = home / "nginx.conf"
    config.write_text(nginx_config(home, port))
    log = home / "nginx.log"
    argv = [nginx, "-p", str(home), "-c", str(config), "-e", str(home / "nginx-error.log")]
    process = start(argv, dict(PATH="/usr/sbin:/usr/bin:/bin"), log)
    stack.callback(stop, process)
    root = f"http://127.0.0.1:{port}"
    wait_http(f"{root}/json/v1/models", process, log, timeout=30)
    return Upstream("nginx (static)", f"{root}/json/v1", f"{root}/sse/v1")


def start_mock(home: Path, stack: ExitStack, env: dict[str, str]) -> Upstream:
    port = free_port()
    log = home / "upstream.log"
    argv = [tollgate_command(), "mock-upstream", "--host", "127.0.0.1", "--port", str(port)]
    process = start(argv, env, log)
    stack.callback(stop, process)
    base = f"http://127.0.0.1:{port}/v1"
    wait_http(f"{base}/models", process, log, timeout=60)
    return Upstream("tollgate mock-upstream (Python)", base, base)


def start_upstream(home: Path, stack: ExitStack, env: dict[str, str], mock: bool) -> Upstream:
    nginx = None if mock else shutil.which("nginx") or _sbin("nginx")
    return start_nginx(nginx, home, stack) if nginx else start_mock(home, stack, env)


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None
