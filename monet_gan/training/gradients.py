"""Gradients on either Keras backend: the one place where TensorFlow and JAX training differ.

The train step (cyclegan.py) and the composite updates (composite.py) call the networks as
ordinary Keras layers and say which variables to differentiate. Under TensorFlow a GradientTape
watches the call. Under JAX the same call runs inside a `keras.StatelessScope` that maps the
differentiated variables to the arguments of a function given to `jax.value_and_grad`; every
other variable keeps the value it has in the enclosing scope (the train step's state) or, outside
any scope, its own. Non-trainable state the call changes (image pools, random seeds) is written
back to the enclosing scope afterwards, so nothing leaks out of the traced function.
"""

import keras


def value_and_gradients(compute, variables, state_variables, loss_scale=None):
    """Runs `compute()` and differentiates its "loss" with respect to `variables`.

    Args:
        compute: a function of no arguments returning a dict with a scalar "loss"; anything
            else in the dict is passed through (per-example terms, images).
        variables: the Keras variables to differentiate with respect to; only these.
        state_variables: every variable `compute` may read or change (e.g. `model.variables`);
            used under JAX, where each must be given a value in the scope.
        loss_scale: None, or a factor the loss is multiplied by before differentiating (float16
            loss scaling); the gradients are returned scaled by it.

    Returns:
        (the dict `compute` returned, the list of gradients in the order of `variables`).
    """
    if keras.backend.backend() == "jax":
        return _jax_value_and_gradients(compute, list(variables), list(state_variables), loss_scale)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            result = compute()
            loss = _scaled(result["loss"], loss_scale)
        return result, tape.gradient(loss, list(variables))
    raise ValueError(f"Training supports the tensorflow and jax backends, not {keras.backend.backend()!r}.")


def current_value(variable):
    """A variable's value in the enclosing StatelessScope, or its own outside one."""
    from keras.src.backend.common.stateless_scope import get_stateless_scope

    scope = get_stateless_scope()
    if scope is not None:
        value = scope.get_current_value(variable)
        if value is not None:
            return value
    return variable.value


def _scaled(loss, loss_scale):
    return loss if loss_scale is None else keras.ops.multiply(loss, keras.ops.cast(loss_scale, loss.dtype))


def _jax_value_and_gradients(compute, variables, state_variables, loss_scale):
    import jax

    differentiated = {id(variable) for variable in variables}
    # Variables may be listed in both arguments; each is given one value.
    others = []
    seen = set(differentiated)
    for variable in state_variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            others.append(variable)
    other_values = [current_value(variable) for variable in others]
    stateful = [variable for variable in others if not variable.trainable]

    def loss_function(values):
        mapping = list(zip(variables, values)) + list(zip(others, other_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            result = compute()
        updates = [scope.get_current_value(variable) for variable in stateful]
        return _scaled(result["loss"], loss_scale), (result, updates)

    values = [current_value(variable) for variable in variables]
    (_, (result, updates)), gradients = jax.value_and_grad(loss_function, has_aux=True)(values)
    for variable, value in zip(stateful, updates):
        variable.assign(value)
    return result, list(gradients)


def loss_scale_of(optimizer):
    """The optimizer's current dynamic loss scale, or None when it does not scale (not float16)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return current_value(optimizer.dynamic_scale)
    return None


def apply_gradients(optimizer, gradients, variables):
    """`optimizer.apply(gradients, variables)`, also inside the JAX step's StatelessScope.

    Keras' LossScaleOptimizer applies or skips a step with `ops.cond` around variable
    assignments, which under JAX would leak values out of the traced branches; there, the same
    decisions are taken with selects instead: the update is computed with the non-finite
    gradients zeroed, then kept only when every gradient was finite.
    """
    if keras.backend.backend() != "jax" or not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.apply(gradients, variables)
        return
    ops = keras.ops
    finite = optimizer.check_finite(gradients)
    scale = current_value(optimizer.dynamic_scale)
    inner = optimizer.inner_optimizer
    watched = list(inner.variables) + list(variables)
    old_values = [current_value(variable) for variable in watched]
    unscaled = [ops.where(finite, gradient / ops.cast(scale, gradient.dtype), ops.zeros_like(gradient))
                for gradient in gradients]
    inner.apply(unscaled, variables)
    for variable, old_value in zip(watched, old_values):
        variable.assign(ops.where(finite, current_value(variable), old_value))
    counter = current_value(optimizer.step_counter)
    grow = ops.logical_and(finite, ops.equal(counter, optimizer.dynamic_growth_steps - 1))
    optimizer.dynamic_scale.assign(
        ops.where(finite, ops.where(grow, scale * 2.0, scale), scale * 0.5)
    )
    optimizer.step_counter.assign(
        ops.where(ops.logical_and(finite, ops.logical_not(grow)), counter + 1, ops.zeros_like(counter))
    )
