"""The GitHub Actions workflow stays valid: it builds the book and deploys it to Pages."""

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "book.yml"


def load():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job):
    return [step.get("uses", "") + " " + step.get("run", "") for step in job["steps"]]


def test_workflow_runs_on_push_and_has_pages_permissions():
    workflow = load()
    assert "push" in workflow["on"] and "pull_request" in workflow["on"]
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"


def test_build_job_tests_builds_with_w_and_uploads_the_html():
    build = load()["jobs"]["build"]
    text = "\n".join(steps(build))
    setup = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip" and str(setup["with"]["python-version"]) == "3.11"
    assert "torch==2.13.0" in text and '-e ".[book,dev]"' in text
    assert "python -m pytest -q" in text
    assert "jupyter-book build . -W --keep-going" in text
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"


def test_deploy_job_needs_build_and_deploys_pages_on_main_only():
    deploy = load()["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert "refs/heads/main" in deploy["if"]
    assert deploy["environment"]["name"] == "github-pages"
    assert any(s.startswith("actions/deploy-pages") for s in steps(deploy))
