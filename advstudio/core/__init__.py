"""The Qt-free engine: model, data, training, attacks, evaluation and storage (pure torch + numpy)."""
