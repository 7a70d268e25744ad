"""Errors a user can cause and fix: the CLI prints their message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Raised for a mistake the user can fix (bad path, unknown format, warehouse in use...)."""


class WarehouseInUse(UserError):
    """Raised when another process holds the warehouse file."""


class UnknownFormat(UserError):
    """Raised when an export's header matches no known format or profile."""


class InputFileError(UserError):
    """Raised when a whole input file cannot be processed (not found, unreadable header...)."""


class ProfileError(UserError):
    """Raised when an operator profile is missing or invalid."""


class ChainBroken(UserError):
    """Raised when the quick check of the warehouse's hash chain fails: its head does not
    match its last link, or links are missing (see docs/integrity.md)."""


class StorageFull(UserError):
    """Raised when the warehouse cannot be written for lack of room (disk, quota, memory)."""
