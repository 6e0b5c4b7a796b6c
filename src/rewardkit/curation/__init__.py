"""Curation: composable steps that select and filter pairs (paper section 3.2)."""
