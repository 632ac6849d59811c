"""The paper's learning-rate schedule and the Adam optimizers that follow it, in keras.ops.

The schedule's two step counts live in Keras variables rather than Python numbers, so that a time
budget (time_budget.py) can change the run's length mid-fit without retracing the train step,
and a checkpoint restores the length a run had planned. Under JAX these variables are part of the
model's state, which the train step receives and returns like any other non-trainable weight.
"""

import keras
from keras import ops

STEP_VARIABLE_NAMES = ("total_steps", "decay_start_step")


def step_dtype():
    """int64 under TensorFlow (as checkpoints of earlier runs hold); int32 under JAX without x64."""
    return "int64" if keras.backend.backend() == "tensorflow" else "int32"


def make_step_variable(steps, name):
    """A non-trainable integer Keras variable holding a step count."""
    return keras.Variable(int(steps), dtype=step_dtype(), trainable=False, name=name)


def _is_variable(steps):
    return isinstance(steps, keras.Variable) or hasattr(steps, "assign")


def _int_value(steps):
    return int(keras.ops.convert_to_numpy(steps)) if _is_variable(steps) else int(steps)


@keras.saving.register_keras_serializable(package="monet_gan")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The CycleGAN paper's schedule: a constant rate, then a straight line down to zero.

    Args:
        learning_rate: the rate of the constant phase.
        total_steps: the optimizer steps of the whole run; the rate is zero at this step.
        decay_start_step: the step at which the linear decay begins.

    Both step counts may be given as integer Keras variables shared by several schedules (see
    CycleGAN.compile); given as numbers, each gets a variable of its own.
    """

    def __init__(self, learning_rate, total_steps, decay_start_step):
        check_schedule_steps(_int_value(total_steps), _int_value(decay_start_step))
        self.learning_rate = float(learning_rate)
        self.total_steps = total_steps if _is_variable(total_steps) else make_step_variable(total_steps, "total_steps")
        self.decay_start_step = (
            decay_start_step if _is_variable(decay_start_step)
            else make_step_variable(decay_start_step, "decay_start_step")
        )

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total_steps = ops.cast(self.total_steps, "float32")
        decay_steps = ops.maximum(total_steps - ops.cast(self.decay_start_step, "float32"), 1.0)
        remaining = (total_steps - step) / decay_steps
        return self.learning_rate * ops.clip(remaining, 0.0, 1.0)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": _int_value(self.total_steps),
            "decay_start_step": _int_value(self.decay_start_step),
        }


def check_schedule_steps(total_steps, decay_start_step):
    """Raises ValueError unless 0 <= decay_start_step <= total_steps and total_steps > 0."""
    if total_steps <= 0 or not 0 <= decay_start_step <= total_steps:
        raise ValueError(
            f"Invalid schedule: total_steps={total_steps}, decay_start_step={decay_start_step}; "
            "expected 0 <= decay_start_step <= total_steps and total_steps > 0."
        )


def make_optimizer(config, total_steps, use_ema=False, name=None, decay_start_step=None):
    """Adam with the config's rate and beta_1 on the paper's schedule.

    `total_steps` and `decay_start_step` may be shared Keras variables (see CycleGAN.compile); by
    default the decay starts at the config's fraction of `total_steps`.
    """
    if decay_start_step is None:
        decay_start_step = config.decay_start_step(_int_value(total_steps))
    learning_rate = ConstantThenLinearDecay(config.learning_rate, total_steps, decay_start_step)
    return keras.optimizers.Adam(
        learning_rate=learning_rate,
        beta_1=config.beta_1,
        use_ema=use_ema,
        ema_momentum=config.ema_decay if use_ema else 0.99,
        name=name,
    )
