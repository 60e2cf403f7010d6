"""IAM as on AWS, locally: each handler's AWS calls are checked against its function's policy.

moto allows every call (or, with auth on, checks most services against resource `*` only), so the
local stack checks each call itself, before it is sent, through `syncjobs.store.clients.client_hooks`:
  - who acts: the function whose handler is running (`as_function` wraps each loaded handler and sets
    a contextvar inside the handler's own thread; store/ thread pools copy the context), or a test that
    says `acting_as(...)`; nobody (the tests' own set-up and assertions, the pollers) acts as an admin;
  - what it may do: the function's role as the SAM translator makes it (infra/tools/iam_policies.py,
    run in the tools venv and cached by the template's hash), resolved to the local names and ARNs;
  - what the call needs: iam_actions.checks; how it is judged: iam_policy.allowed.
A denied call is answered as AWS answers it (AccessDenied / AccessDeniedException naming the assumed
role, the action and the resource); a GET or HEAD of a missing S3 object answers 403, not 404, when
the caller may not s3:ListBucket, as S3 does. Every call is written to the ledger (tests fail on an
unexpected denial, see tests/conftest.py; the demo and tests/e2e/test_iam.py report from it).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from syncjobs_local.cfn import Resolver
from syncjobs_local.iam_actions import Check, checks
from syncjobs_local.iam_policy import Statement, actions_granted, allowed

REPO_ROOT = Path(__file__).resolve().parents[3]
TRANSLATOR = REPO_ROOT / "infra" / "tools" / "iam_policies.py"
TOOLS_PYTHON = REPO_ROOT / ".venv-tools" / "bin" / "python"

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("syncjobs_local_iam_acting", default=None)

# (status, code) AWS answers a denied call with, per service; S3's HEAD has no body, so no code
_DENIED = {
    "s3": (403, "AccessDenied"),
    "sqs": (403, "AccessDenied"),
    "lambda": (403, "AccessDeniedException"),
    "sesv2": (403, "AccessDeniedException"),
}


@dataclass(frozen=True)
class Call:
    """One check of one call: who, which action on what, and the verdict."""

    function: str
    operation: str  # service.Operation
    action: str
    resource: str
    allowed: bool

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        return f"{self.function}: {self.action} on {self.resource} ({self.operation}) {verdict}"


class Ledger:
    """Every checked call since the last clear (thread-safe)."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def denied(self) -> list[Call]:
        return [c for c in self.calls() if not c.allowed]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


ledger = Ledger()


def acting() -> str | None:
    return _acting.get()


@contextlib.contextmanager
def acting_as(function: str | None) -> Iterator[None]:
    """Calls made inside act as `function` (a logical id; None: as an unrestricted admin)."""
    token = _acting.set(function)
    try:
        yield
    finally:
        _acting.reset(token)


def as_function(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler`, acting as `function` whichever thread calls it (the identity is set inside the call)."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with acting_as(function):
            return handler(*args, **kwargs)

    return wrapped


# ---------------------------------------------------------------------- policies
def translated(template: Path) -> dict[str, dict[str, Any]]:
    """Per function: {"role", "statements"} with intrinsics unresolved, from the SAM translator.

    Cached under $TMPDIR/syncjobs-iam by the hash of the template and the translating script."""
    digest = hashlib.sha256(template.read_bytes() + TRANSLATOR.read_bytes()).hexdigest()[:24]
    cache = Path(tempfile.gettempdir()) / "syncjobs-iam" / f"{digest}.json"
    if cache.exists():
        return json.loads(cache.read_text())  # type: ignore[no-any-return]
    if not TOOLS_PYTHON.exists():
        raise RuntimeError(f"{TOOLS_PYTHON} is missing: the IAM check needs the tools venv (make venv)")
    out = subprocess.run(  # noqa: S603 - fixed argv
        [str(TOOLS_PYTHON), str(TRANSLATOR), str(template)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"translating {template}'s IAM policies failed:\n{out.stderr}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}")
    partial.write_text(out.stdout)
    partial.replace(cache)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Role:
    function: str
    name: str  # the role's name (its logical id in the local stack's prefix)
    session: str  # the function's name: Lambda's session name for the assumed role
    statements: list[Statement]
    account: str

    @property
    def principal(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session}"


class LocalIam:
    """The roles of one template's functions and the hook that enforces them on store clients."""

    def __init__(self) -> None:
        self.roles: dict[str, Role] = {}
        self.account = "123456789012"
        self._secret_arns: dict[str, str | None] = {}

    def load(self, template: Path, resolver: Resolver, function_names: dict[str, str]) -> None:
        """Take the roles of `template`'s functions, resolved to the provisioned names and ARNs."""
        self.account = resolver.account
        self._secret_arns.clear()
        roles = {}
        for function, spec in translated(template).items():
            roles[function] = Role(
                function,
                f"syncjobs-local-{spec['role']}",
                function_names.get(function, function),
                resolver.resolve(spec["statements"]),
                resolver.account,
            )
        self.roles = roles

    @contextlib.contextmanager
    def policies_of(self, template: Path, resolver: Resolver, function_names: dict[str, str]) -> Iterator[None]:
        """For a test: the roles of another template (a modified copy), then this one's again."""
        before = self.roles
        self.load(template, resolver, function_names)
        try:
            yield
        finally:
            self.roles = before

    def granted(self, function: str, managed: bool = True) -> set[str]:
        return actions_granted(self.roles[function].statements, managed)

    # ------------------------------------------------------------------ the hook
    def install(self, client: Any) -> None:
        """A client hook (syncjobs.store.clients.client_hooks): check every call of `client`."""
        client.meta.events.register("before-parameter-build", self._check)
        client.meta.events.register("before-call", self._answer_denied)
        client.meta.events.register("after-call.s3", self._missing_object)

    def _secret_arn(self, name: str) -> str | None:
        if name not in self._secret_arns:
            sm: Any = boto3.client("secretsmanager")  # as the stand-in itself, unchecked
            try:
                self._secret_arns[name] = str(sm.describe_secret(SecretId=name)["ARN"])
            except sm.exceptions.ResourceNotFoundException:
                self._secret_arns[name] = None
        return self._secret_arns[name]

    def _check(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        function = acting()
        if function is None:
            return
        service = model.service_model.service_name
        region = context.get("client_region") or os.environ.get("AWS_REGION", "us-east-1")
        role = self.roles.get(function)
        needed = checks(service, model.name, params, region, self.account, self._secret_arn)
        for check in needed:
            ok = role is not None and allowed(role.statements, check)
            ledger.add(Call(function, f"{service}.{model.name}", check.action, check.resource, ok))
            if not ok and "denied" not in context:
                context["denied"] = (role, check)
        if service == "s3" and model.name in {"GetObject", "HeadObject"} and role is not None:
            # the check S3 makes for a missing key carries no s3:prefix: a statement conditioned on it fails
            bucket = Check("s3:ListBucket", f"arn:aws:s3:::{params.get('Bucket', '')}")
            context["listing"] = (function, bucket, allowed(role.statements, bucket))

    def _answer_denied(
        self, model: Any, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if "denied" not in context:
            return None
        role, check = context["denied"]
        service = model.service_model.service_name
        status, code = _DENIED.get(service, (400, "AccessDeniedException"))
        who = role.principal if role else f"arn:aws:sts::{self.account}:assumed-role/unknown/{acting()}"
        resource = f'"{check.resource}"' if service == "s3" else check.resource
        message = (
            f"User: {who} is not authorized to perform: {check.action} on resource: {resource} "
            f"because no identity-based policy allows the {check.action} action"
        )
        if service == "s3" and model.name == "HeadObject":
            code, message = "403", "Forbidden"
        return _error(status, code, message)

    def _missing_object(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        """S3 answers a missing key with 403 AccessDenied, not 404, to a caller without s3:ListBucket."""
        if http_response.status_code != 404 or "listing" not in context:
            return
        function, bucket, may_list = context["listing"]
        if may_list:
            return
        http_response.status_code = 403
        ledger.add(Call(function, f"s3.{model.name} (missing key)", bucket.action, bucket.resource, False))
        parsed["Error"] = {"Code": "403", "Message": "Forbidden"}
        if model.name == "GetObject":
            parsed["Error"] = {"Code": "AccessDenied", "Message": "Access Denied"}
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403


def _error(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("https://local-iam.invalid/", status, HTTPHeaders(), None)
    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return http, parsed
