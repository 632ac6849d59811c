"""The epoch-indexed training stream: a resumed seeded run continues the same streams."""

import keras
import pytest

from monet_gan.data import pipeline

STEPS = 3
BATCH = 4


def epoch_names(shared_data, first_epoch, epochs, seed):
    """(photo names, Monet names, pixel sum) of every batch of `epochs` epochs from `first_epoch`."""
    dataset = pipeline.training_dataset(
        str(shared_data / "photo_jpg"), str(shared_data / "monet_tfrec"), image_size=32,
        global_batch_size=BATCH, seed=seed, with_names=True, steps_per_epoch=STEPS,
        first_epoch=first_epoch, end_epoch=first_epoch + epochs,
    )
    return [
        (list(photo_names), list(monet_names), round(float(photos.sum()), 3))
        for photos, _, photo_names, monet_names in dataset.take(STEPS * epochs).as_numpy_iterator()
    ]


@pytest.mark.real_data
def test_a_resumed_seeded_stream_sees_the_uninterrupted_photos_monets_and_jitter(shared_data):
    # A global seed of 0 is the case in which tf.data refuses tensor seeds.
    keras.utils.set_random_seed(0)
    uninterrupted = epoch_names(shared_data, 0, 4, seed=7)
    resumed = epoch_names(shared_data, 0, 2, seed=7) + epoch_names(shared_data, 2, 2, seed=7)
    assert resumed == uninterrupted
    # Every epoch draws its own order, and another seed another one.
    photo_orders = [sum((batch[0] for batch in uninterrupted[i:i + STEPS]), []) for i in (0, STEPS)]
    assert photo_orders[0] != photo_orders[1]
    assert epoch_names(shared_data, 0, 1, seed=8) != uninterrupted[:STEPS]


def test_epoch_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="steps_per_epoch=0"):
        pipeline.training_dataset(str(tmp_path), str(tmp_path), 32, steps_per_epoch=0)
    with pytest.raises(ValueError, match="first_epoch=-1"):
        pipeline.training_dataset(str(tmp_path), str(tmp_path), 32, steps_per_epoch=2, first_epoch=-1)
    with pytest.raises(ValueError, match="go together"):
        pipeline.training_dataset(str(tmp_path), str(tmp_path), 32, steps_per_epoch=2)
    with pytest.raises(ValueError, match="end_epoch=3"):
        pipeline.training_dataset(
            str(tmp_path), str(tmp_path), 32, steps_per_epoch=2, first_epoch=3, end_epoch=3
        )
