"""Stage 3, training: the config, losses, image pool, DiffAugment, the per-direction composites,
the CycleGAN model and its train_step, the distribution strategy, the time budget and the trainer.
"""
