"""Pinpoint's import files: CSV with dotted headers and newline-delimited JSON, read as a stream.

A RecordReader turns blocks of bytes into Records: an endpoint body shaped like EndpointRequest
(plus "Id"), a list of user ids (User-ID-only files), or the reason the row cannot be read. It
tracks the byte offset and line number after each record, so an import can stop after any record
and later resume from that offset without reading the file again. Nothing here touches the
database; every body still goes through audience.validation.parse_endpoint.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from audience.models import ImportFormat
from audience.validation import DEMOGRAPHIC_COLUMNS, LOCATION_NUMBER_COLUMNS, LOCATION_TEXT_COLUMNS, MAX_ENDPOINT_BYTES

SUFFIXES = {ImportFormat.CSV: (".csv",), ImportFormat.JSON: (".json", ".jsonl", ".ndjson")}
BOM = b"\xef\xbb\xbf"
MAX_ROW_TEXT = 16 * 1024
TOP_LEVEL = ("Id", "Address", "ChannelType", "OptOut", "RequestId", "EndpointStatus")
# Members of an EndpointResponse that the server sets: ignored, so an export imports again as it is.
SERVER_SET = frozenset({"EffectiveDate", "CreationDate", "CohortId", "ApplicationId"})
USER_ID_ONLY = ["User.UserId"]
USER_ATTRIBUTES = "User.UserAttributes."


class HeaderInvalid(ValueError):
    """The CSV header cannot be used; the whole file is skipped with this reason."""


@dataclass(slots=True)
class Record:
    line: int  # the line the record starts on, 1-based (the CSV header is line 1)
    end: int  # byte offset just after the record
    text: str  # the record as written, for the failed-rows download
    body: dict | None = None
    user_ids: list[str] | None = None
    error: str | None = None
    write: object = None  # the parsed endpoint (an EndpointWrite), once audience.imports parsed it
    # True when `body` is known to serialize under 15 KB with no NUL (from the CSV row's length),
    # so parsing can skip serializing it to check.
    small_and_clean: bool = False


def _split_lines(blocks: Iterable[bytes], offset: int) -> Iterator[tuple[int, bytes]]:
    """(offset after the line, the line without its LF) for every line of the stream."""
    pending = b""
    for block in blocks:
        parts = (pending + block).split(b"\n")
        pending = parts.pop()
        for part in parts:
            offset += len(part) + 1
            yield offset, part
    if pending:
        yield offset + len(pending), pending


@dataclass(frozen=True)
class CsvHeader:
    """A header compiled into where each column goes, so a row costs one pass over its cells."""

    names: list[str]
    top: list[tuple[int, str]]
    demographic: list[tuple[int, str]]
    location_text: list[tuple[int, str]]
    location_number: list[tuple[int, str]]
    attributes: list[tuple[int, str]]
    metrics: list[tuple[int, str]]
    user_attributes: list[tuple[int, str]]
    user_id: int | None
    json_names: int = 0  # an upper bound of the bytes the column names add to a row's body JSON
    attributes_repeat: bool = False  # some Attributes.<name> column appears more than once

    @property
    def user_id_only(self) -> bool:
        return self.names == USER_ID_ONLY


def compile_header(names: list[str]) -> CsvHeader:
    """Compile a CSV header of Pinpoint's dotted names; raises HeaderInvalid naming the column."""
    names = [n.strip() for n in names]
    if not any(names):
        raise HeaderInvalid("The file has no header row.")
    columns: dict[str, list[tuple[int, str]]] = {
        "top": [],
        "demographic": [],
        "location_text": [],
        "location_number": [],
        "attributes": [],
        "metrics": [],
        "user_attributes": [],
    }
    seen: set[str] = set()
    user_id = None
    for index, name in enumerate(names):
        prefix, _, rest = name.partition(".")
        repeatable = False
        if name in SERVER_SET:
            continue
        if name in TOP_LEVEL:
            columns["top"].append((index, name))
        elif prefix == "Demographic" and rest in DEMOGRAPHIC_COLUMNS:
            columns["demographic"].append((index, rest))
        elif prefix == "Location" and rest in LOCATION_TEXT_COLUMNS:
            columns["location_text"].append((index, rest))
        elif prefix == "Location" and rest in LOCATION_NUMBER_COLUMNS:
            columns["location_number"].append((index, rest))
        elif prefix == "Attributes" and rest:
            columns["attributes"].append((index, rest))
            repeatable = True  # a repeated attribute column adds a value
        elif prefix == "Metrics" and rest:
            columns["metrics"].append((index, rest))
        elif name == "User.UserId":
            user_id = index
        elif name.startswith(USER_ATTRIBUTES) and len(name) > len(USER_ATTRIBUTES):
            columns["user_attributes"].append((index, name[len(USER_ATTRIBUTES) :]))
            repeatable = True
        else:
            raise HeaderInvalid(
                f"Unknown column '{name[:80]}' in the header. Columns are Id, Address, ChannelType, OptOut, "
                "RequestId, EffectiveDate, Demographic.<field>, Location.<field>, Attributes.<name>, "
                "Metrics.<name>, User.UserId and User.UserAttributes.<name>."
            )
        if name in seen and not repeatable:
            raise HeaderInvalid(f"Column '{name}' appears twice; only attribute columns may repeat.")
        seen.add(name)
    # Per column: its name as a JSON key (ensure_ascii: ≤ 12 bytes a character), quotes,
    # separators, list brackets or a number's digits; plus the nesting objects.
    json_names = 128 + sum(12 * len(name) + 32 for name in names)
    repeat = len({name for _, name in columns["attributes"]}) < len(columns["attributes"])
    return CsvHeader(names=names, user_id=user_id, json_names=json_names, attributes_repeat=repeat, **columns)


def _small_and_clean(header: CsvHeader, text: str) -> bool:
    """Whether the body of a row with this text surely serializes under 15 KB and has no NUL: JSON
    (ensure_ascii) writes a character of a cell in at most 6 bytes (`\u001f`), 12 if not ASCII."""
    if "\x00" in text:
        return False
    per_character = 6 if text.isascii() else 12
    return header.json_names + per_character * len(text) <= MAX_ENDPOINT_BYTES


def _number(value: str, member: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{member} must be a number, not '{value[:40]}'.") from None


def csv_body(header: CsvHeader, row: list[str]) -> dict:
    """The EndpointRequest (plus Id) a CSV row describes; empty cells are "not sent".
    Raises ValueError with the reason."""
    if len(row) > len(header.names):
        raise ValueError(f"The row has {len(row)} values; the header has {len(header.names)} columns.")
    if len(row) < len(header.names):
        row = row + [""] * (len(header.names) - len(row))
    body: dict = {}
    for index, member in header.top:
        if row[index]:
            body[member] = row[index]
    if header.demographic:
        demographic = {member: row[i] for i, member in header.demographic if row[i]}
        if demographic:
            body["Demographic"] = demographic
    if header.location_text or header.location_number:
        location = {member: row[i] for i, member in header.location_text if row[i]}
        for i, member in header.location_number:
            if row[i]:
                location[member] = _number(row[i], f"Location.{member}")
        if location:
            body["Location"] = location
    if header.attributes:
        if header.attributes_repeat:
            attributes: dict[str, list[str]] = {}
            for i, name in header.attributes:
                if row[i]:
                    attributes.setdefault(name, []).append(row[i])
        else:
            attributes = {name: [row[i]] for i, name in header.attributes if row[i]}
        if attributes:
            body["Attributes"] = attributes
    if header.metrics:
        metrics = {name: _number(row[i], f"Metrics.{name}") for i, name in header.metrics if row[i]}
        if metrics:
            body["Metrics"] = metrics
    user: dict = {}
    if header.user_id is not None and row[header.user_id]:
        user["UserId"] = row[header.user_id]
    if header.user_attributes:
        user_attributes: dict[str, list[str]] = {}
        for i, name in header.user_attributes:
            if row[i]:
                user_attributes.setdefault(name, []).append(row[i])
        if user_attributes:
            user["UserAttributes"] = user_attributes
    if user:
        body["User"] = user
    return body


def json_record(record: Record, text: str) -> None:
    """Fill a record from one line of newline-delimited JSON."""
    try:
        body = json.loads(text)
    except ValueError as error:
        record.error = f"The line is not valid JSON: {error}."
        return
    if not isinstance(body, dict):
        record.error = "The line must be a JSON object (an EndpointRequest with an Id)."
        return
    for member in SERVER_SET & body.keys():
        del body[member]
    user = body.get("User")
    if body.keys() == {"User"} and isinstance(user, dict) and user.keys() == {"UserId"}:
        if not isinstance(user["UserId"], str) or not user["UserId"].strip():
            record.error = "User.UserId must be a non-empty string."
        else:
            record.user_ids = [user["UserId"]]
        return
    record.body = body


class RecordReader:
    """Records of one file from byte `offset` on (`line` lines already read).

    For CSV, `header` is the file's header when resuming past it; when reading from the start the
    reader takes it from the first line and exposes it as `.header` (raising HeaderInvalid).
    """

    def __init__(
        self, blocks: Iterable[bytes], *, format: str, offset: int = 0, line: int = 0, header: list[str] | None = None
    ) -> None:
        self.format = format
        self.offset = offset
        self.line = line
        self._lines = _split_lines(blocks, offset)
        self._decode_error: int | None = None
        self.header: CsvHeader | None = compile_header(header) if header else None

    def _decoded(self, raw: bytes) -> str:
        if self.offset == 0 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self._decode_error = self.line + 1
            return raw.decode("utf-8", errors="replace")

    def _text_lines(self) -> Iterator[str]:
        for end, raw in self._lines:
            text = self._decoded(raw)
            self.offset = end
            self.line += 1
            yield text + "\n"

    def __iter__(self) -> Iterator[Record]:
        if self.format == ImportFormat.JSON:
            return self._json()
        return self._csv()

    def _json(self) -> Iterator[Record]:
        for text in self._text_lines():
            text = text[:-1]
            if not text.strip():
                continue
            record = Record(line=self.line, end=self.offset, text=text[:MAX_ROW_TEXT])
            if self._decode_error is not None:
                record.error = "The line is not valid UTF-8."
                self._decode_error = None
            else:
                json_record(record, text)
            yield record

    def read_header(self) -> CsvHeader:
        """Read and compile the header line (CSV from the start of a file); raises HeaderInvalid."""
        lines = self._text_lines()
        for text in lines:
            if self._decode_error is not None:
                raise HeaderInvalid("The header is not valid UTF-8.")
            if text.strip():
                self.header = compile_header(next(csv.reader([text])))
                return self.header
        raise HeaderInvalid("The file is empty: it has no header row.")

    def _csv(self) -> Iterator[Record]:
        header = self.header or self.read_header()
        lines = self._text_lines()
        tracked = _Tracked(lines)
        reader = csv.reader(tracked, strict=True)
        while True:
            start = self.line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Record(line=start, end=self.offset, text=tracked.text[:MAX_ROW_TEXT], error=f"Bad CSV: {error}.")
                tracked.text = ""
                continue
            text, tracked.text = tracked.text, ""
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            record = Record(line=start, end=self.offset, text=text.rstrip("\n")[:MAX_ROW_TEXT])
            if self._decode_error is not None:
                record.error = f"Line {self._decode_error} is not valid UTF-8."
                self._decode_error = None
            elif header.user_id_only:
                record.user_ids = row[0].split()
            else:
                try:
                    record.body = csv_body(header, row)
                except ValueError as error:
                    record.error = str(error)
                else:
                    record.small_and_clean = _small_and_clean(header, text)
            yield record


class _Tracked:
    """Feeds lines to csv.reader and keeps the text of the record being read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.text = ""

    def __iter__(self) -> "_Tracked":
        return self

    def __next__(self) -> str:
        text = next(self.lines)
        self.text += text
        return text
