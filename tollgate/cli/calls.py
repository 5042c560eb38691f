"""`tollgate calls`: a project's calls, one record each (Metering's ExportCalls), as
CSV, as one JSON array, or as a table, written page by page as they arrive; on a
terminal, a progress line on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from tollgate.cli.common import add_command
from tollgate.config import Settings

_TABLE = "{:<24} {:<26} {:<24} {:<11} {:>9} {:>9} {:<4}{:>16}\n"


def cmd_calls(settings: Settings, args: argparse.Namespace) -> int:
    import grpc

    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.calls import CallsWriter, call_json
    from tollgate.v1 import metering_pb2

    request = metering_pb2.ExportCallsRequest(
        project=args.project, from_day=args.from_day or "", to_day=args.to_day or ""
    )
    out, progress = sys.stdout, _Progress(sys.stderr)
    writer = CallsWriter("json" if args.json else "csv")
    table = not (args.csv or args.json)
    with metering(settings) as m:
        try:
            # Nothing is written before the first page: a refusal comes before it.
            for n, page in enumerate(m.stub.ExportCalls(request, timeout=None)):
                if n == 0:
                    out.write(_TABLE.format(*_HEADER) if table else writer.begin())
                if table:
                    out.write("".join(_row(call_json(call)) for call in page.calls))
                    writer.count += len(page.calls)
                else:
                    out.write(writer.page(page))
                out.flush()
                progress.show(writer.count)
        except grpc.RpcError as error:
            progress.done()
            raise m.failure(error) from None
    out.write("" if table else writer.end())
    progress.done()
    return 0


_HEADER = ("STARTED", "REQUEST", "MODEL", "STATUS", "INPUT", "OUTPUT", "CUR", "COST")


def _row(call: dict[str, Any]) -> str:
    return _TABLE.format(
        call["started_at"],
        call["request_id"],
        call["model_served"],
        call["status"],
        call["input_tokens"],
        call["output_tokens"],
        call["currency"],
        call["cost"],
    )


class _Progress:
    """ "N calls" rewritten in place on a terminal's stderr; silent elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.shown = False

    def show(self, count: int) -> None:
        if self.on:
            self.stream.write(f"\r{count} calls exported")
            self.stream.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `tollgate calls` to the `tollgate` parser."""
    p = add_command(sub, "calls", cmd_calls, "a project's calls, one record each, as they started")
    p.add_argument("--project", required=True)
    p.add_argument("--from", dest="from_day", help="first UTC day, YYYY-MM-DD")
    p.add_argument("--to", dest="to_day", help="last UTC day, YYYY-MM-DD (default: today)")
    formats = p.add_mutually_exclusive_group()
    formats.add_argument("--csv", action="store_true", help="CSV, one row a call")
    formats.add_argument("--json", action="store_true", help="one JSON array of calls")
