"""A multilayer perceptron over the model inputs, in torch, behind the component port.

Null (NaN) inputs are replaced by the training median of their column before
standardization: the documented fallback for a missing feature, identical in training
and scoring. Training and inference run on CUDA when it is available, otherwise on the
CPU, with the same code; a fixed seed makes CPU training repeatable.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from twinbank.core.ensemble import ComponentExplanation, ExplanationMethod, ExplanationUnavailable
from twinbank.core.modeling import ModelInputs

FloatArray = npt.NDArray[np.float64]


def _torch() -> Any:
    try:
        import torch  # noqa: PLC0415 - torch loads only when the network is used
    except ImportError as error:  # pragma: no cover - torch is a core dependency today
        raise ImportError(
            "the network component needs torch; install it with `pip install torch`"
        ) from error
    return torch


class MLPSettings(BaseModel):
    """Network shape and training; the defaults were chosen on validation folds before
    the handbook's training week (benchmarks/model_selection_ensemble.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: tuple[int, ...] = (128, 64)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    seed: int = 0
    threads: int = Field(1, ge=1, description="CPU threads torch may use")
    device: str = Field("auto", description="'auto' (cuda when available), 'cpu' or 'cuda'")


def choose_device(requested: str) -> str:
    torch = _torch()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA device; use 'auto'")
    return requested


def _network(inputs: int, hidden: tuple[int, ...]) -> Any:
    nn = _torch().nn
    layers: list[Any] = []
    width = inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class MLPScorer:
    """A trained network, with the medians, means and scales of its inputs."""

    name = "network"
    explanation_method = ExplanationMethod.OFFLINE

    def __init__(
        self,
        network: Any,
        input_names: tuple[str, ...],
        medians: FloatArray,
        means: FloatArray,
        scales: FloatArray,
        hidden: tuple[int, ...],
        threads: int = 1,
        device: str = "auto",
    ) -> None:
        torch = _torch()
        torch.set_num_threads(threads)
        self._torch = torch
        self._device = choose_device(device)
        self._network = network.to(self._device).eval()
        self._input_names = input_names
        self._medians = medians
        self._means = means
        self._scales = scales
        self._hidden = hidden
        self._version = "mlp-" + hashlib.sha256(self.to_bytes()).hexdigest()[:12]
        self._inverse_scales = 1.0 / scales

    @property
    def version(self) -> str:
        return self._version

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._input_names

    @property
    def device(self) -> str:
        return self._device

    def _standardize(self, inputs: FloatArray) -> FloatArray:
        filled = np.where(np.isnan(inputs), self._medians, inputs)
        return (filled - self._means) * self._inverse_scales

    def score_matrix(self, inputs: FloatArray) -> FloatArray:
        if inputs.shape[1] != len(self._input_names):
            raise ValueError(
                f"input matrix has {inputs.shape[1]} columns; the network reads "
                f"{len(self._input_names)}: {self._input_names}"
            )
        torch = self._torch
        with torch.inference_mode():
            batch = torch.as_tensor(self._standardize(inputs), dtype=torch.float32)
            logits = self._network(batch.to(self._device)).squeeze(1)
            return torch.sigmoid(logits).double().cpu().numpy()

    def score_row(self, row: FloatArray) -> float:
        return float(self.score_matrix(row.reshape(1, -1))[0])

    def explain_row(self, row: FloatArray) -> ComponentExplanation:
        raise ExplanationUnavailable(
            "the network is explained offline: no attribution method fits the decision budget"
        )

    def to_bytes(self) -> bytes:
        """Serialize the weights and input statistics (``torch.save`` of tensors only)."""
        torch = self._torch
        buffer = io.BytesIO()
        state = {key: value.cpu() for key, value in self._network.state_dict().items()}
        torch.save(
            {
                "state": state,
                "input_names": list(self._input_names),
                "hidden": list(self._hidden),
                "medians": torch.as_tensor(self._medians),
                "means": torch.as_tensor(self._means),
                "scales": torch.as_tensor(self._scales),
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, threads: int = 1, device: str = "auto") -> MLPScorer:
        torch = _torch()
        saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        hidden = tuple(int(size) for size in saved["hidden"])
        names = tuple(saved["input_names"])
        network = _network(len(names), hidden)
        network.load_state_dict(saved["state"])
        return cls(
            network,
            names,
            saved["medians"].numpy(),
            saved["means"].numpy(),
            saved["scales"].numpy(),
            hidden,
            threads,
            device,
        )


class MLPTrainer:
    """Fits the network with Adam on binary cross-entropy (the ModelTrainer port)."""

    def __init__(self, settings: MLPSettings | None = None) -> None:
        self._settings = settings or MLPSettings()

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> MLPScorer:
        torch = _torch()
        settings = self._settings
        torch.set_num_threads(settings.threads)
        device = choose_device(settings.device)
        generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)

        empty = [
            name
            for name, column in zip(model_inputs.names, inputs.T, strict=True)
            if np.isnan(column).all()
        ]
        if empty:
            raise ValueError(
                f"inputs {empty} are null in every training row, so the network has no "
                "median to fill them with; train on a period where they have values"
            )
        medians = np.nanmedian(inputs, axis=0)
        filled = np.where(np.isnan(inputs), medians, inputs)
        means = filled.mean(axis=0)
        scales = filled.std(axis=0)
        scales = np.where(scales > 0, scales, 1.0)

        network = _network(inputs.shape[1], settings.hidden).to(device)
        optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
        features = torch.as_tensor((filled - means) / scales, dtype=torch.float32).to(device)
        targets = torch.as_tensor(labels.astype(np.float32)).to(device)
        loss_function = torch.nn.functional.binary_cross_entropy_with_logits
        for _ in range(settings.epochs):
            order = torch.randperm(len(features), generator=generator).to(device)
            for start in range(0, len(features), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                optimizer.zero_grad()
                loss = loss_function(network(features[batch]).squeeze(1), targets[batch])
                loss.backward()
                optimizer.step()
        return MLPScorer(
            network.cpu(),
            model_inputs.names,
            medians,
            means,
            scales,
            settings.hidden,
            settings.threads,
            settings.device,
        )
