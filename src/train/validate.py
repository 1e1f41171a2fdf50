"""``python -m train.validate``: check the raw prompt CSV with a Great Expectations suite, then
write the stable grouped split to ``data/processed``.

On any failed expectation the process exits non-zero, prints each failure with a few offending rows,
writes ``reports/data_validation.json`` and leaves ``data/processed`` exactly as it was.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx
import hydra
import pandas as pd
from great_expectations import expectations as gxe
from great_expectations.data_context.types.base import ProgressBarsConfig
from omegaconf import DictConfig

from contract import load_labels
from train.config import register_resolvers
from train.dataset import (
    DataFileError,
    grouped_split,
    normalize_text,
    read_prompt_csv,
    save_splits,
    split_counts,
)

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    """One expectation's outcome, in words a person fixing the data can act on."""

    expectation: str
    description: str
    success: bool
    unexpected_count: int | None = None
    observed: object = None
    examples: list[dict] = field(default_factory=list)


@dataclass
class ValidationReport:
    source: str
    rows: int
    success: bool
    checks: list[CheckResult]
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "rows": self.rows,
            "success": self.success,
            "error": self.error,
            "failed": [c.description for c in self.failures],
            "checks": [c.__dict__ for c in self.checks],
            "split_counts": self.split_counts,
        }

    def message(self) -> str:
        if self.error:
            return f"Data validation failed: {self.error}"
        lines = [
            f"Data validation failed for {self.source}: {len(self.failures)} of "
            f"{len(self.checks)} expectations not met."
        ]
        for check in self.failures:
            count = f"{check.unexpected_count} row(s)" if check.unexpected_count else ""
            observed = f"observed {check.observed}" if check.observed is not None else ""
            detail = "; ".join(x for x in (count, observed) if x)
            lines.append(f"  FAILED {check.description} [{check.expectation}] {detail}")
            for ex in check.examples:
                shown = ", ".join(f"{k}={v!r}" for k, v in ex.items())
                lines.append(f"      {shown}")
        return "\n".join(lines)


def build_suite(labels: tuple[str, ...], bounds: DictConfig) -> list[gxe.Expectation]:
    """The expectations every raw prompt table must meet, each with a plain description."""
    return [
        *(
            gxe.ExpectColumnToExist(column=c, description=f"column {c!r} is present")
            for c in ("text", "label", "group")
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="text", description="text is not null"),
        gxe.ExpectColumnValuesToNotMatchRegex(
            column="text", regex=r"^\s*$", description="text is not blank"
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="text",
            min_value=bounds.text_min_chars,
            max_value=bounds.text_max_chars,
            description=f"text length is {bounds.text_min_chars}..{bounds.text_max_chars} chars",
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="label", description="label is not null"),
        gxe.ExpectColumnValuesToBeInSet(
            column="label", value_set=list(labels), description="label is one of the ten intents"
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="group", description="group is not null"),
        gxe.ExpectColumnValuesToBeUnique(column="text", description="no duplicate texts"),
        gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(
            column="normalized_text",
            min_value=bounds.min_normalized_unique,
            description=f"at least {bounds.min_normalized_unique:.0%} of texts unique after "
            "normalisation",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="groups_sharing_text",
            value_set=[1],
            description="no normalised duplicate across splits: rows equal after normalisation "
            "must share one group",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="intent_share",
            min_value=bounds.intent_share_min,
            max_value=bounds.intent_share_max,
            description=f"each intent's share is {bounds.intent_share_min:.0%}.."
            f"{bounds.intent_share_max:.0%} of rows",
        ),
    ]


def add_derived_columns(frame: pd.DataFrame, split_cfg: DictConfig) -> pd.DataFrame:
    """Columns the suite checks that the CSV does not hold: normalised text, the split each row
    lands in, how many groups share its normalised text, and its intent's share of rows."""
    frame = frame.copy()
    frame["normalized_text"] = frame["text"].fillna("").map(normalize_text)
    # Rows without a group are reported by the suite; give them their own so splitting can proceed.
    frame["group"] = frame["group"].where(frame["group"].notna(), "row-" + frame["row"].astype(str))
    label = frame["label"].fillna("<null>")
    fractions = {k: float(split_cfg[k]) for k in ("train", "validation", "test")}
    frame["split"] = grouped_split(frame, fractions, split_cfg.seed)
    # Checked on groups, not on this split: two groups may share a split under one seed and not
    # under the next, so only "same group" rules a leak out for every seed.
    frame["groups_sharing_text"] = frame.groupby("normalized_text")["group"].transform("nunique")
    frame["intent_share"] = label.map(label.value_counts(normalize=True))
    return frame


def run_suite(frame: pd.DataFrame, suite: list[gxe.Expectation], shown: int) -> list[CheckResult]:
    context = gx.get_context(mode="ephemeral")
    # The suite runs in a second; GX's per-metric progress bars only bury the report.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset("prompt_intents")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name="prompt_intents", expectations=suite))
    definition = gx.ValidationDefinition(data=batch, suite=gx_suite, name="raw_prompt_intents")
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row"]},
    )
    by_row = frame.set_index("row")
    checks = []
    for res in result.results:
        cfg = res.expectation_config
        rows = [item["row"] for item in (res.result.get("unexpected_index_list") or [])]
        if cfg.kwargs.get("column") == "intent_share":
            # One example per offending intent says more than many rows of the same label.
            rows = list(by_row.loc[rows].reset_index().drop_duplicates("label")["row"])
        examples = [
            {
                "row": int(r),
                "label": by_row.at[r, "label"],
                "split": by_row.at[r, "split"],
                "text": _clip(by_row.at[r, "text"]),
                **(
                    {"intent_share": round(float(by_row.at[r, "intent_share"]), 3)}
                    if cfg.kwargs.get("column") == "intent_share"
                    else {}
                ),
            }
            for r in list(dict.fromkeys(rows))[:shown]
        ]
        checks.append(
            CheckResult(
                expectation=cfg.type,
                description=cfg.description or cfg.type,
                success=bool(res.success),
                unexpected_count=res.result.get("unexpected_count"),
                observed=_plain(res.result.get("observed_value")),
                examples=examples,
            )
        )
    return checks


def validate_file(cfg: DictConfig) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Run the suite on ``cfg.data.raw_path``; return the report and, on success, the rows with
    their ``split`` column."""
    source = str(cfg.data.raw_path)
    try:
        frame = read_prompt_csv(source)
    except DataFileError as err:
        return ValidationReport(source, 0, False, [], error=str(err)), None
    frame = add_derived_columns(frame, cfg.data.split)
    suite = build_suite(load_labels(), cfg.data.validation)
    checks = run_suite(frame, suite, cfg.data.validation.failed_rows_shown)
    report = ValidationReport(source, len(frame), all(c.success for c in checks), checks)
    if report.success:
        report.split_counts = split_counts(frame, frame["split"])
    return report, frame if report.success else None


def write_processed(frame: pd.DataFrame, out_dir: Path) -> None:
    """Replace ``out_dir`` with the new splits only once they are fully written."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".processed-", dir=out_dir.parent))
    try:
        save_splits(frame, frame["split"], load_labels(), staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _clip(value: object, width: int = 80) -> object:
    if not isinstance(value, str):
        return None if pd.isna(value) else value
    return value if len(value) <= width else value[: width - 1] + "…"


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


@hydra.main(version_base="1.3", config_path="../../conf", config_name="validate")
def main(cfg: DictConfig) -> None:
    # Set here, after Hydra has configured logging: GX's INFO lines only bury the report.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(name).setLevel(logging.WARNING)
    report, frame = validate_file(cfg)
    report_path = Path(cfg.report_path)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    if not report.success:
        print(report.message(), file=sys.stderr)
        print(
            f"Nothing was written to {cfg.data.processed_dir}. Report: {report_path}",
            file=sys.stderr,
        )
        sys.exit(1)
    write_processed(frame, Path(cfg.data.processed_dir))
    counts = {name: sum(c.values()) for name, c in report.split_counts.items()}
    log.info("%d rows valid; wrote %s to %s", report.rows, counts, cfg.data.processed_dir)


if __name__ == "__main__":
    register_resolvers()
    main()
