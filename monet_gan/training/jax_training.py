"""The CycleGAN's train step on Keras' JAX trainer: the same update, on the state it is handed.

Keras' JAX trainer keeps the model's variables outside the variables during `fit`, as the state
`(trainable, non_trainable, optimizer, metrics)` it passes to `train_step(state, data)` and gets
back with the logs (keras-io: "Customizing what happens in fit() with JAX"). The CycleGAN runs its
ordinary step (CycleGAN.update) inside one `keras.StatelessScope` that maps every variable to its
value in that state; the scope records each assignment (optimizer updates, pools, random seeds,
metrics), and the new state is read back from it. The gradients inside are taken by
gradients.py with `jax.value_and_grad`. No TensorFlow is involved.

Four optimizers, one state: the trainer carries `model.optimizer.variables`, so under JAX the
model's `optimizer` is an OptimizerGroup listing the four optimizers' variables in order; each
optimizer still updates only its own network.
"""

import keras


class OptimizerGroup:
    """The four optimizers seen as one by Keras' JAX trainer: their variables, concatenated.

    It is not a keras.optimizers.Optimizer, so the trainer does not swap the photo->Monet
    generator's moving average into its weights at the end of fit (train.py exports it apart).
    """

    built = True

    def __init__(self, optimizers):
        self.optimizers = list(optimizers)

    @property
    def variables(self):
        return [variable for optimizer in self.optimizers for variable in optimizer.variables]


def state_variables(model):
    """The variables of the trainer's state, in its order: trainable, non-trainable, optimizer, metrics."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def stateless_train_step(model, state, data):
    """Keras' JAX `train_step(state, data)`: CycleGAN.update on `state`; returns (logs, new state)."""
    groups = state_variables(model)
    mapping = [pair for variables, values in zip(groups, state) for pair in zip(variables, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.update(data)
    new_state = tuple([scope.get_current_value(variable) for variable in variables] for variables in groups)
    return logs, new_state


def sync_state(model):
    """Writes the state Keras' JAX trainer holds mid-fit back into the variables (no-op elsewhere).

    The trainer then reads the variables again before its next step, so a callback that changes
    a variable (the time budget's schedule length) is seen by the step.
    """
    if keras.backend.backend() == "jax" and getattr(model, "_jax_state", None):
        model.jax_state_sync()


def forward_function(network):
    """`network(images, training=False)` compiled for JAX, on the weights the network holds at each call.

    For callbacks that paint mid-fit (the quality curve): Keras' own `predict_on_batch` donates
    the model's buffers to its compiled function, which the trainer's state still refers to.
    This function reads the variables' values and gives nothing away.
    """
    import jax
    import numpy as np

    @jax.jit
    def forward(trainable, non_trainable, images):
        outputs, _ = network.stateless_call(trainable, non_trainable, images, training=False)
        return outputs

    def call(images):
        return forward(
            [variable.value for variable in network.trainable_variables],
            [variable.value for variable in network.non_trainable_variables],
            np.asarray(images, dtype="float32"),
        )

    return call
