"""Hostile variants of valid inputs, made by a seeded mutator: each family damages a file the
way real-world exports and attackers do. ``mutate(data, family, rng)`` returns new bytes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

BIG_FIELD = 10 * 1024 * 1024
WIDE_COLUMNS = 100_000
DEEP_JSON = 100_000


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _body_line(lines: list[bytes], rng: random.Random) -> int:
    """A line after the header (or the first line of a one-line file)."""
    return rng.randrange(1, len(lines)) if len(lines) > 1 else 0


def byte_flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate_mid_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    index = _body_line(lines, rng)
    start = sum(len(line) for line in lines[:index])
    return data[: start + rng.randrange(1, max(2, len(lines[index]) - 1))]


def nul_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out)) : rng.randrange(len(out))] = b"\x00" * rng.randint(1, 3)
    return bytes(out)


def huge_field(data: bytes, rng: random.Random) -> bytes:
    """A 10 MB value in a field of one line (inside quotes for CSV, inside a string for JSON)."""
    lines = _lines(data)
    index = _body_line(lines, rng)
    line = lines[index]
    filler = rng.choice([b"A", b"\xc3\xa9", b"<>&' "]) * (BIG_FIELD // 5)
    if line.lstrip().startswith(b"{"):
        cut = line.find(b'":"') + 3 if b'":"' in line else line.find(b'": "') + 4
    else:
        cut = max(line.find(b","), line.find(b";")) + 1
    lines[index] = line[:cut] + filler.replace(b'"', b"") + line[cut:]
    return b"".join(lines)


def wide_line(data: bytes, rng: random.Random, columns: int = WIDE_COLUMNS) -> bytes:
    lines = _lines(data)
    index = _body_line(lines, rng)
    # The file's own delimiter, so that the line really has that many fields.
    separator = b";" if lines[0].count(b";") > lines[0].count(b",") else b","
    lines.insert(index, separator.join([b"v"] * columns) + b"\n")
    return b"".join(lines)


def unbalanced_quote(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    index = _body_line(lines, rng)
    line = lines[index]
    position = rng.randrange(len(line))
    lines[index] = line[:position] + b'"' + line[position:]
    return b"".join(lines)


def cr_lf_mix(data: bytes, rng: random.Random) -> bytes:
    """Stray CR inside lines, CRLF and LF mixed, lone CR line ends, blank CR-only lines."""
    lines = _lines(data)
    out = []
    for line in lines:
        body = line.rstrip(b"\r\n")
        choice = rng.randrange(5)
        if choice == 0:
            out.append(body + b"\r\n")
        elif choice == 1:
            out.append(body + b"\r")
        elif choice == 2 and body:
            position = rng.randrange(len(body))
            out.append(body[:position] + b"\r" + body[position:] + b"\n")
        elif choice == 3:
            out.append(body + b"\n\r\n")
        else:
            out.append(body + b"\n")
    return b"".join(out)


def bidi_and_emoji(data: bytes, rng: random.Random) -> bytes:
    """RTL override, isolates, zero-width characters and emoji inside values."""
    lines = _lines(data)
    marks = ["\u202e", "\u2066", "\u200b", "\u200f", "🙂", "👩🏽‍⚕️", "\ufeff"]
    for _ in range(rng.randint(1, 6)):
        index = _body_line(lines, rng)
        line = lines[index]
        position = rng.randrange(len(line))
        while position and (line[position] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
            position -= 1
        lines[index] = line[:position] + rng.choice(marks).encode("utf-8") + line[position:]
    return b"".join(lines)


def deep_json(data: bytes, rng: random.Random) -> bytes:
    """A deeply nested JSON value on one line (for a CSV: inside a field)."""
    depth = rng.choice([1_000, DEEP_JSON])
    nested = ("[" * depth + "]" * depth).encode()
    if data.lstrip().startswith((b"{", b"[")):
        record = b'{"CreationTime":"2026-03-02T08:15:00","Operation":"Send","RecordType":2,"Item":'
        line = record + nested + b"}\n"
    else:
        line = b'"' + nested + b'"\n'
    lines = _lines(data)
    lines.insert(_body_line(lines, rng), line)
    return b"".join(lines)


def control_characters(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out))
        out[position:position] = bytes([rng.choice([1, 7, 8, 11, 12, 27, 127])])
    return bytes(out)


def json_breakage(data: bytes, rng: random.Random) -> bytes:
    """A JSON-looking first line that is not JSON, a lone array, a scalar, a line of numbers."""
    junk = rng.choice(
        [b"{not json\n", b"[\n", b"42\n", b'"text"\n', b"[1, 2, 3]\n", b"{}\n", b"null\n"]
    )
    lines = _lines(data)
    lines.insert(rng.choice([0, _body_line(lines, rng)]), junk)
    return b"".join(lines)


FAMILIES: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "byte_flip": byte_flip,
    "truncate_mid_line": truncate_mid_line,
    "nul_bytes": nul_bytes,
    "huge_field": huge_field,
    "wide_line": wide_line,
    "unbalanced_quote": unbalanced_quote,
    "cr_lf_mix": cr_lf_mix,
    "bidi_and_emoji": bidi_and_emoji,
    "deep_json": deep_json,
    "control_characters": control_characters,
    "json_breakage": json_breakage,
}


def mutate(data: bytes, family: str, seed: int, **options) -> bytes:
    return FAMILIES[family](data, random.Random(f"{family}:{seed}"), **options)


def is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
