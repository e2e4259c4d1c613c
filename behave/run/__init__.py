"""What every run writes and reads back, whatever the model family: the record, the predictions,
the embedding tables, the summary, the TensorBoard, the checkpoint folder."""
