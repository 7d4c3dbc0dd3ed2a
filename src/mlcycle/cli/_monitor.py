"""``mlcycle monitor``: drift, anomalies, live performance and alerts of a served model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlcycle.cli._app import _emit_json, _errors, _fmt, app, err, out, shown
from mlcycle.monitoring import MIN_WINDOW_ROWS


@app.command(rich_help_panel="Monitor")
@_errors
def monitor(
    model: Annotated[str, typer.Argument(help="NAME or NAME@ALIAS (default: @production).")],
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 12h, 30m.")] = "7d",
    window: Annotated[str, typer.Option("--window", help="Drift over time, per window.")] = "1d",
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Alert rules (YAML); see mlcycle.monitoring.")
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="A running server, for the error rate.")
    ] = None,
    prometheus_rules: Annotated[
        Path | None,
        typer.Option(
            "--prometheus-rules", help="Also write the rules as Prometheus alerting rules."
        ),
    ] = None,
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--textfile", help="Write the signals as Prometheus gauges (textfile collector)."
        ),
    ] = None,
    retrain_data: Annotated[
        Path | None,
        typer.Option("--retrain-data", help="When an alert fires, retrain on this table."),
    ] = None,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit 1 when an alert fires (for cron/CI).")
    ] = False,
    min_rows: Annotated[
        int,
        typer.Option(
            "--min-rows", help="The fewest predictions a window needs for a drift verdict."
        ),
    ] = MIN_WINDOW_ROWS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare recent traffic with the training reference and evaluate the alert rules."""
    from mlcycle.monitoring import load_rules, prometheus_gauges
    from mlcycle.monitoring import monitor as run_monitor
    from mlcycle.monitoring import prometheus_rules as to_prometheus

    report = run_monitor(
        model, since=since, window=window, rules=rules, server=server, min_rows=min_rows
    )
    if prometheus_rules is not None:
        if rules is None:
            from mlcycle.exceptions import BadParameterError

            raise BadParameterError("--prometheus-rules needs --rules: the rules to export.")
        prometheus_rules.write_text(
            to_prometheus(load_rules(rules), report.model), encoding="utf-8"
        )
    if textfile is not None:
        textfile.write_text(prometheus_gauges(report.signals, report.model), encoding="utf-8")
    decision = None
    if retrain_data is not None and report.alerts:
        from mlcycle.monitoring import retrain

        decision = retrain(report.model, retrain_data, progress=not as_json)
    if as_json:
        data = report.to_dict()
        if decision is not None:
            data["retrain"] = decision.to_dict()
        _emit_json(data)
    else:
        _render(report)
        if decision is not None:
            out.print(f"[bold]retrain:[/] {shown(decision.reason)}")
    if fail_on_alert and report.alerts:
        raise typer.Exit(1)


def _render(report: Any) -> None:
    target = f"{report.model}" + (f"@{report.alias}" if report.alias else "")
    out.print(
        f"[bold]{shown(target)}[/] v{report.version}: {report.rows:,} predictions in the last "
        f"{shown(report.since)}"
    )
    out.print(shown(report.freshness), soft_wrap=True)
    for note in report.notes:
        err.print(f"[yellow]note:[/] {shown(note)}", soft_wrap=True)
    drift = report.drift
    if drift is not None:
        out.print(shown(drift.summary()))
        table = Table(title="Features, most drifted first", show_lines=False)
        for column in (
            "feature",
            "kind",
            "drifted",
            "PSI",
            "KS",
            "Wasserstein",
            "JS",
            "p adj.",
            "why",
        ):
            table.add_column(column)
        ranked = sorted(drift.features, key=lambda f: (not f.drifted, -(f.psi or 0.0)))
        for f in ranked[:25]:
            table.add_row(
                shown(f.name), shown(f.kind), "[red]yes[/]" if f.drifted else "no", _fmt(f.psi),
                _fmt(f.ks), _fmt(f.wasserstein), _fmt(f.js), _fmt(f.p_adjusted),
                shown("; ".join(f.reasons)),
            )  # fmt: skip
        out.print(table)
    if report.anomaly is not None:
        out.print(shown(report.anomaly.summary()))
    signals = {k: v for k, v in report.signals.items() if v is not None}
    if signals:
        out.print(
            "signals: " + ", ".join(f"{shown(k)}={_fmt(v)}" for k, v in sorted(signals.items()))
        )
    for alert in report.alerts:
        out.print(f"[bold red]ALERT[/] {shown(getattr(alert, 'message', alert))}", soft_wrap=True)
    if report.report_path is not None:
        out.print(f"report: {shown(report.report_path)}")
    if report.json_path is not None:
        out.print(f"json: {shown(report.json_path)}")
