"""The request inbox: JSON request files dropped into a watched folder become jobs."""
