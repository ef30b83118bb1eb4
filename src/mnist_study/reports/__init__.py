"""The reports: figures, tables and sentences, and the summary; the study never imports them."""
