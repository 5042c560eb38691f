"""What JSON costs a call, and what orjson or msgspec would save: CPU per parse
(`loads`) and per write (`dumps`) of the bodies a call's path handles, with the
standard library's json and with each of orjson and msgspec that is installed.

The bodies: the bench's chat request (`make bench` sends it), the upstream's completion
(bench/upstream.py), a request with a 100 KB prompt, and one with a 1 MB base64 image
(vision). A plain chat call parses its request twice (the gateway's check, the
router's) and the upstream's answer once, and writes one body: `per call` sums those.

    .venv/bin/python bench/json_codecs.py [--seconds 0.5]

Neither orjson nor msgspec is a dependency; to measure them,
`.venv/bin/pip install orjson msgspec` first.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream import completion_body  # noqa: E402

Codec = tuple[Callable[[bytes], Any], Callable[[Any], bytes]]


def _stdlib() -> Codec:
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    return json.loads, dumps


def _codecs() -> dict[str, Codec | None]:
    found: dict[str, Codec | None] = {"json": _stdlib()}
    for name in ("orjson", "msgspec"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            found[name] = None
            continue
        found[name] = (
            (module.loads, module.dumps)
            if name == "orjson"
            else (module.json.decode, module.json.encode)
        )
    return found


def _bodies() -> dict[str, bytes]:
    def chat(content: Any) -> bytes:
        return json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
        ).encode()

    image = base64.b64encode(bytes(range(256)) * 3072).decode()  # 768 KB: 1 MB in base64
    vision = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
    ]
    return {
        "chat request": chat("Say hello in five words."),
        "completion": completion_body().encode(),
        "100 KB prompt": chat("lorem ipsum dolor sit amet " * 3800),
        "1 MB image": chat(vision),
    }


def _per_op(operation: Callable[[], Any], seconds: float) -> float:
    """Microseconds of CPU per call of `operation`, the least of three runs."""
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.process_time()
        while (spent := time.process_time() - start) < seconds / 3:
            operation()
            calls += 1
        best = min(best, spent / calls * 1e6)
    return best


def _figure(codec: Codec, raw: bytes, seconds: float) -> tuple[float, float]:
    loads, dumps = codec
    value = loads(raw)
    return _per_op(lambda: loads(raw), seconds), _per_op(lambda: dumps(value), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per figure")
    args = parser.parse_args()
    codecs, bodies = _codecs(), _bodies()
    heads = "  ".join(f"{name + ' loads/dumps us':>26}" for name in codecs)
    print(f"{'body':<14} {'bytes':>9}  {heads}")
    figures: dict[str, dict[str, tuple[float, float]]] = {}
    for label, raw in bodies.items():
        row = []
        for name, codec in codecs.items():
            if codec is None:
                row.append(f"{'not installed':>26}")
                continue
            figure = _figure(codec, raw, args.seconds)
            figures.setdefault(name, {})[label] = figure
            row.append(f"{figure[0]:>12.1f} / {figure[1]:>11.1f}")
        print(f"{label:<14} {len(raw):>9}  " + "  ".join(row))
    print("per call (a plain chat call: its request parsed twice, the completion once,")
    print("one body written):")
    for name, by_body in figures.items():
        request, completion = by_body["chat request"], by_body["completion"]
        print(f"  {name:<8} {2 * request[0] + completion[0] + request[1]:7.1f} us")


if __name__ == "__main__":
    main()
