"""Whether a watched thing still runs what its job installed: the job's `destinationPackageVersions` (package version
ARNs, `arn:aws:iot:<region>:<account>:package/<package>/version/<version>`) against the versions the thing's
`$package` reserved shadow reports. A package the job names, reported at another version, means the device rolled
itself back or was reflashed: a casualty of the job (`casualties.OTHER_VERSION`) while the rule watches it."""

from __future__ import annotations

import re
from collections.abc import Iterable

VERSION_ARN = re.compile(r"arn:aws[a-z-]*:iot:[^:]*:[^:]*:package/(?P<package>[^/]+)/version/(?P<version>[^/]+)")


def job_versions(arns: Iterable[str]) -> dict[str, str]:
    """The package versions a job installs, by package (ARNs of another shape are not versions: left out)."""
    return {found["package"]: found["version"] for arn in arns if (found := VERSION_ARN.fullmatch(arn))}


def strays(reported: Iterable[tuple[str, str]], installed: dict[str, str]) -> list[tuple[str, str, str]]:
    """(package, reported version, the job's version) of each package the job installs reported at another version;
    a package the report does not name says nothing."""
    return [(name, version, installed[name]) for name, version in reported
            if name in installed and version != installed[name]]
