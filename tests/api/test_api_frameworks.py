"""The learner picks the framework of an exercise offered in several: submit body, detail, stored and returned."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

BOTH = "np100-sum-of-products"  # framework: [numpy, torch]
NUMPY = "import numpy as np\n\n\ndef solve(m, v):\n    return np.einsum('pij,pj->i', m, v)\n"
TORCH = "import torch\n\n\ndef solve(m, v):\n    return torch.einsum('pij,pj->i', m, v)\n"


def _submit(client: FlaskClient, headers: dict[str, str], **body: object) -> dict:
    response = client.post("/api/v1/submissions?wait=30", json={"exercise_id": BOTH, **body}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_detail_lists_the_frameworks_and_a_starter_for_each(client: FlaskClient,
                                                             auth: Callable[..., dict[str, str]]) -> None:
    body = client.get(f"/api/v1/exercises/{BOTH}", headers=auth("ana")).get_json()
    assert body["framework"] == "numpy" and body["frameworks"] == ["numpy", "torch"]
    assert "import numpy" in body["framework_starters"]["numpy"]
    assert "import torch" in body["framework_starters"]["torch"]
    single = client.get("/api/v1/exercises/permute-2d", headers=auth("ana")).get_json()
    assert single["frameworks"] == ["torch"] and list(single["framework_starters"]) == ["torch"]


def test_a_valid_pick_grades_in_it_and_is_stored(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    torch = _submit(client, headers, code=TORCH, framework="torch")
    assert torch["passed"] is True and torch["framework"] == "torch"
    numpy = _submit(client, headers, code=NUMPY, framework="numpy")
    assert numpy["passed"] is True and numpy["framework"] == "numpy"
    again = client.get(f"/api/v1/submissions/{torch['id']}", headers=headers).get_json()
    assert again["framework"] == "torch"
    listed = client.get(f"/api/v1/submissions?exercise_id={BOTH}", headers=headers).get_json()["items"]
    assert [(s["id"], s["framework"]) for s in listed] == [(numpy["id"], "numpy"), (torch["id"], "torch")]


def test_without_a_pick_the_first_framework_is_used(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    numpy = _submit(client, headers, code=NUMPY)
    assert numpy["passed"] is True and numpy["framework"] == "numpy"
    # torch code, no pick: graded in numpy (the first), where its inputs are arrays; the message says so
    torch = _submit(client, headers, code=TORCH)
    assert torch["passed"] is False and torch["framework"] == "numpy"
    first = torch["diagnoses"][0]
    assert first["code"] == "runtime_error" and "graded in NumPy" in first["messages"]["en"]
    single = client.post("/api/v1/submissions?wait=30", headers=headers, json={
        "exercise_id": "permute-2d", "code": "def solve(x):\n    return x.permute(1, 0)\n"}).get_json()
    assert single["passed"] is True and single["framework"] == "torch"


def test_a_framework_the_exercise_does_not_offer_is_refused(client: FlaskClient,
                                                             auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    response = client.post("/api/v1/submissions", headers=headers, json={
        "exercise_id": "permute-2d", "code": "def solve(x):\n    return x.T\n", "framework": "numpy"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "framework_not_offered" and body["details"] == {"offered": ["torch"]}
    assert "permute-2d" in body["message"] and "numpy" in body["message"]
    unknown = client.post("/api/v1/submissions", headers=headers,
                          json={"exercise_id": BOTH, "code": NUMPY, "framework": "jax"})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "validation_error"
    assert "framework" in unknown.get_json()["details"]["json"]
    # nothing was stored for either
    assert client.get("/api/v1/submissions", headers=headers).get_json()["pagination"]["total"] == 0


def test_the_pick_is_part_of_an_idempotent_request(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = {**auth("ana"), "Idempotency-Key": "fw-1"}
    first = _submit(client, headers, code=NUMPY, framework="numpy")
    assert _submit(client, headers, code=NUMPY, framework="numpy")["id"] == first["id"]
    other = client.post("/api/v1/submissions", headers=headers,
                        json={"exercise_id": BOTH, "code": NUMPY, "framework": "torch"})
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_conflict"
