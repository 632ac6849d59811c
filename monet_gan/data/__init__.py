"""Stage 1, the input: finding Kaggle's files, reading TFRecords and image folders into tf.data,
writing TFRecords, downloading the competition data, and a first look at it.
"""
