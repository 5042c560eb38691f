"""A JSONL file's requests: its non-blank lines, numbered as the file numbers them."""

from __future__ import annotations


def request_lines(content: bytes) -> list[tuple[int, bytes]]:
    """The file's non-blank lines with their 1-based line numbers."""
    lines = []
    for number, line in enumerate(content.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if line.strip():
            lines.append((number, line))
    return lines
