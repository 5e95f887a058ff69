#!/usr/bin/env python3
"""Generate src/event/iam_map.tsv: CloudTrail (eventSource, eventName) -> IAM action(s).

Input: the `map.json` of iann0036/iam-dataset (MIT licence, Copyright (c) 2021 Ian Mckay):
`sdk_method_iam_mappings` ("Service.Operation" -> IAM actions), `sdk_service_mappings` (SDK
service -> IAM prefix), `sdk_permissionless_actions`, and in newer versions
`cloudtrail_service_mappings` (eventSource -> IAM prefix). Plus mappings/iam-overrides.tsv, the
corrections with their sources. The dataset itself is not committed: pass its path.

    scripts/gen-iam-map.py MAP_JSON --source "iann0036/iam-dataset@<commit> aws/map.json" \
        [--sample tests/data/iam-dataset-sample.tsv --sample-size 5000]

Output (tab-separated, one fact a line; read by src/event/iam_action.rs):
    S  host    prefix              eventSource host whose IAM prefix is not its first label
    A  prefix  Operation  actions  the call needs these actions (comma-separated, primary first)
    P  prefix  Operation           the call needs no permission
Calls the data maps to exactly `prefix:Operation` are left out: the lookup's fallback gives the
same answer, and the table stays small. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = ROOT / "mappings" / "iam-overrides.tsv"
OUT = ROOT / "src" / "event" / "iam_map.tsv"
LICENCE = "MIT licence, Copyright (c) 2021 Ian Mckay (https://github.com/iann0036/iam-dataset)"


def dedupe(items):
    return list(dict.fromkeys(items))


def service_prefixes(data: dict) -> dict[str, str]:
    """SDK service name -> IAM prefix: the dataset's own mapping where it has one (older versions
    list only irregular services), otherwise the prefix of the actions named like their call
    (drs:DescribeJobs for Drs.DescribeJobs: Drs calls need many ec2 actions too, so a plain
    majority of all actions would say ec2), otherwise the prefix most of its actions use."""
    named: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    every: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for key, variants in data["sdk_method_iam_mappings"].items():
        service, operation = key.split(".", 1)
        for v in variants:
            prefix, _, name = v["action"].partition(":")
            every[service][prefix.lower()] += 1
            if name.lower() == operation.lower():
                named[service][prefix.lower()] += 1
    out = {s: (named[s] or c).most_common(1)[0][0] for s, c in every.items()}
    for service, prefix in data.get("sdk_service_mappings", {}).items():
        out[service] = prefix.lower()
    return out


def ordered_actions(operation: str, prefix: str, variants: list[dict]) -> list[str]:
    """The actions of one call, primary first. The primary is the action named like the call in
    the service's own prefix (s3:CreateAccessPoint before s3-outposts:CreateAccessPoint, RunInstances
    before iam:PassRole), else one named like the call, else the first in the service's prefix,
    else the dataset's first; the others keep the dataset's order."""
    actions = dedupe(v["action"] for v in variants if ":" in v.get("action", ""))

    def named(a: str) -> bool:
        return a.split(":", 1)[1].lower() == operation.lower()

    def own(a: str) -> bool:
        return a.split(":", 1)[0].lower() == prefix

    for wanted in (lambda a: named(a) and own(a), named, own, lambda a: True):
        primary = next((a for a in actions if wanted(a)), None)
        if primary:
            return [primary] + [a for a in actions if a != primary]
    return []


def dataset_pairs(data: dict) -> dict[tuple[str, str], list[str]]:
    """(prefix, Operation) -> actions from the dataset. When two SDK services share a prefix and
    an operation name with different actions, the service named like its prefix wins (S3 over
    S3Control): CloudTrail logs both under one eventSource and the main API is the usual caller."""
    prefixes = service_prefixes(data)
    out: dict[tuple[str, str], tuple[bool, list[str]]] = {}
    for key in sorted(data["sdk_method_iam_mappings"]):
        service, operation = key.split(".", 1)
        prefix = prefixes.get(service)  # None: the service lists no action at all
        actions = ordered_actions(operation, prefix or "", data["sdk_method_iam_mappings"][key])
        if prefix is None or not actions:
            continue
        main = service.lower().replace("-", "") == prefix.replace("-", "")
        pair = (prefix, operation)
        if pair in out and (out[pair][0] or not main):
            continue
        out[pair] = (main, actions)
    return {pair: actions for pair, (_, actions) in out.items()}


def read_overrides(path: Path):
    sources, actions = {}, {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cells[0] == "source" and len(cells) == 4:
            sources[cells[1].lower()] = cells[2].lower()
        elif cells[0] == "action" and len(cells) == 5:
            actions[(cells[1].lower(), cells[2])] = cells[3].split(",")
        else:
            sys.exit(f"{path}:{number}: expected 'source HOST PREFIX CITATION' or "
                     f"'action PREFIX OPERATION ACTIONS CITATION' (tab-separated)")
    return sources, actions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("map_json", type=Path, help="iam-dataset aws/map.json")
    ap.add_argument("--source", required=True,
                    help="where map.json came from (repository@commit path), written in the header")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--sample", type=Path, help="also write a sample of the dataset's pairs here")
    ap.add_argument("--sample-size", type=int, default=5000)
    args = ap.parse_args()

    data = json.loads(args.map_json.read_text())
    pairs = dataset_pairs(data)
    override_sources, override_actions = read_overrides(OVERRIDES)

    sources = {}
    for source, prefix in data.get("cloudtrail_service_mappings", {}).items():
        host = source.lower().removesuffix(".amazonaws.com")
        if host.split(".")[0] != prefix.lower():
            sources[host] = prefix.lower()
    sources.update(override_sources)

    table = dict(pairs)
    table.update(override_actions)
    prefixes = service_prefixes(data)
    permissionless = set()
    for key in data.get("sdk_permissionless_actions", []):
        service, operation = key.split(".", 1)
        permissionless.add((prefixes.get(service, service.lower()), operation))

    lines = [
        "# GENERATED by scripts/gen-iam-map.py: do not edit; edit mappings/iam-overrides.tsv.",
        f"# Data: {args.source} ({LICENCE}).",
        "# Overrides: mappings/iam-overrides.tsv (each line cites its source).",
        "# S host prefix | A prefix Operation actions(primary first) | P prefix Operation",
    ]
    lines += [f"S\t{h}\t{p}" for h, p in sorted(sources.items())]
    identity = 0
    for (prefix, operation), actions in sorted(table.items()):
        if actions == [f"{prefix}:{operation}"]:
            identity += 1
            continue
        lines.append(f"A\t{prefix}\t{operation}\t{','.join(actions)}")
    lines += [f"P\t{p}\t{o}" for p, o in sorted(permissionless)]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{args.out}: {len(pairs)} dataset pairs, {len(override_actions)} action overrides, "
          f"{len(sources)} sources, {identity} identity pairs left out, "
          f"{args.out.stat().st_size} bytes", file=sys.stderr)

    if args.sample:
        # Every k-th call of the dataset, as the dataset states it (before overrides), so that a
        # test in CI can check the lookup against the data without the dataset.
        ordered = sorted(pairs.items())
        step = max(1, len(ordered) // args.sample_size)
        picked = ordered[::step][: args.sample_size]
        head = [
            f"# A sample of {len(picked)} of the {len(ordered)} calls in {args.source}",
            f"# ({LICENCE}); written by scripts/gen-iam-map.py --sample.",
            "# prefix<TAB>Operation<TAB>IAM actions as the dataset gives them (primary first);",
            "# '=' stands for the one action prefix:Operation",
        ]
        body = [f"{p}\t{o}\t{'=' if a == [f'{p}:{o}'] else ','.join(a)}"
                for (p, o), a in picked]
        args.sample.write_text("\n".join(head + body) + "\n")


if __name__ == "__main__":
    main()
