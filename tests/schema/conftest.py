from collections import Counter

# (operation, status) → cases sent, filled by test_api_schema.py, summed up at the end of the run.
STATUSES: Counter = Counter()


def pytest_terminal_summary(terminalreporter) -> None:
    if not STATUSES:
        return
    by_status: Counter = Counter()
    for (_, status), n in STATUSES.items():
        by_status[status] += n
    operations = len({operation for operation, _ in STATUSES})
    terminalreporter.write_line(
        f"schema fuzz: {sum(by_status.values())} cases over {operations} operations; by status: "
        + ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items()))
    )
