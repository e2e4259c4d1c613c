"""What is written to disk and read back: the prepared cache, the memory-mapped log, logs larger than
memory, the data card, the task's feature file."""
