"""Input pipelines: image folders -> tf.data."""
