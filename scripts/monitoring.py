"""Write deploy/monitoring/prometheusrule.yaml from alerts.yaml, for the Prometheus Operator.

    python -m scripts.monitoring           # rewrite it after changing alerts.yaml
    python -m scripts.monitoring --check   # exit 1 when it is out of date

The rule groups are copied as they are written (comments and block scalars kept), indented
under the PrometheusRule's ``spec``; tests/monitoring checks that the two files agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"

HEADER = """\
# Generated from alerts.yaml by `python -m scripts.monitoring`: edit alerts.yaml, not this.
# The same rule groups as a Prometheus Operator PrometheusRule. Prometheus picks it up when
# its ruleSelector matches these labels (add the label your Prometheus selects, often
# `release: <its Helm release>`, in an overlay of your own).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: bridge
  labels:
    app.kubernetes.io/name: bridge
spec:
"""


def prometheus_rule(alerts: str) -> str:
    """The PrometheusRule for the rule file ``alerts`` (its ``groups:`` and what follows)."""
    start = alerts.find("\ngroups:")
    if start < 0:
        raise ValueError("the rule file has no top-level groups:")
    lines = alerts[start + 1 :].splitlines(keepends=True)
    return HEADER + "".join("  " + line if line.strip() else line for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.monitoring", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that it is current")
    args = parser.parse_args(argv)
    wanted = prometheus_rule(ALERTS.read_text())
    if args.check:
        if PROMETHEUS_RULE.read_text() != wanted:
            print(f"{PROMETHEUS_RULE.name} is out of date: python -m scripts.monitoring")
            return 1
        return 0
    PROMETHEUS_RULE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
