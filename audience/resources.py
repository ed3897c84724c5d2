"""django-import-export for endpoints in the admin, with Pinpoint's dotted CSV columns.

EndpointResource reads rows exactly as import jobs do — audience.formats.csv_body, then
audience.imports.apply_chunk (parse_endpoint and endpoints_write with strict=False) — so the
admin import keeps good rows and reports each bad one with its line and reason. The dry run
(the admin's preview) runs the same writes in a transaction that is rolled back.
"""

from django.db import transaction
from import_export import resources
from import_export.results import Error, Result, RowResult
from tablib import Dataset

from audience.formats import HeaderInvalid, Record, compile_header, csv_body
from audience.imports import CHUNK_ROWS, apply_chunk
from audience.models import Endpoint
from audience.validation import DEMOGRAPHIC_COLUMNS, LOCATION_NUMBER_COLUMNS, LOCATION_TEXT_COLUMNS
from projects.models import Project

PREVIEW_HEADERS = ["Line", "Id", "ChannelType", "Address", "Result"]


class _Rollback(Exception):
    pass


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _records(dataset: Dataset) -> list[Record]:
    """The dataset's rows as import records (the header is line 1). Raises HeaderInvalid."""
    header = compile_header([_cell(h) for h in dataset.headers or []])
    if header.user_id_only:
        raise HeaderInvalid("A User.UserId-only file defines a segment: import it on the Audience page.")
    records = []
    for index, values in enumerate(dataset, start=2):
        cells = [_cell(v) for v in values]
        record = Record(line=index, end=0, text=",".join(cells))
        if any(cells):
            try:
                record.body = csv_body(header, cells)
            except ValueError as error:
                record.error = str(error)
            records.append(record)
    return records


def _row_result(record: Record, import_type: str, outcome: str) -> RowResult:
    row = RowResult()
    row.import_type = import_type
    body = record.body or {}
    row.diff = [record.line, body.get("Id", ""), body.get("ChannelType", ""), body.get("Address", ""), outcome]
    return row


class EndpointResource(resources.Resource):
    """Imports and exports endpoints of one project (chosen on the import form)."""

    def __init__(self, project: Project | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.project = project

    @classmethod
    def get_display_name(cls) -> str:
        return "Endpoints (Pinpoint CSV columns)"

    def import_data(self, dataset: Dataset, dry_run: bool = False, **kwargs) -> Result:
        """Write the rows (or, with dry_run, only check them); bad rows come back as skipped rows
        whose Result column gives the reason, so the good ones can still be imported."""
        result = Result()
        result.diff_headers = list(PREVIEW_HEADERS)
        try:
            records = _records(dataset)
        except HeaderInvalid as error:
            result.append_base_error(Error(error))
            return result
        outcomes: dict[int, tuple[str, str]] = {}
        try:
            with transaction.atomic():
                for start in range(0, len(records), CHUNK_ROWS):
                    chunk = records[start : start + CHUNK_ROWS]
                    chunk_result = apply_chunk(
                        self.project,
                        chunk,
                        register=True,
                        segment_id=None,
                        define_segment=False,
                        request_id="admin-import",
                    )
                    failed = {id(r): reason for r, reason in chunk_result.failures}
                    for record in chunk:
                        if id(record) in failed:
                            outcomes[record.line] = (
                                RowResult.IMPORT_TYPE_SKIP,
                                f"Line {record.line}: {failed[id(record)]}",
                            )
                        elif record.write is not None and record.write.key in chunk_result.created:
                            outcomes[record.line] = (RowResult.IMPORT_TYPE_NEW, "New")
                        else:
                            outcomes[record.line] = (RowResult.IMPORT_TYPE_UPDATE, "Updated")
                if dry_run:
                    raise _Rollback
        except _Rollback:
            pass
        for record in records:
            import_type, outcome = outcomes[record.line]
            row = _row_result(record, import_type, outcome)
            result.append_row_result(row)
            result.increment_row_result_total(row)
        result.total_rows = len(records)
        return result

    def export(self, queryset=None, **kwargs) -> Dataset:
        """Endpoints as Pinpoint CSV columns; a repeated Attributes.<name> column per extra value."""
        endpoints = list(queryset if queryset is not None else Endpoint.objects.none())
        widths: dict[str, int] = {}
        metrics: set[str] = set()
        for endpoint in endpoints:
            for name, values in endpoint.attributes.items():
                widths[name] = max(widths.get(name, 1), len(values))
            metrics.update(endpoint.metrics)
        fixed = [("Id", "endpoint_id"), ("ChannelType", "channel_type"), ("Address", "address"), ("OptOut", "opt_out")]
        fixed += [("EndpointStatus", "status")]
        fixed += [(f"Demographic.{m}", c) for m, c in DEMOGRAPHIC_COLUMNS.items()]
        fixed += [(f"Location.{m}", c) for m, c in LOCATION_TEXT_COLUMNS.items()]
        fixed += [(f"Location.{m}", c) for m, (c, _) in LOCATION_NUMBER_COLUMNS.items()]
        fixed += [("User.UserId", "user_id")]
        names = sorted(widths)
        dataset = Dataset(
            headers=[h for h, _ in fixed]
            + [f"Attributes.{n}" for n in names for _ in range(widths[n])]
            + [f"Metrics.{m}" for m in sorted(metrics)]
        )
        for endpoint in endpoints:
            row = [_cell(getattr(endpoint, column)) for _, column in fixed]
            for name in names:
                values = endpoint.attributes.get(name, [])
                row += values + [""] * (widths[name] - len(values))
            row += [_cell(endpoint.metrics.get(m)) for m in sorted(metrics)]
            dataset.append(row)
        return dataset
