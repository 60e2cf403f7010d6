"""SAM CLI itself, from its own environment (.venv-sam, `make test` builds it): `sam validate --lint` passes
on template.yaml offline (a region, no credentials), and the shipped samconfig.toml, read by SAM CLI's own
reader, deploys the stack the `syncjobs` CLI looks for, with the capabilities the template needs; the README's
deploy path edits, loads and feeds the example job it names."""

import inspect
import json
import os
import re
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import meta

from syncjobs.admin.operations import load_job_file
from syncjobs.models.outcome import EntityType
from syncjobs_cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
SAM_ENV = ROOT / ".venv-sam" / "bin"
SCIM_URL = "https://app.acme.example/scim/v2"
_CREDENTIAL_VARIABLES = re.compile(r"^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE|CONTAINER_.*)$")


def offline_env(home: Path) -> dict[str, str]:
    """No AWS credentials of any kind, a region, no telemetry, and a home of its own (SAM CLI keeps state there)."""
    env = {key: value for key, value in os.environ.items() if not _CREDENTIAL_VARIABLES.match(key)}
    env.update(
        HOME=str(home),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
    )
    return env


def sam(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    assert (SAM_ENV / "sam").exists(), "the SAM CLI virtualenv is missing: `make test` (or `make venv`) builds it"
    return subprocess.run(
        [str(SAM_ENV / "sam"), *args],
        cwd=ROOT,
        env=offline_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_sam_validate_lint_passes_offline(tmp_path):
    result = sam(["validate", "--lint"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{ROOT / 'template.yaml'} is a valid SAM Template" in result.stdout


def test_sam_validate_lint_fails_on_a_broken_copy(tmp_path):
    # Given a copy of the template with a value CloudFormation does not take
    text = (ROOT / "template.yaml").read_text()
    assert "BillingMode: PAY_PER_REQUEST" in text
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace("BillingMode: PAY_PER_REQUEST", "BillingMode: PER_REQUEST"))
    # When SAM CLI lints it; Then it fails naming the rule and the value
    result = sam(["validate", "--lint", "--template-file", str(broken)], tmp_path)
    assert result.returncode == 1, result.stdout
    assert "E3030" in result.stdout + result.stderr
    assert "'PER_REQUEST' is not one of" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def deploy_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What `sam deploy` takes from samconfig.toml (its [default.global] merged under [default.deploy])."""
    home = tmp_path_factory.mktemp("home")
    code = (
        "import json; from samcli.lib.config.samconfig import SamConfig; "
        f"print(json.dumps(dict(SamConfig({str(ROOT)!r}).get_all(['deploy'], 'parameters'))))"
    )
    result = subprocess.run(
        [str(SAM_ENV / "python"), "-c", code], env=offline_env(home), capture_output=True, text=True, check=True
    )
    settings: dict[str, object] = json.loads(result.stdout)
    return settings


def template() -> dict[str, object]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # intrinsic functions: not needed here
    loaded: dict[str, object] = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    return loaded


def test_samconfig_deploys_the_stack_the_cli_reads(deploy_settings):
    cli_default_stack = inspect.signature(cli_main.main).parameters["stack"].default
    assert deploy_settings["stack_name"] == cli_default_stack == "syncjobs"
    assert deploy_settings["resolve_s3"] is True
    assert deploy_settings["confirm_changeset"] is True


def test_samconfig_grants_the_capabilities_the_template_needs(deploy_settings):
    # Given the template: IAM resources without custom names, and no nested applications or macros
    text = (ROOT / "template.yaml").read_text()
    resources = template()["Resources"]
    assert isinstance(resources, dict)
    types = {str(resource["Type"]) for resource in resources.values()}
    assert {"AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::Serverless::Function"} <= types
    assert not re.search(r"\b(RoleName|ManagedPolicyName|UserName|GroupName):", text)
    assert "AWS::Serverless::Application" not in types
    assert "Fn::Transform" not in text
    # Then CAPABILITY_IAM is granted, and nothing broader
    assert str(deploy_settings["capabilities"]).split() == ["CAPABILITY_IAM"]


def test_samconfig_overrides_only_template_parameters(deploy_settings):
    # `sam deploy --guided` writes its answers back as parameter_overrides: each must name a parameter
    parameters = template()["Parameters"]
    assert isinstance(parameters, dict)
    assert {"SenderEmail", "SourceBucketName"} <= set(parameters)
    overrides = str(deploy_settings.get("parameter_overrides", ""))
    names = re.findall(r"(?:^|\s)([A-Za-z0-9]+)=", overrides)
    assert set(names) <= set(parameters), f"not template parameters: {set(names) - set(parameters)}"


def readme_deploy_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Deploying to AWS\n")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_deploy_path_fits_the_example_job(tmp_path):
    # Given the README's deploy path: its export, its secret, and its edit of the example job
    section = readme_deploy_section()
    edit = re.search(r'sed -e "s#(.+?)#(.+?)#" -e "s#(.+?)#(.+?)#" \\\n\s+(\S+) > (\S+)', section)
    assert edit, "the README no longer edits the example job with sed"
    example = ROOT / edit[5]
    text = example.read_text()
    # When its substitutions are made (with the README's own shell variables)
    for old, new in ((edit[1], edit[2]), (edit[3], edit[4])):
        assert old in text, f"{example.name} no longer contains {old!r}"
        text = text.replace(old, new.replace("$BUCKET", "hr-exports-123456789012").replace("$SCIM_URL", SCIM_URL))
    edited = tmp_path / edit[6]
    edited.write_text(text)
    # Then the job loads, reads the README's bucket and export, sends the README's secret to the README's URL
    job = load_job_file(edited)
    assert f"syncjobs jobs apply -f {edit[6]}" in section
    assert job.source.bucket == "hr-exports-123456789012"
    assert f's3://$BUCKET/{job.source.key}"' in section
    assert job.target.base_url == SCIM_URL
    assert f"create-secret --name {job.target.token_secret} " in section
    assert f"syncjobs run {job.job_id} --wait" in section
    # and the README's export has every column the job reads
    header = re.search(r"cat > users.csv <<'EOF'\n(.+)\n", section)
    assert header, "the README no longer writes an export"
    used = {job.source.id_column, job.source.modified_column}
    for expression in job.mapping[EntityType.USERS].values():
        used |= meta.find_undeclared_variables(jinja2.Environment().parse(expression))
    assert used <= set(header[1].split(",")), f"missing columns: {used - set(header[1].split(','))}"
