"""Training: encoder pretraining (`pretrain.pretrain_encoder`), the matching stage
(`match.train_matching`), prediction (`predict.predict`); folds, run directories,
configuration and the shared runtime."""
