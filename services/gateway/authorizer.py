"""Budget's Authorize for the calls a gateway has in flight at once.

A call that finds fewer than IN_FLIGHT requests on their way to Budget, and none
waiting, asks alone (Authorize): at low load nothing waits. A call that arrives
while IN_FLIGHT requests are out waits for one of them to come back, and then goes
with every other call waiting, up to MAX_BATCH, in one AuthorizeBatch: Budget
decides them in one read and one write transaction, each exactly as it would alone
(so a hard budget holds the same), and the gateway makes one gRPC call instead of
many. Nothing lingers: the wait is only ever for an answer already on its way.

A call that Budget would have failed alone fails alone (`AuthorizeFailed`, with
that status code); a batch that fails as a whole fails each of its calls. A Budget
without AuthorizeBatch (an older replica during an upgrade: UNIMPLEMENTED) is asked
one call at a time from then on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc

from tollgate import telemetry
from tollgate.v1 import budget_pb2, budget_pb2_grpc

log = logging.getLogger(__name__)

IN_FLIGHT = 2  # requests (single or batch) on their way to Budget at once
MAX_BATCH = 128


class AuthorizeFailed(Exception):
    """Budget did not answer a call: its gRPC status code."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


_CODES = {code.value[0]: code for code in grpc.StatusCode}
Answer = asyncio.Future[budget_pb2.AuthorizeResponse]
Waiting = tuple[budget_pb2.AuthorizeRequest, Answer]


@dataclass
class Authorizer:
    budget: budget_pb2_grpc.BudgetStub
    timeout: float
    in_flight: int = IN_FLIGHT
    max_batch: int = MAX_BATCH
    _out: int = 0
    _waiting: list[Waiting] = field(default_factory=list)
    _batches: bool = True
    batches_sent: int = 0  # for tests and metrics: AuthorizeBatch calls made

    def __post_init__(self) -> None:
        # A stand-in Budget (tests) may have no AuthorizeBatch: ask it one at a time.
        self._batches = getattr(self.budget, "AuthorizeBatch", None) is not None

    async def authorize(self, request: budget_pb2.AuthorizeRequest) -> budget_pb2.AuthorizeResponse:
        """Budget's answer to `request`; AuthorizeFailed when it gave none."""
        if not self._batches or (self._out < self.in_flight and not self._waiting):
            self._out += 1
            try:
                return await self._alone(request)
            finally:
                self._out -= 1
                self._send_waiting()
        answer: Answer = asyncio.get_running_loop().create_future()
        self._waiting.append((request, answer))
        return await answer

    async def _alone(self, request: budget_pb2.AuthorizeRequest) -> budget_pb2.AuthorizeResponse:
        try:
            return await self.budget.Authorize(
                request,
                timeout=self.timeout,
                # Ride out a budget replica's restart instead of failing at once.
                wait_for_ready=True,
                metadata=telemetry.outgoing_metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            raise AuthorizeFailed(exc.code(), exc.details() or "") from None

    def _send_waiting(self) -> None:
        """Send the calls waiting, in one batch, if a request may go out."""
        # A caller that gave up (its client went away) is not asked for.
        self._waiting = [waiting for waiting in self._waiting if not waiting[1].done()]
        if not self._waiting or self._out >= self.in_flight:
            return
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        self._out += 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        task.add_done_callback(_log_crash)

    async def _send(self, batch: list[Waiting]) -> None:
        try:
            if len(batch) == 1 or not self._batches:
                await self._each(batch)
                return
            try:
                reply = await self.budget.AuthorizeBatch(
                    budget_pb2.AuthorizeBatchRequest(calls=[request for request, _ in batch]),
                    timeout=self.timeout,
                    wait_for_ready=True,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("budget has no AuthorizeBatch; authorizing one call at a time")
                    self._batches = False
                    await self._each(batch)
                    return
                for _, answer in batch:
                    _fail(answer, AuthorizeFailed(exc.code(), exc.details() or ""))
                return
            self.batches_sent += 1
            outcomes = list(reply.outcomes)
            if len(outcomes) != len(batch):
                error = AuthorizeFailed(grpc.StatusCode.INTERNAL, "wrong number of outcomes")
                for _, answer in batch:
                    _fail(answer, error)
                return
            for (_, answer), outcome in zip(batch, outcomes, strict=True):
                if outcome.code:
                    code = _CODES.get(outcome.code, grpc.StatusCode.UNKNOWN)
                    _fail(answer, AuthorizeFailed(code, outcome.error))
                elif not answer.done():
                    answer.set_result(outcome.response)
        finally:
            self._out -= 1
            for _, answer in batch:  # never leave a caller waiting
                _fail(answer, AuthorizeFailed(grpc.StatusCode.CANCELLED, "not sent"))
            self._send_waiting()

    async def _each(self, batch: list[Waiting]) -> None:
        """Each call of `batch` asked alone, at once."""
        await asyncio.gather(*(self._one(request, answer) for request, answer in batch))

    async def _one(self, request: budget_pb2.AuthorizeRequest, answer: Answer) -> None:
        try:
            result = await self._alone(request)
        except AuthorizeFailed as exc:
            _fail(answer, exc)
            return
        if not answer.done():
            answer.set_result(result)


def _fail(answer: Answer, error: BaseException) -> None:
    if not answer.done():
        answer.set_exception(error)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sending a batch of authorizes failed", exc_info=task.exception())
