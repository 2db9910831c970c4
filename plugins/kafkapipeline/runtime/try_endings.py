"""How the earlier tries of a task instance ended, from what Airflow recorded, read through its REST API.

Airflow 3.3 keeps no exit code on a task instance, and no callback runs when a task's process is
killed (``on_retry_callback`` / ``on_failure_callback`` run in that process). What it records:

* a process killed by a signal while its supervisor lives on: the supervisor writes one entry into
  that try's log, "Process terminated by signal", with the fields ``signal`` (minus the signal's
  number) and ``signal_name``. For SIGKILL it adds "Likely out of memory error (OOM)", a guess: an
  operator's ``kill -9``, a stopped container and the kernel's OOM killer all end a process so;
* a worker killed with its supervisor: no log entry; the scheduler, once the try stops
  heartbeating, writes a ``heartbeat timeout`` entry in the audit log (``/eventLogs``).

:func:`earlier_try_endings` reads both (``.../tries``, ``.../logs/{try}``, ``/eventLogs``); the
drain's retry logs what it finds (:mod:`kafkapipeline.drain.task`), and ``pipeline_health`` names it
(:mod:`kafkapipeline.health.dag_runs`).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafkapipeline.airflow_api import AirflowApi

#: The scheduler's audit-log event for a try that stopped heartbeating.
HEARTBEAT_TIMEOUT_EVENT = "heartbeat timeout"
#: What the retry's log adds to a SIGKILL: Airflow's own line calls it a likely out-of-memory kill.
SIGKILL_NOTE = (
    "Airflow's log of that try guesses 'Likely out of memory error (OOM)' for any SIGKILL; "
    "a kill -9, a stopped container and the kernel's OOM killer all look the same"
)
_SIGNAL_FIELD = re.compile(r"signal_name=['\"]?(SIG[A-Z0-9]+)")


@dataclass(frozen=True)
class TryEnding:
    """How one earlier try ended.

    :param try_number: the try
    :param state: its state as Airflow recorded it (``failed``, ``up_for_retry``...)
    :param signal_number: the signal that killed its process, when its log names one
    :param signal_name: that signal's name (``SIGKILL``)
    :param heartbeat_timeout: the scheduler gave it up because it stopped heartbeating
    """

    try_number: int
    state: str | None
    signal_number: int | None = None
    signal_name: str | None = None
    heartbeat_timeout: bool = False

    @property
    def killed(self) -> bool:
        """Its process died without ending the try itself (a signal, or its worker went away)."""
        return self.signal_number is not None or self.heartbeat_timeout

    def describe(self) -> str:
        """One line: which try, and what ended it."""
        if self.signal_number is not None:
            text = f"try {self.try_number} was killed by signal {self.signal_number} ({self.signal_name})"
            return f"{text}; {SIGKILL_NOTE}" if self.signal_number == signal.SIGKILL else text
        if self.heartbeat_timeout:
            return (
                f"try {self.try_number} stopped heartbeating and the scheduler gave it up: its worker "
                "was killed or lost the api-server"
            )
        return f"try {self.try_number} ended {self.state or 'unknown'} with an error of its own (see its log)"

    def short(self) -> str:
        """A few words for a health figure's detail."""
        if self.signal_number is not None:
            return f"try {self.try_number} killed by signal {self.signal_number} ({self.signal_name})"
        if self.heartbeat_timeout:
            return f"try {self.try_number} lost (heartbeat timeout)"
        return f"try {self.try_number} {self.state or 'ended'}"


def signal_in_log(entries: Iterable[Any]) -> tuple[int, str] | None:
    """The signal (number, name) the supervisor's entry in a try's log names; None when none does.

    :param entries: the log's entries as the REST API gives them: dicts with ``event`` and the
        entry's fields, or plain lines when Airflow could not parse the log
    """
    for entry in entries:
        name: str | None = None
        number: int | None = None
        if isinstance(entry, Mapping):
            if entry.get("signal_name"):
                name = str(entry["signal_name"])
                raw = entry.get("signal")
                number = abs(int(raw)) if isinstance(raw, int | float) and raw else None
        elif isinstance(entry, str) and (found := _SIGNAL_FIELD.search(entry)):
            name = found.group(1)
        if name is None:
            continue
        if number is None:
            try:
                number = int(signal.Signals[name])
            except KeyError:
                continue
        return number, name
    return None


def earlier_try_endings(
    api: AirflowApi, dag_id: str, run_id: str, task_id: str, *, map_index: int, before: int
) -> list[TryEnding]:
    """How each try of the task instance before try ``before`` ended (oldest first).

    A try that succeeded is left out (it was not retried).
    """
    tries = [
        t
        for t in api.task_tries(dag_id, run_id, task_id, map_index)
        if int(t.get("try_number") or 0) < before and t.get("state") != "success"
    ]
    if not tries:
        return []
    timed_out = {
        int(e["try_number"])
        for e in api.event_logs(
            dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, event=HEARTBEAT_TIMEOUT_EVENT
        )
        if e.get("try_number") is not None
    }
    endings = []
    for entry in sorted(tries, key=lambda t: int(t["try_number"])):
        number = int(entry["try_number"])
        found = signal_in_log(api.task_log(dag_id, run_id, task_id, number, map_index))
        endings.append(
            TryEnding(
                try_number=number,
                state=entry.get("state"),
                signal_number=found[0] if found else None,
                signal_name=found[1] if found else None,
                heartbeat_timeout=number in timed_out,
            )
        )
    return endings
