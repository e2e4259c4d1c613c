"""What is fitted on the training split and applied to any log: vocabulary, buckets, levels, static
attributes, event fields, sequences, the pipeline that holds them."""
