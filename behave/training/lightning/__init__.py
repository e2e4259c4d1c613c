"""The neural side: one Lightning fit shared by the classifiers, the rating models and pretraining,
with resume, processes, progress lines and transfer of embeddings."""
