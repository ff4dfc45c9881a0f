"""Faster start-up: Rasa's TensorFlow models get their weights without tracing a training step first.

Replaces `RasaModel.load`. Rasa's loading (DIET, TED) builds a model's variables by fitting it on one example:
Keras traces the whole training graph (losses, CRF, gradients, optimizer) only to throw it away, most of a rasa
server's start-up. Here the variables are built by one eager prediction instead, the trained weights are restored
into them, and the prediction graph is traced once, as Rasa does. Variables that only training uses are never
created, so their values stay in the checkpoint (`expect_partial`). Models loaded for fine-tuning keep Rasa's own
path. Predictions are identical to a normal load.

The prediction step is then called through its one concrete function (`FlatPredictStep`): a `tf.function` checks
and converts its nested arguments against the signature and looks its graph up on every call; the graph run is the
same.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from bot.speedups._patching import replace

logger = logging.getLogger(__name__)

TARGETS = ("rasa.utils.tensorflow.models.RasaModel.load",)


def install() -> None:
    """Make every RasaModel in this process load the fast way."""
    from rasa.utils.tensorflow.models import RasaModel

    replace(RasaModel, "load", loading_for_prediction, by=__name__)


def loading_for_prediction(original: Any) -> Any:
    """Rasa's `RasaModel.load`, except that a model loaded to predict is loaded by `load_for_prediction`."""
    from rasa.utils.tensorflow.models import RasaModel

    @functools.wraps(original)
    def load(
        cls: type[RasaModel],
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        if finetune_mode or predict_data_example is None:
            return original(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                            *args, **kwargs)  # fmt: skip
        return load_for_prediction(cls, model_file_name, predict_data_example, *args, **kwargs)

    return load


def load_for_prediction(cls: Any, model_file_name: str, predict_data_example: Any, *args: Any, **kwargs: Any) -> Any:
    """A RasaModel with its trained weights, ready to predict, without a training step."""
    import tensorflow as tf

    model = cls(*args, **kwargs)
    config = kwargs.get("config", {})
    run_eagerly = config.get("run_eagerly")
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get("learning_rate", 0.001)), run_eagerly=run_eagerly)
    model._run_eagerly = True  # one eager prediction creates the variables prediction uses, without tracing
    model.run_inference(predict_data_example)
    model._run_eagerly = run_eagerly
    model.load_weights(model_file_name).expect_partial()
    # What the first prediction computed from the initial weights (label embeddings, the traced step) is redone
    # from the trained ones.
    model.prepared_for_prediction = False
    model._tf_predict_step = prediction_function(model, predict_data_example)
    model.run_inference(predict_data_example)
    logger.debug("Loaded %s for prediction from %s", cls.__name__, model_file_name)
    return model


def prediction_function(model: Any, predict_data_example: Any) -> Any:
    """The tf.function Rasa makes of `predict_step` on a first prediction, traced without AutoGraph.

    AutoGraph rewrites the Python source of the step (its `if` and `for`) into graph operations before tracing; in
    Rasa's prediction steps these only ever test Python values (which features a model has, its configuration), so
    AutoGraph falls back to plain Python for every one of them and the rewrite is pure start-up cost. The traced
    graph is the same.
    """
    import tensorflow as tf
    from rasa.utils.train_utils import create_data_generators

    generator, _ = create_data_generators(model_data=predict_data_example, batch_sizes=1, epochs=1, shuffle=False)
    batch_in = next(iter(generator))[0]
    step = tf.function(model.predict_step, input_signature=model._dynamic_signature(batch_in), autograph=False)
    return FlatPredictStep(step)


class FlatPredictStep:
    """A traced prediction step called through its one concrete function, with the batch as a flat tensor list.

    Rasa's batches are flat tuples of arrays whose signature has a `None` for every dimension, so the step has a
    single concrete function. The arrays are converted to the signature's dtypes and handed to that function
    directly, skipping `tf.function`'s per-call argument canonicalisation and graph lookup; the outputs are the
    same tensors. A batch of another length goes through the `tf.function` itself, which raises its usual error.
    """

    def __init__(self, step: Any) -> None:
        self.step = step
        self._concrete: Any = None  # the step is first traced by a real call (after Rasa's prepare_for_predict)
        self._dtypes: list[Any] = []

    def __call__(self, batch_in: tuple[Any, ...]) -> Any:
        import tensorflow as tf

        if self._concrete is None:
            outputs = self.step(batch_in)
            self._concrete = self.step.get_concrete_function()  # the one just traced for the signature
            (batch_signature,) = self._concrete.structured_input_signature[0]
            self._dtypes = [spec.dtype for spec in tf.nest.flatten(batch_signature)]
            return outputs
        if not isinstance(batch_in, tuple) or len(batch_in) != len(self._dtypes):
            return self.step(batch_in)
        tensors = [tf.convert_to_tensor(a, dtype=dtype) for a, dtype in zip(batch_in, self._dtypes, strict=True)]
        return self._concrete._call_flat(tensors, self._concrete.captured_inputs)
