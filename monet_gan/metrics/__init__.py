"""Stage 5, the metric: feature networks (InceptionV3, the SqueezeNet proxy) and FID, KID,
memorization distance and MiFID.
"""
