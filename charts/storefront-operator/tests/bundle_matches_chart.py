#!/usr/bin/env python3
"""manifests/install.yaml holds exactly the objects `helm template` renders with default values.

    helm template storefront-operator charts/storefront-operator -n storefront-system --include-crds --skip-tests > out.yaml
    python3 charts/storefront-operator/tests/bundle_matches_chart.py out.yaml manifests/install.yaml

Objects are compared as data (comments and key order do not matter). The bundle's Namespace is
the one object Helm does not render (it is `--create-namespace`); the `helm test` hook objects
(templates/tests/) are not part of an install, hence `--skip-tests`. Exits 1 listing every difference.
"""
import sys

import yaml


def objects(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def main(rendered_path, bundle_path):
    rendered = objects(rendered_path)
    bundle = {k: v for k, v in objects(bundle_path).items() if k[0] != "Namespace"}
    problems = []
    for key in sorted(set(rendered) | set(bundle)):
        if key not in bundle:
            problems.append(f"{key}: rendered by the chart, missing from {bundle_path}")
        elif key not in rendered:
            problems.append(f"{key}: in {bundle_path}, not rendered by the chart")
        elif rendered[key] != bundle[key]:
            problems.append(
                f"{key} differs:\n--- chart\n{yaml.safe_dump(rendered[key])}\n--- bundle\n{yaml.safe_dump(bundle[key])}"
            )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} difference(s); re-render install.yaml from the chart", file=sys.stderr)
        return 1
    print(f"ok: {len(bundle)} objects of {bundle_path} match the chart's default rendering")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
