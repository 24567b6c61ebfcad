"""A hypothesis state machine over reserve / charge / refund / grant (and replays of each).

Invariants after every step, per user (docs/credits.md "Invariants"):
  sum(ledger.amount) == wallet.balance + wallet.reserved   (amount = change of holdings)
  sum(ledger.held)   == wallet.reserved                    (held = change of reservations)
  wallet.balance >= 0 and wallet.reserved >= 0
  reserved == the sum of the reservations not yet charged or refunded (each settled once)
and the wallet equals a plain Python model of the same operations.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from hub.accounts.users import create_user
from hub.credits import service
from hub.credits.models import Wallet
from hub.db import Database
from hub.errors import InsufficientCredits
from hub.settings import Settings

USERS = 2
_counter = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self, template: Path, workdir: Path) -> None:
        super().__init__()
        path = workdir / f"ledger-{next(_counter)}.sqlite3"
        shutil.copyfile(template, path)
        self.loop = asyncio.Runner()
        self.db = Database(
            Settings(
                database_url=f"sqlite+aiosqlite:///{path}",
                data_dir=workdir,
                signup_credits=50,
                environment="test",
            )
        )
        self.user_ids: list[int] = []
        self.balance: dict[int, int] = {}
        self.reserved: dict[int, int] = {}
        self.open: dict[str, tuple[int, int]] = {}  # job -> (user, amount)
        self.settled: set[str] = set()
        self.job_seq = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)

    @initialize()
    def make_users(self) -> None:
        async def create() -> list[int]:
            ids = []
            async with self.db.unit_of_work() as session:
                for n in range(USERS):
                    user = await create_user(
                        session, email=f"u{n}@example.com", username=f"user{n}", password=None
                    )
                    assert user.user_id is not None
                    ids.append(user.user_id)
            return ids

        self.user_ids = self.run(create())
        for user_id in self.user_ids:
            # Nothing touched the wallets yet: the first operation creates them (+50).
            self.balance[user_id] = 50
            self.reserved[user_id] = 0

    @rule(target=jobs, user=st.integers(0, USERS - 1), amount=st.integers(1, 40))
    def reserve(self, user: int, amount: int) -> Any:
        user_id = self.user_ids[user]
        self.job_seq += 1
        job_id = f"job-{self.job_seq}"

        async def go() -> bool:
            try:
                async with self.db.unit_of_work() as session:
                    await service.reserve_credits(
                        session, user_id=user_id, amount=amount, job_id=job_id
                    )
                return True
            except InsufficientCredits:
                return False

        accepted = self.run(go())
        assert accepted == (self.balance[user_id] >= amount)
        if not accepted:
            return multiple()
        self.balance[user_id] -= amount
        self.reserved[user_id] += amount
        self.open[job_id] = (user_id, amount)
        return job_id

    def _settle(self, job_id: str, charge: bool) -> None:
        async def go() -> None:
            async with self.db.unit_of_work() as session:
                if charge:
                    await service.charge_reservation(session, job_id=job_id)
                else:
                    await service.refund_reservation(session, job_id=job_id)

        self.run(go())
        if job_id in self.open:
            user_id, amount = self.open.pop(job_id)
            self.reserved[user_id] -= amount
            if not charge:
                self.balance[user_id] += amount
            self.settled.add(job_id)

    @rule(job_id=jobs)
    def charge(self, job_id: str) -> None:
        self._settle(job_id, charge=True)

    @rule(job_id=jobs)
    def refund(self, job_id: str) -> None:
        self._settle(job_id, charge=False)

    @rule(job_id=jobs)
    def replay_reserve(self, job_id: str) -> None:
        # A retried enqueue must not reserve twice, even after the job was settled.
        async def go() -> None:
            async with self.db.unit_of_work() as session:
                entry = await service.get_reservation(session, job_id)
                assert entry is not None
                await service.reserve_credits(
                    session, user_id=entry.user_id, amount=entry.held, job_id=job_id
                )

        self.run(go())

    @rule(user=st.integers(0, USERS - 1), amount=st.integers(1, 30), key=st.integers(0, 5))
    def grant(self, user: int, amount: int, key: int) -> None:
        user_id = self.user_ids[user]
        idem = f"{user_id}-{key}"

        async def go() -> bool:
            async with self.db.unit_of_work() as session:
                before = await service.get_balance(session, user_id)
                await service.grant_credits(
                    session, user_id=user_id, amount=amount, idempotency_key=idem
                )
                after = await service.get_balance(session, user_id)
            return after.balance != before.balance

        if self.run(go()):
            self.balance[user_id] += amount

    @invariant()
    def books_balance(self) -> None:
        if not self.user_ids:
            return

        async def read() -> list[tuple[int, int, int, int]]:
            rows = []
            async with self.db.unit_of_work() as session:
                for user_id in self.user_ids:
                    wallet = await session.get(Wallet, user_id)
                    amount_sum, held_sum = await service.ledger_totals(session, user_id)
                    balance = wallet.balance if wallet else 50
                    reserved = wallet.reserved if wallet else 0
                    amount_sum = amount_sum if wallet else 50
                    rows.append((balance, reserved, amount_sum, held_sum))
            return rows

        for user_id, (balance, reserved, amount_sum, held_sum) in zip(
            self.user_ids, self.run(read()), strict=True
        ):
            assert balance >= 0
            assert reserved >= 0
            assert amount_sum == balance + reserved
            assert held_sum == reserved
            open_sum = sum(a for u, a in self.open.values() if u == user_id)
            assert reserved == open_sum
            assert (balance, reserved) == (self.balance[user_id], self.reserved[user_id])

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()


def test_ledger_invariants_hold_for_any_sequence(sqlite_template: Path, tmp_path: Path) -> None:
    run_state_machine_as_test(
        lambda: LedgerMachine(sqlite_template, tmp_path),  # type: ignore[arg-type]
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
