"""A Keras layer whose random stream is saved with its weights.

A `keras.random.SeedGenerator` keeps its state in a variable, and Keras threads that variable
through a stateless JAX call like any other non-trainable state. Keras does not save it,
though: `Layer.save_own_variables` (`.keras` and `.weights.h5` files) writes only the layer's
weights, and a `tf.train.Checkpoint` does not reach a generator held as an attribute. A resumed
run would then start the stream again from its seed and repeat the draws of the first steps.
`SeededLayer` adds the state of its `seed_generator` to both, so a resumed run continues the
stream where it stopped.
"""

import keras


class SeededLayer(keras.layers.Layer):
    """A layer with an optional `self.seed_generator` whose state is saved with the weights.

    Subclasses set `self.seed_generator` to a `keras.random.SeedGenerator` (or None when they
    draw nothing). In Keras files the state is stored after the weights, under the next index;
    files written without it (before the layer drew at all, or by an older version) still
    load, and the stream then starts from the seed.
    """

    seed_generator = None

    def _own_weights(self):
        return self._trainable_variables + self._non_trainable_variables

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.seed_generator is not None:
            store[str(len(self._own_weights()))] = self.seed_generator.state

    def load_own_variables(self, store):
        weights = self._own_weights()
        seed_key = str(len(weights))
        if self.seed_generator is None or seed_key not in store.keys():
            super().load_own_variables(store)
            return
        if len(store.keys()) != len(weights) + 1:
            raise ValueError(
                f"Layer {self.name!r} expects {len(weights)} weights and a seed state, but the "
                f"file lists {len(store.keys())} variables for it."
            )
        for index, weight in enumerate(weights):
            weight.assign(store[str(index)])
        self.seed_generator.state.assign(store[seed_key])

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        # Only the TensorFlow backend's layers are checkpoint trackables; there the seed state
        # joins the layer's checkpoint next to its weights.
        children = super()._trackable_children(save_type, **kwargs)
        if save_type == "checkpoint" and self.seed_generator is not None:
            children = {**children, "seed_generator_state": self.seed_generator.state}
        return children
