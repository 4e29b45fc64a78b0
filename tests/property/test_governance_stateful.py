"""Random sequences of registrations, gate results, sign-offs and promotions.

After every step: no model serves without every gate and role its tier requires,
signed by distinct people none of whom built it; a builder never signs or records a
gate; the audit chain verifies; a refused action stores nothing. A tampering rule
changes, deletes or swaps a stored record directly in the database, checks that
verification names it, and puts it back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import create_engine, text

from tests.support.governance import documentation, fairness, performance, registration
from tests.support.governance_backends import governance_container
from twinbank.core.audit import ProblemKind, verify_trail
from twinbank.core.governance import (
    EVIDENCE_GATES,
    SERVING_STATUSES,
    SIGN_OFF_GATES,
    Actor,
    Gate,
    GovernanceRefusal,
    ModelStatus,
    Role,
    required_gates,
)

USERS = ("ann", "ben", "cat", "dan", "eve", "fay")
REVIEWERS = (Role.VALIDATOR, Role.MODEL_RISK_MANAGER, Role.RISK_COMMITTEE)


class GovernanceMachine(RuleBasedStateMachine):
    models = Bundle("models")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="governance-stateful-"))
        self.url = f"sqlite:///{self.folder / 'governance.db'}"
        self.container = governance_container("sqlite", self.url)
        self.service = self.container.governance.service()
        self.trail = self.container.audit.trail()
        self.tamper_engine = create_engine(self.url)
        self.versions = 0
        # What the machine saw succeed, per model, independent of the stored record.
        self.builders: dict[str, frozenset[str]] = {}
        self.passed: dict[str, dict[Gate, str]] = {}
        self.acted: dict[str, dict[str, Role]] = {}

    def teardown(self) -> None:
        self.tamper_engine.dispose()
        self.container.audit.engine().dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # Actions

    def attempt(self, model_id: str, action) -> bool:  # type: ignore[no-untyped-def]
        """Run an action; a refusal must store nothing. Return whether it succeeded."""
        head = self.trail.head()
        revision = self.service.model(model_id).revision
        try:
            action()
        except GovernanceRefusal:
            assert self.trail.head() == head
            assert self.service.model(model_id).revision == revision
            return False
        assert self.trail.head().seq > head.seq
        return True

    @initialize(target=models)
    def first_model(self) -> str:
        return self.register_model("ann", "ben", 1, False)

    @rule(
        target=models,
        builder=st.sampled_from(USERS),
        extra=st.sampled_from((None, *USERS)),
        tier=st.integers(1, 3),
        fair_lending=st.booleans(),
    )
    def register(self, builder: str, extra: str | None, tier: int, fair_lending: bool) -> str:
        return self.register_model(builder, extra, tier, fair_lending)

    def register_model(self, builder: str, extra: str | None, tier: int, fair_lending: bool) -> str:
        self.versions += 1
        builders = () if extra is None or extra == builder else (extra,)
        record = self.service.register(
            Actor(builder, Role.DEVELOPER),
            registration(
                "model", str(self.versions), tier, fair_lending=fair_lending, builders=builders
            ),
        )
        self.builders[record.model_id] = frozenset(record.builders)
        self.passed[record.model_id] = {}
        self.acted[record.model_id] = {builder: Role.DEVELOPER}
        return record.model_id

    @rule(model=models, user=st.sampled_from(USERS))
    def submit(self, model: str, user: str) -> None:
        self.attempt(model, lambda: self.service.submit(Actor(user, Role.DEVELOPER), model))

    @rule(
        model=models,
        user=st.sampled_from(USERS),
        gate=st.sampled_from(EVIDENCE_GATES),
        passes=st.booleans(),
    )
    def record_gate(self, model: str, user: str, gate: Gate, passes: bool) -> None:
        self.record(model, Actor(user, Role.VALIDATOR), gate, passes)

    def record(self, model: str, actor: Actor, gate: Gate, passes: bool) -> None:
        evidence = {
            Gate.DOCUMENTATION: documentation(complete=passes),
            Gate.PERFORMANCE: performance(model, auc=0.9 if passes else 0.7),
            Gate.FAIRNESS: fairness(model, adverse=not passes),
        }[gate]
        if self.attempt(model, lambda: self.service.record_gate_result(actor, model, evidence)):
            self.acted[model][actor.user] = actor.role
            if passes:
                self.passed[model][gate] = actor.user
            else:
                self.passed[model].pop(gate, None)

    @rule(model=models, user=st.sampled_from(USERS), role=st.sampled_from(REVIEWERS))
    def sign(self, model: str, user: str, role: Role) -> None:
        self.sign_as(model, Actor(user, role))

    def sign_as(self, model: str, actor: Actor) -> None:
        if self.attempt(model, lambda: self.service.sign(actor, model)):
            self.acted[model][actor.user] = actor.role
            self.passed[model][SIGN_OFF_GATES[actor.role]] = actor.user

    @rule(model=models, user=st.sampled_from(USERS), role=st.sampled_from(tuple(Role)))
    def promote(self, model: str, user: str, role: Role) -> None:
        self.promote_as(model, Actor(user, role))

    def promote_as(self, model: str, actor: Actor) -> None:
        if self.attempt(model, lambda: self.service.promote(actor, model)):
            self.acted[model][actor.user] = actor.role
            status = self.service.model(model).status
            event(f"promoted to {status.value}")
            if status is ModelStatus.PRODUCTION:
                self.check_oracle_allows_production(model)

    @rule(model=models, user=st.sampled_from(USERS), role=st.sampled_from(tuple(Role)))
    def send_back(self, model: str, user: str, role: Role) -> None:
        actor = Actor(user, role)
        action = lambda: self.service.return_to_development(actor, model, "rework")  # noqa: E731
        if self.attempt(model, action):
            self.passed[model] = {}
            self.acted[model] = {}

    @rule(model=models, user=st.sampled_from(USERS), role=st.sampled_from(REVIEWERS))
    def reject(self, model: str, user: str, role: Role) -> None:
        if self.attempt(model, lambda: self.service.reject(Actor(user, role), model, "no")):
            self.acted[model][user] = role

    @rule(model=models, user=st.sampled_from(USERS), role=st.sampled_from(tuple(Role)))
    def retire(self, model: str, user: str, role: Role) -> None:
        self.attempt(model, lambda: self.service.retire(Actor(user, role), model, "done"))

    @rule(model=models, steps=st.integers(1, 12))
    def advance(self, model: str, steps: int) -> None:
        """Take the steps that move the model on, each by a person allowed to take it."""
        for _ in range(steps):
            self.advance_once(model)

    def advance_once(self, model: str) -> None:
        record = self.service.model(model)
        builder = sorted(record.builders)[0]
        if record.status is ModelStatus.DEVELOPMENT:
            self.attempt(model, lambda: self.service.submit(Actor(builder, Role.DEVELOPER), model))
        elif record.status is ModelStatus.VALIDATION:
            validator = self.free_person(model, Role.VALIDATOR)
            if validator is None:
                return
            needed = [gate for gate in EVIDENCE_GATES if gate in required_gates(record)]
            missing = [gate for gate in needed if not record.passed(gate)]
            if missing:
                self.record(model, Actor(validator, Role.VALIDATOR), missing[0], True)
            elif not record.passed(Gate.INDEPENDENT_VALIDATION):
                self.sign_as(model, Actor(validator, Role.VALIDATOR))
            else:
                self.promote_as(model, Actor(validator, Role.VALIDATOR))
        elif record.status is ModelStatus.APPROVAL:
            for gate in (Gate.MRM_SIGN_OFF, Gate.RISK_COMMITTEE_APPROVAL):
                role = {Gate.MRM_SIGN_OFF: Role.MODEL_RISK_MANAGER}.get(gate, Role.RISK_COMMITTEE)
                if gate in required_gates(record) and not record.passed(gate):
                    person = self.free_person(model, role)
                    if person is not None:
                        self.sign_as(model, Actor(person, role))
                    return
            person = self.free_person(model, Role.MODEL_RISK_MANAGER)
            if person is not None:
                self.promote_as(model, Actor(person, Role.MODEL_RISK_MANAGER))
        elif record.status is ModelStatus.PRODUCTION:
            self.promote_as(model, Actor(builder, Role.DEVELOPER))

    @rule(model=models, role=st.sampled_from((Role.VALIDATOR, Role.MODEL_RISK_MANAGER)))
    def promote_as_soon_as_possible(self, model: str, role: Role) -> None:
        """Promote with a person who may promote, whether or not the gates passed."""
        person = self.free_person(model, role)
        if person is not None:
            self.promote_as(model, Actor(person, role))

    @rule(model=models, role=st.sampled_from(REVIEWERS), gate=st.sampled_from(EVIDENCE_GATES))
    def builder_tries_to_review(self, model: str, role: Role, gate: Gate) -> None:
        for builder in sorted(self.builders[model]):
            actor = Actor(builder, role)
            before = self.trail.head()
            self.record(model, Actor(builder, Role.VALIDATOR), gate, True)
            self.sign_as(model, actor)
            if self.service.model(model).status is not ModelStatus.PRODUCTION:
                self.promote_as(model, actor)
            assert self.trail.head() == before, f"builder {builder} reviewed {model}"

    def free_person(self, model: str, role: Role) -> str | None:
        """Return someone who did not build the model and acted in no other role."""
        acted = self.acted[model]
        for user in USERS:
            if user in self.builders[model]:
                continue
            if acted.get(user, role) is role:
                return user
        return None

    @rule(data=st.data(), how=st.sampled_from(("modify", "delete", "swap")))
    def tamper(self, data: st.DataObject, how: str) -> None:
        head = self.trail.head()
        if head.seq < 2:
            return
        first = data.draw(st.integers(1, head.seq - 1 if how == "swap" else head.seq))
        with self.tamper_engine.begin() as connection:
            row = (
                connection.execute(
                    text("SELECT * FROM audit_records WHERE seq = :seq"), {"seq": first}
                )
                .mappings()
                .one()
            )
            if how == "modify":
                connection.execute(
                    text("UPDATE audit_records SET body = :body WHERE seq = :seq"),
                    {"body": row["body"].replace("{", '{"tampered":true,', 1), "seq": first},
                )
                expected, named = ProblemKind.MODIFIED, first
            elif how == "delete":
                connection.execute(
                    text("DELETE FROM audit_records WHERE seq = :seq"), {"seq": first}
                )
                expected = ProblemKind.REMOVED
                named = first + 1 if first < head.seq else first
            else:
                second = data.draw(st.integers(first + 1, head.seq))
                self.swap(connection, first, second)
                expected, named = ProblemKind.REORDERED, first
        event(f"tampered: {how}")
        problem = verify_trail(self.trail, expected_head=head).problem
        assert problem is not None, f"{how} of record {first} went undetected"
        assert problem.kind is expected
        assert problem.seq == named
        with self.tamper_engine.begin() as connection:
            if how == "modify":
                connection.execute(
                    text("UPDATE audit_records SET body = :body WHERE seq = :seq"),
                    {"body": row["body"], "seq": first},
                )
            elif how == "delete":
                columns = ", ".join(row.keys())
                values = ", ".join(f":{key}" for key in row)
                connection.execute(
                    text(f"INSERT INTO audit_records ({columns}) VALUES ({values})"), dict(row)
                )
            else:
                self.swap(connection, first, second)
        assert verify_trail(self.trail, expected_head=head).ok

    @staticmethod
    def swap(connection, first: int, second: int) -> None:  # type: ignore[no-untyped-def]
        update = text("UPDATE audit_records SET seq = :new WHERE seq = :old")
        connection.execute(update, {"new": -1, "old": first})
        connection.execute(update, {"new": first, "old": second})
        connection.execute(update, {"new": second, "old": -1})

    # Invariants

    def check_oracle_allows_production(self, model: str) -> None:
        record = self.service.model(model)
        passed = self.passed[model]
        missing = required_gates(record) - set(passed)
        assert not missing, f"{model} reached production without {missing}"
        signers = [passed[gate] for gate in SIGN_OFF_GATES.values() if gate in passed]
        assert len(signers) == len(set(signers)), f"{model}: one person signed two roles"
        assert not set(passed.values()) & self.builders[model]

    @invariant()
    def serving_models_passed_every_required_gate(self) -> None:
        for record in self.service.inventory():
            if record.status not in SERVING_STATUSES:
                continue
            missing = {gate for gate in required_gates(record) if not record.passed(gate)}
            assert not missing, f"{record.model_id} serves without {missing}"
            signers = [
                record.gate_results[gate].recorded_by
                for gate in SIGN_OFF_GATES.values()
                if gate in record.gate_results
            ]
            assert len(signers) == len(set(signers))
            assert not {result.recorded_by for result in record.gate_results.values()} & set(
                record.builders
            )

    @invariant()
    def builders_never_sign_and_people_keep_one_role(self) -> None:
        builders: dict[str, set[str]] = {}
        roles: dict[tuple[str, int, str], str] = {}
        for stored in self.trail.records():
            body = json.loads(stored.body_json)
            event, model = body["event"], body["model_id"]
            details = body["details"]
            if event == "model_registered":
                builders[model] = set(details["builders"])
            if event in {"signed_off", "gate_result_recorded"}:
                assert body["actor"] not in builders[model], f"builder signed {model}"
                key = (model, details["review_cycle"], body["actor"])
                assert roles.setdefault(key, body["role"]) == body["role"]

    @invariant()
    def audit_chain_verifies(self) -> None:
        assert verify_trail(self.trail).ok


GovernanceMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGovernanceLifecycle = GovernanceMachine.TestCase
