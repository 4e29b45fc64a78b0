"""One multi-region run: train and calibrate (when the scenario has a fraud section),
then run the twin and gather what the report needs.

Every adapter arrives through the constructor from the composition root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinbank.adapters.transactions import TransactionDataset
from twinbank.core.decisioning import DecisionService
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.modeling import ModelTrainer
from twinbank.core.ports import DecisionLog, FeatureStateStore, Stopwatch
from twinbank.core.routing import ResidencyPolicy, RoutingPolicy, ServingRegion
from twinbank.core.standin import StandInPolicy
from twinbank.core.timestamps import days

from ..run import ScenarioRun, TrainedModel
from ..scenario import Scenario
from .fraud import (
    FraudDesk,
    FraudWindow,
    SettableClock,
    calibrate_decision_time,
    injected_requests,
    offline_outcomes,
    test_period_window,
)
from .scenario import MultiRegionScenario
from .service import ServiceTimes
from .specs import CalibratedServiceTime, GeneratedTraffic
from .traffic import GeneratedArrivals, ReplayedArrivals, TrafficFile
from .world import InjectedRequests, RegionalTwin, TwinResult

# Seed streams of a run, so that adding draws to one part never shifts another's.
_TRAFFIC, _SERVICE, _TWIN, _CUSTOMERS = range(4)


@dataclass(frozen=True)
class FraudModel:
    """The trained model and everything measured before the twin starts."""

    trained: TrainedModel
    dataset: TransactionDataset
    window: FraudWindow
    calibration_seconds: npt.NDArray[np.float64] | None
    label_delay_ns: int


@dataclass(frozen=True)
class FraudResult:
    model: FraudModel
    desk: FraudDesk
    offline_scores: npt.NDArray[np.float64]
    offline_outcomes: npt.NDArray[np.int8]
    decisions_logged: int
    warm_up_transactions: int


@dataclass(frozen=True)
class MultiRegionResult:
    scenario: MultiRegionScenario
    policy: RoutingPolicy
    twin: TwinResult
    service_times: ServiceTimes
    fraud: FraudResult | None
    expected_requests: float | None
    wall_seconds: float
    preparation_seconds: float


def routing_policy_for(scenario: MultiRegionScenario, homes: list[str]) -> RoutingPolicy:
    """Build the core's routing policy from the scenario's regions and residency rules."""
    return RoutingPolicy(
        [ServingRegion(region.name, region.jurisdiction) for region in scenario.regions],
        scenario.round_trip_matrix(),
        ResidencyPolicy.from_lists(scenario.residency),
        homes,
    )


class MultiRegionRun:
    """Runs one multi-region scenario with the adapters the composition root hands it."""

    def __init__(
        self,
        scenario: MultiRegionScenario,
        stopwatch: Stopwatch,
        traffic_file: TrafficFile | None = None,
        transactions: TransactionDataset | None = None,
        feature_set: FeatureSet | None = None,
        trainer: ModelTrainer | None = None,
        scenario_run: Callable[..., ScenarioRun] | None = None,
        feature_state: Callable[[], FeatureStateStore] | None = None,
        decision_log: Callable[[], DecisionLog] | None = None,
        scratch_log: Callable[[], DecisionLog] | None = None,
    ) -> None:
        """Keep the run's collaborators.

        The fraud collaborators (``transactions`` to ``scratch_log``) are needed only
        when the scenario has a fraud section. ``decision_log`` is called when the twin
        starts, so a run that fails while training leaves no database behind.
        """
        self._scenario = scenario
        self._stopwatch = stopwatch
        self._traffic_file = traffic_file
        self._transactions = transactions
        self._feature_set = feature_set
        self._trainer = trainer
        self._scenario_run = scenario_run
        self._feature_state = feature_state
        self._decision_log = decision_log
        self._scratch_log = scratch_log
        seeds = np.random.SeedSequence(scenario.seed).spawn(4)
        self._rngs = [np.random.default_rng(seed) for seed in seeds]
        homes = (
            traffic_file.jurisdictions()
            if traffic_file is not None
            else scenario.home_jurisdictions()
        )
        self.policy = routing_policy_for(scenario, homes)

    # -- preparation ----------------------------------------------------------------------

    def prepare(self) -> FraudModel | None:
        """Train the fraud model and measure the decision time, when there is a fraud
        section. Raises ValueError for data that cannot train or calibrate."""
        fraud = self._scenario.fraud
        if fraud is None:
            return None

        # The model trains exactly as a replay scenario's model does.
        dataset = self._require(self._transactions, "transactions")
        replay = Scenario(
            name=self._scenario.name,
            transactions=fraud.transactions,
            label_delay_days=fraud.label_delay_days,
            model=fraud.model,
            policy=fraud.policy,
        )
        run_factory = self._require(self._scenario_run, "scenario_run")
        trained = run_factory(
            scenario=replay, dataset=dataset, trainer=self._require(self._trainer, "trainer")
        ).train()

        protocol = trained.protocol
        window = test_period_window(dataset, protocol.test_start_day, protocol.test_end_day)
        if len(window) == 0:
            raise ValueError(
                f"{dataset.description}: the test period after training (epoch days "
                f"{protocol.test_start_day} to {protocol.test_end_day - 1}) contains no "
                "transactions to submit through the twin; choose an earlier "
                "fraud.model.training.training_start"
            )

        label_delay_ns = days(fraud.label_delay_days)
        calibration = None
        if isinstance(self._scenario.serving.service_time, CalibratedServiceTime):
            scratch, _ = self._decision_service(
                trained, self._require(self._scratch_log, "scratch_log")()
            )
            spec = fraud.calibration
            calibration = calibrate_decision_time(
                dataset,
                window,
                scratch,
                self._stopwatch,
                label_delay_ns,
                spec.decisions,
                spec.discard,
                spec.history_days,
            )
        return FraudModel(trained, dataset, window, calibration, label_delay_ns)

    # -- the run --------------------------------------------------------------------------

    def execute(
        self,
        model: FraudModel | None,
        progress: Callable[[float], None] | None = None,
        warm_up_progress: Callable[[int], None] | None = None,
    ) -> MultiRegionResult:
        """Run the twin over the horizon; with a fraud model, feed its history first
        and submit its test period's transactions through the twin."""
        scenario = self._scenario
        started = self._stopwatch.ticks_ns()
        service_times = ServiceTimes(
            scenario.serving.service_time,
            self._rngs[_SERVICE],
            None if model is None else model.calibration_seconds,
        )
        arrivals, expected = self.arrivals()

        injected: InjectedRequests | None = None
        desk: FraudDesk | None = None
        log: DecisionLog | None = None
        warm_up = 0
        if model is not None:
            log = self._require(self._decision_log, "decision_log")()
            desk = self._desk(model, log)
            warm_up = desk.warm_up(warm_up_progress)
            injected = injected_requests(
                model.dataset,
                model.window,
                scenario.horizon_seconds,
                self._traffic_weights(),
                scenario.seed,
            )

        prepared = self._stopwatch.ticks_ns()
        rate = (expected or 1_000.0) / scenario.horizon_seconds
        twin = RegionalTwin(
            scenario,
            self.policy,
            arrivals,
            service_times,
            self._rngs[_TWIN],
            self._stopwatch,
            injected,
            desk,
            progress,
            expected_rate=rate,
        ).run()
        if desk is not None:
            twin.costs.decisions_ns = desk.busy_ns
            twin.costs.requests_ns -= desk.arrival_ns

        fraud = None
        if model is not None and desk is not None and log is not None:
            log.flush()
            scores, outcomes = offline_outcomes(
                model.dataset,
                model.window,
                self._require(self._feature_set, "feature_set"),
                model.trained.scorer,
                self._policy(),
                model.label_delay_ns,
            )
            fraud = FraudResult(model, desk, scores, outcomes, log.count(), warm_up)

        finished = self._stopwatch.ticks_ns()
        return MultiRegionResult(
            scenario=scenario,
            policy=self.policy,
            twin=twin,
            service_times=service_times,
            fraud=fraud,
            expected_requests=expected,
            wall_seconds=(finished - started) / 1e9,
            preparation_seconds=(prepared - started) / 1e9,
        )

    # -- helpers --------------------------------------------------------------------------

    def arrivals(self) -> tuple[GeneratedArrivals | ReplayedArrivals, float | None]:
        """Return an arrival source that draws from the run's traffic seed, and the
        expected number of arrivals."""
        scenario = self._scenario
        policy = self.policy
        if self._traffic_file is not None:
            replayed = self._traffic_file.arrivals(policy.region_index, policy.jurisdiction_index)
            return replayed, float(len(replayed))
        traffic = scenario.traffic
        assert isinstance(traffic, GeneratedTraffic)
        start = scenario.start
        generated = GeneratedArrivals(
            traffic,
            policy.region_index,
            policy.jurisdiction_index,
            [region.utc_offset_hours for region in scenario.regions],
            start.hour + start.minute / 60 + start.second / 3600,
            scenario.horizon_seconds,
            self._rngs[_TRAFFIC],
        )
        return generated, generated.expected_requests(scenario.horizon_seconds)

    def _traffic_weights(self) -> dict[tuple[int, int], float]:
        """Return each (origin, home jurisdiction)'s share of the traffic."""
        policy = self.policy
        weights: dict[tuple[int, int], float] = {}
        if self._traffic_file is not None:
            replayed = self._traffic_file
            for origin, home in zip(
                replayed.origins.tolist(), replayed.homes.tolist(), strict=True
            ):
                key = (policy.region_index(origin), policy.jurisdiction_index(home))
                weights[key] = weights.get(key, 0.0) + 1.0
            return weights
        traffic = self._scenario.traffic
        assert isinstance(traffic, GeneratedTraffic)
        for origin in traffic.origins:
            for home, share in origin.home_jurisdictions.items():
                key = (policy.region_index(origin.region), policy.jurisdiction_index(home))
                weights[key] = weights.get(key, 0.0) + origin.requests_per_second * share
        return weights

    def _desk(self, model: FraudModel, log: DecisionLog) -> FraudDesk:
        fraud = self._scenario.fraud
        assert fraud is not None
        service, clock = self._decision_service(model.trained, log)
        return FraudDesk(
            model.dataset,
            model.window,
            service,
            clock,
            StandInPolicy(fraud.stand_in.version, fraud.stand_in.approve_up_to),
            model.label_delay_ns,
            self._scenario.serving.authorization_window_ms / 1e3,
            self._stopwatch,
        )

    def _decision_service(
        self, trained: TrainedModel, log: DecisionLog
    ) -> tuple[DecisionService, SettableClock]:
        engine = StreamingFeatureEngine(
            self._require(self._feature_set, "feature_set"),
            self._require(self._feature_state, "feature_state")(),
        )
        clock = SettableClock()
        service = DecisionService(
            engine, trained.scorer, self._policy(), log, clock, self._stopwatch
        )
        return service, clock

    def _policy(self) -> DecisionPolicy:
        fraud = self._scenario.fraud
        assert fraud is not None
        spec = fraud.policy
        return DecisionPolicy(spec.version, spec.step_up_at, spec.decline_at)

    @staticmethod
    def _require(value: Any, name: str) -> Any:
        if value is None:
            raise RuntimeError(
                f"a scenario with a fraud section needs {name}; build MultiRegionRun through "
                "the composition root"
            )
        return value
