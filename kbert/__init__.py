"""kbert: BERT built the Keras 3 / TensorFlow way — pretrain, fine-tune, export, explore."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
