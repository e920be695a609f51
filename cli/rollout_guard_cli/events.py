"""`rollout-guard events [KIND]`: sample events of every kind the guard reads, as each delivery path hands them over
(local tooling's samples, and an operator's halt request as `halt` sends it)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rollout_guard_local import samples

from . import operator_requests

KINDS: dict[str, Callable[[], dict[str, Any]]] = {**samples.KINDS, "halt-request": operator_requests.halt_request}


def run(args: argparse.Namespace) -> int:
    if args.kind:
        print(json.dumps(KINDS[args.kind](), indent=2))
    else:
        print(json.dumps({kind: build() for kind, build in KINDS.items()}, indent=2))
    return 0


