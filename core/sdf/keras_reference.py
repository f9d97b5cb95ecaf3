"""The Keras reference step, run by ``reference.keras_reference`` in a process of its own (``python -c``).

Arguments DATA.npz SPEC_JSON: it trains the network of SPEC (hidden widths, init, learning rate, batch,
epochs) on DATA's x and y (as an (N, 1) column: Keras trains a 1-D target half as fast) with Keras' Adam
and the mean absolute error, and prints {"version": TensorFlow's, "samples_per_s": the median epoch's
rate, the first epoch (tracing) left out}. It imports only numpy and TensorFlow. Exit status 3 where
TensorFlow is not installed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str]) -> int:
    try:
        import tensorflow as tf  # noqa: PLC0415 - optional, benchmark-only
    except ImportError:
        return 3
    import numpy as np  # noqa: PLC0415

    data, spec = np.load(argv[0]), json.loads(argv[1])
    tf.keras.utils.set_random_seed(0)
    init = "he_uniform" if spec["init"] == "he_uniform" else "glorot_uniform"
    layers = [tf.keras.Input(shape=(3,))]
    layers += [tf.keras.layers.Dense(w, activation="relu", kernel_initializer=init) for w in spec["widths"]]
    model = tf.keras.Sequential([*layers, tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=spec["lr"]), loss="mae")
    xs, ys, b = data["x"], data["y"].reshape(-1, 1), spec["batch"]
    seconds: list[float] = []

    class EpochClock(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seconds.append(time.perf_counter() - self.t0)

    # One fit, as the seed trainer runs it: the first epoch traces the graph and is left out.
    model.fit(xs, ys, batch_size=b, epochs=spec["epochs"] + 1, verbose=0, shuffle=False, callbacks=[EpochClock()])
    rate = len(xs) / statistics.median(seconds[1:])
    print(json.dumps({"version": str(tf.__version__), "samples_per_s": rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
