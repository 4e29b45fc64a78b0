"""Transactions from the seeded generator, as a validated dataset."""

from __future__ import annotations

from twinbank.adapters.generator import GeneratorSettings, generate_transactions

from .dataset import TransactionDataset


def generated_dataset(settings: GeneratorSettings) -> TransactionDataset:
    """Generate transactions and validate them like any recorded file."""
    frame = generate_transactions(settings)
    description = (
        f"generator(seed={settings.seed}, customers={settings.customers}, "
        f"terminals={settings.terminals}, days={settings.days}, start={settings.start_date})"
    )
    return TransactionDataset.from_frame(frame, description)
