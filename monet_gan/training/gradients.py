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


def value_and_gradients(compute, variables, state_variables):
    """Runs `compute()` and differentiates its "loss" with respect to `variables`.

    Args:
        compute: a function of no arguments returning a dict with a scalar "loss"; anything
            else in the dict is passed through (per-example terms, images).
        variables: the Keras variables to differentiate with respect to; only these.
        state_variables: every variable `compute` may read or change (e.g. `model.variables`);
            used under JAX, where each must be given a value in the scope.

    Returns:
        (the dict `compute` returned, the list of gradients in the order of `variables`).
    """
    if keras.backend.backend() == "jax":
        return _jax_value_and_gradients(compute, list(variables), list(state_variables))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            result = compute()
        return result, tape.gradient(result["loss"], list(variables))
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


def _jax_value_and_gradients(compute, variables, state_variables):
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
        return result["loss"], (result, updates)

    values = [current_value(variable) for variable in variables]
    (_, (result, updates)), gradients = jax.value_and_grad(loss_function, has_aux=True)(values)
    for variable, value in zip(stateful, updates):
        variable.assign(value)
    return result, list(gradients)
