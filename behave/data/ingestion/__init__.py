"""Raw tables to a validated `EventLog`: columns, timestamps and labels checked with errors that name
the file, the column and the rows."""
