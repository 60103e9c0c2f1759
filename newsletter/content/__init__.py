"""The content store and its sources: one module per kind of Source."""
