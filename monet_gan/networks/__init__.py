"""Stage 2, the networks: custom layers, the generators (U-Net, ResNet) and the PatchGAN
discriminator, all Keras functional models.
"""
