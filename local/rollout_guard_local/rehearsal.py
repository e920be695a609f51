"""`make deploy-local`: the real `cdk bootstrap` and `cdk deploy` against a moto server, as a rehearsal of a deploy.

The endpoint is given as http://localhost:PORT: moto's CloudFormation reads a template URL with the bucket in the
path only when the host is `localhost`, and the CDK CLI builds the template URL from the endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .emulator import EMULATOR_ENV, client, client_env, moto_server

CDK = Path("node_modules") / ".bin" / "cdk"  # the project's pinned CDK CLI (package-lock.json)
ACCOUNT = "123456789012"
STACK = "RolloutGuard"


def local_url(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def cdk_env(url: str) -> dict[str, str]:
    """The CDK CLI's environment: the emulator, and the Node of this project's .venv first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, **client_env(local_url(url)), "PATH": path, "CDK_DISABLE_VERSION_CHECK": "1"}


def cdk(args: list[str], url: str, cwd: Path, project: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str((project / CDK).resolve()), *args, "--no-notices", "--no-color"], env=cdk_env(url), cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"cdk {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def synthesize(project: Path, outdir: Path, guard_context: dict | None = None, bundle: bool = True) -> str:
    """Synthesize the project's app (its app.py, its cdk.json context, `guard_context` in place of the
    `rollout-guard` object if given) into `outdir`, in this process; returns the guard stack's name. Without
    bundling, CDK stages a dummy asset (enough for a template, or a deploy whose function is not run)."""
    import importlib

    from aws_cdk import App

    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    cdk_app = importlib.import_module("app")
    context = json.loads((project / "cdk.json").read_text())["context"]
    if guard_context is not None:
        context = {**context, "rollout-guard": guard_context}
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    application = App(outdir=str(outdir), context=context)
    stack = cdk_app.build(application)[0]
    application.synth()
    name: str = stack.stack_name
    return name


def deploy(url: str, assembly: Path, project: Path) -> None:
    """Bootstrap the emulated account and deploy the synthesized assembly to it with `project`'s CDK CLI."""
    region = EMULATOR_ENV["AWS_REGION"]
    with tempfile.TemporaryDirectory(prefix="rollout-guard-deploy-") as folder:
        # Outside the project folder, so the CLI does not synthesize cdk.json's app again.
        cdk(["bootstrap", f"aws://{ACCOUNT}/{region}", "--app", str(assembly)], url, Path(folder), project)
        cdk(["deploy", "--app", str(assembly), "--require-approval", "never", STACK], url, Path(folder), project)


def deploy_all(url: str, assembly: Path, project: Path, regions: list[str]) -> None:
    """Bootstrap every region of a multi-environment app and deploy all its stacks (`cdk deploy --all`)."""
    with tempfile.TemporaryDirectory(prefix="rollout-guard-deploy-") as folder:
        cdk(["bootstrap", *(f"aws://{ACCOUNT}/{region}" for region in regions), "--app", str(assembly)], url,
            Path(folder), project)
        cdk(["deploy", "--app", str(assembly), "--require-approval", "never", "--all"], url,
            Path(folder), project)


# What the Python Lambda runtime ships besides the standard library.
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six.py")


def lambda_runtime(folder: Path) -> Path:
    """A folder holding only what the Lambda runtime provides (links into this environment's packages): with the
    asset, the whole path of a `python -S` that stands in for the function."""
    import boto3

    runtime = folder / "lambda-runtime"
    runtime.mkdir(exist_ok=True)
    site_packages = Path(boto3.__file__).resolve().parent.parent
    for name in LAMBDA_RUNTIME_PACKAGES:
        link = runtime / name
        if not link.exists():
            link.symlink_to(site_packages / name)
    return runtime


def main() -> int:
    project = Path.cwd()  # `make deploy-local` runs in the project's folder, next to cdk.out and node_modules
    assembly = project / "cdk.out"
    if not (assembly / f"{STACK}.template.json").is_file():
        print("rollout-guard: no cdk.out: run `make synth` first", file=sys.stderr)
        return 2
    template = json.loads((assembly / f"{STACK}.template.json").read_text())
    with moto_server() as url:
        deploy(url, assembly, project)
        summaries = client("cloudformation", url).list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        deployed = {summary["LogicalResourceId"] for summary in summaries}
        print(f"Deployed {STACK} to a moto server at {url}:")
        for logical_id, resource in template["Resources"].items():
            state = "created" if logical_id in deployed else "skipped (moto's CloudFormation does not model it)"
            print(f"  {resource['Type']:34} {logical_id:60} {state}")
    print("moto server stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
