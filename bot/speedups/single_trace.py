"""A RasaModel's training step traced once instead of twice.

Replaces `RasaModel.fit`. A `tf.function` whose first call creates variables is traced twice: once creating them,
once more for every later call. Keras' training step creates the layers' weights and the optimizer's slots on its
first call, so DIET's and TED's training graphs (forward pass, CRF, gradients) are traced twice. Here the weights are
created before `fit` by one forward pass in eager mode (not training, so no dropout draws), and the optimizer's
slots by `optimizer.build`; the first trace then creates nothing and is the one used. The initial values come from
the same seeded initializers in the same order, and the traced graph is the same, so the trained model is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.speedups._patching import replace

TARGETS = ("rasa.utils.tensorflow.models.RasaModel.fit",)


def install() -> None:
    """Make Keras trace a RasaModel's training step once."""
    from rasa.utils.tensorflow.models import RasaModel

    replace(RasaModel, "fit", built_first, by=__name__)


def built_first(keras_fit: Callable[..., Any]) -> Callable[..., Any]:
    """Keras' `fit`, the model's weights and optimizer slots created before the first trace."""
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    def fit(self: Any, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, RasaBatchDataGenerator) and not self.run_eagerly and len(x) > 0:
            build_for_training(self, x[0][0])
        return keras_fit(self, x, *args, **kwargs)

    return fit


def build_for_training(model: Any, batch_in: Any) -> None:
    """Create the model's weights (one eager forward pass) and its optimizer's slots, before any tracing."""
    if getattr(model, "guichet_built_for_training", False):
        return
    phase = model._training
    model._training = None  # not training: the forward pass draws no dropout
    try:
        model.batch_loss(batch_in)
    finally:
        model._training = phase
    model.optimizer.build(model.trainable_variables)
    model.guichet_built_for_training = True
