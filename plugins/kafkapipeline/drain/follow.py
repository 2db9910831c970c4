"""A drain task that follows on: after its batch, it drains the next ones itself as each becomes ready.

By default (``KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS``, 300; 0 turns it off) a drain task reads its
partitions' lag every ``poll_seconds`` after a batch and drains again as soon as the trigger's rule
says a batch is ready (:func:`~kafkapipeline.kafka.lag_trigger.ready_reason`). It stops when that
many seconds have passed since it started, or when its partitions have had nothing pending for
:data:`IDLE_POLLS` polls (or ``max_wait_seconds``, if shorter): a quiet topic goes back to the
deferred sensor, which holds no worker slot. It also stops when another run of its DAG is queued (a
manual run with Params, say): ``@continuous`` with one active run would otherwise keep that run waiting
while this one follows on. Each batch is a batch of the drain's own (its
transaction, its ``drain_batches`` row, its metrics) on the task's one set of connections
(:mod:`kafkapipeline.drain.drainer`); the task returns them as one summary. Why: such a batch waits
for no DAG run, trigger start or task start, at the price of a worker slot held while traffic flows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.lag import LagReader, TopicLag
from kafkapipeline.kafka.lag_trigger import checked_thresholds, ready_reason

log = logging.getLogger(__name__)

#: Lag readings in a row with nothing pending that end the following: the time a batch takes to
#: drain empties the lag for a moment even under steady traffic, so one empty reading is not idle.
IDLE_POLLS = 3


def owned(lag: TopicLag, partitions: Sequence[int] | None) -> TopicLag:
    """``lag`` of ``partitions`` only (all of them when None): what this task's partition group holds."""
    if partitions is None:
        return lag
    wanted = set(partitions)
    kept = tuple(p for p in lag.partitions if p.partition in wanted)
    return TopicLag(topic=lag.topic, group_id=lag.group_id, partitions=kept, measured_at=lag.measured_at)


class Follower:
    """Waits for the next ready batch of one partition group, with the trigger's rule.

    :param reader: the lag reader (long-lived: one consumer for every reading)
    :param partitions: the task's partitions; None for all
    :param min_batch: messages pending that make a batch
    :param max_wait_seconds: the oldest pending message's age that makes a batch; an idle group is
        waited for this long, or :data:`IDLE_POLLS` polls if shorter, before the task ends
    :param poll_seconds: seconds between lag readings
    :param waiting_run: asked before each lag reading; a reason to hand over to a run waiting for
        this one to end (the task ends its following), or None to go on
    :param clock: monotonic seconds (a parameter for the tests)
    :param sleep: waits that many seconds (a parameter for the tests)
    """

    def __init__(
        self,
        reader: LagReader,
        partitions: Sequence[int] | None,
        *,
        min_batch: int,
        max_wait_seconds: float,
        poll_seconds: float,
        waiting_run: Callable[[], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_batch, self.max_wait_seconds, self.poll_seconds = checked_thresholds(
            min_batch, max_wait_seconds, poll_seconds
        )
        self.idle_seconds = min(self.max_wait_seconds, IDLE_POLLS * self.poll_seconds)
        self.reader = reader
        self.partitions = partitions
        self.waiting_run = waiting_run
        self.clock = clock
        self.sleep = sleep

    def next_batch(self, until: float) -> str | None:
        """Why the next batch is ready; None once ``until`` comes, the group stays idle or a run waits."""
        idle_since: float | None = None
        while True:
            waiting = self.waiting_run() if self.waiting_run is not None else None
            if waiting is not None:
                log.info("Handing over: %s", waiting)
                return None
            lag = owned(self.reader.read(with_age=False), self.partitions)
            now = self.clock()
            if lag.total == 0:
                idle_since = now if idle_since is None else idle_since
                if now - idle_since >= self.idle_seconds:
                    return None
            else:
                idle_since = None
                if lag.total < self.min_batch:
                    lag = owned(self.reader.with_ages(lag), self.partitions)
                reason = ready_reason(lag, self.min_batch, self.max_wait_seconds, time.time())
                if reason is not None:
                    return reason
            if now + self.poll_seconds >= until:
                return None
            self.sleep(self.poll_seconds)

    def follow(
        self, first: DrainSummary, drain_again: Callable[[], DrainSummary], until: float
    ) -> DrainSummary:
        """``first`` and every batch ``drain_again`` drains before ``until``, as one summary.

        A failed lag reading ends the following (the batches so far are committed); a failed batch
        raises, as the first would have.
        """
        summary, batches = first, 1
        while self.clock() < until:
            try:
                reason = self.next_batch(until)
            except Exception as err:
                log.warning(
                    "Stopped following %s after %d batches: lag or waiting runs unreadable: %s",
                    first.topic,
                    batches,
                    err,
                )
                break
            if reason is None:
                break
            summary = summary.then(drain_again())
            batches += 1
        log.info("Drained %d batches of %s in this task", batches, first.topic)
        return summary
