"""The tabular side: boosted trees (XGBoost in memory, on Dask, from external memory; LightGBM),
scikit-learn models, and trees on pretrained sequence vectors."""
