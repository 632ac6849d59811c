"""monet_gan: a CycleGAN that turns photos into Monet-style paintings.

The modules follow the path of the data:
  data, tfrecord_writer, download, preview -> layers, generators, discriminators
  -> composite -> losses, image_pool, diffaugment -> cyclegan, config, strategy, train
  -> submission -> features, mifid.
"""

__version__ = "0.1.0"
