"""Stage 4, generation: loading a trained generator, painting photos into images.zip, and
reading and checking zips of images.
"""
