"""Printed at the end of ``make pipeline``: what was produced and where to look next."""

from __future__ import annotations

import json

from contract import project_root


def main() -> None:
    metrics_file = project_root() / "reports" / "metrics.json"
    lines = ["", "Pipeline finished."]
    if metrics_file.is_file():
        test = json.loads(metrics_file.read_text())["test"]
        lines.append(
            f"  test accuracy {test['accuracy']:.3f}  macro-F1 {test['macro_f1']:.3f}  "
            f"ECE {test['ece']:.3f}   (reports/metrics.json)"
        )
    smoke = project_root() / "reports" / "smoke.json"
    if smoke.is_file():
        lines.append(
            f"  smoke test: {'passed' if json.loads(smoke.read_text())['passed'] else 'FAILED'}"
            "   (reports/smoke.json)"
        )
    lines += [
        "Next:",
        "  make mlflow-ui        compare runs at http://127.0.0.1:5000",
        "  dvc plots show        confusion matrix and reliability diagram (reports/plots/)",
        "  python -m train.registry champion   the model that gets packaged",
        "  make serve            serve model_store/intent_classifier.mar with TorchServe",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
