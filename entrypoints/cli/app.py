"""Command groups of the ``twinbank`` command line.

Exit codes: 0 success, 1 an unexpected failure, 2 bad input (a scenario, data file or
option that fails validation; nothing is written then), 3 an action refused by the
governance rules (nothing is recorded), 4 an audit verification that found tampering.
"""

from __future__ import annotations

import typer

from . import (
    audit,
    fairness,
    features,
    governance,
    model_card,
    monitoring,
    serving,
    simulate,
    train,
)

app = typer.Typer(
    name="twinbank",
    help="Simulation-first fraud decisioning: replay traffic through the digital twin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("simulate")(simulate.simulate)
app.add_typer(features.app, name="features")
app.command("serve")(serving.serve)
app.command("forward")(serving.forward)
app.command("worker")(serving.worker)
app.command("train-model")(serving.train_model)
app.command("train")(train.train)
app.add_typer(fairness.app, name="fairness")
app.add_typer(governance.app, name="governance")
app.add_typer(audit.app, name="audit")
app.command("model-card")(model_card.model_card)
app.add_typer(monitoring.app, name="monitoring")


def main() -> None:
    app()
