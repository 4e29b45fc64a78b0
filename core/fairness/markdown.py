"""Markdown tables of fairness analyses, for reports and model cards."""

from __future__ import annotations

from .disparate_impact import AttributeReport, Comparison, GroupResult
from .report import FairnessReport
from .statistics import Interval


def format_interval(interval: Interval | None, digits: int = 3) -> str:
    if interval is None:
        return "–"
    return f"[{interval.lower:.{digits}f}, {interval.upper:.{digits}f}]"


def format_p_value(p_value: float | None) -> str:
    if p_value is None:
        return "–"
    if p_value < 0.001:
        return f"{p_value:.1e}"
    return f"{p_value:.3f}"


def attribute_table(attribute: AttributeReport) -> str:
    """Return one attribute's groups as a Markdown table (rates, ratios, tests, intervals)."""
    settings = attribute.settings
    confidence = f"{settings.confidence:.0%}"
    lines = [
        f"| group | applicants | approved | approval rate [{confidence} CI] | impact ratio "
        f"[{confidence} CI] | difference [{confidence} CI] | test | p-value | "
        f"below {settings.four_fifths_threshold:g} | status | equal opportunity difference "
        f"[{confidence} CI] | EO p-value |",
        "| --- | ---: | ---: | --- | --- | --- | --- | ---: | --- | --- | --- | ---: |",
    ]
    for group in attribute.groups:
        lines.append(_group_row(group))
    return "\n".join(lines)


def _group_row(group: GroupResult) -> str:
    approval = group.approval
    opportunity = group.equal_opportunity
    opportunity_cells = ["–", "–"]
    if opportunity is not None:
        comparison = opportunity.comparison
        opportunity_cells = [
            f"{comparison.difference:+.3f} {format_interval(comparison.difference_interval)}",
            format_p_value(comparison.p_value),
        ]
    cells = [
        group.group,
        f"{group.applicants:,}",
        f"{group.approved:,}",
        f"{approval.rate:.3f} {format_interval(approval.rate_interval)}",
        _ratio(approval),
        f"{approval.difference:+.3f} {format_interval(approval.difference_interval)}",
        "–" if approval.test is None else approval.test.value.replace("_", " "),
        format_p_value(approval.adjusted_p_value),
        "yes" if group.below_four_fifths else "no",
        group.status.value.replace("_", " "),
        *opportunity_cells,
    ]
    return "| " + " | ".join(cells) + " |"


def _ratio(comparison: Comparison) -> str:
    if comparison.ratio is None:
        return "–"
    return f"{comparison.ratio:.3f} {format_interval(comparison.ratio_interval)}"


def fairness_markdown(report: FairnessReport, heading_level: int = 2) -> str:
    """Return the whole report as Markdown: context, one table per attribute, the gate."""
    hashes = "#" * heading_level
    settings = report.attributes[0].settings if report.attributes else None
    lines = [
        f"{hashes} Fairness of {report.model}",
        "",
        f"- Data: {report.dataset}",
        f"- Population: {report.population}",
        f"- Decision rule: {report.decision_rule}",
    ]
    if settings is not None:
        adjustment = (
            "Holm-adjusted across the attribute's groups"
            if settings.p_value_adjustment == "holm"
            else "unadjusted"
        )
        lines += [
            f"- Adverse impact: impact ratio below {settings.four_fifths_threshold:g} "
            f"(four-fifths rule) and a significant difference at alpha {settings.alpha:g} "
            f"(p-values {adjustment}; Fisher's exact test for groups under "
            f"{settings.small_group_size} or sparse tables, else the two-proportion z-test)",
        ]
    for attribute in report.attributes:
        rule = (
            "highest approval rate" if attribute.reference_rule == "highest_rate" else "configured"
        )
        lines += [
            "",
            f"{hashes}# {attribute.attribute}",
            "",
            f"Reference group: {attribute.reference_group} ({rule}); "
            f"{attribute.applicants:,} applicants.",
            "",
            attribute_table(attribute),
        ]
    findings = report.findings
    lines += ["", f"{hashes}# Fairness gate", ""]
    if findings:
        lines.append("**Failed**: significant four-fifths violations:")
        lines += [
            f"- {finding.attribute} = {finding.group}: impact ratio {finding.ratio:.3f} against "
            f"{finding.reference_group}, p = {format_p_value(finding.p_value)}"
            for finding in findings
        ]
    else:
        lines.append("**Passed**: no group shows a significant four-fifths violation.")
    return "\n".join(lines) + "\n"
