"""The ``Work`` stream (docs/PROTOCOL.md §5): :class:`Lane` answers ``LaneOpen`` with
``LaneReady``, runs every ``Invocation`` as its own task (deadline from receipt, cancel, error
capture) and sends exactly one ``Outcome`` per invocation id; :class:`Lifecycle` holds what the
lanes share: draining, the count of outcomes owed and the stop signal.

Feature ``work.batch``: a ``WorkBatch`` frame is handled as its invocations, then its cancels;
when the supervisor offered the feature, the outcomes queued when the stream is written (those
finished in the same turns of the event loop) leave in one ``OutcomeBatch`` frame. Nothing
waits to fill a batch.

Exactly once: each invocation still owed an outcome has an entry in its lane's ``running``
map. Whoever removes the entry (the task when it finishes, a ``Cancel`` frame, or the end of the
grace period of a stop) sends the outcome; the others send nothing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator, Callable, cast

from . import _log
from ._pb import MAX_MESSAGE_BYTES
from ._pb import work as pb
from .dispatch import Dispatcher, error_outcome

if TYPE_CHECKING:
    from grpc_health.v1.health import aio as health_aio

__all__ = ["Lane", "Lifecycle"]

#: Room kept under the message limit for the frame around an outcome.
_FRAME_OVERHEAD = 64
#: Marks "no frame carried over" (``None`` is the end of the lane).
_NOTHING = object()

#: Most outcomes in one ``OutcomeBatch`` frame.
BATCH_ITEMS = 256
#: Most bytes of outcomes in one ``OutcomeBatch`` frame (a larger outcome still travels, alone).
BATCH_BYTES = 1024 * 1024


def _unavailable(id: int, message: str) -> pb.Outcome:
    return error_outcome(id, pb.ERROR_CODE_UNAVAILABLE, message, True)


class Lifecycle:
    """State shared by the lanes of one server: draining, outcomes owed, the stop signal."""

    def __init__(self, health: health_aio.HealthServicer | None = None) -> None:
        self.health = health
        self.draining = False
        self.lanes: set[Lane] = set()
        self._changed = asyncio.Event()
        self.stop_requested = asyncio.Event()

    def owed(self) -> int:
        """Invocations of every lane not answered yet."""
        return sum(len(lane.running) for lane in self.lanes)

    def changed(self) -> None:
        """Wakes up :meth:`drain` (an outcome was sent or a lane ended)."""
        self._changed.set()

    async def set_health(self, serving: bool) -> None:
        """Reports the status of ``""`` and of the Plugin service."""
        if self.health is None:
            return
        from grpc_health.v1 import health_pb2

        from ._pb import PLUGIN_SERVICE_NAME

        if serving:
            status = health_pb2.HealthCheckResponse.SERVING
            await self.health.set("", status)
            await self.health.set(PLUGIN_SERVICE_NAME, status)
        else:
            await self.health.enter_graceful_shutdown()

    async def begin_drain(self) -> None:
        """Health NOT_SERVING; new invocations are answered UNAVAILABLE from now on."""
        self.draining = True
        await self.set_health(False)

    async def wait_idle(self, timeout: float) -> bool:
        """Waits until no outcome is owed (True) or ``timeout`` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, timeout)
        while self.owed():
            left = end - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return not self.owed()
        return True

    async def drain(self, grace: float) -> int:
        """Drains: lets in-flight invocations finish for up to ``grace`` seconds, then answers
        those still running UNAVAILABLE (retryable). Returns how many were abandoned."""
        await self.begin_drain()
        await self.wait_idle(grace)
        return self.abandon_all()

    def abandon_all(self) -> int:
        """Stops every invocation still running and answers it UNAVAILABLE."""
        abandoned = 0
        for lane in list(self.lanes):
            abandoned += lane.stop_all(
                lambda id: _unavailable(id, "the module stopped before the invocation finished")
            )
        return abandoned

    def request_stop(self) -> None:
        """Asks the server to stop."""
        self.stop_requested.set()


class Lane:
    """One ``Work`` stream."""

    def __init__(self, dispatcher: Dispatcher, lifecycle: Lifecycle, batch_outcomes: bool = False) -> None:
        self._dispatcher = dispatcher
        self._lifecycle = lifecycle
        #: Whether outcomes queued together leave in one frame (the supervisor offered
        #: ``work.batch``).
        self._batch_outcomes = batch_outcomes
        self._out: asyncio.Queue[pb.ModuleFrame | None] = asyncio.Queue()
        #: A frame (or the end marker ``None``) taken from the queue that did not fit the last
        #: batch; ``_NOTHING`` when there is none.
        self._carry: pb.ModuleFrame | None | object = _NOTHING
        #: Invocations owed an outcome, by id, with the task running each.
        self.running: dict[int, asyncio.Task[None]] = {}
        self.number: int | None = None

    # ---- writing ---------------------------------------------------------------------------

    def _send(self, frame: pb.ModuleFrame) -> None:
        # The queue is unbounded: at most one outcome per invocation the supervisor sent,
        # itself bounded by max_in_flight.
        self._out.put_nowait(frame)

    def send_outcome(self, outcome: pb.Outcome) -> None:
        """Queues an outcome; one too large for a gRPC message becomes an INTERNAL error."""
        size = outcome.ByteSize()
        if size > MAX_MESSAGE_BYTES - _FRAME_OVERHEAD:
            outcome = error_outcome(
                outcome.id,
                pb.ERROR_CODE_INTERNAL,
                f"the answer is too large: {size} bytes, over the 16 MiB message limit",
            )
        self._send(pb.ModuleFrame(outcome=outcome))
        self._lifecycle.changed()

    # ---- reading ---------------------------------------------------------------------------

    async def serve(self, frames: AsyncIterator[pb.SupervisorFrame]) -> AsyncIterator[pb.ModuleFrame]:
        """Serves the stream: returns the frames to send. Ends (status OK) once the supervisor
        has half-closed its side and every outcome owed on the lane has been sent."""
        self._lifecycle.lanes.add(self)
        reader = asyncio.create_task(self._read(frames))
        try:
            while True:
                frame = await self._next_frame()
                if frame is None:
                    return
                yield frame
        finally:
            reader.cancel()
            # The stream is gone (or ended): nobody will read outcomes any more.
            self.stop_all(None)
            self._lifecycle.lanes.discard(self)
            self._lifecycle.changed()

    async def _next_frame(self) -> pb.ModuleFrame | None:
        """The next frame to send: with batching, every outcome already queued (bounded by
        :data:`BATCH_ITEMS` and :data:`BATCH_BYTES`) in one ``OutcomeBatch``."""
        first: pb.ModuleFrame | None
        if self._carry is not _NOTHING:
            first, self._carry = cast("pb.ModuleFrame | None", self._carry), _NOTHING
        else:
            first = await self._out.get()
        if first is None or not self._batch_outcomes or not first.HasField("outcome"):
            return first
        outcomes = [first.outcome]
        size = first.outcome.ByteSize()
        while len(outcomes) < BATCH_ITEMS and not self._out.empty():
            frame = self._out.get_nowait()
            if frame is None or not frame.HasField("outcome") or size + frame.outcome.ByteSize() > BATCH_BYTES:
                self._carry = frame
                break
            size += frame.outcome.ByteSize()
            outcomes.append(frame.outcome)
        if len(outcomes) == 1:
            return first
        return pb.ModuleFrame(outcomes=pb.OutcomeBatch(outcomes=outcomes))

    async def _read(self, frames: AsyncIterator[pb.SupervisorFrame]) -> None:
        try:
            async for frame in frames:
                kind = frame.WhichOneof("frame")
                if kind == "open":
                    self.number = frame.open.lane
                    self._send(pb.ModuleFrame(ready=pb.LaneReady(lane=frame.open.lane)))
                elif kind == "invocation":
                    self.start(frame.invocation)
                elif kind == "cancel":
                    self.cancel(frame.cancel.id, frame.cancel.reason)
                elif kind == "batch":
                    for invocation in frame.batch.invocations:
                        self.start(invocation)
                    for cancel in frame.batch.cancels:
                        self.cancel(cancel.id, cancel.reason)
                # Any other (newer) frame variant is ignored.
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the stream broke
            _log.emit("warn", "work stream failed", {"error": str(err), "lane": self.number})
            self.stop_all(None)
            self._out.put_nowait(None)
            return
        # Half-closed by the supervisor: send what is owed, then end the stream.
        while self.running:
            await self._wait_changed()
        self._out.put_nowait(None)

    async def _wait_changed(self) -> None:
        tasks = [t for t in self.running.values()]
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)

    # ---- invocations -----------------------------------------------------------------------

    def start(self, inv: pb.Invocation) -> None:
        """Starts one invocation's task (or answers at once when draining)."""
        received = asyncio.get_running_loop().time()
        if self._lifecycle.draining:
            self.send_outcome(_unavailable(inv.id, "the module is shutting down"))
            return
        if inv.id in self.running:
            _log.emit("warn", "ignored an invocation whose id is already running", {"id": inv.id})
            return
        deadline = received + inv.timeout_ms / 1000 if inv.timeout_ms else None
        self.running[inv.id] = asyncio.create_task(self._run(inv, deadline))

    async def _run(self, inv: pb.Invocation, deadline: float | None) -> None:
        try:
            if deadline is None:
                outcome = await self._dispatcher.run(inv, None)
            else:
                timeout = asyncio.timeout_at(deadline)
                try:
                    async with timeout:
                        outcome = await self._dispatcher.run(inv, deadline)
                except TimeoutError:
                    if not timeout.expired():
                        raise
                    outcome = error_outcome(
                        inv.id, pb.ERROR_CODE_DEADLINE_EXCEEDED, "deadline exceeded", True
                    )
        except asyncio.CancelledError:
            # Cancelled by a Cancel frame or a stop: the canceller answers.
            return
        if self.running.pop(inv.id, None) is not None:
            self.send_outcome(outcome)

    def cancel(self, id: int, reason: str) -> None:
        """A ``Cancel`` frame: stops the invocation and answers CANCELLED; ignored when the
        outcome was already sent or the id is unknown."""
        task = self.running.pop(id, None)
        if task is None:
            return
        task.cancel()
        message = f"cancelled: {reason}" if reason else "cancelled"
        self.send_outcome(error_outcome(id, pb.ERROR_CODE_CANCELLED, message))

    def stop_all(self, answer: Callable[[int], pb.Outcome] | None) -> int:
        """Stops every running invocation; with ``answer``, sends each ``answer(id)``.
        Returns how many were stopped."""
        stopped = list(self.running.items())
        self.running.clear()
        for id, task in stopped:
            task.cancel()
            if answer is not None:
                self.send_outcome(answer(id))
        if stopped:
            self._lifecycle.changed()
        return len(stopped)
