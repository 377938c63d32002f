"""lineage-as-code: data lineage kept in Git, planned and applied to catalogs like infrastructure."""

__version__ = "0.1.0"
