"""The source tests run once per object-store scheme."""

from tests.servers import bucket  # noqa: F401  (parametrized over s3, gs, az, abfss)
