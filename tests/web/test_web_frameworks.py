"""The exercise page's torch/numpy switch: labelled radio group, per-framework starter and draft, the pick sent."""

from __future__ import annotations

import re

from flask import Flask

from tests.web.conftest import csrf_of, make_user, signin, signup
from tests.web.test_learner import page_data

BOTH = "np100-sum-of-products"  # framework: [numpy, torch]
NUMPY = "import numpy as np\n\n\ndef solve(m, v):\n    return np.einsum('pij,pj->i', m, v)\n"
TORCH = "import torch\n\n\ndef solve(m, v):\n    return torch.einsum('pij,pj->i', m, v)\n"


def test_the_switch_is_a_labelled_radio_group_with_a_starter_per_framework(app: Flask) -> None:
    client = app.test_client()
    signup(client, "fwa")
    html = client.get(f"/exercises/{BOTH}").get_data(as_text=True)
    group = re.search(r'<fieldset class="fw-switch".*?</fieldset>', html, re.S)
    assert group is not None
    assert "<legend>Answer in</legend>" in group.group(0)
    radios = re.findall(r'<input type="radio" name="framework" value="(\w+)"( checked)?>', group.group(0))
    assert radios == [("numpy", " checked"), ("torch", "")]
    data = page_data(html)
    assert data["exercise"]["framework"] == "numpy" and "import numpy" in data["exercise"]["starter"]
    by_name = {f["name"]: f for f in data["exercise"]["frameworks"]}
    assert "import numpy" in by_name["numpy"]["starter"] and "import torch" in by_name["torch"]["starter"]
    assert by_name["torch"]["label"] == "PyTorch" and by_name["numpy"]["code"] is None
    ja_client = app.test_client()
    signup(ja_client, "fwja", **{"Accept-Language": "ja"})
    ja = ja_client.get(f"/exercises/{BOTH}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "<legend>解答に使うフレームワーク</legend>" in ja
    # an exercise offered in one framework has no switch
    single = client.get("/exercises/permute-2d").get_data(as_text=True)
    assert 'name="framework"' not in single and page_data(single)["exercise"]["frameworks"] == []


def test_drafts_are_kept_per_framework(app: Flask) -> None:
    client = app.test_client()
    signup(client, "fwb")
    token = csrf_of(client, f"/exercises/{BOTH}")
    url, headers = f"/exercises/{BOTH}/draft", {"X-CSRFToken": token}
    assert page_data(client.get(f"/exercises/{BOTH}").get_data(as_text=True))["predictFirst"] is True
    assert client.put(url, json={"code": "# torch draft", "framework": "torch"}, headers=headers).status_code == 204
    fresh = page_data(client.get(f"/exercises/{BOTH}").get_data(as_text=True))
    assert fresh["code"] is None and fresh["predictFirst"] is False  # a draft in torch: past the prediction step
    assert client.put(url, json={"code": "# numpy draft"}, headers=headers).status_code == 204
    assert client.put(url, json={"code": "# numpy again", "framework": "numpy"}, headers=headers).status_code == 204
    refused = client.put(url, json={"code": "# jax?", "framework": "jax"}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["code"] == "framework_not_offered"
    data = page_data(client.get(f"/exercises/{BOTH}").get_data(as_text=True))
    assert data["code"] == "# numpy again"
    assert {f["name"]: f["code"] for f in data["exercise"]["frameworks"]} == {"numpy": "# numpy again",
                                                                             "torch": "# torch draft"}
    opened = page_data(client.get(f"/exercises/{BOTH}?framework=torch").get_data(as_text=True))
    assert opened["exercise"]["framework"] == "torch" and opened["code"] == "# torch draft"


def test_the_pick_is_sent_graded_stored_and_reopened(app: Flask) -> None:
    client = app.test_client()
    signup(client, "fwc")
    token = csrf_of(client, f"/exercises/{BOTH}")
    headers = {"X-CSRFToken": token}
    right = client.post(f"/exercises/{BOTH}/submit", headers=headers,
                        json={"code": TORCH, "framework": "torch"}).get_json()
    assert right["result"]["passed"] is True
    # no pick on an exercise whose first framework is numpy: torch code fails, and says why
    wrong = client.post(f"/exercises/{BOTH}/submit", headers=headers, json={"code": TORCH}).get_json()
    assert wrong["result"]["passed"] is False
    assert "graded in NumPy" in wrong["result"]["diagnoses"][0]["messages"]["en"]
    refused = client.post("/exercises/permute-2d/submit", headers=headers,
                          json={"code": "def solve(x):\n    return x.T\n", "framework": "numpy"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "framework_not_offered"
    history = client.get(f"/exercises/{BOTH}/history").get_data(as_text=True)
    assert "<th>Framework</th>" in history and "<td>torch</td>" in history and "<td>numpy</td>" in history
    reopened = page_data(client.get(f"/exercises/{BOTH}?from={right['id']}").get_data(as_text=True))
    assert reopened["exercise"]["framework"] == "torch" and reopened["code"] == TORCH
    # the page reopens in the framework of the last verdict (numpy), with that framework's last code
    last = page_data(client.get(f"/exercises/{BOTH}").get_data(as_text=True))
    assert last["exercise"]["framework"] == "numpy" and last["code"] == TORCH
    assert {f["name"]: f["code"] for f in last["exercise"]["frameworks"]}["torch"] == TORCH


def test_the_instructor_sees_which_framework_a_submission_was_graded_in(app: Flask) -> None:
    learner = app.test_client()
    signup(learner, "fwd")
    token = csrf_of(learner, f"/exercises/{BOTH}")
    sid = learner.post(f"/exercises/{BOTH}/submit", headers={"X-CSRFToken": token},
                       json={"code": NUMPY, "framework": "numpy"}).get_json()["id"]
    make_user(app, "fwteacher", "instructor")
    staff = app.test_client()
    signin(staff, "fwteacher")
    html = staff.get(f"/instructor/submissions/{sid}").get_data(as_text=True)
    assert '<span class="tag" id="sub-framework">numpy</span>' in html


def test_examples_follow_the_pick(app: Flask) -> None:
    client = app.test_client()
    signup(client, "fwe")
    ex = "einops-batch-into-width"  # framework: [torch, numpy]; floats are float32 in torch, float64 in numpy
    data = page_data(client.get(f"/exercises/{ex}").get_data(as_text=True))
    inputs = {f["name"]: f["cases"][0]["inputs"]["x"] for f in data["exercise"]["frameworks"]}
    assert (inputs["torch"]["kind"], inputs["numpy"]["kind"]) == ("tensor", "ndarray")
    assert inputs["torch"]["values"] == inputs["numpy"]["values"]
    torch = client.get(f"/exercises/{ex}/examples.json").get_json()["cases"][0]["expected"]
    numpy = client.get(f"/exercises/{ex}/examples.json?framework=numpy").get_json()["cases"][0]["expected"]
    assert (torch["kind"], numpy["kind"]) == ("tensor", "ndarray") and torch["values"] == numpy["values"]
    assert client.get(f"/exercises/{ex}/examples.json?framework=jax").get_json()["cases"][0]["expected"] == torch
