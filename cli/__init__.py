"""`skiplock`, the command line: the same rules and errors as the API, on DATABASE_URL."""
