"""Customer pages, one module per area (profile = the 360, lists, search, edit, tags, duplicates …)."""
