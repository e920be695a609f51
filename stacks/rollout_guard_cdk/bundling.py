"""Local bundling of the function asset, without Docker: CDK calls `try_bundle`, which builds the asset in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ILocalBundling

from .asset import build_asset


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    def __init__(self, policy_document: Any, python_version: str, platform: str):
        self._policy_document = policy_document
        self._python_version = python_version
        self._platform = platform

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        build_asset(Path(output_dir), self._policy_document, self._python_version, self._platform)
        return True
