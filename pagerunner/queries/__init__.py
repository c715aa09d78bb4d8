"""The domain: queries, their statuses, records, pages and checkpoints."""
