"""A steady stream of commands through the HTTP API, sent as a careful client sends them.

Every POST carries an Idempotency-Key; a request that fails (no answer, or a 5xx) is
retried with the same key and body until it gets an answer or `retry_for` runs out.
Each command's `occurred_at` is unique in the run (a microsecond apart from any other):
every event the command records carries it, so the store can be searched for a
command whose answer never arrived.

A lane follows referrals through the program: an officer refers, the project manager
approves some, records a release of information, completes intake (enrolling the
person on a caseload) and records contacts; now and then it sends a command that must
be refused (an approval of an approved referral, an unknown pathway).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.factories import referral_body
from tests.http import api_client

IDEMPOTENCY_PROBLEM = "urn:lead:problem:idempotency"
CASELOAD_ROTATION = 20  # intakes per case manager (the policy's warning level), then a new one


class Markers:
    """Unique, increasing `occurred_at` values just behind the clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def next(self) -> datetime:
        with self._lock:
            behind = datetime.now(UTC) - timedelta(milliseconds=50)
            self._last = max(behind, self._last + timedelta(microseconds=1))
            return self._last


@dataclass
class Attempt:
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no answer (connection refused or reset, timeout)
    error: str | None = None
    replayed: bool = False


@dataclass
class Command:
    kind: str
    path: str
    body: dict[str, Any]
    who: str
    marker: datetime
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = "unknown"  # accepted (2xx), refused (4xx), unknown (no final answer)
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @classmethod
    def make(
        cls, kind: str, path: str, body: dict[str, Any], who: str, markers: Markers
    ) -> Command:
        marker = markers.next()
        return cls(kind, path, {**body, "occurred_at": marker.isoformat()}, who, marker)


@dataclass
class LoadOptions:
    lanes: int = 3
    pace: float = 0.1  # seconds a lane waits between commands
    retry_for: float = 60.0  # how long a client keeps retrying one command
    stuck_key_for: float = 5.0  # how long it waits for a key claimed by a dead request
    timeout: float = 30.0


class Lane(threading.Thread):
    def __init__(
        self,
        n: int,
        base_url: str,
        tokens: dict[str, dict[str, str]],
        seed: int,
        markers: Markers,
        options: LoadOptions,
        run_id: str,
    ) -> None:
        super().__init__(name=f"lane-{n}", daemon=True)
        self.n = n
        self.client = api_client(base_url, timeout=options.timeout)
        self.tokens = tokens
        self.rng = random.Random(seed * 1000 + n)
        self.markers = markers
        self.options = options
        self.run_id = run_id
        self.stopping = threading.Event()
        self.commands: list[Command] = []
        self.referred: list[tuple[str, str]] = []  # (referral id, person id) awaiting approval
        self.approved: list[tuple[str, str]] = []  # awaiting a release of information
        self.consented: list[tuple[str, str, str]] = []  # + consent id: awaiting intake
        self.approved_ever: list[str] = []
        self.participants: list[str] = []  # person ids
        self.intakes = 0

    @property
    def case_manager(self) -> str:
        return f"cm.chaos-{self.run_id}-{self.n}-{self.intakes // CASELOAD_ROTATION}"

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.step()
                self.stopping.wait(self.options.pace)
        finally:
            self.client.close()

    # -- what to do next -----------------------------------------------------------------
    def step(self) -> None:
        r = self.rng.random()
        if self.consented and r < 0.5:
            self.intake(*self.consented.pop(0))
        elif self.approved and r < 0.5:
            self.consent(*self.approved.pop(0))
        elif self.referred and r < 0.4:
            self.approve(*self.referred.pop(0))
        elif self.participants and r < 0.6:
            self.contact(self.rng.choice(self.participants))
        elif r > 0.97:
            self.refused()
        else:
            self.refer()

    def refer(self) -> None:
        body = referral_body(n=len(self.commands), pathway=self.rng.choice(PATHWAYS))
        command = self.send("refer", "/v1/referrals", body, "officer.reyes")
        if command.accepted and self.rng.random() < 0.6:
            self.referred.append((command.answer["id"], command.answer["person_id"]))

    def approve(self, referral: str, person: str) -> None:
        command = self.send("approve", f"/v1/referrals/{referral}/approve", {}, "pm.kim")
        if command.accepted:
            self.approved_ever.append(referral)
            if self.rng.random() < 0.6:
                self.approved.append((referral, person))

    def consent(self, referral: str, person: str) -> None:
        now = datetime.now(UTC)
        body = {
            "person_id": person,
            "disclosing_party": "REACH",
            "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
            "purpose": "coordinate pending cases",
            "information_kinds": ["legal_status", "program_status"],
            "signature_method": "e_signature",
            "signed_at": (now - timedelta(hours=1)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        }
        command = self.send("consent", "/v1/consents", body, "pm.kim")
        if command.accepted:
            self.consented.append((referral, person, command.answer["id"]))

    def intake(self, referral: str, person: str, consent: str) -> None:
        body = {
            "completed_on": str(date.today()),
            "case_manager": self.case_manager,
            "consent_id": consent,
        }
        self.intakes += 1
        command = self.send("intake", f"/v1/referrals/{referral}/intake", body, "pm.kim")
        if command.accepted:
            self.participants.append(person)

    def contact(self, person: str) -> None:
        body = {
            "kind": "street_outreach",
            "contacted_on": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "minutes": self.rng.randint(5, 60),
        }
        self.send("contact", f"/v1/participants/{person}/contacts", body, "pm.kim")

    def refused(self) -> None:
        """A command the API must refuse, recording nothing."""
        if self.approved_ever and self.rng.random() < 0.5:
            referral = self.rng.choice(self.approved_ever)
            self.send("approve-again", f"/v1/referrals/{referral}/approve", {}, "pm.kim")
        else:
            body = {**referral_body(n=len(self.commands)), "pathway": "no_such_pathway"}
            self.send("refer-invalid", "/v1/referrals", body, "officer.reyes")

    # -- sending -------------------------------------------------------------------------
    def send(self, kind: str, path: str, body: dict[str, Any], who: str) -> Command:
        command = Command.make(kind, path, body, who, self.markers)
        self.commands.append(command)
        send(self.client, self.tokens[who], command, self.options)
        return command


def send(
    client: httpx.Client, token: dict[str, str], command: Command, options: LoadOptions
) -> None:
    """POST until an answer (2xx or 4xx) or `options.retry_for` runs out, with one key."""
    headers = {**token, "idempotency-key": command.key}
    give_up = time.monotonic() + options.retry_for
    delay = 0.2
    stuck_since: float | None = None
    while True:
        began = time.monotonic()
        try:
            response = client.post(command.path, json=command.body, headers=headers)
        except httpx.TransportError as exc:
            command.attempts.append(Attempt(began, time.monotonic(), None, type(exc).__name__))
        else:
            status = response.status_code
            replayed = response.headers.get("idempotent-replayed") == "true"
            command.attempts.append(Attempt(began, time.monotonic(), status, None, replayed))
            answer = response.json() if response.content else {}
            if status < 300:
                command.outcome, command.answer = "accepted", answer
                return
            if status < 500:
                if answer.get("type") != IDEMPOTENCY_PROBLEM:
                    command.outcome, command.answer = "refused", answer
                    return
                # The key is claimed by an earlier attempt that may still be running, or
                # that died with the API: its outcome is unknown.
                stuck_since = stuck_since or began
                if time.monotonic() - stuck_since > options.stuck_key_for:
                    command.answer = answer
                    return
        if time.monotonic() > give_up:
            return
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


PATHWAYS = ("arrest_diversion", "arrest_diversion", "social_contact")  # an officer's doors


def start_lanes(
    base_url: str,
    tokens: dict[str, dict[str, str]],
    seed: int,
    options: LoadOptions,
    run_id: str,
    markers: Markers,
) -> list[Lane]:
    lanes = [
        Lane(n, base_url, tokens, seed, markers, options, run_id) for n in range(options.lanes)
    ]
    for lane in lanes:
        lane.start()
    return lanes


def stop_lanes(lanes: list[Lane], timeout: float = 120) -> list[Command]:
    for lane in lanes:
        lane.stopping.set()
    for lane in lanes:
        lane.join(timeout)
    return [command for lane in lanes for command in lane.commands]
