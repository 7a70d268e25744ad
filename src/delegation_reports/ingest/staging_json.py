"""Reading a JSON Lines file as canonical rows (`jsonl_rows`, shaped like `raw_canonical`)."""

from __future__ import annotations

import json
from pathlib import Path

from . import files
from .content import is_content_column, scrub_json_text
from .source import Source

_JSONL_BATCH = 50_000


def parse_json(text: str):
    """Parse JSON keeping every number as the text written: ``1.10`` stays ``"1.10"`` (a float
    would make it ``1.1``, the id of another event) and ``1e2`` stays ``"1e2"``."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


def _jsonl_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return scrub_json_text(json.dumps(value, ensure_ascii=False, sort_keys=True))


def stage_jsonl(con, source: Source) -> int:
    """Read a JSON Lines file into `jsonl_rows` (the same columns as `raw_canonical`); lines
    that are not JSON objects go to `rejects`. Returns the number of objects read."""
    import pyarrow as pa

    kind = source.kind
    columns = ["line_number", *kind.columns, "has_bad_bytes", "raw_text"]
    schema = pa.schema(
        [("line_number", pa.int64())]
        + [(c, pa.string()) for c in kind.columns]
        + [("has_bad_bytes", pa.bool_()), ("raw_text", pa.string())]
    )
    con.execute(
        "CREATE TEMP TABLE rejects (line_number BIGINT, reason VARCHAR, detail VARCHAR, raw_text VARCHAR)"
    )
    con.execute(
        "CREATE TEMP TABLE jsonl_rows ("
        + ", ".join(
            f"{c} {'BIGINT' if c == 'line_number' else 'BOOLEAN' if c == 'has_bad_bytes' else 'VARCHAR'}"
            for c in columns
        )
        + ")"
    )
    batch: dict[str, list] = {c: [] for c in columns}
    bad = []
    dropped: set[str] = set()
    extra_seen: set[str] = set()
    known_keys = set(kind.columns)

    def flush():
        if batch["line_number"]:
            con.register("jsonl_batch", pa.table(batch, schema=schema))
            con.execute("INSERT INTO jsonl_rows SELECT * FROM jsonl_batch")
            con.unregister("jsonl_batch")
            for values in batch.values():
                values.clear()

    records = (
        files.json_document_records(source.path)
        if source.detected.json_document
        else _json_lines(source.path)
    )
    for line_number, decoded, record, reject in records:
        if reject:
            bad.append((*reject[:3], scrub_json_text(reject[3])))
            continue
        kept = {k: v for k, v in record.items() if not is_content_column(k)}
        if len(kept) < len(record):
            dropped.update(k for k in record if is_content_column(k))
        if not known_keys.issuperset(kept):
            extra_seen.update(set(kept) - known_keys)
            known_keys.update(kept)
        batch["line_number"].append(line_number)
        for c in kind.columns:
            batch[c].append(_jsonl_value(kept.get(c)))
        batch["has_bad_bytes"].append(False)
        batch["raw_text"].append(scrub_json_text(decoded))
        if len(batch["line_number"]) >= _JSONL_BATCH:
            flush()
    flush()
    if bad:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)", bad)
    # Keys first met after line 1 are recorded in the manifest too.
    source.detected.content_columns = sorted(set(source.detected.content_columns) | dropped)
    source.detected.ignored_columns = sorted(set(source.detected.ignored_columns) | extra_seen)
    return con.execute("SELECT count(*) FROM jsonl_rows").fetchone()[0]


def _json_lines(path: Path):
    """(line number, text, record, reject) for each non-blank line of a JSON Lines file; a line
    that is not a JSON object comes with its reject row instead of a record."""
    for line_number, text in files.nonblank_lines(path):
        try:
            decoded = text.decode("utf-8-sig" if line_number == 1 else "utf-8")
            record = parse_json(decoded)
        except UnicodeDecodeError:
            shown = text.decode("utf-8", errors="backslashreplace")
            reject = (line_number, "undecodable_bytes", "bytes that are not UTF-8")
            yield line_number, shown, None, (*reject, scrub_json_text(shown))
            continue
        except RecursionError:
            reject = (line_number, "malformed_row", "JSON nested too deep")
            yield line_number, decoded, None, (*reject, scrub_json_text(decoded))
            continue
        except json.JSONDecodeError as exc:
            reject = (line_number, "malformed_row", f"invalid JSON: {exc.msg}")
            yield line_number, decoded, None, (*reject, scrub_json_text(decoded))
            continue
        if not isinstance(record, dict):
            reject = (line_number, "malformed_row", "not a JSON object")
            yield line_number, decoded, None, (*reject, scrub_json_text(decoded))
            continue
        yield line_number, decoded, record, None
