"""Schemathesis hooks for the warehouse's contract test (warehouse/tests/schemathesis.rs).

Loaded with SCHEMATHESIS_HOOKS=hooks. The stock tool reads JSON and text answers; this
teaches it to read the Parquet one, so a body that is not a Parquet file fails the run.
"""

import schemathesis

MAGIC = b"PAR1"


@schemathesis.deserializer("application/vnd.apache.parquet")
def parquet(ctx, response):
    """A Parquet file: `PAR1`, the row groups, the footer, the footer's length (4 bytes, little
    endian), `PAR1`. The document calls it a (binary) string, so it is handed on as one."""
    body = response.content
    if len(body) < 12 or body[:4] != MAGIC or body[-4:] != MAGIC:
        raise ValueError(f"not a Parquet file ({len(body)} bytes, starting {body[:8]!r})")
    footer = int.from_bytes(body[-8:-4], "little")
    if footer == 0 or footer + 12 > len(body):
        raise ValueError(f"a Parquet footer of {footer} bytes in a file of {len(body)}")
    return body.decode("latin-1")
