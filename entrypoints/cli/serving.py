"""``twinbank serve``, ``twinbank forward``, ``twinbank worker`` and ``twinbank train-model``."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Annotated

import redis
import typer

from twinbank.adapters.artifacts import ArtifactRejected
from twinbank.adapters.governance import InvalidRoleDirectory
from twinbank.adapters.journal import InvalidJournal
from twinbank.adapters.models.artifacts import InvalidModelArtifact, save_xgboost_artifact
from twinbank.adapters.models.xgboost_model import XGBoostScorer
from twinbank.adapters.redis import FeatureSetConflict
from twinbank.adapters.transactions import InvalidTransactionData, TransactionDataset
from twinbank.core.audit import WeakPseudonymisationKey
from twinbank.core.ensemble import InvalidRules
from twinbank.simulator.scenario import (
    FileTransactions,
    InvalidScenario,
    Scenario,
    load_scenario,
)

from ..containers import ApplicationContainer, MissingRoleDirectory, build_container
from ..governance_settings import MissingPseudonymisationKey
from ..settings import Profile
from .composition import open_application, platform_settings
from .console import console, fail_bad_input

log = logging.getLogger("twinbank")

ProfileOption = Annotated[
    Profile | None,
    typer.Option(help="Adapters to use; overrides TWINBANK_PROFILE (default memory)."),
]


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(
    config: Annotated[Path, typer.Argument(metavar="SERVE.yaml", help="Service configuration.")],
    profile: ProfileOption = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Run the HTTP decision service (uvicorn) until SIGTERM or Ctrl-C."""
    # Imported here so that other commands start without loading the web stack.
    import uvicorn  # noqa: PLC0415

    from ..http.app import create_app  # noqa: PLC0415
    from ..http.assemble import (  # noqa: PLC0415
        ModelFeatureMismatch,
        UngovernedModel,
        build_serving_services,
    )
    from ..http.settings import InvalidServeSettings, load_serve_settings  # noqa: PLC0415

    _configure_logging(log_level)
    try:
        settings = load_serve_settings(config)
    except InvalidServeSettings as error:
        fail_bad_input(str(error))
    _check_port_free(settings.host, settings.port)
    platform = platform_settings(
        profile, feature_lookup_timeout_ms=settings.feature_lookup_timeout_ms
    )
    decisions_db = (settings.journal.parent / "decisions.db").resolve()
    try:
        container = build_container(platform, sqlite_url=f"sqlite:///{decisions_db}")
        decisions_db.parent.mkdir(parents=True, exist_ok=True)
        services = build_serving_services(
            container,
            settings,
            platform.profile,
            forward_command=[
                sys.executable,
                "-m",
                "twinbank.entrypoints.cli",
                "forward",
                str(config.resolve()),
                "--profile",
                platform.profile,
                "--log-level",
                log_level,
                "--parent-pid",
                str(os.getpid()),
            ],
        )
    except (
        InvalidModelArtifact,
        ModelFeatureMismatch,
        FeatureSetConflict,
        InvalidServeSettings,
        InvalidRules,
        ArtifactRejected,
        UngovernedModel,
        MissingRoleDirectory,
        InvalidRoleDirectory,
        MissingPseudonymisationKey,
        WeakPseudonymisationKey,
    ) as error:
        fail_bad_input(str(error))
    log.info(
        "serving on http://%s:%d with profile %s", settings.host, settings.port, platform.profile
    )
    # Objects created while starting (modules, the model, the containers) live as long as
    # the process. Freezing them keeps the collector from walking them on every full
    # collection, which otherwise pauses a decision by 100 ms or more on a loaded machine.
    gc.collect()
    gc.freeze()
    # A full collection still paused the service for 4 to 13 ms, 22 times in a minute
    # of 1,000 decisions/s. Running one after 100 middle-generation collections instead
    # of 10 cut that to 9 in a whole benchmark; young collections stay as frequent.
    gc.set_threshold(700, 10, 100)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_level=log_level.lower(),
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    server.run()


def forward(
    config: Annotated[Path, typer.Argument(metavar="SERVE.yaml", help="Service configuration.")],
    profile: ProfileOption = None,
    parent_pid: Annotated[
        int | None,
        typer.Option(hidden=True, help="Stop when this process (the service) is gone."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Forward the decision journal of a service configuration to the audit database
    and the event stream until SIGTERM or Ctrl-C. `twinbank serve` starts this itself
    unless its configuration sets forwarding: thread."""
    from ..http.assemble import build_forwarders  # noqa: PLC0415
    from ..http.forwarding import STATUS_FILE, run_forwarders  # noqa: PLC0415
    from ..http.settings import InvalidServeSettings, load_serve_settings  # noqa: PLC0415

    _configure_logging(log_level)
    try:
        settings = load_serve_settings(config)
    except InvalidServeSettings as error:
        fail_bad_input(str(error))
    platform = platform_settings(profile)
    if platform.profile == "memory":
        fail_bad_input(
            "profile memory keeps the event stream inside the service, so only the service "
            "can forward its journal; use --profile local (or production)"
        )
    container = build_container(platform)
    try:
        journal = container.serving.journal_follower(settings.journal)
    except InvalidJournal as error:
        fail_bad_input(str(error))
    stop = _stop_on_signals("forwarding what is left")
    log.info("forwarding journal %s (profile %s)", settings.journal, platform.profile)
    try:
        run_forwarders(
            build_forwarders(container, journal, settings),
            settings.journal / STATUS_FILE,
            stop,
            parent_pid,
        )
    finally:
        journal.close()


def _stop_on_signals(then: str) -> threading.Event:
    """Return an event that SIGTERM and SIGINT set, logging the signal and ``then``."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s; %s", signal.Signals(signum).name, then)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def _check_port_free(host: str, port: int) -> None:
    """Exit with code 2 when another process listens on the address, before the journal,
    the forwarders or the embedded worker start."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            fail_bad_input(
                f"cannot listen on {host}:{port} ({error.strerror}); stop the process "
                "using it or set another port: in the serve settings"
            )


def worker(
    profile: ProfileOption = None,
    consumer: Annotated[
        str | None,
        typer.Option(help="Consumer name in the group; keep it across restarts (default: host)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Entries per read.")] = 1000,
    block_ms: Annotated[int, typer.Option(min=1, help="Maximum wait of one read (ms).")] = 500,
    linger_ms: Annotated[
        int,
        typer.Option(
            min=0,
            max=1000,
            help="After a short read, wait this long for more entries before applying (ms).",
        ),
    ] = 20,
    allowed_lateness_ms: Annotated[
        int, typer.Option(min=0, help="Event-time disorder tolerated between publishers (ms).")
    ] = 500,
    commit_interval_ms: Annotated[
        int,
        typer.Option(
            min=0,
            max=10_000,
            help=(
                "While draining a backlog, commit state and acknowledge at most this long "
                "after the last commit (ms); 0 commits every batch."
            ),
        ),
    ] = 2000,
    history: Annotated[
        bool, typer.Option(help="Append every computed value to the offline history.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Apply transaction and label events from the stream to the feature state until
    SIGTERM or Ctrl-C; the current batch finishes first."""
    from ..worker.assemble import build_stream_worker, default_consumer_name  # noqa: PLC0415
    from ..worker.runner import WorkerSettings  # noqa: PLC0415

    _configure_logging(log_level)
    platform = platform_settings(profile)
    if platform.profile == "memory":
        fail_bad_input(
            "profile memory has no event stream shared between processes; run the worker "
            "with --profile local (or production), or use `twinbank serve`, which runs one "
            "inside the service in the memory profile"
        )
    container = open_application(platform)
    _claim_state_feature_set(container)
    stream_worker = build_stream_worker(
        container,
        WorkerSettings(
            batch_size=batch_size,
            block_ms=block_ms,
            linger_ms=linger_ms,
            allowed_lateness_ms=allowed_lateness_ms,
            commit_interval_ms=commit_interval_ms,
        ),
        consumer or default_consumer_name(),
        write_history=history,
    )
    # Each batch keeps thousands of decoded histories and feature rows alive until its
    # commit, and the default thresholds (700, 10, 10) made the collector walk them
    # again and again. The worker drained 12,300 to 12,800 events/s with them, and
    # 16,000 to 20,800 with these (BENCHMARKS.md). Cycles are still collected.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    stop = _stop_on_signals("finishing the current batch")
    report = stream_worker.run(stop)
    console.print(
        f"applied {report.applied:,} events, {report.duplicates:,} duplicates, "
        f"{report.dead_letters:,} dead-lettered"
    )


def _claim_state_feature_set(container: ApplicationContainer) -> None:
    """Mark the Redis prefix with the worker's feature set, or exit with code 2 when
    another set has marked it.

    When Redis is down, the worker starts anyway and waits for Redis as before.
    """
    state = container.serving.worker_state()
    try:
        state.claim_feature_set()
    except FeatureSetConflict as error:
        fail_bad_input(str(error))
    except redis.RedisError as error:
        log.warning("could not check the feature set of the window state in Redis: %s", error)


def train_model(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.yaml", help="Scenario file.")],
    out: Annotated[Path, typer.Option(help="Folder to write the model artifact into.")],
    transactions: Annotated[
        Path | None,
        typer.Option(help="Transaction file (Parquet or CSV); overrides the scenario's path."),
    ] = None,
) -> None:
    """Train the scenario's model on its protocol's training week and save it for serving."""
    try:
        scenario = load_scenario(scenario_path)
    except InvalidScenario as error:
        fail_bad_input(str(error))
    if out.exists() and not out.is_dir():
        fail_bad_input(f"--out {out}: exists and is not a folder; name a folder")
    container = open_application(platform_settings(**scenario.platform_overrides()))
    dataset = _dataset(container, scenario, transactions)
    run = container.simulation.scenario_run(
        scenario=scenario,
        dataset=dataset,
        trainer=container.models.xgboost_trainer(settings=scenario.model.hyperparameters),
    )
    with console.status("Training on the protocol's training week"):
        try:
            model = run.train()
        except ValueError as error:
            fail_bad_input(str(error))
    scorer = model.scorer
    if not isinstance(scorer, XGBoostScorer):
        fail_bad_input(f"scenario {scenario.name!r} trains a model this command cannot save")
    manifest = save_xgboost_artifact(
        scorer, out, container.features.feature_set().version, trained_on=dataset.description
    )
    console.print(f"Saved model {manifest.version} to {out}")


def _dataset(
    container: ApplicationContainer, scenario: Scenario, override: Path | None
) -> TransactionDataset:
    spec = scenario.transactions
    try:
        if isinstance(spec, FileTransactions):
            path = override or spec.path
            if path is None:
                fail_bad_input("the scenario replays a file but names none; pass --transactions")
            return container.transactions.file(path, spec.sequence_column)
        if override is not None:
            fail_bad_input("--transactions applies only to scenarios with transactions.kind: file")
        return container.transactions.generated(spec.settings)
    except InvalidTransactionData as error:
        fail_bad_input(str(error))
