"""Evidence that can be checked: the digests of loaded rows, the warehouse's hash chain, its
verification, and the retention purge (see docs/integrity.md)."""
